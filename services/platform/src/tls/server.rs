//! The server side: TLS connections accepted with the config in force, and who is at the other
//! end of each.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::{TlsAcceptor, server};
use tokio_stream::wrappers::ReceiverStream;

use super::Reloading;

/// How long a client has to finish the handshake before its connection is closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS connections accepted on `listener`, each handshake in its own task (a slow or failing
/// client holds no one up); a failed handshake is logged with the peer's address and its
/// connection closed. Ends when the stream is dropped.
pub fn incoming(
    listener: TcpListener,
    config: Reloading<ServerConfig>,
) -> ReceiverStream<TlsConnection> {
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
                        if connections.send(TlsConnection::new(stream)).await.is_err() {
                            tracing::debug!(%peer, "the server stopped; the connection closes");
                        }
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

#[cfg(all(test, feature = "dev"))]
mod tests {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;

    use super::*;

    #[test]
    fn a_client_certificate_is_known_by_its_subject_and_names() {
        let ca = crate::tls::dev::Authority::new("Kontakt test CA").expect("CA");
        let issued = ca.issue("sbsys-ringsted", 30).expect("cert");
        let der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).expect("PEM");
        assert_eq!(
            identity(&der).as_deref(),
            Some("CN=sbsys-ringsted; DNS=localhost; DNS=sbsys-ringsted")
        );
    }
}
