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

tokio::task_local! {
    /// When the call being served will be answered DEADLINE_EXCEEDED (set by the limits layer).
    static CALL_DEADLINE: tokio::time::Instant;
    /// How many connections the call (or event batch) being served holds through a [`CallTx`].
    static HELD: std::cell::Cell<u32>;
}

/// Runs `call` with its deadline known to the pool, so that the statements it starts end when
/// it does (see [`pool`]), and as one unit of work that holds at most one connection at a time
/// (see [`CallTx`]).
pub async fn within_deadline<F: std::future::Future>(
    deadline: tokio::time::Instant,
    call: F,
) -> F::Output {
    CALL_DEADLINE
        .scope(deadline, one_connection_at_a_time(call))
        .await
}

/// Runs `work` (a call, a consumer's batch) as a unit that holds at most one connection at a
/// time: while it holds a [`CallTx`], asking the pool for another connection is a defect.
///
/// Why: a unit that waits for a second connection while holding one (and perhaps a row lock)
/// deadlocks the pool under load — every connection held by a unit waiting for another, or for
/// the lock the first one holds — and the service fails calls UNAVAILABLE and reports
/// NOT_SERVING. Everything a unit does inside its transaction goes through that transaction.
pub async fn one_connection_at_a_time<F: std::future::Future>(work: F) -> F::Output {
    HELD.scope(std::cell::Cell::new(0), work).await
}

fn held_now() -> u32 {
    HELD.try_with(std::cell::Cell::get).unwrap_or(0)
}

/// A unit of work asked for a second connection while it holds one. In debug builds (the
/// tests) this panics, naming the defect, so that no such path passes its tests; in release it
/// is logged as an error and counted, and the call goes on (it works while the pool has room).
#[track_caller]
fn second_connection(how: &str) {
    let message = format!(
        "a call asked the pool for a second connection ({how}) while it holds one in a \
         transaction; under load this runs the pool dry. Do the work through the transaction, \
         or before it begins."
    );
    crate::metrics::second_connection();
    if cfg!(debug_assertions) {
        panic!("{message}");
    }
    tracing::error!(target: "kontakt::db", "{message}");
}

/// The transaction of the unit of work being served, and the one connection it holds. It
/// dereferences to the connection, so `&mut *tx` is what queries run on. Begin it after what can
/// be read without it (other reads would need a second connection), and commit or roll it back.
pub struct CallTx {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    _held: Held,
}

impl CallTx {
    /// Begins a transaction on a connection of `pool`.
    #[track_caller]
    pub fn begin(
        pool: &PgPool,
    ) -> impl std::future::Future<Output = Result<Self, sqlx::Error>> + Send + '_ {
        if held_now() > 0 {
            second_connection("a second transaction");
        }
        async move {
            let tx = pool.begin().await?;
            Ok(Self {
                tx,
                _held: Held::take(),
            })
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for CallTx {
    type Target = sqlx::PgConnection;
    fn deref(&self) -> &sqlx::PgConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for CallTx {
    fn deref_mut(&mut self) -> &mut sqlx::PgConnection {
        &mut self.tx
    }
}

impl std::fmt::Debug for CallTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallTx")
    }
}

/// One connection counted as held by the unit of work it was taken in, until dropped. (A
/// transaction taken outside any unit counts nowhere; its drop finds nothing to count down.)
struct Held;

impl Held {
    fn take() -> Self {
        let _ = HELD.try_with(|h| h.set(h.get() + 1));
        Self
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = HELD.try_with(|h| h.set(h.get().saturating_sub(1)));
    }
}

/// The `statement_timeout` (ms) for a connection handed out now: the time left to the call
/// being served (at least 1 ms), or 0 (none) outside a call: jobs, consumers, migrations.
fn statement_timeout_ms() -> u128 {
    CALL_DEADLINE
        .try_with(|deadline| {
            deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .as_millis()
                .max(1)
        })
        .unwrap_or(0)
}

/// Gives `conn` the statement timeout of the call it is handed to. Why: a call abandoned at its
/// deadline drops its query future, but PostgreSQL goes on running (or waiting for a lock) and
/// the connection stays out of the pool until it finishes; under a slow database every
/// timed-out call would keep a connection, the pool would fill and every other call would fail.
/// With the timeout, PostgreSQL itself ends the statement when the call ends. One short round
/// trip per checkout; it also finds a connection the server has closed (it is then replaced).
async fn hand_to_current_call(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    use sqlx::Executor as _;
    // Runs in the task that asked for the connection: a query on the pool itself while the
    // unit of work holds its transaction.
    if held_now() > 0 {
        second_connection("a query on the pool");
    }
    let ms = statement_timeout_ms();
    // An integer, not input: nothing to escape. The simple protocol keeps it out of the
    // statement cache.
    conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
        "SET statement_timeout = {ms}"
    ))))
    .await
    .map(drop)
}

