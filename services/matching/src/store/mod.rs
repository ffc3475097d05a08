//! SQL for the `matching` schema, one section per aggregate.

mod assignments;
mod people;

use chrono::{DateTime, NaiveDate, Utc};
use kontakt_platform::db::CallTx;
use sqlx::{PgConnection, PgPool, Postgres};

use crate::domain::request::RequestState;

pub use assignments::{AssignmentFilter, AssignmentRow, OfRequest, ProcurementRow};
pub use people::{CandidateRow, ContractRow, PersonRow, PersonValues, Pool, ProviderRow, RateRow};

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

#[derive(Debug, sqlx::FromRow)]
pub struct CompetenceRow {
    pub code: String,
    pub category: String,
    pub display_name: String,
    pub description: String,
}

#[derive(Debug, sqlx::FromRow)]
pub struct RequestRow {
    pub municipality: String,
    pub id: String,
    pub person: String,
    pub recipient: i32,
    pub state: RequestState,
    pub competences: Vec<String>,
    pub preferred_gender: i32,
    pub age_years: i32,
    pub description: String,
    pub minutes_per_week: i32,
    pub minutes_from: NaiveDate,
    pub start_date: NaiveDate,
    pub expected_end_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub grant_version: String,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub assignment_id: Option<String>,
    pub procurement_id: Option<String>,
    pub proposed_unit: Option<String>,
    pub proposed_person: Option<String>,
    pub unmet_since: Option<DateTime<Utc>>,
    /// Minutes per week the active assignment books, if there is one.
    pub assigned_minutes: Option<i32>,
    /// R-MP-6 for this grant (from GrantApproved).
    pub certificate_required: bool,
    pub certificate_renewal_months: i32,
}

impl RequestRow {
    /// What R-MP-6 asks of the contact person's certificate for this grant.
    pub fn certificate_rule(&self) -> crate::domain::ranking::CertificateRule {
        crate::domain::ranking::CertificateRule {
            required: self.certificate_required,
            renewal_months: u32::try_from(self.certificate_renewal_months)
                .ok()
                .filter(|m| *m > 0),
        }
    }
}

/// Where a request moves to, and what it points at there.
pub struct RequestStep<'a> {
    pub state: RequestState,
    pub assignment_id: Option<&'a str>,
    pub procurement_id: Option<&'a str>,
    pub proposed: Option<(&'a str, &'a str)>,
}

impl RequestStep<'_> {
    /// To `state`, pointing at nothing.
    pub fn to(state: RequestState) -> Self {
        RequestStep {
            state,
            assignment_id: None,
            procurement_id: None,
            proposed: None,
        }
    }
}

/// A request as GrantApproved opens it.
pub struct NewRequest<'a> {
    pub municipality: &'a str,
    pub id: &'a str,
    pub person: &'a str,
    pub recipient: i32,
    pub competences: &'a [String],
    pub preferred_gender: i32,
    pub age_years: i32,
    pub description: &'a str,
    pub minutes_per_week: i32,
    pub start_date: NaiveDate,
    pub expected_end_date: NaiveDate,
    pub grant_version: &'a str,
    pub certificate_required: bool,
    pub certificate_renewal_months: i32,
}

/// New terms from GrantChanged.
pub struct RequestTerms<'a> {
    pub minutes_per_week: i32,
    pub minutes_from: NaiveDate,
    pub expected_end_date: NaiveDate,
    pub grant_version: &'a str,
}

