//! The data at national scale, made inside PostgreSQL (`INSERT … SELECT` over
//! `generate_series`, in batches with a progress bar) from templates that the demo made through
//! the API: every cloned row has the shape the services wrote themselves, with new ids.
//!
//! Shape: 98 municipalities weighted roughly by population (Copenhagen about a tenth); each
//! grant has its child, case, approved referral and version in referral, a matching request
//! and (but for a few left open) an assignment to one of the municipality's contact persons in
//! matching and time & cost, and every assignment gets its share of the time entries, with the
//! week and month aggregates kept as the service keeps them; every contact person has a
//! submitted timesheet waiting for approval.

use anyhow::Context as _;
use kontakt::progress::Progress;
use sqlx::PgPool;

/// How much data.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub contact_persons: i64,
    pub grants: i64,
    pub time_entries: i64,
    /// Entries loaded before the first budget measurement.
    pub first_entries: i64,
    /// Requests left open in the largest municipality, for proposals.
    pub open_requests: i64,
    /// Submitted referrals waiting for a decision, for the propagation workload.
    pub pending_referrals: i64,
}

impl Size {
    pub const FULL: Self = Self {
        contact_persons: 20_000,
        grants: 100_000,
        time_entries: 1_000_000,
        first_entries: 10_000,
        open_requests: 400,
        pending_referrals: 3_000,
    };
    pub const QUICK: Self = Self {
        contact_persons: 20_000,
        grants: 100_000,
        time_entries: 200_000,
        first_entries: 10_000,
        open_requests: 200,
        pending_referrals: 1_000,
    };
}

/// The 98 municipalities (code, rough weight by population; Copenhagen first, the largest).
pub const MUNICIPALITIES: [(&str, i64); 98] = [
    ("101", 70),
    ("147", 10),
    ("151", 5),
    ("153", 4),
    ("155", 2),
    ("157", 8),
    ("159", 7),
    ("161", 2),
    ("163", 3),
    ("165", 3),
    ("167", 5),
    ("169", 5),
    ("173", 6),
    ("175", 4),
    ("183", 2),
    ("185", 4),
    ("187", 2),
    ("190", 4),
    ("201", 3),
    ("210", 4),
    ("217", 6),
    ("219", 5),
    ("223", 3),
    ("230", 6),
    ("240", 4),
    ("250", 5),
    ("253", 5),
    ("259", 6),
    ("260", 3),
    ("265", 9),
    ("269", 2),
    ("270", 4),
    ("306", 3),
    ("316", 7),
    ("320", 4),
    ("326", 5),
    ("329", 4),
    ("330", 8),
    ("336", 2),
    ("340", 3),
    ("350", 3),
    ("360", 4),
    ("370", 8),
    ("376", 6),
    ("390", 5),
    ("400", 4),
    ("410", 4),
    ("420", 4),
    ("430", 5),
    ("440", 2),
    ("450", 3),
    ("461", 21),
    ("479", 6),
    ("480", 3),
    ("482", 1),
    ("492", 1),
    ("510", 6),
    ("530", 3),
    ("540", 7),
    ("550", 4),
    ("561", 12),
    ("563", 1),
    ("573", 5),
    ("575", 4),
    ("580", 6),
    ("607", 5),
    ("615", 9),
    ("621", 9),
    ("630", 12),
    ("657", 9),
    ("661", 6),
    ("665", 2),
    ("671", 2),
    ("706", 4),
    ("707", 4),
    ("710", 5),
    ("727", 2),
    ("730", 10),
    ("740", 9),
    ("741", 1),
    ("746", 6),
    ("751", 36),
    ("756", 4),
    ("760", 6),
    ("766", 5),
    ("773", 2),
    ("779", 5),
    ("787", 4),
    ("791", 10),
    ("810", 4),
    ("813", 6),
    ("820", 4),
    ("825", 1),
    ("840", 3),
    ("846", 4),
    ("849", 4),
    ("851", 22),
    ("860", 6),
];

/// The largest municipality: where lists are longest and candidate pools largest.
pub const LARGEST: &str = "101";
/// Where the propagation workload decides referrals (the counsellor decides there, R-RV-…).
pub const DECIDING: &str = "329";

