//! A schedule per approved grant: the rules in force at approval (BL §95's months, the
//! policy's interval) and its life, active until the grant ends.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::Store;
use crate::domain::due::{Deadline, Rules};

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
    /// The statutory first-follow-up deadlines the law has had, oldest first (BL §95 now,
    /// Serviceloven §70 stk.2 before 2024).
    pub async fn first_follow_up_deadlines(
        conn: &mut PgConnection,
    ) -> Result<Vec<Deadline>, sqlx::Error> {
        let rows: Vec<(i32, NaiveDate, Option<NaiveDate>)> = sqlx::query_as(
            "SELECT months, valid_from, valid_until FROM statutory_deadlines
              WHERE kind = 'FIRST_FOLLOW_UP' ORDER BY valid_from",
        )
        .fetch_all(conn)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(months, valid_from, valid_until)| {
                Some(Deadline {
                    months: u32::try_from(months).ok()?,
                    valid_from,
                    valid_until,
                })
            })
            .collect())
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
