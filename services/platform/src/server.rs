//! Runs one service: its routes plus `grpc.health.v1`, reflection (v1 and v1alpha), per-call
//! limits and tracing, and a graceful shutdown that lets in-flight calls finish within a grace
//! period.
//!
//! Health follows the database: SERVING only once it is reachable and every embedded migration
//! is applied; NOT_SERVING while it is lost; SERVING again when it returns — without a restart.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::{AccessTable, AuthLayer, Verifier};
use crate::config::ServerSettings;
use crate::{access_log, consumer, db, feed, limits, malformed, metrics, rejects, telemetry};

/// The health service name that is SERVING while the process runs (Kubernetes' liveness and
/// startup probes ask for it; readiness asks for "", which follows the database).
pub const LIVENESS: &str = "liveness";

/// What a service crate tells the platform about itself.
#[derive(Clone, Copy, Debug)]
pub struct ServiceDef {
    /// Short name: the `kontakt serve` target and the log/trace service name.
    pub name: &'static str,
    /// The fully qualified gRPC service name; health reports under it, under "" and under the
    /// access log's and event feed's names, which every service serves too.
    pub grpc_name: &'static str,
    /// The PostgreSQL schema the service owns.
    pub schema: &'static str,
    pub migrator: &'static Migrator,
    /// Encoded `FileDescriptorSet` holding the service's protos, for reflection.
    pub descriptor_set: &'static [u8],
    /// Which roles may call which method.
    pub access: &'static AccessTable,
}

/// Everything one running service needs besides its routes.
pub struct ServeOptions {
    pub pool: PgPool,
    /// Verifies every call's bearer token (health and reflection excepted).
    pub auth: Arc<Verifier>,
    pub settings: ServerSettings,
    pub migrate_on_start: bool,
    /// The feeds this service follows; they start once its schema is migrated.
    pub consumers: Vec<consumer::Consumer>,
}

