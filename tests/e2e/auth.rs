//! Authentication and role × method authorisation as a caller meets them over gRPC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use kontakt::Service;
use kontakt_harness::{authed, claims_token, fresh_database, signed_as_is, start, token};
use kontakt_platform::auth::dev_key::{DEV_AUDIENCE, DEV_ISSUER, DevKey};
use kontakt_platform::auth::principal::Audience;
use kontakt_platform::auth::{Claims, Role};
use kontakt_proto::referral::v1::ListLegalBasesRequest;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

fn valid_claims() -> Claims {
    Claims {
        sub: "someone".into(),
        kontakt_roles: vec!["counsellor".into()],
        kontakt_municipalities: vec!["183".into()],
        iss: DEV_ISSUER.into(),
        aud: Audience::One(DEV_AUDIENCE.into()),
        exp: now() + 600,
        iat: now(),
        ..Claims::default()
    }
}

/// The status and message a ListLegalBases call with `authorization` metadata gets.
async fn call_with(
    channel: &tonic::transport::Channel,
    authorization: Option<&str>,
) -> Result<(), tonic::Status> {
    let mut request = tonic::Request::new(ListLegalBasesRequest::default());
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().expect("metadata"));
    }
    ReferralServiceClient::new(channel.clone())
        .list_legal_bases(request)
        .await
        .map(|_| ())
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated_with_the_reason() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    let channel = &running.channel;

    let expired = Claims {
        exp: now() - 3600,
        ..valid_claims()
    };
    let foreign_issuer = Claims {
        iss: "https://idp.example".into(),
        ..valid_claims()
    };
    let foreign_audience = Claims {
        aud: Audience::Many(vec!["someone-else".into()]),
        ..valid_claims()
    };
    let other_dir = tempfile::tempdir().expect("dir");
    let untrusted_key = DevKey::load_or_create(other_dir.path()).expect("key");
    let valid = signed_as_is(&valid_claims());
    let (head, rest) = valid.split_once('.').expect("jwt");
    let (_, signature) = rest.split_once('.').expect("jwt");
    let tampered_payload = format!(
        "{head}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(
            serde_json::to_string(&Claims {
                kontakt_roles: vec!["admin".into()],
                ..valid_claims()
            })
            .expect("json")
        )
    );

    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no metadata", None, "missing"),
        (
            "not a bearer token",
            Some("Basic dXNlcjpwYXNz".into()),
            "Bearer",
        ),
        ("not a JWT", Some("Bearer not-a-jwt".into()), "well-formed"),
        (
            "expired",
            Some(format!("Bearer {}", signed_as_is(&expired))),
            "expired",
        ),
        (
            "wrong issuer",
            Some(format!("Bearer {}", signed_as_is(&foreign_issuer))),
            "issuer",
        ),
        (
            "wrong audience",
            Some(format!("Bearer {}", signed_as_is(&foreign_audience))),
            "audience",
        ),
        (
            "unknown key",
            Some(format!(
                "Bearer {}",
                untrusted_key.sign(&valid_claims()).expect("sign")
            )),
            "unknown key",
        ),
        (
            "tampered claims",
            Some(format!("Bearer {tampered_payload}")),
            "signature",
        ),
    ];
    for (case, authorization, reason) in cases {
        let status = call_with(channel, authorization.as_deref())
            .await
            .expect_err(case);
        assert_eq!(status.code(), Code::Unauthenticated, "{case}: {status:?}");
        assert!(
            status.message().contains(reason),
            "{case}: `{}` should say `{reason}`",
            status.message()
        );
    }

    // The same call with a good token goes through; probes need no token at all.
    call_with(channel, Some(&format!("Bearer {valid}")))
        .await
        .expect("a valid token is accepted");
    kontakt_harness::wait_for_health(channel, "", ServingStatus::Serving, Duration::from_secs(1))
        .await
        .expect("health needs no token");
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn a_token_without_a_known_role_is_permission_denied() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    let no_role = claims_token(Claims {
        sub: "intruder".into(),
        kontakt_roles: vec!["superuser".into()],
        kontakt_municipalities: vec!["183".into()],
        ..Claims::default()
    });
    let status = ReferralServiceClient::new(authed(running.channel.clone(), &no_role))
        .list_legal_bases(ListLegalBasesRequest::default())
        .await
        .expect_err("no role");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    running.stop().await.expect("stop");
}

/// Calls `/<service>/<method>` with an empty request, whatever the method's types are. The feed,
/// the one streaming method, is called through its own client: an empty subscription answers
/// with its headers at once and then waits for events.
async fn raw_call(
    channel: kontakt_harness::AuthedChannel,
    path: &str,
) -> Result<(), tonic::Status> {
    if path.ends_with("/kontakt.events.v1.EventFeedService/Subscribe") {
        let mut feed =
            kontakt_proto::events::v1::event_feed_service_client::EventFeedServiceClient::new(
                channel,
            );
        return feed
            .subscribe(kontakt_proto::events::v1::SubscribeRequest::default())
            .await
            .map(|_| ());
    }
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::try_from(path.to_owned()).expect("path");
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    grpc.unary(tonic::Request::new(()), path, codec)
        .await
        .map(|_| ())
}

/// Each service's access table, role by role and for the caller's own and another
/// municipality: an allowed role gets past authorisation (whatever the method then answers to
/// an empty request), any other role gets PERMISSION_DENIED.
#[tokio::test]
async fn every_method_admits_exactly_the_roles_its_access_table_names() {
    let db = fresh_database().await.expect("database");
    for service in Service::ALL {
        let running = start(service, &db).await.expect("service");
        for table in [
            service.def().access,
            &kontakt_platform::access_log::ACCESS,
            &kontakt_platform::feed::ACCESS,
        ] {
            for method in kontakt_proto::method_names(table.service) {
                let allowed = table.roles(&method).expect("every method has a row");
                let path = format!("/{}/{method}", table.service);
                for role in Role::ALL {
                    for municipality in ["183", "329"] {
                        let token = token(&[role], &[municipality]);
                        let outcome = raw_call(running.with_token(&token), &path).await;
                        let denied =
                            matches!(&outcome, Err(s) if s.code() == Code::PermissionDenied);
                        let unauthenticated =
                            matches!(&outcome, Err(s) if s.code() == Code::Unauthenticated);
                        assert!(!unauthenticated, "{path} as {role}: {outcome:?}");
                        assert_eq!(
                            denied,
                            !allowed.contains(&role),
                            "{path} as {role} for {municipality}: {outcome:?}"
                        );
                    }
                }
            }
        }
        running.stop().await.expect("stop");
    }
}
