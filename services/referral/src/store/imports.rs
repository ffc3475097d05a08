//! SQL for imported arrangements: the old system's key and what its import made.

use sqlx::PgConnection;

use super::Store;

#[derive(Debug, sqlx::FromRow)]
pub struct ImportRow {
    pub municipality: String,
    pub source_system: String,
    pub source_id: String,
    pub digest: Vec<u8>,
    pub person_id: String,
    pub case_id: String,
    pub referral_id: String,
    pub grant_id: String,
    pub legal_basis: String,
}

impl Store {
    /// The import made under this key, locked until the caller's transaction ends (two imports
    /// of one arrangement at once: the second waits and finds the first's).
    pub async fn lock_import(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        source_system: &str,
        source_id: &str,
    ) -> Result<Option<ImportRow>, sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("import/{municipality}/{source_system}/{source_id}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query_as(
            "SELECT municipality, source_system, source_id, digest, person_id, case_id,
                    referral_id, grant_id, legal_basis
               FROM imports
              WHERE municipality = $1 AND source_system = $2 AND source_id = $3",
        )
        .bind(municipality)
        .bind(source_system)
        .bind(source_id)
        .fetch_optional(tx)
        .await
    }

    pub async fn insert_import(
        &self,
        tx: &mut PgConnection,
        row: &ImportRow,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO imports (municipality, source_system, source_id, digest, person_id,
                                  case_id, referral_id, grant_id, legal_basis)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&row.municipality)
        .bind(&row.source_system)
        .bind(&row.source_id)
        .bind(&row.digest)
        .bind(&row.person_id)
        .bind(&row.case_id)
        .bind(&row.referral_id)
        .bind(&row.grant_id)
        .bind(&row.legal_basis)
        .execute(tx)
        .await?;
        Ok(())
    }
}
