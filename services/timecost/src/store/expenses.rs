//! Expenses, the allowances they draw on and the mileage rates that price them (R-TC-5).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::Store;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExpenseRow {
    pub municipality: String,
    pub id: String,
    pub assignment_id: String,
    pub grant_id: String,
    pub kind: String,
    pub expense_date: NaiveDate,
    pub distance_metres: i32,
    pub amount_ore: i64,
    pub mileage_rate_id: Option<String>,
    pub note: String,
    pub reverses: Option<String>,
    pub unit: String,
    pub contact_person_id: String,
    pub exceeds_allowance: bool,
    pub allowance_limit_ore: Option<i64>,
    pub allowance_from: NaiveDate,
    pub allowance_to: Option<NaiveDate>,
    pub allowance_used_ore: i64,
    pub request_id: String,
    pub registered_by: String,
    pub create_time: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct MileageRateRow {
    pub municipality: String,
    pub id: String,
    pub valid_from: NaiveDate,
    pub ore_per_km: i64,
    pub source: String,
    pub create_time: DateTime<Utc>,
}

pub(super) const EXPENSE_COLUMNS: &str = "municipality, id, assignment_id, grant_id, kind, expense_date, distance_metres, amount_ore, mileage_rate_id, note, reverses, unit, contact_person_id, exceeds_allowance, allowance_limit_ore, allowance_from, allowance_to, allowance_used_ore, request_id, registered_by, create_time";

impl Store {
    /// Serialises expenses of one grant until the transaction ends, so two at once each see
    /// the other's amount in the allowance's period (R-TC-5). An advisory lock, because the
    /// grant's row may not have arrived from the referral feed yet.
    pub async fn lock_grant_allowances(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('timecost.allowance/' || $1 || '/' || $2, 0))")
            .bind(municipality)
            .bind(grant)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The grant's start (when its event has arrived).
    pub async fn grant_start(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
    ) -> Result<Option<NaiveDate>, sqlx::Error> {
        sqlx::query_scalar("SELECT start_date FROM grants WHERE municipality = $1 AND id = $2")
            .bind(municipality)
            .bind(grant)
            .fetch_optional(conn)
            .await
    }

    /// The allowance of `kind` in the grant version in force on `day`: (amount, period).
    pub async fn allowance_on(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
        kind: &str,
        day: NaiveDate,
    ) -> Result<Option<(i64, String)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT amount_ore, period FROM grant_allowances
              WHERE municipality = $1 AND grant_id = $2 AND kind = $3
                AND (end_date IS NULL OR end_date >= $4)
                AND effective_from = (SELECT max(effective_from) FROM grant_terms
                                       WHERE municipality = $1 AND grant_id = $2
                                         AND effective_from <= $4)",
        )
        .bind(municipality)
        .bind(grant)
        .bind(kind)
        .bind(day)
        .fetch_optional(conn)
        .await
    }

    /// Net amount of the grant's expenses of `kind` from `from` to `to` (open = no end).
    pub async fn used_allowance(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        grant: &str,
        kind: &str,
        from: NaiveDate,
        to: Option<NaiveDate>,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT coalesce(sum(amount_ore), 0)::bigint FROM expenses
              WHERE municipality = $1 AND grant_id = $2 AND kind = $3
                AND expense_date >= $4 AND ($5::date IS NULL OR expense_date <= $5)",
        )
        .bind(municipality)
        .bind(grant)
        .bind(kind)
        .bind(from)
        .bind(to)
        .fetch_one(conn)
        .await
    }

    /// The municipality's mileage rate in force on `day` (the latest from on or before it).
    pub async fn mileage_rate_on(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        day: NaiveDate,
    ) -> Result<Option<MileageRateRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT municipality, id, valid_from, ore_per_km, source, create_time
               FROM mileage_rates WHERE municipality = $1 AND valid_from <= $2
              ORDER BY valid_from DESC LIMIT 1",
        )
        .bind(municipality)
        .bind(day)
        .fetch_optional(conn)
        .await
    }

    /// Inserts a rate; `None` when the day already has one.
    pub async fn insert_mileage_rate(
        &self,
        municipality: &str,
        valid_from: NaiveDate,
        ore_per_km: i64,
        source: &str,
    ) -> Result<Option<MileageRateRow>, sqlx::Error> {
        sqlx::query_as(
            "INSERT INTO mileage_rates (municipality, id, valid_from, ore_per_km, source)
             VALUES ($1, to_char($2::date, 'YYYY-MM-DD'), $2, $3, $4)
             ON CONFLICT DO NOTHING
             RETURNING municipality, id, valid_from, ore_per_km, source, create_time",
        )
        .bind(municipality)
        .bind(valid_from)
        .bind(ore_per_km)
        .bind(source)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn mileage_rates(
        &self,
        municipality: &str,
    ) -> Result<Vec<MileageRateRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT municipality, id, valid_from, ore_per_km, source, create_time
               FROM mileage_rates WHERE municipality = $1 ORDER BY valid_from",
        )
        .bind(municipality)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn insert_expense(
        &self,
        conn: &mut PgConnection,
        e: &ExpenseRow,
    ) -> Result<ExpenseRow, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO expenses
                    (municipality, id, assignment_id, grant_id, kind, expense_date,
                     distance_metres, amount_ore, mileage_rate_id, note, reverses, unit,
                     contact_person_id, exceeds_allowance, allowance_limit_ore, allowance_from,
                     allowance_to, allowance_used_ore, request_id, registered_by, create_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17, $18, $19, $20, $21)
             RETURNING {EXPENSE_COLUMNS}"
        )))
        .bind(&e.municipality)
        .bind(&e.id)
        .bind(&e.assignment_id)
        .bind(&e.grant_id)
        .bind(&e.kind)
        .bind(e.expense_date)
        .bind(e.distance_metres)
        .bind(e.amount_ore)
        .bind(&e.mileage_rate_id)
        .bind(&e.note)
        .bind(&e.reverses)
        .bind(&e.unit)
        .bind(&e.contact_person_id)
        .bind(e.exceeds_allowance)
        .bind(e.allowance_limit_ore)
        .bind(e.allowance_from)
        .bind(e.allowance_to)
        .bind(e.allowance_used_ore)
        .bind(&e.request_id)
        .bind(&e.registered_by)
        .bind(e.create_time)
        .fetch_one(conn)
        .await
    }
}
