//! The signed-in person's session, kept in one cookie the console alone can read: the token
//! the services are called with, who it is for (to choose the screens), the form token that
//! guards every form (CSRF), and when it ends (the token's own expiry, never later).
//!
//! The cookie is sealed with AES-256-GCM under the console's session key, so several replicas
//! share sessions without a store, a tampered cookie is simply not a session, and the token
//! never reaches the browser's scripts (HttpOnly) or another site (SameSite).

use aes_gcm::aead::{Aead as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The cookie's name.
pub const COOKIE: &str = "kontakt_session";

/// Someone signed in, however they signed in (the identity provider or a dev persona).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    /// The bearer token the services are called with; never shown, never logged.
    pub token: String,
    /// Unix seconds when the token expires; the session ends then too.
    pub expires_at: i64,
    /// The token's subject (`sub`).
    pub subject: String,
    /// The person's name, for the header.
    pub name: String,
    /// Kontakt roles, e.g. `coordinator` (the services decide what each may do; the console
    /// only uses them to choose which screens to offer).
    pub roles: Vec<String>,
    /// Municipality codes the person acts for, e.g. `183`.
    pub municipalities: Vec<String>,
    /// A contact person's own resource name, e.g. `serviceUnits/ishoejgaard/contactPersons/anna-holm`.
    pub contact_person: Option<String>,
}

/// A session: who is signed in and the form token of this session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub person: SignedIn,
    /// Every form carries it; a POST without it (or with another) is refused.
    pub csrf: String,
}

impl Session {
    pub fn new(person: SignedIn) -> Self {
        Self {
            person,
            csrf: random_token(),
        }
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.person.roles.iter().any(|r| r == role)
    }

    /// Whether the session has ended at `now` (unix seconds).
    pub fn expired(&self, now: i64) -> bool {
        now >= self.person.expires_at
    }
}

/// 32 random bytes, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Seals and opens session cookies.
#[derive(Clone)]
pub struct SessionKey(Aes256Gcm);

impl SessionKey {
    /// A key derived from secret material (a file of at least 32 random bytes in production).
    pub fn from_secret(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < 32 {
            return Err(format!(
                "the session key must be at least 32 bytes of random data, not {}",
                secret.len()
            ));
        }
        let key: [u8; 32] = Sha256::digest(secret).into();
        Ok(Self(Aes256Gcm::new(&key.into())))
    }

    /// A key of this process alone (dev: sessions end when the console restarts).
    pub fn random() -> Self {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        Self(Aes256Gcm::new(&secret.into()))
    }

    pub fn seal(&self, session: &Session) -> String {
        self.seal_value(session)
    }

    /// The session in a cookie value, or `None` when it was not sealed by this key.
    pub fn open(&self, value: &str) -> Option<Session> {
        self.open_value(value)
    }

    /// Seals any value the console keeps in a cookie (a session, a sign-in on its way).
    pub fn seal_value<T: Serialize>(&self, value: &T) -> String {
        let plain = serde_json::to_vec(value).unwrap_or_default();
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(&Nonce::from(nonce), plain.as_slice())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// A value sealed by [`Self::seal_value`] under this key, or `None`.
    pub fn open_value<T: serde::de::DeserializeOwned>(&self, value: &str) -> Option<T> {
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        if bytes.len() < 12 + 16 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let plain = self.0.decrypt(&Nonce::from(nonce), sealed).ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> SignedIn {
        SignedIn {
            token: "header.payload.signature".into(),
            expires_at: 2_000_000_000,
            subject: "demo-coordinator".into(),
            name: "Koordinator".into(),
            roles: vec!["coordinator".into()],
            municipalities: vec!["183".into()],
            contact_person: None,
        }
    }

    #[test]
    fn a_sealed_session_opens_with_its_key_only() {
        let key = SessionKey::from_secret(&[7u8; 32]).expect("32 bytes");
        let session = Session::new(person());
        let cookie = key.seal(&session);
        assert_eq!(key.open(&cookie), Some(session.clone()));
        assert!(!cookie.contains("payload"), "the token is not readable");
        let other = SessionKey::from_secret(&[8u8; 32]).expect("32 bytes");
        assert_eq!(other.open(&cookie), None);
    }

    #[test]
    fn a_tampered_or_truncated_cookie_is_no_session() {
        let key = SessionKey::random();
        let cookie = key.seal(&Session::new(person()));
        let mut bytes = URL_SAFE_NO_PAD.decode(&cookie).expect("base64");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(key.open(&URL_SAFE_NO_PAD.encode(bytes)), None);
        assert_eq!(key.open(&cookie[..10]), None);
        assert_eq!(key.open("not base64 !"), None);
    }

    #[test]
    fn a_session_ends_with_its_token() {
        let session = Session::new(person());
        assert!(!session.expired(1_999_999_999));
        assert!(session.expired(2_000_000_000));
        assert!(SessionKey::from_secret(b"short").is_err());
        assert_ne!(Session::new(person()).csrf, session.csrf);
    }
}
