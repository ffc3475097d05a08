//! The referral service's grant events, applied in the consumer's transaction: an approval
//! makes the schedule, its first follow-up (R-FU-1; by the end of an undersøgelse running
//! beside if earlier, BL § 95 stk. 2) and the counsellor's deadlines (R-RV-5, § 20, § 91); a
//! change not taken at a follow-up brings the next follow-up forward if needed; an end cancels
//! what is still open (follow-up and deadlines). A grant imported from the old system brings
//! the follow-ups held there, and its schedule goes on from the last one. Replays change nothing.

use kontakt_platform::consumer::{HandleError, Handler, event_date, payload};
use kontakt_proto::events::v1::Envelope;
use kontakt_proto::referral::v1::{GrantApproved, GrantChanged, GrantEnded};
use prost::Name as _;
use sqlx::PgConnection;

use crate::domain::deadline;
use crate::domain::due::{self, DueError};
use crate::store::{NewSchedule, Store};

/// The event types to follow the referral service with.
pub fn types() -> Vec<String> {
    vec![
        GrantApproved::full_name(),
        GrantChanged::full_name(),
        GrantEnded::full_name(),
    ]
}

pub struct GrantEvents;

/// `municipalities/{m}/grants/{id}` → (m, id).
fn grant_key(name: &str) -> Result<(String, String), HandleError> {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        ["municipalities", m, "grants", id] if !m.is_empty() && !id.is_empty() => {
            Ok(((*m).to_owned(), (*id).to_owned()))
        }
        _ => Err(HandleError::reject(format!("not a grant name: {name:?}"))),
    }
}

fn due_error(err: DueError) -> HandleError {
    HandleError::reject(format!("no due date can be computed: {err:?}"))
}

#[tonic::async_trait]
impl Handler for GrantEvents {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let kind = event.r#type.as_str();
        if kind == GrantApproved::full_name() {
            let e: GrantApproved = payload(event)?;
            let (m, grant) = grant_key(&e.grant)?;
            let start = event_date(e.start_date.as_ref(), "start_date")?;
            let deadlines = Store::first_follow_up_deadlines(tx).await?;
            let statutory = due::first_deadline_months(start, &deadlines)
                .and_then(|m| i32::try_from(m).ok())
                .ok_or_else(|| HandleError::reject("no statutory follow-up deadline is held"))?;
            let schedule = NewSchedule {
                municipality: &m,
                grant_id: &grant,
                person: &e.person,
                counsellor: &e.counsellor,
                start_date: start,
                expected_end_date: e.expected_end_date.as_ref().and_then(|d| d.to_naive()),
                interval_months: e.follow_up_interval_months.max(0),
                statutory_months: statutory,
                coordinator_required: e.follow_up_coordinator_required,
            };
            if Store::insert_schedule(tx, &schedule).await? {
                // § 95 stk. 2: by the end of an undersøgelse running beside, if that is earlier.
                let review = [&e.review_date, &e.assessment_deadline]
                    .into_iter()
                    .filter_map(|d| d.as_ref().and_then(|d| d.to_naive()))
                    .filter(|d| *d >= start)
                    .min();
                let first = if e.imported_from.is_empty() {
                    due::first_due(start, schedule.rules(), review).map_err(due_error)?
                } else {
                    // Brought over from the old system: what was held there is history here,
                    // and the schedule goes on from it.
                    let held: Vec<_> = e
                        .follow_ups_held
                        .iter()
                        .filter_map(kontakt_proto::common::v1::Date::to_naive)
                        .collect();
                    for day in &held {
                        Store::insert_held_follow_up(
                            tx,
                            &m,
                            &grant,
                            *day,
                            &e.counsellor,
                            &e.imported_from,
                        )
                        .await?;
                    }
                    let next = e.next_follow_up_date.as_ref().and_then(|d| d.to_naive());
                    due::after_import(start, schedule.rules(), &held, next, review)
                        .map_err(due_error)?
                };
                Store::insert_follow_up(tx, &m, &grant, first, &e.counsellor).await?;
                // R-RV-5, BL § 20 stk. 3, § 91: what the counsellor must decide by.
                let day = |d: &Option<kontakt_proto::common::v1::Date>| {
                    d.as_ref().and_then(|d| d.to_naive())
                };
                for made in deadline::of_approval(
                    day(&e.basis_ends_date),
                    u32::try_from(e.basis_ends_at_age).unwrap_or(0),
                    day(&e.assessment_deadline),
                    day(&e.plan_deadline),
                ) {
                    Store::insert_deadline(tx, &m, &grant, &e.counsellor, &made).await?;
                }
            }
        } else if kind == GrantChanged::full_name() {
            let e: GrantChanged = payload(event)?;
            let (m, grant) = grant_key(&e.grant)?;
            let Some(schedule) = Store::lock_schedule(tx, &m, &grant).await? else {
                return Err(HandleError::reject(format!(
                    "{} was never approved here",
                    e.grant
                )));
            };
            Store::set_expected_end(
                tx,
                &m,
                &grant,
                e.expected_end_date.as_ref().and_then(|d| d.to_naive()),
            )
            .await?;
            // A change decided at a follow-up already set the next date there.
            if e.follow_up.is_empty()
                && let Some(next) = Store::open_due(tx, &m, &grant).await?
            {
                let from = event_date(e.effective_from.as_ref(), "effective_from")?;
                let moved = due::after_change(next, from, schedule.rules()).map_err(due_error)?;
                Store::move_open(tx, &m, &grant, moved).await?;
            }
        } else if kind == GrantEnded::full_name() {
            let e: GrantEnded = payload(event)?;
            let (m, grant) = grant_key(&e.grant)?;
            let end = event_date(e.end_date.as_ref(), "end_date")?;
            Store::end_schedule(tx, &m, &grant, end).await?;
            Store::cancel_deadlines(tx, &m, &grant).await?;
        }
        Ok(())
    }
}
