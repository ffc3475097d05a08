//! Event feeds under test: a recording consumer in the matching schema, events published
//! straight into a producer's outbox, and the count of what arrived (each once, in order).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kontakt::Service;
use kontakt_platform::auth::Role;
use kontakt_platform::auth::service_token::ServiceToken;
use kontakt_platform::consumer::{self, Consumer, HandleError, Handler, RunningConsumer};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_proto::events::v1::Envelope;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;

use crate::{TestDatabase, test_db_settings, token};

/// Records each event it applies; refuses those whose subject starts with `poison`.
pub struct Recorder {
    /// A pause per event, so that a kill lands inside a batch.
    pub pause: Duration,
}

#[tonic::async_trait]
impl Handler for Recorder {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        if event.subject.starts_with("poison") {
            return Err(HandleError::reject("a poison event"));
        }
        sqlx::query("INSERT INTO applied (sequence, subject) VALUES ($1, $2)")
            .bind(event.sequence)
            .bind(&event.subject)
            .execute(&mut *tx)
            .await?;
        if !self.pause.is_zero() {
            tokio::time::sleep(self.pause).await;
        }
        Ok(())
    }
}

/// The consuming side: the matching service's schema, migrated, with a table of what was applied.
pub async fn consumer_pool(db: &TestDatabase) -> PgPool {
    let pool = crate::migrated_pool(db, Service::Matching, &test_db_settings()).await;
    sqlx::query(
        "CREATE TABLE applied (n bigserial PRIMARY KEY, sequence bigint NOT NULL, subject text NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("applied table");
    pool
}

/// A pool on the referral schema, to publish into its outbox as the service would.
pub fn producer_pool(db: &TestDatabase) -> PgPool {
    let mut settings = test_db_settings();
    settings.db_max_connections = 10;
    Service::Referral.pool(db.options.clone(), &settings)
}

/// Publishes one event per subject into the referral outbox, each in its own transaction.
pub async fn publish(pool: &PgPool, subjects: impl IntoIterator<Item = String>) {
    for subject in subjects {
        let mut tx = pool.begin().await.expect("begin");
        let event = NewEvent {
            r#type: "kontakt.test.v1.Happened".into(),
            municipality: Some("183".into()),
            subject,
            payload: Vec::new(),
        };
        outbox::write(&mut tx, "referral", &event)
            .await
            .expect("write");
        tx.commit().await.expect("commit");
    }
}

/// Publishes `batch` events every `every` until the returned sender says stop; the task then
/// answers how many it published.
pub fn publish_steadily(
    pool: &PgPool,
    batch: usize,
    every: Duration,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<i64>) {
    let (stop, mut stopped) = watch::channel(false);
    let pool = pool.clone();
    let writer = tokio::spawn(async move {
        let mut published = 0;
        while !*stopped.borrow_and_update() {
            publish(&pool, (0..batch).map(|i| format!("e-{published}-{i}"))).await;
            published += batch as i64;
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stopped.changed() => {}
            }
        }
        published
    });
    (stop, writer)
}

/// The recorder's subscription to the producer at `addr`.
pub fn subscription(addr: SocketAddr, pause: Duration) -> Consumer {
    Consumer {
        name: "test-events",
        producer: consumer::endpoint(&format!("http://{addr}"))
            .expect("endpoint")
            .connect_lazy(),
        token: Arc::new(ServiceToken::fixed(&token(&[Role::Service], &[])).expect("token")),
        types: Vec::new(),
        handler: Arc::new(Recorder { pause }),
    }
}

/// A consumer replica running in this process; it stops when the returned sender says so.
pub fn follow(
    pool: &PgPool,
    addr: SocketAddr,
    pause: Duration,
) -> (RunningConsumer, watch::Sender<bool>) {
    run(pool, subscription(addr, pause))
}

/// `subscription` running in this process; it stops when the returned sender says so.
pub fn run(pool: &PgPool, subscription: Consumer) -> (RunningConsumer, watch::Sender<bool>) {
    let (stop, stopped) = watch::channel(false);
    let (_ready, ready) = watch::channel(true);
    let running = consumer::spawn(pool.clone(), subscription, ready, stopped);
    (running, stop)
}

/// How many times `running` lost its subscription (connected, then not), counted in the
/// background until the consumer ends.
pub fn count_breaks(running: &RunningConsumer) -> Arc<std::sync::atomic::AtomicUsize> {
    let breaks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut status = running.status();
    let counted = breaks.clone();
    tokio::spawn(async move {
        let mut was_connected = false;
        while status.changed().await.is_ok() {
            let connected = status.borrow_and_update().connected;
            if was_connected && !connected {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            was_connected = connected;
        }
    });
    breaks
}

pub async fn stored_cursor(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT last_sequence FROM consumer_cursors WHERE consumer = 'test-events'")
        .fetch_optional(pool)
        .await
        .expect("cursor")
        .unwrap_or(0)
}

pub async fn wait_for_cursor(pool: &PgPool, want: i64, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let cursor = stored_cursor(pool).await;
        if cursor >= want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cursor reached only {cursor} of {want} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What was applied, in the order it was applied.
pub async fn applied(pool: &PgPool) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT sequence, subject FROM applied ORDER BY n")
        .fetch_all(pool)
        .await
        .expect("applied")
}

pub fn assert_each_once_in_order(applied: &[(i64, String)], count: i64) {
    let sequences: Vec<i64> = applied.iter().map(|(s, _)| *s).collect();
    let expected: Vec<i64> = (1..=count).collect();
    if sequences != expected {
        let doubled = sequences.windows(2).filter(|w| w[0] >= w[1]).count();
        panic!(
            "applied {} events, {doubled} out of order or twice; first: {:?}",
            sequences.len(),
            &sequences[..sequences.len().min(10)]
        );
    }
}

/// The promise for a consumer after `fault`: events 1..=`published` each applied once, in
/// order. Prints `<fault>: faults=N acknowledged=N lost=N duplicated=N`, where `faults` counts
/// what the fault broke (subscriptions, or consumers killed) and acknowledged the events
/// published.
pub fn assert_events_once(fault: &str, applied: &[(i64, String)], published: i64, breaks: usize) {
    let seen: std::collections::BTreeSet<i64> = applied.iter().map(|(s, _)| *s).collect();
    let lost = (1..=published).filter(|s| !seen.contains(s)).count();
    let duplicated = applied.len() - seen.len();
    println!(
        "{fault}: faults={breaks} acknowledged={published} lost={lost} duplicated={duplicated}"
    );
    assert!(
        breaks > 0,
        "the {fault} was not felt: the test proves nothing"
    );
    assert_each_once_in_order(applied, published);
}

/// The events of type `kontakt.{schema}.v1.{kind}` in `service`'s outbox, oldest first, as
/// (subject, payload).
pub async fn outbox(db: &TestDatabase, service: Service, kind: &str) -> Vec<(String, Vec<u8>)> {
    let schema = service.def().schema;
    let mut conn = db.connect().await.expect("connect");
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT subject, payload FROM {schema}.outbox WHERE type = $1 ORDER BY id"
    )))
    .bind(format!("kontakt.{schema}.v1.{kind}"))
    .fetch_all(&mut conn)
    .await
    .expect("outbox")
}
