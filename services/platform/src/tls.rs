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

use std::future::Future;
use std::io;
#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use clap::Args;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// How long a client has to finish the handshake before its connection is closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Whether the listener serves TLS.
    pub fn serves_tls(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
    }

    /// The server's config, made again when its files change; `None` for a plaintext listener.
    /// Needs a Tokio runtime (the files are watched by a task).
    pub fn server(&self) -> Result<Option<Reloading<ServerConfig>>, TlsError> {
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
        Reloading::watch(files, self.reload_interval, "server", build_server).map(Some)
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
            build_client(files, has_ca, identity)
        })?;
        Ok(ClientTls { config })
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

/// One file read: its path and bytes.
pub struct File {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl File {
    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let certs = CertificateDer::pem_slice_iter(&self.bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| self.pem(format!("not a PEM certificate list: {err}")))?;
        if certs.is_empty() {
            return Err(self.pem("holds no certificate".to_owned()));
        }
        Ok(certs)
    }

    fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        PrivateKeyDer::from_pem_slice(&self.bytes)
            .map_err(|err| self.pem(format!("not a PEM private key: {err}")))
    }

    fn roots(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in self.certificates()? {
            roots
                .add(cert)
                .map_err(|err| self.pem(format!("a CA certificate is refused: {err}")))?;
        }
        Ok(roots)
    }

    fn pem(&self, what: String) -> TlsError {
        TlsError::Pem {
            path: self.path.clone(),
            what,
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// cert, key and, for mutual TLS, the client CA bundle.
fn build_server(files: &[File]) -> Result<ServerConfig, TlsError> {
    let [cert, key, client_ca @ ..] = files else {
        return Err(TlsError::Settings(
            "a server needs a certificate and a key".to_owned(),
        ));
    };
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match client_ca.first() {
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(ca.roots()?), provider())
                    .build()
                    .map_err(|err| ca.pem(format!("not usable to verify clients: {err}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(cert.certificates()?, key.private_key()?)?;
    // gRPC over HTTP/2; gRPC-Web and the console's browsers may come over HTTP/1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// [ca], [cert, key].
fn build_client(files: &[File], has_ca: bool, identity: bool) -> Result<ClientConfig, TlsError> {
    let (roots, rest) = match (has_ca, files) {
        (true, [ca, rest @ ..]) => (ca.roots()?, rest),
        _ => (
            RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            files,
        ),
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match (identity, rest) {
        (true, [cert, key]) => {
            builder.with_client_auth_cert(cert.certificates()?, key.private_key()?)?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<File>, TlsError> {
    paths
        .iter()
        .map(|path| {
            std::fs::read(path)
                .map(|bytes| File {
                    path: path.clone(),
                    bytes,
                })
                .map_err(|source| TlsError::Read {
                    path: path.clone(),
                    source,
                })
        })
        .collect()
}

fn same(a: &[File], b: &[File]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.bytes == b.bytes)
}

/// A config made from files and made again when their content changes.
pub struct Reloading<C> {
    current: Arc<RwLock<Arc<C>>>,
}

impl<C> Clone for Reloading<C> {
    fn clone(&self) -> Self {
        Self {
            current: self.current.clone(),
        }
    }
}

impl<C: Send + Sync + 'static> Reloading<C> {
    /// Reads `paths` and builds the config; then, where a Tokio runtime runs and the interval
    /// is not zero, reads them again every `interval` for as long as a clone of this lives.
    fn watch(
        paths: Vec<PathBuf>,
        interval: Duration,
        what: &'static str,
        build: impl Fn(&[File]) -> Result<C, TlsError> + Send + 'static,
    ) -> Result<Self, TlsError> {
        let mut last = read_all(&paths)?;
        let current = Arc::new(RwLock::new(Arc::new(build(&last)?)));
        let runtime = tokio::runtime::Handle::try_current();
        if paths.is_empty() || interval.is_zero() || runtime.is_err() {
            return Ok(Self { current });
        }
        let watched = Arc::downgrade(&current);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(current) = watched.upgrade() else {
                    return;
                };
                let files = match read_all(&paths) {
                    Ok(files) => files,
                    Err(err) => {
                        tracing::warn!(tls = what, %err, "TLS files cannot be read; the loaded ones stay in use");
                        continue;
                    }
                };
                if same(&files, &last) {
                    continue;
                }
                match build(&files) {
                    Ok(config) => {
                        *current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
                        tracing::info!(tls = what, "TLS files changed: new connections use them");
                    }
                    Err(err) => {
                        tracing::warn!(tls = what, %err, "changed TLS files do not load; the previous ones stay in use");
                    }
                }
                last = files;
            }
        });
        Ok(Self { current })
    }

    /// The config in force now.
    pub fn current(&self) -> Arc<C> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// TLS connections accepted on `listener`, each handshake in its own task (a slow or failing
/// client holds no one up); a failed handshake is logged with the peer's address and its
/// connection closed. Ends when the stream is dropped.
pub fn incoming(
    listener: TcpListener,
    config: Reloading<ServerConfig>,
) -> ReceiverStream<io::Result<TlsConnection>> {
    let (connections, stream) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = connections.closed() => return,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // E.g. out of file descriptors: wait a little rather than spin.
                    tracing::warn!(%err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(%err, "TCP_NODELAY not set");
            }
            let acceptor = TlsAcceptor::from(config.current());
            let connections = connections.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let connection = TlsConnection::new(stream);
                        // The server has stopped when nobody receives; the connection closes.
                        let _ = connections.send(Ok(connection)).await;
                    }
                    Ok(Err(err)) => tracing::info!(%peer, %err, "TLS handshake refused"),
                    Err(_) => tracing::info!(%peer, "TLS handshake not finished in time"),
                }
            });
        }
    });
    ReceiverStream::new(stream)
}

