//! The API reference in `docs/api/`, rendered from the descriptor set and the comments in the
//! proto files (their source info): one Markdown page a package with its services, methods,
//! messages, fields, enums, events and resource name patterns, the errors each method can
//! answer, and an index. `cargo run -p kontakt-proto --bin api-docs` writes it; the crate's
//! test `the_api_reference_is_current` fails when it is stale or when anything lacks a comment.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    FileDescriptorSet, ServiceDescriptorProto, SourceCodeInfo,
};

/// The error reasons (`google.rpc.ErrorInfo.reason`, domain `kontakt`) a method may answer
/// with, and what each means. Every reason the services use is here (checked by a test).
pub const REASONS: &[(&str, &str, &str)] = &[
    (
        "UNAUTHENTICATED",
        "UNAUTHENTICATED",
        "No token, or one that is expired, not signed by a trusted issuer or for another audience.",
    ),
    (
        "PERMISSION_DENIED",
        "PERMISSION_DENIED",
        "The token's roles do not admit this method (each service's access table).",
    ),
    (
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        "A field is wrong; `BadRequest.field_violations` names each one.",
    ),
    (
        "MALFORMED_REQUEST",
        "INVALID_ARGUMENT",
        "The bytes are not a message of the method's request type.",
    ),
    (
        "NOT_FOUND",
        "NOT_FOUND",
        "No such resource, or one in a municipality the caller does not serve (the same answer, so nothing leaks).",
    ),
    (
        "ALREADY_EXISTS",
        "ALREADY_EXISTS",
        "The resource exists: a second one with the same key, or other content under an idempotency key already used.",
    ),
    (
        "ETAG_MISMATCH",
        "ABORTED",
        "The resource changed since it was read (AIP-154): read it again and retry.",
    ),
    (
        "RULES_NOT_MET",
        "FAILED_PRECONDITION",
        "Domain rules are broken; `PreconditionFailure.violations` lists each with its rule id (e.g. `R-RV-6`) and field.",
    ),
    (
        "RULES_VIOLATED",
        "FAILED_PRECONDITION",
        "As RULES_NOT_MET, from the older refusals.",
    ),
    (
        "NO_POLICY",
        "FAILED_PRECONDITION",
        "The municipality has no policy in force on the day the rules need one.",
    ),
    (
        "POLICY_IN_FORCE",
        "FAILED_PRECONDITION",
        "A policy version in force is not corrected: a new version supersedes it.",
    ),
    (
        "OPEN_REFERRAL",
        "FAILED_PRECONDITION",
        "The case already has an open referral.",
    ),
    (
        "NOT_EDITABLE",
        "FAILED_PRECONDITION",
        "The referral is no longer a draft (or returned) and cannot be edited.",
    ),
    (
        "NOT_SUBMITTABLE",
        "FAILED_PRECONDITION",
        "The referral is not in a state that can be submitted.",
    ),
    (
        "MEETING_HELD",
        "FAILED_PRECONDITION",
        "The committee meeting has been held; nothing more goes on its agenda.",
    ),
    ("GRANT_ENDED", "FAILED_PRECONDITION", "The grant has ended."),
    (
        "REQUEST_NOT_OPEN",
        "FAILED_PRECONDITION",
        "The matching request is not open for this step.",
    ),
    (
        "REQUEST_NOT_ASSIGNABLE",
        "FAILED_PRECONDITION",
        "The matching request cannot be assigned in its state.",
    ),
    (
        "REQUEST_NOT_IN_PROCUREMENT",
        "FAILED_PRECONDITION",
        "The matching request has no procurement in progress.",
    ),
    (
        "PROCUREMENT_REQUIRED",
        "FAILED_PRECONDITION",
        "A provider's person is assigned only through an order (R-MP-2).",
    ),
    (
        "NOT_THE_ORDERED_PROVIDER",
        "FAILED_PRECONDITION",
        "The person is not the ordered provider's (R-MP-2).",
    ),
    (
        "CANNOT_BE_ASSIGNED",
        "FAILED_PRECONDITION",
        "The person fails a hard rule (R-MP-3, R-MP-6); every reason is listed.",
    ),
    (
        "NO_CAPACITY",
        "FAILED_PRECONDITION",
        "The person lacks the free weekly minutes (R-MP-4, never overbooked).",
    ),
    (
        "CAPACITY_BELOW_BOOKINGS",
        "FAILED_PRECONDITION",
        "A capacity below what is already booked.",
    ),
    (
        "ASSIGNMENT_ENDED",
        "FAILED_PRECONDITION",
        "The assignment has ended.",
    ),
    (
        "OUTSIDE_ASSIGNMENT",
        "FAILED_PRECONDITION",
        "The work date is outside the assignment's dates (R-TC-1).",
    ),
    (
        "NO_RATE",
        "FAILED_PRECONDITION",
        "No hourly rate on record for the day (R-TC-3).",
    ),
    (
        "NO_MILEAGE_RATE",
        "FAILED_PRECONDITION",
        "No mileage rate on record for the day (R-TC-5).",
    ),
    (
        "TIMESHEET_CLOSED",
        "FAILED_PRECONDITION",
        "The period's timesheet is submitted or approved (R-TC-4).",
    ),
    (
        "IS_A_REVERSAL",
        "FAILED_PRECONDITION",
        "A reversing entry is not itself reversed.",
    ),
    (
        "INDEXATION_RATE_MISSING",
        "FAILED_PRECONDITION",
        "A PL rate for a year the frame is indexed through is missing (R-BF-1).",
    ),
    (
        "PROCUREMENT_STATE",
        "FAILED_PRECONDITION",
        "The procurement is not in the state this step needs (requested → offered → ordered, or cancelled).",
    ),
    (
        "TIMESHEET_STATE",
        "FAILED_PRECONDITION",
        "The timesheet is not in the state this step needs (open → submitted → approved or returned).",
    ),
    (
        "FOLLOW_UP_COMPLETED",
        "FAILED_PRECONDITION",
        "The follow-up is held and recorded already; a different record is not a retry.",
    ),
    (
        "FOLLOW_UP_CANCELLED",
        "FAILED_PRECONDITION",
        "The follow-up was cancelled (its grant ended).",
    ),
    (
        "DEADLINE_COMPLETED",
        "FAILED_PRECONDITION",
        "The deadline is met and recorded already.",
    ),
    (
        "DEADLINE_CANCELLED",
        "FAILED_PRECONDITION",
        "The deadline was cancelled (its grant ended).",
    ),
    (
        "EVALUATION_COMPLETED",
        "FAILED_PRECONDITION",
        "The frame's evaluation for that year is recorded already.",
    ),
    (
        "EVENTS_PRUNED",
        "FAILED_PRECONDITION",
        "The feed no longer holds events that old; resubscribe from the oldest kept.",
    ),
    (
        "ENVELOPE_NOT_KEPT",
        "FAILED_PRECONDITION",
        "The rejected event's envelope is no longer kept.",
    ),
    (
        "ENVELOPE_UNREADABLE",
        "FAILED_PRECONDITION",
        "The rejected event's envelope cannot be read.",
    ),
    (
        "STILL_REJECTED",
        "FAILED_PRECONDITION",
        "Applied again, the event was refused again.",
    ),
    (
        "CONCURRENCY_LIMIT",
        "RESOURCE_EXHAUSTED",
        "Too many calls at once; retry with backoff.",
    ),
    (
        "UNAVAILABLE",
        "UNAVAILABLE",
        "The database or a peer is not reachable right now; retry.",
    ),
    (
        "DEADLINE_EXCEEDED",
        "DEADLINE_EXCEEDED",
        "The call ran past its deadline.",
    ),
    (
        "INTERNAL",
        "INTERNAL",
        "A defect; the log has the cause under the incident id in the message.",
    ),
];

