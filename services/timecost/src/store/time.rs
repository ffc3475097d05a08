//! Time entries, the week totals kept with them (R-TC-2), and what pricing reads (R-TC-3).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::Store;

/// An assignment as time registration needs it, with its grant's child.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentRow {
    pub grant_id: String,
    pub unit: String,
    pub contact_person_id: String,
    pub employment: String,
    pub agreed_hourly_ore: Option<i64>,
    pub minutes_per_week: i32,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    /// The child (pseudonymous), for the access log; empty until the grant event has arrived.
    pub person: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntryRow {
    pub municipality: String,
    pub id: String,
    pub assignment_id: String,
    pub work_date: NaiveDate,
    pub minutes: i32,
    pub activity_kind: String,
    pub counts: bool,
    pub note: String,
    pub reverses: Option<String>,
    pub unit: String,
    pub contact_person_id: String,
    pub cost_units: i64,
    pub overrun: bool,
    pub request_id: String,
    pub registered_by: String,
    pub create_time: DateTime<Utc>,
    /// The timesheet whose period holds the entry, if one is open for it.
    pub timesheet_id: Option<String>,
}

/// A week's totals after an entry was added.
#[derive(Debug, sqlx::FromRow)]
pub struct WeekRow {
    pub counted_minutes: i32,
    pub granted_minutes: i32,
    pub flagged: bool,
}

/// A week above the granted minutes.
#[derive(Debug, sqlx::FromRow)]
pub struct OverrunRow {
    pub assignment_id: String,
    pub grant_id: String,
    pub unit: String,
    pub contact_person_id: String,
    pub week_start: NaiveDate,
    pub counted_minutes: i32,
    pub granted_minutes: i32,
    pub person: String,
}

pub(super) const ENTRY_COLUMNS: &str = "municipality, id, assignment_id, work_date, minutes, activity_kind, counts, note, reverses, unit, contact_person_id, cost_units, overrun, request_id, registered_by, create_time, (SELECT t.id FROM timesheets t WHERE t.unit = time_entries.unit AND t.person_id = time_entries.contact_person_id AND time_entries.work_date BETWEEN t.period_start AND t.period_end) AS timesheet_id";

impl Store {
    pub async fn assignment(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        id: &str,
    ) -> Result<Option<AssignmentRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT a.grant_id, a.unit, a.contact_person_id, a.employment,
                    a.agreed_hourly_ore, a.minutes_per_week, a.start_date, a.end_date,
                    coalesce(g.person, '') AS person
               FROM assignments a
               LEFT JOIN grants g ON g.municipality = a.municipality AND g.id = a.grant_id
              WHERE a.municipality = $1 AND a.id = $2",
        )
        .bind(municipality)
        .bind(id)
        .fetch_optional(conn)
        .await
    }

    /// The person's hourly rate valid on `day` (R-TC-3).
    pub async fn rate_on(
        &self,
        conn: &mut PgConnection,
        unit: &str,
        person: &str,
        day: NaiveDate,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT hourly_ore FROM person_rates
              WHERE unit = $1 AND person_id = $2 AND valid_from <= $3
                AND (valid_to IS NULL OR valid_to >= $3)
              ORDER BY valid_from DESC LIMIT 1",
        )
        .bind(unit)
        .bind(person)
        .bind(day)
        .fetch_optional(conn)
        .await
    }

    /// The grant's minutes per week in force on `day` (R-TC-2).
    pub async fn granted_on(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
        day: NaiveDate,
    ) -> Result<Option<i32>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT minutes_per_week FROM grant_terms
              WHERE municipality = $1 AND grant_id = $2 AND effective_from <= $3
              ORDER BY effective_from DESC LIMIT 1",
        )
        .bind(municipality)
        .bind(grant)
        .bind(day)
        .fetch_optional(conn)
        .await
    }

    pub async fn insert_entry(
        &self,
        conn: &mut PgConnection,
        e: &EntryRow,
    ) -> Result<EntryRow, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO time_entries
                    (municipality, id, assignment_id, work_date, minutes, activity_kind, counts,
                     note, reverses, unit, contact_person_id, cost_units, overrun, request_id,
                     registered_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             RETURNING {ENTRY_COLUMNS}"
        )))
        .bind(&e.municipality)
        .bind(&e.id)
        .bind(&e.assignment_id)
        .bind(e.work_date)
        .bind(e.minutes)
        .bind(&e.activity_kind)
        .bind(e.counts)
        .bind(&e.note)
        .bind(&e.reverses)
        .bind(&e.unit)
        .bind(&e.contact_person_id)
        .bind(e.cost_units)
        .bind(e.overrun)
        .bind(&e.request_id)
        .bind(&e.registered_by)
        .fetch_one(conn)
        .await
    }

    /// Adds `minutes` to the week's counted minutes (the row lock serialises entries of the
    /// same week) and returns the totals after it.
    pub async fn add_to_week(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        assignment: &str,
        week_start: NaiveDate,
        minutes: i32,
        granted: i32,
    ) -> Result<WeekRow, sqlx::Error> {
        sqlx::query_as(
            "INSERT INTO week_totals
                    (municipality, assignment_id, week_start, counted_minutes, granted_minutes)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (municipality, assignment_id, week_start) DO UPDATE
                SET counted_minutes = week_totals.counted_minutes + EXCLUDED.counted_minutes,
                    granted_minutes = EXCLUDED.granted_minutes
             RETURNING counted_minutes, granted_minutes, flagged",
        )
        .bind(municipality)
        .bind(assignment)
        .bind(week_start)
        .bind(minutes)
        .bind(granted)
        .fetch_one(conn)
        .await
    }

    pub async fn mark_week_flagged(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        assignment: &str,
        week_start: NaiveDate,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE week_totals SET flagged = true
              WHERE municipality = $1 AND assignment_id = $2 AND week_start = $3",
        )
        .bind(municipality)
        .bind(assignment)
        .bind(week_start)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Weeks above the granted minutes, newest first (at most 500).
    pub async fn overruns(&self, municipality: &str) -> Result<Vec<OverrunRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT w.assignment_id, a.grant_id, a.unit, a.contact_person_id, w.week_start,
                    w.counted_minutes, w.granted_minutes, coalesce(g.person, '') AS person
               FROM week_totals w
               JOIN assignments a ON a.municipality = w.municipality AND a.id = w.assignment_id
               LEFT JOIN grants g ON g.municipality = a.municipality AND g.id = a.grant_id
              WHERE w.municipality = $1 AND w.counted_minutes > w.granted_minutes
              ORDER BY w.week_start DESC, w.assignment_id LIMIT 500",
        )
        .bind(municipality)
        .fetch_all(&self.pool)
        .await
    }
}
