//! Kontakt Console: the web interface of Kontakt for the people who run arrangements every
//! day. Server-rendered HTML (axum + maud), forms and a little progressive enhancement; a
//! client of the four services over gRPC with the signed-in person's own token, so the
//! services' access tables, tenant scoping and access log apply unchanged.

// A handler's refusal is the page that says so (`Result<_, Response>`, axum's own idiom); a
// Response is 128 bytes, and boxing it would buy nothing at the rate pages are served.
#![allow(clippy::result_large_err)]

pub mod budget_files;
pub mod format;
pub mod grpc;
pub mod oidc;
pub mod page;
pub mod problem;
pub mod screens;
pub mod session;
pub mod sign_in;
pub mod web;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kontakt_platform::auth::dev_key::DevKey;
use kontakt_platform::clock::SharedClock;
use maud::html;
use tokio::net::TcpListener;

use crate::grpc::{ServiceUrls, Services};
use crate::screens::{
    auditor, committee, contact_person, coordinator, counsellor, evaluation, finance, statistics,
    timesheets,
};
use crate::session::SessionKey;
use crate::sign_in::SignInMethods;
use crate::web::{AppState, Inner, Signed};

/// The console's own settings (`kontakt serve console`).
#[derive(Clone, Debug, Default, clap::Args)]
#[command(next_help_heading = "Console")]
pub struct ConsoleSettings {
    /// The address people open, e.g. `https://kontakt.ishoj.dk` (sign-in redirects come back
    /// to it; cookies are Secure).
    #[arg(long, env = "KONTAKT_CONSOLE_PUBLIC_URL")]
    pub console_public_url: Option<String>,
    /// File with at least 32 random bytes that seals session cookies; every replica needs the
    /// same. Without it sessions end when the console restarts.
    #[arg(long, env = "KONTAKT_CONSOLE_SESSION_KEY_FILE")]
    pub console_session_key_file: Option<PathBuf>,
    /// Frames finance is offered on its first screen (ids, comma-separated).
    #[arg(long, env = "KONTAKT_CONSOLE_FRAMES", value_delimiter = ',')]
    pub console_frames: Vec<String>,
    #[command(flatten)]
    pub oidc: oidc::OidcSettings,
}

/// How the console is started.
pub struct Launch {
    pub listener: TcpListener,
    pub services: ServiceUrls,
    pub settings: ConsoleSettings,
    /// `kontakt dev`: sign in as a demo persona with this key.
    pub dev_key: Option<DevKey>,
    pub clock: SharedClock,
    /// The console's own certificate (its port serves HTTPS only when given) and how it
    /// verifies the services at `https://` URLs.
    pub tls: kontakt_platform::tls::TlsSettings,
}

/// The console's routes over its state.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .route("/log-ind", get(sign_in::page))
        .route("/log-ind/demo", post(sign_in::dev))
        .route("/log-ind/oidc", post(sign_in::oidc_start))
        .route("/auth/callback", get(sign_in::oidc_callback))
        .route("/log-ud", post(sign_in::sign_out))
        .route("/ingen-adgang", get(no_screens))
        .route("/koordinator", get(coordinator::queue))
        .route("/koordinator/udaekket", get(coordinator::unmet))
        .route("/koordinator/anmodning/{code}/{id}", get(coordinator::show))
        .route(
            "/koordinator/anmodning/{code}/{id}/tilknyt",
            post(coordinator::assign),
        )
        .route(
            "/koordinator/anmodning/{code}/{id}/indkoeb",
            post(coordinator::procure),
        )
        .route(
            "/koordinator/anmodning/{code}/{id}/tilbud",
            post(coordinator::offer),
        )
        .route(
            "/koordinator/anmodning/{code}/{id}/bestil",
            post(coordinator::order),
        )
        .route("/kontaktpersoner", get(coordinator::people))
        .route("/timesedler", get(timesheets::list))
        .route("/timesedler/godkend", post(timesheets::approve))
        .route("/timesedler/retur", post(timesheets::send_back))
        .route("/tid", get(contact_person::home))
        .route("/tid/timeseddel", post(contact_person::submit_timesheet))
        .route("/tid/{code}/{id}", get(contact_person::assignment))
        .route("/tid/{code}/{id}/registrer", post(contact_person::register))
        .route(
            "/tid/{code}/{id}/tilbagefoer",
            post(contact_person::reverse),
        )
        .route("/raadgiver", get(counsellor::home))
        .route("/raadgiver/statistik.csv", get(statistics::csv))
        .route("/raadgiver/bevilling/{code}/{id}", get(counsellor::grant))
        .route(
            "/raadgiver/opfoelgning/{code}/{id}",
            get(counsellor::follow_up).post(counsellor::complete),
        )
        .route(
            "/raadgiver/frist/{code}/{id}",
            post(counsellor::complete_deadline),
        )
        // referral drafting (routes): services/console/src/screens/referral_draft.rs
        .route(
            "/raadgiver/ny-henvisning",
            get(screens::referral_draft::new_draft).post(screens::referral_draft::start_draft),
        )
        .route(
            "/raadgiver/henvisning/{code}/{id}",
            get(screens::referral_draft::draft).post(screens::referral_draft::save),
        )
        .route(
            "/raadgiver/henvisning/{code}/{id}/undersoegelse",
            post(screens::referral_draft::add_assessment),
        )
        .route(
            "/raadgiver/henvisning/{code}/{id}/send",
            post(screens::referral_draft::submit),
        )
        // end of referral drafting (routes)
        .route("/udvalg", get(committee::agenda))
        .route(
            "/udvalg/{code}/{id}",
            get(committee::referral).post(committee::decide),
        )
        .route("/oekonomi", get(finance::home))
        .route("/oekonomi/{frame}", get(finance::frame))
        .route("/oekonomi/{frame}/budget.csv", get(finance::csv))
        .route("/oekonomi/{frame}/budget.xlsx", get(finance::xlsx))
        .route("/oekonomi/{frame}/evaluering/{year}", get(evaluation::show))
        .route(
            "/oekonomi/{frame}/evaluering/{year}/evaluering.xlsx",
            get(evaluation::xlsx),
        )
        .route(
            "/oekonomi/{frame}/evaluering/{year}/beslutning",
            post(evaluation::decide),
        )
        .route(
            "/oekonomi/{frame}/evaluering/{year}/indstillinger",
            post(evaluation::change_settings),
        )
        .route("/adgangslog", get(auditor::log))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Headers every answer carries: no framing, no sniffing, no referrer outside, scripts and
