//! Faults injected under load, with the promise checked afterwards in the database: every
//! acknowledged write is there once, no retry made a second one, and a call during the fault
//! got a retryable status, never INTERNAL. Each test prints
//! `faults=N acknowledged=N lost=N duplicated=N`. (A service killed with SIGKILL is in
//! `services/kontakt/tests/cli.rs`, where the `kontakt` binary is at hand.)

use std::sync::Arc;
use std::time::Duration;

use kontakt::Service;
use kontakt_harness::faults::{
    Tally, assert_nothing_lost, lock_table, percentile, referral_on_own_postgres, release,
    under_referral_load, world_readable_tempdir,
};
use kontakt_harness::{Start, fresh_database, start, test_server_settings, token};
use kontakt_platform::auth::Role;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::{GetLegalBasisRequest, ListLegalBasesRequest};
use sqlx::Connection as _;
use tonic::Code;

/// Writers keep creating cases and referrals (each a retried, idempotent call) while
/// PostgreSQL is stopped for two seconds and started again; the service is never restarted.
#[tokio::test]
async fn postgres_restarted_during_writes_loses_and_duplicates_nothing() {
    let dir = world_readable_tempdir();
    let (pg, running) = referral_on_own_postgres(dir.path()).await;
    let channel = running.with_token(&token(&[Role::Counsellor], &["183"]));

    let tally = Arc::new(Tally::default());
    let acknowledged = under_referral_load(channel, &tally, || async {
        let stopper = pg.clone();
        tokio::task::spawn_blocking(move || stopper.stop())
            .await
            .expect("join")
            .expect("stop postgres");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let starter = pg.clone();
        tokio::task::spawn_blocking(move || starter.restart())
            .await
            .expect("join")
            .expect("restart postgres");
    })
    .await;
    running.stop().await.expect("clean stop");

    let mut db = sqlx::PgConnection::connect_with(&pg.connect_options("postgres"))
        .await
        .expect("connect");
    assert_nothing_lost("postgres restart", &mut db, &acknowledged, &tally).await;
}

/// A slow database: the legal-basis table is held locked while three times the pool's
/// connections' worth of calls that read it arrive, each with a 300 ms deadline. Each is answered
/// DEADLINE_EXCEEDED at its deadline and its statement is cancelled with it, so the pool does not
/// fill with abandoned statements: the writers, which do not need that table, are answered as
/// quickly as before throughout.
#[tokio::test]
async fn a_slow_database_times_calls_out_without_piling_up_the_pool() {
    const SLOW_CALLS: usize = 15;
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("referral");
    let channel = running.with_token(&token(&[Role::Counsellor], &["183"]));
    let tally = Arc::new(Tally::default());
    let admin = running.admin();
    let acknowledged = under_referral_load(channel, &tally, || async {
        let lock = lock_table(&db, "referral.legal_bases").await;
        let calls: Vec<_> = (0..SLOW_CALLS)
            .map(|_| {
                let mut client = ReferralServiceClient::new(admin.clone());
                tokio::spawn(async move {
                    let mut request = tonic::Request::new(ListLegalBasesRequest::default());
                    request.set_timeout(Duration::from_millis(300));
                    let started = std::time::Instant::now();
                    let answer = client.list_legal_bases(request).await;
                    (answer.map(drop), started.elapsed())
                })
            })
            .collect();
        for call in calls {
            let (answer, took) = call.await.expect("join");
            let status = answer.expect_err("the table is locked");
            assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
            assert!(
                took < Duration::from_secs(1),
                "answered at its deadline, took {took:?}"
            );
        }
        tally.add_faults(SLOW_CALLS);
        // Their statements went with them: nothing of the service still waits for the lock.
        let mut look = db.connect().await.expect("connect");
        let mut waiting = i64::MAX;
        for _ in 0..20 {
            waiting = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = 'kontakt-referral' AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut look)
            .await
            .expect("pg_stat_activity");
            if waiting == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            waiting, 0,
            "statements still waiting 2 s after their calls ended"
        );
        // The writers carry on while the table stays locked.
        tokio::time::sleep(Duration::from_secs(1)).await;
        release(lock).await;
    })
    .await;
    let p99 = tally.p99();
    println!("slow database: writers' p99 {} ms", p99.as_millis());
    assert!(
        p99 < Duration::from_millis(500),
        "calls that do not need the locked table stayed responsive: p99 {p99:?}"
    );
    // Every connection came back: the pool serves more calls than it has connections, and the
    // service stops without waiting for one that never returns.
    let mut client = ReferralServiceClient::new(running.admin());
    for _ in 0..10 {
        client
            .list_legal_bases(ListLegalBasesRequest::default())
            .await
            .expect("served once the table is free");
    }
    tokio::time::timeout(Duration::from_secs(15), running.stop())
        .await
        .expect("the pool closes: no connection is stranded")
        .expect("clean stop");
    let mut conn = db.connect().await.expect("connect");
    assert_nothing_lost("slow database", &mut conn, &acknowledged, &tally).await;
}

