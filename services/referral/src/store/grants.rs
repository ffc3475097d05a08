//! SQL for grants and their immutable versions (R-RV-11). A change inserts a version and closes
//! the previous one; an end closes the version in force and withdraws any that would start
//! later. Both run in the caller's transaction with the grant row locked.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::Store;

#[derive(Debug, sqlx::FromRow)]
pub struct GrantRow {
    pub municipality: String,
    pub id: String,
    pub referral_id: String,
    pub case_id: String,
    pub person_id: String,
    pub counsellor: String,
    pub state: String,
    pub recipient: i32,
    pub legal_basis: String,
    pub purpose: String,
    pub start_date: NaiveDate,
    pub expected_end_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub review_date: Option<NaiveDate>,
    pub compulsory_until: Option<NaiveDate>,
    pub end_reason: Option<String>,
    pub end_note: String,
    pub end_level: Option<String>,
    pub end_authority_reference: String,
    pub ended_by: String,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    /// The version in force on the day asked for (joined).
    pub version_id: Option<String>,
    pub minutes_per_week: Option<i32>,
}

/// A grant and its first version, as a decision creates them.
pub struct NewGrant<'a> {
    pub municipality: &'a str,
    pub id: &'a str,
    pub referral_id: &'a str,
    pub case_id: &'a str,
    pub person_id: &'a str,
    pub counsellor: &'a str,
    pub recipient: i32,
    pub legal_basis: &'a str,
    pub purpose: &'a str,
    pub start_date: NaiveDate,
    pub expected_end_date: NaiveDate,
    pub review_date: Option<NaiveDate>,
    pub compulsory_until: Option<NaiveDate>,
    pub version_id: &'a str,
    pub minutes_per_week: i32,
    pub version_body: &'a [u8],
}

#[derive(Debug, sqlx::FromRow)]
pub struct VersionRow {
    pub municipality: String,
    pub grant_id: String,
    pub id: String,
    pub minutes_per_week: i32,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub withdrawn: bool,
    /// Encoded kontakt.referral.v1.GrantVersion: the terms not kept as columns.
    pub body: Vec<u8>,
    pub create_time: DateTime<Utc>,
}

/// A new version of a locked grant's terms.
pub struct NewVersion<'a> {
    pub municipality: &'a str,
    pub grant_id: &'a str,
    pub id: &'a str,
    pub minutes_per_week: i32,
    pub effective_from: NaiveDate,
    pub expected_end_date: NaiveDate,
    pub body: &'a [u8],
    pub request_id: &'a str,
}

/// How and by whom a grant ends (R-RV-12: the level, the decider and the date are recorded).
pub struct GrantEnd<'a> {
    pub end_date: NaiveDate,
    pub reason: &'a str,
    pub note: &'a str,
    pub level: &'a str,
    pub authority_reference: &'a str,
    pub ended_by: &'a str,
}

/// ListGrants' filters; `None` = any.
pub struct GrantFilter<'a> {
    pub state: Option<&'a str>,
    pub person_id: Option<&'a str>,
    pub counsellor: Option<&'a str>,
}

/// The grant columns plus the version in force on `$day`, or the first before the grant starts
/// (`g` is the grant, `$day` a parameter number).
fn grant_select(day: &str) -> String {
    format!(
        "SELECT g.municipality, g.id, g.referral_id, g.case_id, g.person_id, g.counsellor,
                g.state, g.recipient, g.legal_basis, g.purpose, g.start_date,
                g.expected_end_date, g.end_date, g.review_date, g.compulsory_until,
                g.end_reason, g.end_note, g.end_level, g.end_authority_reference, g.ended_by,
                g.revision, g.create_time, g.update_time,
                v.id AS version_id, v.minutes_per_week
           FROM grants g
           LEFT JOIN LATERAL (
                SELECT id, minutes_per_week FROM grant_versions
                 WHERE municipality = g.municipality AND grant_id = g.id AND NOT withdrawn
                 ORDER BY (effective_from <= {day}) DESC,
                          CASE WHEN effective_from <= {day} THEN effective_from END DESC,
                          effective_from ASC
                 LIMIT 1) v ON true"
    )
}

const VERSION_COLUMNS: &str = "municipality, grant_id, id, minutes_per_week, effective_from, effective_to, withdrawn, body, create_time";

