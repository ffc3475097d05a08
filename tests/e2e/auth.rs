//! Authentication and role × method authorisation as a caller meets them over gRPC.

use kontakt_platform::clock::{Clock as _, SystemClock};
use std::time::Duration;

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
    u64::try_from(SystemClock.now().timestamp()).expect("time")
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

/// A token that names no algorithm (`alg: none`) and carries no signature.
fn unsigned(claims: &Claims) -> String {
    let signed = signed_as_is(claims);
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(signed.split('.').next().expect("jwt"))
            .expect("header"),
    )
    .expect("json");
    let none = serde_json::json!({ "alg": "none", "typ": "JWT", "kid": header["kid"] });
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(none.to_string()),
        URL_SAFE_NO_PAD.encode(serde_json::to_string(claims).expect("json"))
    )
}

/// Every way a token can be wrong, with a word the refusal must contain.
fn abused_tokens() -> Vec<(&'static str, Option<String>, &'static str)> {
    let expired = Claims {
        exp: now() - 3600,
        ..valid_claims()
    };
    let not_yet = Claims {
        nbf: Some(now() + 3600),
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
    let bearer = |token: String| Some(format!("Bearer {token}"));
    vec![
        ("no metadata", None, "missing"),
        (
            "not a bearer token",
            Some("Basic dXNlcjpwYXNz".into()),
            "Bearer",
        ),
        ("not a JWT", bearer("not-a-jwt".into()), "well-formed"),
        ("alg none", bearer(unsigned(&valid_claims())), "well-formed"),
        ("expired", bearer(signed_as_is(&expired)), "expired"),
        (
            "not yet valid",
            bearer(signed_as_is(&not_yet)),
            "not valid yet",
        ),
        (
            "wrong issuer",
            bearer(signed_as_is(&foreign_issuer)),
            "issuer",
        ),
        (
            "wrong audience",
            bearer(signed_as_is(&foreign_audience)),
            "audience",
        ),
        (
            "wrong key",
            bearer(untrusted_key.sign(&valid_claims()).expect("sign")),
            "unknown key",
        ),
        ("tampered claims", bearer(tampered_payload), "signature"),
    ]
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated_with_the_reason() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    let channel = &running.channel;
    for (case, authorization, reason) in abused_tokens() {
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
    let valid = signed_as_is(&valid_claims());
    call_with(channel, Some(&format!("Bearer {valid}")))
        .await
        .expect("a valid token is accepted");
    kontakt_harness::wait_for_health(channel, "", ServingStatus::Serving, Duration::from_secs(1))
        .await
        .expect("health needs no token");
    running.stop().await.expect("stop");
}

/// Every method a service serves, with the access table that governs it: its own API, the
/// access log and the event feed.
fn every_method(service: Service) -> Vec<(&'static kontakt_platform::auth::AccessTable, String)> {
    [
        service.def().access,
        &kontakt_platform::access_log::ACCESS,
        &kontakt_platform::feed::ACCESS,
    ]
    .into_iter()
    .flat_map(|table| {
        kontakt_proto::method_names(table.service)
            .into_iter()
            .map(move |method| (table, method))
    })
    .collect()
}

/// The same abuse against every method of every service (its own API, the access log and the
/// event feed): each is refused as UNAUTHENTICATED before the method runs.
#[tokio::test]
async fn every_service_refuses_every_abused_token_on_every_method() {
    let db = fresh_database().await.expect("database");
    let mut refused = 0;
    for service in Service::ALL {
        let running = start(service, &db).await.expect("service");
        for (table, method) in every_method(service) {
            let path = format!("/{}/{method}", table.service);
            for (case, authorization, reason) in abused_tokens() {
                let mut request = tonic::Request::new(());
                if let Some(value) = &authorization {
                    request
                        .metadata_mut()
                        .insert("authorization", value.parse().expect("metadata"));
                }
                let status = raw_request(running.channel.clone(), &path, request)
                    .await
                    .expect_err(case);
                assert_eq!(
                    status.code(),
                    Code::Unauthenticated,
                    "{path}, {case}: {status:?}"
                );
                assert!(
                    status.message().contains(reason),
                    "{path}, {case}: `{}` should say `{reason}`",
                    status.message()
                );
                refused += 1;
            }
        }
        running.stop().await.expect("stop");
    }
    println!("abused tokens refused: {refused}");
}

/// Invalid UTF-8 in metadata (HTTP/2 allows the bytes) is refused like any other bad token.
#[tokio::test]
async fn metadata_that_is_not_utf8_is_refused_not_a_crash() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    let valid = signed_as_is(&valid_claims());
    for (key, value) in [
        ("authorization", b"Bearer \xff\xfe\x80".to_vec()),
        (
            "authorization",
            [b"Bearer ".as_slice(), valid.as_bytes(), b"\xff"].concat(),
        ),
        ("x-request-id", b"\xc3\x28".to_vec()),
        ("traceparent", b"00-\xff\xff-00".to_vec()),
    ] {
        let mut request = tonic::Request::new(ListLegalBasesRequest::default());
        request.metadata_mut().insert(
            key,
            tonic::metadata::MetadataValue::try_from(value.as_slice()).expect("opaque bytes"),
        );
        if key != "authorization" {
            request.metadata_mut().insert(
                "authorization",
                format!("Bearer {valid}").parse().expect("metadata"),
            );
        }
        let outcome = ReferralServiceClient::new(running.channel.clone())
            .list_legal_bases(request)
            .await;
        match (key, outcome) {
            ("authorization", Err(status)) => {
                assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
            }
            ("authorization", Ok(_)) => panic!("a garbled token was accepted"),
            (_, outcome) => {
                if let Err(status) = outcome {
                    assert!(
                        !matches!(status.code(), Code::Internal | Code::Unknown),
                        "{key}: {status:?}"
                    );
                }
            }
        }
    }
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
    raw_request(channel, path, tonic::Request::new(())).await
}

async fn raw_request<C>(
    channel: C,
    path: &str,
    request: tonic::Request<()>,
) -> Result<(), tonic::Status>
where
    C: tonic::client::GrpcService<tonic::body::Body> + Clone,
    C::Error: Into<tonic::codegen::StdError>,
    C::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <C::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    if path.ends_with("/kontakt.events.v1.EventFeedService/Subscribe") {
        let mut feed =
            kontakt_proto::events::v1::event_feed_service_client::EventFeedServiceClient::new(
                channel,
            );
        let (metadata, extensions, ()) = request.into_parts();
        return feed
            .subscribe(tonic::Request::from_parts(
                metadata,
                extensions,
                kontakt_proto::events::v1::SubscribeRequest::default(),
            ))
            .await
            .map(|_| ());
    }
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.into().to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::try_from(path.to_owned()).expect("path");
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    grpc.unary(request, path, codec).await.map(|_| ())
}

/// Each service's access table, role by role and for the caller's own and another
/// municipality: an allowed role gets past authorisation (whatever the method then answers to
/// an empty request), any other role gets PERMISSION_DENIED.
#[tokio::test]
async fn every_method_admits_exactly_the_roles_its_access_table_names() {
    let db = fresh_database().await.expect("database");
    for service in Service::ALL {
        let running = start(service, &db).await.expect("service");
        for (table, method) in every_method(service) {
            let allowed = table.roles(&method).expect("every method has a row");
            let path = format!("/{}/{method}", table.service);
            for role in Role::ALL {
                for municipality in ["183", "329"] {
                    let token = token(&[role], &[municipality]);
                    let outcome = raw_call(running.with_token(&token), &path).await;
                    let denied = matches!(&outcome, Err(s) if s.code() == Code::PermissionDenied);
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
        running.stop().await.expect("stop");
    }
}
