//! The trace of the call that produced an event continues in the consumer's handler span.
//! (Its own test binary: it installs a process-wide OpenTelemetry tracing layer.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kontakt::Service;
use kontakt_harness::{fresh_database, start, test_db_settings, token};
use kontakt_platform::auth::Role;
use kontakt_platform::auth::service_token::ServiceToken;
use kontakt_platform::consumer::{self, Consumer, HandleError, Handler};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_proto::events::v1::Envelope;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceId, TracerProvider as _};
use sqlx::PgConnection;
use tokio::sync::watch;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// The trace id of the span the handler runs in, and that span's own id.
#[derive(Clone, Default)]
struct SeenTraces(Arc<Mutex<Vec<(TraceId, SpanId)>>>);

#[tonic::async_trait]
impl Handler for SeenTraces {
    async fn handle(&self, _tx: &mut PgConnection, _event: &Envelope) -> Result<(), HandleError> {
        let context = tracing::Span::current().context();
        let span = context.span();
        let ids = span.span_context();
        self.0
            .lock()
            .expect("lock")
            .push((ids.trace_id(), ids.span_id()));
        Ok(())
    }
}

fn current_ids() -> (TraceId, SpanId) {
    let context = tracing::Span::current().context();
    let span = context.span();
    let ids = span.span_context();
    (ids.trace_id(), ids.span_id())
}

#[tokio::test]
async fn the_producing_calls_trace_continues_in_the_consumers_handler_span() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber)
        .expect("the only subscriber in this binary");

    let db = fresh_database().await.expect("database");
    let producer = start(Service::Referral, &db).await.expect("producer");

    // A call arrives with a caller's trace and writes an event (as an RPC handler would).
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let incoming = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(
        &std::collections::HashMap::from([(
            "traceparent".to_owned(),
            format!("00-{caller_trace}-00f067aa0ba902b7-01"),
        )]),
    );
    let call = tracing::info_span!("grpc.call");
    call.set_parent(incoming).expect("parent attached");
    let writing = Service::Referral.pool(db.options.clone(), &test_db_settings());
    let producing_span = async {
        let mut tx = writing.begin().await.expect("begin");
        let event = NewEvent {
            r#type: "kontakt.test.v1.Happened".into(),
            municipality: Some("183".into()),
            subject: "traced".into(),
            payload: Vec::new(),
        };
        outbox::write(&mut tx, "referral", &event)
            .await
            .expect("write");
        tx.commit().await.expect("commit");
        current_ids()
    }
    .instrument(call)
    .await;
    assert_eq!(producing_span.0.to_string(), caller_trace);

    let pool = Service::Matching.pool(db.options.clone(), &test_db_settings());
    let def = Service::Matching.def();
    kontakt_platform::db::migrate(&pool, def.schema, def.migrator)
        .await
        .expect("migrate");
    let seen = SeenTraces::default();
    let (stop, stopped) = watch::channel(false);
    let (_ready, ready) = watch::channel(true);
    let running = consumer::spawn(
        pool,
        Consumer {
            name: "traced-events",
            producer: consumer::endpoint(&format!("http://{}", producer.addr))
                .expect("endpoint")
                .connect_lazy(),
            token: Arc::new(ServiceToken::fixed(&token(&[Role::Service], &[])).expect("token")),
            types: Vec::new(),
            handler: Arc::new(seen.clone()),
        },
        ready,
        stopped,
    );
    let mut status = running.status();
    tokio::time::timeout(Duration::from_secs(30), status.wait_for(|s| s.cursor >= 1))
        .await
        .expect("handled within 30 s")
        .expect("consumer running");

    let handled = seen.0.lock().expect("lock").clone();
    assert_eq!(handled.len(), 1);
    let (trace, span) = handled[0];
    assert_eq!(trace.to_string(), caller_trace, "the same trace");
    assert_ne!(span, producing_span.1, "in a span of the consumer's own");
    assert_ne!(span, SpanId::INVALID);
    stop.send_replace(true);
    running.join().await;
    producer.stop().await.expect("stop");
}
