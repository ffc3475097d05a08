//! Retention of what grows without bound (issue 27, item 7): outbox events go once every known
//! subscriber of the feed has passed them and they are older than the outbox retention; the
//! access log's entries go once older than its retention; two replicas prune together without
//! removing anything twice or too much. The 10M-row measurement is `--ignored` (see the end).

use std::time::{Duration, Instant};

use kontakt::Service;
use kontakt_harness::{Start, TestDatabase, eventually, fresh_database, sqlstate, start};
use kontakt_platform::auth::Role;
use kontakt_platform::outbox;
use kontakt_platform::retention::{self, Table};
use kontakt_proto::events::v1::event_feed_service_client::EventFeedServiceClient;
use kontakt_proto::events::v1::subscribe_response::Item;
use kontakt_proto::events::v1::{SubscribeRequest, SubscribeResponse};
use sqlx::PgPool;
use tokio_stream::StreamExt as _;
use tonic::Streaming;

const DAY: Duration = Duration::from_secs(86_400);
const OUTBOX_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// The default: about five years.
const ACCESS_LOG_RETENTION: Duration = Duration::from_secs(1827 * 86_400);

/// A pool on the referral schema, migrated, as a replica of the service has.
async fn referral_pool(db: &TestDatabase, connections: u32) -> PgPool {
    let mut settings = kontakt_harness::test_db_settings();
    settings.db_max_connections = connections;
    kontakt_harness::migrated_pool(db, Service::Referral, &settings).await
}

/// Events numbered `from..=to` as the sequencer would number them, `days` old.
async fn published(pool: &PgPool, from: i64, to: i64, days: i32) {
    sqlx::query(
        "INSERT INTO outbox (sequence, event_id, type, municipality, subject, payload, occurred_at)
         SELECT g, gen_random_uuid(), 'kontakt.test.v1.Happened', '183', 'subjects/' || g,
                '\\x00'::bytea, now() - make_interval(days => $3)
           FROM generate_series($1::bigint, $2::bigint) AS g",
    )
    .bind(from)
    .bind(to)
    .bind(days)
    .execute(pool)
    .await
    .expect("events");
}

/// An event about `subject`, as a service writes one with its change.
fn event(subject: String) -> outbox::NewEvent {
    outbox::NewEvent {
        r#type: "kontakt.test.v1.Happened".into(),
        municipality: Some("183".into()),
        subject,
        payload: vec![0; 64],
    }
}

fn retention_of(table: Table) -> Duration {
    match table {
        Table::Outbox => OUTBOX_RETENTION,
        Table::AccessLog => ACCESS_LOG_RETENTION,
    }
}

/// `n` access-log entries `days` old.
async fn logged(pool: &PgPool, n: i64, days: i32) {
    sqlx::query(
        "INSERT INTO audit_log (at, subject, roles, municipality, person, resource, action, purpose, method)
         SELECT now() - make_interval(days => $2), 'test-counsellor', ARRAY['counsellor'], '183',
                'municipalities/183/persons/p-' || g, 'municipalities/183/persons/p-' || g,
                'READ', 'test', '/kontakt.referral.v1.ReferralService/GetPerson'
           FROM generate_series(1, $1::bigint) AS g",
    )
    .bind(n)
    .bind(days)
    .execute(pool)
    .await
    .expect("access-log entries");
}

/// The lowest and highest sequence left, and how many events.
async fn kept(pool: &PgPool) -> (Option<i64>, Option<i64>, i64) {
    sqlx::query_as("SELECT min(sequence), max(sequence), count(*) FROM outbox")
        .fetch_one(pool)
        .await
        .expect("outbox")
}

async fn entries(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(pool)
        .await
        .expect("audit_log")
}

async fn prune_outbox(pool: &PgPool, batch: i64) -> u64 {
    retention::prune(pool, "referral", Table::Outbox, OUTBOX_RETENTION, batch)
        .await
        .expect("prune the outbox")
}

