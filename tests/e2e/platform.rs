//! The platform as a user of the suite sees it over real gRPC: health follows the database,
//! reflection describes every service, limits answer with clean gRPC errors.

use std::sync::Arc;
use std::time::Duration;

use kontakt::Service;
use kontakt_harness::faults::{release, world_readable_tempdir};
use kontakt_harness::{Start, fresh_database, start, test_server_settings, wait_for_health};
use kontakt_platform::clock::SystemClock;
use kontakt_platform::embedded_pg::{EmbeddedPgError, EmbeddedPostgres};
use kontakt_proto::matching::v1::ListCompetencesRequest;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::{GetLegalBasisRequest, ListLegalBasesRequest};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test]
async fn every_service_is_serving_once_its_migrations_are_applied() {
    let db = fresh_database().await.expect("database");
    for service in Service::ALL {
        let running = start(service, &db)
            .await
            .expect("service starts and reports SERVING");
        every_served_name_is(
            &running.channel,
            service,
            ServingStatus::Serving,
            Duration::from_secs(5),
        )
        .await;
        let schema = service.def().schema;
        let mut conn = db.connect().await.expect("connect");
        let applied: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{schema}\"._sqlx_migrations WHERE success"
        )))
        .fetch_one(&mut conn)
        .await
        .expect("the service's migrations live in its own schema");
        assert_eq!(
            applied,
            service.def().migrator.iter().count() as i64,
            "{schema}"
        );
        running.stop().await.expect("clean stop");
    }
}

/// Waits until every name `service`'s process answers health for (the overall status "", the
/// service's own name, and the access log and event feed it serves beside it) reports `want`.
async fn every_served_name_is(
    channel: &tonic::transport::Channel,
    service: Service,
    want: ServingStatus,
    within: Duration,
) {
    for name in [
        "",
        service.def().grpc_name,
        kontakt_proto::service_names::ACCESS_LOG,
        kontakt_proto::service_names::EVENT_FEED,
        kontakt_proto::service_names::CONSUMER_REJECTS,
    ] {
        wait_for_health(channel, name, want, within)
            .await
            .unwrap_or_else(|e| panic!("health of {name:?}: {e}"));
    }
}

