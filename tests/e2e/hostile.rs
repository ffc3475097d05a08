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

use kontakt_platform::clock::{Clock as _, SystemClock};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kontakt::Service;
use kontakt_harness::{StartTogether, claims_token, fresh_database};
use kontakt_platform::auth::Claims;
use kontakt_platform::auth::dev_key::{DEV_AUDIENCE, DEV_ISSUER};
use kontakt_platform::auth::principal::Audience;
use prost::Message as _;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType, encode_key, encode_varint};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

/// Already-encoded protobuf, sent as it is; whatever comes back is skipped over.
#[derive(Debug, Default, Clone)]
struct Raw(Vec<u8>);

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

/// How a request is made hostile.
#[derive(Clone, Copy, Debug)]
enum Flavour {
    /// SQL and LIKE metacharacters, quotes, NUL and direction-override characters.
    Injection,
    /// Strings far beyond any field's limit.
    Oversized,
    /// The ends of every number type, undefined enum values, thousands of repeated entries.
    Extremes,
    /// Resource names and page tokens that are malformed, forged or another municipality's,
    /// impossible dates (13th month, 32nd day, year 0).
    Malformed,
    /// A seeded random mix of all the above.
    Random(u64),
}

const INJECTION: &[&str] = &[
    "'; DROP TABLE referral.grants; --",
    "\" OR 1=1 --",
    "%",
    "_\\",
    "$1",
    "x\0y",
    "\u{202e}ﬁ🙂\u{feff}",
    "'; SELECT pg_sleep(30); --",
];

const MALFORMED: &[&str] = &[
    "municipalities/101/grants/../../../etc/passwd",
    "municipalities/101/",
    "municipalities/0101/grants/x",
    "municipalities/-1/grants/x",
    "municipalities/329/grants/someone-elses",
    "municipalities/101/grants/a/b/c/d",
    "//",
    "municipalities/101/grants/%00",
    "eyJhZnRlciI6IngifQ",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "not base64 !!",
    "",
];

struct Generator<'a> {
    messages: &'a HashMap<String, &'a DescriptorProto>,
    comments: &'a HashMap<(String, i32), String>,
    flavour: Flavour,
    /// Off: plausible values (so validation passes the other fields); on: the flavour's.
    hostile: bool,
    state: u64,
    counter: usize,
}

/// The resource name a field's comment documents (`municipalities/{municipality}/grants/{grant}`),
/// made concrete in the caller's municipality.
fn documented_name(comment: &str) -> Option<String> {
    let template = comment
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|part| part.contains('/') || part.starts_with("municipalities"))?;
    let mut name = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        name.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        name.push_str(match &rest[open + 1..close] {
            "municipality" => "101",
            "year" => "2026",
            "unit" => "101",
            _ => "x1",
        });
        rest = rest.get(close + 1..).unwrap_or("");
    }
    name.push_str(rest);
    Some(name)
}

