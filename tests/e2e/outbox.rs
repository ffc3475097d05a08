//! The outbox's order: gap-free even when transactions commit out of order (the gap problem).

use std::collections::HashSet;

use kontakt::Service;
use kontakt_harness::{fresh_database, test_db_settings};
use kontakt_platform::outbox::{self, NewEvent};
use sqlx::PgPool;

async fn referral_pool() -> PgPool {
    let db = fresh_database().await.expect("database");
    let mut settings = test_db_settings();
    settings.db_max_connections = 20;
    kontakt_harness::migrated_pool(&db, Service::Referral, &settings).await
}

fn event(subject: &str) -> NewEvent {
    NewEvent {
        r#type: "kontakt.test.v1.Happened".into(),
        municipality: Some("183".into()),
        subject: subject.into(),
        payload: subject.as_bytes().to_vec(),
    }
}

async fn published(pool: &PgPool) -> Vec<(i64, String)> {
    outbox::read_range(pool, 0, i64::MAX, &[], None, 1000)
        .await
        .expect("read")
        .into_iter()
        .map(|e| (e.sequence, e.subject))
        .collect()
}

#[tokio::test]
async fn an_event_whose_transaction_commits_late_is_not_skipped_by_a_consumer_already_past_it() {
    let pool = referral_pool().await;

    // A writes first but stays open; B writes later and commits.
    let mut a = pool.begin().await.expect("begin");
    outbox::write(&mut a, "referral", &event("a"))
        .await
        .expect("write a");
    let mut b = pool.begin().await.expect("begin");
    outbox::write(&mut b, "referral", &event("b"))
        .await
        .expect("write b");
    b.commit().await.expect("commit b");

    // The gap problem: by insertion id, A comes first but only B is visible, so a consumer
    // tailing by id would move its cursor past A's id and never see A.
    let ids: Vec<(i64, String)> = sqlx::query_as("SELECT id, subject FROM outbox ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("ids");
    assert_eq!(ids.len(), 1);
    let a_id: i64 = ids[0].0 - 1;
    assert_eq!(
        ids[0].1, "b",
        "B ({}) is visible, A ({a_id}) is not",
        ids[0].0
    );

    // B is published now; a consumer takes it and moves its cursor on.
    assert_eq!(outbox::sequence(&pool).await.expect("sequence"), 1);
    let first = outbox::read_range(&pool, 0, i64::MAX, &[], None, 10)
        .await
        .expect("read");
    assert_eq!(
        first
            .iter()
            .map(|e| (e.sequence, e.subject.as_str()))
            .collect::<Vec<_>>(),
        [(1, "b")]
    );
    let cursor = first[0].sequence;

    // A commits late: it gets a later number, so the consumer past B still receives it.
    a.commit().await.expect("commit a");
    assert_eq!(outbox::sequence(&pool).await.expect("sequence"), 1);
    let next = outbox::read_range(&pool, cursor, i64::MAX, &[], None, 10)
        .await
        .expect("read");
    assert_eq!(
        next.iter()
            .map(|e| (e.sequence, e.subject.as_str()))
            .collect::<Vec<_>>(),
        [(2, "a")]
    );
}

#[tokio::test]
async fn an_open_writer_holds_nothing_up_and_a_rolled_back_one_leaves_nothing() {
    let pool = referral_pool().await;
    let mut open = pool.begin().await.expect("begin");
    outbox::write(&mut open, "referral", &event("open"))
        .await
        .expect("write");
    let mut aborted = pool.begin().await.expect("begin");
    outbox::write(&mut aborted, "referral", &event("never"))
        .await
        .expect("write");
    aborted.rollback().await.expect("rollback");
    let mut done = pool.begin().await.expect("begin");
    outbox::write(&mut done, "referral", &event("done"))
        .await
        .expect("write");
    done.commit().await.expect("commit");

    assert_eq!(outbox::sequence(&pool).await.expect("sequence"), 1);
    assert_eq!(published(&pool).await, [(1, "done".to_owned())]);
    open.commit().await.expect("commit");
    assert_eq!(outbox::sequence(&pool).await.expect("sequence"), 1);
    assert_eq!(
        published(&pool).await,
        [(1, "done".to_owned()), (2, "open".to_owned())]
    );
}

#[tokio::test]
async fn ten_thousand_events_from_eight_concurrent_writers_are_read_once_each_in_gap_free_order() {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 1250;
    let pool = referral_pool().await;

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    let mut tx = pool.begin().await.expect("begin");
                    outbox::write(&mut tx, "referral", &event(&format!("{w}-{i}")))
                        .await
                        .expect("write");
                    tx.commit().await.expect("commit");
                }
            })
        })
        .collect();
    // Sequencers race the writers and each other (as replicas would), flat out; each reports
    // whether any of its turns failed.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sequencers: Vec<_> = (0..4)
        .map(|_| {
            let (pool, stop) = (pool.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    outbox::sequence(&pool).await?;
                    tokio::task::yield_now().await;
                }
                Ok::<(), sqlx::Error>(())
            })
        })
        .collect();

    // A tailing reader: whatever it has seen, it asks only for what comes after its cursor.
    let mut cursor = 0;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while seen.len() < WRITERS * PER_WRITER {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} events arrived",
            seen.len()
        );
        let page = outbox::read_range(&pool, cursor, i64::MAX, &[], None, 500)
            .await
            .expect("read");
        for event in page {
            assert_eq!(
                event.sequence,
                cursor + 1,
                "the feed has a gap after {cursor}"
            );
            cursor = event.sequence;
            seen.push(event.subject);
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for sequencer in sequencers {
        sequencer
            .await
            .expect("join")
            .expect("no sequencer turn failed");
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        WRITERS * PER_WRITER,
        "every event exactly once"
    );
    // Each writer's own events keep their order.
    for w in 0..WRITERS {
        let mine: Vec<usize> = seen
            .iter()
            .filter_map(|s| {
                s.strip_prefix(&format!("{w}-"))
                    .and_then(|i| i.parse().ok())
            })
            .collect();
        assert!(
            mine.windows(2).all(|p| p[0] < p[1]),
            "writer {w} out of order"
        );
    }
}
