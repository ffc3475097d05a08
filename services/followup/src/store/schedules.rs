//! A schedule per approved grant: the rules in force at approval (BL §95's months, the
//! policy's interval) and its life, active until the grant ends.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::Store;
use crate::domain::due::Rules;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleRow {
    pub municipality: String,
    pub grant_id: String,
    pub person: String,
    pub counsellor: String,
    pub start_date: NaiveDate,
    pub interval_months: i32,
    pub statutory_months: i32,
    pub state: String,
    pub coordinator_required: bool,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl ScheduleRow {
    /// The rules the schedule was made under.
    pub fn rules(&self) -> Rules {
        Rules::from_stored(self.statutory_months, self.interval_months)
    }
}

/// A schedule made from the referral service's GrantApproved; it starts active.
pub struct NewSchedule<'a> {
    pub municipality: &'a str,
    pub grant_id: &'a str,
    pub person: &'a str,
    pub counsellor: &'a str,
    pub start_date: NaiveDate,
    pub expected_end_date: Option<NaiveDate>,
    pub interval_months: i32,
    pub statutory_months: i32,
    pub coordinator_required: bool,
}

impl NewSchedule<'_> {
    /// The rules the schedule is made under.
    pub fn rules(&self) -> Rules {
        Rules::from_stored(self.statutory_months, self.interval_months)
    }
}

const SCHEDULE_COLUMNS: &str = "municipality, grant_id, person, counsellor, start_date, interval_months, statutory_months, state, coordinator_required, revision, create_time, update_time";

impl Store {
    /// Months after a measure's start by which BL §95 wants the first follow-up, as in force
    /// on `day`.
    pub async fn statutory_months(
        conn: &mut PgConnection,
        day: NaiveDate,
    ) -> Result<Option<i32>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT months FROM statutory_deadlines
              WHERE code = 'bl-95-first-follow-up' AND valid_from <= $1
                AND (valid_until IS NULL OR valid_until >= $1)
              ORDER BY valid_from DESC LIMIT 1",
        )
        .bind(day)
        .fetch_optional(conn)
        .await
    }

    /// Inserts the schedule; `false` when it was already there (a replayed event).
    pub async fn insert_schedule(
        conn: &mut PgConnection,
        s: &NewSchedule<'_>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO schedules
                    (municipality, grant_id, person, counsellor, start_date, expected_end_date,
                     interval_months, statutory_months, state, coordinator_required)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ACTIVE', $9) ON CONFLICT DO NOTHING",
        )
        .bind(s.municipality)
        .bind(s.grant_id)
        .bind(s.person)
        .bind(s.counsellor)
        .bind(s.start_date)
        .bind(s.expected_end_date)
        .bind(s.interval_months)
        .bind(s.statutory_months)
        .bind(s.coordinator_required)
        .execute(conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The schedule, locked for the event that changes it.
    pub async fn lock_schedule(
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
    ) -> Result<Option<ScheduleRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules
              WHERE municipality = $1 AND grant_id = $2 FOR UPDATE"
        )))
        .bind(municipality)
        .bind(grant)
        .fetch_optional(conn)
        .await
    }

    pub async fn set_expected_end(
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
        expected_end: Option<NaiveDate>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE schedules SET expected_end_date = $3, revision = revision + 1, update_time = now()
              WHERE municipality = $1 AND grant_id = $2",
        )
        .bind(municipality)
        .bind(grant)
        .bind(expected_end)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Ends the schedule and cancels its open follow-ups.
    pub async fn end_schedule(
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
        end: NaiveDate,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE schedules SET state = 'ENDED', end_date = $3, revision = revision + 1,
                    update_time = now()
              WHERE municipality = $1 AND grant_id = $2",
        )
        .bind(municipality)
        .bind(grant)
        .bind(end)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE follow_ups SET state = 'CANCELLED', revision = revision + 1, update_time = now()
              WHERE municipality = $1 AND grant_id = $2 AND state = 'SCHEDULED'",
        )
        .bind(municipality)
        .bind(grant)
        .execute(conn)
        .await?;
        Ok(())
    }

    pub async fn schedule(
        &self,
        municipality: &str,
        grant: &str,
    ) -> Result<Option<ScheduleRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE municipality = $1 AND grant_id = $2"
        )))
        .bind(municipality)
        .bind(grant)
        .fetch_optional(&self.pool)
        .await
    }
}
