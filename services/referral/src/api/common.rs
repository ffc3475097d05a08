//! What the referral API's files share: resource names, the size limits of free text, the
//! decoding of stored bodies, the referral's stored state, and the logging of reads.

use chrono::NaiveDate;
use kontakt_platform::ApiError;
use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::auth::MunicipalityCode;
use kontakt_platform::resource::valid_id;
use kontakt_proto::referral::v1::{Assessment, ReferralState};
use sqlx::PgConnection;

use super::ReferralApi;
use crate::domain::policy::Policy;
use crate::grants::policy_in_force;
use crate::store::ReferralRow;

pub(super) use crate::SCHEMA;
pub(super) const MAX_TEXT: usize = 4000;
pub(super) const MAX_SHORT: usize = 200;

pub(super) fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub(super) fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, ApiError> {
    M::decode(bytes).map_err(ApiError::internal)
}

/// `municipalities/{m}/{outer}/{outer_id}/{inner}/{inner_id}`.
pub(super) fn nested<'a>(
    name: &'a str,
    outer: &str,
    inner: &str,
    field: &str,
) -> Result<(MunicipalityCode, &'a str, &'a str), ApiError> {
    let wrong = || {
        ApiError::invalid(
            field,
            format!("must be `municipalities/{{code}}/{outer}/{{id}}/{inner}/{{id}}`"),
        )
    };
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["municipalities", code, o, outer_id, i, inner_id]
            if *o == outer && *i == inner && valid_id(outer_id) && valid_id(inner_id) =>
        {
            let municipality = MunicipalityCode::parse(code).ok_or_else(wrong)?;
            Ok((municipality, outer_id, inner_id))
        }
        _ => Err(wrong()),
    }
}

pub(super) fn text_ok(value: &str, max: usize) -> bool {
    value.chars().count() <= max
}

pub(super) fn state_of(row: &ReferralRow) -> ReferralState {
    ReferralState::from_str_name(&format!("REFERRAL_STATE_{}", row.state))
        .unwrap_or(ReferralState::Unspecified)
}

pub(super) fn state_column(state: ReferralState) -> &'static str {
    match state {
        ReferralState::Draft | ReferralState::Unspecified => "DRAFT",
        ReferralState::Submitted => "SUBMITTED",
        ReferralState::InCommittee => "IN_COMMITTEE",
        ReferralState::Approved => "APPROVED",
        ReferralState::Rejected => "REJECTED",
        ReferralState::Returned => "RETURNED",
    }
}

impl ReferralApi {
    /// Records a read of personal data; durable before the answer leaves.
    pub(super) async fn read_logged(
        &self,
        caller: &Caller,
        method: &str,
        resource: &str,
        municipality: MunicipalityCode,
        person: &str,
    ) -> Result<(), ApiError> {
        self.reads_logged(
            caller,
            method,
            municipality,
            [(resource.to_owned(), person.to_owned())],
        )
        .await
    }

    /// Records reads of several resources, one row each as `(resource, person)`: a list names
    /// a child per item (R-DP-2).
    pub(super) async fn reads_logged(
        &self,
        caller: &Caller,
        method: &str,
        municipality: MunicipalityCode,
        reads: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ApiError> {
        let entries = reads
            .into_iter()
            .map(|(resource, person)| {
                caller.entry(method, Action::Read, &resource, municipality, &person)
            })
            .collect();
        self.audit.record(entries).await
    }

    /// The assessments of municipality `m`'s referral `id`, decoded.
    pub(super) async fn assessments_of(
        &self,
        tx: &mut PgConnection,
        m: &str,
        id: &str,
    ) -> Result<Vec<Assessment>, ApiError> {
        self.store
            .assessments(tx, m, id)
            .await?
            .iter()
            .map(|b| decode(b))
            .collect()
    }

    /// The policy in force on `day` for `municipality`, or a FAILED_PRECONDITION saying none is.
    pub(super) async fn policy_on(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        day: NaiveDate,
    ) -> Result<Policy, ApiError> {
        Ok(policy_in_force(&self.store, tx, municipality, day).await?)
    }
}
