//! SQL for the `referral` schema, one section per aggregate.

use chrono::NaiveDate;
use sqlx::PgPool;

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

#[derive(Debug, sqlx::FromRow)]
pub struct LegalBasisRow {
    pub code: String,
    pub law: String,
    pub citation: String,
    pub title: String,
    pub description: String,
    pub valid_from: NaiveDate,
    pub valid_until: Option<NaiveDate>,
    pub replaced_by: Option<String>,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    // Legal bases ------------------------------------------------------------------------

    /// Bases ordered by code after `after`; repealed ones (in force until before `today`) only
    /// when asked for.
    pub async fn list_legal_bases(
        &self,
        after: Option<&str>,
        limit: i64,
        include_repealed: bool,
        today: NaiveDate,
    ) -> Result<Vec<LegalBasisRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT code, law, citation, title, description, valid_from, valid_until, replaced_by
               FROM legal_bases
              WHERE ($1::text IS NULL OR code > $1)
                AND ($3 OR valid_until IS NULL OR valid_until >= $4)
              ORDER BY code
              LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .bind(include_repealed)
        .bind(today)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn get_legal_basis(&self, code: &str) -> Result<Option<LegalBasisRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT code, law, citation, title, description, valid_from, valid_until, replaced_by
               FROM legal_bases WHERE code = $1",
        )
        .bind(code)
        .fetch_optional(&self.pool)
        .await
    }
}
