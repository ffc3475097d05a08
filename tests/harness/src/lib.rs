//! The harness every Kontakt test uses.
//!
//! - A PostgreSQL server: `DATABASE_URL` when set, otherwise one throwaway cluster per test
//!   process, started from the system's binaries exactly as `kontakt dev` does.
//! - A fresh database per test, so tests run in parallel without seeing each other.
//! - Services started on `127.0.0.1:0`, waited on until SERVING, with a connected channel.

pub mod events;
pub mod faults;
pub mod fixtures;
pub mod messages;
mod services;

pub use services::*;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use kontakt::{Launch, Service};
use kontakt_platform::auth::dev_key::{DEV_AUDIENCE, DEV_ISSUER, DevKey};
use kontakt_platform::auth::{Claims, Role, Verifier};
use kontakt_platform::clock::{ManualClock, SharedClock, SystemClock};
use kontakt_platform::config::AuthSettings;
use kontakt_platform::config::{DatabaseSettings, ServerSettings};
use kontakt_platform::embedded_pg::{EmbeddedPostgres, Options};
use kontakt_platform::server::ServiceHandle;
use sqlx::Connection as _;
use sqlx::postgres::PgConnectOptions;
use tokio::sync::OnceCell;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

pub use kontakt_platform::embedded_pg;

/// Where test databases are created.
enum Server {
    /// `DATABASE_URL`: the server it names (the database part is replaced per test).
    External { url: String },
    /// Our own cluster, living as long as the test process.
    Embedded(EmbeddedPostgres),
}

impl Server {
    fn options(&self, database: &str) -> anyhow::Result<PgConnectOptions> {
        match self {
            Server::External { url } => {
                Ok(kontakt_platform::db::parse_url(url)?.database(database))
            }
            Server::Embedded(pg) => Ok(pg.connect_options(database)),
        }
    }

    fn url(&self, database: &str) -> String {
        match self {
            Server::External { url } => with_database(url, database),
            Server::Embedded(pg) => pg.url(database),
        }
    }
}

static SERVER: OnceCell<Server> = OnceCell::const_new();
static KEY: std::sync::OnceLock<DevKey> = std::sync::OnceLock::new();
static VERIFIER: OnceCell<Arc<Verifier>> = OnceCell::const_new();

/// The signing key of this test process.
fn test_key() -> &'static DevKey {
    KEY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kontakt-test-keys-{}", std::process::id()));
        // A previous process with this pid left it behind; its key is not ours to reuse.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove an old test key directory");
        }
        DevKey::load_or_create(&dir).expect("test signing key")
    })
}

/// CPR keys of this test process, for the services that hold CPR numbers.
pub fn cpr_vault() -> Arc<kontakt_platform::cpr_vault::CprVault> {
    static VAULT: std::sync::OnceLock<Arc<kontakt_platform::cpr_vault::CprVault>> =
        std::sync::OnceLock::new();
    VAULT
        .get_or_init(|| {
            use kontakt_platform::cpr_vault::{CprKeySettings, CprVault, generate_key};
            let settings = CprKeySettings {
                cpr_keys: Some(format!("test-1={}", generate_key())),
                cpr_active_key: Some("test-1".into()),
                cpr_index_key: Some(generate_key()),
            };
            Arc::new(CprVault::from_settings(&settings).expect("test CPR keys"))
        })
        .clone()
}

/// Environment giving a `kontakt serve referral` child process CPR keys.
pub fn cpr_env() -> Vec<(&'static str, String)> {
    use kontakt_platform::cpr_vault::generate_key;
    vec![
        ("KONTAKT_CPR_KEYS", format!("child-1={}", generate_key())),
        ("KONTAKT_CPR_ACTIVE_KEY", "child-1".to_owned()),
        ("KONTAKT_CPR_INDEX_KEY", generate_key()),
    ]
}

/// The verifier services started by the harness use: it trusts the test process's key.
pub async fn verifier() -> Arc<Verifier> {
    VERIFIER
        .get_or_init(|| async {
            let settings = AuthSettings {
                jwks_url: None,
                jwks_file: Some(test_key().jwks_path().to_path_buf()),
                jwt_issuer: Some(DEV_ISSUER.into()),
                jwt_audience: DEV_AUDIENCE.into(),
                jwt_leeway: Duration::from_secs(5),
            };
            Arc::new(Verifier::load(&settings).await.expect("test verifier"))
        })
        .await
        .clone()
}

