//! What both the API and the grant events do to an assignment: give it new weekly minutes,
//! end it. Each step books or releases the person's hours (R-MP-4), moves the request on and
//! publishes its event, in the caller's transaction. It knows neither tonic nor `ApiError`:
//! the API turns `None` from [`resize`] into its refusal, the consumer into unmet demand.

use chrono::NaiveDate;
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_proto::matching::v1::{AssignmentChanged, AssignmentEnded};
use sqlx::PgConnection;

use crate::SCHEMA;
use crate::domain::request::RequestState;
use crate::store::{AssignmentRow, RequestStep, Store};
use kontakt_proto::names;

/// Gives an active assignment new weekly minutes from `from`, booking or releasing the
/// difference; publishes AssignmentChanged. `None` when the person lacks the extra time.
pub(crate) async fn resize(
    store: &Store,
    tx: &mut PgConnection,
    row: &AssignmentRow,
    minutes: i32,
    from: NaiveDate,
) -> Result<Option<AssignmentRow>, sqlx::Error> {
    let delta = minutes - row.minutes_per_week;
    if delta > 0 {
        if !store
            .book(tx, &row.unit, &row.contact_person_id, delta)
            .await?
        {
            return Ok(None);
        }
    } else if delta < 0 {
        store
            .release(tx, &row.unit, &row.contact_person_id, -delta)
            .await?;
    } else {
        return Ok(Some(row.clone()));
    }
    let changed = store
        .set_assignment_minutes(tx, &row.municipality, &row.id, minutes)
        .await?;
    let name = names::assignment(&row.municipality, &row.id);
    let event = AssignmentChanged {
        assignment: name.clone(),
        grant: names::grant(&row.municipality, &row.request),
        municipality: row.municipality.clone(),
        effective_from: Some(from.into()),
        minutes_per_week: minutes,
        previous_minutes_per_week: row.minutes_per_week,
    };
    outbox::write(
        tx,
        SCHEMA,
        &NewEvent::new(&event, Some(row.municipality.clone()), &name),
    )
    .await?;
    Ok(Some(changed))
}

/// Ends an active assignment on `end`, releases its hours and publishes AssignmentEnded; the
/// request opens again when the grant continues, and closes otherwise.
pub(crate) async fn finish(
    store: &Store,
    tx: &mut PgConnection,
    row: &AssignmentRow,
    end: NaiveDate,
    note: &str,
    grant_continues: bool,
) -> Result<AssignmentRow, sqlx::Error> {
    store
        .release(tx, &row.unit, &row.contact_person_id, row.minutes_per_week)
        .await?;
    let ended = store
        .end_assignment(tx, &row.municipality, &row.id, end, note)
        .await?;
    store
        .step_request(
            tx,
            &row.municipality,
            &row.request,
            // The request is ASSIGNED while its assignment is active.
            &RequestStep::to(RequestState::Assigned.end_assignment(grant_continues)),
        )
        .await?;
    let name = names::assignment(&row.municipality, &row.id);
    let event = AssignmentEnded {
        assignment: name.clone(),
        grant: names::grant(&row.municipality, &row.request),
        contact_person: names::contact_person(&row.unit, &row.contact_person_id),
        municipality: row.municipality.clone(),
        end_date: Some(end.into()),
        grant_continues,
    };
    outbox::write(
        tx,
        SCHEMA,
        &NewEvent::new(&event, Some(row.municipality.clone()), &name),
    )
    .await?;
    Ok(ended)
}