/// A subscription as the consumer `name` (the `kontakt-consumer` metadata the consumer runtime
/// sends) after `after`.
async fn subscribe(
    running: &kontakt_harness::TestService,
    name: &str,
    after: i64,
) -> Result<Streaming<SubscribeResponse>, tonic::Status> {
    let mut client = EventFeedServiceClient::new(running.as_role(Role::Service, "183"));
    let mut request = tonic::Request::new(SubscribeRequest {
        after_sequence: after,
        types: Vec::new(),
    });
    request.metadata_mut().insert(
        kontakt_platform::feed::SUBSCRIBER_HEADER,
        name.parse().expect("ASCII"),
    );
    client
        .subscribe(request)
        .await
        .map(tonic::Response::into_inner)
}

/// Subscribes as each `(name, after)`, then prunes the outbox in batches of 7.
async fn subscribed_then_pruned(
    running: &kontakt_harness::TestService,
    pool: &PgPool,
    subscriptions: &[(&str, i64)],
) -> u64 {
    for &(name, after) in subscriptions {
        drop(subscribe(running, name, after).await.expect("subscribed"));
    }
    prune_outbox(pool, 7).await
}

async fn first_event(stream: &mut Streaming<SubscribeResponse>) -> i64 {
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an item within 10 s")
            .expect("open")
            .expect("an item")
            .item
            .expect("an item");
        if let Item::Event(event) = item {
            return event.sequence;
        }
    }
}

#[tokio::test]
async fn outbox_events_go_once_every_known_consumer_has_passed_them_and_they_are_old() {
    let db = fresh_database().await.expect("database");
    let referral = start(Service::Referral, &db).await.expect("referral");
    let pool = referral_pool(&db, 5).await;
    // 1..=80 are 40 days old, 81..=100 from today.
    published(&pool, 1, 80, 40).await;
    published(&pool, 81, 100, 0).await;

    // Nobody has subscribed yet: nobody is known to have passed anything.
    assert_eq!(prune_outbox(&pool, 7).await, 0);
    assert_eq!(kept(&pool).await, (Some(1), Some(100), 100));

    // Below b's 30 only (in batches of 7): a consumer that has not passed an event keeps it.
    let first = subscribed_then_pruned(&referral, &pool, &[("a", 60), ("b", 30)]).await;
    assert_eq!(first, 30);
    assert_eq!(kept(&pool).await, (Some(31), Some(100), 70));

    // b moves on past a: now a, at 60, holds the old 61..=80 back however old they are.
    let second = subscribed_then_pruned(&referral, &pool, &[("b", 70)]).await;
    assert_eq!(second, 30);
    assert_eq!(kept(&pool).await, (Some(61), Some(100), 40));

    // Both have passed everything: the old ones go, today's stay.
    let third = subscribed_then_pruned(&referral, &pool, &[("a", 100), ("b", 100)]).await;
    assert_eq!(third, 20);
    assert_eq!(kept(&pool).await, (Some(81), Some(100), 20));

    // A consumer that asks for pruned events is told so, never given a silent gap; a new one
    // (from 0) starts at the oldest event kept.
    let refused = subscribe(&referral, "a", 10).await.expect_err("pruned");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains("pruned"),
        "{}",
        refused.message()
    );
    let mut fresh = subscribe(&referral, "c", 0)
        .await
        .expect("c from the start");
    assert_eq!(first_event(&mut fresh).await, 81);
    drop(fresh);

    // When everything is old and passed, the newest event still stays: the sequencer goes on
    // from it, so a new event is 101, not 1.
    sqlx::query("UPDATE outbox SET occurred_at = now() - interval '40 days'")
        .execute(&pool)
        .await
        .expect("age them");
    let fourth =
        subscribed_then_pruned(&referral, &pool, &[("a", 100), ("b", 100), ("c", 100)]).await;
    assert_eq!(fourth, 19);
    assert_eq!(kept(&pool).await, (Some(100), Some(100), 1));
    let mut tx = pool.begin().await.expect("begin");
    outbox::write(&mut tx, "referral", &event("subjects/new".into()))
        .await
        .expect("write");
    tx.commit().await.expect("commit");
    outbox::sequence(&pool).await.expect("sequence");
    assert_eq!(kept(&pool).await, (Some(100), Some(101), 2));
    println!(
        "retention outbox: removed={} kept=2 held_back_by_a_consumer=20 newest_kept=1",
        first + second + third + fourth
    );
    referral.stop().await.expect("stop");
}

