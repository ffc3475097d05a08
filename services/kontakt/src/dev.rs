//! `kontakt dev`: the whole suite in one process, on `DATABASE_URL` or an embedded throwaway
//! PostgreSQL, stopped cleanly (PostgreSQL included) on Ctrl-C or SIGTERM.

use std::sync::Arc;

use anyhow::Context as _;
use futures_util::future::select_all;
use kontakt_platform::auth::dev_key::{DEV_AUDIENCE, DEV_ISSUER, DevKey};
use kontakt_platform::auth::service_token::ServiceToken;
use kontakt_platform::auth::{Claims, Role, Verifier};
use kontakt_platform::clock::SystemClock;
use kontakt_platform::config::AuthSettings;
use kontakt_platform::cpr_vault::{self, CprVault};
use kontakt_platform::embedded_pg::{EmbeddedPostgres, Options};
use kontakt_platform::tls::TlsSettings;
use kontakt_platform::{db, shutdown, telemetry};
use sqlx::postgres::PgConnectOptions;

use crate::cli::DevArgs;
use crate::{Launch, Peers, Service, ServiceHandle};

/// The database the suite uses inside the embedded server.
const DEV_DATABASE: &str = "kontakt";

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(&args.telemetry, "kontakt-dev")?;

    let (embedded, database, shown_url) = match &args.database.database_url {
        Some(url) => {
            let options =
                db::parse_url(url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
            (None, options, url.clone())
        }
        None => {
            let options = Options {
                data_dir: args.data_dir.clone(),
                fresh: args.fresh,
                fast: true,
            };
            println!("Starting PostgreSQL in {} ...", args.data_dir.display());
            let pg = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(options))
                .await
                .context("the PostgreSQL start-up task failed")??;
            create_database(pg.connect_options("postgres"), DEV_DATABASE).await?;
            let options = pg.connect_options(DEV_DATABASE);
            let url = pg.url(DEV_DATABASE);
            (Some(pg), options, url)
        }
    };

    // Tokens: a signing key of this data directory's own; only this process trusts it.
    let key = DevKey::load_or_create(&args.data_dir).map_err(anyhow::Error::msg)?;
    let auth = Arc::new(
        Verifier::load(&AuthSettings {
            jwks_url: None,
            jwks_file: Some(key.jwks_path().to_path_buf()),
            jwt_issuer: Some(DEV_ISSUER.into()),
            jwt_audience: DEV_AUDIENCE.into(),
            jwt_leeway: std::time::Duration::from_secs(30),
        })
        .await
        .map_err(anyhow::Error::msg)?,
    );
    let admin_token = crate::cli::admin_token(&key)?;

    // CPR keys of this data directory's own (the referral service stores CPR numbers).
    let cpr = Arc::new(
        CprVault::from_settings(
            &cpr_vault::dev_settings(&args.data_dir).map_err(anyhow::Error::msg)?,
        )
        .context("the dev CPR keys")?,
    );

    // The services follow each other's feeds with a service token of the same dev key.
    let service_token = key
        .mint(
            Claims {
                sub: "kontakt-dev-services".into(),
                name: "Kontakt services (dev)".into(),
                kontakt_roles: vec![Role::Service.as_str().into()],
                ..Claims::default()
            },
            std::time::Duration::from_secs(365 * 24 * 3600),
        )
        .map_err(anyhow::Error::msg)?;
    // With --tls: a throwaway CA, a certificate per service and the console, every client
    // verifying against the CA.
    let certificates = if args.tls {
        let dir = args.data_dir.join("tls");
        let files = kontakt_platform::tls::dev::write_all(
            &dir,
            &["referral", "matching", "timecost", "followup", "console"],
        )
        .with_context(|| format!("making the dev certificates in {}", dir.display()))?;
        Some(files)
    } else {
        None
    };
    let ca = certificates
        .as_ref()
        .and_then(|files| files.values().next())
        .map(|files| files.ca.clone());
    let tls_for = |name: &str| -> TlsSettings {
        match certificates.as_ref().and_then(|files| files.get(name)) {
            Some(files) => files.settings(&args.server.tls),
            None => args.server.tls.clone(),
        }
    };
    // The clients (peers, the demo loader) verify against the CA and present no certificate.
    let client_tls = TlsSettings {
        ca: ca.clone().or_else(|| args.server.tls.ca.clone()),
        ..args.server.tls.clone()
    }
    .client()
    .context("setting up the clients' TLS")?;
    crate::client::use_tls(client_tls.clone());
    let scheme = if certificates.is_some() {
        "https"
    } else {
        "http"
    };

    let mut listeners = Vec::new();
    let mut peers = Peers {
        token: Some(Arc::new(
            ServiceToken::fixed(&service_token).map_err(anyhow::Error::msg)?,
        )),
        tls: client_tls,
        ..Peers::default()
    };
    for (service, listen) in [
        (Service::Referral, args.referral_listen),
        (Service::Matching, args.matching_listen),
        (Service::Timecost, args.timecost_listen),
        (Service::Followup, args.followup_listen),
    ] {
        let listener = crate::bind(listen).await?;
        peers
            .urls
            .insert(service, format!("{scheme}://{}", listener.local_addr()?));
        listeners.push((service, listener));
    }

    let console_listener = crate::bind(args.console_listen).await?;
    let console_addr = console_listener.local_addr()?;

    // Before anything is announced: whoever reads the addresses may stop us at once.
    let stop = shutdown::signal();
    tokio::pin!(stop);
    let mut handles = Vec::new();
    for (service, listener) in listeners {
        let mut server_settings = args.server.clone();
        server_settings.tls = tls_for(service.def().name);
        let handle = crate::spawn(Launch {
            service,
            auth: auth.clone(),
            cpr: service.holds_cpr().then(|| cpr.clone()),
            listener,
            database: database.clone(),
            db_settings: args.database.clone(),
            server_settings,
            clock: Arc::new(SystemClock),
            peers: peers.clone(),
        })?;
        handles.push(handle);
    }

    // The console, signing in demo personas with the dev key.
    let (stop_console, console_stopped) = tokio::sync::oneshot::channel::<()>();
    let console = tokio::spawn(kontakt_console::serve(
        kontakt_console::Launch {
            listener: console_listener,
            services: kontakt_console::grpc::ServiceUrls {
                referral: peers.urls[&Service::Referral].clone(),
                matching: peers.urls[&Service::Matching].clone(),
                timecost: peers.urls[&Service::Timecost].clone(),
                followup: peers.urls[&Service::Followup].clone(),
            },
            settings: kontakt_console::ConsoleSettings {
                console_public_url: Some(format!("{scheme}://{console_addr}")),
                console_session_key_file: None,
                console_frames: vec!["ishoj-vallensbaek".into()],
                oidc: kontakt_console::oidc::OidcSettings::default(),
            },
            dev_key: Some(DevKey::load_or_create(&args.data_dir).map_err(anyhow::Error::msg)?),
            clock: Arc::new(SystemClock),
            tls: tls_for("console"),
        },
        async {
            // Told to stop, or `run` (the sender) is gone: either way the console stops.
            console_stopped.await.ok();
        },
    ));

    // Ctrl-C while the demo loads stops the suite, as it would once it runs.
    let mut stopped_early = false;
    if !args.no_demo {
        let urls = crate::demo::arrangements::Urls {
            referral: &peers.urls[&Service::Referral],
            matching: &peers.urls[&Service::Matching],
            timecost: &peers.urls[&Service::Timecost],
        };
        let load = crate::demo::load_everything(&urls, &key, &admin_token);
        tokio::select! {
            // Reported as it happened; the suite runs on without it.
            _ = load => {}
            () = &mut stop => stopped_early = true,
        }
    }

    // Run until a signal, or until a service fails by itself.
    let failed = if stopped_early {
        None
    } else {
        announce(
            &handles,
            console_addr,
            embedded.as_ref(),
            &shown_url,
            &admin_token,
            ca.as_deref(),
        );
        tokio::select! {
            () = &mut stop => None,
            (result, index, _) = select_all(handles.iter_mut().map(|h| Box::pin(h.join()))) => {
                Some((index, result))
            }
        }
    };
    let mut outcome = Ok(());
    // The console first: it only calls the services.
    let _ = stop_console.send(());
    match console.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(error = format!("{err:#}"), "stopping the console"),
        Err(err) => tracing::warn!(error = %err, "the console task failed"),
    }
    if let Some((index, result)) = failed {
        let name = handles[index].name;
        outcome = result.with_context(|| format!("the {name} service stopped"));
        if outcome.is_ok() {
            outcome = Err(anyhow::anyhow!("the {name} service stopped unexpectedly"));
        }
    }
    for handle in handles {
        let name = handle.name;
        if let Err(err) = handle.shutdown().await {
            tracing::warn!(service = name, error = format!("{err:#}"), "stopping");
        }
    }
    if let Some(pg) = embedded {
        tokio::task::spawn_blocking(move || pg.stop())
            .await
            .context("the PostgreSQL stop task failed")??;
        println!("PostgreSQL stopped.");
    }
    outcome
}

