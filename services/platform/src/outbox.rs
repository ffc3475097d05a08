//! The transactional outbox (DOMAIN.md §8): a service writes its events in the same transaction
//! as the change they describe; the sequencer gives them the feed's gap-free order; the feed
//! reads them by sequence.
//!
//! The gap problem and its answer: a sequence number taken at insert becomes visible only when
//! its transaction commits, and transactions commit out of order, so "after my cursor" can
//! miss a row forever. Here writers take no number. The sequencer numbers rows only after they
//! have committed: one statement, under a transaction-level advisory lock so that sequencers
//! (tasks, replicas) take turns, continuing from the highest number given out. Each turn sees
//! every earlier turn's numbers (it starts after the previous one committed), so numbers become
//! visible in increasing order without gaps, and a transaction that commits late gets a later
//! number instead of an old one behind the cursor. Writers pay nothing; an event waits only
//! for the next turn of the sequencer (woken by NOTIFY at commit).

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use sqlx::{PgConnection, PgExecutor, PgPool};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Serialises sequencers of one schema (the schema name is hashed into the key).
const SEQUENCER_LOCK: &str = "kontakt-outbox-sequencer";
/// Rows numbered per statement; the sequencer loops until none are ready.
const SEQUENCE_BATCH: i64 = 5_000;

/// An event to publish: the payload is the encoded protobuf message named by `type`.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// Full protobuf message name, e.g. `kontakt.referral.v1.GrantApproved`.
    pub r#type: String,
    pub municipality: Option<String>,
    /// Resource name the event is about.
    pub subject: String,
    pub payload: Vec<u8>,
}

impl NewEvent {
    pub fn new<M: prost::Name>(
        message: &M,
        municipality: Option<String>,
        subject: impl Into<String>,
    ) -> Self {
        Self {
            r#type: M::full_name(),
            municipality,
            subject: subject.into(),
            payload: prost::Message::encode_to_vec(message),
        }
    }
}

/// A published event as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredEvent {
    pub sequence: i64,
    pub event_id: uuid::Uuid,
    pub r#type: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub municipality: Option<String>,
    pub subject: String,
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    pub payload: Vec<u8>,
}

/// The channel writers notify on commit, so feeds wake up (the sequence stays the truth).
pub fn channel(schema: &str) -> String {
    format!("kontakt_outbox_{schema}")
}

/// Writes `event` in the caller's transaction, with the current trace context, and asks the
/// feed to wake up once the transaction commits.
pub async fn write(
    tx: &mut PgConnection,
    schema: &str,
    event: &NewEvent,
) -> Result<uuid::Uuid, sqlx::Error> {
    let mut carrier = std::collections::HashMap::new();
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    let event_id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO outbox (event_id, type, municipality, subject, traceparent, tracestate, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event_id)
    .bind(&event.r#type)
    .bind(&event.municipality)
    .bind(&event.subject)
    .bind(carrier.get("traceparent"))
    .bind(carrier.get("tracestate"))
    .bind(&event.payload)
    .execute(&mut *tx)
    .await?;
    // Delivered only if and when the transaction commits.
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(channel(schema))
        .execute(&mut *tx)
        .await?;
    Ok(event_id)
}

/// Numbers every committed row that has no number yet; returns how many. Safe to call from any
/// number of tasks and replicas at once: they take turns.
pub async fn sequence(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let mut tx = pool.begin().await?;
        // Transaction-level: released at commit, also if this task is cancelled.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || current_schema(), 0))")
            .bind(SEQUENCER_LOCK)
            .execute(&mut *tx)
            .await?;
        let numbered = number_ready_rows(&mut *tx).await?;
        tx.commit().await?;
        total += numbered;
        if numbered < SEQUENCE_BATCH as u64 {
            return Ok(total);
        }
    }
}