/// A grant of a period's report of preventive measures, with its person's sealed CPR number.
#[derive(Debug, sqlx::FromRow)]
pub struct MeasureRow {
    pub id: String,
    pub recipient: i32,
    pub legal_basis: String,
    pub citation: String,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub person_id: String,
    pub cpr_key_id: String,
    pub cpr_ciphertext: Vec<u8>,
}

impl Store {
    /// The municipality's grants in force on a day from `from` to `to`
    /// (`domain::statistics::in_period`) on bases that are not compulsory conditions (R-RV-4),
    /// oldest first.
    pub async fn measures_in_period(
        &self,
        municipality: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<MeasureRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT g.id, g.recipient, lb.code AS legal_basis, lb.citation, g.start_date,
                    g.end_date, p.id AS person_id, p.cpr_key_id, p.cpr_ciphertext
               FROM grants g
               JOIN persons p ON p.id = g.person_id
               -- A grant names its basis by resource name (`legalBases/{code}`).
               JOIN legal_bases lb ON g.legal_basis = 'legalBases/' || lb.code
              WHERE g.municipality = $1 AND g.start_date <= $3
                AND (g.end_date IS NULL OR g.end_date >= $2) AND NOT lb.compulsory
              ORDER BY g.start_date, g.id",
        )
        .bind(municipality)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn insert_grant(
        &self,
        tx: &mut PgConnection,
        g: &NewGrant<'_>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO grants (municipality, id, referral_id, case_id, person_id, counsellor, state,
                                 recipient, legal_basis, purpose, start_date, expected_end_date,
                                 review_date, compulsory_until)
             VALUES ($1, $2, $3, $4, $5, $6, 'ACTIVE', $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(g.municipality)
        .bind(g.id)
        .bind(g.referral_id)
        .bind(g.case_id)
        .bind(g.person_id)
        .bind(g.counsellor)
        .bind(g.recipient)
        .bind(g.legal_basis)
        .bind(g.purpose)
        .bind(g.start_date)
        .bind(g.expected_end_date)
        .bind(g.review_date)
        .bind(g.compulsory_until)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO grant_versions (municipality, grant_id, id, minutes_per_week, effective_from, body)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(g.municipality)
        .bind(g.id)
        .bind(g.version_id)
        .bind(g.minutes_per_week)
        .bind(g.start_date)
        .bind(g.version_body)
        .execute(tx)
        .await?;
        Ok(())
    }

