//! The client side: channels to `https://` URLs over TCP and TLS with the client config in
//! force, plaintext to `http://` ones.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsConnector, client};
use tonic::transport::{Channel, Endpoint, Uri};

use super::{Reloading, TlsSettings};

/// What a process's clients use for `https://` URLs.
#[derive(Clone)]
pub struct ClientTls {
    config: Reloading<ClientConfig>,
}

impl ClientTls {
    pub(super) fn new(config: Reloading<ClientConfig>) -> Self {
        Self { config }
    }

    /// A lazily connected channel to `endpoint`: TLS for an `https://` URL (verified as
    /// configured), plaintext for `http://`.
    pub fn channel(&self, endpoint: &Endpoint) -> Channel {
        if endpoint.uri().scheme_str() == Some("https") {
            endpoint.connect_with_connector_lazy(Connector {
                config: self.config.clone(),
            })
        } else {
            endpoint.connect_lazy()
        }
    }

    /// The public web roots and no client certificate: what a client given no settings uses.
    pub fn web_roots() -> Self {
        TlsSettings {
            reload_interval: Duration::ZERO,
            ..TlsSettings::default()
        }
        .client()
        .unwrap_or_else(|err| unreachable!("the built-in roots always load: {err}"))
    }
}

impl Default for ClientTls {
    fn default() -> Self {
        Self::web_roots()
    }
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

/// Connects TCP, then TLS with the client config in force, for tonic's channels.
#[derive(Clone)]
struct Connector {
    config: Reloading<ClientConfig>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<client::TlsStream<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = TlsConnector::from(self.config.current());
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| format!("`{uri}` names no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::try_from(host)?;
            let stream = connector.connect(name, tcp).await?;
            Ok(TokioIo::new(stream))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_web_roots_load() {
        let tls = ClientTls::web_roots();
        assert_eq!(tls.config.current().alpn_protocols, vec![b"h2".to_vec()]);
    }
}
