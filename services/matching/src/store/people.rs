//! Contact persons with their rates, providers with their framework contracts, and the
//! candidate pool ranking reads.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres};

use super::Store;

#[derive(Debug, sqlx::FromRow)]
pub struct PersonRow {
    pub unit: String,
    pub id: String,
    pub display_name: String,
    pub employment: String,
    pub provider_id: Option<String>,
    pub competences: Vec<String>,
    pub gender: i32,
    pub municipalities: Vec<String>,
    pub weekly_capacity_minutes: i32,
    pub duty_kinds: Vec<i32>,
    pub duty_minutes: Vec<i32>,
    pub duty_descriptions: Vec<String>,
    pub booked_minutes: i32,
    pub certificate_issue: Option<NaiveDate>,
    pub certificate_result: Option<i32>,
    pub certificate_expiry: Option<NaiveDate>,
    pub state: String,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RateRow {
    pub unit: String,
    pub person_id: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub hourly_ore: i64,
}

/// The fields a coordinator writes, checked by the API before they get here.
pub struct PersonValues {
    pub display_name: String,
    pub employment: &'static str,
    pub provider_id: Option<String>,
    pub competences: Vec<String>,
    pub gender: i32,
    pub municipalities: Vec<String>,
    pub weekly_capacity_minutes: i32,
    pub duty_kinds: Vec<i32>,
    pub duty_minutes: Vec<i32>,
    pub duty_descriptions: Vec<String>,
    pub certificate: Option<(NaiveDate, i32, Option<NaiveDate>)>,
    pub state: &'static str,
    /// (from, to, øre per hour)
    pub rates: Vec<(NaiveDate, Option<NaiveDate>, i64)>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct ProviderRow {
    pub id: String,
    pub display_name: String,
    pub cvr: String,
    pub competences: Vec<String>,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct ContractRow {
    pub provider_id: String,
    pub id: String,
    pub reference: String,
    pub hourly_ore: i64,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub municipalities: Vec<String>,
    pub competences: Vec<String>,
    pub weekly_capacity_minutes: i32,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// A contact person as ranking needs them, with their cost on the start day and whether they
/// know the child.
#[derive(Debug, sqlx::FromRow)]
pub struct CandidateRow {
    pub unit: String,
    pub id: String,
    pub display_name: String,
    pub employment: String,
    pub competences: Vec<String>,
    pub gender: i32,
    pub municipalities: Vec<String>,
    pub state: String,
    pub weekly_capacity_minutes: i32,
    pub other_duties_minutes: i32,
    pub booked_minutes: i32,
    pub certificate_issue: Option<NaiveDate>,
    pub certificate_result: Option<i32>,
    pub certificate_expiry: Option<NaiveDate>,
    pub rate_ore: Option<i64>,
    pub knows_child: bool,
}

/// Which contact persons a ranking looks at.
pub struct Pool<'a> {
    pub municipality: &'a str,
    /// The child (pseudonymous name), for continuity.
    pub child: &'a str,
    pub day: NaiveDate,
    /// `Some(minutes)`: only those who pass the hard rules with this much free time (the
    /// index-backed prefilter); `None`: everyone active in the area, to explain exclusions.
    pub prefilter_minutes: Option<i32>,
    /// What the prefilter asks of a certificate (R-MP-6), as the ranking's own rule does.
    pub certificate: crate::domain::ranking::CertificateRule,
}

const PERSON_COLUMNS: &str = "unit, id, display_name, employment, provider_id, competences, gender, municipalities, weekly_capacity_minutes, duty_kinds, duty_minutes, duty_descriptions, booked_minutes, certificate_issue, certificate_result, certificate_expiry, state, revision, create_time, update_time";
const PROVIDER_COLUMNS: &str =
    "id, display_name, cvr, competences, revision, create_time, update_time";
const CONTRACT_COLUMNS: &str = "provider_id, id, reference, hourly_ore, valid_from, valid_to, municipalities, competences, weekly_capacity_minutes, revision, create_time, update_time";

/// A person's key as $1 and $2 and their writable values (what `update_person` overwrites) as
/// $3 to $14, numbered alike in `insert_person`.
fn bind_writable<'q>(
    query: Query<'q, Postgres, PgArguments>,
    unit: &str,
    id: &str,
    v: &PersonValues,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(unit)
        .bind(id)
        .bind(&v.display_name)
        .bind(&v.competences)
        .bind(v.gender)
        .bind(&v.municipalities)
        .bind(v.weekly_capacity_minutes)
        .bind(&v.duty_kinds)
        .bind(&v.duty_minutes)
        .bind(&v.duty_descriptions)
        .bind(v.certificate.map(|c| c.0))
        .bind(v.certificate.map(|c| c.1))
        .bind(v.certificate.and_then(|c| c.2))
        .bind(v.state)
}

impl Store {
    // Contact persons -------------------------------------------------------------------------

