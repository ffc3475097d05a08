//! The command line: `kontakt serve <service>`, `kontakt dev`, `kontakt migrate [service]`.
//! Every setting is a flag with an environment variable, listed by `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use kontakt_platform::auth::dev_key::DevKey;
use kontakt_platform::auth::service_token::ServiceToken;
use kontakt_platform::auth::{Claims, MunicipalityCode, Role, Verifier};
use kontakt_platform::clock::{SharedClock, SystemClock};
use kontakt_platform::config::{AuthSettings, DatabaseSettings, ServerSettings, TelemetrySettings};
use kontakt_platform::cpr_vault::{CprKeySettings, CprVault};
use kontakt_platform::server::{ServeOptions, serve};
use kontakt_platform::{db, shutdown, telemetry};

use crate::Service;

#[derive(Debug, Parser)]
#[command(
    name = "kontakt",
    version,
    about = "Contact-person arrangements for Danish municipalities: gRPC services."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up: the size of the largest command's settings costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one service in this process (production: one Deployment per service), or the
    /// web console.
    Serve(ServeArgs),
    /// Run all four services in one process on an embedded throwaway PostgreSQL (or DATABASE_URL).
    #[cfg(feature = "dev")]
    Dev(DevArgs),
    /// Apply pending migrations for one service or all, then exit (e.g. as a Kubernetes Job).
    Migrate(MigrateArgs),
    /// Print a development token signed with `kontakt dev`'s key (accepted only by `kontakt dev`).
    Token(TokenArgs),
    /// Print everything done with one person's data, from all four services (auditors).
    AccessLog(AccessLogArgs),
    /// Re-encrypt stored CPR numbers under the active key after a key rotation.
    RekeyCpr(RekeyCprArgs),
    /// Everyday questions over gRPC, answered as tables: due follow-ups, budget status, unmet
    /// demand, a grant's history; exports with a progress indicator.
    Ctl(crate::ctl::CtlArgs),
    /// Load the demo data (reference policies, people, frame, twelve arrangements) into running
    /// services that trust the dev key in --data-dir (e.g. the dev overlay in a cluster).
    Demo(DemoArgs),
    /// Ask a service whether it is SERVING (exit 0) or not (exit 1), e.g. as an exec probe.
    Health(crate::health::HealthArgs),
}

#[derive(Debug, Args)]
pub struct RekeyCprArgs {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    #[command(flatten)]
    pub cpr: CprKeySettings,
}

#[derive(Debug, Args)]
pub struct AccessLogArgs {
    /// The person: `municipalities/{code}/persons/{id}`.
    #[arg(long)]
    pub person: String,
    /// An auditor's token.
    #[arg(long, env = "KONTAKT_TOKEN", hide_env_values = true)]
    pub token: String,
    #[command(flatten)]
    pub endpoints: Endpoints,
}

/// Where a client command finds the four services (defaults: `kontakt dev`'s).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Services")]
pub struct Endpoints {
    /// Referral service URL.
    #[arg(
        long,
        env = "KONTAKT_REFERRAL_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub referral_url: String,
    /// Matching service URL.
    #[arg(
        long,
        env = "KONTAKT_MATCHING_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub matching_url: String,
    /// Time & cost service URL.
    #[arg(
        long,
        env = "KONTAKT_TIMECOST_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub timecost_url: String,
    /// Follow-up service URL.
    #[arg(
        long,
        env = "KONTAKT_FOLLOWUP_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub followup_url: String,
}

/// Addresses of the other services, for calls between services (their event feeds).
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Peers")]
pub struct PeerArgs {
    /// URL of the referral service, e.g. `http://referral:50051`.
    #[arg(long, env = "KONTAKT_REFERRAL_URL")]
    pub referral_url: Option<String>,
    /// URL of the matching service.
    #[arg(long, env = "KONTAKT_MATCHING_URL")]
    pub matching_url: Option<String>,
    /// URL of the time & cost service.
    #[arg(long, env = "KONTAKT_TIMECOST_URL")]
    pub timecost_url: Option<String>,
    /// URL of the follow-up service.
    #[arg(long, env = "KONTAKT_FOLLOWUP_URL")]
    pub followup_url: Option<String>,
    /// File holding the token (with the `service` role) this service presents to the others;
    /// re-read when it changes, so whatever rotates it needs no restart.
    #[arg(long, env = "KONTAKT_SERVICE_TOKEN_FILE")]
    pub service_token_file: Option<PathBuf>,
}

