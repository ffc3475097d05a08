//! What the binary's client commands (demo loading, `ctl`, `access-log`) share when they call
//! the services: a bearer token on every call, a lazily connected channel, and retrying while
//! a service is not ready yet.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context as _;
use kontakt_platform::tls::{ClientTls, TlsSettings};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    pub fn new(token: &str) -> anyhow::Result<Self> {
        Ok(Self(
            format!("Bearer {token}")
                .parse()
                .context("the token is not valid metadata")?,
        ))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel with a bearer token, as the generated clients take it.
pub type Authed = InterceptedService<Channel, Bearer>;

static TLS: OnceLock<ClientTls> = OnceLock::new();

/// How the commands verify services at `https://` URLs, for the rest of the process (`kontakt
/// dev --tls` sets its throwaway CA). Without it, the first channel reads `KONTAKT_TLS_CA` (the
/// CA bundle; the public web roots when unset) and `KONTAKT_TLS_CERT`/`KONTAKT_TLS_KEY` (a
/// client certificate for mutual TLS), as the services' own settings do.
pub fn use_tls(tls: ClientTls) {
    if TLS.set(tls).is_err() {
        tracing::debug!("the client TLS settings were already in use");
    }
}

fn tls() -> anyhow::Result<&'static ClientTls> {
    if let Some(tls) = TLS.get() {
        return Ok(tls);
    }
    let tls = TlsSettings::from_env()
        .and_then(|settings| settings.client())
        .context("the client TLS settings (KONTAKT_TLS_CA, KONTAKT_TLS_CERT, KONTAKT_TLS_KEY)")?;
    Ok(TLS.get_or_init(|| tls))
}

/// A channel to `url`, connected on first use (a service still starting is retried by the
/// caller, not refused here); TLS for an `https://` URL.
pub fn channel(url: &str) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("`{url}` is not a URL"))?
        .connect_timeout(Duration::from_secs(5));
    Ok(tls()?.channel(&endpoint))
}

/// Calls until the answer's code is not one of `not_yet` (e.g. UNAVAILABLE while a service
/// migrates, NOT_FOUND while an event is on its way), for up to a minute; then returns the
/// last answer.
pub async fn retrying<T, F, Fut>(not_yet: &[tonic::Code], mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match call().await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status)
                if not_yet.contains(&status.code()) && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => return Err(status),
        }
    }
}