    /// Inserts a person with their rates; `false` if the id is taken.
    pub async fn insert_person(
        &self,
        tx: &mut PgConnection,
        unit: &str,
        id: &str,
        v: &PersonValues,
    ) -> Result<bool, sqlx::Error> {
        let insert = sqlx::query(
            "INSERT INTO contact_persons
                    (unit, id, display_name, competences, gender, municipalities,
                     weekly_capacity_minutes, duty_kinds, duty_minutes, duty_descriptions,
                     other_duties_minutes, certificate_issue, certificate_result,
                     certificate_expiry, state, employment, provider_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                     (SELECT coalesce(sum(m), 0) FROM unnest($9::int[]) m),
                     $11, $12, $13, $14, $15, $16)
             ON CONFLICT (unit, id) DO NOTHING",
        );
        let inserted = bind_writable(insert, unit, id, v)
            .bind(v.employment)
            .bind(&v.provider_id)
            .execute(&mut *tx)
            .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        self.replace_rates(tx, unit, id, &v.rates).await?;
        Ok(true)
    }

    /// Overwrites the writable fields; the caller holds the row lock and checked capacity.
    pub async fn update_person(
        &self,
        tx: &mut PgConnection,
        unit: &str,
        id: &str,
        v: &PersonValues,
    ) -> Result<(), sqlx::Error> {
        let update = sqlx::query(
            "UPDATE contact_persons
                SET display_name = $3, competences = $4, gender = $5, municipalities = $6,
                    weekly_capacity_minutes = $7, duty_kinds = $8, duty_minutes = $9,
                    duty_descriptions = $10,
                    other_duties_minutes = (SELECT coalesce(sum(m), 0) FROM unnest($9::int[]) m),
                    certificate_issue = $11, certificate_result = $12, certificate_expiry = $13,
                    state = $14, revision = revision + 1, update_time = now()
              WHERE unit = $1 AND id = $2",
        );
        bind_writable(update, unit, id, v).execute(&mut *tx).await?;
        self.replace_rates(tx, unit, id, &v.rates).await
    }

