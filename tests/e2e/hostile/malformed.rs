//! Bodies that are not a valid message at all, to every method, streaming ones included.

use std::collections::HashMap;

use prost::bytes::BufMut;
use prost::encoding::{WireType, encode_key, encode_varint};
use prost_types::DescriptorProto;
use prost_types::field_descriptor_proto::Type;
use tonic::Code;

use crate::descriptors::*;
use crate::generator::*;
use crate::*;

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
