//! The benchmark's PostgreSQL: the server from `DATABASE_URL` or an embedded throwaway one, and
//! the databases made on it.

use std::str::FromStr as _;

use anyhow::Context as _;
use kontakt_platform::embedded_pg::{EmbeddedPostgres, Options};
use sqlx::Connection as _;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Where the databases go; holds the embedded server (stopped on drop) when there is one.
pub struct Server {
    pub options: PgConnectOptions,
    embedded: Option<EmbeddedPostgres>,
}

impl Server {
    /// `DATABASE_URL`'s server, or an embedded one in `dir` when the variable is unset.
    pub fn open(dir: &std::path::Path) -> anyhow::Result<Self> {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            let options =
                PgConnectOptions::from_str(&url).context("DATABASE_URL is not a PostgreSQL URL")?;
            return Ok(Self {
                options,
                embedded: None,
            });
        }
        let embedded = EmbeddedPostgres::start(Options {
            data_dir: dir.join("postgres"),
            fresh: true,
            // Durable, as in production: the audit and the writes are fsynced.
            fast: false,
        })
        .map_err(|e| anyhow::anyhow!("cannot start an embedded PostgreSQL: {e}"))?;
        Ok(Self {
            options: embedded.connect_options("postgres"),
            embedded: Some(embedded),
        })
    }

    /// A URL for `database` on this server, for the services.
    pub fn url(&self, database: &str) -> String {
        match &self.embedded {
            Some(pg) => pg.url(database),
            None => {
                let url = std::env::var("DATABASE_URL").unwrap_or_default();
                let base = url.split('?').next().unwrap_or(&url);
                let (server, _) = base.rsplit_once('/').unwrap_or((base, ""));
                format!("{server}/{database}")
            }
        }
    }

    /// A pool on `database` for loading and inspecting the data.
    pub async fn pool(&self, database: &str) -> anyhow::Result<PgPool> {
        Ok(PgPoolOptions::new()
            .max_connections(4)
            .connect_with(self.options.clone().database(database))
            .await?)
    }

    pub fn stop(self) {
        if let Some(pg) = self.embedded
            && let Err(err) = pg.stop()
        {
            eprintln!("warning: the embedded PostgreSQL did not stop cleanly: {err}");
        }
    }
}

/// Drops `database` if it is there and creates it empty.
pub async fn recreate_database(server: &PgConnectOptions, database: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect_with(&server.clone().database("postgres")).await?;
    // `database` is one of the benchmark's own constant names, never input.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{database}\""
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

/// Drops `database` if it is there.
pub async fn drop_database(server: &PgConnectOptions, database: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect_with(&server.clone().database("postgres")).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}