/// What `kontakt dev` runs and where, for the person at the terminal.
fn announce(
    handles: &[ServiceHandle],
    console: std::net::SocketAddr,
    embedded: Option<&EmbeddedPostgres>,
    shown_url: &str,
    admin_token: &str,
    ca: Option<&std::path::Path>,
) {
    let scheme = if ca.is_some() { "https" } else { "http" };
    println!();
    println!("Kontakt dev is running:");
    for handle in handles {
        println!(
            "  {:<9} listening on {}  ({})",
            handle.name,
            handle.local_addr,
            Service::ALL
                .iter()
                .find(|s| s.def().name == handle.name)
                .map_or("", |s| s.def().grpc_name)
        );
    }
    println!(
        "  console   listening on {scheme}://{console}  (web interface; sign in as a demo persona)"
    );
    if let Some(ca) = ca {
        println!(
            "  TLS       every port; the throwaway CA is {}",
            ca.display()
        );
    }
    match embedded {
        Some(pg) => println!(
            "  database  {shown_url}  (embedded; data in {})",
            pg.data_dir().display()
        ),
        None => println!("  database  DATABASE_URL"),
    }
    println!();
    println!("Admin token (8 h; more with `kontakt token --role ROLE --municipality CODE`):");
    println!("  export TOKEN={admin_token}");
    if let Some(first) = handles.first() {
        let addr = first.local_addr;
        let how = match ca {
            Some(ca) => format!("-cacert {}", ca.display()),
            None => "-plaintext".to_owned(),
        };
        println!();
        println!("Try:  grpcurl {how} {addr} list");
        println!("      grpcurl {how} {addr} grpc.health.v1.Health/Check");
        println!(
            "      grpcurl {how} -H \"authorization: Bearer $TOKEN\" {addr} kontakt.referral.v1.ReferralService/ListLegalBases"
        );
        if let Some(ca) = ca {
            println!(
                "      KONTAKT_TLS_CA={} kontakt health https://{addr}",
                ca.display()
            );
        }
    }
    println!("Stop with Ctrl-C.");
}

async fn create_database(admin: PgConnectOptions, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect_with(&admin)
        .await
        .context("cannot connect to the embedded PostgreSQL")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        // `name` is our own constant, never user input.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await?;
    }
    conn.close().await?;
    Ok(())
}