/// Environment that makes a `kontakt serve` child process trust the harness's tokens.
pub fn auth_env() -> Vec<(&'static str, String)> {
    vec![
        (
            "KONTAKT_JWKS_FILE",
            test_key().jwks_path().display().to_string(),
        ),
        ("KONTAKT_JWT_ISSUER", DEV_ISSUER.to_owned()),
        ("KONTAKT_JWT_AUDIENCE", DEV_AUDIENCE.to_owned()),
    ]
}

/// A token for `roles` acting for `municipalities`, valid for an hour.
pub fn token(roles: &[Role], municipalities: &[&str]) -> String {
    let contact_person = roles
        .contains(&Role::ContactPerson)
        .then(|| "cp-test".to_owned());
    claims_token(Claims {
        sub: format!("test-{}", roles.first().map_or("nobody", |r| r.as_str())),
        kontakt_roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        kontakt_municipalities: municipalities.iter().map(|m| m.to_string()).collect(),
        kontakt_contact_person: contact_person,
        ..Claims::default()
    })
}

/// A token for the contact person `person` (`serviceUnits/{unit}/contactPersons/{id}`) of
/// `municipalities`, valid for an hour.
pub fn contact_person_token(person: &str, municipalities: &[&str]) -> String {
    claims_token(Claims {
        sub: person.rsplit('/').next().unwrap_or(person).into(),
        kontakt_roles: vec![Role::ContactPerson.as_str().into()],
        kontakt_municipalities: municipalities.iter().map(|m| m.to_string()).collect(),
        kontakt_contact_person: Some(person.into()),
        ..Claims::default()
    })
}

/// A token with exactly these claims (issuer, audience and times are filled in).
pub fn claims_token(claims: Claims) -> String {
    test_key()
        .mint(claims, Duration::from_secs(3600))
        .expect("mint a test token")
}

/// `claims` signed exactly as given, by the trusted test key (for expired or foreign-issuer tokens).
pub fn signed_as_is(claims: &Claims) -> String {
    test_key().sign(claims).expect("sign")
}

/// How test services reach each other: every peer URL points at `addrs` where given and at a
/// closed port otherwise (a follower of a service the test does not run retries quietly in the
/// background), with a service token of the test key.
pub fn peers(addrs: &[(Service, SocketAddr)]) -> kontakt::Peers {
    let token = claims_token(Claims {
        sub: "kontakt-test-services".into(),
        kontakt_roles: vec![Role::Service.as_str().into()],
        ..Claims::default()
    });
    let mut urls = std::collections::HashMap::new();
    for service in Service::ALL {
        let addr = addrs
            .iter()
            .find(|(s, _)| *s == service)
            .map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 1)), |(_, a)| *a);
        urls.insert(service, format!("http://{addr}"));
    }
    kontakt::Peers {
        urls,
        token: Some(Arc::new(
            kontakt_platform::auth::service_token::ServiceToken::fixed(&token)
                .expect("a service token"),
        )),
        tls: kontakt_platform::tls::ClientTls::default(),
    }
}

/// An administrator of the three reference municipalities.
pub fn admin_token() -> String {
    token(&[Role::Admin], &["183", "187", "329"])
}

/// A channel whose calls carry `token` (the binary's own client interceptor).
pub type AuthedChannel = kontakt::client::Authed;

pub fn authed(channel: Channel, token: &str) -> AuthedChannel {
    InterceptedService::new(
        channel,
        kontakt::client::Bearer::new(token).expect("a token is valid metadata"),
    )
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

async fn server() -> anyhow::Result<&'static Server> {
    SERVER
        .get_or_try_init(|| async {
            let server = match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => Server::External { url },
                _ => {
                    remove_stale_clusters();
                    let data_dir = std::env::temp_dir()
                        .join(format!("kontakt-test-pg-{}", std::process::id()));
                    let pg = tokio::task::spawn_blocking(move || {
                        EmbeddedPostgres::start(Options {
                            data_dir,
                            fresh: true,
                            fast: true,
                        })
                    })
                    .await??;
                    Server::Embedded(pg)
                }
            };
            drop_stale_databases(&server).await?;
            Ok(server)
        })
        .await
}

/// A database of its own for one test.
#[derive(Clone, Debug)]
pub struct TestDatabase {
    pub name: String,
    pub options: PgConnectOptions,
    /// The same database as a URL, for a `kontakt` child process's `DATABASE_URL`.
    pub url: String,
}

