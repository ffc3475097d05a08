//! The consumer runtime: a service follows another service's event feed and applies each event
//! exactly once (DOMAIN.md §8).
//!
//! - **Exactly once.** The consumer's cursor is a row in its own schema (`consumer_cursors`),
//!   updated in the same transaction as the handler's effects: either both commit or neither.
//!   A batch of events is one transaction; each event runs in a savepoint of it.
//! - **Replicas.** Every replica follows the feed, but a batch first takes the cursor row
//!   `FOR UPDATE` and skips what the cursor already covers, so the replicas take turns and an
//!   event is never applied twice. Nothing else needs to coordinate them.
//! - **Reconnects.** When the producer is down or the stream breaks, the consumer waits (a
//!   jittered, growing backoff) and subscribes again after its stored cursor.
//! - **Poison events.** A handler that can never apply an event says so
//!   ([`HandleError::Reject`]): the event is recorded in `consumer_rejects`, logged, and passed
//!   over, so one bad event cannot stop a whole feed. Anything else is retried.
//! - **Observability.** Each event is handled in a span whose parent is the producing call's
//!   trace; lag (events and seconds) is an OpenTelemetry gauge and is logged while behind.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock as _;
use futures_util::StreamExt as _;
use kontakt_proto::events::v1::event_feed_service_client::EventFeedServiceClient;
use kontakt_proto::events::v1::subscribe_response::Item;
use kontakt_proto::events::v1::{Envelope, SubscribeRequest};
use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::auth::service_token::{ServiceAuth, ServiceToken};

/// Events applied in one transaction at most: whatever has already arrived, never waiting for
/// more.
const BATCH: usize = 200;
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often a consumer that is behind says so in the log.
const LAG_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Why a handler did not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Worth trying again later (the database is unavailable, a serialization conflict): the
    /// batch is rolled back and replayed after a backoff.
    #[error("retry: {0}")]
    Retry(String),
    /// This event can never be applied: it is recorded in `consumer_rejects` and passed over.
    #[error("rejected: {0}")]
    Reject(String),
}

impl HandleError {
    pub fn reject(reason: impl Into<String>) -> Self {
        HandleError::Reject(reason.into())
    }
}

impl From<sqlx::Error> for HandleError {
    /// Connection trouble and transaction conflicts pass; a statement the database refuses
    /// (a constraint, a type) will be refused again, so the event is rejected.
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db)
                if !db
                    .code()
                    .is_some_and(|c| c.starts_with("40") || c == "55P03") =>
            {
                HandleError::Reject(err.to_string())
            }
            _ => HandleError::Retry(err.to_string()),
        }
    }
}

/// Decodes the event's payload as `M`; an event that does not decode is rejected.
pub fn payload<M: prost::Message + prost::Name + Default>(
    event: &Envelope,
) -> Result<M, HandleError> {
    let any = event
        .payload
        .as_ref()
        .ok_or_else(|| HandleError::reject("the event has no payload"))?;
    any.to_msg()
        .map_err(|err| HandleError::reject(format!("payload is not a {}: {err}", M::full_name())))
}

/// A date field of an event; an event without a valid one is rejected (it never will have one).
pub fn event_date(
    value: Option<&kontakt_proto::common::v1::Date>,
    field: &str,
) -> Result<chrono::NaiveDate, HandleError> {
    value
        .and_then(|d| d.to_naive())
        .ok_or_else(|| HandleError::reject(format!("the event has no valid {field}")))
}

/// What a consuming service does with each event.
#[tonic::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Applies `event` on `tx`, the consumer's transaction: its effects (outbox events
    /// included) commit together with the cursor, or not at all.
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError>;
}

/// One subscription of a consuming service to a producer's feed.
pub struct Consumer {
    /// Names the cursor; unique within the consuming service (e.g. `grants-from-referral`).
    pub name: &'static str,
    /// The producer's channel (lazily connected; TLS for an `https://` endpoint).
    pub producer: Channel,
    /// The credentials this service presents to the producer.
    pub token: Arc<ServiceToken>,
    /// The event types to receive (full protobuf names); empty for all.
    pub types: Vec<String>,
    pub handler: Arc<dyn Handler>,
}

