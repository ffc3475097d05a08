//! The access log of personal data (R-DP-2): every read and write of a person's data appends a
//! row saying who, in which roles, for which municipality and person, what, why, when and under
//! which trace. A read is logged durably *before* its answer leaves the service: the call waits
//! for the row to commit, and if it cannot be written the call fails instead of answering.
//!
//! So that logging does not halve read throughput, one writer task gathers the rows of all
//! concurrent calls and writes them with one INSERT and one commit. A write's rows should rather
//! go into the write's own transaction ([`AuditLog::record_in`]), so the change and its log
//! commit together.

use opentelemetry::trace::TraceContextExt as _;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::ApiError;
use crate::auth::Principal;

/// Metadata a caller sets to state why it accesses the data (else a default per method).
pub const PURPOSE_HEADER: &str = "x-kontakt-purpose";
/// Longest stated purpose kept; longer is refused.
pub const MAX_PURPOSE_LEN: usize = 200;
/// Most rows written in one batch.
const MAX_BATCH: usize = 512;
/// Batches written at once: while one commits, the next gathers and starts, so a call waits
/// for one commit, not for the one before it as well (PostgreSQL flushes concurrent commits
/// together).
const BATCHES_IN_FLIGHT: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    /// A lookup by identifying data (e.g. a CPR number), logged even when nothing is found.
    Search,
    Create,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "READ",
            Action::Search => "SEARCH",
            Action::Create => "CREATE",
            Action::Update => "UPDATE",
            Action::Delete => "DELETE",
        }
    }
}

/// One access to one person's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub subject: String,
    pub roles: Vec<String>,
    pub municipality: Option<String>,
    /// Pseudonymous person resource name; never a CPR number.
    pub person: Option<String>,
    pub resource: String,
    pub action: Action,
    pub purpose: String,
    /// The gRPC method, e.g. `GetPerson`.
    pub method: String,
    pub trace_id: Option<String>,
}

impl Entry {
    /// An entry for `principal` calling `method`, under the current trace.
    pub fn new(
        principal: &Principal,
        method: &str,
        action: Action,
        resource: impl Into<String>,
        purpose: String,
    ) -> Self {
        Self {
            subject: principal.subject.clone(),
            roles: principal
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            municipality: None,
            person: None,
            resource: resource.into(),
            action,
            purpose,
            method: method.to_owned(),
            trace_id: current_trace_id(),
        }
    }

    pub fn municipality(mut self, code: impl ToString) -> Self {
        self.municipality = Some(code.to_string());
        self
    }

    pub fn person(mut self, person: impl Into<String>) -> Self {
        self.person = Some(person.into());
        self
    }
}

/// Who is calling and why: what every audit row of the call records (R-DP-2).
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub purpose: String,
}

impl Caller {
    /// The authenticated caller of `request`, with its stated purpose or `default_purpose`.
    pub fn of<T>(request: &tonic::Request<T>, default_purpose: &str) -> Result<Self, ApiError> {
        Ok(Self {
            principal: crate::auth::caller(request)?.clone(),
            purpose: purpose(request, default_purpose)?,
        })
    }

    /// An audit row for this caller's access to one person's data.
    pub fn entry(
        &self,
        method: &str,
        action: Action,
        resource: &str,
        municipality: impl ToString,
        person: &str,
    ) -> Entry {
        Entry::new(
            &self.principal,
            method,
            action,
            resource,
            self.purpose.clone(),
        )
        .municipality(municipality)
        .person(person)
    }

    /// Records a change in its own transaction, so the change and its audit row commit together.
    pub async fn wrote(
        &self,
        tx: &mut sqlx::PgConnection,
        method: &str,
        action: Action,
        resource: &str,
        municipality: impl ToString,
        person: &str,
    ) -> Result<(), ApiError> {
        let entry = self.entry(method, action, resource, municipality, person);
        AuditLog::record_in(tx, &[entry]).await?;
        Ok(())
    }
}

/// The stated purpose of a call, or `default` when it states none.
pub fn purpose<T>(request: &tonic::Request<T>, default: &str) -> Result<String, ApiError> {
    match request.metadata().get(PURPOSE_HEADER) {
        None => Ok(default.to_owned()),
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ApiError::invalid(PURPOSE_HEADER, "must be printable text"))?
                .trim();
            if text.is_empty() || text.chars().count() > MAX_PURPOSE_LEN {
                return Err(ApiError::invalid(
                    PURPOSE_HEADER,
                    format!("must be 1 to {MAX_PURPOSE_LEN} characters"),
                ));
            }
            Ok(text.to_owned())
        }
    }
}

fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

type Ack = oneshot::Sender<Result<(), ApiError>>;

/// A service's audit log. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<(Vec<Entry>, Ack)>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog")
    }
}