/// The reasons every method can answer, whatever it does.
const EVERY_METHOD: &[&str] = &[
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
    "INVALID_ARGUMENT",
    "MALFORMED_REQUEST",
    "CONCURRENCY_LIMIT",
    "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
    "INTERNAL",
];

/// Something that should have a comment and has none: its kind and full name.
pub type Uncommented = (String, String);

/// The reference's pages by file name (`README.md`, `kontakt.referral.v1.md`, …), and what
/// lacks a comment.
pub fn render() -> (BTreeMap<String, String>, Vec<Uncommented>) {
    let set = FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).unwrap_or_default();
    let ours: Vec<&FileDescriptorProto> = set
        .file
        .iter()
        .filter(|f| f.package().starts_with("kontakt."))
        .collect();
    let mut packages: BTreeMap<String, Vec<&FileDescriptorProto>> = BTreeMap::new();
    for file in &ours {
        packages
            .entry(file.package().to_owned())
            .or_default()
            .push(file);
    }
    let mut pages = BTreeMap::new();
    let mut missing = Vec::new();
    let mut index = String::from(
        "# Kontakt API reference\n\n\
         Generated from the proto files' comments by `cargo run -p kontakt-proto --bin api-docs`; \
         do not edit by hand (a test fails when this is stale). Every method is served over gRPC \
         (HTTP/2, protobuf) and answers errors as `google.rpc.Status` with one `ErrorInfo` \
         (domain `kontakt`): see [errors](errors.md). The contract's changes are in \
         [CHANGELOG](CHANGELOG.md).\n\n| Package | Services | Methods | Messages | Enums |\n|---|---|---|---|---|\n",
    );
    for (package, files) in &packages {
        let (page, counts) = package_page(package, files, &mut missing);
        let _ = writeln!(
            index,
            "| [{package}]({package}.md) | {} | {} | {} | {} |",
            counts.0, counts.1, counts.2, counts.3
        );
        pages.insert(format!("{package}.md"), page);
    }
    pages.insert("README.md".into(), index);
    pages.insert("errors.md".into(), errors_page());
    (pages, missing)
}

