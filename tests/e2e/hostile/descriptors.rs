//! What the tests read from the protos' descriptors: messages, field comments, methods.

use std::collections::HashMap;

use prost_types::{DescriptorProto, FileDescriptorSet};

/// Every message type in the descriptor set by its fully qualified name (`.pkg.Outer.Inner`).
pub(crate) fn messages(set: &FileDescriptorSet) -> HashMap<String, &DescriptorProto> {
    pub(crate) fn add<'a>(
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
pub(crate) fn comments(set: &FileDescriptorSet) -> HashMap<(String, i32), String> {
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
pub(crate) fn methods(set: &FileDescriptorSet, services: &[&str]) -> Vec<(String, String, bool)> {
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
