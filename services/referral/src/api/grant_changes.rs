//! A grant changed (R-RV-11) or ended (R-RV-4), by ChangeGrant/EndGrant or a follow-up's
//! outcome. Each change or end commits with its event and audit row, or not at all.

use chrono::NaiveDate;
use kontakt_platform::ApiError;
use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::auth::MunicipalityCode;
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{check_etag, day, scoped, valid_id};
use kontakt_proto::referral::v1::{
    Allowance, ApprovalLevel, ChangeGrantRequest, EndGrantRequest, Grant, GrantChanged,
    GrantEndReason, GrantEnded, GrantVersion,
};
use prost::Message as _;
use sqlx::PgConnection;
use tonic::Request;

use super::ReferralApi;
use super::common::{MAX_TEXT, SCHEMA, decode, grant_name, person_name, rules_broken, text_ok};
use super::grants::grant_to_proto;
use super::policies::policy_in_force;
use crate::domain::decision::Approval;
use crate::domain::grant::{self, Change, Ending};
use crate::store::{GrantEnd, GrantRow, NewVersion, Store, Tx};

/// ChangeGrant's mask: the terms a version carries.
pub(super) const CHANGEABLE: [&str; 3] = ["minutes_per_week", "allowances", "expected_end_date"];

/// An optional `followUps` name on a change or end: shape only, the follow-up service owns it.
pub(super) fn check_follow_up(name: &str, municipality: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Ok(());
    }
    let ok = name
        .strip_prefix(&format!("municipalities/{municipality}/followUps/"))
        .is_some_and(valid_id);
    if ok {
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
        let paths: Vec<&str> = request
            .update_mask
            .as_ref()
            .map(|m| m.paths.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let chosen: Vec<&str> = if paths == ["*"] {
            CHANGEABLE.to_vec()
        } else {
            paths
        };
        if chosen.is_empty() {
            return Err(ApiError::invalid(
                "update_mask",
                format!("name the terms to change: {}", CHANGEABLE.join(", ")),
            ));
        }
        if let Some(other) = chosen.iter().find(|p| !CHANGEABLE.contains(p)) {
            return Err(ApiError::invalid(
                "update_mask",
                format!(
                    "`{other}` cannot be changed; changeable: {}",
                    CHANGEABLE.join(", ")
                ),
            ));
        }
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
        let name = grant_name(m, &row.id);
        outbox::write(
            &mut tx,
            SCHEMA,
            &NewEvent::new(event, Some(m.clone()), &name),
        )
        .await?;
        let person = person_name(m, &row.person_id);
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

/// What a grant step did: nothing, because it is a retry of one already made (the grant as it
/// is), or the change with its event, to be committed with it.
pub(crate) enum Step<E> {
    Retry(GrantRow),
    Done(GrantRow, E),
}

impl<E: prost::Name> Step<E> {
    /// The event to publish for municipality `m`'s grant: none for a retry.
    pub(crate) fn event(&self, m: &str) -> Option<NewEvent> {
        match self {
            Step::Retry(_) => None,
            Step::Done(row, event) => Some(NewEvent::new(
                event,
                Some(m.to_owned()),
                grant_name(m, &row.id),
            )),
        }
    }
}

/// New terms for a grant from a day (R-RV-11), decided at a follow-up or by ChangeGrant. A term
/// that is `None` carries over from the latest version.
pub(crate) struct NewTerms<'a> {
    pub effective_from: NaiveDate,
    pub minutes_per_week: Option<i32>,
    pub allowances: Option<&'a [Allowance]>,
    pub expected_end: Option<NaiveDate>,
    pub level: ApprovalLevel,
    pub decider: &'a str,
    pub justification: &'a str,
    pub follow_up: &'a str,
    /// The idempotency key: the same key twice makes one version.
    pub request_id: &'a str,
    /// Empty to skip the check.
    pub etag: &'a str,
}

/// Makes a grant's new version in `tx` if the rules allow it (R-RV-6, R-RV-9, R-RV-11..13, on
/// the policy in force on its first day); FAILED_PRECONDITION names each rule broken.
pub(crate) async fn change_terms(
    store: &Store,
    tx: &mut PgConnection,
    m: &str,
    id: &str,
    today: NaiveDate,
    t: &NewTerms<'_>,
) -> Result<Step<GrantChanged>, ApiError> {
    let name = grant_name(m, id);
    let row = store
        .lock_grant(tx, m, id, today)
        .await?
        .ok_or_else(|| ApiError::not_found(&name))?;
    // R-RV-10: a retry finds the version its first attempt made and changes nothing.
    if store
        .version_by_request(tx, m, id, t.request_id)
        .await?
        .is_some()
    {
        return Ok(Step::Retry(row));
    }
    check_etag(t.etag, row.revision)?;
    let latest = store.latest_version(tx, m, id).await?;
    let previous: GrantVersion = decode(&latest.body)?;
    let expected_end = t.expected_end.unwrap_or(row.expected_end_date);
    let next = GrantVersion {
        minutes_per_week: t.minutes_per_week.unwrap_or(latest.minutes_per_week),
        allowances: t
            .allowances
            .map_or_else(|| previous.allowances.clone(), <[Allowance]>::to_vec),
        expected_end_date: Some(expected_end.into()),
        approval_level: t.level as i32,
        decider: t.decider.to_owned(),
        justification: t.justification.trim().to_owned(),
        follow_up: t.follow_up.to_owned(),
        ..GrantVersion::default()
    };
    let policy = policy_in_force(store, tx, m, t.effective_from).await?;
    let violations = grant::check_change(&Change {
        active: row.state == "ACTIVE",
        latest_from: latest.effective_from,
        effective_from: t.effective_from,
        changes_something: next.minutes_per_week != latest.minutes_per_week
            || next.allowances != previous.allowances
            || expected_end != row.expected_end_date,
        terms: Approval {
            policy: &policy,
            level: t.level,
            minutes_per_week: next.minutes_per_week,
            start: Some(t.effective_from),
            expected_end: Some(expected_end),
            review: None,
            allowances: &next.allowances,
            justification: &next.justification,
            under_age: false,
        },
    });
    if !violations.is_empty() {
        return Err(rules_broken("the grant cannot be changed so", violations));
    }
    let count = store.count_versions(tx, m, id).await?;
    let version_id = format!("v{}", count + 1);
    store
        .insert_version(
            tx,
            &NewVersion {
                municipality: m,
                grant_id: id,
                id: &version_id,
                minutes_per_week: next.minutes_per_week,
                effective_from: t.effective_from,
                expected_end_date: expected_end,
                body: &next.encode_to_vec(),
                request_id: t.request_id,
            },
            &latest.id,
        )
        .await?;
    let changed = GrantChanged {
        grant: name.clone(),
        version: format!("{name}/versions/{version_id}"),
        previous_version: format!("{name}/versions/{}", latest.id),
        municipality: m.to_owned(),
        effective_from: Some(t.effective_from.into()),
        minutes_per_week: next.minutes_per_week,
        previous_minutes_per_week: latest.minutes_per_week,
        allowances: next.allowances,
        expected_end_date: Some(expected_end.into()),
        follow_up: t.follow_up.to_owned(),
        person: person_name(m, &row.person_id),
    };
    Ok(Step::Done(row, changed))
}

/// The end of a grant (R-RV-4, R-RV-11), decided at a follow-up or by EndGrant.
pub(crate) struct EndTerms<'a> {
    pub end_date: NaiveDate,
    pub reason: GrantEndReason,
    pub note: &'a str,
    pub level: ApprovalLevel,
    pub authority_reference: &'a str,
    pub ended_by: &'a str,
    pub follow_up: &'a str,
    /// Empty to skip the check.
    pub etag: &'a str,
}

