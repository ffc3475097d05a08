//! Each budget frame's yearly evaluation (R-FU-5): frames arrive from the time & cost service
//! (FrameCreated); every year the frame covers, from the year it became known, gets an
//! evaluation task due before December (the day and the reminder lead time are data in
//! `frame_evaluation_settings`), linked to time & cost's evaluation dataset of the same name.
//! FrameEvaluationDue and FrameEvaluationOverdue are pushed once each, claimed like follow-up
//! notices.

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use kontakt_platform::clock::SharedClock;
use kontakt_platform::consumer::{HandleError, Handler, event_date, payload};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_proto::events::v1::Envelope;
use kontakt_proto::followup::v1::{FrameEvaluationDue, FrameEvaluationOverdue};
use kontakt_proto::timecost::v1::FrameCreated;
use prost::Name as _;
use sqlx::{PgConnection, PgPool};

/// Notices per kind and run; the rest wait for the next tick.
const BATCH: i64 = 1_000;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FrameRow {
    pub id: String,
    pub display_name: String,
    pub municipalities: Vec<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EvaluationRow {
    pub frame_id: String,
    pub year: i32,
    pub due_date: NaiveDate,
    pub state: String,
    pub committee: String,
    pub summary: String,
    pub completed_date: Option<NaiveDate>,
    pub completed_by: String,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub municipalities: Vec<String>,
    pub lead_days: i32,
}

const EVALUATION_SELECT: &str =
    "SELECT e.frame_id, e.year, e.due_date, e.state, e.committee, e.summary,
        e.completed_date, e.completed_by, e.revision, e.create_time, e.update_time,
        fr.municipalities, (SELECT lead_days FROM frame_evaluation_settings) AS lead_days
   FROM frame_evaluations e JOIN frames fr ON fr.id = e.frame_id";

pub fn evaluation_name(frame: &str, year: i32) -> String {
    format!("frames/{frame}/evaluations/{year}")
}

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
        // A frame learnt of after this year's evaluation fell due is first evaluated next year.
        let rule = EvaluationRule::read(tx).await?;
        let first_year = if rule.due_in(today.year()).is_some_and(|due| today > due) {
            today.year() + 1
        } else {
            today.year()
        }
        .max(start.year());
        sqlx::query(
            "INSERT INTO frames (id, display_name, municipalities, period_start, period_end,
                                 first_year)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(&e.display_name)
        .bind(&e.municipalities)
        .bind(start)
        .bind(end)
        .bind(first_year)
        .execute(&mut *tx)
        .await?;
        schedule_year(tx, today.year()).await?;
        Ok(())
    }
}

/// When evaluations fall due (`frame_evaluation_settings`).
#[derive(sqlx::FromRow)]
struct EvaluationRule {
    due_month: i32,
    due_day: i32,
    committee: String,
}

impl EvaluationRule {
    async fn read(conn: &mut PgConnection) -> Result<Self, sqlx::Error> {
        sqlx::query_as("SELECT due_month, due_day, committee FROM frame_evaluation_settings")
            .fetch_one(conn)
            .await
    }

    /// `year`'s due day, clamped to the month's last day.
    fn due_in(&self, year: i32) -> Option<NaiveDate> {
        due_date(year, self.due_month, self.due_day)
    }
}

fn due_date(year: i32, month: i32, day: i32) -> Option<NaiveDate> {
    let month = u32::try_from(month).ok()?;
    let day = u32::try_from(day).ok()?;
    (1..=day)
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(year, month, d))
}

