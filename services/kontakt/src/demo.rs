//! Demo data for `kontakt dev`: the reference policies of DOMAIN.md §10 (`demo/policies.json`),
//! fictional contact persons, a provider and its framework contract (`demo/people.json`), and
//! the Ishøj–Vallensbæk frame with example PL and mileage rates (`demo/finance.json`),
//! loaded over gRPC as an administrator would, so the demo takes the same path (validation,
//! audit) as real data. Loading twice changes nothing. Then the twelve arrangements
//! (`arrangements`). `kontakt dev` loads it all; `kontakt demo` loads it into services running
//! elsewhere (e.g. the dev overlay in a cluster) that trust the same dev key.

use crate::client::{Bearer, channel, retrying};
use anyhow::Context as _;
use chrono::NaiveDate;
use kontakt_proto::common::v1::{DateRange, Money};
use kontakt_proto::matching::v1 as matching;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::{
    ApprovalLevel, ApprovalRule, CreatePolicyRequest, MunicipalityPolicy,
};
use kontakt_proto::timecost::v1 as timecost;
use kontakt_proto::timecost::v1::time_cost_service_client::TimeCostServiceClient;
use serde::Deserialize;

pub mod arrangements;

const POLICIES: &str = include_str!("../demo/policies.json");
const PEOPLE: &str = include_str!("../demo/people.json");
const FINANCE: &str = include_str!("../demo/finance.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FinanceFile {
    #[serde(rename = "_comment")]
    _comment: String,
    indexation_rates: Vec<DemoIndexationRate>,
    frames: Vec<DemoFrame>,
    mileage_rates: Vec<DemoMileageRate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoIndexationRate {
    year: i32,
    rate_basis_points: i32,
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoFrame {
    id: String,
    display_name: String,
    base_amount_ore: i64,
    base_year: i32,
    period_start: String,
    #[serde(default)]
    period_end: Option<String>,
    shares: Vec<DemoShare>,
    service_units: Vec<String>,
    coordinator_cost_per_year_ore: i64,
    warning_threshold_basis_points: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoShare {
    municipality: String,
    numerator: i64,
    denominator: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoMileageRate {
    municipality: String,
    valid_from: String,
    ore_per_km: i64,
    source: String,
}

/// The finance demo data as create requests: PL rates, frames, mileage rates.
struct FinanceRequests {
    indexation_rates: Vec<timecost::CreateIndexationRateRequest>,
    frames: Vec<timecost::CreateFrameRequest>,
    mileage_rates: Vec<timecost::CreateMileageRateRequest>,
}

fn finance_requests() -> anyhow::Result<FinanceRequests> {
    let file: FinanceFile = serde_json::from_str(FINANCE).context("demo/finance.json")?;
    let frames = file
        .frames
        .into_iter()
        .map(|f| {
            Ok(timecost::CreateFrameRequest {
                frame_id: f.id,
                frame: Some(timecost::Frame {
                    display_name: f.display_name,
                    base_amount: Some(Money {
                        ore: f.base_amount_ore,
                    }),
                    base_year: f.base_year,
                    period: period(&f.period_start, f.period_end.as_deref())?,
                    shares: f
                        .shares
                        .into_iter()
                        .map(|s| timecost::MunicipalityShare {
                            municipality: s.municipality,
                            numerator: s.numerator,
                            denominator: s.denominator,
                        })
                        .collect(),
                    service_units: f
                        .service_units
                        .iter()
                        .map(|u| format!("serviceUnits/{u}"))
                        .collect(),
                    coordinator_cost_per_year: Some(Money {
                        ore: f.coordinator_cost_per_year_ore,
                    }),
                    warning_threshold_basis_points: f.warning_threshold_basis_points,
                    ..timecost::Frame::default()
                }),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let mileage_rates = file
        .mileage_rates
        .into_iter()
        .map(|r| {
            Ok(timecost::CreateMileageRateRequest {
                parent: format!("municipalities/{}", r.municipality),
                mileage_rate: Some(timecost::MileageRate {
                    valid_from: Some(day(&r.valid_from)?),
                    amount_per_km: Some(Money { ore: r.ore_per_km }),
                    source: r.source,
                    ..timecost::MileageRate::default()
                }),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(FinanceRequests {
        indexation_rates: file
            .indexation_rates
            .into_iter()
            .map(|r| timecost::CreateIndexationRateRequest {
                indexation_rate: Some(timecost::IndexationRate {
                    year: r.year,
                    rate_basis_points: r.rate_basis_points,
                    source: r.source,
                    ..timecost::IndexationRate::default()
                }),
            })
            .collect(),
        frames,
        mileage_rates,
    })
}

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
    follow_up_coordinator_required: bool,
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
                    follow_up_coordinator_required: p.follow_up_coordinator_required,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeopleFile {
    #[serde(rename = "_comment")]
    _comment: String,
    providers: Vec<DemoProvider>,
    contact_persons: Vec<DemoPerson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoProvider {
    id: String,
    display_name: String,
    cvr: String,
    competences: Vec<String>,
    contracts: Vec<DemoContract>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoContract {
    id: String,
    reference: String,
    hourly_price_ore: i64,
    valid_from: String,
    valid_to: Option<String>,
    municipalities: Vec<String>,
    competences: Vec<String>,
    weekly_capacity_minutes: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoPerson {
    unit: String,
    id: String,
    display_name: String,
    employment: String,
    #[serde(default)]
    provider: Option<String>,
    gender: String,
    municipalities: Vec<String>,
    competences: Vec<String>,
    weekly_capacity_minutes: i32,
    #[serde(default)]
    other_duties: Vec<DemoDuty>,
    #[serde(default)]
    certificate: Option<DemoCertificate>,
    #[serde(default)]
    rates: Vec<DemoRate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoDuty {
    kind: String,
    minutes_per_week: i32,
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoCertificate {
    issue_date: String,
    result: String,
    expiry_date: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoRate {
    hourly_ore: i64,
    valid_from: String,
    #[serde(default)]
    valid_to: Option<String>,
}

fn day(text: &str) -> anyhow::Result<kontakt_proto::common::v1::Date> {
    Ok(NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("not a YYYY-MM-DD date: {text:?}"))?
        .into())
}

fn period(from: &str, to: Option<&str>) -> anyhow::Result<Option<DateRange>> {
    Ok(Some(DateRange {
        start: Some(day(from)?),
        end: to.map(day).transpose()?,
    }))
}

fn competences(codes: &[String]) -> Vec<String> {
    codes.iter().map(|c| format!("competences/{c}")).collect()
}

/// An enum value by the name after its prefix, e.g. `STAFF` for `EMPLOYMENT_STAFF`.
fn named<T>(prefix: &str, name: &str, parse: fn(&str) -> Option<T>) -> anyhow::Result<T> {
    parse(&format!("{prefix}_{name}")).with_context(|| format!("unknown {prefix} {name:?}"))
}

/// A provider with its contracts, as create requests.
type ProviderRequests = (
    matching::CreateProviderRequest,
    Vec<matching::CreateFrameworkContractRequest>,
);

/// The demo providers with their contracts, and the contact persons, as create requests.
fn people_requests() -> anyhow::Result<(
    Vec<ProviderRequests>,
    Vec<matching::CreateContactPersonRequest>,
)> {
    let file: PeopleFile = serde_json::from_str(PEOPLE).context("demo/people.json")?;
    let providers = file
        .providers
        .into_iter()
        .map(|p| {
            let contracts = p
                .contracts
                .iter()
                .map(|c| {
                    Ok(matching::CreateFrameworkContractRequest {
                        parent: format!("providers/{}", p.id),
                        contract_id: c.id.clone(),
                        contract: Some(matching::FrameworkContract {
                            reference: c.reference.clone(),
                            hourly_price: Some(Money {
                                ore: c.hourly_price_ore,
                            }),
                            validity: period(&c.valid_from, c.valid_to.as_deref())?,
                            municipalities: c.municipalities.clone(),
                            competences: competences(&c.competences),
                            weekly_capacity_minutes: c.weekly_capacity_minutes,
                            ..matching::FrameworkContract::default()
                        }),
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            let provider = matching::CreateProviderRequest {
                provider_id: p.id,
                provider: Some(matching::Provider {
                    display_name: p.display_name,
                    cvr: p.cvr,
                    competences: competences(&p.competences),
                    ..matching::Provider::default()
                }),
            };
            Ok((provider, contracts))
        })
        .collect::<anyhow::Result<_>>()?;
    let persons = file
        .contact_persons
        .into_iter()
        .map(|p| {
            let other_duties = p
                .other_duties
                .iter()
                .map(|d| {
                    Ok(matching::OtherDuty {
                        kind: named(
                            "OTHER_DUTY_KIND",
                            &d.kind,
                            matching::OtherDutyKind::from_str_name,
                        )? as i32,
                        minutes_per_week: d.minutes_per_week,
                        description: d.description.clone(),
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            let certificate = p
                .certificate
                .as_ref()
                .map(|c| -> anyhow::Result<_> {
                    Ok(matching::ChildProtectionCertificate {
                        issue_date: Some(day(&c.issue_date)?),
                        result: named(
                            "CERTIFICATE_RESULT",
                            &c.result,
                            matching::CertificateResult::from_str_name,
                        )? as i32,
                        expiry_date: c.expiry_date.as_deref().map(day).transpose()?,
                    })
                })
                .transpose()?;
            let rates = p
                .rates
                .iter()
                .map(|r| {
                    Ok(matching::HourlyRate {
                        hourly_price: Some(Money { ore: r.hourly_ore }),
                        validity: period(&r.valid_from, r.valid_to.as_deref())?,
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            Ok(matching::CreateContactPersonRequest {
                parent: format!("serviceUnits/{}", p.unit),
                contact_person_id: p.id,
                contact_person: Some(matching::ContactPerson {
                    display_name: p.display_name,
                    employment: named(
                        "EMPLOYMENT",
                        &p.employment,
                        matching::Employment::from_str_name,
                    )? as i32,
                    provider: p
                        .provider
                        .map(|id| format!("providers/{id}"))
                        .unwrap_or_default(),
                    competences: competences(&p.competences),
                    gender: named("GENDER", &p.gender, matching::Gender::from_str_name)? as i32,
                    municipalities: p.municipalities,
                    weekly_capacity_minutes: p.weekly_capacity_minutes,
                    other_duties,
                    child_protection_certificate: certificate,
                    rates,
                    ..matching::ContactPerson::default()
                }),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((providers, persons))
}

/// What loading did: (new, already there) per kind.
#[derive(Debug, Default)]
pub struct Loaded {
    pub policies: (usize, usize),
    pub providers: (usize, usize),
    pub contact_persons: (usize, usize),
    /// PL rates, frames and mileage rates.
    pub finance: (usize, usize),
}

/// Sends one create call, retrying while the service is still migrating (UNAVAILABLE) for up
/// to a minute. `true` = created, `false` = it was already there.
async fn create<T, F, Fut>(what: &str, call: F) -> anyhow::Result<bool>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    match retrying(&[tonic::Code::Unavailable], call).await {
        Ok(_) => Ok(true),
        Err(status) if status.code() == tonic::Code::AlreadyExists => Ok(false),
        Err(status) => Err(anyhow::anyhow!(
            "loading the demo {what}: {:?} {}",
            status.code(),
            status.message()
        )),
    }
}

fn count(tally: &mut (usize, usize), created: bool) {
    if created {
        tally.0 += 1;
    } else {
        tally.1 += 1;
    }
}

/// The reference data, then the arrangements, each reported on stdout (a failure on stderr);
/// errs if either failed. The arrangements are made by counsellor, committee, coordinator and
/// contact person with their own tokens, signed by `key`.
pub async fn load_everything(
    urls: &arrangements::Urls<'_>,
    key: &kontakt_platform::auth::dev_key::DevKey,
    admin_token: &str,
) -> anyhow::Result<()> {
    let reference = load(urls.referral, urls.matching, urls.timecost, admin_token).await;
    match &reference {
        Ok(loaded) => println!(
            "Demo data: the reference policies of Ishøj, Vallensbæk and Ringsted ({} loaded, {} already there); {} contact persons and {} provider (new: {}, {}); the Ishøj–Vallensbæk frame with example PL and mileage rates (new: {} of {}).",
            loaded.policies.0,
            loaded.policies.1,
            loaded.contact_persons.0 + loaded.contact_persons.1,
            loaded.providers.0 + loaded.providers.1,
            loaded.contact_persons.0,
            loaded.providers.0,
            loaded.finance.0,
            loaded.finance.0 + loaded.finance.1,
        ),
        Err(err) => eprintln!("Demo data not loaded: {err:#}"),
    }
    let mint = |claims: kontakt_platform::auth::Claims| {
        key.mint(claims, std::time::Duration::from_secs(3600))
            .map_err(anyhow::Error::msg)
    };
    let stories = arrangements::load(
        urls,
        &arrangements::Tokens { mint: &mint },
        kontakt_platform::clock::Clock::today(&kontakt_platform::clock::SystemClock),
    )
    .await;
    match &stories {
        Ok(0) => println!(
            "Demo arrangements: the {} are there already.",
            arrangements::COUNT
        ),
        Ok(made) => println!(
            "Demo arrangements: {made} loaded (referrals in draft and awaiting a decision, grants waiting for a contact person, arrangements with hours registered, a purchase, an ended grant)."
        ),
        Err(err) => eprintln!("Demo arrangements not loaded: {err:#}"),
    }
    match (reference, stories) {
        (Ok(_), Ok(_)) => Ok(()),
        _ => anyhow::bail!("the demo data was not loaded in full (see above)"),
    }
}

/// Loads the demo data into the referral, matching and time & cost services at the given URLs,
/// as `admin_token`.
pub async fn load(
    referral: &str,
    matching: &str,
    timecost: &str,
    admin_token: &str,
) -> anyhow::Result<Loaded> {
    let policies = policy_requests()?;
    let (providers, persons) = people_requests()?;
    let finance = finance_requests()?;
    let authorize = Bearer::new(admin_token)?;
    let referral = ReferralServiceClient::with_interceptor(channel(referral)?, authorize.clone());
    let matching = MatchingServiceClient::with_interceptor(channel(matching)?, authorize.clone());
    let timecost = TimeCostServiceClient::with_interceptor(channel(timecost)?, authorize);
    let mut loaded = Loaded::default();
    for request in policies {
        let what = format!("policy of {}", request.parent);
        let created = create(&what, || {
            let mut client = referral.clone();
            let request = request.clone();
            async move { client.create_policy(request).await }
        })
        .await?;
        count(&mut loaded.policies, created);
    }
    for (provider, contracts) in providers {
        let what = format!("provider {}", provider.provider_id);
        let created = create(&what, || {
            let mut client = matching.clone();
            let request = provider.clone();
            async move { client.create_provider(request).await }
        })
        .await?;
        count(&mut loaded.providers, created);
        for contract in contracts {
            let what = format!("contract {}", contract.contract_id);
            create(&what, || {
                let mut client = matching.clone();
                let request = contract.clone();
                async move { client.create_framework_contract(request).await }
            })
            .await?;
        }
    }
    for person in persons {
        let what = format!("contact person {}", person.contact_person_id);
        let created = create(&what, || {
            let mut client = matching.clone();
            let request = person.clone();
            async move { client.create_contact_person(request).await }
        })
        .await?;
        count(&mut loaded.contact_persons, created);
    }
    for request in finance.indexation_rates {
        let what = format!(
            "indexation rate {}",
            request.indexation_rate.as_ref().map_or(0, |r| r.year)
        );
        let created = create(&what, || {
            let mut client = timecost.clone();
            let request = request.clone();
            async move { client.create_indexation_rate(request).await }
        })
        .await?;
        count(&mut loaded.finance, created);
    }
    for request in finance.frames {
        let what = format!("frame {}", request.frame_id);
        let created = create(&what, || {
            let mut client = timecost.clone();
            let request = request.clone();
            async move { client.create_frame(request).await }
        })
        .await?;
        count(&mut loaded.finance, created);
    }
    for request in finance.mileage_rates {
        let what = format!("mileage rate of {}", request.parent);
        let created = create(&what, || {
            let mut client = timecost.clone();
            let request = request.clone();
            async move { client.create_mileage_rate(request).await }
        })
        .await?;
        count(&mut loaded.finance, created);
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

    #[test]
    fn the_demo_finance_data_parses_with_the_seeds_frame_and_split() {
        let finance = finance_requests().expect("demo/finance.json");
        let frame = finance.frames[0].frame.as_ref().expect("frame");
        assert_eq!(frame.base_amount.map(|m| m.ore), Some(400_000_000));
        assert_eq!(frame.base_year, 2017);
        let split: Vec<(i64, i64)> = frame
            .shares
            .iter()
            .map(|s| (s.numerator, s.denominator))
            .collect();
        assert_eq!(split, [(2, 3), (1, 3)]);
        let years: Vec<i32> = finance
            .indexation_rates
            .iter()
            .filter_map(|r| r.indexation_rate.as_ref().map(|r| r.year))
            .collect();
        assert_eq!(
            years,
            (2018..=2027).collect::<Vec<_>>(),
            "every year after 2017"
        );
        assert_eq!(finance.mileage_rates.len(), 3);
    }

    #[test]
    fn the_demo_people_parse_with_staff_hourly_hires_and_a_providers_employee() {
        let (providers, persons) = people_requests().expect("demo/people.json");
        assert_eq!(providers.len(), 1);
        assert_eq!(providers[0].1.len(), 1);
        let employments: std::collections::BTreeSet<i32> = persons
            .iter()
            .filter_map(|p| p.contact_person.as_ref().map(|c| c.employment))
            .collect();
        assert_eq!(
            employments.len(),
            3,
            "staff, hourly hires and a provider's employee"
        );
    }
}
