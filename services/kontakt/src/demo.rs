//! Demo data for `kontakt dev`: the reference policies of DOMAIN.md §10, read from
//! `demo/policies.json` and loaded over gRPC as an administrator would, so the demo takes the
//! same path (validation, audit) as real data. Loading twice changes nothing.

use std::time::Duration;

use anyhow::Context as _;
use chrono::NaiveDate;
use kontakt_proto::common::v1::Money;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::{
    ApprovalLevel, ApprovalRule, CreatePolicyRequest, MunicipalityPolicy,
};
use serde::Deserialize;
use tonic::transport::Channel;

const POLICIES: &str = include_str!("../demo/policies.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(rename = "_comment")]
    _comment: String,
    policies: Vec<DemoPolicy>,
}

/// One policy as written in the file: MunicipalityPolicy's fields, dates as `YYYY-MM-DD`, levels
/// by name, money in øre.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoPolicy {
    municipality: String,
    display_name: String,
    /// `YYYY-MM-DD`.
    effective_from: String,
    #[serde(default)]
    min_age_years: i32,
    #[serde(default)]
    max_minutes_per_week: i32,
    #[serde(default)]
    unit_minutes: i32,
    #[serde(default)]
    committee_required: bool,
    #[serde(default)]
    plan_required: bool,
    #[serde(default)]
    network_statement_required: bool,
    #[serde(default)]
    follow_up_interval_months: i32,
    #[serde(default)]
    activity_money_cap_per_quarter_ore: Option<i64>,
    #[serde(default)]
    own_consent_age_years: i32,
    approval_rules: Vec<DemoApprovalRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoApprovalRule {
    level: String,
    #[serde(default)]
    max_minutes_per_week: i32,
    #[serde(default)]
    may_deviate_from_standard: bool,
}

/// The demo policies as CreatePolicy requests.
fn policy_requests() -> anyhow::Result<Vec<CreatePolicyRequest>> {
    let file: PolicyFile = serde_json::from_str(POLICIES).context("demo/policies.json")?;
    file.policies
        .into_iter()
        .map(|p| {
            let approval_rules = p
                .approval_rules
                .iter()
                .map(|r| {
                    let level =
                        ApprovalLevel::from_str_name(&format!("APPROVAL_LEVEL_{}", r.level))
                            .with_context(|| format!("unknown approval level {}", r.level))?;
                    Ok(ApprovalRule {
                        level: level as i32,
                        max_minutes_per_week: r.max_minutes_per_week,
                        may_deviate_from_standard: r.may_deviate_from_standard,
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            let effective_from = NaiveDate::parse_from_str(&p.effective_from, "%Y-%m-%d")
                .with_context(|| format!("effective_from {:?}", p.effective_from))?;
            Ok(CreatePolicyRequest {
                parent: format!("municipalities/{}", p.municipality),
                policy: Some(MunicipalityPolicy {
                    display_name: p.display_name,
                    effective_from: Some(effective_from.into()),
                    min_age_years: p.min_age_years,
                    max_minutes_per_week: p.max_minutes_per_week,
                    unit_minutes: p.unit_minutes,
                    committee_required: p.committee_required,
                    plan_required: p.plan_required,
                    network_statement_required: p.network_statement_required,
                    follow_up_interval_months: p.follow_up_interval_months,
                    activity_money_cap_per_quarter: p
                        .activity_money_cap_per_quarter_ore
                        .map(|ore| Money { ore }),
                    own_consent_age_years: p.own_consent_age_years,
                    approval_rules,
                    ..MunicipalityPolicy::default()
                }),
            })
        })
        .collect()
}

/// What loading did.
pub struct Loaded {
    pub policies_new: usize,
    pub policies_present: usize,
}

/// Loads the demo policies into the referral service at `referral`, as `admin_token`.
pub async fn load(referral: &str, admin_token: &str) -> anyhow::Result<Loaded> {
    let requests = policy_requests()?;
    let channel = Channel::from_shared(referral.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    let mut client = ReferralServiceClient::new(channel);
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {admin_token}")
        .parse()
        .context("the admin token is not valid metadata")?;
    let mut loaded = Loaded {
        policies_new: 0,
        policies_present: 0,
    };
    for request in requests {
        let parent = request.parent.clone();
        // The service answers once its schema is migrated; until then it is UNAVAILABLE.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let mut call = tonic::Request::new(request.clone());
            call.metadata_mut().insert("authorization", bearer.clone());
            match client.create_policy(call).await {
                Ok(_) => {
                    loaded.policies_new += 1;
                    break;
                }
                Err(status) if status.code() == tonic::Code::AlreadyExists => {
                    loaded.policies_present += 1;
                    break;
                }
                Err(status)
                    if status.code() == tonic::Code::Unavailable
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(status) => {
                    return Err(anyhow::anyhow!(
                        "loading the demo policy of {parent}: {:?} {}",
                        status.code(),
                        status.message()
                    ));
                }
            }
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_policies_parse_and_cover_the_reference_municipalities() {
        let requests = policy_requests().expect("demo/policies.json");
        let parents: Vec<_> = requests.iter().map(|r| r.parent.as_str()).collect();
        assert_eq!(
            parents,
            [
                "municipalities/183",
                "municipalities/187",
                "municipalities/329"
            ]
        );
        let ringsted = requests[2].policy.as_ref().expect("policy");
        assert_eq!(ringsted.min_age_years, 12);
        assert_eq!(ringsted.max_minutes_per_week, 180);
        assert!(!ringsted.committee_required);
        let ishoj = requests[0].policy.as_ref().expect("policy");
        assert!(ishoj.committee_required && ishoj.plan_required);
    }
}
