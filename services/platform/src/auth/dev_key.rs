//! A development signing key: created by `kontakt dev` in its data directory, used by
//! `kontakt token` to mint tokens. Services accept it only where its JWKS file is configured
//! (`kontakt dev` does that for itself; nothing else does).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clock::Clock as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};

use super::principal::Claims;

/// Issuer and audience of development tokens.
pub const DEV_ISSUER: &str = "kontakt-dev";
pub const DEV_AUDIENCE: &str = "kontakt";

const KEY_FILE: &str = "dev-signing-key.pem";
const JWKS_FILE: &str = "dev-jwks.json";

pub struct DevKey {
    kid: String,
    encoding: EncodingKey,
    jwks_path: PathBuf,
}

impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevKey {
    /// Loads the key in `dir`, creating it (and its JWKS) the first time.
    pub fn load_or_create(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let key_path = dir.join(KEY_FILE);
        let signing = if key_path.exists() {
            let pem = std::fs::read_to_string(&key_path)
                .map_err(|e| format!("reading {}: {e}", key_path.display()))?;
            SigningKey::from_pkcs8_pem(&pem)
                .map_err(|e| format!("{} is not a P-256 key: {e}", key_path.display()))?
        } else {
            let signing = SigningKey::random(&mut rand_core::OsRng);
            let pem = signing
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| format!("encoding the dev key: {e}"))?;
            write_private(&key_path, pem.as_bytes())?;
            signing
        };
        Self::from_signing_key(signing, dir)
    }

    fn from_signing_key(signing: SigningKey, dir: &Path) -> Result<Self, String> {
        let point = signing.verifying_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err("the dev key has no affine coordinates".into());
        };
        let x = URL_SAFE_NO_PAD.encode(x);
        let y = URL_SAFE_NO_PAD.encode(y);
        // The key id is derived from the public key, so a new key gets a new id.
        let kid = format!("dev-{}", &x[..12]);
        let jwks = serde_json::json!({
            "keys": [{ "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid, "x": x, "y": y }]
        });
        let jwks_path = dir.join(JWKS_FILE);
        std::fs::write(&jwks_path, jwks.to_string())
            .map_err(|e| format!("writing {}: {e}", jwks_path.display()))?;
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| format!("encoding the dev key: {e}"))?;
        Ok(Self {
            kid,
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwks_path,
        })
    }

    /// The JWKS file services are configured with to accept these tokens.
    pub fn jwks_path(&self) -> &Path {
        &self.jwks_path
    }

    /// Signs `claims`, filling issuer, audience, issued-at and expiry (`ttl` from now).
    pub fn mint(&self, mut claims: Claims, ttl: Duration) -> Result<String, String> {
        // Tokens are checked against the system's clock, so they are minted by it.
        let now = u64::try_from(crate::clock::SystemClock.now().timestamp())
            .map_err(|_| "the clock is before 1970".to_owned())?;
        claims.iss = DEV_ISSUER.into();
        claims.aud = super::principal::Audience::One(DEV_AUDIENCE.into());
        claims.iat = now;
        claims.exp = now + ttl.as_secs();
        self.sign(&claims)
    }

    /// Signs `claims` exactly as given (tests use it for expired or foreign tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| format!("signing the token: {e}"))
    }
}

/// Writes a secret readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    file.write_all(bytes)
        .map_err(|e| format!("writing {}: {e}", path.display()))
}