/// Splits `total` over the municipalities by weight: (code, first slot, count).
fn split(total: i64) -> Vec<(&'static str, i64, i64)> {
    let weights: i64 = MUNICIPALITIES.iter().map(|(_, w)| w).sum();
    let mut first = 1;
    let mut out = Vec::with_capacity(MUNICIPALITIES.len());
    for (i, (code, weight)) in MUNICIPALITIES.iter().enumerate() {
        let count = if i + 1 == MUNICIPALITIES.len() {
            total - first + 1
        } else {
            (total * weight / weights).max(1)
        };
        out.push((*code, first, count));
        first += count;
    }
    out
}

/// Ids of the rows the demo made that the data is cloned from.
struct Templates {
    /// An active, assigned grant (RIN-301 in Ringsted).
    grant: String,
    /// Its assignment.
    assignment: String,
    /// A submitted referral waiting for its decision (RIN-303 in Ringsted).
    pending_referral: String,
}

async fn templates(pool: &PgPool) -> anyhow::Result<Templates> {
    let grant: String = sqlx::query_scalar(
        "SELECT g.id FROM referral.grants g
           JOIN referral.cases c ON c.municipality = g.municipality AND c.id = g.case_id
          WHERE c.external_id = 'RIN-301'",
    )
    .fetch_one(pool)
    .await
    .context("the demo's grant RIN-301 is missing")?;
    let assignment = sqlx::query_scalar(
        "SELECT id FROM matching.assignments WHERE municipality = '329' AND request = $1",
    )
    .bind(&grant)
    .fetch_one(pool)
    .await
    .context("the demo's assignment of RIN-301 is missing")?;
    let pending_referral = sqlx::query_scalar(
        "SELECT r.id FROM referral.referrals r
           JOIN referral.cases c ON c.municipality = r.municipality AND c.id = r.case_id
          WHERE c.external_id = 'RIN-303' AND r.state = 'SUBMITTED'",
    )
    .fetch_one(pool)
    .await
    .context("the demo's submitted referral RIN-303 is missing")?;
    Ok(Templates {
        grant,
        assignment,
        pending_referral,
    })
}

/// Copies the template row of `table` (`schema.name`, chosen by `template`) once per row of
/// `source` (a FROM item with alias `s`), with `overrides` as (column, SQL expression over `s`
/// and the template `t`); every other column is the template's. Returns the rows inserted.
async fn clone_rows(
    pool: &PgPool,
    table: &str,
    template: &str,
    source: &str,
    overrides: &[(&str, &str)],
) -> anyhow::Result<u64> {
    let (schema, name) = table.split_once('.').context("schema.table")?;
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
          WHERE table_schema = $1 AND table_name = $2 AND is_generated = 'NEVER'
          ORDER BY ordinal_position",
    )
    .bind(schema)
    .bind(name)
    .fetch_all(pool)
    .await?;
    anyhow::ensure!(!columns.is_empty(), "no table {table}");
    for (column, _) in overrides {
        anyhow::ensure!(
            columns.iter().any(|c| c == column),
            "{table} has no column {column}"
        );
    }
    let values: Vec<String> = columns
        .iter()
        .map(|c| {
            overrides
                .iter()
                .find(|(o, _)| o == c)
                .map_or_else(|| format!("t.{c}"), |(_, e)| (*e).to_owned())
        })
        .collect();
    // Every piece is one of this module's constants, never input.
    let sql = format!(
        "INSERT INTO {table} ({}) SELECT {} FROM {source}
           CROSS JOIN (SELECT * FROM {table} WHERE {template} LIMIT 1) t",
        columns.join(", "),
        values.join(", ")
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .with_context(|| format!("cloning {table}"))?;
    Ok(done.rows_affected())
}

async fn execute(pool: &PgPool, sql: &str) -> anyhow::Result<u64> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .with_context(|| sql.lines().next().unwrap_or_default().to_owned())?
        .rows_affected())
}

/// What the workloads need to know about the loaded data.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Grants in the largest municipality.
    pub largest_grants: i64,
    /// Assignments (slot numbers 1..=assignments in `bench.assigned`).
    pub assignments: i64,
}