    async fn replace_rates(
        &self,
        tx: &mut PgConnection,
        unit: &str,
        id: &str,
        rates: &[(NaiveDate, Option<NaiveDate>, i64)],
    ) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM contact_person_rates WHERE unit = $1 AND person_id = $2")
            .bind(unit)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let from: Vec<NaiveDate> = rates.iter().map(|r| r.0).collect();
        let to: Vec<Option<NaiveDate>> = rates.iter().map(|r| r.1).collect();
        let ore: Vec<i64> = rates.iter().map(|r| r.2).collect();
        sqlx::query(
            "INSERT INTO contact_person_rates (unit, person_id, valid_from, valid_to, hourly_ore)
             SELECT $1, $2, f, t, o FROM unnest($3::date[], $4::date[], $5::bigint[]) AS r(f, t, o)",
        )
        .bind(unit)
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(ore)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    pub async fn get_person(
        &self,
        conn: &mut PgConnection,
        unit: &str,
        id: &str,
        lock: bool,
    ) -> Result<Option<PersonRow>, sqlx::Error> {
        let lock = if lock { " FOR UPDATE" } else { "" };
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PERSON_COLUMNS} FROM contact_persons WHERE unit = $1 AND id = $2{lock}"
        )))
        .bind(unit)
        .bind(id)
        .fetch_optional(conn)
        .await
    }

    pub async fn rates_of(
        &self,
        conn: &mut PgConnection,
        persons: &[(String, String)],
    ) -> Result<Vec<RateRow>, sqlx::Error> {
        let units: Vec<&str> = persons.iter().map(|p| p.0.as_str()).collect();
        let ids: Vec<&str> = persons.iter().map(|p| p.1.as_str()).collect();
        sqlx::query_as(
            "SELECT r.unit, r.person_id, r.valid_from, r.valid_to, r.hourly_ore
               FROM contact_person_rates r
               JOIN unnest($1::text[], $2::text[]) AS p(unit, id)
                 ON r.unit = p.unit AND r.person_id = p.id
              ORDER BY r.unit, r.person_id, r.valid_from",
        )
        .bind(units)
        .bind(ids)
        .fetch_all(conn)
        .await
    }

    /// Persons by (unit, id) after the cursor, in a unit or all (`None`), serving one of
    /// `municipalities`.
    pub async fn list_persons(
        &self,
        unit: Option<&str>,
        municipalities: &[String],
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<PersonRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PERSON_COLUMNS} FROM contact_persons
              WHERE ($1::text IS NULL OR unit = $1) AND municipalities && $2::text[]
                AND ($3::text IS NULL OR (unit, id) > ($3, $4))
              ORDER BY unit, id LIMIT $5"
        )))
        .bind(unit)
        .bind(municipalities)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// The candidate pool for a ranking (see [`Pool`]), by (unit, id). Everyone in it serves
    /// the pool's municipality, the only one ranking asks about, so `municipalities` holds just
    /// that one: a provider's people may serve a whole region, and decoding their lists was a
    /// good part of a proposal's cost.
    pub async fn candidates(
        &self,
        conn: &mut PgConnection,
        pool: &Pool<'_>,
    ) -> Result<Vec<CandidateRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT p.unit, p.id, p.display_name, p.employment, p.competences, p.gender,
                    ARRAY[$1::text] AS municipalities, p.state, p.weekly_capacity_minutes,
                    p.other_duties_minutes,
                    p.booked_minutes, p.certificate_issue, p.certificate_result,
                    p.certificate_expiry,
                    CASE WHEN p.employment = 'PROVIDER' THEN
                         (SELECT min(c.hourly_ore) FROM framework_contracts c
                           WHERE c.provider_id = p.provider_id AND c.valid_from <= $3
                             AND (c.valid_to IS NULL OR c.valid_to >= $3)
                             AND (cardinality(c.municipalities) = 0 OR $1 = ANY (c.municipalities)))
                    ELSE
                         (SELECT r.hourly_ore FROM contact_person_rates r
                           WHERE r.unit = p.unit AND r.person_id = p.id AND r.valid_from <= $3
                             AND (r.valid_to IS NULL OR r.valid_to >= $3))
                    END AS rate_ore,
                    EXISTS (SELECT 1 FROM assignments a
                             WHERE a.unit = p.unit AND a.contact_person_id = p.id
                               AND a.person = $2) AS knows_child
               FROM contact_persons p
              WHERE p.state = 'ACTIVE' AND p.municipalities @> ARRAY[$1]::text[]
                AND ($4::int IS NULL
                     OR (p.free_minutes >= $4
                         AND (NOT $5
                              OR (p.certificate_result = 1
                                  AND (p.certificate_expiry IS NULL OR p.certificate_expiry >= $3)
                                  AND ($6::int IS NULL OR p.certificate_issue IS NULL
                                       OR (p.certificate_issue + make_interval(months => $6))::date >= $3)))))
              ORDER BY p.unit, p.id",
        )
        .bind(pool.municipality)
        .bind(pool.child)
        .bind(pool.day)
        .bind(pool.prefilter_minutes)
        .bind(pool.certificate.required)
        .bind(
            pool.certificate
                .renewal_months
                .and_then(|m| i32::try_from(m).ok()),
        )
        .fetch_all(conn)
        .await
    }

    // Providers -------------------------------------------------------------------------------

    /// `Ok(false)` if the id or the CVR number is taken.
    pub async fn insert_provider(
        &self,
        id: &str,
        display_name: &str,
        cvr: &str,
        competences: &[String],
    ) -> Result<bool, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO providers (id, display_name, cvr, competences) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(display_name)
        .bind(cvr)
        .bind(competences)
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    pub async fn get_provider(&self, id: &str) -> Result<Option<ProviderRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PROVIDER_COLUMNS} FROM providers WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn list_providers(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ProviderRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PROVIDER_COLUMNS} FROM providers WHERE ($1::text IS NULL OR id > $1)
              ORDER BY id LIMIT $2"
        )))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// `Ok(false)` if the id is taken under this provider.
    pub async fn insert_contract(&self, c: &ContractRow) -> Result<bool, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO framework_contracts
                    (provider_id, id, reference, hourly_ore, valid_from, valid_to, municipalities,
                     competences, weekly_capacity_minutes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT DO NOTHING",
        )
        .bind(&c.provider_id)
        .bind(&c.id)
        .bind(&c.reference)
        .bind(c.hourly_ore)
        .bind(c.valid_from)
        .bind(c.valid_to)
        .bind(&c.municipalities)
        .bind(&c.competences)
        .bind(c.weekly_capacity_minutes)
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    pub async fn get_contract(
        &self,
        provider_id: &str,
        id: &str,
    ) -> Result<Option<ContractRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CONTRACT_COLUMNS} FROM framework_contracts WHERE provider_id = $1 AND id = $2"
        )))
        .bind(provider_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn list_contracts(
        &self,
        provider_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ContractRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CONTRACT_COLUMNS} FROM framework_contracts
              WHERE provider_id = $1 AND ($2::text IS NULL OR id > $2)
              ORDER BY id LIMIT $3"
        )))
        .bind(provider_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }
}
