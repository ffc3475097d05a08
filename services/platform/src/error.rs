//! The one mapping from service errors to gRPC status. Services turn their own error enums into
//! [`ApiError`]; this module turns that into a `google.rpc.Status` with exactly one `ErrorInfo`
//! and, for bad input, `BadRequest` field violations (AIP-193). Internal causes are logged with
//! an incident id and never sent to the client.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{
    BadRequest, ErrorDetail, ErrorInfo, FieldViolation, PreconditionFailure, PreconditionViolation,
    StatusExt,
};

/// `ErrorInfo.domain` for every error Kontakt returns.
pub const ERROR_DOMAIN: &str = "kontakt";

/// One broken rule, for FAILED_PRECONDITION answers that list every violation at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleViolation {
    /// The rule id, e.g. `R-RV-1`.
    pub rule: String,
    /// The field or resource the rule is about.
    pub subject: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request itself is wrong; each violation names the field.
    #[error("invalid argument: {}", describe_fields(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The request's bytes are not a message of the method's request type (wrong wire types,
    /// truncated fields, invalid UTF-8 in a string): no field can be named, so the description
    /// is the decoder's.
    #[error("the request is not a valid message of this method's request type: {0}")]
    MalformedRequest(String),
    #[error("{resource} not found")]
    NotFound { resource: String },
    #[error("{resource} already exists")]
    AlreadyExists { resource: String },
    /// The request is well formed but the system's state does not allow it.
    #[error("{message}")]
    FailedPrecondition {
        reason: &'static str,
        message: String,
        violations: Vec<RuleViolation>,
    },
    /// A concurrent change won (etag mismatch); the client re-reads and retries.
    #[error("{message}")]
    Aborted {
        reason: &'static str,
        message: String,
    },
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("{message}")]
    ResourceExhausted {
        reason: &'static str,
        message: String,
    },
    /// Retryable: the database or a peer is not reachable right now.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// A defect or an unexpected failure; the cause stays in the log.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

fn describe_fields(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    /// Bad input in one field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(resource: impl Into<String>) -> Self {
        Self::NotFound {
            resource: resource.into(),
        }
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) | Self::MalformedRequest(_) => Code::InvalidArgument,
            Self::NotFound { .. } => Code::NotFound,
            Self::AlreadyExists { .. } => Code::AlreadyExists,
            Self::FailedPrecondition { .. } => Code::FailedPrecondition,
            Self::Aborted { .. } => Code::Aborted,
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::ResourceExhausted { .. } => Code::ResourceExhausted,
            Self::Unavailable(_) => Code::Unavailable,
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::Internal(_) => Code::Internal,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::InvalidArgument(_) => "INVALID_ARGUMENT",
            Self::MalformedRequest(_) => "MALFORMED_REQUEST",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::AlreadyExists { .. } => "ALREADY_EXISTS",
            Self::FailedPrecondition { reason, .. }
            | Self::Aborted { reason, .. }
            | Self::ResourceExhausted { reason, .. } => reason,
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::PermissionDenied(_) => "PERMISSION_DENIED",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Self::Internal(_) => "INTERNAL",
        }
    }
}

/// What a client is sent about an error is bounded, whatever the input was: an error echoing a
/// 20,000-character field once made trailers larger than a client accepts (the call then failed
/// as an HTTP/2 protocol error instead of INVALID_ARGUMENT).
/// (The details travel base64-encoded in a trailer; hyper's clients accept 16 KiB of headers.)
const MAX_MESSAGE_BYTES: usize = 1_000;
const MAX_VALUE_BYTES: usize = 120;
const MAX_VIOLATIONS: usize = 20;

/// `text` cut to at most `max` bytes at a character boundary, marked with `…` where it was cut.
fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let cut = (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}

/// The first [`MAX_VIOLATIONS`] of `items`, each bounded, and a note of how many were left out.
fn bounded_list<T>(items: Vec<T>, bound: impl Fn(T) -> T, more: impl FnOnce(usize) -> T) -> Vec<T> {
    let total = items.len();
    let mut kept: Vec<T> = items.into_iter().take(MAX_VIOLATIONS).map(bound).collect();
    if total > MAX_VIOLATIONS {
        kept.push(more(total - MAX_VIOLATIONS));
    }
    kept
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        let mut metadata = HashMap::new();
        let message = match &error {
            ApiError::Internal(cause) => {
                let incident = uuid::Uuid::now_v7().to_string();
                tracing::error!(incident = %incident, error = format!("{cause:#}"), "internal error");
                let message = format!("internal error (incident {incident})");
                metadata.insert("incident".to_owned(), incident);
                message
            }
            ApiError::NotFound { resource } | ApiError::AlreadyExists { resource } => {
                metadata.insert("resource".to_owned(), bounded(resource, MAX_VALUE_BYTES));
                error.to_string()
            }
            other => other.to_string(),
        };
        let message = bounded(&message, MAX_MESSAGE_BYTES);
        let mut details: Vec<ErrorDetail> =
            vec![ErrorInfo::new(error.reason(), ERROR_DOMAIN, metadata).into()];
        match error {
            ApiError::InvalidArgument(violations) => {
                let violations = bounded_list(
                    violations,
                    |v| {
                        FieldViolation::new(
                            bounded(&v.field, MAX_VALUE_BYTES),
                            bounded(&v.description, MAX_VALUE_BYTES),
                        )
                    },
                    |more| FieldViolation::new("", format!("and {more} more")),
                );
                details.push(BadRequest::new(violations).into());
            }
            ApiError::FailedPrecondition { violations, .. } if !violations.is_empty() => {
                let violations: Vec<PreconditionViolation> = bounded_list(
                    violations,
                    |v| RuleViolation {
                        rule: bounded(&v.rule, MAX_VALUE_BYTES),
                        subject: bounded(&v.subject, MAX_VALUE_BYTES),
                        description: bounded(&v.description, MAX_VALUE_BYTES),
                    },
                    |more| RuleViolation {
                        rule: String::new(),
                        subject: String::new(),
                        description: format!("and {more} more"),
                    },
                )
                .into_iter()
                .map(|v| PreconditionViolation::new(v.rule, v.subject, v.description))
                .collect();
                details.push(PreconditionFailure::new(violations).into());
            }
            _ => {}
        }
        Status::with_error_details_vec(code, message, details)
    }
}

