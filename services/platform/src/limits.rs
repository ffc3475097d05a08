//! Per-call limits applied in front of every service: a deadline (the shorter of the server's
//! limit and the client's `grpc-timeout`) answered DEADLINE_EXCEEDED, and a concurrency limit
//! that refuses excess calls at once with RESOURCE_EXHAUSTED instead of queueing them (a queue
//! only turns overload into timeouts for everyone).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::Instrument as _;

use crate::ApiError;

/// Health and reflection: never refused by a limit (a probe failing under load would get a busy
/// but healthy pod restarted) and open without a token (probes and tools carry none).
pub fn is_infrastructure(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}

#[derive(Clone, Debug)]
pub struct LimitsLayer {
    timeout: Duration,
    permits: Arc<Semaphore>,
    schema_ready: watch::Receiver<bool>,
}

impl LimitsLayer {
    /// `schema_ready` turns true once the service's migrations are applied; calls before that
    /// are UNAVAILABLE (retryable), not an INTERNAL error about a missing table.
    pub fn new(
        timeout: Duration,
        concurrency_limit: usize,
        schema_ready: watch::Receiver<bool>,
    ) -> Self {
        Self {
            timeout,
            permits: Arc::new(Semaphore::new(concurrency_limit)),
            schema_ready,
        }
    }
}

impl<S> Layer<S> for LimitsLayer {
    type Service = Limits<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Limits {
            inner,
            timeout: self.timeout,
            permits: self.permits.clone(),
            schema_ready: self.schema_ready.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Limits<S> {
    inner: S,
    timeout: Duration,
    permits: Arc<Semaphore>,
    schema_ready: watch::Receiver<bool>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B, ResBody> Service<http::Request<B>> for Limits<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: http_body::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let infrastructure = is_infrastructure(request.uri().path());
        if !infrastructure && !*self.schema_ready.borrow() {
            let status = tonic::Status::from(ApiError::Unavailable(
                "the service is starting: its database schema is not ready yet; retry".into(),
            ));
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        let permit = if infrastructure {
            None
        } else {
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    tracing::warn!(path = request.uri().path(), "concurrency limit reached");
                    let status = tonic::Status::from(ApiError::ResourceExhausted {
                        reason: "CONCURRENCY_LIMIT",
                        message: "the service is at its concurrency limit; retry with backoff"
                            .into(),
                    });
                    return Box::pin(std::future::ready(Ok(status.into_http())));
                }
            }
        };
        let deadline = match client_deadline(request.headers()) {
            // tonic's own timer for the client's deadline runs outside this layer and answers
            // CANCELLED; answering a little earlier gives the caller the DEADLINE_EXCEEDED the
            // gRPC spec promises. The client gives up at its deadline anyway.
            Some(client) => (client - early_margin(client)).min(self.timeout),
            None => self.timeout,
        };

        // The clone that was driven to readiness serves this call; the fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let call = inner.call(request);
        let deadline = tokio::time::Instant::now() + deadline;
        // The call runs as a task of its own and to its end, even when its caller has been
        // answered DEADLINE_EXCEEDED or has gone away: a query cut off half-way leaves its
        // connection waiting for a reply that never comes, and the pool one connection short for
        // good (sqlx #4349). Its statements get the call's deadline as their `statement_timeout`
        // (`db::within_deadline`), so PostgreSQL ends them when the call ends, and the task ends
        // moments later. It keeps its concurrency permit until then: abandoned work still counts.
        let work = tokio::spawn(
            async move {
                let _permit = permit;
                crate::db::within_deadline(deadline, call).await
            }
            .instrument(tracing::Span::current()),
        );
        Box::pin(async move {
            match tokio::time::timeout_at(deadline, work).await {
                Ok(Ok(response)) => response.map(|r| r.map(Body::new)),
                Ok(Err(failed)) => {
                    tracing::error!(error = %failed, "a call's task failed");
                    let status = tonic::Status::from(ApiError::internal(anyhow::anyhow!(
                        "the call failed: {failed}"
                    )));
                    Ok(status.into_http())
                }
                Err(_elapsed) => {
                    let status = tonic::Status::from(ApiError::DeadlineExceeded);
                    Ok(status.into_http())
                }
            }
        })
    }
}

/// How much earlier than the client's deadline we answer: 1/20 of it, at most 50 ms.
fn early_margin(deadline: Duration) -> Duration {
    (deadline / 20).min(Duration::from_millis(50))
}

/// Reads the gRPC `grpc-timeout` header: up to 8 digits and a unit (H, M, S, m, u, n).
fn client_deadline(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(timeout: &str) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        map.insert("grpc-timeout", timeout.parse().expect("header value"));
        map
    }

    #[test]
    fn grpc_timeout_units_are_understood() {
        assert_eq!(
            client_deadline(&headers("2S")),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            client_deadline(&headers("150m")),
            Some(Duration::from_millis(150))
        );
        assert_eq!(
            client_deadline(&headers("1H")),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(client_deadline(&headers("5x")), None);
        assert_eq!(client_deadline(&http::HeaderMap::new()), None);
    }

    #[test]
    fn the_early_margin_is_small_and_never_exceeds_the_deadline() {
        assert_eq!(
            early_margin(Duration::from_secs(2)),
            Duration::from_millis(50)
        );
        assert_eq!(
            early_margin(Duration::from_millis(100)),
            Duration::from_millis(5)
        );
        assert_eq!(early_margin(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn probes_are_exempt_from_the_concurrency_limit() {
        assert!(is_infrastructure("/grpc.health.v1.Health/Check"));
        assert!(is_infrastructure(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!is_infrastructure(
            "/kontakt.referral.v1.ReferralService/ListLegalBases"
        ));
    }
}
