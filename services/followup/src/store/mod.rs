//! SQL for the `followup` schema, one file per aggregate: schedules, their follow-ups (with
//! the scheduler's claims), the statutory deadlines besides them, the municipalities' reminder
//! settings, and budget frames with their yearly evaluations.

mod deadlines;
mod follow_ups;
mod frames;
mod schedules;
mod settings;

pub use deadlines::{DeadlineQuery, DeadlineRow};
pub use follow_ups::{Completion, FollowUpRow};
pub use frames::{EvaluationDone, EvaluationRow, NewFrame};
pub use schedules::{NewSchedule, ScheduleRow};

use kontakt_platform::db::CallTx;
use sqlx::PgPool;

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub async fn begin(&self) -> Result<CallTx, sqlx::Error> {
        CallTx::begin(&self.pool).await
    }
}
