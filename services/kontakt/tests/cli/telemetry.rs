//! Spans and metrics exported over OTLP to a collector the test runs.

use super::*;

/// A minimal OTLP/gRPC collector: it keeps every span it is sent, and of metrics each data
/// point's metric name and attributes.
#[derive(Clone, Default)]
struct Collector {
    spans: std::sync::Arc<std::sync::Mutex<Vec<opentelemetry_proto::tonic::trace::v1::Span>>>,
    points: std::sync::Arc<std::sync::Mutex<Vec<MetricPoint>>>,
}

#[derive(Clone, Debug)]
struct MetricPoint {
    name: String,
    attributes: Vec<(String, String)>,
}

impl MetricPoint {
    fn has(&self, key: &str, value: &str) -> bool {
        self.attributes.iter().any(|(k, v)| k == key && v == value)
    }
}

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsService
    for Collector
{
    async fn export(
        &self,
        request: tonic::Request<
            opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
        >,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse,
        >,
        tonic::Status,
    > {
        use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        let text = |attributes: &[KeyValue]| -> Vec<(String, String)> {
            attributes
                .iter()
                .map(|kv| {
                    let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(Value::StringValue(s)) => s.clone(),
                        Some(Value::IntValue(i)) => i.to_string(),
                        other => format!("{other:?}"),
                    };
                    (kv.key.clone(), value)
                })
                .collect()
        };
        let mut points = self.points.lock().expect("lock");
        let metrics = request
            .into_inner()
            .resource_metrics
            .into_iter()
            .flat_map(|r| r.scope_metrics)
            .flat_map(|s| s.metrics);
        for metric in metrics {
            let attributes: Vec<Vec<(String, String)>> = match &metric.data {
                Some(Data::Histogram(h)) => {
                    h.data_points.iter().map(|p| text(&p.attributes)).collect()
                }
                Some(Data::Gauge(g)) => g.data_points.iter().map(|p| text(&p.attributes)).collect(),
                Some(Data::Sum(s)) => s.data_points.iter().map(|p| text(&p.attributes)).collect(),
                _ => Vec::new(),
            };
            points.extend(attributes.into_iter().map(|attributes| MetricPoint {
                name: metric.name.clone(),
                attributes,
            }));
        }
        Ok(tonic::Response::new(Default::default()))
    }
}

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService
    for Collector
{
    async fn export(
        &self,
        request: tonic::Request<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
        >,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
        >,
        tonic::Status,
    > {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.spans.lock().expect("lock").extend(spans);
        Ok(tonic::Response::new(Default::default()))
    }
}

#[tokio::test]
async fn spans_and_metrics_are_exported_over_otlp_and_spans_continue_the_callers_trace() {
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsServiceServer;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;

    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let collector_addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .add_service(MetricsServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let db = fresh_database().await.expect("database");
    let endpoint = format!("http://{collector_addr}");
    let (mut child, channel) = serve_referral(
        &db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ],
    )
    .await;

    // A caller that is itself part of a trace.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_span = "00f067aa0ba902b7";
    let mut request = tonic::Request::new(ListLegalBasesRequest::default());
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{parent_span}-01")
            .parse()
            .expect("header"),
    );
    let channel_for_metrics = channel.clone();
    ReferralServiceClient::new(kontakt_harness::authed(
        channel,
        &kontakt_harness::admin_token(),
    ))
    .list_legal_bases(request)
    .await
    .expect("call");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let span = loop {
        let found = collector
            .spans
            .lock()
            .expect("lock")
            .iter()
            .find(|s| s.name == "grpc.call" && hex(&s.trace_id) == trace_id)
            .cloned();
        if let Some(span) = found {
            break span;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no span of the call reached the collector"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        hex(&span.parent_span_id),
        parent_span,
        "the server span is a child of the caller's"
    );

    // Metrics: a refused call is counted under its code beside the successful one; the pool's
    // use is reported; probes are not counted.
    let refused = ReferralServiceClient::new(kontakt_harness::authed(
        channel_for_metrics,
        &kontakt_harness::admin_token(),
    ))
    .get_grant(GetGrantRequest {
        name: "not a grant name".into(),
    })
    .await
    .expect_err("a malformed name is refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let points = kontakt_harness::eventually("the call metrics to reach the collector", || {
        let points = collector.points.clone();
        async move {
            let points = points.lock().expect("lock").clone();
            let duration = |method: &str, code: &str| {
                points.iter().any(|p| {
                    p.name == "rpc.server.duration"
                        && p.has("rpc.service", "kontakt.referral.v1.ReferralService")
                        && p.has("rpc.method", method)
                        && p.has("rpc.grpc.status_code", code)
                })
            };
            (duration("ListLegalBases", "0") && duration("GetGrant", "3")).then_some(points)
        }
    })
    .await;
    assert!(
        points
            .iter()
            .any(|p| p.name == "kontakt.db.pool.connections" && p.has("state", "idle")),
        "pool use is exported"
    );
    assert!(
        points.iter().any(|p| p.name == "kontakt.db.pool.max"),
        "pool size is exported"
    );
    assert!(
        !points
            .iter()
            .any(|p| p.has("rpc.service", "grpc.health.v1.Health")),
        "health probes are not counted"
    );

    terminate(&child);
    let status = child.wait().await.expect("status");
    assert!(status.success());
    server.abort();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
