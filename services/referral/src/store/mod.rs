//! SQL for the `referral` schema, one section per aggregate (persons and the catalogue here;
//! the referral workflow in `referrals`, grants and their versions in `grants`).

mod grants;
mod imports;
mod referrals;

pub use grants::*;
pub use imports::*;
pub use referrals::*;

use chrono::{DateTime, NaiveDate, Utc};
use kontakt_platform::audit::{AuditLog, Entry};
use sqlx::{PgConnection, PgPool};

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
    pub min_age_years: Option<i32>,
    pub max_age_years: Option<i32>,
    pub without_consent: bool,
    pub compulsory: bool,
}

impl LegalBasisRow {
    /// What the rules need to know of the basis.
    pub fn facts(&self) -> crate::domain::LegalBasisFacts {
        crate::domain::LegalBasisFacts {
            code: self.code.clone(),
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            min_age_years: self.min_age_years.and_then(|v| u32::try_from(v).ok()),
            max_age_years: self.max_age_years.and_then(|v| u32::try_from(v).ok()),
            without_consent: self.without_consent,
            compulsory: self.compulsory,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct PersonRow {
    pub id: String,
    pub municipality: String,
    pub display_name: String,
    pub birth_date: NaiveDate,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// A new person, its CPR number already sealed and indexed.
pub struct NewPerson<'a> {
    pub id: &'a str,
    pub municipality: &'a str,
    pub display_name: &'a str,
    pub birth_date: NaiveDate,
    pub cpr_key_id: &'a str,
    pub cpr_ciphertext: &'a [u8],
    pub cpr_index: &'a [u8],
}

pub enum Created {
    Person(PersonRow),
    /// The municipality already has a person with this CPR number: its id.
    Exists(String),
}

const PERSON_COLUMNS: &str = "id, municipality, display_name, birth_date, create_time, update_time";

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    // Persons ----------------------------------------------------------------------------

    /// Inserts the person and its audit rows in one transaction, so neither exists without the other.
    pub async fn create_person(
        &self,
        person: NewPerson<'_>,
        audit: &[Entry],
    ) -> Result<Created, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let created = Self::insert_person(&mut tx, &person).await?;
        if let Created::Person(_) = created {
            AuditLog::record_in(&mut tx, audit).await?;
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(created)
    }

    /// Inserts the person in the caller's transaction, or names the one the municipality already
    /// has with this CPR number.
    pub async fn insert_person(
        tx: &mut PgConnection,
        person: &NewPerson<'_>,
    ) -> Result<Created, sqlx::Error> {
        let inserted: Option<PersonRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO persons (id, municipality, display_name, birth_date, cpr_key_id, cpr_ciphertext, cpr_index)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (municipality, cpr_index) DO NOTHING
             RETURNING {PERSON_COLUMNS}"
        )))
        .bind(person.id)
        .bind(person.municipality)
        .bind(person.display_name)
        .bind(person.birth_date)
        .bind(person.cpr_key_id)
        .bind(person.cpr_ciphertext)
        .bind(person.cpr_index)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = inserted {
            return Ok(Created::Person(row));
        }
        let existing: String =
            sqlx::query_scalar("SELECT id FROM persons WHERE municipality = $1 AND cpr_index = $2")
                .bind(person.municipality)
                .bind(person.cpr_index)
                .fetch_one(tx)
                .await?;
        Ok(Created::Exists(existing))
    }

    /// Up to `limit` persons whose CPR number is sealed under another key than `active`.
    pub async fn persons_sealed_under_other_keys(
        &self,
        active: &str,
        limit: i64,
    ) -> Result<Vec<(String, String, String, Vec<u8>)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, municipality, cpr_key_id, cpr_ciphertext FROM persons
              WHERE cpr_key_id <> $1 ORDER BY id LIMIT $2",
        )
        .bind(active)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Replaces one sealed CPR number, only if it is still the one that was read (a concurrent
    /// rekey of the same row wins once, not twice). The blind index does not change.
    pub async fn reseal_person(
        &self,
        id: &str,
        old_key_id: &str,
        new_key_id: &str,
        ciphertext: &[u8],
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE persons SET cpr_key_id = $3, cpr_ciphertext = $4
              WHERE id = $1 AND cpr_key_id = $2",
        )
        .bind(id)
        .bind(old_key_id)
        .bind(new_key_id)
        .bind(ciphertext)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn get_person(
        &self,
        municipality: &str,
        id: &str,
    ) -> Result<Option<PersonRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PERSON_COLUMNS} FROM persons WHERE municipality = $1 AND id = $2"
        )))
        .bind(municipality)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn find_person_by_cpr(
        &self,
        municipality: &str,
        cpr_index: &[u8],
    ) -> Result<Option<PersonRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PERSON_COLUMNS} FROM persons WHERE municipality = $1 AND cpr_index = $2"
        )))
        .bind(municipality)
        .bind(cpr_index)
        .fetch_optional(&self.pool)
        .await
    }

    // KLE numbers ------------------------------------------------------------------------

    /// The KLE numbers a case may be filed under on `day`, by code.
    pub async fn kle_numbers_in_force(&self, day: NaiveDate) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT code FROM kle_numbers
              WHERE valid_from <= $1 AND (valid_until IS NULL OR valid_until >= $1)
              ORDER BY code DESC",
        )
        .bind(day)
        .fetch_all(&self.pool)
        .await
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
            "SELECT code, law, citation, title, description, valid_from, valid_until, replaced_by,
                    min_age_years, max_age_years, without_consent, compulsory
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
            "SELECT code, law, citation, title, description, valid_from, valid_until, replaced_by,
                    min_age_years, max_age_years, without_consent, compulsory
               FROM legal_bases WHERE code = $1",
        )
        .bind(code)
        .fetch_optional(&self.pool)
        .await
    }
}
