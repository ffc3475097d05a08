//! Assignments and procurements, and the one statement that books capacity (R-MP-4).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use super::Store;
use crate::domain::assignment::AssignmentState;
use crate::domain::procurement::ProcurementState;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentRow {
    pub municipality: String,
    pub id: String,
    pub request: String,
    pub person: String,
    pub unit: String,
    pub contact_person_id: String,
    pub employment: String,
    pub procurement_id: Option<String>,
    pub agreed_hourly_ore: Option<i64>,
    pub state: AssignmentState,
    pub minutes_per_week: i32,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub end_note: String,
    pub request_id: String,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProcurementRow {
    pub municipality: String,
    pub id: String,
    pub request: String,
    pub provider_id: String,
    pub contract_id: Option<String>,
    pub state: ProcurementState,
    pub reason: String,
    pub reason_note: String,
    pub minutes_per_week: i32,
    pub offered_hourly_ore: Option<i64>,
    pub offer_note: String,
    pub agreed_hourly_ore: Option<i64>,
    pub order_time: Option<DateTime<Utc>>,
    pub request_id: String,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// Filters for the assignments list.
pub struct AssignmentFilter<'a> {
    pub contact_person: Option<(&'a str, &'a str)>,
    pub state: Option<AssignmentState>,
}

const ASSIGNMENT_COLUMNS: &str = "municipality, id, request, person, unit, contact_person_id, employment, procurement_id, agreed_hourly_ore, state, minutes_per_week, start_date, end_date, end_note, request_id, revision, create_time, update_time";
const PROCUREMENT_COLUMNS: &str = "municipality, id, request, provider_id, contract_id, state, reason, reason_note, minutes_per_week, offered_hourly_ore, offer_note, agreed_hourly_ore, order_time, request_id, revision, create_time, update_time";

/// A row that belongs to one matching request, read by its id or by the request id that
/// created it: an assignment or a procurement.
pub trait OfRequest: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {
    const TABLE: &'static str;
    /// The select list a row is read with.
    const COLUMNS: &'static str;
    /// The id of the matching request it belongs to.
    fn request(&self) -> &str;
}

impl OfRequest for AssignmentRow {
    const TABLE: &'static str = "assignments";
    const COLUMNS: &'static str = ASSIGNMENT_COLUMNS;
    fn request(&self) -> &str {
        &self.request
    }
}

impl OfRequest for ProcurementRow {
    const TABLE: &'static str = "procurements";
    const COLUMNS: &'static str = PROCUREMENT_COLUMNS;
    fn request(&self) -> &str {
        &self.request
    }
}

impl Store {
    /// The assignment or procurement created with `request_id`, for answering a repeated
    /// request.
    pub async fn by_request_id<R: OfRequest>(
        &self,
        tx: &mut PgConnection,
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
        .fetch_optional(tx)
        .await
    }

    /// An assignment or a procurement by id, locked (`FOR UPDATE`) when `lock`.
    pub async fn get_by_id<R: OfRequest>(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        id: &str,
        lock: bool,
    ) -> Result<Option<R>, sqlx::Error> {
        let lock = if lock { " FOR UPDATE" } else { "" };
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM {} WHERE municipality = $1 AND id = $2{lock}",
            R::COLUMNS,
            R::TABLE
        )))
        .bind(municipality)
        .bind(id)
        .fetch_optional(conn)
        .await
    }

    // Capacity (R-MP-4) -----------------------------------------------------------------------

    /// Books `minutes` a week on a person if, and only if, they are free: the check and the
    /// booking are one statement on the person's row, so concurrent bookings queue on the row
    /// and each sees the others' result. `false` = not enough free minutes (or no such person).
    pub async fn book(
        &self,
        tx: &mut PgConnection,
        unit: &str,
        id: &str,
        minutes: i32,
    ) -> Result<bool, sqlx::Error> {
        let booked = sqlx::query(
            "UPDATE contact_persons
                SET booked_minutes = booked_minutes + $3, revision = revision + 1,
                    update_time = now()
              WHERE unit = $1 AND id = $2
                AND weekly_capacity_minutes - other_duties_minutes - booked_minutes >= $3",
        )
        .bind(unit)
        .bind(id)
        .bind(minutes)
        .execute(tx)
        .await?;
        Ok(booked.rows_affected() == 1)
    }

    /// Gives `minutes` a week back (an assignment ended or shrank).
    pub async fn release(
        &self,
        tx: &mut PgConnection,
        unit: &str,
        id: &str,
        minutes: i32,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE contact_persons
                SET booked_minutes = booked_minutes - $3, revision = revision + 1,
                    update_time = now()
              WHERE unit = $1 AND id = $2",
        )
        .bind(unit)
        .bind(id)
        .bind(minutes)
        .execute(tx)
        .await?;
        Ok(())
    }

    // Assignments -----------------------------------------------------------------------------

    pub async fn insert_assignment(
        &self,
        tx: &mut PgConnection,
        a: &AssignmentRow,
    ) -> Result<AssignmentRow, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO assignments
                    (municipality, id, request, person, unit, contact_person_id, employment,
                     procurement_id, agreed_hourly_ore, state, minutes_per_week, start_date,
                     request_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'ACTIVE', $10, $11, $12)
             RETURNING {ASSIGNMENT_COLUMNS}"
        )))
        .bind(&a.municipality)
        .bind(&a.id)
        .bind(&a.request)
        .bind(&a.person)
        .bind(&a.unit)
        .bind(&a.contact_person_id)
        .bind(&a.employment)
        .bind(&a.procurement_id)
        .bind(a.agreed_hourly_ore)
        .bind(a.minutes_per_week)
        .bind(a.start_date)
        .bind(&a.request_id)
        .fetch_one(tx)
        .await
    }

    /// The request's active assignment, locked.
    pub async fn active_assignment_of(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        request: &str,
    ) -> Result<Option<AssignmentRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments
              WHERE municipality = $1 AND request = $2 AND state = 'ACTIVE' FOR UPDATE"
        )))
        .bind(municipality)
        .bind(request)
        .fetch_optional(tx)
        .await
    }

    /// Newest first, after the cursor `(create_time, id)`.
    pub async fn list_assignments(
        &self,
        municipality: &str,
        filter: &AssignmentFilter<'_>,
        after: Option<(DateTime<Utc>, &str)>,
        limit: i64,
    ) -> Result<Vec<AssignmentRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments
              WHERE municipality = $1
                AND ($2::text IS NULL OR (unit = $2 AND contact_person_id = $3))
                AND ($4::text IS NULL OR state = $4)
                AND ($5::timestamptz IS NULL OR (create_time, id) < ($5, $6))
              ORDER BY create_time DESC, id DESC LIMIT $7"
        )))
        .bind(municipality)
        .bind(filter.contact_person.map(|p| p.0))
        .bind(filter.contact_person.map(|p| p.1))
        .bind(filter.state)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn set_assignment_minutes(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
        minutes: i32,
    ) -> Result<AssignmentRow, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE assignments
                SET minutes_per_week = $3, revision = revision + 1, update_time = now()
              WHERE municipality = $1 AND id = $2
              RETURNING {ASSIGNMENT_COLUMNS}"
        )))
        .bind(municipality)
        .bind(id)
        .bind(minutes)
        .fetch_one(tx)
        .await
    }

    pub async fn end_assignment(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
        end_date: NaiveDate,
        note: &str,
    ) -> Result<AssignmentRow, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE assignments
                SET state = 'ENDED', end_date = $3, end_note = $4, revision = revision + 1,
                    update_time = now()
              WHERE municipality = $1 AND id = $2
              RETURNING {ASSIGNMENT_COLUMNS}"
        )))
        .bind(municipality)
        .bind(id)
        .bind(end_date)
        .bind(note)
        .fetch_one(tx)
        .await
    }

    // Procurements ----------------------------------------------------------------------------

    pub async fn insert_procurement(
        &self,
        tx: &mut PgConnection,
        p: &ProcurementRow,
    ) -> Result<ProcurementRow, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO procurements
                    (municipality, id, request, provider_id, contract_id, state, reason,
                     reason_note, minutes_per_week, request_id)
             VALUES ($1, $2, $3, $4, $5, $10, $6, $7, $8, $9)
             RETURNING {PROCUREMENT_COLUMNS}"
        )))
        .bind(&p.municipality)
        .bind(&p.id)
        .bind(&p.request)
        .bind(&p.provider_id)
        .bind(&p.contract_id)
        .bind(&p.reason)
        .bind(&p.reason_note)
        .bind(p.minutes_per_week)
        .bind(&p.request_id)
        .bind(ProcurementState::Requested)
        .fetch_one(tx)
        .await
    }

    /// Moves a procurement on: state, and the offer or order fields when given.
    pub async fn update_procurement(
        &self,
        tx: &mut PgConnection,
        p: &ProcurementRow,
    ) -> Result<ProcurementRow, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE procurements
                SET state = $3, offered_hourly_ore = $4, offer_note = $5, agreed_hourly_ore = $6,
                    order_time = $7, revision = revision + 1, update_time = now()
              WHERE municipality = $1 AND id = $2
              RETURNING {PROCUREMENT_COLUMNS}"
        )))
        .bind(&p.municipality)
        .bind(&p.id)
        .bind(p.state)
        .bind(p.offered_hourly_ore)
        .bind(&p.offer_note)
        .bind(p.agreed_hourly_ore)
        .bind(p.order_time)
        .fetch_one(tx)
        .await
    }

    /// Cancels the request's procurements still in progress (the grant ended). The states in
    /// progress ([`ProcurementState::IN_PROGRESS`]) are spelt out as in the partial index
    /// `one_open_procurement_per_request`, so the planner can use it with any plan.
    pub async fn cancel_open_procurements(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        request: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE procurements
                SET state = $3, revision = revision + 1, update_time = now()
              WHERE municipality = $1 AND request = $2 AND state IN ('REQUESTED', 'OFFERED')",
        )
        .bind(municipality)
        .bind(request)
        .bind(ProcurementState::Cancelled)
        .execute(tx)
        .await?;
        Ok(())
    }
}