impl Generator<'_> {
    fn next_random(&mut self) -> u64 {
        // xorshift64*: deterministic for a seed, so a failure can be replayed.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        self.counter += 1;
        from[self.counter % from.len()]
    }

    fn plausible_string(
        &mut self,
        message: &str,
        field: &prost_types::FieldDescriptorProto,
    ) -> String {
        if let Some(name) = self
            .comments
            .get(&(message.to_owned(), field.number()))
            .and_then(|c| documented_name(c))
        {
            return name;
        }
        self.counter += 1;
        match field.name() {
            "request_id" => format!("hostile-{}-{}", self.state, self.counter),
            "etag" | "page_token" | "filter" | "order_by" => String::new(),
            "cpr" => "010114-4234".into(),
            "cvr" => "12345674".into(),
            "parent" => "municipalities/101".into(),
            _ => "plausible text".into(),
        }
    }

    fn plausible_integer(field: &str) -> i64 {
        match field {
            "year" => 2026,
            "month" => 12,
            "day" => 1,
            "seconds" => 1_800_000_000,
            "nanos" => 0,
            "page_size" => 10,
            _ => 60,
        }
    }

    fn string(&mut self) -> String {
        match self.flavour {
            Flavour::Injection => self.pick(INJECTION).to_owned(),
            Flavour::Oversized => "x".repeat(20_000),
            Flavour::Extremes => String::new(),
            Flavour::Malformed => self.pick(MALFORMED).to_owned(),
            Flavour::Random(_) => match self.next_random() % 5 {
                0 => INJECTION[(self.next_random() % INJECTION.len() as u64) as usize].to_owned(),
                1 => MALFORMED[(self.next_random() % MALFORMED.len() as u64) as usize].to_owned(),
                2 => "é".repeat((self.next_random() % 3_000) as usize),
                3 => format!("municipalities/101/grants/{}", self.next_random()),
                _ => (0..self.next_random() % 40)
                    .map(|_| char::from_u32((self.next_random() % 0x3000) as u32).unwrap_or('?'))
                    .collect(),
            },
        }
    }

    fn integer(&mut self, field: &str) -> i64 {
        if !self.hostile {
            return Self::plausible_integer(field);
        }
        match self.flavour {
            Flavour::Injection => -1,
            Flavour::Oversized => i64::from(i32::MAX),
            Flavour::Extremes => {
                let ends = [i64::MIN, i64::MAX, i64::from(i32::MIN), -1];
                self.counter += 1;
                ends[self.counter % ends.len()]
            }
            Flavour::Malformed => match field {
                "year" => 0,
                "month" => 13,
                "day" => 32,
                _ => -5,
            },
            Flavour::Random(_) => {
                let small = [0, 1, -1, 2, 29, 30, 31, 60, 1_440, 10_080, 100_000];
                match self.next_random() % 3 {
                    0 => self.next_random() as i64,
                    1 => small[(self.next_random() % small.len() as u64) as usize],
                    _ => -((self.next_random() % 1_000) as i64),
                }
            }
        }
    }

    fn repeats(&mut self, nested: bool) -> usize {
        match self.flavour {
            Flavour::Extremes if nested => 200,
            Flavour::Extremes => 5_000,
            Flavour::Random(_) => (self.next_random() % if nested { 4 } else { 50 }) as usize,
            _ => 2,
        }
    }

    /// The encoded message `type_name` (fully qualified, with the leading dot): plausible
    /// values, except the field at index `hostile_field` (all of them: `None` while
    /// `self.hostile` is set), which gets the flavour's.
    fn message(
        &mut self,
        type_name: &str,
        depth: usize,
        hostile_field: Option<usize>,
        out: &mut Vec<u8>,
    ) {
        let Some(message) = self.messages.get(type_name) else {
            return;
        };
        if depth > 4 {
            return;
        }
        let inherited = self.hostile;
        for (index, field) in message.field.iter().enumerate() {
            self.hostile = inherited || hostile_field == Some(index);
            let number = field.number() as u32;
            let is_message = field.r#type() == Type::Message;
            let count = match (field.label() == Label::Repeated, self.hostile) {
                (true, true) => self.repeats(is_message),
                _ => 1,
            };
            for _ in 0..count {
                self.value(type_name, field, number, depth, out);
            }
        }
        self.hostile = inherited;
    }

    fn value(
        &mut self,
        message: &str,
        field: &prost_types::FieldDescriptorProto,
        number: u32,
        depth: usize,
        out: &mut Vec<u8>,
    ) {
        match field.r#type() {
            Type::String | Type::Bytes => {
                let text = if self.hostile {
                    self.string()
                } else {
                    self.plausible_string(message, field)
                };
                encode_key(number, WireType::LengthDelimited, out);
                encode_varint(text.len() as u64, out);
                out.put_slice(text.as_bytes());
            }
            Type::Message | Type::Group => {
                let mut inner = Vec::new();
                self.message(field.type_name(), depth + 1, None, &mut inner);
                encode_key(number, WireType::LengthDelimited, out);
                encode_varint(inner.len() as u64, out);
                out.put_slice(&inner);
            }
            Type::Enum | Type::Bool if !self.hostile => {
                encode_key(number, WireType::Varint, out);
                encode_varint(1, out);
            }
            Type::Bool => {
                encode_key(number, WireType::Varint, out);
                encode_varint(1, out);
            }
            Type::Enum => {
                // An undefined value, negative or far beyond the enum's last.
                let value = match self.flavour {
                    Flavour::Random(_) => (self.next_random() % 12) as i64 - 2,
                    _ => [-1_i64, 9_999][self.counter % 2],
                };
                self.counter += 1;
                encode_key(number, WireType::Varint, out);
                encode_varint(value as u64, out);
            }
            Type::Int32 | Type::Int64 | Type::Uint32 | Type::Uint64 => {
                let mut value = self.integer(field.name());
                if matches!(field.r#type(), Type::Int32 | Type::Uint32) {
                    // What a 32-bit field can carry; a wider varint is truncated by the decoder.
                    value = i64::from(value as i32);
                }
                encode_key(number, WireType::Varint, out);
                encode_varint(value as u64, out);
            }
            Type::Sint32 | Type::Sint64 => {
                let value = self.integer(field.name());
                encode_key(number, WireType::Varint, out);
                encode_varint(((value << 1) ^ (value >> 63)) as u64, out);
            }
            Type::Fixed32 | Type::Sfixed32 | Type::Float => {
                let bits = match field.r#type() {
                    Type::Float if self.hostile => f32::NAN.to_bits(),
                    Type::Float => 1.5_f32.to_bits(),
                    _ => self.integer(field.name()) as u32,
                };
                encode_key(number, WireType::ThirtyTwoBit, out);
                out.put_u32_le(bits);
            }
            Type::Fixed64 | Type::Sfixed64 | Type::Double => {
                let bits = match field.r#type() {
                    Type::Double if self.hostile => f64::INFINITY.to_bits(),
                    Type::Double => 1.5_f64.to_bits(),
                    _ => self.integer(field.name()) as u64,
                };
                encode_key(number, WireType::SixtyFourBit, out);
                out.put_u64_le(bits);
            }
        }
    }
}

