//! Settings shared by every service, read from flags or environment (every one is listed by
//! `--help`). Each binary flattens these into its own command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// How logs are written to stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Readable lines for a terminal.
    Human,
}

#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Telemetry")]
pub struct TelemetrySettings {
    /// Log format on stdout.
    #[arg(long, env = "KONTAKT_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: LogFormat,

    /// Log filter in `tracing` EnvFilter syntax, e.g. `info,kontakt=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,

    /// Which spans are traced (EnvFilter syntax), independent of the log filter.
    #[arg(long, env = "KONTAKT_TRACE_FILTER", default_value = "info")]
    pub trace_filter: String,

    /// OTLP/gRPC endpoint for traces, e.g. `http://otel-collector:4317`. Unset: no export.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otel_endpoint: Option<String>,
}

#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseSettings {
    /// PostgreSQL URL, e.g. `postgres://kontakt@db:5432/kontakt`. Each service uses its own schema.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Largest number of connections each service keeps in its pool.
    #[arg(long, env = "KONTAKT_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// How long a call waits for a free connection before it is answered UNAVAILABLE.
    #[arg(long, env = "KONTAKT_DB_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = crate::duration::parse)]
    pub db_acquire_timeout: Duration,

    /// Apply pending migrations when a service starts (turn off when a `kontakt migrate` job does it).
    #[arg(long, env = "KONTAKT_MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,
}

#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Server")]
pub struct ServerSettings {
    /// Time in-flight calls get to finish after SIGTERM/SIGINT before they are cut off.
    #[arg(long, env = "KONTAKT_SHUTDOWN_GRACE", default_value = "20s", value_parser = crate::duration::parse)]
    pub shutdown_grace: Duration,

    /// Largest request or response message in bytes; a larger one is refused with OUT_OF_RANGE naming the limit.
    #[arg(long, env = "KONTAKT_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_message_bytes: usize,

    /// Longest a unary call may run; a shorter client deadline (grpc-timeout) wins.
    #[arg(long, env = "KONTAKT_REQUEST_TIMEOUT", default_value = "30s", value_parser = crate::duration::parse)]
    pub request_timeout: Duration,

    /// Calls served at once per service; more are refused at once with RESOURCE_EXHAUSTED.
    #[arg(long, env = "KONTAKT_CONCURRENCY_LIMIT", default_value_t = 256)]
    pub concurrency_limit: usize,

    /// How long a client's connection is kept; then the server asks it to reconnect (HTTP/2
    /// GOAWAY, calls in flight get the shutdown grace to finish), so long-lived connections
    /// spread over replicas the autoscaler added. Feed subscribers resume from their cursors.
    #[arg(long, env = "KONTAKT_MAX_CONNECTION_AGE", default_value = "5m", value_parser = crate::duration::parse)]
    pub max_connection_age: Duration,

    /// How often the database is probed for the health check.
    #[arg(long, env = "KONTAKT_HEALTH_INTERVAL", default_value = "2s", value_parser = crate::duration::parse)]
    pub health_interval: Duration,

    /// How often a service's periodic jobs run (e.g. budget threshold warnings, due
    /// follow-ups); one replica at a time runs each. 0s switches them off.
    #[arg(long, env = "KONTAKT_SCHEDULER_INTERVAL", default_value = "60s", value_parser = crate::duration::parse)]
    pub scheduler_interval: Duration,

    /// How long published events stay in the outbox once every known subscriber of the feed
    /// has asked for events after them; older ones are pruned on the scheduler's ticks (in
    /// batches, one replica at a time). Events a known subscriber has not passed stay however
    /// old they are.
    #[arg(long, env = "KONTAKT_OUTBOX_RETENTION", default_value = "30d", value_parser = crate::duration::parse)]
    pub outbox_retention: Duration,

    /// How long the access log of personal data (R-DP-2) is kept; older entries are pruned on
    /// the scheduler's ticks. The municipality's data-protection rules set it (default about
    /// 5 years, 1827 days); the law's retention rule will refine the default.
    #[arg(long, env = "KONTAKT_ACCESS_LOG_RETENTION", default_value = "1827d", value_parser = crate::duration::parse)]
    pub access_log_retention: Duration,

    /// Web origins (e.g. `https://sag.kommune.dk`) whose pages may call the services with
    /// gRPC-Web from a browser; repeat or separate with commas. None by default: CORS is closed
    /// and only non-browser clients (and same-origin pages) can use gRPC-Web.
    #[arg(
        long = "cors-allow-origin",
        env = "KONTAKT_CORS_ALLOW_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allow_origins: Vec<String>,

    /// A second port, plaintext, serving only `grpc.health.v1` (e.g. `[::]:8086`): for probes
    /// that cannot speak TLS, such as the kubelet's gRPC probes. No personal data passes it.
    #[arg(long = "health-listen", env = "KONTAKT_HEALTH_LISTEN")]
    pub health_listen: Option<std::net::SocketAddr>,

    #[command(flatten)]
    pub tls: crate::tls::TlsSettings,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            shutdown_grace: Duration::from_secs(20),
            max_message_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            concurrency_limit: 256,
            max_connection_age: Duration::from_secs(300),
            health_interval: Duration::from_secs(2),
            scheduler_interval: Duration::from_secs(60),
            outbox_retention: Duration::from_secs(30 * 86_400),
            access_log_retention: Duration::from_secs(1827 * 86_400),
            cors_allow_origins: Vec::new(),
            health_listen: None,
            tls: crate::tls::TlsSettings::default(),
        }
    }
}

#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Authentication")]
pub struct AuthSettings {
    /// URL of the identity provider's public keys (JWKS; RS256 or ES256, matched by `kid`).
    /// Fetched again when a token names an unknown key and every 15 minutes, so keys rotate
    /// without a restart.
    #[arg(long, env = "KONTAKT_JWKS_URL", conflicts_with = "jwks_file")]
    pub jwks_url: Option<String>,

    /// A JWKS file instead of a URL (e.g. mounted from a ConfigMap); re-read the same way.
    #[arg(long, env = "KONTAKT_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,

    /// The only issuer (`iss`) whose tokens are accepted.
    #[arg(long, env = "KONTAKT_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// The audience (`aud`) tokens must be issued for.
    #[arg(long, env = "KONTAKT_JWT_AUDIENCE", default_value = "kontakt")]
    pub jwt_audience: String,

    /// Clock skew tolerated when checking `exp` and `nbf`.
    #[arg(long, env = "KONTAKT_JWT_LEEWAY", default_value = "30s", value_parser = crate::duration::parse)]
    pub jwt_leeway: Duration,
}
