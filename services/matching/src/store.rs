//! SQL for the `matching` schema, one section per aggregate.

use sqlx::PgPool;

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
}