/// Every message type in the descriptor set by its fully qualified name (`.pkg.Outer.Inner`).
fn messages(set: &FileDescriptorSet) -> HashMap<String, &DescriptorProto> {
    fn add<'a>(
        prefix: &str,
        message: &'a DescriptorProto,
        into: &mut HashMap<String, &'a DescriptorProto>,
    ) {
        let name = format!("{prefix}.{}", message.name());
        for nested in &message.nested_type {
            add(&name, nested, into);
        }
        into.insert(name, message);
    }
    let mut into = HashMap::new();
    for file in &set.file {
        let prefix = if file.package().is_empty() {
            String::new()
        } else {
            format!(".{}", file.package())
        };
        for message in &file.message_type {
            add(&prefix, message, &mut into);
        }
    }
    into
}

/// Each field's leading comment, by (message's full name, field number).
fn comments(set: &FileDescriptorSet) -> HashMap<(String, i32), String> {
    let mut found = HashMap::new();
    for file in &set.file {
        let Some(info) = &file.source_code_info else {
            continue;
        };
        for location in &info.location {
            // [4, message, (3, nested)*, 2, field]
            let path = &location.path;
            if path.len() < 4 || path[0] != 4 || path[path.len() - 2] != 2 {
                continue;
            }
            let Some(mut message) = file.message_type.get(path[1] as usize) else {
                continue;
            };
            let mut name = format!(".{}.{}", file.package(), message.name());
            let mut ok = true;
            for pair in path[2..path.len() - 2].chunks(2) {
                match (
                    pair,
                    message
                        .nested_type
                        .get(pair.get(1).copied().unwrap_or(-1) as usize),
                ) {
                    ([3, _], Some(nested)) => {
                        message = nested;
                        name = format!("{name}.{}", nested.name());
                    }
                    _ => ok = false,
                }
            }
            let Some(field) = message.field.get(path[path.len() - 1] as usize) else {
                continue;
            };
            if ok {
                found.insert(
                    (name, field.number()),
                    location.leading_comments().to_owned(),
                );
            }
        }
    }
    found
}

/// Every method of the services under test: (path, input type, server-streaming).
fn methods(set: &FileDescriptorSet, services: &[&str]) -> Vec<(String, String, bool)> {
    let mut found = Vec::new();
    for file in &set.file {
        for service in &file.service {
            let name = format!("{}.{}", file.package(), service.name());
            if !services.contains(&name.as_str()) {
                continue;
            }
            for method in &service.method {
                found.push((
                    format!("/{name}/{}", method.name()),
                    method.input_type().to_owned(),
                    method.server_streaming(),
                ));
            }
        }
    }
    found
}