/// One accepted TLS connection, with what its calls may want to know of it.
pub struct TlsConnection {
    stream: server::TlsStream<TcpStream>,
    peer: TlsPeer,
}

/// Who is at the other end of a TLS connection: its address and, under mutual TLS, the
/// verified certificate's identity (read once, when the connection is made). Every call's
/// request carries it as an extension.
#[derive(Clone, Debug)]
pub struct TlsPeer {
    pub remote_addr: Option<std::net::SocketAddr>,
    pub identity: Option<Arc<str>>,
}

impl TlsConnection {
    fn new(stream: server::TlsStream<TcpStream>) -> Self {
        let (tcp, session) = stream.get_ref();
        let peer = TlsPeer {
            remote_addr: tcp.peer_addr().ok(),
            identity: session
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|leaf| identity(leaf))
                .map(Arc::from),
        };
        Self { stream, peer }
    }

    pub fn peer(&self) -> &TlsPeer {
        &self.peer
    }
}

impl tonic::transport::server::Connected for TlsConnection {
    type ConnectInfo = TlsPeer;

    fn connect_info(&self) -> TlsPeer {
        self.peer.clone()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The verified client certificate's identity on a mutual-TLS connection: its subject and its
/// DNS, URI and e-mail names, e.g. `CN=referral; DNS=referral.kontakt.svc`.
pub fn peer_identity<B>(request: &http::Request<B>) -> Option<Arc<str>> {
    request.extensions().get::<TlsPeer>()?.identity.clone()
}

/// The subject and names of a DER certificate.
pub fn identity(der: &[u8]) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut parts = vec![cert.subject().to_string()];
    if let Ok(Some(names)) = cert.subject_alternative_name() {
        for name in &names.value.general_names {
            match name {
                GeneralName::DNSName(dns) => parts.push(format!("DNS={dns}")),
                GeneralName::URI(uri) => parts.push(format!("URI={uri}")),
                GeneralName::RFC822Name(mail) => parts.push(format!("email={mail}")),
                _ => {}
            }
        }
    }
    Some(parts.join("; "))
}

/// What a process's clients use for `https://` URLs.
#[derive(Clone)]
pub struct ClientTls {
    config: Reloading<ClientConfig>,
}

impl ClientTls {
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

/// A throwaway certificate authority and the certificates it signs, for `kontakt dev --tls` and
/// the tests: every certificate names `localhost`, `127.0.0.1` and `::1` and is valid for
/// serving and for client authentication.
#[cfg(feature = "dev")]
pub mod dev {
    use std::path::{Path, PathBuf};

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };

    /// A CA that signs.
    pub struct Authority {
        issuer: Issuer<'static, KeyPair>,
        pem: String,
    }

    /// A certificate and its key, as PEM.
    pub struct Issued {
        pub cert_pem: String,
        pub key_pem: String,
    }