/// Makes `year`'s evaluation task for every frame that covers part of the year and is
/// evaluated from it on; running it again changes nothing.
pub async fn schedule_year(conn: &mut PgConnection, year: i32) -> Result<u64, sqlx::Error> {
    let rule = EvaluationRule::read(conn).await?;
    let Some(due) = rule.due_in(year) else {
        return Ok(0);
    };
    let done = sqlx::query(
        "INSERT INTO frame_evaluations (frame_id, year, due_date, state, committee)
         SELECT id, $1, $2, 'SCHEDULED', $3 FROM frames
          WHERE first_year <= $1
            AND extract(year FROM period_start) <= $1
            AND (period_end IS NULL OR extract(year FROM period_end) >= $1)
         ON CONFLICT DO NOTHING",
    )
    .bind(year)
    .bind(due)
    .bind(&rule.committee)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Claims evaluations whose reminder (`overdue` = false) or overdue notice is owed on `today`
/// and not yet published, skipping rows another scheduler holds; marks them published.
async fn claim(
    conn: &mut PgConnection,
    today: NaiveDate,
    overdue: bool,
) -> Result<Vec<EvaluationRow>, sqlx::Error> {
    let (flag, owed) = if overdue {
        ("overdue_published", "e.due_date < $1")
    } else {
        (
            "due_published",
            "e.due_date - (SELECT lead_days FROM frame_evaluation_settings) <= $1",
        )
    };
    let claimed: Vec<EvaluationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{EVALUATION_SELECT}
          WHERE e.state = 'SCHEDULED' AND NOT e.{flag} AND {owed}
          ORDER BY e.due_date, e.frame_id LIMIT $2
            FOR UPDATE OF e SKIP LOCKED"
    )))
    .bind(today)
    .bind(BATCH)
    .fetch_all(&mut *conn)
    .await?;
    let keys: (Vec<String>, Vec<i32>) =
        claimed.iter().map(|e| (e.frame_id.clone(), e.year)).unzip();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE frame_evaluations SET {flag} = true
          WHERE (frame_id, year) IN (SELECT * FROM unnest($1::text[], $2::int[]))"
    )))
    .bind(keys.0)
    .bind(keys.1)
    .execute(conn)
    .await?;
    Ok(claimed)
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
        for e in claim(tx, today, false).await? {
            let name = evaluation_name(&e.frame_id, e.year);
            let event = FrameEvaluationDue {
                frame_evaluation: name.clone(),
                frame: format!("frames/{}", e.frame_id),
                municipalities: e.municipalities.clone(),
                year: e.year,
                due_date: Some(e.due_date.into()),
                dataset: name.clone(),
            };
            outbox::write(tx, crate::SCHEMA, &NewEvent::new(&event, None, &name)).await?;
            published += 1;
        }
        for e in claim(tx, today, true).await? {
            let name = evaluation_name(&e.frame_id, e.year);
            let event = FrameEvaluationOverdue {
                frame_evaluation: name.clone(),
                frame: format!("frames/{}", e.frame_id),
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

/// Reads and writes for the API.
#[derive(Clone)]
pub struct FrameStore {
    pub pool: PgPool,
}

impl FrameStore {
    pub async fn frame(&self, id: &str) -> Result<Option<FrameRow>, sqlx::Error> {
        sqlx::query_as("SELECT id, display_name, municipalities FROM frames WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Newest year first.
    pub async fn evaluations(&self, frame: &str) -> Result<Vec<EvaluationRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{EVALUATION_SELECT} WHERE e.frame_id = $1 ORDER BY e.year DESC"
        )))
        .bind(frame)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn lock_evaluation(
        conn: &mut PgConnection,
        frame: &str,
        year: i32,
    ) -> Result<Option<EvaluationRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{EVALUATION_SELECT} WHERE e.frame_id = $1 AND e.year = $2 FOR UPDATE OF e"
        )))
        .bind(frame)
        .bind(year)
        .fetch_optional(conn)
        .await
    }

    pub async fn complete_evaluation(
        conn: &mut PgConnection,
        frame: &str,
        year: i32,
        done: &EvaluationDone<'_>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE frame_evaluations
                SET state = 'COMPLETED', committee = $3, summary = $4, completed_date = $5,
                    completed_by = $6, revision = revision + 1, update_time = now()
              WHERE frame_id = $1 AND year = $2",
        )
        .bind(frame)
        .bind(year)
        .bind(done.committee)
        .bind(done.summary)
        .bind(done.completed_date)
        .bind(done.completed_by)
        .execute(conn)
        .await?;
        Ok(())
    }
}

pub struct EvaluationDone<'a> {
    pub committee: &'a str,
    pub summary: &'a str,
    pub completed_date: NaiveDate,
    pub completed_by: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_due_day_is_clamped_to_the_month() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(due_date(2026, 11, 30), d(2026, 11, 30));
        assert_eq!(due_date(2026, 2, 31), d(2026, 2, 28));
        assert_eq!(due_date(2028, 2, 31), d(2028, 2, 29));
    }
}
