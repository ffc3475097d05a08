//! Timesheets (R-TC-4) and the checks that keep approved entries final.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::Store;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimesheetRow {
    pub unit: String,
    pub person_id: String,
    pub id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub state: String,
    pub submit_time: Option<DateTime<Utc>>,
    pub approver: String,
    pub approve_time: Option<DateTime<Utc>>,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    /// Net minutes of the person's entries in the period.
    pub total_minutes: i64,
    /// Why the coordinator last sent it back; empty once submitted again.
    pub return_reason: String,
}

const TIMESHEET_COLUMNS: &str = "t.unit, t.person_id, t.id, t.period_start, t.period_end, t.state, t.submit_time, t.approver, t.approve_time, t.revision, t.create_time, t.update_time, t.return_reason, (SELECT coalesce(sum(e.minutes), 0) FROM time_entries e WHERE e.unit = t.unit AND e.contact_person_id = t.person_id AND e.work_date BETWEEN t.period_start AND t.period_end) AS total_minutes";

impl Store {
    /// Municipalities the person has assignments in (a coordinator acting for one of them may
    /// handle the person's timesheets).
    pub async fn person_municipalities(
        &self,
        conn: &mut PgConnection,
        unit: &str,
        person: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT DISTINCT municipality FROM assignments
              WHERE unit = $1 AND contact_person_id = $2 ORDER BY municipality",
        )
        .bind(unit)
        .bind(person)
        .fetch_all(conn)
        .await
    }

    /// Serialises timesheet creation per person, so two overlapping periods cannot both pass
    /// the overlap check (released at commit).
    pub async fn lock_person_timesheets(
        &self,
        conn: &mut PgConnection,
        unit: &str,
        person: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('timesheets/' || $1 || '/' || $2, 0))",
        )
        .bind(unit)
        .bind(person)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The person's timesheet overlapping the period, if any.
    pub async fn overlapping_timesheet(
        &self,
        conn: &mut PgConnection,
        unit: &str,
        person: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT id FROM timesheets
              WHERE unit = $1 AND person_id = $2 AND period_start <= $4 AND period_end >= $3
              LIMIT 1",
        )
        .bind(unit)
        .bind(person)
        .bind(start)
        .bind(end)
        .fetch_optional(conn)
        .await
    }

    pub async fn insert_timesheet(
        &self,
        conn: &mut PgConnection,
        unit: &str,
        person: &str,
        id: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO timesheets (unit, person_id, id, period_start, period_end, state)
             VALUES ($1, $2, $3, $4, $5, 'OPEN')",
        )
        .bind(unit)
        .bind(person)
        .bind(id)
        .bind(start)
        .bind(end)
        .execute(conn)
        .await?;
        Ok(())
    }

    pub async fn get_timesheet(
        &self,
        conn: &mut PgConnection,
        unit: &str,
        person: &str,
        id: &str,
        lock: bool,
    ) -> Result<Option<TimesheetRow>, sqlx::Error> {
        let lock = if lock { " FOR UPDATE OF t" } else { "" };
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TIMESHEET_COLUMNS} FROM timesheets t
              WHERE t.unit = $1 AND t.person_id = $2 AND t.id = $3{lock}"
        )))
        .bind(unit)
        .bind(person)
        .bind(id)
        .fetch_optional(conn)
        .await
    }

    pub async fn list_timesheets(
        &self,
        conn: &mut PgConnection,
        unit: &str,
        person: &str,
    ) -> Result<Vec<TimesheetRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TIMESHEET_COLUMNS} FROM timesheets t
              WHERE t.unit = $1 AND t.person_id = $2
              ORDER BY t.period_start DESC LIMIT 100"
        )))
        .bind(unit)
        .bind(person)
        .fetch_all(conn)
        .await
    }

    /// Timesheets in `state` (all when `None`) of every person with an assignment in one of
    /// `municipalities`, oldest submission first, at most 200.
    pub async fn list_timesheets_for(
        &self,
        conn: &mut PgConnection,
        municipalities: &[String],
        state: Option<&str>,
    ) -> Result<Vec<TimesheetRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TIMESHEET_COLUMNS} FROM timesheets t
              WHERE ($2::text IS NULL OR t.state = $2)
                AND EXISTS (SELECT 1 FROM assignments a
                             WHERE a.unit = t.unit AND a.contact_person_id = t.person_id
                               AND a.municipality = ANY($1))
              ORDER BY t.submit_time NULLS LAST, t.unit, t.person_id, t.period_start LIMIT 200"
        )))
        .bind(municipalities)
        .bind(state)
        .fetch_all(conn)
        .await
    }

    /// Moves a timesheet to `state`, stamping submit or approval.
    pub async fn step_timesheet(
        &self,
        conn: &mut PgConnection,
        row: &TimesheetRow,
        state: &str,
        approver: &str,
        return_reason: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE timesheets
                SET state = $4,
                    return_reason = $6,
                    submit_time = CASE WHEN $4 = 'SUBMITTED' THEN now()
                                       WHEN $4 = 'OPEN' THEN NULL ELSE submit_time END,
                    approver = CASE WHEN $4 = 'APPROVED' THEN $5 ELSE '' END,
                    approve_time = CASE WHEN $4 = 'APPROVED' THEN now() END,
                    revision = revision + 1, update_time = now()
              WHERE unit = $1 AND person_id = $2 AND id = $3",
        )
        .bind(&row.unit)
        .bind(&row.person_id)
        .bind(&row.id)
        .bind(state)
        .bind(approver)
        .bind(return_reason)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The state of the timesheet covering the person's `day`, holding it against approval
    /// until the caller commits (R-TC-4).
    pub async fn timesheet_state_on(
        &self,
        conn: &mut PgConnection,
        unit: &str,
        person: &str,
        day: NaiveDate,
    ) -> Result<Option<(String, String)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, state FROM timesheets
              WHERE unit = $1 AND person_id = $2 AND period_start <= $3 AND period_end >= $3
              FOR SHARE",
        )
        .bind(unit)
        .bind(person)
        .bind(day)
        .fetch_optional(conn)
        .await
    }
}