/// The producer's endpoint, with timeouts and HTTP/2 keep-alive so that a vanished producer is
/// noticed within seconds rather than when TCP gives up.
pub fn endpoint(url: &str) -> Result<Endpoint, String> {
    Endpoint::from_shared(url.to_owned())
        .map(|e| {
            e.connect_timeout(Duration::from_secs(5))
                .http2_keep_alive_interval(Duration::from_secs(15))
                .keep_alive_timeout(Duration::from_secs(10))
                .keep_alive_while_idle(true)
        })
        .map_err(|err| format!("`{url}` is not a usable endpoint: {err}"))
}

/// Where a consumer stands.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ConsumerStatus {
    /// The last sequence applied (or passed over by the type filter).
    pub cursor: i64,
    /// The newest sequence the producer has said it published; 0 until it has said.
    pub head: i64,
    /// Whether a subscription is open now.
    pub connected: bool,
    /// Age of the last event applied while behind; 0 once caught up.
    pub lag_seconds: f64,
}

impl ConsumerStatus {
    pub fn lag_events(&self) -> i64 {
        (self.head - self.cursor).max(0)
    }

    pub fn caught_up(&self) -> bool {
        self.connected && self.cursor >= self.head
    }
}

/// A consumer running in the background.
pub struct RunningConsumer {
    pub name: &'static str,
    status: watch::Receiver<ConsumerStatus>,
    task: JoinHandle<()>,
}

impl RunningConsumer {
    pub fn status(&self) -> watch::Receiver<ConsumerStatus> {
        self.status.clone()
    }

    /// Ends the task at once, as a killed process would: an open batch is rolled back.
    pub fn kill(self) {
        self.task.abort();
    }

    /// Waits for the task to end (after `stop`).
    pub async fn join(self) {
        if let Err(err) = self.task.await
            && err.is_panic()
        {
            tracing::error!(consumer = self.name, "the consumer task panicked");
        }
    }
}

