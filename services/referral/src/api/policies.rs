//! Municipality policies (service standards): created by an administrator, listed, and the one
//! in force on a day.

use chrono::NaiveDate;
use kontakt_platform::audit::{Action, AuditLog, Caller, Entry};
use kontakt_platform::auth;
use kontakt_platform::resource::{check_etag, etag, scoped, scoped_parent};
use kontakt_platform::{ApiError, Refusal, pagination};
use kontakt_proto::names;
use kontakt_proto::referral::v1::{
    CreatePolicyRequest, ListPoliciesRequest, ListPoliciesResponse, MunicipalityPolicy,
    UpdatePolicyRequest,
};
use prost::Message as _;
use tonic::Request;
use tonic_types::FieldViolation;

use super::ReferralApi;
use super::common::decode;
use crate::domain::policy::Policy;

impl ReferralApi {
    pub(super) async fn add_policy(
        &self,
        request: Request<CreatePolicyRequest>,
    ) -> Result<MunicipalityPolicy, ApiError> {
        let principal = auth::caller(&request)?.clone();
        let request = request.into_inner();
        let municipality = scoped_parent(&principal, &request.parent)?;
        let mut policy = request
            .policy
            .ok_or_else(|| ApiError::invalid("policy", "the policy is required"))?;
        let parsed = parse(&policy)?;
        content_only(&mut policy);
        let id = format!("pol-{}", parsed.effective_from.format("%Y%m%d"));
        let m = municipality.to_string();
        let mut tx = self.store.begin().await?;
        let row = self
            .store
            .insert_policy(
                &mut tx,
                &m,
                &id,
                parsed.effective_from,
                &policy.encode_to_vec(),
                &principal.subject,
            )
            .await?
            .ok_or_else(|| ApiError::AlreadyExists {
                resource: names::policy(&m, &id),
            })?;
        tx.commit().await?;
        Ok(policy_to_proto(row, policy))
    }

    pub(super) async fn correct_policy(
        &self,
        request: Request<UpdatePolicyRequest>,
    ) -> Result<MunicipalityPolicy, ApiError> {
        let caller = Caller::of(&request, "correcting a service standard")?;
        let mut policy = request
            .into_inner()
            .policy
            .ok_or_else(|| ApiError::invalid("policy", "the policy is required"))?;
        let name = policy.name.clone();
        let (municipality, id) = scoped(&caller.principal, &name, "policies", "policy.name")?;
        let given_etag = policy.etag.clone();
        let parsed = parse(&policy)?;
        content_only(&mut policy);
        let m = municipality.to_string();
        let mut tx = self.store.begin().await?;
        let row = self
            .store
            .lock_policy(&mut tx, &m, id)
            .await?
            .ok_or_else(|| ApiError::not_found(&name))?;
        check_etag(&given_etag, row.revision)?;
        let today = self.clock.today();
        if row.effective_from <= today {
            return Err(Refusal::new(
                "POLICY_IN_FORCE",
                format!(
                    "{name} has been in force since {}: a new version with a later \
                     effective_from supersedes it (CreatePolicy)",
                    row.effective_from
                ),
            )
            .into());
        }
        if parsed.effective_from != row.effective_from {
            return Err(ApiError::invalid(
                "policy.effective_from",
                format!(
                    "stays {}: another day is another version (CreatePolicy)",
                    row.effective_from
                ),
            ));
        }
        let row = self
            .store
            .correct_policy(
                &mut tx,
                &row,
                &policy.encode_to_vec(),
                &caller.principal.subject,
            )
            .await?;
        // Not a person's data, but who changed a standard, and when, is for the log too.
        let entry = Entry::new(
            &caller.principal,
            "UpdatePolicy",
            Action::Update,
            &name,
            caller.purpose.clone(),
        )
        .municipality(municipality);
        AuditLog::record_in(&mut tx, &[entry]).await?;
        tx.commit().await?;
        Ok(policy_to_proto(row, policy))
    }

    pub(super) async fn read_policies(
        &self,
        request: Request<ListPoliciesRequest>,
    ) -> Result<ListPoliciesResponse, ApiError> {
        let principal = auth::caller(&request)?.clone();
        let request = request.into_inner();
        let municipality = scoped_parent(&principal, &request.parent)?;
        let page_size = pagination::page_size(request.page_size)?;
        let scope = format!("{}/policies", request.parent);
        let before = pagination::decode_token(&scope, &request.page_token)?
            .map(|d| {
                NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .map_err(|_| ApiError::invalid("page_token", "not a token this list issued"))
            })
            .transpose()?;
        let rows = self
            .store
            .list_policies(&municipality.to_string(), before, page_size + 1)
            .await?;
        let (rows, next_page_token) = pagination::finish_page(rows, page_size, &scope, |row| {
            row.effective_from.format("%Y-%m-%d")
        });
        let mut policies = Vec::with_capacity(rows.len());
        for row in rows {
            let body: MunicipalityPolicy = decode(&row.body)?;
            policies.push(policy_to_proto(row, body));
        }
        Ok(ListPoliciesResponse {
            policies,
            next_page_token,
        })
    }
}

pub(super) fn policy_to_proto(
    row: crate::store::PolicyRow,
    mut body: MunicipalityPolicy,
) -> MunicipalityPolicy {
    body.name = names::policy(&row.municipality, &row.id);
    body.create_time = Some(kontakt_proto::timestamp(row.create_time));
    body.update_time = Some(kontakt_proto::timestamp(row.update_time));
    body.etag = etag(row.revision);
    body
}

/// The policy's rules, or every field that is wrong.
fn parse(policy: &MunicipalityPolicy) -> Result<Policy, ApiError> {
    Policy::parse(policy).map_err(|wrong| {
        ApiError::InvalidArgument(
            wrong
                .into_iter()
                .map(|(f, d)| FieldViolation::new(f, d))
                .collect(),
        )
    })
}

/// What is stored of a policy: its content, without what the row says (name, times, etag).
fn content_only(policy: &mut MunicipalityPolicy) {
    policy.display_name = policy.display_name.trim().to_owned();
    policy.name.clear();
    policy.create_time = None;
    policy.update_time = None;
    policy.etag.clear();
}
