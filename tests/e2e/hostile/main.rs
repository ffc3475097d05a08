//! Hostile input against every RPC of every service. Each method's request is built from its
//! input message's descriptor, so a new method or field is covered without touching this file:
//! SQL metacharacters and NUL bytes in every string, over-long strings, extreme and negative
//! numbers, impossible dates, undefined enum values, huge repeated fields, malformed and foreign
//! resource names and page tokens, then seeded random mixes of all of these.
//!
//! The promise checked: the answer is a status the API uses for a caller's mistake (or success),
//! never INTERNAL, UNKNOWN (a panic), DATA_LOSS or UNIMPLEMENTED, and every service is still
//! serving afterwards. `KONTAKT_HOSTILE_ROUNDS` sets how many random rounds run (CI: the
//! default, 20; a longer run is documented in the README), `KONTAKT_HOSTILE_SEED` their seed.
//!
//! Bodies that are not a valid message at all (wrong wire types, truncated fields, invalid UTF-8
//! in strings, random bytes) are sent to every method too, streaming ones included: each must be
//! INVALID_ARGUMENT with exactly one `ErrorInfo`, reason `MALFORMED_REQUEST`.
//!
//! One module a concern: the hostile [`generator`] built from the [`descriptors`], its
//! [`requests`] to every method, [`malformed`] bodies, and [`page_tokens`] used where they do
//! not belong; what they all need (the services, a call, the checks after) is here.

mod descriptors;
mod generator;
mod malformed;
mod page_tokens;
mod requests;

use kontakt_platform::clock::{Clock as _, SystemClock};
use std::time::Duration;

use kontakt::Service;
use kontakt_harness::{StartTogether, claims_token, fresh_database};
use kontakt_platform::auth::Claims;
use kontakt_platform::auth::dev_key::{DEV_AUDIENCE, DEV_ISSUER};
use kontakt_platform::auth::principal::Audience;
use prost::Message as _;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType};
use prost_types::FileDescriptorSet;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use descriptors::methods;

/// Already-encoded protobuf, sent as it is; whatever comes back is skipped over.
#[derive(Debug, Default, Clone)]
pub(crate) struct Raw(pub(crate) Vec<u8>);

impl prost::Message for Raw {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0.clear();
    }
}

/// One call with `body`; a streaming method counts as answered once its headers arrive.
pub(crate) async fn call(
    channel: kontakt_harness::AuthedChannel,
    path: &str,
    streaming: bool,
    body: Raw,
) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::try_from(path.to_owned())
        .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
    let codec = tonic_prost::ProstCodec::<Raw, Raw>::default();
    let mut request = tonic::Request::new(body);
    request.set_timeout(Duration::from_secs(20));
    if streaming {
        grpc.server_streaming(request, path, codec)
            .await
            .map(|_| ())
    } else {
        grpc.unary(request, path, codec).await.map(|_| ())
    }
}

/// A token with every role, for two municipalities, so calls get past authorisation and reach
/// the handlers' own validation.
pub(crate) fn all_roles_token() -> String {
    let now = unix_now();
    claims_token(Claims {
        sub: "hostile-tester".into(),
        kontakt_roles: [
            "counsellor",
            "committee",
            "coordinator",
            "contact_person",
            "finance",
            "case_system",
            "auditor",
            "admin",
            "service",
        ]
        .map(String::from)
        .to_vec(),
        kontakt_municipalities: vec!["101".into(), "183".into()],
        kontakt_service_units: vec!["101".into()],
        kontakt_contact_person: Some("contactPersons/101/cp-1".into()),
        iss: DEV_ISSUER.into(),
        aud: Audience::One(DEV_AUDIENCE.into()),
        exp: now + 3_600,
        iat: now,
        ..Claims::default()
    })
}

pub(crate) fn unix_now() -> u64 {
    u64::try_from(SystemClock.now().timestamp()).expect("time")
}

/// Every method a service's process serves: its own API, the access log and the event feed.
pub(crate) fn served_methods(
    set: &FileDescriptorSet,
    service: Service,
) -> Vec<(String, String, bool)> {
    let names = [
        service.def().access.service,
        kontakt_proto::service_names::ACCESS_LOG,
        kontakt_proto::service_names::EVENT_FEED,
        kontakt_proto::service_names::CONSUMER_REJECTS,
    ];
    methods(set, &names)
}

/// All four services started together on a fresh database (returned to outlive them), and the
/// descriptors of every proto.
pub(crate) async fn start_all() -> (
    kontakt_harness::TestDatabase,
    Vec<kontakt_harness::TestService>,
    FileDescriptorSet,
) {
    let db = fresh_database().await.expect("database");
    let running = StartTogether::new(&Service::ALL, &db)
        .run()
        .await
        .expect("services");
    let set = FileDescriptorSet::decode(kontakt_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    (db, running, set)
}

/// A number from the environment, or `default`.
pub(crate) fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Checks that every service still answers SERVING under every name its process serves, then
/// stops them.
pub(crate) async fn still_serving_then_stop(running: Vec<kontakt_harness::TestService>) {
    for service in &running {
        for name in [
            "",
            service.service.def().grpc_name,
            kontakt_proto::service_names::ACCESS_LOG,
            kontakt_proto::service_names::EVENT_FEED,
            kontakt_proto::service_names::CONSUMER_REJECTS,
        ] {
            kontakt_harness::wait_for_health(
                &service.channel,
                name,
                ServingStatus::Serving,
                Duration::from_secs(5),
            )
            .await
            .unwrap_or_else(|e| panic!("{:?} stopped serving {name:?}: {e}", service.service));
        }
    }
    for service in running {
        service.stop().await.expect("stop");
    }
}

pub(crate) fn is_a_server_fault(code: Code) -> bool {
    matches!(
        code,
        Code::Internal | Code::Unknown | Code::DataLoss | Code::Unimplemented
    )
}