/// A pool whose connections see `schema` first. It connects lazily, so a service starts (and
/// reports NOT_SERVING) while the database is still unreachable. Each connection is handed out
/// with the statement timeout of the call it serves ([`within_deadline`]).
pub fn pool(
    options: PgConnectOptions,
    schema: &'static str,
    settings: &DatabaseSettings,
) -> PgPool {
    let options = options
        .application_name(&format!("kontakt-{schema}"))
        // JIT compiles a plan for tens of milliseconds once its estimated cost is high; the
        // services' queries are short, indexed ones whose estimates can still pass that bar
        // (a candidate pool over thousands of people), where it only adds latency.
        .options([("search_path", schema), ("jit", "off")]);
    PgPoolOptions::new()
        .max_connections(settings.db_max_connections)
        .acquire_timeout(settings.db_acquire_timeout)
        // `before_acquire` already makes a round trip; a ping would be a second one.
        .test_before_acquire(false)
        .after_connect(|conn, _| Box::pin(hand_to_current_call(conn)))
        .before_acquire(|conn, _| {
            Box::pin(async { hand_to_current_call(conn).await.map(|()| true) })
        })
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
        migration(
            4,
            "consumer rejects kept for re-applying",
            include_str!("../migrations/0004_consumer_rejects_reapply.sql"),
        ),
        migration(
            5,
            "retention: feed subscribers, access-log pruning",
            include_str!("../migrations/0005_retention.sql"),
        ),
        migration(
            6,
            "the access log's floor",
            include_str!("../migrations/0006_audit_log_floor.sql"),
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
    // In production the schema exists already, made by deploy/sql/roles.sql and owned by the
    // role migrating it, which may not create schemas: `CREATE SCHEMA IF NOT EXISTS` checks
    // that right before it looks, so look first.
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(pool)
            .await?;
    if !exists {
        // `schema` is a compile-time identifier from the service crate, never user input.
        sqlx::query(AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
        )))
        .execute(pool)
        .await?;
    }
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

/// Tables only migrations write: the running service reads them (to know its schema is
/// current) and nothing more.
const MIGRATION_TABLES: [&str; 2] = ["_kontakt_platform_migrations", "_sqlx_migrations"];

/// Gives `role` what a running service needs on `schema` and nothing more: use of the schema,
/// reading and writing its tables and sequences, reading the migration tables, and only
/// reading and appending to the audit log (auditors read it through the service). It cannot
/// create, alter or drop anything. Run after every migration (`kontakt migrate --grant-to`),
/// so the tables a migration adds are covered at once; running it again changes nothing.
pub async fn grant_runtime_role(
    pool: &PgPool,
    schema: &'static str,
    role: &str,
) -> Result<(), sqlx::Error> {
    // The statements are built by the server's own `format('%I')`, which quotes the role name
    // however it is spelled; `role` never reaches the SQL text unquoted.
    let statements: Vec<String> = sqlx::query_scalar(
        "SELECT format(s, $1::text, $2::text) FROM unnest($3::text[]) WITH ORDINALITY AS t(s, n) ORDER BY n",
    )
    .bind(schema)
    .bind(role)
    .bind(
        [
            "GRANT USAGE ON SCHEMA %I TO %I",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I",
            "REVOKE UPDATE, DELETE, TRUNCATE ON %1$I.audit_log FROM %2$I",
            "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %1$I.audit_log_floor FROM %2$I",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain(MIGRATION_TABLES.iter().map(|table| {
            format!("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %1$I.{table} FROM %2$I")
        }))
        .collect::<Vec<_>>(),
    )
    .fetch_all(pool)
    .await?;
    let mut tx = pool.begin().await?;
    for statement in statements {
        sqlx::query(AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nowhere() -> PgPool {
        PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/nothing")
            .expect("a lazy pool")
    }

    #[tokio::test]
    #[should_panic(expected = "second connection")]
    async fn a_second_transaction_while_the_call_holds_one_fails_loudly() {
        one_connection_at_a_time(async {
            let _held = Held::take();
            let pool = nowhere();
            // Refused before it reaches the pool.
            drop(CallTx::begin(&pool));
        })
        .await;
    }

    #[tokio::test]
    async fn a_held_connection_counts_until_it_is_dropped_and_only_inside_a_unit() {
        assert_eq!(held_now(), 0);
        drop(Held::take());
        one_connection_at_a_time(async {
            let first = Held::take();
            assert_eq!(held_now(), 1);
            drop(first);
            assert_eq!(held_now(), 0);
            // After the first is given back, the next transaction is fine.
            let pool = nowhere();
            drop(CallTx::begin(&pool));
        })
        .await;
        assert_eq!(held_now(), 0);
    }

    #[tokio::test]
    async fn a_connection_gets_the_time_left_to_its_call_and_no_limit_outside_one() {
        assert_eq!(statement_timeout_ms(), 0, "jobs and consumers: no limit");
        let now = tokio::time::Instant::now();
        let left = within_deadline(now + std::time::Duration::from_secs(5), async {
            statement_timeout_ms()
        })
        .await;
        assert!((4_900..=5_000).contains(&left), "{left}");
        let overdue = within_deadline(now, async { statement_timeout_ms() }).await;
        assert_eq!(overdue, 1, "never 0, which would mean no limit at all");
    }
}
