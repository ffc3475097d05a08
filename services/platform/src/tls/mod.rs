//! TLS on every listener and in every client of ours: rustls with the ring provider, TLS 1.2
//! and 1.3.
//!
//! A server given `--tls-cert` and `--tls-key` (PEM) serves TLS only on its port: a plaintext
//! client fails in the handshake. `--tls-client-ca` makes it mutual: a client without a
//! certificate that chains to that bundle is refused in the handshake, and the certificate's
//! subject and names go with every call's log lines and trace (`tls.client`).
//!
//! The files are read again every `--tls-reload-interval`; a changed set is used for every
//! connection from then on (cert-manager's rotation) while open connections and their calls go
//! on. A changed set that does not load is logged and the previous one kept.
//!
//! A client's URL decides: `http://` is plaintext, `https://` is TLS with the server verified
//! against `--tls-ca` (the public web roots where none is given), presenting `--tls-cert` and
//! `--tls-key` as its own certificate where they are given (mutual TLS between services).

mod client;
#[cfg(feature = "dev")]
pub mod dev;
mod files;
mod reload;
mod server;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tokio_rustls::rustls::{self, ServerConfig};

pub use client::ClientTls;
pub use reload::Reloading;
pub use server::{TlsConnection, TlsPeer, identity, incoming, peer_identity};

/// The certificate files of a server, and the CA bundles its clients use.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "TLS")]
pub struct TlsSettings {
    /// This process's certificate chain (PEM). With `--tls-key` the port serves TLS only, and
    /// this process presents it as client certificate when it calls `https://` services.
    #[arg(long = "tls-cert", env = "KONTAKT_TLS_CERT", requires = "key")]
    pub cert: Option<PathBuf>,

    /// The private key of `--tls-cert` (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long = "tls-key", env = "KONTAKT_TLS_KEY", requires = "cert")]
    pub key: Option<PathBuf>,

    /// The CA bundle (PEM) servers this process calls at `https://` URLs must chain to; without
    /// it, the public web roots.
    #[arg(long = "tls-ca", env = "KONTAKT_TLS_CA")]
    pub ca: Option<PathBuf>,

    /// Mutual TLS: the CA bundle (PEM) every client's certificate must chain to; a client
    /// without one is refused in the handshake. Needs `--tls-cert`.
    #[arg(
        long = "tls-client-ca",
        env = "KONTAKT_TLS_CLIENT_CA",
        requires = "cert"
    )]
    pub client_ca: Option<PathBuf>,

    /// How often the files are read again; a changed set is used from the next connection on.
    #[arg(long = "tls-reload-interval", env = "KONTAKT_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = crate::duration::parse)]
    pub reload_interval: Duration,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            ca: None,
            client_ca: None,
            reload_interval: Duration::from_secs(10),
        }
    }
}

impl TlsSettings {
    /// The settings as the environment states them (`KONTAKT_TLS_*`), for the commands that
    /// take no TLS flags of their own (`ctl`, `health`, `demo`, `access-log`).
    pub fn from_env() -> Result<Self, TlsError> {
        #[derive(clap::Parser)]
        struct Environment {
            #[command(flatten)]
            tls: TlsSettings,
        }
        <Environment as clap::Parser>::try_parse_from(["kontakt"])
            .map(|environment| environment.tls)
            .map_err(|err| TlsError::Settings(err.to_string()))
    }

    /// Whether the listener serves TLS.
    pub fn serves_tls(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
    }

    /// A service's server config, made again when its files change; `None` for a plaintext
    /// listener. ALPN offers HTTP/2 (gRPC) and HTTP/1.1 (gRPC-Web). Needs a Tokio runtime (the
    /// files are watched by a task).
    pub fn server(&self) -> Result<Option<Reloading<ServerConfig>>, TlsError> {
        self.server_speaking(&[b"h2", b"http/1.1"])
    }

    /// The console's: ALPN offers HTTP/1.1 alone, which is what it serves (a browser offered
    /// HTTP/2 would otherwise choose it).
    pub fn server_http1(&self) -> Result<Option<Reloading<ServerConfig>>, TlsError> {
        self.server_speaking(&[b"http/1.1"])
    }

    fn server_speaking(
        &self,
        protocols: &'static [&'static [u8]],
    ) -> Result<Option<Reloading<ServerConfig>>, TlsError> {
        let (Some(cert), Some(key)) = (&self.cert, &self.key) else {
            if self.client_ca.is_some() {
                return Err(TlsError::Settings(
                    "--tls-client-ca needs --tls-cert and --tls-key".to_owned(),
                ));
            }
            return Ok(None);
        };
        let mut files = vec![cert.clone(), key.clone()];
        files.extend(self.client_ca.clone());
        Reloading::watch(files, self.reload_interval, "server", move |files| {
            files::build_server(files, protocols)
        })
        .map(Some)
    }

    /// What this process's clients use for `https://` URLs: the CA bundle (or the web roots)
    /// and, where given, this process's certificate as client certificate.
    pub fn client(&self) -> Result<ClientTls, TlsError> {
        let mut files = Vec::new();
        files.extend(self.ca.clone());
        let has_ca = self.ca.is_some();
        let identity = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                files.push(cert.clone());
                files.push(key.clone());
                true
            }
            _ => false,
        };
        let config = Reloading::watch(files, self.reload_interval, "client", move |files| {
            files::build_client(files, has_ca, identity)
        })?;
        Ok(ClientTls::new(config))
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {what}")]
    Pem { path: PathBuf, what: String },
    #[error("the TLS configuration is refused: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("{0}")]
    Settings(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_without_a_key_file_says_which_file() {
        let settings = TlsSettings {
            cert: Some(PathBuf::from("/nonexistent/server.crt")),
            key: Some(PathBuf::from("/nonexistent/server.key")),
            ..TlsSettings::default()
        };
        let Err(err) = settings.server() else {
            panic!("a missing file must be refused");
        };
        assert!(
            err.to_string().starts_with("/nonexistent/server.crt"),
            "{err}"
        );
    }

    #[cfg(feature = "dev")]
    #[test]
    fn a_service_offers_http2_and_http1_and_the_console_http1_alone() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let files = dev::write_all(dir.path(), &["referral"]).expect("certificates");
        let settings = files["referral"].settings(&TlsSettings::default());
        let alpn = |config: Option<Reloading<ServerConfig>>| {
            config.expect("TLS").current().alpn_protocols.clone()
        };
        assert_eq!(
            alpn(settings.server().expect("a service's config")),
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        // Browsers offer h2 first; the console (HTTP/1.1 only) must not accept it.
        assert_eq!(
            alpn(settings.server_http1().expect("the console's config")),
            [b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn a_client_ca_without_a_certificate_is_refused() {
        let settings = TlsSettings {
            client_ca: Some(PathBuf::from("ca.crt")),
            ..TlsSettings::default()
        };
        assert!(matches!(settings.server(), Err(TlsError::Settings(_))));
    }
}
