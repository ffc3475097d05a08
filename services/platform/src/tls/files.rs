//! Certificates, keys and CA bundles read from PEM files, and the rustls configs made of them.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

use super::TlsError;

/// One file read: its path and bytes.
pub(super) struct File {
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

pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// cert, key and, for mutual TLS, the client CA bundle; `protocols` offered by ALPN.
pub(super) fn build_server(files: &[File], protocols: &[&[u8]]) -> Result<ServerConfig, TlsError> {
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
    config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// [ca], [cert, key].
pub(super) fn build_client(
    files: &[File],
    has_ca: bool,
    identity: bool,
) -> Result<ClientConfig, TlsError> {
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

pub(super) fn read_all(paths: &[PathBuf]) -> Result<Vec<File>, TlsError> {
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

pub(super) fn same(a: &[File], b: &[File]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.bytes == b.bytes)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

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
}