const REQUEST_COLUMNS: &str = "municipality, id, person, recipient, state, competences, preferred_gender, age_years, description, minutes_per_week, minutes_from, start_date, expected_end_date, end_date, grant_version, revision, create_time, update_time, assignment_id, procurement_id, proposed_unit, proposed_person, unmet_since, certificate_required, certificate_renewal_months, (SELECT a.minutes_per_week FROM assignments a WHERE a.municipality = matching_requests.municipality AND a.request = matching_requests.id AND a.state = 'ACTIVE') AS assigned_minutes";

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<Postgres>, sqlx::Error> {
        self.pool.acquire().await
    }

    pub async fn begin(&self) -> Result<CallTx, sqlx::Error> {
        CallTx::begin(&self.pool).await
    }

    pub async fn lock_request(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
    ) -> Result<Option<RequestRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM matching_requests
              WHERE municipality = $1 AND id = $2 FOR UPDATE"
        )))
        .bind(municipality)
        .bind(id)
        .fetch_optional(tx)
        .await
    }

    /// Moves a request to its next state (the caller holds its lock and checked the move).
    pub async fn step_request(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
        step: &RequestStep<'_>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE matching_requests
                SET state = $3, assignment_id = $4, procurement_id = $5, proposed_unit = $6,
                    proposed_person = $7, revision = revision + 1, update_time = now()
              WHERE municipality = $1 AND id = $2",
        )
        .bind(municipality)
        .bind(id)
        .bind(step.state)
        .bind(step.assignment_id)
        .bind(step.procurement_id)
        .bind(step.proposed.map(|p| p.0))
        .bind(step.proposed.map(|p| p.1))
        .execute(tx)
        .await?;
        Ok(())
    }

    /// Records whether a proposal found someone suitable (R-MP-5). `true` when the request has
    /// just become unmet (so DemandUnmet is published once per spell).
    pub async fn record_unmet(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
        unmet: bool,
    ) -> Result<bool, sqlx::Error> {
        let became: Option<bool> = sqlx::query_scalar(
            "UPDATE matching_requests AS r
                SET unmet_since = CASE WHEN $3 THEN coalesce(r.unmet_since, now()) END
               FROM (SELECT unmet_since FROM matching_requests
                      WHERE municipality = $1 AND id = $2) AS before
              WHERE r.municipality = $1 AND r.id = $2
              RETURNING $3 AND before.unmet_since IS NULL",
        )
        .bind(municipality)
        .bind(id)
        .bind(unmet)
        .fetch_optional(tx)
        .await?;
        Ok(became.unwrap_or(false))
    }

    /// Requests that still need someone: open or proposed, or assigned for fewer minutes than
    /// the grant now gives. Oldest first.
    pub async fn requests_needing_people(
        &self,
        municipality: &str,
    ) -> Result<Vec<RequestRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM (SELECT {REQUEST_COLUMNS} FROM matching_requests
                             WHERE municipality = $1 AND state IN ($2, $3, $4)) r
              WHERE r.state <> $4 OR r.assigned_minutes < r.minutes_per_week
              ORDER BY r.create_time, r.id"
        )))
        .bind(municipality)
        .bind(RequestState::Open)
        .bind(RequestState::Proposed)
        .bind(RequestState::Assigned)
        .fetch_all(&self.pool)
        .await
    }

    // Competences ------------------------------------------------------------------------

    /// Competences ordered by code after `after`, of one category or all (`None`).
    pub async fn list_competences(
        &self,
        after: Option<&str>,
        limit: i64,
        category: Option<&str>,
    ) -> Result<Vec<CompetenceRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT code, category, display_name, description FROM competences
              WHERE ($1::text IS NULL OR code > $1) AND ($3::text IS NULL OR category = $3)
              ORDER BY code LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .bind(category)
        .fetch_all(&self.pool)
        .await
    }

    /// Those of `codes` the catalogue does not have.
    pub async fn unknown_competences(
        &self,
        conn: &mut PgConnection,
        codes: &[String],
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT c FROM unnest($1::text[]) AS c
              WHERE NOT EXISTS (SELECT 1 FROM competences WHERE code = c) ORDER BY c",
        )
        .bind(codes)
        .fetch_all(conn)
        .await
    }

    pub async fn get_competence(&self, code: &str) -> Result<Option<CompetenceRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT code, category, display_name, description FROM competences WHERE code = $1",
        )
        .bind(code)
        .fetch_optional(&self.pool)
        .await
    }

    // Matching requests ------------------------------------------------------------------

    /// Opens a request; a replay of the same GrantApproved changes nothing. Whether it was new.
    pub async fn open_request(
        &self,
        tx: &mut PgConnection,
        r: &NewRequest<'_>,
    ) -> Result<bool, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO matching_requests
                    (municipality, id, person, recipient, state, competences, preferred_gender,
                     age_years, description, minutes_per_week, minutes_from, start_date,
                     expected_end_date, grant_version, certificate_required,
                     certificate_renewal_months)
             VALUES ($1, $2, $3, $4, $13, $5, $6, $7, $8, $9, $10, $10, $11, $12, $14, $15)
             ON CONFLICT (municipality, id) DO NOTHING",
        )
        .bind(r.municipality)
        .bind(r.id)
        .bind(r.person)
        .bind(r.recipient)
        .bind(r.competences)
        .bind(r.preferred_gender)
        .bind(r.age_years)
        .bind(r.description)
        .bind(r.minutes_per_week)
        .bind(r.start_date)
        .bind(r.expected_end_date)
        .bind(r.grant_version)
        .bind(RequestState::Open)
        .bind(r.certificate_required)
        .bind(r.certificate_renewal_months)
        .execute(tx)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Applies a grant's new version, unless the request already has it (a replay).
    /// Whether a request was found.
    pub async fn change_request(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
        terms: &RequestTerms<'_>,
    ) -> Result<bool, sqlx::Error> {
        let found: Option<i64> = sqlx::query_scalar(
            "UPDATE matching_requests
                SET minutes_per_week = $3, minutes_from = $4, expected_end_date = $5,
                    grant_version = $6,
                    revision = revision + CASE WHEN grant_version = $6 THEN 0 ELSE 1 END,
                    update_time = CASE WHEN grant_version = $6 THEN update_time ELSE now() END
              WHERE municipality = $1 AND id = $2
              RETURNING revision",
        )
        .bind(municipality)
        .bind(id)
        .bind(terms.minutes_per_week)
        .bind(terms.minutes_from)
        .bind(terms.expected_end_date)
        .bind(terms.grant_version)
        .fetch_optional(tx)
        .await?;
        Ok(found.is_some())
    }

    /// The grant ended: the request closes (a replay changes nothing). Whether it was found.
    pub async fn close_request(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
        end_date: NaiveDate,
    ) -> Result<bool, sqlx::Error> {
        let found: Option<i64> = sqlx::query_scalar(
            "UPDATE matching_requests
                SET state = $4, end_date = $3,
                    revision = revision + CASE WHEN state = $4 THEN 0 ELSE 1 END,
                    update_time = CASE WHEN state = $4 THEN update_time ELSE now() END
              WHERE municipality = $1 AND id = $2
              RETURNING revision",
        )
        .bind(municipality)
        .bind(id)
        .bind(end_date)
        .bind(RequestState::Closed)
        .fetch_optional(tx)
        .await?;
        Ok(found.is_some())
    }

    pub async fn get_request(
        &self,
        municipality: &str,
        id: &str,
    ) -> Result<Option<RequestRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM matching_requests WHERE municipality = $1 AND id = $2"
        )))
        .bind(municipality)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Oldest first (the longest-waiting demand on top), after the cursor `(create_time, id)`.
    pub async fn list_requests(
        &self,
        municipality: &str,
        state: Option<RequestState>,
        after: Option<(DateTime<Utc>, &str)>,
        limit: i64,
    ) -> Result<Vec<RequestRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM matching_requests
              WHERE municipality = $1 AND ($2::text IS NULL OR state = $2)
                AND ($3::timestamptz IS NULL OR (create_time, id) > ($3, $4))
              ORDER BY create_time, id LIMIT $5"
        )))
        .bind(municipality)
        .bind(state)
        .bind(after.map(|(t, _)| t))
        .bind(after.map(|(_, id)| id))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }
}
