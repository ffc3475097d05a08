//! Statutory deadlines besides the follow-ups: made from a grant's approval, cancelled with its
//! end, listed per municipality, counsellor or grant, marked met, and claimed by the scheduler
//! for their DeadlineDue notice.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::Store;
use crate::domain::deadline::Made;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadlineRow {
    pub municipality: String,
    pub id: String,
    pub grant_id: String,
    pub kind: String,
    pub deadline_date: NaiveDate,
    pub due_date: NaiveDate,
    pub counsellor: String,
    pub state: String,
    pub note: Option<String>,
    pub completed_by: Option<String>,
    pub complete_time: Option<DateTime<Utc>>,
    pub create_time: DateTime<Utc>,
    /// The child, from the schedule (for the access log).
    pub person: String,
}

/// A deadline with its schedule's child (alias `d`).
const DEADLINE_SELECT: &str = "SELECT d.municipality, d.id, d.grant_id, d.kind, d.deadline_date, d.due_date,
        d.counsellor, d.state, d.note, d.completed_by, d.complete_time, d.create_time, s.person
   FROM deadlines d JOIN schedules s ON s.municipality = d.municipality AND s.grant_id = d.grant_id";

/// Which deadlines a list wants.
pub struct DeadlineQuery<'a> {
    pub municipality: &'a str,
    pub counsellor: Option<&'a str>,
    pub grant: Option<&'a str>,
    pub include_closed: bool,
    /// After this (deadline date, id).
    pub after: Option<(NaiveDate, &'a str)>,
    pub limit: i64,
}

impl Store {
    /// Makes the grant's deadline of `made`'s kind unless it has one (a replayed approval).
    pub async fn insert_deadline(
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
        counsellor: &str,
        made: &Made,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO deadlines (municipality, id, grant_id, kind, deadline_date, due_date,
                                    counsellor, state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'OPEN')
             ON CONFLICT (municipality, grant_id, kind) DO NOTHING",
        )
        .bind(municipality)
        .bind(uuid::Uuid::now_v7().simple().to_string())
        .bind(grant)
        .bind(made.kind.stored())
        .bind(made.deadline)
        .bind(made.due)
        .bind(counsellor)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The grant ended: its open deadlines are cancelled.
    pub async fn cancel_deadlines(
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE deadlines SET state = 'CANCELLED'
              WHERE municipality = $1 AND grant_id = $2 AND state = 'OPEN'",
        )
        .bind(municipality)
        .bind(grant)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Deadlines by deadline date and id, open ones unless closed ones are asked for too.
    pub async fn deadlines(&self, q: &DeadlineQuery<'_>) -> Result<Vec<DeadlineRow>, sqlx::Error> {
        let (after_date, after_id) = q.after.unzip();
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{DEADLINE_SELECT}
              WHERE d.municipality = $1
                AND ($2::text IS NULL OR d.counsellor = $2)
                AND ($3::text IS NULL OR d.grant_id = $3)
                AND ($4 OR d.state = 'OPEN')
                AND ($5::date IS NULL OR (d.deadline_date, d.id) > ($5, $6))
              ORDER BY d.deadline_date, d.id
              LIMIT $7"
        )))
        .bind(q.municipality)
        .bind(q.counsellor)
        .bind(q.grant)
        .bind(q.include_closed)
        .bind(after_date)
        .bind(after_id)
        .bind(q.limit)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn lock_deadline(
        conn: &mut PgConnection,
        municipality: &str,
        id: &str,
    ) -> Result<Option<DeadlineRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{DEADLINE_SELECT} WHERE d.municipality = $1 AND d.id = $2 FOR UPDATE OF d"
        )))
        .bind(municipality)
        .bind(id)
        .fetch_optional(conn)
        .await
    }

    /// Marks the deadline met with `note`, by `by`.
    pub async fn complete_deadline(
        conn: &mut PgConnection,
        municipality: &str,
        id: &str,
        note: &str,
        by: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE deadlines SET state = 'COMPLETED', note = $3, completed_by = $4,
                    complete_time = now()
              WHERE municipality = $1 AND id = $2",
        )
        .bind(municipality)
        .bind(id)
        .bind(note)
        .bind(by)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Claims open deadlines whose due date has come and whose DeadlineDue has not gone out,
    /// marking it out in the same transaction.
    pub async fn claim_deadline_notices(
        conn: &mut PgConnection,
        today: NaiveDate,
        limit: i64,
    ) -> Result<Vec<DeadlineRow>, sqlx::Error> {
        let owed = super::Owed {
            select: DEADLINE_SELECT,
            table: "deadlines",
            alias: "d",
            owed: "d.state = 'OPEN' AND d.due_date <= $1",
            flag: "due_published",
        };
        super::claim_owed(conn, &owed, today, limit, |d: &DeadlineRow| {
            (d.municipality.clone(), d.id.clone())
        })
        .await
    }
}
