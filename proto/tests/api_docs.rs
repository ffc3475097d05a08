//! The API reference in `docs/api/` is what the proto files say now, and everything in them is
//! described.

use std::path::PathBuf;

#[test]
fn every_service_method_message_field_and_enum_has_a_comment() {
    let (_, missing) = kontakt_proto::api_docs::render();
    assert!(
        missing.is_empty(),
        "without a comment (write one in the .proto file): {missing:#?}"
    );
}

#[test]
fn the_api_reference_is_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/api");
    let (pages, _) = kontakt_proto::api_docs::render();
    for (name, page) in &pages {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            on_disk == *page,
            "docs/api/{name} is stale: run `cargo run -p kontakt-proto --bin api-docs`"
        );
    }
}

#[test]
fn every_reason_the_services_answer_is_in_the_reference() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../services");
    let mut used = std::collections::BTreeSet::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("services") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                // The reason is the first argument (or the `reason:` field), a string literal
                // in capitals, perhaps on the next line.
                for marker in [
                    "Refusal::new(",
                    "Refusal::broken(",
                    ".with_reason(",
                    "reason: ",
                ] {
                    for piece in text.split(marker).skip(1) {
                        let Some(literal) = piece.trim_start().strip_prefix('"') else {
                            continue;
                        };
                        let reason: String = literal
                            .chars()
                            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                            .collect();
                        if reason.len() > 3 && literal[reason.len()..].starts_with('"') {
                            used.insert(reason);
                        }
                    }
                }
            }
        }
    }
    let known: Vec<&str> = kontakt_proto::api_docs::REASONS
        .iter()
        .map(|(r, _, _)| *r)
        .collect();
    let unlisted: Vec<&String> = used
        .iter()
        .filter(|r| !known.contains(&r.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "reasons answered but not in api_docs::REASONS: {unlisted:?}"
    );
}