/// Everything but the time entries after the first `size.first_entries`.
pub async fn load_base(pool: &PgPool, size: Size) -> anyhow::Result<Loaded> {
    let t = templates(pool).await?;
    let mut progress = Progress::new("Data at scale", 11);
    execute(pool, "CREATE SCHEMA bench").await?;
    execute(
        pool,
        "CREATE TABLE bench.municipalities (code text PRIMARY KEY, grant_first bigint, grants bigint,
                                             cp_first bigint, cps bigint, capital boolean)",
    )
    .await?;
    let grant_split = split(size.grants);
    let cp_split = split(size.contact_persons);
    for ((code, grant_first, grants), (_, cp_first, cps)) in grant_split.iter().zip(&cp_split) {
        // Region Hovedstaden: its contact persons also take arrangements in Copenhagen.
        let capital = code.as_bytes()[0] <= b'2' || *code == "400";
        sqlx::query("INSERT INTO bench.municipalities VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(code)
            .bind(grant_first)
            .bind(grants)
            .bind(cp_first)
            .bind(cps)
            .bind(capital)
            .execute(pool)
            .await?;
    }
    execute(
        pool,
        "CREATE TABLE bench.grants AS
         SELECT m.grant_first + r AS i, m.code AS municipality, r AS rank,
                'cp-' || (m.cp_first + r % m.cps) AS contact_person
           FROM bench.municipalities m, generate_series(0, m.grants - 1) r",
    )
    .await?;
    execute(pool, "ALTER TABLE bench.grants ADD PRIMARY KEY (i)").await?;
    // The open requests are the largest municipality's first grants; the rest are assigned.
    let open = size.open_requests;
    execute(
        pool,
        &format!(
            "CREATE TABLE bench.assigned AS
             SELECT row_number() OVER (ORDER BY i) AS n, g.*
               FROM bench.grants g WHERE NOT (municipality = '{LARGEST}' AND rank < {open})"
        ),
    )
    .await?;
    execute(pool, "ALTER TABLE bench.assigned ADD PRIMARY KEY (n)").await?;
    progress.step("municipalities and slots");

    // Contact persons: three in four on staff, one in four hourly; a few competences each.
    execute(
        pool,
        &format!(
            "INSERT INTO matching.contact_persons
               (unit, id, display_name, employment, competences, gender, municipalities,
                weekly_capacity_minutes, duty_kinds, duty_minutes, duty_descriptions,
                other_duties_minutes, certificate_issue, certificate_result, certificate_expiry, state)
             SELECT 'bench', 'cp-' || j, 'Kontaktperson ' || j,
                    CASE WHEN j % 4 = 0 THEN 'HOURLY' ELSE 'STAFF' END,
                    ARRAY[c[1 + j % 20], c[1 + (j / 20) % 20], c[1 + (j / 400) % 20]],
                    1 + j % 2,
                    CASE WHEN m.capital AND m.code <> '{LARGEST}' THEN ARRAY[m.code, '{LARGEST}'] ELSE ARRAY[m.code] END,
                    CASE WHEN j % 4 = 0 THEN 1200 ELSE 1800 END, '{{}}', '{{}}', '{{}}', 0,
                    date '2025-01-15', 1, date '2028-01-15', 'ACTIVE'
               FROM bench.municipalities m, generate_series(m.cp_first, m.cp_first + m.cps - 1) j,
                    (SELECT array_agg(code ORDER BY code) AS c FROM matching.competences) comp"
        ),
    )
    .await?;
    for table in ["matching.contact_person_rates", "timecost.person_rates"] {
        execute(
            pool,
            &format!(
                "INSERT INTO {table} (unit, person_id, valid_from, hourly_ore)
                 SELECT 'bench', 'cp-' || j, date '2026-01-01', CASE WHEN j % 4 = 0 THEN 19500 ELSE 31000 END
                   FROM generate_series(1, {}) j",
                size.contact_persons
            ),
        )
        .await?;
    }
    progress.step(&format!("{} contact persons", size.contact_persons));

    let g = &t.grant;
    let from_grants = "bench.grants s";
    let spread = "t.create_time - s.i * interval '1 second'";
    clone_rows(
        pool,
        "referral.persons",
        &format!("id = (SELECT person_id FROM referral.grants WHERE id = '{g}')"),
        from_grants,
        &[
            ("id", "'bp-' || s.i"),
            ("municipality", "s.municipality"),
            ("display_name", "'Barn ' || s.i"),
            ("cpr_index", "sha256(('bench-' || s.i)::bytea)"),
        ],
    )
    .await?;
    clone_rows(
        pool,
        "referral.cases",
        &format!("id = (SELECT case_id FROM referral.grants WHERE id = '{g}')"),
        from_grants,
        &[
            ("id", "'bc-' || s.i"),
            ("municipality", "s.municipality"),
            ("external_id", "'B-' || s.i"),
            ("person_id", "'bp-' || s.i"),
            ("create_time", spread),
        ],
    )
    .await?;
    clone_rows(
        pool,
        "referral.referrals",
        &format!("id = (SELECT referral_id FROM referral.grants WHERE id = '{g}')"),
        from_grants,
        &[
            ("id", "'br-' || s.i"),
            ("municipality", "s.municipality"),
            ("case_id", "'bc-' || s.i"),
            ("person_id", "'bp-' || s.i"),
            ("request_id", "'bench-' || s.i"),
            ("create_time", spread),
        ],
    )
    .await?;
    progress.step("children, cases and referrals");
    clone_rows(
        pool,
        "referral.grants",
        &format!("id = '{g}'"),
        from_grants,
        &[
            ("id", "'bg-' || s.i"),
            ("municipality", "s.municipality"),
            ("referral_id", "'br-' || s.i"),
            ("case_id", "'bc-' || s.i"),
            ("person_id", "'bp-' || s.i"),
            ("create_time", spread),
        ],
    )
    .await?;
    clone_rows(
        pool,
        "referral.grant_versions",
        &format!("grant_id = '{g}'"),
        from_grants,
        &[
            ("grant_id", "'bg-' || s.i"),
            ("municipality", "s.municipality"),
        ],
    )
    .await?;
    progress.step(&format!("{} grants", size.grants));

    let request_name = "'municipalities/' || s.municipality";
    clone_rows(
        pool,
        "matching.matching_requests",
        &format!("id = '{g}'"),
        from_grants,
        &[
            ("id", "'bg-' || s.i"),
            ("municipality", "s.municipality"),
            ("person", &format!("{request_name} || '/persons/bp-' || s.i")),
            ("grant_version", &format!("{request_name} || '/grants/bg-' || s.i || '/versions/' || split_part(t.grant_version, '/', 6)")),
            ("create_time", spread),
        ],
    )
    .await?;
    execute(
        pool,
        &format!(
            "UPDATE matching.matching_requests SET state = 'OPEN', assignment_id = NULL
              WHERE municipality = '{LARGEST}' AND id IN
                    (SELECT 'bg-' || i FROM bench.grants WHERE municipality = '{LARGEST}' AND rank < {open})"
        ),
    )
    .await?;
    execute(
        pool,
        "UPDATE matching.matching_requests r SET assignment_id = 'ba-' || a.i
           FROM bench.assigned a WHERE r.municipality = a.municipality AND r.id = 'bg-' || a.i",
    )
    .await?;
    progress.step("matching requests");
    let a = &t.assignment;
    let from_assigned = "bench.assigned s";
    let employment =
        "CASE WHEN substr(s.contact_person, 4)::int % 4 = 0 THEN 'HOURLY' ELSE 'STAFF' END";
    clone_rows(
        pool,
        "matching.assignments",
        &format!("id = '{a}'"),
        from_assigned,
        &[
            ("id", "'ba-' || s.i"),
            ("municipality", "s.municipality"),
            ("request", "'bg-' || s.i"),
            (
                "person",
                "'municipalities/' || s.municipality || '/persons/bp-' || s.i",
            ),
            ("unit", "'bench'"),
            ("contact_person_id", "s.contact_person"),
            ("employment", employment),
            ("request_id", "'bench-' || s.i"),
            ("create_time", spread),
        ],
    )
    .await?;
    execute(
        pool,
        "UPDATE matching.contact_persons c SET booked_minutes = b.minutes
           FROM (SELECT contact_person_id, sum(minutes_per_week)::int AS minutes
                   FROM matching.assignments WHERE unit = 'bench' AND state = 'ACTIVE'
                  GROUP BY 1) b
          WHERE c.unit = 'bench' AND c.id = b.contact_person_id",
    )
    .await?;
    progress.step("assignments in matching");

    clone_rows(
        pool,
        "timecost.grants",
        &format!("id = '{g}'"),
        from_grants,
        &[
            ("id", "'bg-' || s.i"),
            ("municipality", "s.municipality"),
            (
                "person",
                "'municipalities/' || s.municipality || '/persons/bp-' || s.i",
            ),
        ],
    )
    .await?;
    clone_rows(
        pool,
        "timecost.grant_terms",
        &format!("grant_id = '{g}'"),
        from_grants,
        &[
            ("grant_id", "'bg-' || s.i"),
            ("municipality", "s.municipality"),
        ],
    )
    .await?;
    clone_rows(
        pool,
        "timecost.assignments",
        &format!("id = '{a}'"),
        from_assigned,
        &[
            ("id", "'ba-' || s.i"),
            ("municipality", "s.municipality"),
            ("grant_id", "'bg-' || s.i"),
            ("unit", "'bench'"),
            ("contact_person_id", "s.contact_person"),
            ("employment", employment),
        ],
    )
    .await?;
    progress.step("grants and assignments in time & cost");

    // Every contact person's timesheet for the month before last, submitted and waiting for a
    // coordinator: the approval queue at month's end. (Not last month: the write workload
    // registers up to 13 days back, which a submitted timesheet would refuse, R-TC-4.)
    execute(
        pool,
        &format!(
            "INSERT INTO timecost.timesheets (unit, person_id, id, period_start, period_end, state, submit_time)
             SELECT 'bench', 'cp-' || j, to_char(p.first, 'YYYY-MM-DD') || '-' || to_char(p.last, 'YYYY-MM-DD'),
                    p.first, p.last, 'SUBMITTED', now() - j * interval '10 seconds'
               FROM generate_series(1, {}) j,
                    (SELECT f::date AS first, (f + interval '1 month' - interval '1 day')::date AS last
                       FROM date_trunc('month', current_date - interval '2 months') f) p",
            size.contact_persons
        ),
    )
    .await?;
    progress.step(&format!("{} submitted timesheets", size.contact_persons));

    // The national frame: every municipality, an equal share.
    execute(
        pool,
        "INSERT INTO timecost.frames (id, display_name, base_ore, base_year, period_start, period_end,
                                      service_units, coordinator_cost_per_year_ore, threshold_basis_points)
         SELECT 'national', 'Landsramme (benchmark)', base_ore * 300, base_year, period_start, period_end,
                '{}', coordinator_cost_per_year_ore, threshold_basis_points
           FROM timecost.frames ORDER BY id LIMIT 1",
    )
    .await?;
    execute(
        pool,
        "INSERT INTO timecost.frame_shares (frame_id, municipality, numerator, denominator)
         SELECT 'national', code, 1, 98 FROM bench.municipalities",
    )
    .await?;
    progress.step("the national frame");

    // Submitted referrals in Ringsted, each with its own child and case, for decisions.
    let r = &t.pending_referral;
    let pending = format!("generate_series(1, {}) AS s(i)", size.pending_referrals);
    clone_rows(
        pool,
        "referral.persons",
        &format!("id = (SELECT person_id FROM referral.referrals WHERE id = '{r}')"),
        &pending,
        &[
            ("id", "'pp-' || s.i"),
            ("display_name", "'Barn ' || s.i"),
            ("cpr_index", "sha256(('pending-' || s.i)::bytea)"),
        ],
    )
    .await?;
    clone_rows(
        pool,
        "referral.cases",
        &format!("id = (SELECT case_id FROM referral.referrals WHERE id = '{r}')"),
        &pending,
        &[
            ("id", "'pc-' || s.i"),
            ("external_id", "'P-' || s.i"),
            ("person_id", "'pp-' || s.i"),
        ],
    )
    .await?;
    clone_rows(
        pool,
        "referral.referrals",
        &format!("id = '{r}'"),
        &pending,
        &[
            ("id", "'pr-' || s.i"),
            ("case_id", "'pc-' || s.i"),
            ("person_id", "'pp-' || s.i"),
            ("request_id", "'pending-' || s.i"),
        ],
    )
    .await?;
    clone_rows(
        pool,
        "referral.assessments",
        &format!("referral_id = '{r}'"),
        &pending,
        &[("id", "'pa-' || s.i"), ("referral_id", "'pr-' || s.i")],
    )
    .await?;
    progress.step(&format!("{} submitted referrals", size.pending_referrals));

    let assignments: i64 = sqlx::query_scalar("SELECT count(*) FROM bench.assigned")
        .fetch_one(pool)
        .await?;
    progress.finish();
    load_entries(pool, &t.assignment, 1, size.first_entries, assignments).await?;
    analyze(pool).await?;
    let largest_grants = grant_split[0].2;
    Ok(Loaded {
        largest_grants,
        assignments,
    })
}

