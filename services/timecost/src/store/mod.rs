//! SQL for the `timecost` schema, one section per aggregate.

mod expenses;
mod frames;
mod reports;
mod reversal;
mod time;
mod timesheets;

use kontakt_platform::db::CallTx;
use sqlx::PgPool;

pub use expenses::{ExpenseRow, MileageRateRow};
pub use frames::{AmountRow, FrameRow, RateRow as IndexRateRow, ShareRow};
pub use reversal::Ledger;
pub use time::{AssignmentRow, EntryRow};
pub use timesheets::TimesheetRow;

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

#[derive(Debug, sqlx::FromRow)]
pub struct ActivityKindRow {
    pub code: String,
    pub display_name: String,
    pub description: String,
    pub counts_toward_granted_hours: bool,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub async fn begin(&self) -> Result<CallTx, sqlx::Error> {
        CallTx::begin(&self.pool).await
    }

    // Activity kinds ---------------------------------------------------------------------

    pub async fn list_activity_kinds(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ActivityKindRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT code, display_name, description, counts_toward_granted_hours FROM activity_kinds
              WHERE ($1::text IS NULL OR code > $1) ORDER BY code LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn get_activity_kind(
        &self,
        code: &str,
    ) -> Result<Option<ActivityKindRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT code, display_name, description, counts_toward_granted_hours FROM activity_kinds WHERE code = $1",
        )
        .bind(code)
        .fetch_optional(&self.pool)
        .await
    }
}