impl PeerArgs {
    pub fn peers(&self, tls: kontakt_platform::tls::ClientTls) -> crate::Peers {
        let urls = [
            (Service::Referral, &self.referral_url),
            (Service::Matching, &self.matching_url),
            (Service::Timecost, &self.timecost_url),
            (Service::Followup, &self.followup_url),
        ]
        .into_iter()
        .filter_map(|(service, url)| url.clone().map(|url| (service, url)))
        .collect();
        crate::Peers {
            urls,
            token: self
                .service_token_file
                .clone()
                .map(|path| Arc::new(ServiceToken::file(path))),
            tls,
        }
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Which service to run (or `console`, the web interface).
    #[arg(value_enum)]
    pub service: ServeTarget,
    /// Address to listen on; default `[::]:` and the service's port (50051-50054; the
    /// console 8080).
    #[arg(long, env = "KONTAKT_LISTEN")]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub peers: PeerArgs,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub cpr: CprKeySettings,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub server: ServerSettings,
    #[command(flatten)]
    pub telemetry: TelemetrySettings,
    #[command(flatten)]
    pub console: kontakt_console::ConsoleSettings,
}

/// What `kontakt serve` runs: one of the four services, or the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ServeTarget {
    Referral,
    Matching,
    Timecost,
    Followup,
    Console,
}

impl ServeTarget {
    fn service(self) -> Option<Service> {
        match self {
            ServeTarget::Referral => Some(Service::Referral),
            ServeTarget::Matching => Some(Service::Matching),
            ServeTarget::Timecost => Some(Service::Timecost),
            ServeTarget::Followup => Some(Service::Followup),
            ServeTarget::Console => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Where the embedded PostgreSQL keeps its data (reused across runs).
    #[arg(long, env = "KONTAKT_DEV_DATA_DIR", default_value = ".kontakt/dev")]
    pub data_dir: PathBuf,
    /// Wipe the data directory first.
    #[arg(long)]
    pub fresh: bool,
    /// Start without loading the demo data (the reference municipalities' policies).
    #[arg(long)]
    pub no_demo: bool,
    /// Serve TLS on every port: a throwaway CA and a certificate per service (for localhost,
    /// 127.0.0.1 and ::1) are made in `<data-dir>/tls`, and every client verifies against it.
    #[arg(long)]
    pub tls: bool,
    /// Referral service address.
    #[arg(
        long,
        env = "KONTAKT_DEV_REFERRAL_LISTEN",
        default_value = "127.0.0.1:50051"
    )]
    pub referral_listen: SocketAddr,
    /// Matching service address.
    #[arg(
        long,
        env = "KONTAKT_DEV_MATCHING_LISTEN",
        default_value = "127.0.0.1:50052"
    )]
    pub matching_listen: SocketAddr,
    /// Time & cost service address.
    #[arg(
        long,
        env = "KONTAKT_DEV_TIMECOST_LISTEN",
        default_value = "127.0.0.1:50053"
    )]
    pub timecost_listen: SocketAddr,
    /// Follow-up service address.
    #[arg(
        long,
        env = "KONTAKT_DEV_FOLLOWUP_LISTEN",
        default_value = "127.0.0.1:50054"
    )]
    pub followup_listen: SocketAddr,
    /// Console (web interface) address.
    #[arg(
        long,
        env = "KONTAKT_DEV_CONSOLE_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub console_listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub server: ServerSettings,
    #[command(flatten)]
    pub telemetry: TelemetrySettings,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Role(s) the token grants; repeat for several.
    #[arg(long = "role", required = true, value_parser = parse_role)]
    pub roles: Vec<Role>,
    /// Municipality code(s) the caller acts for, e.g. 183; repeat for several.
    #[arg(long = "municipality", value_parser = parse_municipality)]
    pub municipalities: Vec<MunicipalityCode>,
    /// Service unit(s) the caller belongs to (e.g. a coordinator's unit); repeat for several.
    #[arg(long = "service-unit")]
    pub service_units: Vec<String>,
    /// For a contact person: their resource name, e.g.
    /// `serviceUnits/ishoejgaard/contactPersons/anna-holm`.
    #[arg(long)]
    pub contact_person: Option<String>,
    /// Subject (`sub`); default `dev-<first role>`.
    #[arg(long)]
    pub subject: Option<String>,
    /// Display name (`name`).
    #[arg(long)]
    pub name: Option<String>,
    /// How long the token is valid.
    #[arg(long, default_value = "8h", value_parser = kontakt_platform::duration::parse)]
    pub ttl: std::time::Duration,
    /// The `kontakt dev` data directory holding the signing key.
    #[arg(long, env = "KONTAKT_DEV_DATA_DIR", default_value = ".kontakt/dev")]
    pub data_dir: PathBuf,
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value).ok_or_else(|| {
        let all: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("unknown role `{value}`; one of: {}", all.join(", "))
    })
}