impl AuditLog {
    /// Starts the writer on `pool` (the service's own schema).
    pub fn start(pool: PgPool) -> Self {
        let (queue, inbox) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(write_batches(pool, inbox));
        Self { queue }
    }

    /// Appends `entries` and waits until they are committed.
    pub async fn record(&self, entries: Vec<Entry>) -> Result<(), ApiError> {
        if entries.is_empty() {
            return Ok(());
        }
        let (ack, done) = oneshot::channel();
        self.queue
            .send((entries, ack))
            .await
            .map_err(|_| ApiError::Unavailable("the audit log is shutting down".into()))?;
        done.await
            .map_err(|_| ApiError::Unavailable("the audit log writer stopped".into()))?
    }

    /// Appends `entries` inside the caller's transaction, so they commit with its change.
    pub async fn record_in(
        tx: &mut sqlx::PgConnection,
        entries: &[Entry],
    ) -> Result<(), sqlx::Error> {
        insert(tx, entries).await
    }
}

/// Gathers whatever is queued (up to a batch), writes it in one statement, answers everyone;
/// up to [`BATCHES_IN_FLIGHT`] batches at a time.
async fn write_batches(pool: PgPool, mut inbox: mpsc::Receiver<(Vec<Entry>, Ack)>) {
    let lanes = std::sync::Arc::new(tokio::sync::Semaphore::new(BATCHES_IN_FLIGHT));
    while let Some(first) = inbox.recv().await {
        // Wait for a free lane first: what arrives meanwhile joins this batch.
        let Ok(lane) = lanes.clone().acquire_owned().await else {
            return;
        };
        let mut waiting = vec![first];
        let mut rows = waiting[0].0.len();
        while rows < MAX_BATCH {
            match inbox.try_recv() {
                Ok(more) => {
                    rows += more.0.len();
                    waiting.push(more);
                }
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            write_batch(&pool, waiting).await;
            drop(lane);
        });
    }
}

async fn write_batch(pool: &PgPool, waiting: Vec<(Vec<Entry>, Ack)>) {
    let entries: Vec<Entry> = waiting
        .iter()
        .flat_map(|(e, _)| e.iter().cloned())
        .collect();
    let outcome = insert(pool, &entries).await;
    if let Err(err) = &outcome {
        tracing::error!(%err, rows = entries.len(), "audit rows could not be written; the calls fail");
    }
    for (_, ack) in waiting {
        let answer = match &outcome {
            Ok(()) => Ok(()),
            Err(_) => Err(ApiError::Unavailable(
                "the access log could not be written; retry".into(),
            )),
        };
        // A caller that gave up (deadline) no longer listens; its row is written all the same.
        if ack.send(answer).is_err() {
            tracing::debug!("an audited call ended before its log row was confirmed");
        }
    }
}

/// One INSERT for any number of rows (arrays unnested server-side).
async fn insert<'e, E>(executor: E, entries: &[Entry]) -> Result<(), sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    let column = |f: fn(&Entry) -> Option<String>| entries.iter().map(f).collect::<Vec<_>>();
    // Roles travel as one comma-joined text per row: arrays of arrays do not unnest per row.
    sqlx::query(
        "INSERT INTO audit_log (subject, roles, municipality, person, resource, action, purpose, method, trace_id)
         SELECT subject, string_to_array(roles, ','), municipality, person, resource, action, purpose, method, trace_id
           FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
             AS t(subject, roles, municipality, person, resource, action, purpose, method, trace_id)",
    )
    .bind(column(|e| Some(e.subject.clone())))
    .bind(column(|e| Some(e.roles.join(","))))
    .bind(column(|e| e.municipality.clone()))
    .bind(column(|e| e.person.clone()))
    .bind(column(|e| Some(e.resource.clone())))
    .bind(column(|e| Some(e.action.as_str().to_owned())))
    .bind(column(|e| Some(e.purpose.clone())))
    .bind(column(|e| Some(e.method.clone())))
    .bind(column(|e| e.trace_id.clone()))
    .execute(executor)
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stated_purpose_is_kept_and_an_absent_one_defaults() {
        let mut request = tonic::Request::new(());
        assert_eq!(
            purpose(&request, "case work").ok().as_deref(),
            Some("case work")
        );
        request
            .metadata_mut()
            .insert(PURPOSE_HEADER, "follow-up meeting".parse().expect("ascii"));
        assert_eq!(
            purpose(&request, "case work").ok().as_deref(),
            Some("follow-up meeting")
        );
        request
            .metadata_mut()
            .insert(PURPOSE_HEADER, "x".repeat(300).parse().expect("ascii"));
        assert!(matches!(
            purpose(&request, "case work"),
            Err(ApiError::InvalidArgument(_))
        ));
    }
}