/// Waits until `service`'s own name reports `want` within `within` (the pace of its database
/// going away or coming back), then every other name its process serves soon after.
async fn health_follows(
    channel: &tonic::transport::Channel,
    service: Service,
    want: ServingStatus,
    within: Duration,
) {
    let name = service.def().grpc_name;
    wait_for_health(channel, name, want, within)
        .await
        .unwrap_or_else(|e| panic!("{name} follows its database: {e}"));
    every_served_name_is(channel, service, want, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_service_is_not_serving_until_its_schema_is_migrated() {
    let db = fresh_database().await.expect("database");
    let listener = kontakt::bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut db_settings = kontakt_harness::test_db_settings();
    db_settings.migrate_on_start = false;
    let handle = kontakt::spawn(kontakt::Launch {
        service: Service::Matching,
        auth: kontakt_harness::verifier().await,
        cpr: None,
        listener,
        database: db.options.clone(),
        db_settings,
        server_settings: test_server_settings(),
        clock: Arc::new(SystemClock),
        peers: kontakt_harness::peers(&[]),
    })
    .expect("spawn");
    let channel = kontakt_harness::connect(addr).await.expect("connect");
    let name = Service::Matching.def().grpc_name;
    wait_for_health(
        &channel,
        name,
        ServingStatus::NotServing,
        Duration::from_secs(5),
    )
    .await
    .expect("NOT_SERVING before migration");
    // Still not serving a moment later: nothing migrates behind our back.
    tokio::time::sleep(Duration::from_millis(400)).await;
    wait_for_health(
        &channel,
        name,
        ServingStatus::NotServing,
        Duration::from_secs(1),
    )
    .await
    .expect("still NOT_SERVING");
    // A call that arrives anyway is told to retry, not given an INTERNAL error about a table
    // that does not exist yet.
    let mut matching = MatchingServiceClient::new(kontakt_harness::authed(
        channel.clone(),
        &kontakt_harness::admin_token(),
    ));
    let early = matching
        .list_competences(ListCompetencesRequest::default())
        .await
        .expect_err("not migrated yet");
    assert_eq!(early.code(), Code::Unavailable, "{early:?}");

    // What `kontakt migrate matching` does.
    let def = Service::Matching.def();
    let pool = Service::Matching.pool(db.options.clone(), &kontakt_harness::test_db_settings());
    kontakt_platform::db::migrate(&pool, def.schema, def.migrator)
        .await
        .expect("migrate");
    wait_for_health(
        &channel,
        name,
        ServingStatus::Serving,
        Duration::from_secs(5),
    )
    .await
    .expect("SERVING once migrated");
    matching
        .list_competences(ListCompetencesRequest::default())
        .await
        .expect("calls work once migrated");
    handle.shutdown().await.expect("stop");
}

/// Stops or restarts (`change`) the referral service's own PostgreSQL, then waits up to
/// `within_secs` for its health to follow to `want`.
async fn postgres_then_health(
    pg: &Arc<EmbeddedPostgres>,
    running: &kontakt_harness::TestService,
    change: fn(&EmbeddedPostgres) -> Result<(), EmbeddedPgError>,
    want: ServingStatus,
    within_secs: u64,
) {
    let pg = pg.clone();
    tokio::task::spawn_blocking(move || change(&pg))
        .await
        .expect("join")
        .expect("postgres stopped or restarted");
    health_follows(
        &running.channel,
        Service::Referral,
        want,
        Duration::from_secs(within_secs),
    )
    .await;
}

#[tokio::test]
async fn health_follows_the_database_down_and_back_without_a_restart() {
    let dir = world_readable_tempdir();
    let (pg, running) = kontakt_harness::faults::referral_on_own_postgres(dir.path()).await;
    let mut client = ReferralServiceClient::new(running.admin());
    client
        .list_legal_bases(ListLegalBasesRequest::default())
        .await
        .expect("a call works while the database is up");

    postgres_then_health(
        &pg,
        &running,
        EmbeddedPostgres::stop,
        ServingStatus::NotServing,
        10,
    )
    .await;
    let during_outage = client
        .list_legal_bases(ListLegalBasesRequest::default())
        .await
        .expect_err("no answer without a database");
    assert_eq!(
        during_outage.code(),
        Code::Unavailable,
        "retryable, not INTERNAL: {during_outage:?}"
    );

    postgres_then_health(
        &pg,
        &running,
        EmbeddedPostgres::restart,
        ServingStatus::Serving,
        15,
    )
    .await;
    // The first call after the outage may meet a connection broken by the restart; the retry
    // a client makes on UNAVAILABLE succeeds.
    let mut answered = false;
    for _ in 0..5 {
        if client
            .list_legal_bases(ListLegalBasesRequest::default())
            .await
            .is_ok()
        {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "calls work again after the database returns");
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn reflection_lists_and_describes_every_service_in_v1_and_v1alpha() {
    use tokio_stream::StreamExt as _;
    use tonic_reflection::pb::{v1, v1alpha};

    let db = fresh_database().await.expect("database");
    for service in Service::ALL {
        let running = start(service, &db).await.expect("service");
        let grpc_name = service.def().grpc_name;

        let mut client =
            v1::server_reflection_client::ServerReflectionClient::new(running.channel.clone());
        let requests = tokio_stream::iter([
            v1::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
                    String::new(),
                )),
            },
            v1::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(
                    v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                        grpc_name.to_owned(),
                    ),
                ),
            },
        ]);
        let mut answers = client
            .server_reflection_info(requests)
            .await
            .expect("reflection")
            .into_inner();
        let listed = match answers
            .next()
            .await
            .expect("an answer")
            .expect("ok")
            .message_response
        {
            Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) => {
                list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
            }
            other => panic!("unexpected reflection answer {other:?}"),
        };
        for expected in [
            grpc_name,
            "kontakt.audit.v1.AccessLogService",
            "kontakt.events.v1.EventFeedService",
            "kontakt.events.v1.ConsumerRejectService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
        ] {
            assert!(
                listed.iter().any(|s| s == expected),
                "{expected} missing from {listed:?}"
            );
        }
        // Only this process's service (and the access log, event feed and consumer rejects
        // every service has) is advertised, not its siblings.
        assert_eq!(
            listed.iter().filter(|s| s.starts_with("kontakt.")).count(),
            4,
            "{listed:?}"
        );
        match answers
            .next()
            .await
            .expect("an answer")
            .expect("ok")
            .message_response
        {
            Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(
                files,
            )) => {
                assert!(
                    !files.file_descriptor_proto.is_empty(),
                    "{grpc_name} can be described"
                );
            }
            other => panic!("describe {grpc_name}: unexpected answer {other:?}"),
        }

        let mut alpha =
            v1alpha::server_reflection_client::ServerReflectionClient::new(running.channel.clone());
        let request = v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
            ),
        };
        let mut answers = alpha
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect("v1alpha reflection")
            .into_inner();
        match answers
            .next()
            .await
            .expect("an answer")
            .expect("ok")
            .message_response
        {
            Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(
                list,
            )) => {
                assert!(list.service.iter().any(|s| s.name == grpc_name));
            }
            other => panic!("unexpected v1alpha answer {other:?}"),
        }
        running.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn an_oversized_message_gets_a_clean_error_and_the_connection_lives_on() {
    let db = fresh_database().await.expect("database");
    let settings = kontakt_platform::config::ServerSettings {
        max_message_bytes: 1024,
        ..test_server_settings()
    };
    let running = referral_with(&db, settings).await;
    let mut client = ReferralServiceClient::new(running.admin());
    let error = client
        .get_legal_basis(GetLegalBasisRequest {
            name: "x".repeat(64 * 1024),
        })
        .await
        .expect_err("too large");
    assert_eq!(error.code(), Code::OutOfRange, "{error:?}");
    assert!(
        error.message().contains("1024"),
        "the limit is named: {}",
        error.message()
    );
    let basis = client
        .get_legal_basis(GetLegalBasisRequest {
            name: "legalBases/bl-32-1-3".into(),
        })
        .await
        .expect("the same connection still answers");
    assert_eq!(basis.get_ref().code, "bl-32-1-3");
    running.stop().await.expect("stop");
}