/// styles only from the page itself.
async fn security_headers(mut response: Response) -> Response {
    use axum::http::HeaderValue;
    let headers = response.headers_mut();
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"),
    );
    response
}

async fn home(Signed(session): Signed) -> Redirect {
    Redirect::to(page::home_path(&session))
}

async fn no_screens(Signed(session): Signed) -> page::Page {
    page::page(
        &session,
        "Ingen skærmbilleder",
        "/ingen-adgang",
        html! { p { "Din rolle har ingen skærmbilleder i konsollen. Kontakt din administrator, hvis det er forkert." } },
    )
}

async fn not_found() -> Response {
    page::public_page(
        StatusCode::NOT_FOUND,
        "Siden findes ikke",
        html! { p { a href="/" { "Gå til forsiden" } } },
    )
    .into_response()
}

/// The console's state from its settings (discovering the identity provider, if any).
pub async fn state(launch: &Launch, dev_key: Option<DevKey>) -> anyhow::Result<AppState> {
    let sessions = match &launch.settings.console_session_key_file {
        Some(path) => {
            let secret = std::fs::read(path)
                .with_context(|| format!("reading the session key {}", path.display()))?;
            SessionKey::from_secret(&secret).map_err(anyhow::Error::msg)?
        }
        None => SessionKey::random(),
    };
    let secure_cookies = launch
        .settings
        .console_public_url
        .as_deref()
        .is_none_or(|url| {
            url.starts_with("https://")
                || url.contains("://127.0.0.1")
                || url.contains("://localhost")
        });
    let oidc = if launch.settings.oidc.enabled() {
        let public = launch.settings.console_public_url.as_deref().context(
            "OpenID Connect sign-in needs the console's public address (KONTAKT_CONSOLE_PUBLIC_URL) for its redirect URL",
        )?;
        let redirect = format!("{}/auth/callback", public.trim_end_matches('/'));
        let oidc = oidc::discover(&launch.settings.oidc, redirect)
            .await
            .map_err(|err| anyhow::anyhow!("the identity provider: {err}"))?;
        tracing::info!(issuer = oidc.issuer(), "OpenID Connect sign-in");
        Some(oidc)
    } else {
        None
    };
    if oidc.is_none() && dev_key.is_none() {
        tracing::warn!("no sign-in configured (KONTAKT_OIDC_ISSUER_URL): nobody can sign in");
    }
    Ok(AppState(Arc::new(Inner {
        services: Services::connect(
            &launch.services,
            &launch
                .tls
                .client()
                .context("setting up TLS for the services")?,
        )?,
        sessions,
        sign_in: SignInMethods { dev: dev_key, oidc },
        clock: launch.clock.clone(),
        secure_cookies,
        frames: launch.settings.console_frames.clone(),
        public_url: launch
            .settings
            .console_public_url
            .as_deref()
            .map(|url| url.trim_end_matches('/').to_owned()),
        competences: tokio::sync::OnceCell::new(),
    })))
}

/// Serves the console until `stop` resolves.
pub async fn serve(
    mut launch: Launch,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let dev_key = launch.dev_key.take();
    let state = state(&launch, dev_key).await?;
    let tls = launch.tls.server_http1().context("setting up TLS")?;
    let addr = launch.listener.local_addr()?;
    tracing::info!(%addr, https = tls.is_some(), "console listening");
    match tls {
        Some(tls) => axum::serve(
            TlsListener {
                addr,
                incoming: kontakt_platform::tls::incoming(launch.listener, tls),
            },
            router(state),
        )
        .with_graceful_shutdown(stop)
        .await
        .context("the console server failed"),
        None => axum::serve(launch.listener, router(state))
            .with_graceful_shutdown(stop)
            .await
            .context("the console server failed"),
    }
}

/// The console's port when it serves HTTPS: the platform's TLS connections, for axum.
struct TlsListener {
    addr: std::net::SocketAddr,
    incoming: tokio_stream::wrappers::ReceiverStream<kontakt_platform::tls::TlsConnection>,
}

impl axum::serve::Listener for TlsListener {
    type Io = kontakt_platform::tls::TlsConnection;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        use tokio_stream::StreamExt as _;
        match self.incoming.next().await {
            Some(connection) => {
                let peer = connection.peer().remote_addr.unwrap_or(self.addr);
                (connection, peer)
            }
            // The acceptor stops only when the listener is dropped, which is never while axum
            // still asks; wait for the shutdown signal instead.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