fn errors_page() -> String {
    let mut out = String::from(
        "# Errors\n\nEvery error is a `google.rpc.Status` whose details hold one \
         `google.rpc.ErrorInfo` (domain `kontakt`, `reason` below); bad input adds \
         `google.rpc.BadRequest` with a violation per field, broken rules add \
         `google.rpc.PreconditionFailure` with the rule id (DOMAIN.md) as each violation's type. \
         A caller's mistake is never INTERNAL.\n\nEvery method can answer: ",
    );
    out.push_str(
        &EVERY_METHOD
            .iter()
            .map(|r| format!("`{r}`"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push_str(".\n\n| Reason | gRPC code | Meaning |\n|---|---|---|\n");
    for (reason, code, meaning) in REASONS {
        let _ = writeln!(out, "| `{reason}` | {code} | {meaning} |");
    }
    out
}

/// The comment attached to the element at `path` (leading, else trailing), trimmed.
fn comment(info: Option<&SourceCodeInfo>, path: &[i32]) -> String {
    info.and_then(|i| i.location.iter().find(|l| l.path == path))
        .map(|l| {
            let text = if l.leading_comments().trim().is_empty() {
                l.trailing_comments()
            } else {
                l.leading_comments()
            };
            text.lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// Markdown table cells may not hold a bare `|`.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn type_name(f: &FieldDescriptorProto) -> String {
    let base = match f.r#type() {
        Type::Message | Type::Enum => f.type_name().trim_start_matches('.').to_owned(),
        other => format!("{other:?}").to_lowercase(),
    };
    if f.label() == Label::Repeated {
        format!("repeated {base}")
    } else {
        base
    }
}

/// Link a type to its page's anchor when it is ours.
fn linked(type_name: &str) -> String {
    let bare = type_name.trim_start_matches("repeated ");
    match bare.rsplit_once('.') {
        Some((package, name)) if package.starts_with("kontakt.") => {
            let prefix = if type_name.starts_with("repeated ") {
                "repeated "
            } else {
                ""
            };
            format!("{prefix}[{name}]({package}.md#{})", name.to_lowercase())
        }
        _ => format!("`{type_name}`"),
    }
}

fn package_page(
    package: &str,
    files: &[&FileDescriptorProto],
    missing: &mut Vec<Uncommented>,
) -> (String, (usize, usize, usize, usize)) {
    let mut out = format!("# {package}\n\n");
    let names: Vec<&str> = files.iter().map(|f| f.name()).collect();
    let _ = writeln!(out, "Files: {}.\n", names.join(", "));
    let mut patterns = BTreeSet::new();
    let (mut services, mut methods, mut messages, mut enums) = (0, 0, 0, 0);
    for file in files {
        let info = file.source_code_info.as_ref();
        for (si, service) in file.service.iter().enumerate() {
            services += 1;
            methods +=
                service_section(&mut out, package, service, info, si, missing, &mut patterns);
        }
    }
    for (heading, pick) in [
        ("Messages", false),
        ("Events (published on the service's feed)", true),
    ] {
        let mut section = String::new();
        for file in files {
            if file.name().ends_with("events.proto") != pick {
                continue;
            }
            let info = file.source_code_info.as_ref();
            for (mi, message) in file.message_type.iter().enumerate() {
                messages += 1;
                message_section(
                    &mut section,
                    package,
                    message,
                    info,
                    &[4, i32::try_from(mi).unwrap_or(0)],
                    missing,
                    &mut patterns,
                    &mut enums,
                );
            }
        }
        if !section.is_empty() {
            let _ = writeln!(out, "## {heading}\n\n{section}");
        }
    }
    let mut enum_section = String::new();
    for file in files {
        let info = file.source_code_info.as_ref();
        for (ei, e) in file.enum_type.iter().enumerate() {
            enums += 1;
            enum_block(
                &mut enum_section,
                &format!("{package}.{}", e.name()),
                e,
                info,
                &[5, i32::try_from(ei).unwrap_or(0)],
                missing,
            );
        }
    }
    if !enum_section.is_empty() {
        let _ = writeln!(out, "## Enums\n\n{enum_section}");
    }
    if !patterns.is_empty() {
        out.push_str("## Resource names\n\n");
        for p in &patterns {
            let _ = writeln!(out, "- `{p}`");
        }
        out.push('\n');
    }
    (out, (services, methods, messages, enums))
}

/// Backticked resource name patterns (`municipalities/{municipality}/grants/{grant}`) in a
/// comment.
fn collect_patterns(text: &str, patterns: &mut BTreeSet<String>) {
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 && part.contains('{') && part.contains('/') && !part.contains(' ') {
            patterns.insert(part.to_owned());
        }
    }
}

fn service_section(
    out: &mut String,
    package: &str,
    service: &ServiceDescriptorProto,
    info: Option<&SourceCodeInfo>,
    si: usize,
    missing: &mut Vec<Uncommented>,
    patterns: &mut BTreeSet<String>,
) -> usize {
    let si = i32::try_from(si).unwrap_or(0);
    let full = format!("{package}.{}", service.name());
    let text = comment(info, &[6, si]);
    if text.is_empty() {
        missing.push(("service".into(), full.clone()));
    }
    let _ = writeln!(out, "## {}\n\n`{full}`. {}\n", service.name(), text);
    for (mi, method) in service.method.iter().enumerate() {
        let text = comment(info, &[6, si, 2, i32::try_from(mi).unwrap_or(0)]);
        if text.is_empty() {
            missing.push(("method".into(), format!("{full}.{}", method.name())));
        }
        collect_patterns(&text, patterns);
        let stream = |s: bool| if s { "stream " } else { "" };
        let _ = writeln!(
            out,
            "### {}\n\n`rpc {}({}{}) returns ({}{})`\n\n{}\n",
            method.name(),
            method.name(),
            stream(method.client_streaming()),
            method.input_type().trim_start_matches('.'),
            stream(method.server_streaming()),
            method.output_type().trim_start_matches('.'),
            text
        );
        let _ = writeln!(
            out,
            "Request {}, response {}. Errors: every method's ([errors](errors.md)){}.\n",
            linked(method.input_type().trim_start_matches('.')),
            linked(method.output_type().trim_start_matches('.')),
            named_reasons(&text)
        );
    }
    service.method.len()
}

/// The reasons a method's comment names, beyond every method's.
fn named_reasons(text: &str) -> String {
    let words: BTreeSet<&str> = text
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .filter(|w| w.len() > 3)
        .collect();
    let named: Vec<String> = REASONS
        .iter()
        .map(|(reason, _, _)| *reason)
        .chain([
            "FAILED_PRECONDITION",
            "ABORTED",
            "ALREADY_EXISTS",
            "NOT_FOUND",
        ])
        .filter(|r| words.contains(r) && !EVERY_METHOD.contains(r))
        .map(|r| format!("`{r}`"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if named.is_empty() {
        String::new()
    } else {
        format!("; and as its description says, {}", named.join(", "))
    }
}

#[allow(clippy::too_many_arguments)]
fn message_section(
    out: &mut String,
    scope: &str,
    message: &DescriptorProto,
    info: Option<&SourceCodeInfo>,
    path: &[i32],
    missing: &mut Vec<Uncommented>,
    patterns: &mut BTreeSet<String>,
    enums: &mut usize,
) {
    let full = format!("{scope}.{}", message.name());
    let text = comment(info, path);
    if text.is_empty() {
        missing.push(("message".into(), full.clone()));
    }
    collect_patterns(&text, patterns);
    let _ = writeln!(out, "### {}\n\n`{full}`. {}\n", message.name(), text);
    if !message.field.is_empty() {
        out.push_str("| Field | Number | Type | Description |\n|---|---|---|---|\n");
        for (fi, field) in message.field.iter().enumerate() {
            let mut fpath = path.to_vec();
            fpath.extend([2, i32::try_from(fi).unwrap_or(0)]);
            let text = comment(info, &fpath);
            if text.is_empty() {
                missing.push(("field".into(), format!("{full}.{}", field.name())));
            }
            collect_patterns(&text, patterns);
            let oneof = field
                .oneof_index
                .and_then(|i| message.oneof_decl.get(usize::try_from(i).unwrap_or(0)))
                .map(|o| format!(" (one of `{}`)", o.name()))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| `{}` | {} | {}{} | {} |",
                field.name(),
                field.number(),
                linked(&type_name(field)),
                oneof,
                cell(&text)
            );
        }
        out.push('\n');
    }
    for (ni, nested) in message.nested_type.iter().enumerate() {
        if nested.options.as_ref().is_some_and(|o| o.map_entry()) {
            continue;
        }
        let mut npath = path.to_vec();
        npath.extend([3, i32::try_from(ni).unwrap_or(0)]);
        message_section(out, &full, nested, info, &npath, missing, patterns, enums);
    }
    for (ei, e) in message.enum_type.iter().enumerate() {
        *enums += 1;
        let mut epath = path.to_vec();
        epath.extend([4, i32::try_from(ei).unwrap_or(0)]);
        enum_block(
            out,
            &format!("{full}.{}", e.name()),
            e,
            info,
            &epath,
            missing,
        );
    }
}

fn enum_block(
    out: &mut String,
    full: &str,
    e: &EnumDescriptorProto,
    info: Option<&SourceCodeInfo>,
    path: &[i32],
    missing: &mut Vec<Uncommented>,
) {
    let text = comment(info, path);
    if text.is_empty() {
        missing.push(("enum".into(), full.to_owned()));
    }
    let _ = writeln!(
        out,
        "### {}\n\n`{full}`. {}\n\n| Value | Number | Description |\n|---|---|---|",
        e.name(),
        text
    );
    for (vi, value) in e.value.iter().enumerate() {
        let mut vpath = path.to_vec();
        vpath.extend([2, i32::try_from(vi).unwrap_or(0)]);
        let text = comment(info, &vpath);
        if text.is_empty() {
            missing.push(("enum value".into(), format!("{full}.{}", value.name())));
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            value.name(),
            value.number(),
            cell(&text)
        );
    }
    out.push('\n');
}