async fn number_ready_rows<'e>(executor: impl PgExecutor<'e>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "WITH ready AS (
             SELECT id, row_number() OVER (ORDER BY id) AS n
               FROM outbox
              WHERE sequence IS NULL
              ORDER BY id
              LIMIT $1
         ), base AS (
             SELECT coalesce(max(sequence), 0) AS last FROM outbox
         )
         UPDATE outbox o
            SET sequence = base.last + ready.n
           FROM ready, base
          WHERE o.id = ready.id",
    )
    .bind(SEQUENCE_BATCH)
    .execute(executor)
    .await?;
    Ok(done.rows_affected())
}

/// The highest sequence given out so far (0 before the first).
pub async fn last_sequence(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT coalesce(max(sequence), 0) FROM outbox")
        .fetch_one(pool)
        .await
}

/// Published events with `after < sequence <= up_to`, in order, optionally only of some types
/// and of some municipalities.
pub async fn read_range(
    pool: &PgPool,
    after: i64,
    up_to: i64,
    types: &[String],
    municipalities: Option<&[String]>,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT sequence, event_id, type, occurred_at, municipality, subject, traceparent, tracestate, payload
           FROM outbox
          WHERE sequence > $1 AND sequence <= $2
            AND (cardinality($3::text[]) = 0 OR type = ANY($3))
            AND ($4::text[] IS NULL OR municipality = ANY($4))
          ORDER BY sequence
          LIMIT $5",
    )
    .bind(after)
    .bind(up_to)
    .bind(types)
    .bind(municipalities)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Records that `subscriber` asked for the events after `after`: everything up to it is applied
/// by that subscriber for good, so pruning may pass it (see [`prune_batch`]). Only ever moves
/// forward: the replicas of one consumer share its cursor, so the highest point any of them
/// asked from is one the consumer has passed.
pub async fn record_subscriber(
    pool: &PgPool,
    subscriber: &str,
    after: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO feed_subscribers (subscriber, after_sequence) VALUES ($1, $2)
         ON CONFLICT (subscriber) DO UPDATE
            SET after_sequence = greatest(feed_subscribers.after_sequence, excluded.after_sequence),
                last_seen_at = now()",
    )
    .bind(subscriber)
    .bind(after)
    .execute(pool)
    .await
    .map(drop)
}

/// The lowest sequence still in the outbox (`None` while it is empty). Numbers start at 1 and
/// have no gaps, so a higher one means the events before it were pruned.
pub async fn first_sequence(pool: &PgPool) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT min(sequence) FROM outbox")
        .fetch_one(pool)
        .await
}

/// What one pruning statement did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// The oldest rows within the bound it looked at (at most the batch size).
    pub looked_at: u64,
    pub removed: u64,
}

/// Removes, among the `batch` lowest-numbered events, those every known subscriber has passed
/// and that occurred before `before`. Never the newest event (the sequencer continues from the
/// highest number given out) and never an unnumbered one; with no known subscriber, nothing.
///
/// Why this shape: the sequence index gives the oldest events first, so one statement touches
/// at most `batch` rows and never scans the young part of the table; events are numbered in
/// about the order they occur, so once a batch holds a young event the old ones are gone.
pub async fn prune_batch(
    conn: &mut PgConnection,
    before: chrono::DateTime<chrono::Utc>,
    batch: i64,
) -> Result<Pruned, sqlx::Error> {
    let (looked_at, removed): (i64, i64) = sqlx::query_as(
        "WITH bound AS (
             SELECT least(
                        (SELECT coalesce(min(after_sequence), 0) FROM feed_subscribers),
                        (SELECT max(sequence) - 1 FROM outbox)
                    ) AS through
         ), oldest AS (
             SELECT o.id, o.occurred_at
               FROM outbox o, bound
              WHERE o.sequence <= bound.through
              ORDER BY o.sequence
              LIMIT $2
         ), gone AS (
             DELETE FROM outbox
              WHERE id IN (SELECT id FROM oldest WHERE occurred_at < $1)
             RETURNING 1
         )
         SELECT (SELECT count(*) FROM oldest), (SELECT count(*) FROM gone)",
    )
    .bind(before)
    .bind(batch)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Pruned {
        looked_at: looked_at as u64,
        removed: removed as u64,
    })
}