    impl Authority {
        pub fn new(name: &str) -> Result<Self, rcgen::Error> {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.distinguished_name.push(DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let key = KeyPair::generate()?;
            let cert = params.self_signed(&key)?;
            Ok(Self {
                pem: cert.pem(),
                issuer: Issuer::new(params, key),
            })
        }

        /// The CA certificate (PEM), the bundle clients and servers verify against.
        pub fn pem(&self) -> &str {
            &self.pem
        }

        /// A certificate for `name` that ends in `days` days (negative: ended that long ago).
        pub fn issue(&self, name: &str, days: i64) -> Result<Issued, rcgen::Error> {
            let mut params = CertificateParams::new(vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
                name.to_owned(),
            ])?;
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            // Certificates are checked against the wall clock, so they are made on it too.
            use crate::clock::Clock as _;
            let seconds = crate::clock::SystemClock.now().timestamp();
            let now = rcgen::date_time_ymd(1970, 1, 1)
                + std::time::Duration::from_secs(u64::try_from(seconds).unwrap_or_default());
            // Valid from a day before `now`, or (expired) from a day before it ended.
            if days >= 0 {
                params.not_before = now - time_days(1);
                params.not_after = now + time_days(days);
            } else {
                params.not_before = now - time_days(1 - days);
                params.not_after = now - time_days(-days);
            }
            let key = KeyPair::generate()?;
            let cert = params.signed_by(&key, &self.issuer)?;
            Ok(Issued {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
            })
        }
    }

    fn time_days(days: i64) -> std::time::Duration {
        std::time::Duration::from_secs(days.unsigned_abs() * 86_400)
    }

    /// Where `write` put one process's files.
    #[derive(Clone, Debug)]
    pub struct Files {
        pub ca: PathBuf,
        pub cert: PathBuf,
        pub key: PathBuf,
    }

    impl Issued {
        /// Writes `<name>.crt` and `<name>.key` (the key readable by its owner only) in `dir`.
        pub fn write(&self, dir: &Path, name: &str) -> std::io::Result<(PathBuf, PathBuf)> {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::create_dir_all(dir)?;
            let cert = dir.join(format!("{name}.crt"));
            let key = dir.join(format!("{name}.key"));
            std::fs::write(&cert, &self.cert_pem)?;
            std::fs::write(&key, &self.key_pem)?;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
            Ok((cert, key))
        }
    }

    /// A new CA in `dir` (`ca.crt`) and one certificate for each of `names`.
    pub fn write_all(dir: &Path, names: &[&str]) -> anyhow::Result<Vec<Files>> {
        let ca = Authority::new("Kontakt dev CA")?;
        std::fs::create_dir_all(dir)?;
        let ca_path = dir.join("ca.crt");
        std::fs::write(&ca_path, ca.pem())?;
        names
            .iter()
            .map(|name| {
                let (cert, key) = ca.issue(name, 30)?.write(dir, name)?;
                Ok(Files {
                    ca: ca_path.clone(),
                    cert,
                    key,
                })
            })
            .collect()
    }
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

    #[test]
    fn a_client_ca_without_a_certificate_is_refused() {
        let settings = TlsSettings {
            client_ca: Some(PathBuf::from("ca.crt")),
            ..TlsSettings::default()
        };
        assert!(matches!(settings.server(), Err(TlsError::Settings(_))));
    }

    #[test]
    fn a_file_that_is_not_pem_is_named_in_the_error() {
        let file = File {
            path: Path::new("ca.crt").to_path_buf(),
            bytes: b"not a certificate".to_vec(),
        };
        let err = file
            .roots()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("ca.crt: holds no certificate"), "{err}");
    }

    #[cfg(feature = "dev")]
    #[test]
    fn a_client_certificate_is_known_by_its_subject_and_names() {
        let ca = dev::Authority::new("Kontakt test CA").expect("CA");
        let issued = ca.issue("sbsys-ringsted", 30).expect("cert");
        let der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).expect("PEM");
        assert_eq!(
            identity(&der).as_deref(),
            Some("CN=sbsys-ringsted; DNS=localhost; DNS=sbsys-ringsted")
        );
    }

    #[test]
    fn the_web_roots_load() {
        let tls = ClientTls::web_roots();
        assert_eq!(tls.config.current().alpn_protocols, vec![b"h2".to_vec()]);
    }
}