    /// The grant with the version in force on `day` (or the first, before it starts).
    pub async fn get_grant(
        &self,
        municipality: &str,
        id: &str,
        day: NaiveDate,
    ) -> Result<Option<GrantRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE g.municipality = $1 AND g.id = $2",
            grant_select("$3")
        )))
        .bind(municipality)
        .bind(id)
        .bind(day)
        .fetch_optional(&self.pool)
        .await
    }

    /// The grant, locked for the rest of the transaction (one change at a time per grant).
    pub async fn lock_grant(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
        day: NaiveDate,
    ) -> Result<Option<GrantRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE g.municipality = $1 AND g.id = $2 FOR UPDATE OF g",
            grant_select("$3")
        )))
        .bind(municipality)
        .bind(id)
        .bind(day)
        .fetch_optional(tx)
        .await
    }

    /// Newest first, after the page cursor `(create_time, id)`.
    pub async fn list_grants(
        &self,
        municipality: &str,
        filter: &GrantFilter<'_>,
        after: Option<(DateTime<Utc>, &str)>,
        limit: i64,
        day: NaiveDate,
    ) -> Result<Vec<GrantRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE g.municipality = $1
                  AND ($2::text IS NULL OR g.state = $2)
                  AND ($3::text IS NULL OR g.person_id = $3)
                  AND ($4::text IS NULL OR g.counsellor = $4)
                  AND ($5::timestamptz IS NULL OR (g.create_time, g.id) < ($5, $6))
                ORDER BY g.create_time DESC, g.id DESC
                LIMIT $7",
            grant_select("$8")
        )))
        .bind(municipality)
        .bind(filter.state)
        .bind(filter.person_id)
        .bind(filter.counsellor)
        .bind(after.map(|(t, _)| t))
        .bind(after.map(|(_, id)| id))
        .bind(limit)
        .bind(day)
        .fetch_all(&self.pool)
        .await
    }

    /// A grant's versions, oldest first, after the page cursor (a version's first day and id).
    pub async fn list_versions(
        &self,
        municipality: &str,
        grant_id: &str,
        after: Option<(NaiveDate, &str)>,
        limit: i64,
    ) -> Result<Vec<VersionRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM grant_versions
              WHERE municipality = $1 AND grant_id = $2
                AND ($3::date IS NULL OR (effective_from, id) > ($3, $4))
              ORDER BY effective_from, id LIMIT $5"
        )))
        .bind(municipality)
        .bind(grant_id)
        .bind(after.map(|(d, _)| d))
        .bind(after.map(|(_, id)| id))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// The latest version that still applies (not withdrawn): the one a change follows.
    pub async fn latest_version(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        grant_id: &str,
    ) -> Result<VersionRow, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM grant_versions
              WHERE municipality = $1 AND grant_id = $2 AND NOT withdrawn
              ORDER BY effective_from DESC LIMIT 1"
        )))
        .bind(municipality)
        .bind(grant_id)
        .fetch_one(tx)
        .await
    }

    /// The version a ChangeGrant with this idempotency key made, if any.
    pub async fn version_by_request(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        grant_id: &str,
        request_id: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT id FROM grant_versions
              WHERE municipality = $1 AND grant_id = $2 AND request_id = $3",
        )
        .bind(municipality)
        .bind(grant_id)
        .bind(request_id)
        .fetch_optional(tx)
        .await
    }

    pub async fn count_versions(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        grant_id: &str,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT count(*) FROM grant_versions WHERE municipality = $1 AND grant_id = $2",
        )
        .bind(municipality)
        .bind(grant_id)
        .fetch_one(tx)
        .await
    }

    /// R-RV-11: the latest version ends the day before the new one starts; the grant's expected
    /// end follows the new terms.
    pub async fn insert_version(
        &self,
        tx: &mut PgConnection,
        v: &NewVersion<'_>,
        previous_id: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE grant_versions SET effective_to = $4::date - 1
              WHERE municipality = $1 AND grant_id = $2 AND id = $3",
        )
        .bind(v.municipality)
        .bind(v.grant_id)
        .bind(previous_id)
        .bind(v.effective_from)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO grant_versions
                    (municipality, grant_id, id, minutes_per_week, effective_from, body, request_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(v.municipality)
        .bind(v.grant_id)
        .bind(v.id)
        .bind(v.minutes_per_week)
        .bind(v.effective_from)
        .bind(v.body)
        .bind(v.request_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE grants SET expected_end_date = $3, revision = revision + 1, update_time = now()
              WHERE municipality = $1 AND id = $2",
        )
        .bind(v.municipality)
        .bind(v.grant_id)
        .bind(v.expected_end_date)
        .execute(tx)
        .await?;
        Ok(())
    }

    /// Ends a locked grant: the version in force on `end_date` ends then, later ones are
    /// withdrawn. Returns the withdrawn versions' ids.
    pub async fn end_grant(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
        end: &GrantEnd<'_>,
    ) -> Result<Vec<String>, sqlx::Error> {
        let end_date = end.end_date;
        let withdrawn: Vec<String> = sqlx::query_scalar(
            "UPDATE grant_versions SET withdrawn = true
              WHERE municipality = $1 AND grant_id = $2 AND effective_from > $3 AND NOT withdrawn
              RETURNING id",
        )
        .bind(municipality)
        .bind(id)
        .bind(end_date)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE grant_versions SET effective_to = $3
              WHERE municipality = $1 AND grant_id = $2 AND NOT withdrawn
                AND effective_from <= $3 AND (effective_to IS NULL OR effective_to > $3)",
        )
        .bind(municipality)
        .bind(id)
        .bind(end_date)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE grants SET state = 'ENDED', end_date = $3, end_reason = $4, end_note = $5,
                               end_level = $6, end_authority_reference = $7, ended_by = $8,
                               revision = revision + 1, update_time = now()
              WHERE municipality = $1 AND id = $2",
        )
        .bind(municipality)
        .bind(id)
        .bind(end_date)
        .bind(end.reason)
        .bind(end.note)
        .bind(end.level)
        .bind(end.authority_reference)
        .bind(end.ended_by)
        .execute(tx)
        .await?;
        Ok(withdrawn)
    }
}
