//! What the frame evaluation dataset (R-FU-5) and the CSV exports read.

use chrono::NaiveDate;
use sqlx::PgConnection;

use super::Store;

/// One municipality's grants in a span of days.
#[derive(Debug, sqlx::FromRow)]
pub struct GrantDaysRow {
    pub municipality: String,
    pub arrangements: i64,
    /// Σ minutes per week × days in force, over the grants' versions.
    pub minute_days: i64,
}

/// Approved minutes of one hourly hire in one timesheet at one wage.
#[derive(Debug, sqlx::FromRow)]
pub struct PayrollRow {
    pub unit: String,
    pub contact_person_id: String,
    pub timesheet_id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub hourly_wage_ore: i64,
    pub minutes: i64,
    pub cost_units: i64,
}

/// One provider's minutes on one assignment in one month.
#[derive(Debug, sqlx::FromRow)]
pub struct PurchaseRow {
    pub provider_id: String,
    pub month: NaiveDate,
    pub assignment_id: String,
    pub unit: String,
    pub contact_person_id: String,
    pub agreed_hourly_ore: i64,
    pub minutes: i64,
    pub cost_units: i64,
}

/// What a municipality bought from one provider for one reason in a span of days.
#[derive(Debug, sqlx::FromRow)]
pub struct ProviderReasonRow {
    pub municipality: String,
    pub provider_id: String,
    /// `NO_CAPACITY`, …; empty when the assignment began before the reason was passed on.
    pub reason: String,
    pub assignments: i64,
    pub minutes: i64,
    pub cost_units: i64,
}

impl Store {
    /// Provider time of `municipalities` (on assignments in `units`, unless empty) worked from
    /// `from` to `to`, by municipality, provider and the reason it was bought (R-MP-2); the
    /// largest first.
    pub async fn purchases_by_reason(
        &self,
        conn: &mut PgConnection,
        municipalities: &[String],
        units: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ProviderReasonRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT e.municipality, coalesce(a.provider_id, '') AS provider_id,
                    a.procurement_reason AS reason,
                    count(DISTINCT e.assignment_id)::bigint AS assignments,
                    sum(e.minutes)::bigint AS minutes, sum(e.cost_units)::bigint AS cost_units
               FROM time_entries e
               JOIN assignments a ON a.municipality = e.municipality AND a.id = e.assignment_id
              WHERE e.municipality = ANY ($1) AND e.work_date BETWEEN $3 AND $4
                AND (cardinality($2::text[]) = 0 OR a.unit = ANY ($2))
                AND a.employment = 'PROVIDER'
              GROUP BY 1, 2, 3
             HAVING sum(e.minutes) <> 0
              ORDER BY sum(e.cost_units) DESC, 1, 2, 3",
        )
        .bind(municipalities)
        .bind(units)
        .bind(from)
        .bind(to)
        .fetch_all(conn)
        .await
    }

    /// Grants of `municipalities` in force on a day from `from` to `to` (with an assignment in
    /// `units`, unless empty): how many, and their minute-days. Each version counts from its
    /// effective date to the day before the next, inside the grant's start and (actual or
    /// expected) end.
    pub async fn grant_days(
        &self,
        conn: &mut PgConnection,
        municipalities: &[String],
        units: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<GrantDaysRow>, sqlx::Error> {
        sqlx::query_as(
            "WITH terms AS (
                 SELECT municipality, grant_id, minutes_per_week, effective_from AS first_day,
                        coalesce(lead(effective_from) OVER (PARTITION BY municipality, grant_id
                                                            ORDER BY effective_from) - 1,
                                 'infinity'::date) AS last_day
                   FROM grant_terms WHERE municipality = ANY ($1)
             ), spans AS (
                 SELECT g.municipality, g.id, t.minutes_per_week,
                        greatest(t.first_day, g.start_date, $3::date) AS s,
                        least(t.last_day, coalesce(g.end_date, g.expected_end_date), $4::date) AS e
                   FROM grants g
                   JOIN terms t ON t.municipality = g.municipality AND t.grant_id = g.id
                  WHERE g.municipality = ANY ($1)
                    AND (cardinality($2::text[]) = 0 OR EXISTS (
                            SELECT 1 FROM assignments a
                             WHERE a.municipality = g.municipality AND a.grant_id = g.id
                               AND a.unit = ANY ($2)))
             )
             SELECT municipality, count(DISTINCT id) AS arrangements,
                    coalesce(sum(minutes_per_week::bigint * (e - s + 1)), 0)::bigint AS minute_days
               FROM spans WHERE s <= e
              GROUP BY municipality ORDER BY municipality",
        )
        .bind(municipalities)
        .bind(units)
        .bind(from)
        .bind(to)
        .fetch_all(conn)
        .await
    }

    /// Approved time of the municipality's hourly hires worked from `from` to `to` (R-TC-4).
    pub async fn payroll(
        &self,
        municipality: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<PayrollRow>, sqlx::Error> {
        // cost_units = minutes × wage × 9 exactly (pricing), so the wage is recovered exactly.
        sqlx::query_as(
            "SELECT e.unit, e.contact_person_id, t.id AS timesheet_id, t.period_start,
                    t.period_end, (e.cost_units / (e.minutes * 9))::bigint AS hourly_wage_ore,
                    sum(e.minutes)::bigint AS minutes, sum(e.cost_units)::bigint AS cost_units
               FROM time_entries e
               JOIN assignments a ON a.municipality = e.municipality AND a.id = e.assignment_id
               JOIN timesheets t ON t.unit = e.unit AND t.person_id = e.contact_person_id
                              AND e.work_date BETWEEN t.period_start AND t.period_end
              WHERE e.municipality = $1 AND e.work_date BETWEEN $2 AND $3
                AND a.employment = 'HOURLY' AND t.state = 'APPROVED'
              GROUP BY 1, 2, 3, 4, 5, 6
             HAVING sum(e.minutes) <> 0
              ORDER BY 1, 2, 4, 6",
        )
        .bind(municipality)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
    }

    /// Provider time on the municipality's assignments worked from `from` to `to`, by month.
    pub async fn provider_purchases(
        &self,
        municipality: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<PurchaseRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT coalesce(a.provider_id, '') AS provider_id,
                    date_trunc('month', e.work_date)::date AS month, e.assignment_id, a.unit,
                    a.contact_person_id, coalesce(a.agreed_hourly_ore, 0) AS agreed_hourly_ore,
                    sum(e.minutes)::bigint AS minutes, sum(e.cost_units)::bigint AS cost_units
               FROM time_entries e
               JOIN assignments a ON a.municipality = e.municipality AND a.id = e.assignment_id
              WHERE e.municipality = $1 AND e.work_date BETWEEN $2 AND $3
                AND a.employment = 'PROVIDER'
              GROUP BY 1, 2, 3, 4, 5, 6
             HAVING sum(e.minutes) <> 0
              ORDER BY 1, 2, 3",
        )
        .bind(municipality)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
    }
}
