//! The consumer runtime against a real feed: every event applied exactly once and in order —
//! with two replicas racing, with a consumer killed mid-batch, and across a producer restart.

use std::sync::Arc;
use std::time::Duration;

use kontakt::Service;
use kontakt_harness::{
    TestDatabase, fresh_database, start, start_on, test_db_settings, test_server_settings, token,
    verifier,
};
use kontakt_platform::auth::Role;
use kontakt_platform::auth::service_token::ServiceToken;
use kontakt_platform::consumer::{self, Consumer, HandleError, Handler, RunningConsumer};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::server::{ServeOptions, ServiceHandle};
use kontakt_proto::events::v1::Envelope;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;

/// Records each event it applies; refuses those whose subject starts with `poison`.
struct Recorder {
    /// A pause per event, so that a kill lands inside a batch.
    pause: Duration,
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
async fn consumer_pool(db: &TestDatabase) -> PgPool {
    let pool = Service::Matching.pool(db.options.clone(), &test_db_settings());
    let def = Service::Matching.def();
    kontakt_platform::db::migrate(&pool, def.schema, def.migrator)
        .await
        .expect("migrate");
    sqlx::query(
        "CREATE TABLE applied (n bigserial PRIMARY KEY, sequence bigint NOT NULL, subject text NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("applied table");
    pool
}

fn producer_pool(db: &TestDatabase) -> PgPool {
    let mut settings = test_db_settings();
    settings.db_max_connections = 10;
    Service::Referral.pool(db.options.clone(), &settings)
}

async fn publish(pool: &PgPool, subjects: impl IntoIterator<Item = String>) {
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

fn subscription(addr: std::net::SocketAddr, pause: Duration) -> Consumer {
    Consumer {
        name: "test-events",
        producer: consumer::endpoint(&format!("http://{addr}")).expect("endpoint"),
        token: Arc::new(ServiceToken::fixed(&token(&[Role::Service], &[])).expect("token")),
        types: Vec::new(),
        handler: Arc::new(Recorder { pause }),
    }
}

/// A consumer replica running in this process; it stops when the returned sender says so.
fn follow(
    pool: &PgPool,
    addr: std::net::SocketAddr,
    pause: Duration,
) -> (RunningConsumer, watch::Sender<bool>) {
    let (stop, stopped) = watch::channel(false);
    let (_ready, ready) = watch::channel(true);
    let running = consumer::spawn(pool.clone(), subscription(addr, pause), ready, stopped);
    (running, stop)
}

async fn stored_cursor(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT last_sequence FROM consumer_cursors WHERE consumer = 'test-events'")
        .fetch_optional(pool)
        .await
        .expect("cursor")
        .unwrap_or(0)
}

async fn wait_for_cursor(pool: &PgPool, want: i64, within: Duration) {
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
async fn applied(pool: &PgPool) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT sequence, subject FROM applied ORDER BY n")
        .fetch_all(pool)
        .await
        .expect("applied")
}

fn assert_each_once_in_order(applied: &[(i64, String)], count: i64) {
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

#[tokio::test]
async fn ten_thousand_events_from_eight_writers_are_applied_once_each_in_order_by_two_replicas() {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 1250;
    const TOTAL: i64 = (WRITERS * PER_WRITER) as i64;
    let db = fresh_database().await.expect("database");
    let producer = start(Service::Referral, &db).await.expect("producer");
    let pool = consumer_pool(&db).await;
    // Two replicas of the consuming service follow the same feed under the same cursor.
    let replicas = [
        follow(&pool, producer.addr, Duration::ZERO),
        follow(&pool, producer.addr, Duration::ZERO),
    ];

    let writing = producer_pool(&db);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let pool = writing.clone();
            tokio::spawn(async move {
                publish(&pool, (0..PER_WRITER).map(|i| format!("{w}-{i}"))).await;
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    wait_for_cursor(&pool, TOTAL, Duration::from_secs(120)).await;

    let applied = applied(&pool).await;
    assert_each_once_in_order(&applied, TOTAL);
    // And each writer's events in the order it wrote them.
    for w in 0..WRITERS {
        let prefix = format!("{w}-");
        let mine: Vec<usize> = applied
            .iter()
            .filter_map(|(_, s)| s.strip_prefix(&prefix).and_then(|i| i.parse().ok()))
            .collect();
        assert_eq!(mine, (0..PER_WRITER).collect::<Vec<_>>(), "writer {w}");
    }
    for (running, stop) in replicas {
        let status = *running.status().borrow();
        assert_eq!(status.lag_events(), 0, "{status:?}");
        stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(10), running.join())
            .await
            .expect("a replica stops when told");
    }
    producer.stop().await.expect("stop");
}

#[tokio::test]
async fn a_consumer_killed_mid_batch_resumes_with_nothing_lost_and_nothing_applied_twice() {
    let db = fresh_database().await.expect("database");
    let producer = start(Service::Referral, &db).await.expect("producer");
    let writing = producer_pool(&db);
    publish(&writing, (0..1500).map(|i| format!("e-{i}"))).await;
    let pool = consumer_pool(&db).await;

    // The victim has a pool of its own: killing it closes its connections, as a process's death
    // would, and PostgreSQL rolls back the batch it was in.
    let victim_pool = Service::Matching.pool(db.options.clone(), &test_db_settings());
    let (victim, _stop) = follow(&victim_pool, producer.addr, Duration::from_millis(1));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while applied(&pool).await.len() < 300 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the victim never got going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    victim.kill();
    tokio::time::timeout(Duration::from_secs(10), victim_pool.close())
        .await
        .expect("the victim's connections close");

    // Effects and cursor moved together: everything applied is covered by the cursor, nothing
    // beyond it was kept.
    let cursor = stored_cursor(&pool).await;
    assert!((1..1500).contains(&cursor), "killed mid-stream at {cursor}");
    assert_each_once_in_order(&applied(&pool).await, cursor);

    publish(&writing, (1500..2000).map(|i| format!("e-{i}"))).await;
    let (successor, stop) = follow(&pool, producer.addr, Duration::ZERO);
    wait_for_cursor(&pool, 2000, Duration::from_secs(60)).await;
    assert_each_once_in_order(&applied(&pool).await, 2000);
    stop.send_replace(true);
    successor.join().await;
    producer.stop().await.expect("stop");
}

#[tokio::test]
async fn a_service_consuming_a_producer_that_restarts_reconnects_and_resumes_after_its_cursor() {
    let db = fresh_database().await.expect("database");
    let producer = start(Service::Referral, &db).await.expect("producer");
    let addr = producer.addr;
    let writing = producer_pool(&db);
    publish(&writing, (0..100).map(|i| format!("before-{i}"))).await;

    // The consumer runs inside a service, as in production: it starts once the service's schema
    // is migrated and stops with the service.
    let pool = consumer_pool(&db).await;
    let settings = test_server_settings();
    let consuming = ServiceHandle::spawn(
        *Service::Matching.def(),
        Service::Matching
            .routes(
                pool.clone(),
                Arc::new(kontakt_platform::clock::SystemClock),
                None,
                &settings,
            )
            .expect("routes"),
        kontakt::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind"),
        ServeOptions {
            pool: pool.clone(),
            auth: verifier().await,
            settings,
            migrate_on_start: true,
            consumers: vec![subscription(addr, Duration::ZERO)],
        },
    )
    .expect("consuming service");
    wait_for_cursor(&pool, 100, Duration::from_secs(30)).await;

    // The producer goes away; events keep being written to its outbox meanwhile.
    producer.stop().await.expect("stop the producer");
    publish(&writing, (0..100).map(|i| format!("during-{i}"))).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stored_cursor(&pool).await,
        100,
        "nothing to read while it is down"
    );

    let producer = start_on(Service::Referral, &db, addr)
        .await
        .expect("the producer comes back on its address");
    publish(&writing, (0..100).map(|i| format!("after-{i}"))).await;
    wait_for_cursor(&pool, 300, Duration::from_secs(60)).await;
    assert_each_once_in_order(&applied(&pool).await, 300);

    tokio::time::timeout(Duration::from_secs(15), consuming.shutdown())
        .await
        .expect("the consuming service stops promptly")
        .expect("clean stop");
    producer.stop().await.expect("stop");
}

#[tokio::test]
async fn an_event_the_handler_can_never_apply_is_recorded_and_passed_over() {
    let db = fresh_database().await.expect("database");
    let producer = start(Service::Referral, &db).await.expect("producer");
    let writing = producer_pool(&db);
    publish(&writing, ["ok-1", "poison", "ok-2"].map(ToOwned::to_owned)).await;
    let pool = consumer_pool(&db).await;
    let (running, stop) = follow(&pool, producer.addr, Duration::ZERO);
    wait_for_cursor(&pool, 3, Duration::from_secs(30)).await;
    assert_eq!(
        applied(&pool).await,
        [(1, "ok-1".to_owned()), (3, "ok-2".to_owned())]
    );
    let rejected: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT sequence, subject, reason FROM consumer_rejects")
            .fetch_all(&pool)
            .await
            .expect("rejects");
    assert_eq!(
        rejected,
        [(2, "poison".to_owned(), "a poison event".to_owned())]
    );
    stop.send_replace(true);
    running.join().await;
    producer.stop().await.expect("stop");
}
