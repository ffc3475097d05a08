//! The public keys tokens are verified with: a JWKS file, reloaded when a token names a key id
//! (`kid`) we do not know yet, so keys rotate by adding the new key to the file before use and
//! removing the old one after its tokens expire. Only RS256 and ES256 keys are accepted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

/// A file is re-read at most this often, so a flood of tokens with made-up key ids costs
/// nothing but a map lookup.
const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct VerifyingKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

pub struct KeySet {
    path: PathBuf,
    min_reload_interval: Duration,
    state: RwLock<State>,
}

struct State {
    keys: HashMap<String, VerifyingKey>,
    loaded_at: Instant,
}

impl KeySet {
    /// Loads the file now; an unreadable or empty key set stops start-up with the reason.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        Self::with_reload_interval(path, MIN_RELOAD_INTERVAL)
    }

    fn with_reload_interval(path: &Path, min_reload_interval: Duration) -> Result<Self, String> {
        let keys = read(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            min_reload_interval,
            state: RwLock::new(State {
                keys,
                loaded_at: Instant::now(),
            }),
        })
    }

    /// The key for `kid`, re-reading the file (rate-limited) when it is not known.
    pub fn get(&self, kid: &str) -> Option<VerifyingKey> {
        {
            let state = self
                .state
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(key) = state.keys.get(kid) {
                return Some(key.clone());
            }
            if state.loaded_at.elapsed() < self.min_reload_interval {
                return None;
            }
        }
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.loaded_at.elapsed() >= self.min_reload_interval {
            state.loaded_at = Instant::now();
            match read(&self.path) {
                Ok(keys) => {
                    tracing::info!(path = %self.path.display(), keys = keys.len(), "signing keys reloaded");
                    state.keys = keys;
                }
                // Keep the keys we have; a half-written file must not lock everybody out.
                Err(err) => tracing::warn!(%err, "signing keys not reloaded"),
            }
        }
        state.keys.get(kid).cloned()
    }
}

fn read(path: &Path) -> Result<HashMap<String, VerifyingKey>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the JWKS file {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a JWKS document; keys without `kid` or of other types are skipped with a warning.
pub fn parse(text: &str) -> Result<HashMap<String, VerifyingKey>, String> {
    let set: JwkSet =
        serde_json::from_str(text).map_err(|e| format!("not a JWKS document: {e}"))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            tracing::warn!("a JWKS key without `kid` is ignored (tokens are matched by kid)");
            continue;
        };
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => {
                tracing::warn!(%kid, "only RS256 and ES256 (P-256) keys are accepted; key ignored");
                continue;
            }
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {kid}: {e}"))?;
        keys.insert(kid, VerifyingKey { algorithm, key });
    }
    if keys.is_empty() {
        return Err("the JWKS holds no usable RS256 or ES256 key".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::dev_key::DevKey;

    fn jwks_of(dir: &Path) -> String {
        let key = DevKey::load_or_create(dir).expect("key");
        std::fs::read_to_string(key.jwks_path()).expect("jwks")
    }

    fn kid_of(jwks: &str) -> String {
        let set: serde_json::Value = serde_json::from_str(jwks).expect("json");
        set["keys"][0]["kid"].as_str().expect("kid").to_owned()
    }

    #[test]
    fn a_new_key_added_to_the_file_is_picked_up_by_its_kid() {
        let old = tempfile::tempdir().expect("dir");
        let new = tempfile::tempdir().expect("dir");
        let (old_jwks, new_jwks) = (jwks_of(old.path()), jwks_of(new.path()));
        let file = old.path().join("served.json");
        std::fs::write(&file, &old_jwks).expect("write");
        let keys = KeySet::with_reload_interval(&file, Duration::ZERO).expect("load");
        assert!(keys.get(&kid_of(&old_jwks)).is_some());
        assert!(keys.get(&kid_of(&new_jwks)).is_none());

        // Rotation: publish both keys, then the new token's kid is found.
        let mut both: serde_json::Value = serde_json::from_str(&old_jwks).expect("json");
        let extra: serde_json::Value = serde_json::from_str(&new_jwks).expect("json");
        both["keys"]
            .as_array_mut()
            .expect("keys")
            .push(extra["keys"][0].clone());
        std::fs::write(&file, both.to_string()).expect("write");
        assert!(keys.get(&kid_of(&new_jwks)).is_some());
        assert!(keys.get(&kid_of(&old_jwks)).is_some());
    }

    #[test]
    fn unknown_kids_do_not_reread_the_file_more_than_once_per_interval() {
        let dir = tempfile::tempdir().expect("dir");
        let jwks = jwks_of(dir.path());
        let file = dir.path().join("served.json");
        std::fs::write(&file, &jwks).expect("write");
        let keys = KeySet::with_reload_interval(&file, Duration::from_secs(3600)).expect("load");
        // Even a broken file is not read again within the interval, and the keys stay.
        std::fs::write(&file, "garbage").expect("write");
        assert!(keys.get("made-up").is_none());
        assert!(keys.get(&kid_of(&jwks)).is_some());
    }

    #[test]
    fn only_rs256_and_es256_keys_are_usable() {
        let hmac = r#"{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0"}]}"#;
        assert!(parse(hmac).is_err());
        assert!(parse("not json").is_err());
    }
}
