//! The consumer runtime against a real feed: every event applied exactly once and in order —
//! with two replicas racing, with a consumer killed mid-batch, and across a producer restart.

use std::sync::Arc;
use std::time::Duration;

use kontakt::Service;
use kontakt_harness::events::{
    applied, assert_each_once_in_order, consumer_pool, follow, producer_pool, publish,
    stored_cursor, subscription, wait_for_cursor,
};
use kontakt_harness::{
    Start, fresh_database, start, test_db_settings, test_server_settings, verifier,
};
use kontakt_platform::server::{ServeOptions, ServiceHandle};

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
    kontakt_harness::events::assert_events_once(
        "consumer killed mid-batch",
        &applied(&pool).await,
        2000,
        1,
    );
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

    let producer = Start::new(Service::Referral, &db)
        .on(addr)
        .run()
        .await
        .expect("the producer comes back on its address");
    publish(&writing, (0..100).map(|i| format!("after-{i}"))).await;
    wait_for_cursor(&pool, 300, Duration::from_secs(60)).await;
    kontakt_harness::events::assert_events_once(
        "producer restarted",
        &applied(&pool).await,
        300,
        1,
    );

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
    // Kept with its event, so that it can be applied again once its cause is mended.
    let rejected: Vec<(i64, String, String, bool)> = sqlx::query_as(
        "SELECT sequence, subject, reason, envelope IS NOT NULL AND reapplied_at IS NULL
           FROM consumer_rejects",
    )
    .fetch_all(&pool)
    .await
    .expect("rejects");
    assert_eq!(
        rejected,
        [(2, "poison".to_owned(), "a poison event".to_owned(), true)]
    );
    stop.send_replace(true);
    running.join().await;
    producer.stop().await.expect("stop");
}

/// A consumer cut off from its producer by a silent network partition for three seconds while
/// events keep being published: it notices through HTTP/2 keep-alive (shortened here from the
/// 15 + 10 s of `consumer::endpoint`), its lag grows, and once the link is back it resubscribes
/// after its cursor and catches up, each event applied once and in order.
#[tokio::test]
async fn a_consumer_cut_off_from_its_producer_falls_behind_then_catches_up_with_nothing_lost() {
    use kontakt_harness::events::{assert_events_once, count_breaks, publish_steadily, run};
    let db = fresh_database().await.expect("database");
    let producer = start(Service::Referral, &db).await.expect("producer");
    let writing = producer_pool(&db);
    let pool = consumer_pool(&db).await;
    let cable = kontakt_harness::faults::Cable::to(producer.addr).await;
    let mut cut_off = subscription(cable.addr(), Duration::ZERO);
    cut_off.producer = kontakt_platform::consumer::endpoint(&format!("http://{}", cable.addr()))
        .expect("endpoint")
        .http2_keep_alive_interval(Duration::from_millis(500))
        .keep_alive_timeout(Duration::from_millis(500))
        .connect_lazy();
    let (running, stop) = run(&pool, cut_off);
    let breaks = count_breaks(&running);

    // Twenty events every 100 ms, before, during and after the cut.
    let (stop_writing, writer) = publish_steadily(&writing, 20, Duration::from_millis(100));
    let lag = || async {
        let head: i64 =
            sqlx::query_scalar("SELECT coalesce(max(sequence), 0) FROM referral.outbox")
                .fetch_one(&writing)
                .await
                .expect("head");
        head - stored_cursor(&pool).await
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let lag_before = lag().await;

    cable.cut();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let lag_cut = lag().await;
    cable.mend();
    let mended = std::time::Instant::now();
    loop {
        if lag().await == 0 {
            break;
        }
        assert!(
            mended.elapsed() < Duration::from_secs(30),
            "still behind 30 s after the link came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let caught_up = mended.elapsed();
    stop_writing.send_replace(true);
    let published: i64 = writer.await.expect("writer");
    wait_for_cursor(&pool, published, Duration::from_secs(30)).await;
    println!(
        "consumer cut off: lag {lag_before} events before, {lag_cut} after 3 s cut off, 0 again {} ms after the link came back",
        caught_up.as_millis()
    );
    assert!(
        lag_cut > lag_before.max(20),
        "the lag grew while cut off: {lag_before} → {lag_cut}"
    );
    stop.send_replace(true);
    running.join().await;
    assert_events_once(
        "consumer cut off",
        &applied(&pool).await,
        published,
        breaks.load(std::sync::atomic::Ordering::Relaxed),
    );
    producer.stop().await.expect("stop");
}
