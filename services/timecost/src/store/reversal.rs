//! What time entries and expenses read alike: a page of an assignment's rows, and for
//! reversing the row stored under a request id, the original locked, and whether it was
//! reversed before.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use super::{EntryRow, ExpenseRow, Store};
use crate::domain::reversal::{self, Kind};

/// A row of a table corrected by reversals (`reverses` names the row a reversal takes back).
pub trait Ledger: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {
    const TABLE: &'static str;
    /// The select list a row is read with.
    const COLUMNS: &'static str;
    /// The row in the words of its refusals.
    const KIND: &'static Kind;
    /// The assignment it is registered on.
    fn assignment_id(&self) -> &str;
    /// The row this one reverses, if it is a reversal.
    fn reverses(&self) -> Option<&str>;
    /// The day it is registered for, whose timesheet must be open.
    fn day(&self) -> NaiveDate;
    /// Its place in [`Store::list_on_assignment`]'s order: `(create_time, id)`.
    fn cursor(&self) -> (DateTime<Utc>, &str);
}

impl Ledger for EntryRow {
    const TABLE: &'static str = "time_entries";
    const COLUMNS: &'static str = super::time::ENTRY_COLUMNS;
    const KIND: &'static Kind = &reversal::TIME_ENTRY;
    fn assignment_id(&self) -> &str {
        &self.assignment_id
    }
    fn reverses(&self) -> Option<&str> {
        self.reverses.as_deref()
    }
    fn day(&self) -> NaiveDate {
        self.work_date
    }
    fn cursor(&self) -> (DateTime<Utc>, &str) {
        (self.create_time, &self.id)
    }
}

impl Ledger for ExpenseRow {
    const TABLE: &'static str = "expenses";
    const COLUMNS: &'static str = super::expenses::EXPENSE_COLUMNS;
    const KIND: &'static Kind = &reversal::EXPENSE;
    fn assignment_id(&self) -> &str {
        &self.assignment_id
    }
    fn reverses(&self) -> Option<&str> {
        self.reverses.as_deref()
    }
    fn day(&self) -> NaiveDate {
        self.expense_date
    }
    fn cursor(&self) -> (DateTime<Utc>, &str) {
        (self.create_time, &self.id)
    }
}

impl Store {
    /// An assignment's rows in registration order, after the cursor `(create_time, id)`.
    pub async fn list_on_assignment<R: Ledger>(
        &self,
        municipality: &str,
        assignment: &str,
        after: Option<(DateTime<Utc>, &str)>,
        limit: i64,
    ) -> Result<Vec<R>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM {}
              WHERE municipality = $1 AND assignment_id = $2
                AND ($3::timestamptz IS NULL OR (create_time, id) > ($3, $4))
              ORDER BY create_time, id LIMIT $5",
            R::COLUMNS,
            R::TABLE
        )))
        .bind(municipality)
        .bind(assignment)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// The row registered with `request_id`, for answering a repeated request.
    pub async fn by_request_id<R: Ledger>(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        request_id: &str,
    ) -> Result<Option<R>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM {} WHERE municipality = $1 AND request_id = $2",
            R::COLUMNS,
            R::TABLE
        )))
        .bind(municipality)
        .bind(request_id)
        .fetch_optional(conn)
        .await
    }

    /// The row, locked, so two reversals of it queue.
    pub async fn lock_for_reversal<R: Ledger>(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        assignment: &str,
        id: &str,
    ) -> Result<Option<R>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM {}
              WHERE municipality = $1 AND assignment_id = $2 AND id = $3 FOR UPDATE",
            R::COLUMNS,
            R::TABLE
        )))
        .bind(municipality)
        .bind(assignment)
        .bind(id)
        .fetch_optional(conn)
        .await
    }

    /// Whether a reversal of the row `id` is stored.
    pub async fn is_reversed<R: Ledger>(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE municipality = $1 AND reverses = $2)",
            R::TABLE
        )))
        .bind(municipality)
        .bind(id)
        .fetch_one(conn)
        .await
    }
}