#[tokio::test]
async fn a_consuming_service_is_known_to_its_producer_by_its_own_name() {
    let db = fresh_database().await.expect("database");
    let referral = start(Service::Referral, &db).await.expect("referral");
    let matching = Start::new(Service::Matching, &db)
        .following(&[(Service::Referral, referral.addr)])
        .run()
        .await
        .expect("matching");
    let pool = referral_pool(&db, 2).await;
    let subscribers: Vec<String> = eventually("matching subscribes", || {
        let pool = pool.clone();
        async move {
            let names: Vec<String> =
                sqlx::query_scalar("SELECT subscriber FROM feed_subscribers ORDER BY subscriber")
                    .fetch_all(&pool)
                    .await
                    .expect("subscribers");
            (!names.is_empty()).then_some(names)
        }
    })
    .await;
    assert_eq!(
        subscribers,
        ["kontakt-test-services/kontakt-matching/grants-from-referral"]
    );
    matching.stop().await.expect("stop");
    referral.stop().await.expect("stop");
}

#[tokio::test]
async fn access_log_entries_older_than_the_retention_go_and_newer_stay() {
    let db = fresh_database().await.expect("database");
    let pool = referral_pool(&db, 5).await;
    logged(&pool, 500, 6 * 365).await;
    logged(&pool, 300, 400).await;
    logged(&pool, 200, 0).await;

    let removed = retention::prune(
        &pool,
        "referral",
        Table::AccessLog,
        ACCESS_LOG_RETENTION,
        128,
    )
    .await
    .expect("prune");
    assert_eq!(removed, 500);
    assert_eq!(entries(&pool).await, 500);
    let oldest_days: f64 =
        sqlx::query_scalar("SELECT extract(day FROM now() - min(at))::float8 FROM audit_log")
            .fetch_one(&pool)
            .await
            .expect("oldest");
    assert!(oldest_days < 1827.0, "{oldest_days}");

    // Still append-only otherwise: a plain DELETE is refused, and so is pruning the present.
    let refused = sqlx::query("DELETE FROM audit_log")
        .execute(&pool)
        .await
        .expect_err("append-only");
    assert_eq!(sqlstate(&refused).as_deref(), Some("42501"));
    let refused = sqlx::query("SELECT prune_audit_log(now() + interval '1 day', 10)")
        .execute(&pool)
        .await
        .expect_err("only the past");
    assert_eq!(sqlstate(&refused).as_deref(), Some("22023"));

    // The runtime role (no DELETE on the log) prunes through the function and nothing else.
    let role = format!(
        "kt_retention_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE ROLE {role} LOGIN")))
        .execute(&pool)
        .await
        .expect("role");
    kontakt_platform::db::grant_runtime_role(&pool, "referral", &role)
        .await
        .expect("grant");
    let runtime = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            db.options
                .clone()
                .username(&role)
                .options([("search_path", "referral")]),
        )
        .await
        .expect("as the runtime role");
    let refused = sqlx::query("DELETE FROM audit_log")
        .execute(&runtime)
        .await
        .expect_err("no DELETE");
    assert_eq!(sqlstate(&refused).as_deref(), Some("42501"));
    // Nor can it prune the recent past (within the floor, 183 days), or lower the floor.
    let refused = sqlx::query("SELECT prune_audit_log(now() - interval '1 day', 10)")
        .execute(&runtime)
        .await
        .expect_err("within the floor");
    assert_eq!(sqlstate(&refused).as_deref(), Some("22023"));
    let refused = sqlx::query("UPDATE audit_log_floor SET min_age = interval '0'")
        .execute(&runtime)
        .await
        .expect_err("the floor is the owner's");
    assert_eq!(sqlstate(&refused).as_deref(), Some("42501"));
    let year = retention::prune(&runtime, "referral", Table::AccessLog, 365 * DAY, 1000)
        .await
        .expect("prune as the runtime role");
    assert_eq!(year, 300);
    assert_eq!(entries(&pool).await, 200);
    runtime.close().await;
    println!("retention access log: removed={} kept=200", removed + year);
    for statement in [format!("DROP OWNED BY {role}"), format!("DROP ROLE {role}")] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&pool)
            .await
            .expect("drop the role");
    }
}

