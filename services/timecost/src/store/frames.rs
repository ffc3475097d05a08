//! Frames, indexation rates, the monthly cost aggregates, and what budget status reads
//! (R-BF-1..4).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::Store;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FrameRow {
    pub id: String,
    pub display_name: String,
    pub base_ore: i64,
    pub base_year: i32,
    pub period_start: NaiveDate,
    pub period_end: Option<NaiveDate>,
    pub service_units: Vec<String>,
    pub coordinator_cost_per_year_ore: i64,
    pub threshold_basis_points: i32,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShareRow {
    pub municipality: String,
    pub numerator: i64,
    pub denominator: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RateRow {
    pub year: i32,
    pub rate_basis_points: i32,
    pub source: String,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// A frame's amount from a year on (R-BF-1).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AmountRow {
    pub frame_id: String,
    pub from_year: i32,
    pub base_ore: i64,
    pub base_year: i32,
    pub decision: String,
    pub set_by: String,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

const AMOUNT_COLUMNS: &str = "frame_id, from_year, base_ore, base_year, decision, set_by, revision, create_time, update_time";

/// Spent in one municipality, month and category.
#[derive(Debug, sqlx::FromRow)]
pub struct SpendRow {
    pub municipality: String,
    pub month: NaiveDate,
    pub category: String,
    pub cost_units: i64,
    pub minutes: i64,
}

/// An active assignment's forecast inputs (R-BF-4).
#[derive(Debug, sqlx::FromRow)]
/// The active assignments of one municipality, employment and rate, summed.
pub struct ForecastRow {
    pub municipality: String,
    pub employment: String,
    pub rate_ore: Option<i64>,
    /// Σ minutes per week × days after `as_of` each still runs within the period.
    pub minute_days: i64,
    pub assignments: i64,
}

const FRAME_COLUMNS: &str = "id, display_name, base_ore, base_year, period_start, period_end, service_units, coordinator_cost_per_year_ore, threshold_basis_points, revision, create_time, update_time";

impl Store {
    /// `false` if the id is taken.
    pub async fn insert_frame(
        &self,
        conn: &mut PgConnection,
        f: &FrameRow,
        shares: &[ShareRow],
    ) -> Result<bool, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO frames (id, display_name, base_ore, base_year, period_start, period_end,
                                 service_units, coordinator_cost_per_year_ore,
                                 threshold_basis_points)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(&f.id)
        .bind(&f.display_name)
        .bind(f.base_ore)
        .bind(f.base_year)
        .bind(f.period_start)
        .bind(f.period_end)
        .bind(&f.service_units)
        .bind(f.coordinator_cost_per_year_ore)
        .bind(f.threshold_basis_points)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        for s in shares {
            sqlx::query(
                "INSERT INTO frame_shares (frame_id, municipality, numerator, denominator)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&f.id)
            .bind(&s.municipality)
            .bind(s.numerator)
            .bind(s.denominator)
            .execute(&mut *conn)
            .await?;
        }
        Ok(true)
    }

    pub async fn get_frame(
        &self,
        conn: &mut PgConnection,
        id: &str,
    ) -> Result<Option<(FrameRow, Vec<ShareRow>)>, sqlx::Error> {
        let frame: Option<FrameRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {FRAME_COLUMNS} FROM frames WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(frame) = frame else {
            return Ok(None);
        };
        let shares = sqlx::query_as(
            "SELECT municipality, numerator, denominator FROM frame_shares
              WHERE frame_id = $1 ORDER BY municipality",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        Ok(Some((frame, shares)))
    }

    /// The frame's amounts decided for later years, by from_year.
    pub async fn frame_amounts(
        &self,
        conn: &mut PgConnection,
        id: &str,
    ) -> Result<Vec<AmountRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {AMOUNT_COLUMNS} FROM frame_amounts WHERE frame_id = $1 ORDER BY from_year"
        )))
        .bind(id)
        .fetch_all(conn)
        .await
    }

    /// Sets the amount from `a.from_year` on: a new year is inserted, a changed one corrected
    /// (revision + 1), the same one again left as it is (a retry).
    pub async fn set_frame_amount(
        &self,
        conn: &mut PgConnection,
        a: &AmountRow,
    ) -> Result<AmountRow, sqlx::Error> {
        let changed: Option<AmountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO frame_amounts (frame_id, from_year, base_ore, base_year, decision, set_by,
                                        create_time, update_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
             ON CONFLICT (frame_id, from_year) DO UPDATE
                SET base_ore = EXCLUDED.base_ore, base_year = EXCLUDED.base_year,
                    decision = EXCLUDED.decision, set_by = EXCLUDED.set_by,
                    revision = frame_amounts.revision + 1, update_time = EXCLUDED.update_time
              WHERE (frame_amounts.base_ore, frame_amounts.base_year, frame_amounts.decision)
                    IS DISTINCT FROM (EXCLUDED.base_ore, EXCLUDED.base_year, EXCLUDED.decision)
             RETURNING {AMOUNT_COLUMNS}"
        )))
        .bind(&a.frame_id)
        .bind(a.from_year)
        .bind(a.base_ore)
        .bind(a.base_year)
        .bind(&a.decision)
        .bind(&a.set_by)
        .bind(a.update_time)
        .fetch_optional(&mut *conn)
        .await?;
        match changed {
            Some(row) => Ok(row),
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {AMOUNT_COLUMNS} FROM frame_amounts
                      WHERE frame_id = $1 AND from_year = $2"
                )))
                .bind(&a.frame_id)
                .bind(a.from_year)
                .fetch_one(conn)
                .await
            }
        }
    }

    /// `None` if the year has a rate already.
    pub async fn insert_rate(
        &self,
        year: i32,
        basis_points: i32,
        source: &str,
    ) -> Result<Option<RateRow>, sqlx::Error> {
        sqlx::query_as(
            "INSERT INTO indexation_rates (year, rate_basis_points, source) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING
             RETURNING year, rate_basis_points, source, revision, create_time, update_time",
        )
        .bind(year)
        .bind(basis_points)
        .bind(source)
        .fetch_optional(&self.pool)
        .await
    }

    /// Frames whose period holds `day`.
    pub async fn frames_in_period(
        &self,
        conn: &mut PgConnection,
        day: NaiveDate,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT id FROM frames
              WHERE period_start <= $1 AND (period_end IS NULL OR period_end >= $1) ORDER BY id",
        )
        .bind(day)
        .fetch_all(conn)
        .await
    }

    pub async fn rates(&self, conn: &mut PgConnection) -> Result<Vec<RateRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT year, rate_basis_points, source, revision, create_time, update_time
               FROM indexation_rates ORDER BY year",
        )
        .fetch_all(conn)
        .await
    }

    /// Adds an entry's cost to its month (in the entry's transaction).
    #[allow(clippy::too_many_arguments)]
    pub async fn add_cost(
        &self,
        conn: &mut PgConnection,
        municipality: &str,
        unit: &str,
        day: NaiveDate,
        category: &str,
        cost_units: i64,
        minutes: i32,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO cost_by_month (municipality, unit, month, category, cost_units, minutes)
             VALUES ($1, $2, date_trunc('month', $3::date)::date, $4, $5, $6)
             ON CONFLICT (municipality, month, unit, category) DO UPDATE
                SET cost_units = cost_by_month.cost_units + EXCLUDED.cost_units,
                    minutes = cost_by_month.minutes + EXCLUDED.minutes",
        )
        .bind(municipality)
        .bind(unit)
        .bind(day)
        .bind(category)
        .bind(cost_units)
        .bind(i64::from(minutes))
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Spent in `municipalities` (and `units`, unless empty) between two days' months.
    pub async fn spend(
        &self,
        conn: &mut PgConnection,
        municipalities: &[String],
        units: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<SpendRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT municipality, month, category, sum(cost_units)::bigint AS cost_units,
                    sum(minutes)::bigint AS minutes
               FROM cost_by_month
              WHERE municipality = ANY ($1) AND (cardinality($2::text[]) = 0 OR unit = ANY ($2))
                AND month BETWEEN date_trunc('month', $3::date) AND $4
              GROUP BY municipality, month, category ORDER BY month, municipality, category",
        )
        .bind(municipalities)
        .bind(units)
        .bind(from)
        .bind(to)
        .fetch_all(conn)
        .await
    }

    /// Active assignments in the frame's area with the days they still run after `as_of` up
    /// to `last`, and their rate on the next day.
    pub async fn forecast(
        &self,
        conn: &mut PgConnection,
        municipalities: &[String],
        units: &[String],
        as_of: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<ForecastRow>, sqlx::Error> {
        // Summed here, not row by row in the service: a national frame has ~100,000 active
        // assignments but a few hundred (municipality, employment, rate) groups.
        sqlx::query_as(
            "SELECT municipality, employment, rate_ore,
                    sum(minutes_per_week::bigint * days)::bigint AS minute_days,
                    count(*)::bigint AS assignments
               FROM (SELECT a.municipality, a.minutes_per_week, a.employment,
                            greatest(0, least($4::date, coalesce(a.end_date, $4::date),
                                              coalesce(g.end_date, g.expected_end_date, $4::date))
                                        - greatest($3::date, a.start_date - 1))::bigint AS days,
                            CASE WHEN a.employment = 'PROVIDER' THEN a.agreed_hourly_ore
                                 ELSE (SELECT r.hourly_ore FROM person_rates r
                                        WHERE r.unit = a.unit AND r.person_id = a.contact_person_id
                                          AND r.valid_from <= greatest($3::date + 1, a.start_date)
                                          AND (r.valid_to IS NULL
                                               OR r.valid_to >= greatest($3::date + 1, a.start_date))
                                        ORDER BY r.valid_from DESC LIMIT 1)
                            END AS rate_ore
                       FROM assignments a
                       LEFT JOIN grants g ON g.municipality = a.municipality AND g.id = a.grant_id
                      WHERE a.municipality = ANY ($1)
                        AND (cardinality($2::text[]) = 0 OR a.unit = ANY ($2))
                        AND (a.end_date IS NULL OR a.end_date > $3)) AS active
              GROUP BY municipality, employment, rate_ore",
        )
        .bind(municipalities)
        .bind(units)
        .bind(as_of)
        .bind(last)
        .fetch_all(conn)
        .await
    }

    /// Records that the frame's year passed its threshold; `true` the first time.
    pub async fn threshold_passed(
        &self,
        conn: &mut PgConnection,
        frame: &str,
        year: i32,
    ) -> Result<bool, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO frame_thresholds (frame_id, year) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(frame)
        .bind(year)
        .execute(conn)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }
}
