//! Metrics every service exports over OTLP (besides consumer lag, which the consumers report):
//! `rpc.server.duration` per method and status code — rate, errors and latency all come from
//! it — and the database pool's use.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, ObservableGauge};
use sqlx::PgPool;
use tower::{Layer, Service};

use crate::limits::is_infrastructure;

/// Records every call except health and reflection (probes would drown the real traffic).
/// Outermost layer, so calls refused by the limits or by authentication are counted too.
#[derive(Clone, Debug)]
pub struct RpcMetricsLayer {
    duration: Histogram<f64>,
}

impl RpcMetricsLayer {
    pub fn new() -> Self {
        let meter = opentelemetry::global::meter("kontakt");
        Self {
            duration: meter
                .f64_histogram("rpc.server.duration")
                .with_description(
                    "Time from a call's arrival to its response headers (a unary call's whole \
                     time), by rpc.service, rpc.method and rpc.grpc.status_code",
                )
                .with_unit("ms")
                .build(),
        }
    }
}

impl Default for RpcMetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics {
            inner,
            duration: self.duration.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RpcMetrics<S> {
    inner: S,
    duration: Histogram<f64>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B, ResBody> Service<http::Request<B>> for RpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let recorded = (!is_infrastructure(path)).then(|| method_attributes(path));
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let call = inner.call(request);
        let histogram = self.duration.clone();
        let started = Instant::now();
        Box::pin(async move {
            let response = call.await;
            if let Some(mut attributes) = recorded {
                let code = response
                    .as_ref()
                    .map_or(tonic::Code::Unknown, |r| grpc_status(r.headers()));
                attributes.push(KeyValue::new("rpc.grpc.status_code", code as i64));
                histogram.record(started.elapsed().as_secs_f64() * 1000.0, &attributes);
            }
            response
        })
    }
}

/// `/kontakt.referral.v1.ReferralService/GetGrant` → service and method attributes.
fn method_attributes(path: &str) -> Vec<KeyValue> {
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    vec![
        KeyValue::new("rpc.system", "grpc"),
        KeyValue::new("rpc.service", service.to_owned()),
        KeyValue::new("rpc.method", method.to_owned()),
    ]
}

/// A failed call is answered with its status in the headers ("trailers only"); a successful
/// unary call carries `grpc-status: 0` in trailers after the body, so no status in the headers
/// means OK.
fn grpc_status(headers: &http::HeaderMap) -> tonic::Code {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from_i32)
}

/// Reports the pool's connections in use and idle (`kontakt.db.pool.connections`, by `state`)
/// and its size limit (`kontakt.db.pool.max`) at every export. Keep the returned gauges alive
/// as long as the pool.
pub fn observe_pool(pool: PgPool) -> [ObservableGauge<u64>; 2] {
    let meter = opentelemetry::global::meter("kontakt");
    let connections = {
        let pool = pool.clone();
        meter
            .u64_observable_gauge("kontakt.db.pool.connections")
            .with_description("Database connections of this process's pool, by state (used, idle)")
            .with_callback(move |observer| {
                let idle = pool.num_idle() as u64;
                let used = u64::from(pool.size()).saturating_sub(idle);
                observer.observe(used, &[KeyValue::new("state", "used")]);
                observer.observe(idle, &[KeyValue::new("state", "idle")]);
            })
            .build()
    };
    let max = meter
        .u64_observable_gauge("kontakt.db.pool.max")
        .with_description("The most connections the pool opens (KONTAKT_DB_MAX_CONNECTIONS)")
        .with_callback(move |observer| {
            observer.observe(u64::from(pool.options().get_max_connections()), &[]);
        })
        .build();
    [connections, max]
}

type Lazy<T> = std::sync::LazyLock<T>;

/// A counter of the process's meter, made once where it is first counted.
fn counter(name: &'static str, description: &'static str) -> Counter<u64> {
    opentelemetry::global::meter("kontakt")
        .u64_counter(name)
        .with_description(description)
        .build()
}

/// Counts an event a consumer refused for good and passed over (`kontakt.consumer.rejects`, by
/// `consumer` and `event.type`). Any increase wants an operator: `kontakt ctl rejects` lists
/// them, and once the cause is mended `kontakt ctl reapply` applies them (the alert rule is in
/// deploy/alerts/kontakt.rules.yaml).
pub(crate) fn consumer_rejected(consumer: &str, event_type: &str) {
    static COUNTER: Lazy<Counter<u64>> = Lazy::new(|| {
        counter(
            "kontakt.consumer.rejects",
            "Events a consumer refused for good and passed over, kept for re-applying",
        )
    });
    COUNTER.add(
        1,
        &[
            KeyValue::new("consumer", consumer.to_owned()),
            KeyValue::new("event.type", event_type.to_owned()),
        ],
    );
}

/// Counts rows pruned past their retention (`kontakt.retention.pruned`, by `table`: `outbox`,
/// `audit_log`); see `retention`.
pub(crate) fn retention_pruned(table: &'static str, rows: u64) {
    static COUNTER: Lazy<Counter<u64>> = Lazy::new(|| {
        counter(
            "kontakt.retention.pruned",
            "Rows removed past their retention: outbox events every known subscriber \
                     has passed, access-log entries older than the access-log retention",
        )
    });
    COUNTER.add(rows, &[KeyValue::new("table", table)]);
}

/// Counts a unit of work that asked for a second database connection while holding one
/// (`kontakt.db.second_connection`; see `db::CallTx`). Zero in a healthy build: any other
/// value is a defect that can run the pool dry under load.
pub(crate) fn second_connection() {
    static COUNTER: Lazy<Counter<u64>> = Lazy::new(|| {
        counter(
            "kontakt.db.second_connection",
            "Calls that asked for a second database connection while holding one (a defect)",
        )
    });
    COUNTER.add(1, &[]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_comes_from_a_trailers_only_answer_and_is_ok_without_one() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(grpc_status(&headers), tonic::Code::Ok);
        headers.insert("grpc-status", "3".parse().expect("valid header"));
        assert_eq!(grpc_status(&headers), tonic::Code::InvalidArgument);
    }

    #[test]
    fn a_path_names_the_service_and_the_method() {
        let attributes = method_attributes("/kontakt.referral.v1.ReferralService/GetGrant");
        let value = |key: &str| {
            attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.as_str().into_owned())
        };
        assert_eq!(
            value("rpc.service").as_deref(),
            Some("kontakt.referral.v1.ReferralService")
        );
        assert_eq!(value("rpc.method").as_deref(), Some("GetGrant"));
    }
}
