//! Hostile requests, built from each method's descriptor, to every method.

use std::collections::BTreeMap;

use tonic::Code;

use crate::descriptors::*;
use crate::generator::*;
use crate::*;

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