/// One call with `body`; a streaming method counts as answered once its headers arrive.
async fn call(
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
fn all_roles_token() -> String {
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

fn unix_now() -> u64 {
    u64::try_from(SystemClock.now().timestamp()).expect("time")
}

/// Every method a service's process serves: its own API, the access log and the event feed.
fn served_methods(set: &FileDescriptorSet, service: Service) -> Vec<(String, String, bool)> {
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
async fn start_all() -> (
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
fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Checks that every service still answers SERVING under every name its process serves, then
/// stops them.
async fn still_serving_then_stop(running: Vec<kontakt_harness::TestService>) {
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

fn is_a_server_fault(code: Code) -> bool {
    matches!(
        code,
        Code::Internal | Code::Unknown | Code::DataLoss | Code::Unimplemented
    )
}

#[tokio::test]
async fn hostile_requests_to_every_method_are_refused_cleanly_and_nothing_falls_over() {
    let (_db, running, set) = start_all().await;
    let messages = messages(&set);
    let comments = comments(&set);
    let token = all_roles_token();
    let rounds = env_number("KONTAKT_HOSTILE_ROUNDS", 20);
    let seed = env_number("KONTAKT_HOSTILE_SEED", 0x6b6f_6e74_616b_7421);
    let mut flavours = vec![
        Flavour::Injection,
        Flavour::Oversized,
        Flavour::Extremes,
        Flavour::Malformed,
    ];
    flavours.extend((0..rounds).map(|round| Flavour::Random(seed.wrapping_add(round))));

    let mut faults = Vec::new();
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut calls = 0;
    for service in &running {
        for (path, input, streaming) in served_methods(&set, service.service) {
            let fields = messages.get(&input).map_or(0, |m| m.field.len());
            // Every field hostile in turn (the rest plausible), each fixed flavour; then the
            // random rounds, each on a field of its own choosing.
            let mut cases: Vec<(Flavour, Option<usize>)> = Vec::new();
            for flavour in &flavours {
                match flavour {
                    Flavour::Random(seed) if fields > 0 => {
                        cases.push((*flavour, Some((*seed as usize) % fields)));
                    }
                    Flavour::Random(_) => cases.push((*flavour, None)),
                    _ => {
                        cases.push((*flavour, None));
                        cases.extend((0..fields).map(|f| (*flavour, Some(f))));
                    }
                }
            }
            for (flavour, hostile_field) in cases {
                let mut generator = Generator {
                    messages: &messages,
                    comments: &comments,
                    flavour,
                    hostile: hostile_field.is_none(),
                    state: match flavour {
                        Flavour::Random(seed) => seed | 1,
                        _ => 1,
                    },
                    counter: calls,
                };
                let mut body = Vec::new();
                generator.message(&input, 0, hostile_field, &mut body);
                let outcome = call(service.with_token(&token), &path, streaming, Raw(body)).await;
                calls += 1;
                let code = outcome.as_ref().err().map_or(Code::Ok, tonic::Status::code);
                *codes.entry(format!("{code:?}")).or_default() += 1;
                if let Err(status) = &outcome
                    && is_a_server_fault(status.code())
                {
                    faults.push(format!(
                        "{path} with {flavour:?} in field {hostile_field:?}: {:?} {}",
                        status.code(),
                        status.message()
                    ));
                }
            }
        }
    }
    println!("hostile calls={calls} codes={codes:?}");
    still_serving_then_stop(running).await;
    assert!(
        faults.is_empty(),
        "{} of {calls} hostile calls got a server fault:\n{}",
        faults.len(),
        faults.join("\n")
    );
}

/// Bytes that are not a message of the method's request type, appended to a plausible request:
/// each field with a wire type its type never has, invalid UTF-8 in every string field (nested
/// ones too), length-delimited fields and varints cut short, and seeded random bytes.
fn malformed_bodies(
    messages: &HashMap<String, &DescriptorProto>,
    input: &str,
    plausible: &[u8],
    seed: u64,
) -> Vec<(String, Vec<u8>)> {
    let mut elements: Vec<(String, Vec<u8>)> = Vec::new();
    let fields = messages.get(input).map_or(&[][..], |m| &m.field[..]);
    for field in fields {
        let number = field.number() as u32;
        let mut out = Vec::new();
        match field.r#type() {
            // Varint-typed fields (packed, also length-delimited) get a fixed 32-bit value.
            Type::Int32
            | Type::Int64
            | Type::Uint32
            | Type::Uint64
            | Type::Sint32
            | Type::Sint64
            | Type::Bool
            | Type::Enum => {
                encode_key(number, WireType::ThirtyTwoBit, &mut out);
                out.put_u32_le(1);
            }
            _ => {
                encode_key(number, WireType::Varint, &mut out);
                encode_varint(1, &mut out);
            }
        }
        elements.push((format!("wrong wire type in {}", field.name()), out));
        if matches!(
            field.r#type(),
            Type::String | Type::Bytes | Type::Message | Type::Group
        ) {
            let mut out = Vec::new();
            encode_key(number, WireType::LengthDelimited, &mut out);
            encode_varint(64, &mut out);
            out.put_slice(b"cut");
            elements.push((format!("truncated {}", field.name()), out));
        }
    }
    for path in string_paths(messages, input, 0) {
        // A lone continuation byte, a start byte with no continuation, an overlong encoding.
        let mut out = b"ok \x80 \xc3( \xc0\xaf".to_vec();
        for number in path.iter().rev() {
            let mut outer = Vec::new();
            encode_key(*number, WireType::LengthDelimited, &mut outer);
            encode_varint(out.len() as u64, &mut outer);
            outer.put_slice(&out);
            out = outer;
        }
        elements.push((format!("invalid UTF-8 in field path {path:?}"), out));
    }
    // Whatever the message's fields: an unknown field cut short, a varint cut short.
    let mut out = Vec::new();
    encode_key(4_000, WireType::LengthDelimited, &mut out);
    encode_varint(1_000, &mut out);
    out.put_slice(b"short");
    elements.push(("truncated unknown field".into(), out));
    let mut out = Vec::new();
    encode_key(4_000, WireType::Varint, &mut out);
    out.put_slice(&[0xff, 0xff]);
    elements.push(("truncated varint".into(), out));

    let mut bodies: Vec<(String, Vec<u8>)> = elements
        .into_iter()
        .map(|(what, element)| {
            let mut body = plausible.to_vec();
            body.extend_from_slice(&element);
            (what, body)
        })
        .collect();
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut random = 0;
    while random < RANDOM_BODIES {
        let len = 1 + (next() % 48) as usize;
        let body: Vec<u8> = (0..len).map(|_| (next() >> 32) as u8).collect();
        if surely_malformed(&body) {
            random += 1;
            bodies.push((format!("random bytes {body:02x?}"), body));
        }
    }
    bodies
}

/// Random byte strings sent to each method.
const RANDOM_BODIES: usize = 8;

/// The field-number paths to every string field of `type_name`, through nested messages (map
/// entries included), a few levels deep.
fn string_paths(
    messages: &HashMap<String, &DescriptorProto>,
    type_name: &str,
    depth: usize,
) -> Vec<Vec<u32>> {
    let Some(message) = messages.get(type_name) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    for field in &message.field {
        let number = field.number() as u32;
        match field.r#type() {
            Type::String => paths.push(vec![number]),
            Type::Message if depth < 3 => {
                for mut inner in string_paths(messages, field.type_name(), depth + 1) {
                    inner.insert(0, number);
                    paths.push(inner);
                }
            }
            _ => {}
        }
    }
    paths
}

/// Whether prost refuses `bytes` as a message of any type, whatever its fields: the top level
/// itself does not parse (a wire type 6 or 7, field number 0, a varint, length or fixed-width
/// value running past the end, an end-group with no start). False when it cannot tell.
fn surely_malformed(mut bytes: &[u8]) -> bool {
    fn varint(bytes: &mut &[u8]) -> Option<u64> {
        let mut value = 0_u64;
        for shift in (0..70).step_by(7) {
            let (&byte, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
    while !bytes.is_empty() {
        let Some(key) = varint(&mut bytes) else {
            return true;
        };
        if key > u64::from(u32::MAX) || key >> 3 == 0 {
            return true;
        }
        let width = match key & 7 {
            0 => match varint(&mut bytes) {
                Some(_) => 0,
                None => return true,
            },
            1 => 8,
            2 => match varint(&mut bytes) {
                Some(len) => len,
                None => return true,
            },
            5 => 4,
            // A group may be skipped over whole; not worth following.
            3 => return false,
            _ => return true,
        };
        if width > bytes.len() as u64 {
            return true;
        }
        bytes = &bytes[width as usize..];
    }
    false
}

/// What is wrong with `outcome` for a malformed body: anything but INVALID_ARGUMENT with exactly
/// one `ErrorInfo`, reason `MALFORMED_REQUEST`.
fn not_refused_as_malformed(outcome: &Result<(), tonic::Status>) -> Option<String> {
    use tonic_types::{ErrorDetail, StatusExt as _};
    let status = match outcome {
        Ok(()) => return Some("answered OK".to_owned()),
        Err(status) => status,
    };
    let infos: Vec<_> = status
        .get_error_details_vec()
        .into_iter()
        .filter_map(|d| match d {
            ErrorDetail::ErrorInfo(info) => Some(info),
            _ => None,
        })
        .collect();
    match infos.as_slice() {
        [info]
            if status.code() == Code::InvalidArgument
                && info.reason == "MALFORMED_REQUEST"
                && info.domain == kontakt_platform::error::ERROR_DOMAIN =>
        {
            None
        }
        _ => Some(format!(
            "{:?} {} with ErrorInfo {infos:?}",
            status.code(),
            status.message()
        )),
    }
}

#[tokio::test]
async fn malformed_bodies_to_every_method_are_invalid_argument_and_nothing_falls_over() {
    let (_db, running, set) = start_all().await;
    let messages = messages(&set);
    let comments = comments(&set);
    let token = all_roles_token();
    let seed = env_number("KONTAKT_HOSTILE_SEED", 0x6b6f_6e74_616b_7421);

    let mut wrong = Vec::new();
    let (mut calls, mut methods_called, mut streaming_methods, mut refused) = (0, 0, 0, 0);
    for service in &running {
        for (path, input, streaming) in served_methods(&set, service.service) {
            methods_called += 1;
            streaming_methods += usize::from(streaming);
            let mut generator = Generator {
                messages: &messages,
                comments: &comments,
                flavour: Flavour::Injection,
                hostile: false,
                state: 1,
                counter: calls,
            };
            let mut plausible = Vec::new();
            generator.message(&input, 0, None, &mut plausible);
            let bodies = malformed_bodies(&messages, &input, &plausible, seed ^ calls as u64);
            for (what, body) in bodies {
                let outcome = call(service.with_token(&token), &path, streaming, Raw(body)).await;
                calls += 1;
                let problem = not_refused_as_malformed(&outcome);
                refused += usize::from(problem.is_none());
                if let Some(problem) = problem {
                    wrong.push(format!("{path} with {what}: {problem}"));
                }
            }
        }
    }
    // The same answer whatever the caller's role: each role its access tables admit to a
    // method sends that method a malformed body with a token of that role alone.
    let mut role_calls = 0;
    for service in &running {
        let methods = served_methods(&set, service.service);
        let tables = [
            service.service.def().access,
            &kontakt_platform::access_log::ACCESS,
            &kontakt_platform::feed::ACCESS,
            &kontakt_platform::rejects::ACCESS,
        ];
        for table in tables {
            for (method, roles) in table.methods {
                let path = format!("/{}/{method}", table.service);
                let streaming = methods
                    .iter()
                    .find(|(p, _, _)| *p == path)
                    .is_some_and(|(_, _, streaming)| *streaming);
                for role in *roles {
                    let token = kontakt_harness::token(&[*role], &["101"]);
                    let mut body = Vec::new();
                    encode_key(4_000, WireType::LengthDelimited, &mut body);
                    encode_varint(1_000, &mut body);
                    let outcome =
                        call(service.with_token(&token), &path, streaming, Raw(body)).await;
                    role_calls += 1;
                    if let Some(problem) = not_refused_as_malformed(&outcome) {
                        wrong.push(format!("{path} as {role:?}: {problem}"));
                    } else {
                        refused += 1;
                    }
                }
            }
        }
    }
    println!(
        "malformed methods={methods_called} (streaming {streaming_methods}) calls={calls} \
         role_calls={role_calls} invalid_argument_malformed={refused}"
    );
    still_serving_then_stop(running).await;
    assert!(
        wrong.is_empty(),
        "{} of {} malformed bodies were not refused as MALFORMED_REQUEST:\n{}",
        wrong.len(),
        calls + role_calls,
        wrong.join("\n")
    );
    assert!(methods_called > 0 && calls >= methods_called * (2 + RANDOM_BODIES));
    assert!(
        role_calls >= methods_called,
        "every method admits some role"
    );
}

/// Genuine page tokens used where they do not belong: under another filter, on another
/// method, and by a counsellor of another municipality (on their own list and on the issuer's).
/// Each is refused, naming `page_token` or the municipality, and never lists a row.
#[tokio::test]
async fn a_real_page_token_from_another_query_or_municipality_is_refused() {
    use kontakt_harness::{fixtures, token};
    use kontakt_platform::auth::Role;
    use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
    use kontakt_proto::referral::v1::{ListGrantsRequest, ListReferralsRequest, ReferralState};
    let db = fresh_database().await.expect("database");
    let running = kontakt_harness::start(Service::Referral, &db)
        .await
        .expect("referral");
    let counsellor =
        |m: &str| ReferralServiceClient::new(running.with_token(&token(&[Role::Counsellor], &[m])));
    for (m, cpr) in [("183", "010114-4234"), ("101", "020213-4235")] {
        let mut client = counsellor(m);
        let person = fixtures::register_child(&mut client, m, cpr).await;
        for i in 0..3 {
            let (external_id, request_id) = (format!("{m}-{i}"), format!("r-{m}-{i}"));
            fixtures::draft_referral(&mut client, m, &person, &external_id, &request_id).await;
        }
    }
    let list = |parent: &str, page_token: &str| ListReferralsRequest {
        parent: parent.into(),
        page_size: 1,
        page_token: page_token.into(),
        ..ListReferralsRequest::default()
    };
    let mut ours = counsellor("183");
    let first = ours
        .list_referrals(list("municipalities/183", ""))
        .await
        .expect("first page")
        .into_inner();
    let token_183 = first.next_page_token;
    assert!(!token_183.is_empty(), "a page token to abuse");
    let second = ours
        .list_referrals(list("municipalities/183", &token_183))
        .await
        .expect("the token works where it was issued")
        .into_inner();
    assert_ne!(second.referrals, first.referrals, "the next page");

    let refused = |status: tonic::Status, field: &str| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(
            kontakt_harness::bad_request_fields(&status),
            [field],
            "{status:?}"
        );
    };
    // Another filter on the same list.
    let drafts = ListReferralsRequest {
        state: ReferralState::Draft.into(),
        ..list("municipalities/183", &token_183)
    };
    refused(
        ours.list_referrals(drafts)
            .await
            .expect_err("another filter"),
        "page_token",
    );
    let someone = ListReferralsRequest {
        counsellor: "someone-else".into(),
        ..list("municipalities/183", &token_183)
    };
    refused(
        ours.list_referrals(someone)
            .await
            .expect_err("another filter"),
        "page_token",
    );
    // Another list.
    let grants = ListGrantsRequest {
        parent: "municipalities/183".into(),
        page_token: token_183.clone(),
        ..ListGrantsRequest::default()
    };
    refused(
        ours.list_grants(grants).await.expect_err("another list"),
        "page_token",
    );
    // Another municipality: on its own list the token is foreign; on 183's list, the caller is.
    let mut theirs = counsellor("101");
    refused(
        theirs
            .list_referrals(list("municipalities/101", &token_183))
            .await
            .expect_err("another municipality's token"),
        "page_token",
    );
    let status = theirs
        .list_referrals(list("municipalities/183", &token_183))
        .await
        .expect_err("not their municipality");
    assert!(
        matches!(status.code(), Code::PermissionDenied | Code::NotFound),
        "{status:?}"
    );
    running.stop().await.expect("stop");
}
