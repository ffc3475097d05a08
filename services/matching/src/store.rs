//! SQL for the `matching` schema, one section per aggregate.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};

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
    pub state: String,
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
}

/// New terms from GrantChanged.
pub struct RequestTerms<'a> {
    pub minutes_per_week: i32,
    pub minutes_from: NaiveDate,
    pub expected_end_date: NaiveDate,
    pub grant_version: &'a str,
}

const REQUEST_COLUMNS: &str = "municipality, id, person, recipient, state, competences, preferred_gender, age_years, description, minutes_per_week, minutes_from, start_date, expected_end_date, end_date, grant_version, revision, create_time, update_time";

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
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
                     expected_end_date, grant_version)
             VALUES ($1, $2, $3, $4, 'OPEN', $5, $6, $7, $8, $9, $10, $10, $11, $12)
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
                SET state = 'CLOSED', end_date = $3,
                    revision = revision + CASE WHEN state = 'CLOSED' THEN 0 ELSE 1 END,
                    update_time = CASE WHEN state = 'CLOSED' THEN update_time ELSE now() END
              WHERE municipality = $1 AND id = $2
              RETURNING revision",
        )
        .bind(municipality)
        .bind(id)
        .bind(end_date)
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
        state: Option<&str>,
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
