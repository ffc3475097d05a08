//! The event feed as a subscriber meets it: replay, live tail, filters, scope, clean shutdown.

use std::time::Duration;

use kontakt::Service;
use kontakt_harness::{TestService, fresh_database, start, test_db_settings};
use kontakt_platform::auth::Role;
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_proto::events::v1::event_feed_service_client::EventFeedServiceClient;
use kontakt_proto::events::v1::subscribe_response::Item;
use kontakt_proto::events::v1::{SubscribeRequest, SubscribeResponse};
use tokio_stream::StreamExt as _;
use tonic::{Code, Streaming};

async fn publish(db: &kontakt_harness::TestDatabase, events: &[(&str, &str, &str)]) {
    let pool = Service::Referral.pool(db.options.clone(), &test_db_settings());
    for (r#type, municipality, subject) in events {
        let mut tx = pool.begin().await.expect("begin");
        let event = NewEvent {
            r#type: (*r#type).into(),
            municipality: Some((*municipality).into()),
            subject: (*subject).into(),
            payload: Vec::new(),
        };
        outbox::write(&mut tx, "referral", &event)
            .await
            .expect("write");
        tx.commit().await.expect("commit");
    }
    pool.close().await;
}

fn feed(
    running: &TestService,
    role: Role,
    municipality: &str,
) -> EventFeedServiceClient<kontakt_harness::AuthedChannel> {
    EventFeedServiceClient::new(running.as_role(role, municipality))
}

/// A subscription as `role` of `municipality` to the events of `types` (all if none) after
/// `after_sequence`.
async fn subscribed(
    running: &TestService,
    role: Role,
    municipality: &str,
    after_sequence: i64,
    types: &[&str],
) -> Streaming<SubscribeResponse> {
    feed(running, role, municipality)
        .subscribe(SubscribeRequest {
            after_sequence,
            types: types.iter().map(|&t| t.into()).collect(),
        })
        .await
        .expect("subscribed")
        .into_inner()
}

/// The next `n` events, passing over progress reports.
async fn next_subjects(stream: &mut Streaming<SubscribeResponse>, n: usize) -> Vec<(i64, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        if let Item::Event(event) = next_item(stream).await {
            got.push((event.sequence, event.subject));
        }
    }
    got
}

async fn next_item(stream: &mut Streaming<SubscribeResponse>) -> Item {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an item within 10 s")
        .expect("the stream is open")
        .expect("an item")
        .item
        .expect("an event or progress")
}

/// Reads until the feed says it has caught up; returns that sequence and the events before it.
async fn until_caught_up(stream: &mut Streaming<SubscribeResponse>) -> (i64, Vec<String>) {
    let mut subjects = Vec::new();
    loop {
        match next_item(stream).await {
            Item::Event(event) => subjects.push(event.subject),
            Item::Progress(progress) => return (progress.published_sequence, subjects),
        }
    }
}

#[tokio::test]
async fn a_subscriber_gets_the_replay_then_live_events_in_order() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    publish(&db, &[("t.A", "183", "one"), ("t.A", "183", "two")]).await;

    let mut stream = subscribed(&running, Role::Service, "183", 0, &[]).await;
    assert_eq!(
        next_subjects(&mut stream, 2).await,
        [(1, "one".into()), (2, "two".into())]
    );

    publish(&db, &[("t.A", "329", "three")]).await;
    assert_eq!(next_subjects(&mut stream, 1).await, [(3, "three".into())]);

    // Resuming after a cursor replays only what follows it.
    let mut resumed = subscribed(&running, Role::Service, "183", 2, &[]).await;
    assert_eq!(next_subjects(&mut resumed, 1).await, [(3, "three".into())]);
    drop((stream, resumed));
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn filters_by_type_and_a_case_system_sees_only_its_municipality() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    publish(
        &db,
        &[
            ("t.A", "183", "a-183"),
            ("t.B", "183", "b-183"),
            ("t.A", "329", "a-329"),
            ("t.A", "183", "a2-183"),
        ],
    )
    .await;
    let mut only_a = subscribed(&running, Role::Service, "183", 0, &["t.A"]).await;
    let subjects: Vec<String> = next_subjects(&mut only_a, 3)
        .await
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(subjects, ["a-183", "a-329", "a2-183"]);

    // Filtered out at the end or not, a subscriber learns how far the feed has read.
    let mut only_b = subscribed(&running, Role::Service, "183", 0, &["t.B"]).await;
    assert_eq!(
        until_caught_up(&mut only_b).await,
        (4, vec!["b-183".into()])
    );

    let mut ishoej = subscribed(&running, Role::CaseSystem, "183", 0, &[]).await;
    let subjects: Vec<String> = next_subjects(&mut ishoej, 3)
        .await
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(subjects, ["a-183", "b-183", "a2-183"], "no Ringsted event");

    let refused = feed(&running, Role::Counsellor, "183")
        .subscribe(SubscribeRequest::default())
        .await
        .expect_err("a counsellor has no feed");
    assert_eq!(refused.code(), Code::PermissionDenied);
    drop((only_a, only_b, ishoej));
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn open_streams_end_cleanly_when_the_service_stops() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    let mut stream = subscribed(&running, Role::Service, "183", 0, &[]).await;
    // An empty feed: the subscriber is told it has caught up, at 0.
    assert_eq!(until_caught_up(&mut stream).await, (0, Vec::new()));
    let started = std::time::Instant::now();
    let stopping = tokio::spawn(running.stop());
    let end = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the stream ends promptly");
    assert!(
        end.is_none() || end.as_ref().is_some_and(|r| r.is_err()),
        "no event, just the end: {end:?}"
    );
    stopping.await.expect("join").expect("clean stop");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stopped well inside the grace period"
    );
}
