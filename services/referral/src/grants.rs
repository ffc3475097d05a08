//! What both the API and the follow-up outcomes do to a grant: the policy in force on a day,
//! new terms from a day (R-RV-11) and the end (R-RV-4), each in the caller's transaction. It
//! knows neither tonic nor `ApiError`: it answers a [`StepError`], which the API turns into its
//! status (`From<StepError> for ApiError` in `api/grant_changes.rs`) and the outcome consumer
//! into a FollowUpOutcomeRefused or a retry.

use chrono::NaiveDate;
use kontakt_platform::Refusal;
use kontakt_platform::outbox::NewEvent;
use kontakt_platform::resource::etag;
use kontakt_proto::referral::v1::{
    Allowance, ApprovalLevel, GrantChanged, GrantEndReason, GrantEnded, GrantVersion,
    MunicipalityPolicy,
};
use prost::Message as _;
use sqlx::PgConnection;

use crate::domain::decision::{AgeLimit, Approval};
use crate::domain::grant::{self, Change, Ending};
use crate::domain::policy::Policy;
use crate::store::{GrantEnd, GrantRow, NewVersion, Store};
use kontakt_proto::names;

/// Why a grant step did not happen.
#[derive(Debug)]
pub(crate) enum StepError {
    /// No such grant (its name).
    NotFound(String),
    /// The etag given is not the grant's revision: it changed since it was read.
    Stale {
        etag: String,
        revision: i64,
    },
    /// A rule or the grant's state does not allow it.
    Refused(Refusal),
    /// Stored data that does not decode (a defect, never the caller's fault).
    Corrupt(Box<dyn std::error::Error + Send + Sync>),
    Database(sqlx::Error),
}

impl StepError {
    fn corrupt(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Corrupt(cause.into())
    }
}

impl From<Refusal> for StepError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<sqlx::Error> for StepError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

/// An empty etag skips the check (a follow-up's outcome acts on the grant as it is).
fn fresh(given: &str, revision: i64) -> Result<(), StepError> {
    if given.is_empty() || given == etag(revision) {
        Ok(())
    } else {
        Err(StepError::Stale {
            etag: given.to_owned(),
            revision,
        })
    }
}

/// The municipality's service standard in force on `day` (the latest version from on or before
/// it); refused as NO_POLICY when it has none.
pub(crate) async fn policy_in_force(
    store: &Store,
    tx: &mut PgConnection,
    municipality: &str,
    day: NaiveDate,
) -> Result<Policy, StepError> {
    let row = store.policy_on(tx, municipality, day).await?.ok_or_else(|| {
        Refusal::new(
            "NO_POLICY",
            format!(
                "municipality {municipality} has no service standard in force on {day}; an administrator adds one with CreatePolicy"
            ),
        )
    })?;
    let proto = MunicipalityPolicy::decode(row.body.as_slice()).map_err(StepError::corrupt)?;
    Policy::parse(&proto).map_err(|wrong| {
        StepError::corrupt(std::io::Error::other(format!(
            "stored policy {} is invalid: {wrong:?}",
            row.id
        )))
    })
}

/// The last day a grant on `legal_basis` may run for a person born on `birth` (R-RV-5): the
/// day before the birthday after the basis's oldest age; `None` when the basis has no upper
/// age.
pub(crate) async fn age_limit(
    store: &Store,
    tx: &mut PgConnection,
    birth: NaiveDate,
    legal_basis: &str,
) -> Result<Option<AgeLimit>, sqlx::Error> {
    let catalogue = store.legal_basis_facts(tx).await?;
    Ok(names::legal_basis_code(legal_basis)
        .and_then(|code| catalogue.get(code))
        .and_then(|basis| AgeLimit::of(basis, birth)))
}

/// What a new grant's event says because of the policy in force and the person's age: the
/// follow-up interval and the coordinator's part (R-FU-1, R-FU-3), where the basis stops
/// covering the person (R-RV-5), and the certificate its contact person needs (R-MP-6). The
/// decision and the import each add what is theirs.
pub(crate) fn approved_by_policy(
    policy: &Policy,
    family: bool,
    age_at_start: u32,
    limit: Option<AgeLimit>,
) -> kontakt_proto::referral::v1::GrantApproved {
    let months = |m: Option<u32>| m.and_then(|v| i32::try_from(v).ok()).unwrap_or(0);
    kontakt_proto::referral::v1::GrantApproved {
        follow_up_interval_months: months(policy.follow_up_interval_months),
        follow_up_coordinator_required: policy.follow_up_coordinator_required,
        basis_ends_date: limit.map(|l| l.last_day.into()),
        basis_ends_at_age: months(limit.map(|l| l.turns)),
        certificate_not_required: !policy.certificate_required(family, age_at_start),
        certificate_renewal_months: months(policy.certificate_renewal_months),
        ..Default::default()
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
    pub fn event(&self, m: &str) -> Option<NewEvent> {
        match self {
            Step::Retry(_) => None,
            Step::Done(row, event) => Some(NewEvent::new(
                event,
                Some(m.to_owned()),
                names::grant(m, &row.id),
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
) -> Result<Step<GrantChanged>, StepError> {
    let name = names::grant(m, id);
    let row = store
        .lock_grant(tx, m, id, today)
        .await?
        .ok_or_else(|| StepError::NotFound(name.clone()))?;
    // R-RV-10: a retry finds the version its first attempt made and changes nothing.
    if store
        .version_by_request(tx, m, id, t.request_id)
        .await?
        .is_some()
    {
        return Ok(Step::Retry(row));
    }
    fresh(t.etag, row.revision)?;
    let latest = store.latest_version(tx, m, id).await?;
    let previous = GrantVersion::decode(latest.body.as_slice()).map_err(StepError::corrupt)?;
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
    let birth = store.birth_date(tx, m, &row.person_id).await?;
    let limit = age_limit(store, tx, birth, &row.legal_basis).await?;
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
            age_deviates: false,
            age_limit: limit,
        },
    });
    if !violations.is_empty() {
        return Err(Refusal::rules("the grant cannot be changed so", violations).into());
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
        person: names::person(m, &row.person_id),
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
) -> Result<Step<GrantEnded>, StepError> {
    let name = names::grant(m, id);
    let reason_column = e
        .reason
        .as_str_name()
        .trim_start_matches("GRANT_END_REASON_")
        .to_owned();
    let row = store
        .lock_grant(tx, m, id, today)
        .await?
        .ok_or_else(|| StepError::NotFound(name.clone()))?;
    if row.state == "ENDED" {
        // A retry of the same end is answered with the grant; any other end is refused.
        return if row.end_date == Some(e.end_date)
            && row.end_reason.as_deref() == Some(reason_column.as_str())
        {
            Ok(Step::Retry(row))
        } else {
            Err(Refusal::new(
                "GRANT_ENDED",
                format!(
                    "the grant already ended on {}",
                    row.end_date.map(|d| d.to_string()).unwrap_or_default()
                ),
            )
            .into())
        };
    }
    fresh(e.etag, row.revision)?;
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
        return Err(Refusal::rules("the grant cannot be ended so", violations).into());
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
        person: names::person(m, &row.person_id),
        withdrawn_versions: withdrawn
            .iter()
            .map(|v| format!("{name}/versions/{v}"))
            .collect(),
    };
    Ok(Step::Done(row, ended))
}