/// Starts `consumer` on `pool` (the consuming service's schema) once `ready` turns true (its
/// migrations are applied); it stops between batches when `stop` turns true.
pub fn spawn(
    pool: PgPool,
    consumer: Consumer,
    mut ready: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> RunningConsumer {
    let name = consumer.name;
    let (status, watched) = watch::channel(ConsumerStatus::default());
    let task = tokio::spawn(async move {
        tokio::select! {
            ready = ready.wait_for(|r| *r) => if ready.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        let client = EventFeedServiceClient::with_interceptor(
            consumer.producer.clone(),
            ServiceAuth(consumer.token.clone()),
        );
        Follower {
            pool,
            consumer,
            client,
            status,
            stop,
            lag: LagReport::new(name),
        }
        .run()
        .await;
    });
    RunningConsumer {
        name,
        status: watched,
        task,
    }
}

type FeedClient = EventFeedServiceClient<InterceptedService<Channel, ServiceAuth>>;

struct Follower {
    pool: PgPool,
    consumer: Consumer,
    client: FeedClient,
    status: watch::Sender<ConsumerStatus>,
    stop: watch::Receiver<bool>,
    lag: LagReport,
}

/// Why a subscription ended.
enum Ended {
    Stopped,
    Failed(String),
}

impl Follower {
    async fn run(mut self) {
        let name = self.consumer.name;
        let mut backoff = Backoff::default();
        loop {
            match self.follow(&mut backoff).await {
                Ended::Stopped => return,
                Ended::Failed(reason) => {
                    self.status.send_modify(|s| s.connected = false);
                    let wait = backoff.next();
                    tracing::warn!(consumer = name, %reason, retry_in = ?wait, "event consumer interrupted");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        _ = self.stop.wait_for(|s| *s) => return,
                    }
                }
            }
        }
    }

    /// One subscription: from the stored cursor until it breaks or the service stops.
    async fn follow(&mut self, backoff: &mut Backoff) -> Ended {
        let name = self.consumer.name;
        let cursor = match stored_cursor(&self.pool, name).await {
            Ok(cursor) => cursor,
            Err(err) => return Ended::Failed(format!("reading the cursor: {err}")),
        };
        self.status.send_modify(|s| s.cursor = cursor);
        let mut request = tonic::Request::new(SubscribeRequest {
            after_sequence: cursor,
            types: self.consumer.types.clone(),
        });
        // Tells the producer which consumer this is, so it prunes its outbox only below what
        // every consumer has passed: `kontakt-<schema>/<name>` is unique across the suite.
        let subscriber = format!(
            "{}/{name}",
            self.pool
                .connect_options()
                .get_application_name()
                .unwrap_or("kontakt")
        );
        if let Ok(value) = subscriber.parse() {
            request
                .metadata_mut()
                .insert(crate::feed::SUBSCRIBER_HEADER, value);
        }
        let stream = tokio::select! {
            response = self.client.subscribe(request) => match response {
                Ok(response) => response.into_inner(),
                Err(status) => return Ended::Failed(format!("subscribing: {status}")),
            },
            _ = self.stop.wait_for(|s| *s) => return Ended::Stopped,
        };
        tracing::info!(
            consumer = name,
            after_sequence = cursor,
            "event consumer subscribed"
        );
        let mut batches = stream.ready_chunks(BATCH);
        loop {
            let batch = tokio::select! {
                batch = batches.next() => batch,
                _ = self.stop.wait_for(|s| *s) => return Ended::Stopped,
            };
            let Some(batch) = batch else {
                return Ended::Failed("the producer ended the stream".into());
            };
            let mut events = Vec::with_capacity(batch.len());
            let mut progress = None;
            let mut broken = None;
            for item in batch {
                match item.map(|r| r.item) {
                    Ok(Some(Item::Event(event))) => events.push(event),
                    Ok(Some(Item::Progress(p))) => progress = Some(p.published_sequence),
                    Ok(None) => {}
                    Err(status) => {
                        broken = Some(status);
                        break;
                    }
                }
            }
            // Whatever arrived before a break is still applied.
            // A batch is one unit of work: its handlers go through its transaction alone.
            let batch = apply(&self.pool, &self.consumer, &events, progress);
            match crate::db::one_connection_at_a_time(batch).await {
                Ok(cursor) => {
                    let head = events.last().map(|e| e.sequence).max(progress);
                    let last_event_at = events.last().and_then(|e| e.occurred_at);
                    self.status.send_modify(|s| {
                        s.connected = true;
                        s.cursor = cursor;
                        s.head = s.head.max(head.unwrap_or(0)).max(cursor);
                        s.lag_seconds = if s.cursor >= s.head {
                            0.0
                        } else {
                            last_event_at.map_or(s.lag_seconds, age_seconds)
                        };
                    });
                    self.lag.record(&self.status.borrow());
                    backoff.reset();
                }
                Err(reason) => return Ended::Failed(reason),
            }
            if let Some(status) = broken {
                return Ended::Failed(format!("the stream broke: {status}"));
            }
        }
    }
}

fn utc(at: prost_types::Timestamp) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(at.seconds, at.nanos.clamp(0, 999_999_999) as u32)
}

/// How long ago the event at `at` was recorded. Lag is an operator's measure of wall-clock
/// time, so it reads the system's clock, not the service's (which tests may move).
fn age_seconds(at: prost_types::Timestamp) -> f64 {
    let now = crate::clock::SystemClock.now();
    let at = utc(at).unwrap_or(now);
    (now - at).as_seconds_f64().max(0.0)
}

