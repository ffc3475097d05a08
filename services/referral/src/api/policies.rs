//! Municipality policies (service standards): created by an administrator, listed, and the one
//! in force on a day.

use chrono::NaiveDate;
use kontakt_platform::auth;
use kontakt_platform::resource::scoped_parent;
use kontakt_platform::{ApiError, pagination};
use kontakt_proto::names;
use kontakt_proto::referral::v1::{
    CreatePolicyRequest, ListPoliciesRequest, ListPoliciesResponse, MunicipalityPolicy,
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
        let parsed = Policy::parse(&policy).map_err(|wrong| {
            ApiError::InvalidArgument(
                wrong
                    .into_iter()
                    .map(|(f, d)| FieldViolation::new(f, d))
                    .collect(),
            )
        })?;
        policy.display_name = policy.display_name.trim().to_owned();
        policy.name.clear();
        policy.create_time = None;
        policy.update_time = None;
        policy.etag.clear();
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
    body.update_time = body.create_time;
    body.etag = format!("\"{}\"", row.create_time.timestamp_micros());
    body
}