#[tokio::test]
async fn two_replicas_prune_together_removing_each_row_once_and_nothing_more() {
    let db = fresh_database().await.expect("database");
    let replicas = [referral_pool(&db, 4).await, referral_pool(&db, 4).await];
    published(&replicas[0], 1, 50_000, 40).await;
    outbox::record_subscriber(&replicas[0], "test/only", 40_000)
        .await
        .expect("a subscriber");
    logged(&replicas[0], 30_000, 2000).await;
    logged(&replicas[0], 5_000, 10).await;

    // Three runs on each replica at once, each table.
    let mut runs = Vec::new();
    for pool in replicas
        .iter()
        .chain(replicas.iter())
        .chain(replicas.iter())
    {
        for table in [Table::Outbox, Table::AccessLog] {
            let pool = pool.clone();
            let retention = retention_of(table);
            runs.push(tokio::spawn(async move {
                let removed = retention::prune(&pool, "referral", table, retention, 1000)
                    .await
                    .expect("prune");
                (table, removed)
            }));
        }
    }
    let (mut outbox_removed, mut log_removed, mut runs_that_removed) = (0, 0, 0);
    for run in runs {
        let (table, removed) = run.await.expect("run");
        runs_that_removed += usize::from(removed > 0);
        match table {
            Table::Outbox => outbox_removed += removed,
            Table::AccessLog => log_removed += removed,
        }
    }
    assert_eq!(outbox_removed, 40_000);
    assert_eq!(
        kept(&replicas[0]).await,
        (Some(40_001), Some(50_000), 10_000)
    );
    assert_eq!(log_removed, 30_000);
    assert_eq!(entries(&replicas[0]).await, 5_000);
    println!(
        "retention replicas: replicas=2 runs=12 runs_that_removed={runs_that_removed} \
         outbox_removed={outbox_removed} access_log_removed={log_removed} removed_twice=0"
    );
}