fn parse_municipality(value: &str) -> Result<MunicipalityCode, String> {
    MunicipalityCode::parse(value)
        .ok_or_else(|| format!("`{value}` is not a 3-digit municipality code"))
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// The data directory holding the dev signing key the services trust.
    #[arg(long, env = "KONTAKT_DEV_DATA_DIR", default_value = ".kontakt/dev")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The services to migrate; all when none is named.
    #[arg(value_enum)]
    pub services: Vec<Service>,
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// After migrating, grant this role what the running service needs on its schema (and no
    /// more: no DDL, no UPDATE or DELETE on the audit log). Needs exactly one service named.
    #[arg(long, env = "KONTAKT_GRANT_TO")]
    pub grant_to: Option<String>,
    #[command(flatten)]
    pub telemetry: TelemetrySettings,
}

/// Runs a command; errors are printed with their causes and give exit code 1.
pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve_one(args).await,
            #[cfg(feature = "dev")]
            Command::Dev(args) => crate::dev::run(args).await,
            Command::Migrate(args) => migrate(args).await,
            Command::Token(args) => token(args),
            Command::AccessLog(args) => access_log(args).await,
            Command::RekeyCpr(args) => rekey_cpr(args).await,
            Command::Ctl(args) => crate::ctl::run(args).await,
            Command::Health(args) => crate::health::run(args).await,
            Command::Demo(args) => demo(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_one(args: ServeArgs) -> anyhow::Result<()> {
    let Some(service) = args.service.service() else {
        return serve_console(args).await;
    };
    let def = service.def();
    let _telemetry = telemetry::init(&args.telemetry, &format!("kontakt-{}", def.name))?;
    let url = args.database.database_url.as_deref().context(
        "DATABASE_URL (or --database-url) is required for `kontakt serve`; `kontakt dev` starts its own database",
    )?;
    let options = db::parse_url(url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let auth = Arc::new(
        Verifier::load(&args.auth)
            .await
            .map_err(anyhow::Error::msg)?,
    );
    let cpr = if service.holds_cpr() {
        Some(Arc::new(CprVault::from_settings(&args.cpr)?))
    } else {
        None
    };
    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([0u16; 8], service.default_port())));
    // Before the address is printed: whoever reads it may stop us at once.
    let stop = shutdown::signal();
    let listener = crate::bind(listen).await?;
    // Printed, not only logged: scripts and tests read the real port when listening on :0.
    println!("{} listening on {}", def.name, listener.local_addr()?);
    tracing::info!(peers = ?args.peers, "peer services");

    let pool = service.pool(options, &args.database);
    let clock: SharedClock = Arc::new(SystemClock);
    let routes = service.routes(pool.clone(), clock.clone(), cpr, &args.server)?;
    let client_tls = args
        .server
        .tls
        .client()
        .context("setting up TLS for the peers")?;
    let consumers = service.consumers(&pool, clock, &args.peers.peers(client_tls))?;
    serve(
        *def,
        routes,
        listener,
        ServeOptions {
            pool,
            auth,
            settings: args.server,
            migrate_on_start: args.database.migrate_on_start,
            consumers,
        },
        stop,
    )
    .await
}

/// `kontakt serve console`: the web interface, a client of the four services.
async fn serve_console(args: ServeArgs) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(&args.telemetry, "kontakt-console")?;
    let peers = &args.peers;
    let url = |name: &str, url: &Option<String>| {
        url.clone().with_context(|| {
            format!(
                "the console needs the {name} service's URL (KONTAKT_{}_URL)",
                name.to_uppercase()
            )
        })
    };
    let services = kontakt_console::grpc::ServiceUrls {
        referral: url("referral", &peers.referral_url)?,
        matching: url("matching", &peers.matching_url)?,
        timecost: url("timecost", &peers.timecost_url)?,
        followup: url("followup", &peers.followup_url)?,
    };
    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([0u16; 8], 8080)));
    let stop = shutdown::signal();
    let listener = crate::bind(listen).await?;
    println!("console listening on {}", listener.local_addr()?);
    kontakt_console::serve(
        kontakt_console::Launch {
            listener,
            services,
            settings: args.console,
            dev_key: None,
            clock: Arc::new(SystemClock),
            tls: args.server.tls,
        },
        stop,
    )
    .await
}

/// The municipalities of the demo data, which `kontakt dev` and `kontakt demo` sign in to.
pub(crate) const DEV_MUNICIPALITIES: [&str; 3] = ["183", "187", "329"];

/// The dev administrator's token (all the demo municipalities), for loading the demo data.
pub(crate) fn admin_token(key: &DevKey) -> anyhow::Result<String> {
    key.mint(
        Claims {
            sub: "dev-admin".into(),
            name: "Development administrator".into(),
            kontakt_roles: vec![Role::Admin.as_str().into()],
            kontakt_municipalities: DEV_MUNICIPALITIES.iter().map(|m| m.to_string()).collect(),
            ..Claims::default()
        },
        std::time::Duration::from_secs(8 * 3600),
    )
    .map_err(anyhow::Error::msg)
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let key = DevKey::load_or_create(&args.data_dir).map_err(anyhow::Error::msg)?;
    let admin_token = admin_token(&key)?;
    crate::demo::load_everything(
        &crate::demo::arrangements::Urls {
            referral: &args.endpoints.referral_url,
            matching: &args.endpoints.matching_url,
            timecost: &args.endpoints.timecost_url,
        },
        &key,
        &admin_token,
    )
    .await
}

