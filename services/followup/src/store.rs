//! SQL for the `followup` schema: schedules, follow-ups and the scheduler's claims.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleRow {
    pub municipality: String,
    pub grant_id: String,
    pub person: String,
    pub counsellor: String,
    pub start_date: NaiveDate,
    pub expected_end_date: Option<NaiveDate>,
    pub interval_months: i32,
    pub statutory_months: i32,
    pub state: String,
    pub end_date: Option<NaiveDate>,
    pub coordinator_required: bool,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FollowUpRow {
    pub municipality: String,
    pub id: String,
    pub grant_id: String,
    pub due_date: NaiveDate,
    pub state: String,
    pub counsellor: String,
    pub completed_date: Option<NaiveDate>,
    pub completed_by: Option<String>,
    /// The encoded record of a completed follow-up (its input fields).
    pub record: Option<Vec<u8>>,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    /// The child, from the schedule (for the access log).
    pub person: String,
    /// The municipality's reminder lead time in days.
    pub lead_days: i32,
}

const SCHEDULE_COLUMNS: &str = "municipality, grant_id, person, counsellor, start_date, expected_end_date, interval_months, statutory_months, state, end_date, coordinator_required, revision, create_time, update_time";

/// A follow-up with its schedule's child and its municipality's lead time (alias `f`).
const FOLLOW_UP_SELECT: &str = "SELECT f.municipality, f.id, f.grant_id, f.due_date, f.state, f.counsellor,
        f.completed_date, f.completed_by, f.record, f.revision, f.create_time, f.update_time, s.person,
        due_lead_days(f.municipality) AS lead_days
   FROM follow_ups f JOIN schedules s ON s.municipality = f.municipality AND s.grant_id = f.grant_id";

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

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
        s: &ScheduleRow,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO schedules
                    (municipality, grant_id, person, counsellor, start_date, expected_end_date,
                     interval_months, statutory_months, state, coordinator_required)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ACTIVE', $9) ON CONFLICT DO NOTHING",
        )
        .bind(&s.municipality)
        .bind(&s.grant_id)
        .bind(&s.person)
        .bind(&s.counsellor)
        .bind(s.start_date)
        .bind(s.expected_end_date)
        .bind(s.interval_months)
        .bind(s.statutory_months)
        .bind(s.coordinator_required)
        .execute(conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A grant's next follow-up; returns its id.
    pub async fn insert_follow_up(
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
        due: NaiveDate,
        counsellor: &str,
    ) -> Result<String, sqlx::Error> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        sqlx::query(
            "INSERT INTO follow_ups (municipality, id, grant_id, due_date, state, counsellor)
             VALUES ($1, $2, $3, $4, 'SCHEDULED', $5)",
        )
        .bind(municipality)
        .bind(&id)
        .bind(grant)
        .bind(due)
        .bind(counsellor)
        .execute(conn)
        .await?;
        Ok(id)
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

    /// The grant's open follow-up's due date.
    pub async fn open_due(
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
    ) -> Result<Option<NaiveDate>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT due_date FROM follow_ups
              WHERE municipality = $1 AND grant_id = $2 AND state = 'SCHEDULED'",
        )
        .bind(municipality)
        .bind(grant)
        .fetch_optional(conn)
        .await
    }

    /// Moves the open follow-up to `due`; a new date gets its own reminders.
    pub async fn move_open(
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
        due: NaiveDate,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE follow_ups
                SET due_date = $3, due_published = false, overdue_published = false,
                    revision = revision + 1, update_time = now()
              WHERE municipality = $1 AND grant_id = $2 AND state = 'SCHEDULED'
                AND due_date <> $3",
        )
        .bind(municipality)
        .bind(grant)
        .bind(due)
        .execute(conn)
        .await?;
        Ok(())
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

    pub async fn follow_ups_of(
        &self,
        municipality: &str,
        grant: &str,
    ) -> Result<Vec<FollowUpRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{FOLLOW_UP_SELECT} WHERE f.municipality = $1 AND f.grant_id = $2
              ORDER BY f.due_date, f.id"
        )))
        .bind(municipality)
        .bind(grant)
        .fetch_all(&self.pool)
        .await
    }

    /// The municipality's reminder lead time in days.
    pub async fn lead_days(&self, municipality: &str) -> Result<i32, sqlx::Error> {
        sqlx::query_scalar("SELECT due_lead_days($1)")
            .bind(municipality)
            .fetch_one(&self.pool)
            .await
    }

    /// Open follow-ups due on or before `last`, earliest first, after the cursor.
    pub async fn due(
        &self,
        municipality: &str,
        counsellor: Option<&str>,
        last: NaiveDate,
        after: Option<(NaiveDate, &str)>,
        limit: i64,
    ) -> Result<Vec<FollowUpRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{FOLLOW_UP_SELECT}
              WHERE f.municipality = $1 AND f.state = 'SCHEDULED' AND f.due_date <= $2
                AND ($3::text IS NULL OR f.counsellor = $3)
                AND ($4::date IS NULL OR (f.due_date, f.id) > ($4, $5))
              ORDER BY f.due_date, f.id LIMIT $6"
        )))
        .bind(municipality)
        .bind(last)
        .bind(counsellor)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Claims open follow-ups whose reminder (`overdue` = false) or overdue notice (`true`) is
    /// owed on `today` and not yet published, locking them and skipping rows another
    /// scheduler holds; marks them published in the caller's transaction.
    pub async fn claim_notices(
        conn: &mut PgConnection,
        today: NaiveDate,
        overdue: bool,
        limit: i64,
    ) -> Result<Vec<FollowUpRow>, sqlx::Error> {
        let (flag, owed) = if overdue {
            ("overdue_published", "f.due_date < $1")
        } else {
            (
                "due_published",
                "f.due_date - due_lead_days(f.municipality) <= $1",
            )
        };
        let claimed: Vec<FollowUpRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{FOLLOW_UP_SELECT}
              WHERE f.state = 'SCHEDULED' AND NOT f.{flag} AND {owed}
              ORDER BY f.due_date, f.id LIMIT $2
                FOR UPDATE OF f SKIP LOCKED"
        )))
        .bind(today)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        let keys: (Vec<String>, Vec<String>) = claimed
            .iter()
            .map(|f| (f.municipality.clone(), f.id.clone()))
            .unzip();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE follow_ups SET {flag} = true
              WHERE (municipality, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
        )))
        .bind(keys.0)
        .bind(keys.1)
        .execute(conn)
        .await?;
        Ok(claimed)
    }

    pub async fn follow_up(
        &self,
        municipality: &str,
        id: &str,
    ) -> Result<Option<FollowUpRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{FOLLOW_UP_SELECT} WHERE f.municipality = $1 AND f.id = $2"
        )))
        .bind(municipality)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// The follow-up, locked for recording it.
    pub async fn lock_follow_up(
        conn: &mut PgConnection,
        municipality: &str,
        id: &str,
    ) -> Result<Option<FollowUpRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{FOLLOW_UP_SELECT} WHERE f.municipality = $1 AND f.id = $2 FOR UPDATE OF f"
        )))
        .bind(municipality)
        .bind(id)
        .fetch_optional(conn)
        .await
    }

    pub async fn complete_follow_up(
        conn: &mut PgConnection,
        municipality: &str,
        id: &str,
        done: &Completion<'_>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE follow_ups
                SET state = 'COMPLETED', outcome = $3, completed_date = $4, completed_by = $5,
                    record = $6, revision = revision + 1, update_time = now()
              WHERE municipality = $1 AND id = $2",
        )
        .bind(municipality)
        .bind(id)
        .bind(done.outcome)
        .bind(done.completed_date)
        .bind(done.completed_by)
        .bind(done.record)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// A municipality's reminder lead time: (days, whether it is the default, revision).
    pub async fn settings(&self, municipality: &str) -> Result<(i32, bool, i64), sqlx::Error> {
        let own: Option<(i32, i64)> = sqlx::query_as(
            "SELECT due_lead_days, revision FROM follow_up_settings WHERE municipality = $1",
        )
        .bind(municipality)
        .fetch_optional(&self.pool)
        .await?;
        match own {
            Some((days, revision)) => Ok((days, false, revision)),
            None => Ok((self.lead_days(municipality).await?, true, 0)),
        }
    }

    /// Sets a municipality's lead time if its revision is still `revision` (0 = none yet);
    /// `false` when another change came first. Reminders not yet sent follow the new time.
    pub async fn set_lead_days(
        &self,
        municipality: &str,
        days: i32,
        revision: Option<i64>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO follow_up_settings (municipality, due_lead_days) VALUES ($1, $2)
             ON CONFLICT (municipality) DO UPDATE
                SET due_lead_days = $2, revision = follow_up_settings.revision + 1
              WHERE $3::bigint IS NULL OR follow_up_settings.revision = $3",
        )
        .bind(municipality)
        .bind(days)
        .bind(revision)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// What a held follow-up records.
pub struct Completion<'a> {
    pub outcome: &'a str,
    pub completed_date: NaiveDate,
    pub completed_by: &'a str,
    pub record: &'a [u8],
}
