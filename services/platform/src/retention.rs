//! Retention of what grows without bound (issue 27, item 7): the outbox, once every known
//! subscriber of the feed has passed an event and it is older than `--outbox-retention`, and
//! the access log, older than `--access-log-retention`. Both are pruned on the scheduler's
//! ticks by every service over its own schema.
//!
//! Each batch (at most [`BATCH`] rows, oldest first by an index) is one scheduled job run
//! ([`schedule::run_once`]): its own short transaction under the job's advisory lock. So the
//! hot path is never blocked (inserts touch new rows only, the feed reads by MVCC, and no
//! transaction holds many row locks or long-lived snapshots), two replicas never prune at once
//! (the one that finds the lock taken skips the tick), and a run cut short leaves only fewer
//! rows removed. After each full batch the job pauses as long as the batch took, so a large
//! backlog takes at most half of the database's time. "Older than" is measured by the database's clock, the clock that stamped the
//! rows (`occurred_at`, `at`).

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;

use crate::config::ServerSettings;
use crate::{outbox, schedule};

/// Rows removed per statement: small enough that each transaction is short, large enough that
/// millions go in minutes.
pub const BATCH: i64 = 10_000;

/// What grows: the outbox or the access log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    Outbox,
    AccessLog,
}

impl Table {
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Outbox => "outbox",
            Table::AccessLog => "audit_log",
        }
    }
}

/// One run over a schema: how many rows each table lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub outbox: u64,
    pub access_log: u64,
}

/// One batch of one table, as a scheduled job (its lock is per schema and table).
struct PruneBatch {
    name: &'static str,
    table: Table,
    before: chrono::DateTime<chrono::Utc>,
    batch: i64,
}

#[tonic::async_trait]
impl schedule::Job for PruneBatch {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn run(&self, tx: &mut PgConnection) -> Result<usize, sqlx::Error> {
        let removed = match self.table {
            Table::Outbox => {
                outbox::prune_batch(tx, self.before, self.batch)
                    .await?
                    .removed
            }
            Table::AccessLog => {
                let removed: i64 = sqlx::query_scalar("SELECT prune_audit_log($1, $2::integer)")
                    .bind(self.before)
                    .bind(self.batch)
                    .fetch_one(&mut *tx)
                    .await?;
                removed as u64
            }
        };
        Ok(removed as usize)
    }
}

/// The job's lock name, e.g. `retention/referral/outbox`: made once per schema and table, so
/// the four services sharing a database do not take turns with each other.
fn job_name(schema: &str, table: Table) -> &'static str {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex, PoisonError};
    static NAMES: LazyLock<Mutex<HashMap<(String, Table), &'static str>>> =
        LazyLock::new(Mutex::default);
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    names.entry((schema.to_owned(), table)).or_insert_with(|| {
        Box::leak(format!("retention/{schema}/{}", table.as_str()).into_boxed_str())
    })
}

/// Prunes `table` of `schema` (the pool's) of rows older than `retention`, batch after batch
/// until none is left; returns how many this replica removed (0 when another replica holds the
/// job). The outbox keeps, besides, every event a known subscriber has not passed.
pub async fn prune(
    pool: &PgPool,
    schema: &str,
    table: Table,
    retention: Duration,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let now: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT now()").fetch_one(pool).await?;
    let Some(before) = chrono::Duration::from_std(retention)
        .ok()
        .and_then(|r| now.checked_sub_signed(r))
    else {
        // A retention longer than the calendar: nothing is that old.
        return Ok(0);
    };
    let job = PruneBatch {
        name: job_name(schema, table),
        table,
        before,
        batch,
    };
    let mut total = 0;
    loop {
        let started = tokio::time::Instant::now();
        let Some(removed) = schedule::run_once(pool, &job).await? else {
            break;
        };
        total += removed as u64;
        if (removed as i64) < batch {
            break;
        }
        // Leaves the database as much time again for the hot path: a backlog of millions goes
        // at half the speed, but the writers' latency barely moves (README, Reliability).
        tokio::time::sleep(started.elapsed()).await;
    }
    if total > 0 {
        crate::metrics::retention_pruned(table.as_str(), total);
        tracing::info!(
            schema,
            table = table.as_str(),
            removed = total,
            %before,
            "pruned rows past their retention"
        );
    }
    Ok(total)
}

/// One run over both tables with the retention settings.
pub async fn run(
    pool: &PgPool,
    schema: &str,
    settings: &ServerSettings,
) -> Result<Pruned, sqlx::Error> {
    Ok(Pruned {
        outbox: prune(
            pool,
            schema,
            Table::Outbox,
            settings.outbox_retention,
            BATCH,
        )
        .await?,
        access_log: prune(
            pool,
            schema,
            Table::AccessLog,
            settings.access_log_retention,
            BATCH,
        )
        .await?,
    })
}

/// Runs [`run`] every `scheduler_interval` (off when it is zero) once `ready` (the schema is
/// migrated), until `stop`.
pub fn spawn(
    pool: PgPool,
    schema: &'static str,
    settings: &ServerSettings,
    ready: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let interval = settings.scheduler_interval;
    if interval.is_zero() {
        return;
    }
    let settings = settings.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if !*ready.borrow() {
                continue;
            }
            if let Err(err) = run(&pool, schema, &settings).await {
                tracing::warn!(schema, error = %err, "pruning past retention failed; retrying next tick");
            }
        }
    });
}
