//! The scheduled job that pushes FollowUpDue (a lead time before the due date) and
//! FollowUpOverdue (after it) once per follow-up (R-FU-4), and DeadlineDue once per deadline. It claims rows with
//! `FOR UPDATE SKIP LOCKED` and marks them published in the same transaction as the outbox
//! rows, and runs under the platform scheduler's advisory lock, so two replicas never publish
//! the same notice twice.

use kontakt_platform::clock::SharedClock;
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_proto::followup::v1::{DeadlineDue, FollowUpDue, FollowUpOverdue};
use sqlx::PgConnection;

use crate::store::Store;
use kontakt_proto::names;

/// Notices per kind and run; the rest wait for the next tick.
const BATCH: i64 = 1_000;

pub struct Notices {
    pub clock: SharedClock,
}

#[tonic::async_trait]
impl kontakt_platform::schedule::Job for Notices {
    fn name(&self) -> &'static str {
        "followup.notices"
    }

    async fn run(&self, tx: &mut PgConnection) -> Result<usize, sqlx::Error> {
        let today = self.clock.today();
        let mut published = 0;
        for f in Store::claim_notices(tx, today, false, BATCH).await? {
            let name = names::follow_up(&f.municipality, &f.id);
            let event = FollowUpDue {
                follow_up: name.clone(),
                grant: names::grant(&f.municipality, &f.grant_id),
                municipality: f.municipality.clone(),
                counsellor: f.counsellor.clone(),
                due_date: Some(f.due_date.into()),
            };
            publish(tx, &event, f.municipality, &name).await?;
            published += 1;
        }
        for f in Store::claim_notices(tx, today, true, BATCH).await? {
            let name = names::follow_up(&f.municipality, &f.id);
            let event = FollowUpOverdue {
                follow_up: name.clone(),
                grant: names::grant(&f.municipality, &f.grant_id),
                municipality: f.municipality.clone(),
                counsellor: f.counsellor.clone(),
                due_date: Some(f.due_date.into()),
            };
            publish(tx, &event, f.municipality, &name).await?;
            published += 1;
        }
        for d in Store::claim_deadline_notices(tx, today, BATCH).await? {
            let name = names::deadline(&d.municipality, &d.id);
            let event = DeadlineDue {
                deadline: name.clone(),
                grant: names::grant(&d.municipality, &d.grant_id),
                municipality: d.municipality.clone(),
                counsellor: d.counsellor.clone(),
                kind: crate::api::deadline_kind(&d.kind) as i32,
                deadline_date: Some(d.deadline_date.into()),
            };
            publish(tx, &event, d.municipality, &name).await?;
            published += 1;
        }
        Ok(published)
    }
}

/// Writes one notice about `name` to the outbox, in the claim's transaction.
async fn publish<M: prost::Name>(
    tx: &mut PgConnection,
    event: &M,
    municipality: String,
    name: &str,
) -> Result<(), sqlx::Error> {
    outbox::write(
        tx,
        crate::SCHEMA,
        &NewEvent::new(event, Some(municipality), name),
    )
    .await?;
    Ok(())
}
