//! A throwaway certificate authority and the certificates it signs, for `kontakt dev --tls` and
//! the tests: every certificate names `localhost`, `127.0.0.1` and `::1` and is valid for
//! serving and for client authentication.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
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

/// A new CA in `dir` (`ca.crt`) and one certificate for each of `names`, by name.
pub fn write_all(
    dir: &Path,
    names: &[&str],
) -> anyhow::Result<std::collections::HashMap<String, Files>> {
    let ca = Authority::new("Kontakt dev CA")?;
    std::fs::create_dir_all(dir)?;
    let ca_path = dir.join("ca.crt");
    std::fs::write(&ca_path, ca.pem())?;
    names
        .iter()
        .map(|name| {
            let (cert, key) = ca.issue(name, 30)?.write(dir, name)?;
            let files = Files {
                ca: ca_path.clone(),
                cert,
                key,
            };
            Ok(((*name).to_owned(), files))
        })
        .collect()
}

impl Files {
    /// Serving with this certificate, and verifying `https://` peers against the CA.
    pub fn settings(&self, base: &super::TlsSettings) -> super::TlsSettings {
        super::TlsSettings {
            cert: Some(self.cert.clone()),
            key: Some(self.key.clone()),
            ca: Some(self.ca.clone()),
            ..base.clone()
        }
    }
}
