//! Signals: SIGTERM drains in-flight calls, SIGKILL under load loses no acknowledged write.

use super::*;

#[tokio::test]
async fn sigterm_lets_an_in_flight_call_finish_before_the_process_exits() {
    let db = fresh_database().await.expect("database");
    let (mut child, channel) = serve_referral(&db, &[]).await;

    // Hold the catalogue table so the call waits inside PostgreSQL.
    let mut lock = db.connect().await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut lock)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE referral.legal_bases IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .expect("lock");
    let mut client = ReferralServiceClient::new(kontakt_harness::authed(
        channel.clone(),
        &kontakt_harness::admin_token(),
    ));
    let call = tokio::spawn(async move {
        client
            .list_legal_bases(ListLegalBasesRequest::default())
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!call.is_finished(), "the call is in flight");

    terminate(&child);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        child.try_wait().expect("status").is_none(),
        "the process waits for the call"
    );

    sqlx::query("ROLLBACK")
        .execute(&mut lock)
        .await
        .expect("release");
    let answer = call
        .await
        .expect("join")
        .expect("the in-flight call completes");
    assert!(!answer.get_ref().legal_bases.is_empty());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits after draining")
        .expect("status");
    assert!(status.success(), "clean exit: {status}");
}

/// A service killed outright (SIGKILL: no drain, no goodbye) under a write load and started
/// again where it was: every write it acknowledged is stored once, and the clients' retries
/// with the same request id made no second one.
#[tokio::test]
async fn sigkill_under_load_loses_no_acknowledged_write_and_retries_duplicate_nothing() {
    use kontakt_harness::faults::{Tally, assert_nothing_lost, under_referral_load};
    use kontakt_platform::auth::Role;

    let db = fresh_database().await.expect("database");
    let listen = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        free.local_addr().expect("address").to_string()
    };
    let (child, channel) = serve_referral_on(&db, &[], &listen).await;
    let channel = kontakt_harness::authed(
        channel,
        &kontakt_harness::token(&[Role::Counsellor], &["183"]),
    );

    // A consumer follows the feed of the process that will be killed, while events keep being
    // published to its outbox.
    let events = kontakt_harness::events::consumer_pool(&db).await;
    let (consumer, stop_consumer) =
        kontakt_harness::events::follow(&events, listen.parse().expect("address"), Duration::ZERO);
    let breaks = kontakt_harness::events::count_breaks(&consumer);
    let (stop_publishing, publisher) = kontakt_harness::events::publish_steadily(
        &kontakt_harness::events::producer_pool(&db),
        10,
        Duration::from_millis(50),
    );

    let tally = std::sync::Arc::new(Tally::default());
    let mut restarted = None;
    let (slot, db_ref, listen_ref) = (&mut restarted, &db, &listen);
    let acknowledged = under_referral_load(channel, &tally, move || async move {
        let mut killed = child;
        let pid = Pid::from_raw(killed.id().expect("still running") as i32);
        kill(pid, Signal::SIGKILL).expect("SIGKILL");
        let status = killed.wait().await.expect("reaped");
        assert!(!status.success(), "killed, not exited: {status}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        *slot = Some(serve_referral_on(db_ref, &[], listen_ref).await.0);
    })
    .await;
    let mut restarted = restarted.expect("restarted");

    let mut conn = db.connect().await.expect("connect");
    assert_nothing_lost("sigkill", &mut conn, &acknowledged, &tally).await;

    // The consumer caught up with the restarted process: every event once, in order.
    stop_publishing.send_replace(true);
    let published = publisher.await.expect("publisher");
    kontakt_harness::events::wait_for_cursor(&events, published, Duration::from_secs(60)).await;
    stop_consumer.send_replace(true);
    consumer.join().await;
    kontakt_harness::events::assert_events_once(
        "sigkill consumer",
        &kontakt_harness::events::applied(&events).await,
        published,
        breaks.load(std::sync::atomic::Ordering::Relaxed),
    );
    terminate(&restarted);
    let status = tokio::time::timeout(Duration::from_secs(15), restarted.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "clean exit: {status}");
}
