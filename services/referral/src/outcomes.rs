//! A follow-up's outcome acts on the grant (R-FU-2): the follow-up service's FollowUpCompleted
//! with ADJUST changes the hours from its effective date, END and END_REVISE end the grant
//! (purpose met / cannot be met through this measure), in the consumer's transaction with the
//! GrantChanged / GrantEnded event that carries it on to matching, time & cost and follow-up.
//!
//! The outcome acts directly instead of waiting as a pending change for the counsellor to
//! confirm: the follow-up *is* the counsellor's decision (R-FU-3), recorded with the level it
//! was taken at, so a confirmation would repeat the same person's act and leave the child on
//! the old hours meanwhile. The rules still hold: the new terms are checked exactly as
//! ChangeGrant / EndGrant check them, at the level recorded on the follow-up. Where they break
//! a rule (the policy wants the committee to decide the hours, R-RV-12; a compulsory
//! arrangement, R-RV-4) nothing changes and FollowUpOutcomeRefused names each broken rule, so
//! the counsellor takes it to the right level and makes the change with ChangeGrant naming the
//! follow-up.

use chrono::{Days, NaiveDate};
use kontakt_platform::ApiError;
use kontakt_platform::clock::SharedClock;
use kontakt_platform::consumer::{HandleError, Handler, event_date, payload};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::check_etag;
use kontakt_proto::events::v1::Envelope;
use kontakt_proto::followup::v1::{FollowUpCompleted, FollowUpOutcome};
use kontakt_proto::referral::v1::{ApprovalLevel, FollowUpOutcomeRefused, GrantEndReason};
use prost::Name as _;
use sqlx::PgConnection;

use crate::SCHEMA;
use crate::grants::{EndTerms, NewTerms, StepError, change_terms, end_terms};
use crate::store::Store;
use kontakt_proto::names;

pub(crate) struct FollowUpOutcomes {
    pub store: Store,
    pub clock: SharedClock,
}

impl FollowUpOutcomes {
    /// The event types to follow the follow-up service with.
    pub fn types() -> Vec<String> {
        vec![FollowUpCompleted::full_name()]
    }
}

/// `municipalities/{m}/grants/{id}` of municipality `m` → id.
fn grant_id<'a>(name: &'a str, m: &str) -> Result<&'a str, HandleError> {
    name.strip_prefix(&format!("municipalities/{m}/grants/"))
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| HandleError::reject(format!("not a grant of {m}: {name:?}")))
}

/// Why an outcome could not act, as the refusal event states it; an error for what is worth
/// retrying (the database) or can never be applied (a defect).
fn refusal(err: StepError) -> Result<Vec<String>, HandleError> {
    match err {
        StepError::Refused(refusal) => Ok(if refusal.violations.is_empty() {
            vec![refusal.describe()]
        } else {
            refusal
                .violations
                .iter()
                .map(|v| format!("{} {}: {}", v.rule, v.subject, v.description))
                .collect()
        }),
        StepError::NotFound(_) => Ok(vec!["the grant does not exist".into()]),
        StepError::Corrupt(cause) => Err(HandleError::reject(
            ApiError::internal(std::io::Error::other(cause)).to_string(),
        )),
        // An outcome gives no etag, so this does not happen; said as the API would say it.
        StepError::Stale { etag, revision } => Ok(vec![
            check_etag(&etag, revision)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
        ]),
        StepError::Database(error) => match ApiError::from(error) {
            ApiError::InvalidArgument(fields) => Ok(fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.description))
                .collect()),
            err @ (ApiError::Unavailable(_) | ApiError::DeadlineExceeded) => {
                Err(HandleError::Retry(err.to_string()))
            }
            err @ ApiError::Internal(_) => Err(HandleError::reject(err.to_string())),
            other => Ok(vec![other.to_string()]),
        },
    }
}

#[tonic::async_trait]
impl Handler for FollowUpOutcomes {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let e: FollowUpCompleted = payload(event)?;
        let outcome = FollowUpOutcome::try_from(e.outcome).unwrap_or(FollowUpOutcome::Unspecified);
        if matches!(
            outcome,
            FollowUpOutcome::Continue | FollowUpOutcome::Unspecified
        ) {
            return Ok(());
        }
        let m = e.municipality.as_str();
        let id = grant_id(&e.grant, m)?;
        let held = event_date(e.completed_date.as_ref(), "completed_date")?;
        let stated: Option<NaiveDate> =
            e.outcome_effective_date.as_ref().and_then(|d| d.to_naive());
        let level = ApprovalLevel::try_from(e.approval_level)
            .ok()
            .filter(|l| *l != ApprovalLevel::Unspecified)
            .unwrap_or(ApprovalLevel::OwnAuthority);
        let decider = if e.completed_by.is_empty() {
            e.counsellor.as_str()
        } else {
            e.completed_by.as_str()
        };
        let today = self.clock.today();
        // The follow-up's event id is the change's idempotency key.
        let request_id = format!("event:{}", event.event_id);
        let result = if outcome == FollowUpOutcome::Adjust {
            let from = stated
                .or_else(|| held.checked_add_days(Days::new(1)))
                .unwrap_or(held);
            change_terms(
                &self.store,
                tx,
                m,
                id,
                today,
                &NewTerms {
                    effective_from: from,
                    minutes_per_week: Some(e.adjusted_minutes_per_week),
                    allowances: None,
                    expected_end: None,
                    level,
                    decider,
                    justification: &e.justification,
                    follow_up: &e.follow_up,
                    request_id: &request_id,
                    etag: "",
                },
            )
            .await
            .map(|step| step.event(m))
        } else {
            let reason = if outcome == FollowUpOutcome::End {
                GrantEndReason::PurposeMet
            } else {
                GrantEndReason::CannotBeMet
            };
            end_terms(
                &self.store,
                tx,
                m,
                id,
                today,
                &EndTerms {
                    end_date: stated.unwrap_or(held),
                    reason,
                    note: "",
                    level,
                    authority_reference: "",
                    ended_by: decider,
                    follow_up: &e.follow_up,
                    etag: "",
                },
            )
            .await
            .map(|step| step.event(m))
        };
        match result {
            Ok(None) => Ok(()),
            Ok(Some(next)) => {
                outbox::write(tx, SCHEMA, &next).await?;
                Ok(())
            }
            Err(err) => {
                let violations = refusal(err)?;
                tracing::info!(
                    follow_up = %e.follow_up,
                    grant = %e.grant,
                    "a follow-up's outcome was refused: {}",
                    violations.join("; ")
                );
                let refused = FollowUpOutcomeRefused {
                    follow_up: e.follow_up.clone(),
                    grant: names::grant(m, id),
                    municipality: m.to_owned(),
                    counsellor: e.counsellor.clone(),
                    violations,
                };
                outbox::write(
                    tx,
                    SCHEMA,
                    &NewEvent::new(&refused, Some(m.to_owned()), &e.grant),
                )
                .await?;
                Ok(())
            }
        }
    }
}