/// The referral service on `db` with non-default server settings.
async fn referral_with(
    db: &kontakt_harness::TestDatabase,
    settings: kontakt_platform::config::ServerSettings,
) -> kontakt_harness::TestService {
    Start::new(Service::Referral, db)
        .settings(settings)
        .run()
        .await
        .expect("service")
}

/// Holds the legal-basis table locked, so calls that read it wait in PostgreSQL.
async fn lock_legal_bases(db: &kontakt_harness::TestDatabase) -> sqlx::PgConnection {
    kontakt_harness::faults::lock_table(db, "referral.legal_bases").await
}

#[tokio::test]
async fn a_client_deadline_is_honoured_with_deadline_exceeded() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    let lock = lock_legal_bases(&db).await;
    let mut client = ReferralServiceClient::new(running.admin());
    // The deadline as every gRPC client sends it: the `grpc-timeout` header.
    let mut request = tonic::Request::new(ListLegalBasesRequest::default());
    request
        .metadata_mut()
        .insert("grpc-timeout", "2S".parse().expect("header value"));
    let started = std::time::Instant::now();
    let error = client
        .list_legal_bases(request)
        .await
        .expect_err("blocked by the lock");
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered near the deadline"
    );
    release(lock).await;
    client
        .list_legal_bases(ListLegalBasesRequest::default())
        .await
        .expect("served again once the lock is gone");
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn the_servers_own_call_timeout_applies_when_the_client_sets_none() {
    let db = fresh_database().await.expect("database");
    let settings = kontakt_platform::config::ServerSettings {
        request_timeout: Duration::from_millis(300),
        ..test_server_settings()
    };
    let running = referral_with(&db, settings).await;
    let lock = lock_legal_bases(&db).await;
    let mut client = ReferralServiceClient::new(running.admin());
    let error = client
        .list_legal_bases(ListLegalBasesRequest::default())
        .await
        .expect_err("blocked by the lock");
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");
    release(lock).await;
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_are_refused_at_once() {
    let db = fresh_database().await.expect("database");
    let settings = kontakt_platform::config::ServerSettings {
        concurrency_limit: 1,
        ..test_server_settings()
    };
    let running = referral_with(&db, settings).await;
    let lock = lock_legal_bases(&db).await;
    let mut first = ReferralServiceClient::new(running.admin());
    let in_flight = tokio::spawn(async move {
        first
            .list_legal_bases(ListLegalBasesRequest::default())
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut second = ReferralServiceClient::new(running.admin());
    let started = std::time::Instant::now();
    let refused = second
        .get_legal_basis(GetLegalBasisRequest {
            name: "legalBases/bl-95".into(),
        })
        .await
        .expect_err("over the limit");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once, not queued"
    );
    // Probes are never refused, even at the limit.
    wait_for_health(
        &running.channel,
        "",
        ServingStatus::Serving,
        Duration::from_secs(1),
    )
    .await
    .expect("health answers at the limit");

    release(lock).await;
    in_flight
        .await
        .expect("join")
        .expect("the admitted call completes");
    running.stop().await.expect("stop");
}
