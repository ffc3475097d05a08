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

use chrono::NaiveDate;
use kontakt_platform::db::CallTx;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool};

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

/// Rows owed a notice, as the notices job claims them.
struct Owed<'a> {
    /// The select the rows are read with; its table is aliased `alias`.
    select: &'a str,
    table: &'a str,
    alias: &'a str,
    /// Which rows owe the notice, `$1` being today.
    owed: &'a str,
    /// The column that says the notice is published.
    flag: &'a str,
}

/// Claims up to `limit` rows owed a notice, earliest due first, skipping those another
/// replica holds, and marks them published in the same transaction: a claimed notice is
/// published once.
async fn claim_owed<R>(
    conn: &mut PgConnection,
    o: &Owed<'_>,
    today: NaiveDate,
    limit: i64,
    key: impl Fn(&R) -> (String, String),
) -> Result<Vec<R>, sqlx::Error>
where
    R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let (select, table, a, owed, flag) = (o.select, o.table, o.alias, o.owed, o.flag);
    let claimed: Vec<R> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{select}
          WHERE NOT {a}.{flag} AND {owed}
          ORDER BY {a}.due_date, {a}.id LIMIT $2
            FOR UPDATE OF {a} SKIP LOCKED"
    )))
    .bind(today)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let keys: (Vec<String>, Vec<String>) = claimed.iter().map(key).unzip();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET {flag} = true
          WHERE (municipality, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
    )))
    .bind(keys.0)
    .bind(keys.1)
    .execute(conn)
    .await?;
    Ok(claimed)
}