/// The stored cursor, creating it at 0 for a new consumer.
async fn stored_cursor(pool: &PgPool, name: &str) -> Result<i64, sqlx::Error> {
    sqlx::query("INSERT INTO consumer_cursors (consumer) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(name)
        .execute(pool)
        .await?;
    sqlx::query_scalar("SELECT last_sequence FROM consumer_cursors WHERE consumer = $1")
        .bind(name)
        .fetch_one(pool)
        .await
}

/// Applies `events` and moves the cursor, in one transaction; returns the new cursor.
async fn apply(
    pool: &PgPool,
    consumer: &Consumer,
    events: &[Envelope],
    progress: Option<i64>,
) -> Result<i64, String> {
    let failed = |what: &str, err: sqlx::Error| format!("{what}: {err}");
    let mut tx = crate::db::CallTx::begin(pool)
        .await
        .map_err(|e| failed("beginning", e))?;
    // Replicas queue here; whoever comes second sees the first one's cursor.
    let cursor: i64 = sqlx::query_scalar(
        "SELECT last_sequence FROM consumer_cursors WHERE consumer = $1 FOR UPDATE",
    )
    .bind(consumer.name)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| failed("locking the cursor", e))?;
    let mut next = cursor;
    let mut last_event_at = None;
    for event in events.iter().filter(|e| e.sequence > cursor) {
        let mut savepoint = sqlx::Connection::begin(&mut *tx)
            .await
            .map_err(|e| failed("savepoint", e))?;
        let outcome = consumer
            .handler
            .handle(&mut savepoint, event)
            .instrument(handler_span(consumer.name, event))
            .await;
        match outcome {
            Ok(()) => savepoint
                .commit()
                .await
                .map_err(|e| failed("savepoint", e))?,
            Err(HandleError::Reject(reason)) => {
                savepoint
                    .rollback()
                    .await
                    .map_err(|e| failed("savepoint", e))?;
                tracing::warn!(
                    consumer = consumer.name,
                    event.sequence = event.sequence,
                    event.id = %event.event_id,
                    event.type = %event.r#type,
                    %reason,
                    "event rejected and passed over; see consumer_rejects"
                );
                record_reject(&mut tx, consumer.name, event, &reason)
                    .await
                    .map_err(|e| failed("recording a rejected event", e))?;
            }
            // Dropping the transaction rolls the whole batch back; it is replayed later.
            Err(HandleError::Retry(reason)) => {
                return Err(format!("event {} not applied: {reason}", event.sequence));
            }
        }
        next = event.sequence;
        last_event_at = event.occurred_at;
    }
    if let Some(progress) = progress {
        next = next.max(progress);
    }
    if next > cursor {
        let at = last_event_at.and_then(utc);
        sqlx::query(
            "UPDATE consumer_cursors
                SET last_sequence = $2, last_event_at = coalesce($3, last_event_at), updated_at = now()
              WHERE consumer = $1",
        )
        .bind(consumer.name)
        .bind(next)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| failed("moving the cursor", e))?;
    }
    tx.commit().await.map_err(|e| failed("committing", e))?;
    Ok(next)
}

