//! One pool per service, bound to the service's own schema through `search_path`, and that
//! schema's embedded migrations. A service never names another service's schema.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::LazyLock;

use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};

use crate::config::DatabaseSettings;

/// Parses a `postgres://` URL (a `?host=/dir` parameter selects a Unix socket).
pub fn parse_url(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    PgConnectOptions::from_str(url)
}

/// A pool whose connections see `schema` first. It connects lazily, so a service starts (and
/// reports NOT_SERVING) while the database is still unreachable.
pub fn pool(
    options: PgConnectOptions,
    schema: &'static str,
    settings: &DatabaseSettings,
) -> PgPool {
    let options = options
        .application_name(&format!("kontakt-{schema}"))
        .options([("search_path", schema)]);
    PgPoolOptions::new()
        .max_connections(settings.db_max_connections)
        .acquire_timeout(settings.db_acquire_timeout)
        // A broken connection fails its call once (UNAVAILABLE, retryable) and is dropped; pinging
        // before every acquire would cost a round trip on every call.
        .test_before_acquire(false)
        .connect_lazy_with(options)
}

/// Tables the platform keeps in every service's schema (the audit log; later the outbox),
/// tracked apart from the service's own migrations so the two never collide.
static PLATFORM: LazyLock<Migrator> = LazyLock::new(|| {
    let migration = |version: i64, description: &'static str, sql: &'static str| {
        Migration::new(
            version,
            Cow::Borrowed(description),
            MigrationType::Simple,
            sqlx::SqlStr::from_static(sql),
            false,
        )
    };
    let mut migrator = Migrator::with_migrations(vec![
        migration(
            1,
            "audit log",
            include_str!("../migrations/0001_audit_log.sql"),
        ),
        migration(2, "outbox", include_str!("../migrations/0002_outbox.sql")),
        migration(
            3,
            "consumer cursors",
            include_str!("../migrations/0003_consumer_cursors.sql"),
        ),
    ]);
    migrator.dangerous_set_table_name("_kontakt_platform_migrations");
    migrator
});

/// Creates the schema if needed and applies pending migrations: the platform's, then the
/// service's. Both are recorded in the schema itself (through `search_path`), so services never
/// collide.
pub async fn migrate(
    pool: &PgPool,
    schema: &'static str,
    migrator: &Migrator,
) -> Result<(), MigrateError> {
    // `schema` is a compile-time identifier from the service crate, never user input.
    sqlx::query(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
    )))
    .execute(pool)
    .await?;
    PLATFORM.run(pool).await?;
    migrator.run(pool).await
}

/// True when every migration embedded in this build, the platform's and the service's, has
/// been applied successfully.
pub async fn migrations_current(pool: &PgPool, migrator: &Migrator) -> Result<bool, sqlx::Error> {
    Ok(
        applied(pool, "_kontakt_platform_migrations", &PLATFORM).await?
            && applied(pool, "_sqlx_migrations", migrator).await?,
    )
}

async fn applied(
    pool: &PgPool,
    table: &'static str,
    migrator: &Migrator,
) -> Result<bool, sqlx::Error> {
    let embedded: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    // `table` is one of our two constant names.
    let applied: Result<i64, sqlx::Error> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE success AND version = ANY($1)"
    )))
    .bind(&embedded)
    .fetch_one(pool)
    .await;
    match applied {
        Ok(n) => Ok(n == embedded.len() as i64),
        // undefined_table: nothing has been migrated yet; the database itself is fine.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Ok(false),
        Err(e) => Err(e),
    }
}