/// Serves `routes` for `def` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    def: ServiceDef,
    routes: Routes,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let ServeOptions {
        pool,
        auth,
        settings,
        migrate_on_start,
        consumers,
    } = options;
    let local_addr = listener
        .local_addr()
        .context("reading the listen address")?;

    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health_service = health_service
        .max_decoding_message_size(settings.max_message_bytes)
        .max_encoding_message_size(settings.max_message_bytes);
    set_status(&reporter, def, ServingStatus::NotServing).await;
    // Liveness: SERVING for as long as the process answers, whatever the database does, so a
    // database outage makes pods unready but never gets them restarted.
    reporter
        .set_service_status(LIVENESS, ServingStatus::Serving)
        .await;
    let _pool_gauges = metrics::observe_pool(pool.clone());

    let reflection_v1 = reflection(def)
        .build_v1()
        .context("building reflection v1")?;
    let reflection_v1alpha = reflection(def)
        .build_v1alpha()
        .context("building reflection v1alpha")?;

    // Settings that can be wrong are read before anything starts.
    let tls = settings.tls.server().context("setting up TLS")?;
    let cors = cors(&settings.cors_allow_origins)?;
    // The probes' own port, if asked for: health alone, plaintext, until this function returns.
    let (_stop_health, health_stopped) = oneshot::channel::<()>();
    if let Some(addr) = settings.health_listen {
        let probes = TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening for health probes on {addr}"))?;
        let health = tonic::transport::Server::builder()
            .add_service(health_service.clone())
            .serve_with_incoming_shutdown(TcpIncoming::from(probes), async {
                health_stopped.await.ok();
            });
        tokio::spawn(async move {
            if let Err(err) = health.await {
                tracing::warn!(%err, "the health probe port failed");
            }
        });
        tracing::info!(service = def.name, %addr, "health probes (plaintext, grpc.health.v1 only)");
    }
    let (stop_monitor, monitor_stopped) = watch::channel(false);
    let (schema_ready, ready) = watch::channel(false);
    let monitor = tokio::spawn(monitor_health(
        def,
        pool.clone(),
        reporter.clone(),
        settings.health_interval,
        migrate_on_start,
        schema_ready,
        monitor_stopped,
    ));

    // Feed streams and consumers never end by themselves; they are told to when the service
    // stops.
    let (stop_feeds, feeds_stopped) = watch::channel(false);
    let latest_event = feed::spawn_sequencer(pool.clone(), def.schema, feeds_stopped.clone());
    let handlers: rejects::Handlers = consumers
        .iter()
        .map(|c| (c.name, c.handler.clone()))
        .collect();
    crate::retention::spawn(
        pool.clone(),
        def.schema,
        &settings,
        ready.clone(),
        feeds_stopped.clone(),
    );
    let consumers: Vec<consumer::RunningConsumer> = consumers
        .into_iter()
        .map(|c| consumer::spawn(pool.clone(), c, ready.clone(), feeds_stopped.clone()))
        .collect();

    let (stop_server, server_stopped) = oneshot::channel::<()>();
    let router = tonic::transport::Server::builder()
        // gRPC-Web comes over HTTP/1.1 too.
        .accept_http1(true)
        .max_connection_age(settings.max_connection_age)
        .max_connection_age_grace(settings.shutdown_grace)
        .trace_fn(telemetry::server_span)
        .layer(tower::util::option_layer(cors))
        // Outside the rest, so metrics, limits and authentication see native gRPC.
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(metrics::RpcMetricsLayer::new())
        .layer(limits::LimitsLayer::new(
            settings.request_timeout,
            settings.concurrency_limit,
            ready.clone(),
        ))
        .layer(AuthLayer::new(
            auth,
            vec![
                def.access,
                &access_log::ACCESS,
                &feed::ACCESS,
                &rejects::ACCESS,
            ],
        ))
        // Innermost, so the metrics and the trace see the INVALID_ARGUMENT it answers.
        .layer(malformed::MalformedRequestLayer)
        .add_routes(routes)
        .add_service(access_log::server(
            pool.clone(),
            def.name,
            settings.max_message_bytes,
        ))
        .add_service(feed::server(
            pool.clone(),
            latest_event,
            feeds_stopped,
            settings.max_message_bytes,
        ))
        .add_service(rejects::server(
            pool.clone(),
            def.name,
            handlers,
            settings.max_message_bytes,
        ))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    // Either an explicit stop or the sender being dropped ends the server.
    let stopped = async {
        server_stopped.await.ok();
    };
    let mut server: JoinHandle<Result<(), tonic::transport::Error>> = match tls {
        Some(tls) => tokio::spawn(router.serve_with_incoming_shutdown(
            // tonic takes a stream of results; the acceptor only yields connections made.
            tokio_stream::StreamExt::map(
                crate::tls::incoming(listener, tls),
                Ok::<_, std::io::Error>,
            ),
            stopped,
        )),
        None => tokio::spawn(router.serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            stopped,
        )),
    };
    let scheme = if settings.tls.serves_tls() {
        "https"
    } else {
        "http"
    };
    let mutual = settings.tls.client_ca.is_some();
    tracing::info!(service = def.name, %local_addr, scheme, mutual_tls = mutual, "listening");

    tokio::pin!(shutdown);
    let early_exit = tokio::select! {
        () = &mut shutdown => None,
        result = &mut server => Some(result),
    };
    if let Some(result) = early_exit {
        monitor.abort();
        stop_feeds.send_replace(true);
        join_consumers(consumers).await;
        return match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err).context("the gRPC server failed"),
            Err(join) => Err(join).context("the gRPC server task panicked"),
        };
    }

    // Stop advertising first so load balancers and probes move away, then drain.
    if stop_monitor.send(true).is_err() {
        tracing::debug!("health monitor already stopped");
    }
    set_status(&reporter, def, ServingStatus::NotServing).await;
    stop_feeds.send_replace(true);
    if stop_server.send(()).is_err() {
        tracing::debug!("server already stopped");
    }
    tracing::info!(service = def.name, grace = ?settings.shutdown_grace, "draining in-flight calls");
    let drained = tokio::time::timeout(settings.shutdown_grace, async {
        // Consumers finish the batch in hand; a batch cut short would only be replayed.
        join_consumers(consumers).await;
        (&mut server).await
    })
    .await;
    monitor.abort();
    pool.close().await;
    match drained {
        Ok(Ok(Ok(()))) => {
            tracing::info!(service = def.name, "stopped cleanly");
            Ok(())
        }
        Ok(Ok(Err(err))) => Err(err).context("the gRPC server failed while draining"),
        Ok(Err(join)) => Err(join).context("the gRPC server task panicked"),
        Err(_elapsed) => {
            server.abort();
            tracing::warn!(
                service = def.name,
                "grace period over; remaining calls were cut off"
            );
            Ok(())
        }
    }
}

/// CORS for gRPC-Web from browsers: only the configured origins, only POST, the headers gRPC-Web
/// and our tokens need, the gRPC status headers exposed. `None` (no layer: every cross-origin
/// call refused by the browser) when no origin is configured.
fn cors(origins: &[String]) -> anyhow::Result<Option<tower_http::cors::CorsLayer>> {
    use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName};
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|origin| {
            http::HeaderValue::from_str(origin.trim())
                .with_context(|| format!("--cors-allow-origin `{origin}` is not a header value"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::AllowOrigin::list(origins))
            .allow_methods([http::Method::POST])
            .allow_headers([
                AUTHORIZATION,
                CONTENT_TYPE,
                HeaderName::from_static("x-grpc-web"),
                HeaderName::from_static("x-user-agent"),
                HeaderName::from_static("grpc-timeout"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                HeaderName::from_static("grpc-status"),
                HeaderName::from_static("grpc-message"),
                HeaderName::from_static("grpc-status-details-bin"),
            ])
            .max_age(Duration::from_secs(600)),
    ))
}