/// Mints a token with the dev key; prints only the token so `TOKEN=$(kontakt token …)` works.
fn token(args: TokenArgs) -> anyhow::Result<()> {
    let key = DevKey::load_or_create(&args.data_dir).map_err(anyhow::Error::msg)?;
    let claims = Claims {
        sub: args
            .subject
            .unwrap_or_else(|| format!("dev-{}", args.roles[0].as_str())),
        name: args.name.unwrap_or_default(),
        kontakt_roles: args.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        kontakt_municipalities: args
            .municipalities
            .iter()
            .map(ToString::to_string)
            .collect(),
        kontakt_service_units: args.service_units,
        kontakt_contact_person: args.contact_person,
        ..Claims::default()
    };
    println!(
        "{}",
        key.mint(claims, args.ttl).map_err(anyhow::Error::msg)?
    );
    Ok(())
}

async fn access_log(args: AccessLogArgs) -> anyhow::Result<()> {
    let endpoints = [
        ("referral", args.endpoints.referral_url),
        ("matching", args.endpoints.matching_url),
        ("timecost", args.endpoints.timecost_url),
        ("followup", args.endpoints.followup_url),
    ];
    let entries = crate::access_log::gather(&endpoints, &args.token, &args.person).await?;
    println!(
        "Access log of {} ({} entries, newest first):",
        args.person,
        entries.len()
    );
    for entry in &entries {
        println!("{}", crate::access_log::format_entry(entry));
    }
    Ok(())
}

async fn rekey_cpr(args: RekeyCprArgs) -> anyhow::Result<()> {
    let vault = CprVault::from_settings(&args.cpr)?;
    let options =
        db::parse_url(&args.database_url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let schema = Service::Referral.def().schema;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.options([("search_path", schema)]))
        .await
        .context("cannot connect to the database")?;
    let count = kontakt_referral::reencrypt_cprs(pool, &vault).await?;
    println!(
        "{count} CPR numbers re-encrypted under key `{}`",
        vault.active_key_id()
    );
    Ok(())
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(&args.telemetry, "kontakt-migrate")?;
    let options =
        db::parse_url(&args.database_url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let services = if args.services.is_empty() {
        Service::ALL.to_vec()
    } else {
        args.services
    };
    // Each service runs as its own role, so one role for several schemas is a mistake.
    if args.grant_to.is_some() && services.len() != 1 {
        anyhow::bail!(
            "--grant-to needs exactly one service: `kontakt migrate <service> --grant-to <role>`"
        );
    }
    for service in services {
        let def = service.def();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().options([("search_path", def.schema)]))
            .await
            .context("cannot connect to the database")?;
        db::migrate(&pool, def.schema, def.migrator)
            .await
            .with_context(|| format!("migrating {}", def.name))?;
        if let Some(role) = &args.grant_to {
            db::grant_runtime_role(&pool, def.schema, role)
                .await
                .with_context(|| {
                    format!(
                        "granting role `{role}` its rights on schema `{}`",
                        def.schema
                    )
                })?;
            println!(
                "{}: role `{role}` may use schema `{}`",
                def.name, def.schema
            );
        }
        let latest = def
            .migrator
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or_default();
        println!(
            "{}: schema `{}` at migration {latest}",
            def.name, def.schema
        );
        pool.close().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// Every setting any command reads from the environment, as (flag, variable).
    fn settings(command: &clap::Command, found: &mut Vec<(String, String)>) {
        for arg in command.get_arguments() {
            if let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) {
                let pair = (format!("--{long}"), env.to_string_lossy().into_owned());
                if !found.contains(&pair) {
                    found.push(pair);
                }
            }
        }
        for sub in command.get_subcommands() {
            settings(sub, found);
        }
    }

    #[test]
    fn the_readme_settings_table_lists_every_flag_and_variable() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split_once("### Settings")
            .expect("the README has a Settings section")
            .1;
        let mut found = Vec::new();
        settings(&Cli::command(), &mut found);
        assert!(found.len() > 25, "{found:?}");
        let missing: Vec<_> = found
            .iter()
            .filter(|(flag, env)| {
                !table.lines().any(|line| {
                    line.starts_with('|')
                        && line.contains(&format!("`{flag}`"))
                        && line.contains(&format!("`{env}`"))
                })
            })
            .collect();
        assert!(
            missing.is_empty(),
            "README's settings table lacks: {missing:?}"
        );
    }
}