/// Database failures that are not a store's own business: lost connections and an exhausted
/// pool are retryable (UNAVAILABLE); a cancelled statement is a deadline; the rest is internal.
/// A method's result as gRPC answers it: the value, or the error mapped here.
pub fn answer<T>(result: Result<T, ApiError>) -> Result<tonic::Response<T>, Status> {
    result.map(tonic::Response::new).map_err(Status::from)
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut => {
                Self::Unavailable("the database is busy or unreachable; retry later".into())
            }
            sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                Self::Unavailable("the database is unreachable; retry later".into())
            }
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // query_canceled: statement_timeout or a cancelled call.
                Some("57014") => Self::DeadlineExceeded,
                // Text PostgreSQL cannot store (a NUL character) or longer than its column: the
                // caller's input, refused. Fields are validated before this; this is the net.
                Some("22021" | "22P05" | "22001") => Self::invalid(
                    "",
                    "text must not contain the NUL character (U+0000) and must fit its field",
                ),
                // admin_shutdown, crash_shutdown, cannot_connect_now: the server is restarting.
                Some("57P01" | "57P02" | "57P03") => {
                    Self::Unavailable("the database is restarting; retry later".into())
                }
                _ => Self::Internal(error.into()),
            },
            _ => Self::Internal(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_becomes_invalid_argument_with_the_field_named() {
        let status = Status::from(ApiError::invalid("page_size", "must not be negative"));
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().expect("BadRequest detail");
        assert_eq!(bad.field_violations[0].field, "page_size");
        let info = details.error_info().expect("ErrorInfo detail");
        assert_eq!(info.reason, "INVALID_ARGUMENT");
        assert_eq!(info.domain, ERROR_DOMAIN);
    }

    #[test]
    fn internal_causes_stay_in_the_log_and_the_client_gets_an_incident_id() {
        let status = Status::from(ApiError::internal(anyhow::anyhow!(
            "connection string postgres://secret@db"
        )));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
        let info = status
            .get_error_details()
            .error_info()
            .cloned()
            .expect("ErrorInfo");
        assert!(status.message().contains(&info.metadata["incident"]));
    }

    #[test]
    fn every_rule_violation_is_listed_in_a_failed_precondition() {
        let status = Status::from(ApiError::FailedPrecondition {
            reason: "RULES_VIOLATED",
            message: "2 rules violated".into(),
            violations: vec![
                RuleViolation {
                    rule: "R-RV-1".into(),
                    subject: "assessment".into(),
                    description: "missing".into(),
                },
                RuleViolation {
                    rule: "R-RV-5".into(),
                    subject: "person.birth_date".into(),
                    description: "too young".into(),
                },
            ],
        });
        assert_eq!(status.code(), Code::FailedPrecondition);
        let details = status.get_error_details();
        let failure = details.precondition_failure().expect("PreconditionFailure");
        assert_eq!(failure.violations.len(), 2);
        assert_eq!(failure.violations[1].r#type, "R-RV-5");
    }

    #[test]
    fn a_lost_database_is_retryable_not_internal() {
        let error = ApiError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(Status::from(error).code(), Code::Unavailable);
    }

    #[test]
    fn what_a_client_is_sent_stays_small_whatever_the_input() {
        let huge = "é".repeat(20_000);
        let mut violations: Vec<FieldViolation> = (0..500)
            .map(|i| FieldViolation::new(format!("items[{i}].{huge}"), huge.clone()))
            .collect();
        violations.push(FieldViolation::new("last", "x"));
        let status = Status::from(ApiError::InvalidArgument(violations));
        assert!(status.message().len() <= MAX_MESSAGE_BYTES + '…'.len_utf8());
        let bad = status
            .get_error_details()
            .bad_request()
            .cloned()
            .expect("BadRequest");
        assert_eq!(bad.field_violations.len(), MAX_VIOLATIONS + 1);
        assert_eq!(
            bad.field_violations[MAX_VIOLATIONS].description,
            "and 481 more"
        );
        assert!(
            status.details().len() < 16 * 1024,
            "{} bytes",
            status.details().len()
        );
        let status = Status::from(ApiError::not_found(huge));
        let info = status
            .get_error_details()
            .error_info()
            .cloned()
            .expect("ErrorInfo");
        assert!(info.metadata["resource"].len() <= MAX_VALUE_BYTES + '…'.len_utf8());
        assert_eq!(bounded("aé", 2), "a…", "cut at a character boundary");
    }
}
