//! Each budget frame's yearly evaluation (R-FU-5): frames arrive from the time & cost service
//! (FrameCreated); every year the frame covers, from the year it became known, gets an
//! evaluation task due before December, linked to time & cost's evaluation dataset of the same
//! name. The due day, the reminder's lead time and the committee are each frame's own settings
//! (the default a new frame gets is `frame_evaluation_settings`). FrameEvaluationDue and
//! FrameEvaluationOverdue are pushed once each, claimed like follow-up notices.

use chrono::Datelike as _;
use kontakt_platform::clock::SharedClock;
use kontakt_platform::consumer::{HandleError, Handler, event_date, payload};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_proto::events::v1::Envelope;
use kontakt_proto::followup::v1::{FrameEvaluationDue, FrameEvaluationOverdue};
use kontakt_proto::timecost::v1::FrameCreated;
use prost::Name as _;
use sqlx::PgConnection;

use crate::store::{NewFrame, Store};
use kontakt_proto::names;

/// Notices per kind and run; the rest wait for the next tick.
const BATCH: i64 = 1_000;

/// The event types to follow the time & cost service with.
pub fn types() -> Vec<String> {
    vec![FrameCreated::full_name()]
}

/// Records frames from time & cost's FrameCreated and schedules their first evaluation.
pub struct FrameEvents {
    pub clock: SharedClock,
}

#[tonic::async_trait]
impl Handler for FrameEvents {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let e: FrameCreated = payload(event)?;
        let id = e
            .frame
            .strip_prefix("frames/")
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .ok_or_else(|| HandleError::reject(format!("not a frame name: {:?}", e.frame)))?;
        let period = e.period.unwrap_or_default();
        let start = event_date(period.start.as_ref(), "period.start")?;
        let end = period.end.as_ref().and_then(|d| d.to_naive());
        let today = self.clock.today();
        let first_year = Store::default_evaluation_rule(tx)
            .await?
            .first_year(today, start);
        Store::insert_frame(
            tx,
            &NewFrame {
                id,
                display_name: &e.display_name,
                municipalities: &e.municipalities,
                period_start: start,
                period_end: end,
                first_year,
            },
        )
        .await?;
        schedule_year(tx, today.year()).await?;
        Ok(())
    }
}

/// Makes `year`'s evaluation task for every frame that covers part of the year and is
/// evaluated from it on, due by the frame's own settings; running it again changes nothing.
pub async fn schedule_year(conn: &mut PgConnection, year: i32) -> Result<u64, sqlx::Error> {
    let mut made = 0;
    for (id, rule) in Store::frames_to_schedule(conn, year).await? {
        if let Some(due) = rule.due_in(year) {
            made += Store::insert_evaluation(conn, &id, year, due, &rule.committee).await?;
        }
    }
    Ok(made)
}

/// The scheduled job: this year's tasks exist, and their notices go out once each.
pub struct Notices {
    pub clock: SharedClock,
}

#[tonic::async_trait]
impl kontakt_platform::schedule::Job for Notices {
    fn name(&self) -> &'static str {
        "followup.frame-evaluations"
    }

    async fn run(&self, tx: &mut PgConnection) -> Result<usize, sqlx::Error> {
        let today = self.clock.today();
        schedule_year(tx, today.year()).await?;
        let mut published = 0;
        for e in Store::claim_evaluation_notices(tx, today, false, BATCH).await? {
            let name = names::frame_evaluation(&e.frame_id, e.year);
            let event = FrameEvaluationDue {
                frame_evaluation: name.clone(),
                frame: names::frame(&e.frame_id),
                municipalities: e.municipalities.clone(),
                year: e.year,
                due_date: Some(e.due_date.into()),
                dataset: name.clone(),
            };
            outbox::write(tx, crate::SCHEMA, &NewEvent::new(&event, None, &name)).await?;
            published += 1;
        }
        for e in Store::claim_evaluation_notices(tx, today, true, BATCH).await? {
            let name = names::frame_evaluation(&e.frame_id, e.year);
            let event = FrameEvaluationOverdue {
                frame_evaluation: name.clone(),
                frame: names::frame(&e.frame_id),
                municipalities: e.municipalities.clone(),
                year: e.year,
                due_date: Some(e.due_date.into()),
            };
            outbox::write(tx, crate::SCHEMA, &NewEvent::new(&event, None, &name)).await?;
            published += 1;
        }
        Ok(published)
    }
}
