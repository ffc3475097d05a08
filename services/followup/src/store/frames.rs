//! Budget frames learnt of from time & cost, and each frame's yearly evaluations with the
//! scheduler's claims on the notices owed (R-FU-5).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::Store;
use crate::domain::evaluation::EvaluationRule;

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

/// A frame from time & cost's FrameCreated.
pub struct NewFrame<'a> {
    pub id: &'a str,
    pub display_name: &'a str,
    pub municipalities: &'a [String],
    pub period_start: NaiveDate,
    pub period_end: Option<NaiveDate>,
    /// The first year it is evaluated.
    pub first_year: i32,
}

pub struct EvaluationDone<'a> {
    pub committee: &'a str,
    pub summary: &'a str,
    pub completed_date: NaiveDate,
    pub completed_by: &'a str,
}

impl Store {
    /// Records the frame; a replayed event changes nothing.
    pub async fn insert_frame(
        conn: &mut PgConnection,
        frame: &NewFrame<'_>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO frames (id, display_name, municipalities, period_start, period_end,
                                 first_year)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(frame.id)
        .bind(frame.display_name)
        .bind(frame.municipalities)
        .bind(frame.period_start)
        .bind(frame.period_end)
        .bind(frame.first_year)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// When evaluations fall due.
    pub async fn evaluation_rule(conn: &mut PgConnection) -> Result<EvaluationRule, sqlx::Error> {
        let (due_month, due_day, committee) =
            sqlx::query_as("SELECT due_month, due_day, committee FROM frame_evaluation_settings")
                .fetch_one(conn)
                .await?;
        Ok(EvaluationRule {
            due_month,
            due_day,
            committee,
        })
    }

    /// `year`'s evaluation task, due on `due`, for every frame that covers part of the year
    /// and is evaluated from it on; running it again changes nothing.
    pub async fn insert_evaluations(
        conn: &mut PgConnection,
        year: i32,
        due: NaiveDate,
        committee: &str,
    ) -> Result<u64, sqlx::Error> {
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
        .bind(committee)
        .execute(conn)
        .await?;
        Ok(done.rows_affected())
    }

    /// Claims evaluations whose reminder (`overdue` = false) or overdue notice is owed on
    /// `today` and not yet published, skipping rows another scheduler holds; marks them
    /// published.
    pub async fn claim_evaluation_notices(
        conn: &mut PgConnection,
        today: NaiveDate,
        overdue: bool,
        limit: i64,
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
        .bind(limit)
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

    /// The municipalities sharing the frame, if it is known here.
    pub async fn frame_municipalities(&self, id: &str) -> Result<Option<Vec<String>>, sqlx::Error> {
        sqlx::query_scalar("SELECT municipalities FROM frames WHERE id = $1")
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