/// Time entries `first..=last`, spread round-robin over the assignments, one a week from the
/// grant's start, with the week totals and month costs the service keeps beside them.
pub async fn load_more_entries(
    pool: &PgPool,
    first: i64,
    last: i64,
    assignments: i64,
) -> anyhow::Result<()> {
    let t = templates(pool).await?;
    load_entries(pool, &t.assignment, first, last, assignments).await?;
    analyze(pool).await
}

async fn load_entries(
    pool: &PgPool,
    template: &str,
    first: i64,
    last: i64,
    assignments: i64,
) -> anyhow::Result<()> {
    const BATCH: i64 = 100_000;
    let batches = (last - first + BATCH) / BATCH;
    let mut progress = Progress::new("Time entries", batches as usize);
    let mut from = first;
    while from <= last {
        let to = (from + BATCH - 1).min(last);
        // One statement: the entries, then their weeks and months from what was inserted.
        let sql = format!(
            "WITH s AS (
                SELECT k, a.i, a.municipality, a.contact_person,
                       t.start_date + ((k - 1) / {assignments})::int * 7 % 140 AS work_date
                  FROM generate_series({from}, {to}) k
                  JOIN bench.assigned a ON a.n = (k - 1) % {assignments} + 1
                 CROSS JOIN (SELECT start_date FROM timecost.assignments WHERE id = '{template}') t
             ), new AS (
                INSERT INTO timecost.time_entries
                    (municipality, id, assignment_id, work_date, minutes, activity_kind, counts, note,
                     unit, contact_person_id, cost_units, overrun, request_id, registered_by)
                SELECT s.municipality, 'be-' || s.k, 'ba-' || s.i, s.work_date, 60, e.activity_kind, true,
                       'samtale', 'bench', s.contact_person, e.cost_units / e.minutes * 60, false,
                       'bench-' || s.k, 'bench'
                  FROM s CROSS JOIN (SELECT activity_kind, cost_units, minutes FROM timecost.time_entries
                                      WHERE assignment_id = '{template}' AND minutes > 0 LIMIT 1) e
                RETURNING municipality, assignment_id, work_date, minutes, cost_units, contact_person_id
             ), weeks AS (
                INSERT INTO timecost.week_totals (municipality, assignment_id, week_start, counted_minutes, granted_minutes)
                SELECT municipality, assignment_id, date_trunc('week', work_date)::date, sum(minutes), 180
                  FROM new GROUP BY 1, 2, 3
                ON CONFLICT (municipality, assignment_id, week_start) DO UPDATE
                   SET counted_minutes = week_totals.counted_minutes + EXCLUDED.counted_minutes
             )
             INSERT INTO timecost.cost_by_month (municipality, unit, month, category, cost_units, minutes)
             SELECT municipality, 'bench', date_trunc('month', work_date)::date, 'CONTACT_PERSON_PAY',
                    sum(cost_units), sum(minutes)
               FROM new GROUP BY 1, 3
             ON CONFLICT (municipality, month, unit, category) DO UPDATE
                SET cost_units = cost_by_month.cost_units + EXCLUDED.cost_units,
                    minutes = cost_by_month.minutes + EXCLUDED.minutes"
        );
        execute(pool, &sql).await?;
        progress.step(&format!("{to}"));
        from = to + 1;
    }
    progress.finish();
    Ok(())
}

/// Fresh statistics, as autovacuum would have them after a day of such traffic.
async fn analyze(pool: &PgPool) -> anyhow::Result<()> {
    for schema in ["referral", "matching", "timecost"] {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = $1",
        )
        .bind(schema)
        .fetch_all(pool)
        .await?;
        for table in tables {
            execute(pool, &format!("ANALYZE {table}")).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_covers_every_slot_once_and_copenhagen_gets_a_tenth() {
        let parts = split(100_000);
        assert_eq!(parts.len(), 98);
        let mut next = 1;
        for (_, first, count) in &parts {
            assert_eq!(*first, next);
            assert!(*count >= 1);
            next += count;
        }
        assert_eq!(next, 100_001);
        assert_eq!(parts[0].0, LARGEST);
        // Page 1,000 of ten exists in the largest municipality.
        assert!(parts[0].2 > 10_000, "{}", parts[0].2);
        let mut codes: Vec<_> = MUNICIPALITIES.iter().map(|(c, _)| c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 98);
    }
}
