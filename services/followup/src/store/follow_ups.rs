//! A grant's follow-ups: the open one and those held or cancelled, the due lists, and the
//! scheduler's claims on the notices owed (R-FU-4).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::Store;

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

/// A follow-up with its schedule's child and its municipality's lead time (alias `f`).
const FOLLOW_UP_SELECT: &str = "SELECT f.municipality, f.id, f.grant_id, f.due_date, f.state, f.counsellor,
        f.completed_date, f.completed_by, f.record, f.revision, f.create_time, f.update_time, s.person,
        due_lead_days(f.municipality) AS lead_days
   FROM follow_ups f JOIN schedules s ON s.municipality = f.municipality AND s.grant_id = f.grant_id";

impl Store {
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

    /// A follow-up held in the municipality's old system before the grant was imported
    /// (`source`: `{system}/{id}`): completed on its day, its record saying where it was held.
    pub async fn insert_held_follow_up(
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
        held: NaiveDate,
        counsellor: &str,
        source: &str,
    ) -> Result<(), sqlx::Error> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let record = kontakt_proto::followup::v1::FollowUp {
            outcome: kontakt_proto::followup::v1::FollowUpOutcome::Continue as i32,
            completed_date: Some(held.into()),
            summary: format!("Holdt i det tidligere system ({source})."),
            ..Default::default()
        };
        sqlx::query(
            "INSERT INTO follow_ups (municipality, id, grant_id, due_date, state, counsellor,
                                     outcome, completed_date, completed_by, record,
                                     due_published, overdue_published)
             VALUES ($1, $2, $3, $4, 'COMPLETED', $5, 'CONTINUE', $4, $6, $7, true, true)",
        )
        .bind(municipality)
        .bind(&id)
        .bind(grant)
        .bind(held)
        .bind(counsellor)
        .bind(format!("import:{source}"))
        .bind(prost::Message::encode_to_vec(&record))
        .execute(conn)
        .await?;
        Ok(())
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
            (
                "overdue_published",
                "f.state = 'SCHEDULED' AND f.due_date < $1",
            )
        } else {
            (
                "due_published",
                "f.state = 'SCHEDULED' AND f.due_date - due_lead_days(f.municipality) <= $1",
            )
        };
        let owed = super::Owed {
            select: FOLLOW_UP_SELECT,
            table: "follow_ups",
            alias: "f",
            owed,
            flag,
        };
        super::claim_owed(conn, &owed, today, limit, |f: &FollowUpRow| {
            (f.municipality.clone(), f.id.clone())
        })
        .await
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
}

/// What a held follow-up records.
pub struct Completion<'a> {
    pub outcome: &'a str,
    pub completed_date: NaiveDate,
    pub completed_by: &'a str,
    pub record: &'a [u8],
}
