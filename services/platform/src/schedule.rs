//! Periodic jobs that stay correct with several replicas running (Kubernetes runs two or
//! more): each run takes a transaction-scoped PostgreSQL advisory lock named after the job, so
//! one replica runs it at a time and the others skip that tick. A job records what it did in
//! the same transaction (e.g. "this warning was published"), so even a run cut off half-way
//! leaves nothing done twice: its transaction rolls back and the next run does it again.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};

/// A periodic job.
#[tonic::async_trait]
pub trait Job: Send + Sync {
    /// Stable name; the advisory lock is derived from it.
    fn name(&self) -> &'static str;
    /// Does one round of work in `tx` (committed when it returns `Ok`); returns how many
    /// things it did, for the log.
    async fn run(&self, tx: &mut PgConnection) -> Result<usize, sqlx::Error>;
}

/// One run: `Some(n)` when this replica held the lock and the job did `n` things, `None` when
/// another replica was running it.
pub async fn run_once(pool: &PgPool, job: &dyn Job) -> Result<Option<usize>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let held: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("kontakt.schedule/{}", job.name()))
            .fetch_one(&mut *tx)
            .await?;
    if !held {
        return Ok(None);
    }
    let done = job.run(&mut tx).await?;
    tx.commit().await?;
    Ok(Some(done))
}

/// Runs `job` every `interval` in the background (the first run one interval after start);
/// a zero interval switches it off. Errors are logged and retried on the next tick.
pub fn every(pool: PgPool, interval: Duration, job: Arc<dyn Job>) {
    if interval.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match run_once(&pool, job.as_ref()).await {
                Ok(Some(done)) if done > 0 => {
                    tracing::info!(job = job.name(), done, "scheduled job ran");
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(job = job.name(), error = %err, "scheduled job failed; retrying next tick")
                }
            }
        }
    });
}