impl TestDatabase {
    /// The same database as another role (the test servers trust local connections, so no
    /// password), as a URL for a child process.
    pub fn url_as(&self, role: &str) -> String {
        let (scheme, rest) = self.url.split_once("://").expect("a postgres:// URL");
        let rest = match rest.split_once('@') {
            Some((userinfo, after)) if !userinfo.contains('/') => after,
            _ => rest,
        };
        format!("{scheme}://{role}@{rest}")
    }

    /// A plain connection (no schema on the search path), for a test to look or hold locks.
    pub async fn connect(&self) -> anyhow::Result<sqlx::PgConnection> {
        Ok(sqlx::PgConnection::connect_with(&self.options).await?)
    }
}

impl From<&TestDatabase> for PgConnectOptions {
    fn from(database: &TestDatabase) -> Self {
        database.options.clone()
    }
}

/// Creates an empty database named after this process, so a later run can drop it if this
/// process dies before cleaning up.
pub async fn fresh_database() -> anyhow::Result<TestDatabase> {
    let server = server().await?;
    let name = format!(
        "kt_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let mut admin = sqlx::PgConnection::connect_with(&server.options("postgres")?)
        .await
        .context("connecting to the test PostgreSQL")?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(TestDatabase {
        options: server.options(&name)?,
        url: server.url(&name),
        name,
    })
}

/// Settings that make tests quick: fast health probes, short grace.
pub fn test_server_settings() -> ServerSettings {
    ServerSettings {
        health_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(10),
        // Tests run scheduled jobs themselves, on their own clock.
        scheduler_interval: Duration::ZERO,
        ..ServerSettings::default()
    }
}

pub fn test_db_settings() -> DatabaseSettings {
    DatabaseSettings {
        database_url: None,
        db_max_connections: 5,
        db_acquire_timeout: Duration::from_secs(2),
        migrate_on_start: true,
    }
}

/// A pool on `service`'s schema in `db`, migrated, as a replica of the service has.
pub async fn migrated_pool(
    db: &TestDatabase,
    service: Service,
    settings: &DatabaseSettings,
) -> sqlx::PgPool {
    let pool = service.pool(db.options.clone(), settings);
    let def = service.def();
    kontakt_platform::db::migrate(&pool, def.schema, def.migrator)
        .await
        .expect("migrate");
    pool
}

/// A PostgreSQL of the test's own, for tests that stop and restart the server.
pub async fn own_postgres(dir: &std::path::Path) -> anyhow::Result<EmbeddedPostgres> {
    let data_dir = dir.to_path_buf();
    Ok(tokio::task::spawn_blocking(move || {
        EmbeddedPostgres::start(Options {
            data_dir,
            fresh: true,
            fast: true,
        })
    })
    .await??)
}

/// Replaces the database in a `postgres://` URL, keeping user, host and parameters.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let authority = before_query
        .split_once('/')
        .map_or(before_query, |(a, _)| a);
    match query {
        Some(q) => format!("{scheme}://{authority}/{database}?{q}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Clusters left in the temp directory by test processes that died.
fn remove_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("kontakt-test-pg-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !process_alive(pid) && std::fs::remove_dir_all(entry.path()).is_err() {
            // A server may still be shutting down there; a later run removes it.
            continue;
        }
    }
}

/// Test databases whose process is gone (named `kt_<pid>_…`).
async fn drop_stale_databases(server: &Server) -> anyhow::Result<()> {
    let mut admin = sqlx::PgConnection::connect_with(&server.options("postgres")?)
        .await
        .context("connecting to the test PostgreSQL (is DATABASE_URL right?)")?;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'kt\\_%'")
            .fetch_all(&mut admin)
            .await?;
    for name in names {
        let pid = name.split('_').nth(1).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !process_alive(pid)) {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await?;
        }
    }
    admin.close().await?;
    Ok(())
}

/// Polls `check` every 50 ms for up to 30 s: events cross the services asynchronously.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The SQLSTATE of a database error (e.g. `42501`, insufficient privilege), if it is one.
pub fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

/// The fields an INVALID_ARGUMENT's details name, in order.
pub fn bad_request_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// The (rule, field) pairs of a FAILED_PRECONDITION's details.
pub fn violations(status: &tonic::Status) -> Vec<(String, String)> {
    use tonic_types::StatusExt as _;
    status
        .get_details_precondition_failure()
        .map(|p| {
            p.violations
                .into_iter()
                .map(|v| (v.r#type, v.subject))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_in_a_url_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "kt_1"),
            "postgres://postgres@127.0.0.1:5432/kt_1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "kt_2"),
            "postgres://u:p@h/kt_2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "kt_3"),
            "postgres://h:5432/kt_3"
        );
    }
}
