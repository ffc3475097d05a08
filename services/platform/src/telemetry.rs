//! Logs to stdout (JSON or human), OpenTelemetry traces and metrics over OTLP when an endpoint is
//! set, and W3C trace context (`traceparent`) carried across gRPC calls in both directions.

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TelemetrySettings};

/// Flushes exported spans when dropped; keep it alive for the life of the process.
#[must_use = "spans are flushed when the guard is dropped"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    meters: SdkMeterProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("telemetry: flushing spans failed: {err}");
        }
        if let Err(err) = self.meters.shutdown() {
            eprintln!("telemetry: flushing metrics failed: {err}");
        }
    }
}

/// Installs the global subscriber. Without an OTLP endpoint spans still get trace ids (so logs
/// and audit rows can be correlated and `traceparent` passes through), they are just not exported.
pub fn init(settings: &TelemetrySettings, service_name: &str) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    let mut provider = SdkTracerProvider::builder().with_resource(resource.clone());
    let mut meters = SdkMeterProvider::builder().with_resource(resource);
    if let Some(endpoint) = &settings.otel_endpoint {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .context("building the OTLP metric exporter")?;
        meters = meters.with_periodic_exporter(exporter);
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .context("building the OTLP span exporter")?;
        provider = provider.with_batch_exporter(exporter);
    }
    let provider = provider.build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    let meters = meters.build();
    opentelemetry::global::set_meter_provider(meters.clone());
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("kontakt"));

    // Each layer has its own filter: quieter logs must not switch off exported spans.
    let log_filter = EnvFilter::try_new(&settings.log_filter)
        .with_context(|| format!("invalid log filter `{}`", settings.log_filter))?;
    let trace_filter = EnvFilter::try_new(&settings.trace_filter)
        .with_context(|| format!("invalid trace filter `{}`", settings.trace_filter))?;
    let fmt_layer = match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
        // Colours only for a terminal; piped output (files, `kubectl logs`) stays plain.
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(fmt_layer.with_filter(log_filter))
        .with(otel_layer.with_filter(trace_filter))
        .try_init()
        .context("a global tracing subscriber is already installed")?;
    Ok(TelemetryGuard { provider, meters })
}

/// The span for one incoming call, its parent taken from the caller's `traceparent`.
/// Used by the server builder as tonic's `trace_fn`.
pub fn server_span(request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path();
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    let span = tracing::info_span!(
        "grpc.call",
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        tls.client = tracing::field::Empty,
    );
    // Under mutual TLS, who the verified certificate says the caller is.
    if let Some(identity) = crate::tls::peer_identity(request) {
        span.record("tls.client", &*identity);
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    // Only fails when no OpenTelemetry layer is installed (a bare test); the span then simply has no parent.
    if let Err(err) = span.set_parent(parent) {
        tracing::trace!(%err, "trace context not attached");
    }
    span
}

/// Writes the current span's trace context into outgoing gRPC metadata (the service-to-service
/// interceptor, `auth::service_token::ServiceAuth`, calls it on every call).
pub fn inject_trace_context(metadata: &mut tonic::metadata::MetadataMap) {
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut MetadataInjector(metadata));
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        let key = tonic::metadata::MetadataKey::from_bytes(key.as_bytes());
        let value = tonic::metadata::MetadataValue::try_from(value.as_str());
        if let (Ok(key), Ok(value)) = (key, value) {
            self.0.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt;

    #[test]
    fn an_incoming_traceparent_is_read_and_written_on_outgoing_calls_unchanged_in_trace_id() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", traceparent.parse().expect("valid header"));
        let context = TraceContextPropagator::new().extract(&HeaderExtractor(&headers));
        assert_eq!(
            context.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );

        let mut metadata = tonic::metadata::MetadataMap::new();
        TraceContextPropagator::new()
            .inject_context(&context, &mut MetadataInjector(&mut metadata));
        let written = metadata
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .expect("traceparent written");
        assert_eq!(written, traceparent);
    }
}