/// The 10M-row measurement (README, Reliability): `KONTAKT_RETENTION_ROWS` (default 10,000,000)
/// outbox events and as many access-log entries, all past retention and passed, are pruned
/// while four writers insert; prints the time, rows/s and the writers' p99 with and without the
/// prune running. `KONTAKT_RETENTION_TABLES=outbox` (or `audit_log`) measures one.
///
/// `cargo test --release -p kontakt-e2e --test retention -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes: the 10M-row measurement"]
async fn ten_million_rows_are_pruned_without_hurting_the_hot_path() {
    let rows: i64 = std::env::var("KONTAKT_RETENTION_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let db = fresh_database().await.expect("database");
    let pool = referral_pool(&db, 4).await;
    let writers = referral_pool(&db, 8).await;

    let tables = std::env::var("KONTAKT_RETENTION_TABLES").unwrap_or_default();
    let wanted = |t: Table| tables.is_empty() || tables.split(',').any(|n| n == t.as_str());
    if wanted(Table::Outbox) {
        let started = Instant::now();
        for from in (1..=rows).step_by(1_000_000) {
            published(&pool, from, (from + 999_999).min(rows), 40).await;
        }
        outbox::record_subscriber(&pool, "bench/all", rows)
            .await
            .expect("subscriber");
        sqlx::query("VACUUM ANALYZE outbox")
            .execute(&pool)
            .await
            .expect("vacuum");
        println!("outbox: {rows} rows in {:.0?}", started.elapsed());
        measure(&pool, &writers, Table::Outbox, rows).await;
    }
    if !wanted(Table::AccessLog) {
        return;
    }

    let started = Instant::now();
    for from in (1..=rows).step_by(1_000_000) {
        logged(&pool, 1_000_000.min(rows - from + 1), 2000).await;
    }
    sqlx::query("VACUUM ANALYZE audit_log")
        .execute(&pool)
        .await
        .expect("vacuum");
    println!("audit_log: {rows} rows in {:.0?}", started.elapsed());
    measure(&pool, &writers, Table::AccessLog, rows).await;
}

async fn measure(pool: &PgPool, writers: &PgPool, table: Table, rows: i64) {
    let alone = write_for(writers, table, Duration::from_secs(15), None).await;
    let retention = retention_of(table);
    let pruning = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let removed = retention::prune(&pool, "referral", table, retention, retention::BATCH)
                .await
                .expect("prune");
            (removed, started.elapsed())
        })
    };
    let during = write_for(writers, table, Duration::from_secs(3600), Some(&pruning)).await;
    let (removed, took) = pruning.await.expect("prune");
    assert!(removed as i64 >= rows - 1, "{removed} of {rows}");
    println!(
        "retention {}: rows={rows} removed={removed} prune={:.1}s rows_per_s={:.0} \
         insert_p99_alone={:.2}ms insert_p99_during={:.2}ms inserts_alone={} inserts_during={} (per s: {:.0} vs {:.0})",
        table.as_str(),
        took.as_secs_f64(),
        removed as f64 / took.as_secs_f64(),
        alone.p99_ms,
        during.p99_ms,
        alone.count,
        during.count,
        alone.per_s,
        during.per_s,
    );
}

struct Latency {
    p99_ms: f64,
    count: usize,
    per_s: f64,
}

/// Four writers inserting one row a transaction (the hot path: an event with its change, an
/// access-log entry) for `limit`, or until `until` finishes.
async fn write_for(
    pool: &PgPool,
    table: Table,
    limit: Duration,
    until: Option<&tokio::task::JoinHandle<(u64, Duration)>>,
) -> Latency {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|w| {
            let pool = pool.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut took = Vec::new();
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let t = Instant::now();
                    let mut tx = pool.begin().await.expect("begin");
                    match table {
                        Table::Outbox => {
                            outbox::write(
                                &mut tx,
                                "referral",
                                &event(format!("subjects/w{w}-{i}")),
                            )
                            .await
                            .expect("write");
                        }
                        Table::AccessLog => {
                            sqlx::query(
                                "INSERT INTO audit_log (subject, roles, municipality, person, resource, action, purpose, method)
                                 VALUES ('w', ARRAY['counsellor'], '183', $1, $1, 'READ', 'bench', '/x')",
                            )
                            .bind(format!("municipalities/183/persons/w{w}-{i}"))
                            .execute(&mut *tx)
                            .await
                            .expect("log");
                        }
                    }
                    tx.commit().await.expect("commit");
                    took.push(t.elapsed());
                    i += 1;
                }
                took
            })
        })
        .collect();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let done = until.is_some_and(tokio::task::JoinHandle::is_finished);
        if done || started.elapsed() >= limit {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("writer"));
    }
    all.sort();
    let p99 = all[(all.len() * 99 / 100).min(all.len() - 1)];
    Latency {
        p99_ms: p99.as_secs_f64() * 1000.0,
        count: all.len(),
        per_s: all.len() as f64 / elapsed.as_secs_f64(),
    }
}
