//! A grant changed (R-RV-11) or ended (R-RV-4), by ChangeGrant/EndGrant or a follow-up's
//! outcome. Each change or end commits with its event and audit row, or not at all.

use kontakt_platform::ApiError;
use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::auth::MunicipalityCode;
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{check_etag, day, scoped, update_mask};
use kontakt_proto::referral::v1::{
    ApprovalLevel, ChangeGrantRequest, EndGrantRequest, Grant, GrantEndReason,
};
use tonic::Request;

use super::ReferralApi;
use super::common::{MAX_TEXT, SCHEMA, text_ok};
use super::grants::grant_to_proto;
use crate::grants::{EndTerms, NewTerms, Step, StepError, change_terms, end_terms};
use crate::store::{GrantRow, Tx};
use kontakt_proto::names;

/// ChangeGrant's mask: the terms a version carries.
pub(super) const CHANGEABLE: [&str; 3] = ["minutes_per_week", "allowances", "expected_end_date"];

/// An optional `followUps` name on a change or end: shape only, the follow-up service owns it.
pub(super) fn check_follow_up(name: &str, municipality: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Ok(());
    }
    if names::id_in(name, municipality, names::FOLLOW_UPS).is_some() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "follow_up",
            "must be `municipalities/{code}/followUps/{id}` in the grant's municipality",
        ))
    }
}

pub(super) fn approval_level(
    value: i32,
    default: Option<ApprovalLevel>,
) -> Result<ApprovalLevel, ApiError> {
    match ApprovalLevel::try_from(value) {
        Ok(ApprovalLevel::Unspecified) => default.ok_or_else(|| {
            ApiError::invalid("approval_level", "the deciding level is required (R-RV-12)")
        }),
        Ok(level) => Ok(level),
        Err(_) => Err(ApiError::invalid("approval_level", "not a known level")),
    }
}

impl ReferralApi {
    pub(super) async fn amend_grant(
        &self,
        request: Request<ChangeGrantRequest>,
    ) -> Result<Grant, ApiError> {
        let caller = Caller::of(&request, "changing a grant")?;
        let request = request.into_inner();
        let (municipality, id) = scoped(&caller.principal, &request.name, "grants", "name")?;
        let m = municipality.to_string();
        if request.request_id.is_empty() || !text_ok(&request.request_id, 100) {
            return Err(ApiError::invalid(
                "request_id",
                "1 to 100 characters, the same on every retry",
            ));
        }
        let effective_from = day(request.effective_from.as_ref(), "effective_from")?
            .ok_or_else(|| ApiError::invalid("effective_from", "the first day is required"))?;
        let new_end = day(request.expected_end_date.as_ref(), "expected_end_date")?;
        for (i, a) in request.allowances.iter().enumerate() {
            day(a.end_date.as_ref(), &format!("allowances[{i}].end_date"))?;
        }
        let chosen = update_mask(request.update_mask.as_ref(), &CHANGEABLE)?;
        if chosen.contains(&"expected_end_date") && new_end.is_none() {
            return Err(ApiError::invalid(
                "expected_end_date",
                "the new expected end date is required when it is in update_mask",
            ));
        }
        let level = approval_level(request.approval_level, None)?;
        if !text_ok(&request.justification, MAX_TEXT) {
            return Err(ApiError::invalid(
                "justification",
                "at most 4000 characters",
            ));
        }
        check_follow_up(&request.follow_up, &m)?;
        let chosen_has = |term: &str| chosen.contains(&term);
        let terms = NewTerms {
            effective_from,
            minutes_per_week: chosen_has("minutes_per_week").then_some(request.minutes_per_week),
            allowances: chosen_has("allowances").then_some(request.allowances.as_slice()),
            expected_end: new_end.filter(|_| chosen_has("expected_end_date")),
            level,
            decider: &caller.principal.subject,
            justification: &request.justification,
            follow_up: &request.follow_up,
            request_id: &request.request_id,
            etag: &request.etag,
        };
        let mut tx = self.store.begin().await?;
        match change_terms(&self.store, &mut tx, &m, id, self.clock.today(), &terms).await? {
            Step::Retry(row) => {
                tx.commit().await?;
                Ok(grant_to_proto(row))
            }
            Step::Done(row, changed) => {
                self.commit_grant_step(tx, &caller, "ChangeGrant", &changed, municipality, &row)
                    .await
            }
        }
    }

