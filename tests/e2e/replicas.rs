//! Several replicas at once (issue 27), as the HPA runs them: two processes of every service on
//! one database.
//!
//! 1. Grants approved while both replicas of matching, time & cost and follow-up race for the
//!    referral feed: each grant's effect (a matching request, a forecast, a follow-up schedule)
//!    exists exactly once, and every event of the feed is applied (no gap in its sequences).
//!    The time from the first write to the last effect is printed: the two sequencers contend
//!    for the feed's order, and the consumers for their cursors.
//! 2. A rolling restart of the referral service under four writers that retry as the README
//!    tells them (the same `request_id`, on UNAVAILABLE or a transport error), reaching both
//!    replicas through one balanced channel, the restarted ones closing connections after
//!    500 ms (`KONTAKT_MAX_CONNECTION_AGE`): no call fails for good, nothing is lost or stored
//!    twice, and the consumers of its feed resume.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kontakt::Service;
use kontakt_harness::faults::{Tally, referral_writer};
use kontakt_harness::messages::grant_approved;
use kontakt_harness::{
    Start, StartTogether, TestDatabase, TestService, authed, eventually, fresh_database,
    test_server_settings, token,
};
use kontakt_platform::auth::Role;
use kontakt_platform::config::ServerSettings;
use kontakt_platform::outbox::{self, NewEvent};
use tonic::transport::{Channel, Endpoint};

const GRANTS: usize = 40;

fn addrs(set: &[TestService]) -> Vec<(Service, SocketAddr)> {
    set.iter().map(|s| (s.service, s.addr)).collect()
}

/// Publishes `n` GrantApproved (from grant `first` on) into the referral outbox, as decisions
/// do, from four writers at once.
async fn approve_grants(db: &TestDatabase, first: usize, n: usize) {
    let pool = kontakt_harness::events::producer_pool(db);
    let mut writers = Vec::new();
    for w in 0..4 {
        let pool = pool.clone();
        writers.push(tokio::spawn(async move {
            for i in (first + w..first + n).step_by(4) {
                let approved = grant_approved("183", &format!("g-{i}"), 120);
                let mut tx = pool.begin().await.expect("begin");
                let event = NewEvent::new(&approved, Some("183".into()), &approved.grant);
                outbox::write(&mut tx, "referral", &event)
                    .await
                    .expect("write");
                tx.commit().await.expect("commit");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    pool.close().await;
}

/// How many rows of `table` (schema-qualified) there are, and how many distinct `key`s.
async fn rows_and_keys(db: &TestDatabase, table: &str, key: &str) -> (i64, i64) {
    let mut conn = db.connect().await.expect("connect");
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), count(DISTINCT {key}) FROM {table}"
    )))
    .fetch_one(&mut conn)
    .await
    .expect("count")
}

/// The effects of `n` grants in the three consuming services, each once.
async fn each_grant_once(db: &TestDatabase, n: i64) -> Duration {
    let started = Instant::now();
    let tables = [
        ("matching.matching_requests", "id"),
        ("followup.schedules", "grant_id"),
        ("timecost.grants", "id"),
    ];
    for (table, key) in tables {
        let (rows, keys) = eventually(&format!("{n} grants in {table}"), || async move {
            let counted = rows_and_keys(db, table, key).await;
            (counted.1 >= n).then_some(counted)
        })
        .await;
        assert_eq!(
            (rows, keys),
            (n, n),
            "{table}: each grant's effect exactly once"
        );
    }
    started.elapsed()
}

#[tokio::test]
async fn two_replicas_apply_each_event_once_and_a_rolling_restart_fails_no_retried_call() {
    let db = fresh_database().await.expect("database");
    let first = StartTogether::new(&Service::ALL, &db)
        .run()
        .await
        .expect("the first replica of each");
    let second = StartTogether::new(&Service::ALL, &db)
        .run()
        .await
        .expect("the second replica of each");

    // 1. Both replicas of every consumer race for the same feed.
    let published = Instant::now();
    approve_grants(&db, 0, GRANTS).await;
    let publish_time = published.elapsed();
    let applied = each_grant_once(&db, GRANTS as i64).await;
    let mut conn = db.connect().await.expect("connect");
    let (events, gaps): (i64, i64) = sqlx::query_as(
        "SELECT count(*), max(sequence) - min(sequence) + 1 - count(*) FROM referral.outbox
          WHERE type = 'kontakt.referral.v1.GrantApproved'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("sequences");
    let cursors: Vec<(String, i64)> = sqlx::query_as(
        "SELECT consumer, last_sequence FROM matching.consumer_cursors
          UNION ALL SELECT consumer, last_sequence FROM followup.consumer_cursors
          UNION ALL SELECT consumer, last_sequence FROM timecost.consumer_cursors",
    )
    .fetch_all(&mut conn)
    .await
    .expect("cursors");
    assert_eq!(events, GRANTS as i64);
    assert_eq!(gaps, 0, "the feed's sequences have no gap");
    assert!(!cursors.is_empty());

    // 2. A rolling restart of the referral service, one replica after the other, under load.
    let counsellor = token(&[Role::Counsellor], &["183"]);
    let endpoints = [first[0].addr, second[0].addr]
        .map(|a| Endpoint::from_shared(format!("http://{a}")).expect("endpoint"));
    let balanced = authed(Channel::balance_list(endpoints.into_iter()), &counsellor);
    let person = kontakt_harness::fixtures::register_child(
        &mut kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient::new(
            balanced.clone(),
        ),
        "183",
        "010114-4234",
    )
    .await;
    let tally = Arc::new(Tally::default());
    let over = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            referral_writer(
                w,
                balanced.clone(),
                person.clone(),
                tally.clone(),
                over.clone(),
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut first, mut second) = (first, second);
    for set in [&mut first, &mut second] {
        let peers = addrs(set);
        let old = set.remove(0);
        assert_eq!(old.service, Service::Referral);
        let addr = old.addr;
        old.stop().await.expect("drained");
        // Started again with a short connection age, so that for the rest of the load its
        // clients (the writers, the consumers of its feed) are asked to reconnect every 500 ms.
        let new = Start::new(Service::Referral, &db)
            .on(addr)
            .following(&peers)
            .settings(ServerSettings {
                max_connection_age: Duration::from_millis(500),
                ..test_server_settings()
            })
            .run()
            .await
            .expect("started again");
        set.insert(0, new);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Connections closed for their age, under load.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    over.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.expect("writer"));
    }
    let unexpected = tally.unexpected();
    assert!(
        unexpected.is_empty(),
        "calls failed for good:\n{}",
        unexpected.join("\n")
    );
    let mut conn = db.connect().await.expect("connect");
    let (stored, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT request_id) FROM referral.referrals WHERE municipality = '183'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("referrals");
    assert_eq!(stored, distinct, "no referral stored twice");
    assert_eq!(
        stored,
        acknowledged.len() as i64,
        "every acknowledged referral stored"
    );

    // The consumers of the restarted producer resume: new grants still reach everyone once.
    approve_grants(&db, GRANTS, 8).await;
    each_grant_once(&db, GRANTS as i64 + 8).await;
    println!(
        "replicas: replicas=2 services=4 grants={} applied_once={} gaps={gaps} \
         published_in={publish_time:?} applied_in={applied:?}; rolling restart: \
         acknowledged={} retried={} failed=0 lost=0 duplicated=0",
        GRANTS + 8,
        GRANTS + 8,
        acknowledged.len() * 2,
        tally.faults(),
    );
    for service in first.into_iter().chain(second) {
        service.stop().await.expect("stop");
    }
}
