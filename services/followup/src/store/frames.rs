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
        fr.municipalities, fr.lead_days
   FROM frame_evaluations e JOIN frames fr ON fr.id = e.frame_id";

#[derive(sqlx::FromRow)]
struct RuleRow {
    due_month: i32,
    due_day: i32,
    lead_days: i32,
    committee: String,
    settings_revision: i64,
}

/// A frame to schedule, with its settings.
#[derive(sqlx::FromRow)]
struct ScheduleRow {
    id: String,
    #[sqlx(flatten)]
    rule: RuleRow,
}

impl RuleRow {
    fn rule(self) -> EvaluationRule {
        EvaluationRule {
            due_month: self.due_month,
            due_day: self.due_day,
            lead_days: self.lead_days,
            committee: self.committee,
        }
    }
}

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
    /// Records the frame with the installation's default evaluation settings; a replayed
    /// event changes nothing.
    pub async fn insert_frame(
        conn: &mut PgConnection,
        frame: &NewFrame<'_>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO frames (id, display_name, municipalities, period_start, period_end,
                                 first_year, due_month, due_day, lead_days, committee)
             SELECT $1, $2, $3, $4, $5, $6, s.due_month, s.due_day, s.lead_days, s.committee
               FROM frame_evaluation_settings s
             ON CONFLICT (id) DO NOTHING",
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

    /// The settings a frame learnt of now gets.
    pub async fn default_evaluation_rule(
        conn: &mut PgConnection,
    ) -> Result<EvaluationRule, sqlx::Error> {
        let row: RuleRow = sqlx::query_as(
            "SELECT due_month, due_day, lead_days, committee, 0::bigint AS settings_revision
               FROM frame_evaluation_settings",
        )
        .fetch_one(conn)
        .await?;
        Ok(row.rule())
    }

    /// A frame's own evaluation settings and their revision, locked for a change when `lock`.
    pub async fn frame_evaluation_rule(
        conn: &mut PgConnection,
        id: &str,
        lock: bool,
    ) -> Result<Option<(EvaluationRule, i64)>, sqlx::Error> {
        let row: Option<RuleRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT due_month, due_day, lead_days, committee, settings_revision FROM frames
              WHERE id = $1 {}",
            if lock { "FOR UPDATE" } else { "" }
        )))
        .bind(id)
        .fetch_optional(conn)
        .await?;
        Ok(row.map(|r| {
            let revision = r.settings_revision;
            (r.rule(), revision)
        }))
    }

    /// Sets a frame's evaluation settings (revision + 1).
    pub async fn set_frame_evaluation_rule(
        conn: &mut PgConnection,
        id: &str,
        rule: &EvaluationRule,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE frames SET due_month = $2, due_day = $3, lead_days = $4, committee = $5,
                               settings_revision = settings_revision + 1
              WHERE id = $1",
        )
        .bind(id)
        .bind(rule.due_month)
        .bind(rule.due_day)
        .bind(rule.lead_days)
        .bind(&rule.committee)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The years of a frame's open (not completed) evaluations from `from_year` on.
    pub async fn open_evaluation_years(
        conn: &mut PgConnection,
        id: &str,
        from_year: i32,
    ) -> Result<Vec<i32>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT year FROM frame_evaluations
              WHERE frame_id = $1 AND year >= $2 AND state = 'SCHEDULED' ORDER BY year",
        )
        .bind(id)
        .bind(from_year)
        .fetch_all(conn)
        .await
    }

    /// Moves an open evaluation to a new due day and committee.
    pub async fn move_evaluation(
        conn: &mut PgConnection,
        id: &str,
        year: i32,
        due: NaiveDate,
        committee: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE frame_evaluations
                SET due_date = $3, committee = $4, revision = revision + 1, update_time = now()
              WHERE frame_id = $1 AND year = $2 AND state = 'SCHEDULED'",
        )
        .bind(id)
        .bind(year)
        .bind(due)
        .bind(committee)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The frames that cover part of `year`, are evaluated from it on and have no task for it
    /// yet, with their settings.
    pub async fn frames_to_schedule(
        conn: &mut PgConnection,
        year: i32,
    ) -> Result<Vec<(String, EvaluationRule)>, sqlx::Error> {
        let rows: Vec<ScheduleRow> = sqlx::query_as(
            "SELECT id, due_month, due_day, lead_days, committee, settings_revision FROM frames fr
              WHERE first_year <= $1
                AND extract(year FROM period_start) <= $1
                AND (period_end IS NULL OR extract(year FROM period_end) >= $1)
                AND NOT EXISTS (SELECT 1 FROM frame_evaluations e
                                 WHERE e.frame_id = fr.id AND e.year = $1)",
        )
        .bind(year)
        .fetch_all(conn)
        .await?;
        Ok(rows.into_iter().map(|r| (r.id, r.rule.rule())).collect())
    }

    /// `year`'s evaluation task of a frame, due on `due`; running it again changes nothing.
    pub async fn insert_evaluation(
        conn: &mut PgConnection,
        id: &str,
        year: i32,
        due: NaiveDate,
        committee: &str,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO frame_evaluations (frame_id, year, due_date, state, committee)
             VALUES ($1, $2, $3, 'SCHEDULED', $4) ON CONFLICT DO NOTHING",
        )
        .bind(id)
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
            ("due_published", "e.due_date - fr.lead_days <= $1")
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