async fn record_reject(
    tx: &mut PgConnection,
    consumer: &str,
    event: &Envelope,
    reason: &str,
) -> Result<(), sqlx::Error> {
    // An id that is not a UUID is recorded as the nil UUID; the sequence identifies the event.
    let event_id = uuid::Uuid::parse_str(&event.event_id).unwrap_or_default();
    let municipality = Some(event.municipality.as_str()).filter(|m| !m.is_empty());
    sqlx::query(
        "INSERT INTO consumer_rejects
                (consumer, sequence, event_id, type, subject, reason, envelope, municipality)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(event.sequence)
    .bind(event_id)
    .bind(&event.r#type)
    .bind(&event.subject)
    .bind(reason)
    .bind(prost::Message::encode_to_vec(event))
    .bind(municipality)
    .execute(tx)
    .await?;
    crate::metrics::consumer_rejected(consumer, &event.r#type);
    Ok(())
}

/// The handler's span continues the trace of the call that produced the event.
fn handler_span(consumer: &'static str, event: &Envelope) -> tracing::Span {
    let span = tracing::info_span!(
        "event.handle",
        otel.kind = "consumer",
        consumer,
        event.sequence = event.sequence,
        event.id = %event.event_id,
        event.type = %event.r#type,
    );
    if let Some(trace) = &event.trace_context
        && !trace.traceparent.is_empty()
    {
        let mut carrier = HashMap::from([("traceparent".to_owned(), trace.traceparent.clone())]);
        if !trace.tracestate.is_empty() {
            carrier.insert("tracestate".to_owned(), trace.tracestate.clone());
        }
        let parent = TraceContextPropagator::new().extract(&carrier);
        // Fails only without an OpenTelemetry layer (a bare test): then there is no trace.
        if let Err(err) = span.set_parent(parent) {
            tracing::trace!(%err, "trace context not attached");
        }
    }
    span
}

/// A growing wait with jitter, so that consumers of a restarted producer do not all come back
/// at the same instant.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let ceiling = BACKOFF_FIRST
            .saturating_mul(1 << self.failures.min(16))
            .min(BACKOFF_MAX);
        self.failures = self.failures.saturating_add(1);
        // Half fixed, half random ("equal jitter"): never zero, never in lock-step.
        let half = ceiling / 2;
        let random = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
        half + Duration::from_nanos(random % (half.as_nanos() as u64).max(1))
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Lag as OpenTelemetry gauges (`kontakt.consumer.lag.events`, `kontakt.consumer.lag.seconds`,
/// by `consumer`) and, while behind, in the log every [`LAG_LOG_INTERVAL`].
struct LagReport {
    attributes: [KeyValue; 1],
    events: opentelemetry::metrics::Gauge<i64>,
    seconds: opentelemetry::metrics::Gauge<f64>,
    last_logged: Option<tokio::time::Instant>,
}

impl LagReport {
    fn new(consumer: &'static str) -> Self {
        let meter = opentelemetry::global::meter("kontakt");
        Self {
            attributes: [KeyValue::new("consumer", consumer)],
            events: meter
                .i64_gauge("kontakt.consumer.lag.events")
                .with_description(
                    "Events the producer has published that the consumer has not yet applied",
                )
                .build(),
            seconds: meter
                .f64_gauge("kontakt.consumer.lag.seconds")
                .with_description("Age of the last event applied while behind; 0 once caught up")
                .with_unit("s")
                .build(),
            last_logged: None,
        }
    }

    fn record(&mut self, status: &ConsumerStatus) {
        self.events.record(status.lag_events(), &self.attributes);
        self.seconds.record(status.lag_seconds, &self.attributes);
        let consumer = self.attributes[0].value.as_str();
        if status.lag_events() > 0 {
            let due = self
                .last_logged
                .is_none_or(|at| at.elapsed() >= LAG_LOG_INTERVAL);
            if due {
                tracing::info!(
                    %consumer,
                    lag_events = status.lag_events(),
                    lag_seconds = status.lag_seconds,
                    cursor = status.cursor,
                    head = status.head,
                    "event consumer behind"
                );
                self.last_logged = Some(tokio::time::Instant::now());
            }
        } else if self.last_logged.take().is_some() {
            tracing::info!(%consumer, cursor = status.cursor, "event consumer caught up");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_grows_with_jitter_up_to_its_ceiling_and_starts_over_after_success() {
        let mut backoff = Backoff::default();
        let first = backoff.next();
        assert!(
            first >= BACKOFF_FIRST / 2 && first < BACKOFF_FIRST,
            "{first:?}"
        );
        let waits: Vec<Duration> = (0..20).map(|_| backoff.next()).collect();
        assert!(waits.iter().all(|w| *w < BACKOFF_MAX), "{waits:?}");
        assert!(waits.last().is_some_and(|w| *w >= BACKOFF_MAX / 2));
        // Not all equal: the jitter spreads replicas apart.
        let mut distinct = waits[10..].to_vec();
        distinct.dedup();
        assert!(distinct.len() > 1, "{waits:?}");
        backoff.reset();
        assert!(backoff.next() < BACKOFF_FIRST);
    }

    #[test]
    fn lag_is_the_distance_to_the_producers_head() {
        let status = ConsumerStatus {
            cursor: 90,
            head: 100,
            connected: true,
            lag_seconds: 2.0,
        };
        assert_eq!(status.lag_events(), 10);
        assert!(!status.caught_up());
        let caught = ConsumerStatus {
            cursor: 100,
            ..status
        };
        assert!(caught.caught_up());
        assert!(
            !ConsumerStatus {
                connected: false,
                ..caught
            }
            .caught_up()
        );
    }

    #[test]
    fn database_refusals_reject_the_event_and_connection_trouble_retries() {
        assert!(matches!(
            HandleError::from(sqlx::Error::PoolTimedOut),
            HandleError::Retry(_)
        ));
        let undecodable = Envelope {
            payload: Some(prost_types::Any {
                type_url: "type.googleapis.com/google.protobuf.Timestamp".into(),
                value: vec![0xff, 0xff],
            }),
            ..Envelope::default()
        };
        assert!(matches!(
            payload::<prost_types::Timestamp>(&undecodable),
            Err(HandleError::Reject(_))
        ));
        assert!(matches!(
            payload::<prost_types::Timestamp>(&Envelope::default()),
            Err(HandleError::Reject(_))
        ));
    }
}