/// Overload: 28 readers join the four writers against a concurrency limit of 4. Calls beyond the
/// limit are refused at once with RESOURCE_EXHAUSTED (the callers back off 5 ms and retry, as
/// the message tells them); the calls admitted are answered about as fast as without the crowd.
#[tokio::test]
async fn overload_is_refused_at_once_and_admitted_calls_stay_fast() {
    const READERS: usize = 28;
    let db = fresh_database().await.expect("database");
    let settings = kontakt_platform::config::ServerSettings {
        concurrency_limit: 4,
        ..test_server_settings()
    };
    let running = Start::new(Service::Referral, &db)
        .settings(settings)
        .run()
        .await
        .expect("referral");
    let read = |mut client: ReferralServiceClient<kontakt_harness::AuthedChannel>| async move {
        let started = std::time::Instant::now();
        let answer = client
            .get_legal_basis(GetLegalBasisRequest {
                name: "legalBases/bl-32-1-3".into(),
            })
            .await;
        (answer.map(drop), started.elapsed())
    };
    let mut alone = Vec::new();
    for _ in 0..200 {
        let (answer, took) = read(ReferralServiceClient::new(running.admin())).await;
        answer.expect("answered without a crowd");
        alone.push(took);
    }
    alone.sort_unstable();

    let tally = Arc::new(Tally::default());
    let channel = running.with_token(&token(&[Role::Counsellor], &["183"]));
    let (mut admitted, mut refused) = (Vec::new(), Vec::new());
    let acknowledged = under_referral_load(channel, &tally, || async {
        let until = std::time::Instant::now() + Duration::from_secs(2);
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let client = ReferralServiceClient::new(running.admin());
                tokio::spawn(async move {
                    let (mut admitted, mut refused) = (Vec::new(), Vec::new());
                    while std::time::Instant::now() < until {
                        match read(client.clone()).await {
                            (Ok(()), took) => admitted.push(took),
                            (Err(status), took) if status.code() == Code::ResourceExhausted => {
                                refused.push(took);
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            (Err(status), _) => panic!("neither answered nor refused: {status:?}"),
                        }
                    }
                    (admitted, refused)
                })
            })
            .collect();
        for reader in readers {
            let (a, r) = reader.await.expect("reader");
            admitted.extend(a);
            refused.extend(r);
        }
    })
    .await;
    tally.add_faults(refused.len());
    admitted.sort_unstable();
    refused.sort_unstable();
    let (alone_p99, admitted_p99, refused_p99) = (
        percentile(&alone, 99),
        percentile(&admitted, 99),
        percentile(&refused, 99),
    );
    println!(
        "overload: readers admitted={} p99 {:.1} ms (alone {:.1} ms), refused={} p99 {:.1} ms; \
         writers p99 {:.1} ms",
        admitted.len(),
        admitted_p99.as_secs_f64() * 1e3,
        alone_p99.as_secs_f64() * 1e3,
        refused.len(),
        refused_p99.as_secs_f64() * 1e3,
        tally.p99().as_secs_f64() * 1e3,
    );
    assert!(!refused.is_empty(), "the crowd never reached the limit");
    assert!(!admitted.is_empty(), "nothing was admitted");
    // Bounds, not measurements: two cores run the crowd, the service and PostgreSQL here.
    assert!(
        refused_p99 < Duration::from_millis(250),
        "refused at once, not queued: p99 {refused_p99:?}"
    );
    assert!(
        admitted_p99 < Duration::from_secs(1),
        "admitted calls stay fast: p99 {admitted_p99:?}"
    );
    running.stop().await.expect("clean stop");
    let mut conn = db.connect().await.expect("connect");
    assert_nothing_lost("overload", &mut conn, &acknowledged, &tally).await;
}