    pub(super) async fn terminate_grant(
        &self,
        request: Request<EndGrantRequest>,
    ) -> Result<Grant, ApiError> {
        let caller = Caller::of(&request, "ending a grant")?;
        let request = request.into_inner();
        let (municipality, id) = scoped(&caller.principal, &request.name, "grants", "name")?;
        let m = municipality.to_string();
        let end_date = day(request.end_date.as_ref(), "end_date")?
            .ok_or_else(|| ApiError::invalid("end_date", "the last day is required"))?;
        let reason = GrantEndReason::try_from(request.reason)
            .ok()
            .filter(|r| *r != GrantEndReason::Unspecified)
            .ok_or_else(|| {
                ApiError::invalid(
                    "reason",
                    "PURPOSE_MET, CANNOT_BE_MET, MOVED, AGED_OUT, CONSENT_WITHDRAWN, COMPULSORY_CONDITION_ENDED or OTHER",
                )
            })?;
        if !text_ok(&request.note, MAX_TEXT) {
            return Err(ApiError::invalid("note", "at most 4000 characters"));
        }
        if !text_ok(&request.authority_reference, 200) {
            return Err(ApiError::invalid(
                "authority_reference",
                "at most 200 characters",
            ));
        }
        let level = approval_level(request.approval_level, Some(ApprovalLevel::OwnAuthority))?;
        check_follow_up(&request.follow_up, &m)?;
        let terms = EndTerms {
            end_date,
            reason,
            note: &request.note,
            level,
            authority_reference: &request.authority_reference,
            ended_by: &caller.principal.subject,
            follow_up: &request.follow_up,
            etag: &request.etag,
        };
        let mut tx = self.store.begin().await?;
        match end_terms(&self.store, &mut tx, &m, id, self.clock.today(), &terms).await? {
            Step::Retry(row) => {
                tx.commit().await?;
                Ok(grant_to_proto(row))
            }
            Step::Done(row, ended) => {
                self.commit_grant_step(tx, &caller, "EndGrant", &ended, municipality, &row)
                    .await
            }
        }
    }

    /// The end of every grant step: its event and audit row join the step's transaction, which
    /// commits with them; the answer is the grant as it now is.
    async fn commit_grant_step<E: prost::Name>(
        &self,
        mut tx: Tx,
        caller: &Caller,
        method: &str,
        event: &E,
        municipality: MunicipalityCode,
        row: &GrantRow,
    ) -> Result<Grant, ApiError> {
        let m = &row.municipality;
        let name = names::grant(m, &row.id);
        outbox::write(
            &mut tx,
            SCHEMA,
            &NewEvent::new(event, Some(m.clone()), &name),
        )
        .await?;
        let person = names::person(m, &row.person_id);
        caller
            .wrote(
                &mut tx,
                method,
                Action::Update,
                &name,
                municipality,
                &person,
            )
            .await?;
        let saved = self
            .store
            .lock_grant(&mut tx, m, &row.id, self.clock.today())
            .await?
            .ok_or_else(|| ApiError::not_found(&name))?;
        tx.commit().await?;
        Ok(grant_to_proto(saved))
    }
}

impl From<StepError> for ApiError {
    fn from(error: StepError) -> Self {
        match error {
            StepError::NotFound(name) => ApiError::not_found(&name),
            StepError::Stale { etag, revision } => check_etag(&etag, revision)
                .err()
                .unwrap_or_else(|| ApiError::internal(std::io::Error::other("etag matched"))),
            StepError::Refused(refusal) => refusal.into(),
            StepError::Corrupt(cause) => ApiError::internal(std::io::Error::other(cause)),
            StepError::Database(error) => error.into(),
        }
    }
}