/// Ends a grant in `tx` if the rules allow it; the same end again is a retry, any other end of
/// an ended grant FAILED_PRECONDITION.
pub(crate) async fn end_terms(
    store: &Store,
    tx: &mut PgConnection,
    m: &str,
    id: &str,
    today: NaiveDate,
    e: &EndTerms<'_>,
) -> Result<Step<GrantEnded>, ApiError> {
    let name = grant_name(m, id);
    let reason_column = e
        .reason
        .as_str_name()
        .trim_start_matches("GRANT_END_REASON_")
        .to_owned();
    let row = store
        .lock_grant(tx, m, id, today)
        .await?
        .ok_or_else(|| ApiError::not_found(&name))?;
    if row.state == "ENDED" {
        // A retry of the same end is answered with the grant; any other end is refused.
        return if row.end_date == Some(e.end_date)
            && row.end_reason.as_deref() == Some(reason_column.as_str())
        {
            Ok(Step::Retry(row))
        } else {
            Err(ApiError::FailedPrecondition {
                reason: "GRANT_ENDED",
                message: format!(
                    "the grant already ended on {}",
                    row.end_date.map(|d| d.to_string()).unwrap_or_default()
                ),
                violations: Vec::new(),
            })
        };
    }
    check_etag(e.etag, row.revision)?;
    let facts = store.legal_basis_facts(tx).await?;
    let basis_without_consent = row
        .legal_basis
        .strip_prefix("legalBases/")
        .and_then(|code| facts.get(code))
        .is_some_and(|f| f.without_consent);
    let violations = grant::check_end(&Ending {
        start_date: row.start_date,
        expected_end_date: row.expected_end_date,
        end_date: e.end_date,
        reason: e.reason,
        note: e.note,
        level: e.level,
        authority_reference: e.authority_reference,
        compulsory_until: row.compulsory_until,
        basis_without_consent,
    });
    if !violations.is_empty() {
        return Err(rules_broken("the grant cannot be ended so", violations));
    }
    let withdrawn = store
        .end_grant(
            tx,
            m,
            id,
            &GrantEnd {
                end_date: e.end_date,
                reason: &reason_column,
                note: e.note.trim(),
                level: e.level.as_str_name().trim_start_matches("APPROVAL_LEVEL_"),
                authority_reference: e.authority_reference.trim(),
                ended_by: e.ended_by,
            },
        )
        .await?;
    let ended = GrantEnded {
        grant: name.clone(),
        municipality: m.to_owned(),
        end_date: Some(e.end_date.into()),
        reason: e.reason as i32,
        follow_up: e.follow_up.to_owned(),
        person: person_name(m, &row.person_id),
        withdrawn_versions: withdrawn
            .iter()
            .map(|v| format!("{name}/versions/{v}"))
            .collect(),
    };
    Ok(Step::Done(row, ended))
}