async fn join_consumers(consumers: Vec<consumer::RunningConsumer>) {
    for running in consumers {
        running.join().await;
    }
}

/// Reflection advertises this process's service (not its siblings in the shared descriptor set),
/// health and reflection itself. The `google.rpc` error details are registered too, so tools
/// such as grpcurl can decode the `ErrorInfo` and `BadRequest` in our errors.
fn reflection(def: ServiceDef) -> tonic_reflection::server::Builder<'static> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(def.descriptor_set)
        .register_encoded_file_descriptor_set(kontakt_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET);
    for name in [
        def.grpc_name,
        kontakt_proto::service_names::ACCESS_LOG,
        kontakt_proto::service_names::EVENT_FEED,
        kontakt_proto::service_names::CONSUMER_REJECTS,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        builder = builder.with_service_name(name);
    }
    builder
}

/// Every name this process serves reports the same status: the overall one (""), the service's
/// own, and the access log, event feed and consumer rejects it serves beside it, all following
/// the database.
async fn set_status(reporter: &HealthReporter, def: ServiceDef, status: ServingStatus) {
    for name in [
        "",
        def.grpc_name,
        kontakt_proto::service_names::ACCESS_LOG,
        kontakt_proto::service_names::EVENT_FEED,
        kontakt_proto::service_names::CONSUMER_REJECTS,
    ] {
        reporter.set_service_status(name, status).await;
    }
}

/// Probes the database every `interval` and reports the result; applies migrations first when
/// asked (retrying until the database is there).
async fn monitor_health(
    def: ServiceDef,
    pool: PgPool,
    reporter: HealthReporter,
    interval: Duration,
    migrate_on_start: bool,
    schema_ready: watch::Sender<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    // Migrations run to completion outside the probe's timeout: cancelling one half-way could
    // leave its session-level advisory lock held on a pooled connection, and every later
    // attempt would wait on it for ever.
    if migrate_on_start {
        let mut last_failure = None;
        loop {
            let attempt = tokio::select! {
                result = db::migrate(&pool, def.schema, def.migrator) => result,
                _ = stopped.changed() => return,
            };
            match attempt {
                Ok(()) => {
                    tracing::info!(
                        service = def.name,
                        schema = def.schema,
                        "migrations applied"
                    );
                    break;
                }
                Err(e) => {
                    let reason = format!("migrating schema {}: {e}", def.schema);
                    if last_failure.as_ref() != Some(&reason) {
                        tracing::warn!(service = def.name, %reason, "NOT_SERVING");
                        last_failure = Some(reason);
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stopped.changed() => return,
            }
        }
    }
    let mut last: Option<Result<(), String>> = None;
    // A probe never takes longer than the interval (at least a second), so a database that
    // hangs instead of refusing still turns the service NOT_SERVING.
    let probe_timeout = interval.max(Duration::from_secs(1));
    loop {
        let probe = async {
            match db::migrations_current(&pool, def.migrator).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(format!(
                    "schema {} is not migrated to this version; run `kontakt migrate {}`",
                    def.schema, def.name
                )),
                Err(e) => Err(format!("database unreachable: {e}")),
            }
        };
        let outcome = match tokio::time::timeout(probe_timeout, probe).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("database did not answer within {probe_timeout:?}")),
        };
        if last.as_ref() != Some(&outcome) {
            match &outcome {
                Ok(()) => {
                    schema_ready.send_replace(true);
                    tracing::info!(service = def.name, "SERVING");
                    set_status(&reporter, def, ServingStatus::Serving).await;
                }
                Err(reason) => {
                    tracing::warn!(service = def.name, %reason, "NOT_SERVING");
                    set_status(&reporter, def, ServingStatus::NotServing).await;
                }
            }
            last = Some(outcome);
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// A service started in the background, for `kontakt dev` and tests.
pub struct ServiceHandle {
    pub name: &'static str,
    pub local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl ServiceHandle {
    /// Starts `serve` on a task; the returned handle stops it.
    pub fn spawn(
        def: ServiceDef,
        routes: Routes,
        listener: TcpListener,
        options: ServeOptions,
    ) -> anyhow::Result<Self> {
        let local_addr = listener
            .local_addr()
            .context("reading the listen address")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(def, routes, listener, options, async {
            stopped.await.ok();
        }));
        Ok(Self {
            name: def.name,
            local_addr,
            stop: Some(stop),
            task,
        })
    }

    /// Asks the service to drain and waits until it has stopped.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take()
            && stop.send(()).is_err()
        {
            tracing::debug!(service = self.name, "already stopping");
        }
        (&mut self.task).await.context("service task panicked")?
    }

    /// Waits for the service to stop by itself (after an error).
    pub async fn join(&mut self) -> anyhow::Result<()> {
        (&mut self.task).await.context("service task panicked")?
    }
}
