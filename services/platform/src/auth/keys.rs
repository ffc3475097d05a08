//! The public keys tokens are verified with: a JWKS file or the identity provider's JWKS URL.
//! The set is fetched again when a token names a key id (`kid`) we do not know (rate-limited),
//! and when it is older than [`MAX_AGE`], so keys rotate without a restart: the provider
//! publishes the new key before using it and removes the old one after its tokens expire.
//! Only RS256 and ES256 keys are accepted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

/// The set is fetched at most this often, so a flood of tokens with made-up key ids costs a map
/// lookup, not a request to the identity provider.
const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(10);
/// Keys are re-read at least this often, so a key the provider removed stops being accepted.
const MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// How long fetching a JWKS URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct VerifyingKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// Where the keys come from.
#[derive(Clone, Debug)]
pub enum Source {
    File(PathBuf),
    Url(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Url(url) => f.write_str(url),
        }
    }
}

pub struct KeySet {
    source: Source,
    min_reload_interval: Duration,
    state: RwLock<State>,
    /// One reload at a time; callers arriving meanwhile wait for it instead of repeating it.
    reloading: tokio::sync::Mutex<()>,
}

struct State {
    keys: HashMap<String, VerifyingKey>,
    loaded_at: Instant,
}

impl KeySet {
    /// Loads the keys now; an unreachable or empty key set stops start-up with the reason.
    pub async fn load(source: Source) -> Result<Self, String> {
        Self::with_reload_interval(source, MIN_RELOAD_INTERVAL).await
    }

    async fn with_reload_interval(
        source: Source,
        min_reload_interval: Duration,
    ) -> Result<Self, String> {
        let keys = read(&source).await?;
        Ok(Self {
            source,
            min_reload_interval,
            state: RwLock::new(State {
                keys,
                loaded_at: Instant::now(),
            }),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    fn lookup(&self, kid: &str) -> (Option<VerifyingKey>, Duration) {
        let state = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (state.keys.get(kid).cloned(), state.loaded_at.elapsed())
    }

    /// The key for `kid`, reloading the set first when `kid` is unknown or the set is old.
    pub async fn get(&self, kid: &str) -> Option<VerifyingKey> {
        let (found, age) = self.lookup(kid);
        let stale = age >= MAX_AGE;
        if (found.is_some() && !stale) || age < self.min_reload_interval {
            return found;
        }
        let _one_at_a_time = self.reloading.lock().await;
        // Another caller may have reloaded while we waited.
        let (found_now, age_now) = self.lookup(kid);
        if age_now < self.min_reload_interval {
            return found_now;
        }
        match read(&self.source).await {
            Ok(keys) => {
                tracing::info!(source = %self.source, keys = keys.len(), "signing keys reloaded");
                let mut state = self
                    .state
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                state.keys = keys;
                state.loaded_at = Instant::now();
            }
            Err(err) => {
                // Keep the keys we have; a provider hiccup must not lock everybody out.
                tracing::warn!(%err, "signing keys not reloaded");
                let mut state = self
                    .state
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                state.loaded_at = Instant::now();
            }
        }
        self.lookup(kid).0
    }
}

async fn read(source: &Source) -> Result<HashMap<String, VerifyingKey>, String> {
    let text = match source {
        Source::File(path) => tokio::fs::read_to_string(path)
            .await
            .map_err(|e| format!("cannot read the JWKS file {}: {e}", path.display()))?,
        Source::Url(url) => fetch(url).await?,
    };
    parse(&text).map_err(|e| format!("{source}: {e}"))
}

async fn fetch(url: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot fetch the JWKS from {url}: {e}"))?;
    let response = response
        .error_for_status()
        .map_err(|e| format!("the JWKS at {url} answered {e}"))?;
    response
        .text()
        .await
        .map_err(|e| format!("reading the JWKS from {url}: {e}"))
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
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    fn jwks_of(dir: &Path) -> String {
        let key = DevKey::load_or_create(dir).expect("key");
        std::fs::read_to_string(key.jwks_path()).expect("jwks")
    }

    fn kid_of(jwks: &str) -> String {
        let set: serde_json::Value = serde_json::from_str(jwks).expect("json");
        set["keys"][0]["kid"].as_str().expect("kid").to_owned()
    }

    fn both(a: &str, b: &str) -> String {
        let mut set: serde_json::Value = serde_json::from_str(a).expect("json");
        let extra: serde_json::Value = serde_json::from_str(b).expect("json");
        set["keys"]
            .as_array_mut()
            .expect("keys")
            .push(extra["keys"][0].clone());
        set.to_string()
    }

    #[tokio::test]
    async fn a_new_key_added_to_the_file_is_picked_up_by_its_kid() {
        let old = tempfile::tempdir().expect("dir");
        let new = tempfile::tempdir().expect("dir");
        let (old_jwks, new_jwks) = (jwks_of(old.path()), jwks_of(new.path()));
        let file = old.path().join("served.json");
        std::fs::write(&file, &old_jwks).expect("write");
        let keys = KeySet::with_reload_interval(Source::File(file.clone()), Duration::ZERO)
            .await
            .expect("load");
        assert!(keys.get(&kid_of(&old_jwks)).await.is_some());
        assert!(keys.get(&kid_of(&new_jwks)).await.is_none());

        // Rotation: publish both keys, then the new token's kid is found.
        std::fs::write(&file, both(&old_jwks, &new_jwks)).expect("write");
        assert!(keys.get(&kid_of(&new_jwks)).await.is_some());
        assert!(keys.get(&kid_of(&old_jwks)).await.is_some());
    }

    #[tokio::test]
    async fn unknown_kids_do_not_reread_the_source_more_than_once_per_interval() {
        let dir = tempfile::tempdir().expect("dir");
        let jwks = jwks_of(dir.path());
        let file = dir.path().join("served.json");
        std::fs::write(&file, &jwks).expect("write");
        let keys =
            KeySet::with_reload_interval(Source::File(file.clone()), Duration::from_secs(3600))
                .await
                .expect("load");
        // Even a broken file is not read again within the interval, and the keys stay.
        std::fs::write(&file, "garbage").expect("write");
        assert!(keys.get("made-up").await.is_none());
        assert!(keys.get(&kid_of(&jwks)).await.is_some());
    }

    /// A tiny HTTP server answering every request with the current JWKS, counting requests.
    async fn serve_jwks(body: Arc<Mutex<String>>, hits: Arc<Mutex<u32>>) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 2048];
                if socket.read(&mut request).await.is_err() {
                    continue;
                }
                *hits.lock().expect("lock") += 1;
                let body = body.lock().expect("lock").clone();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                if socket.write_all(response.as_bytes()).await.is_err() {
                    continue;
                }
            }
        });
        format!("http://{addr}/.well-known/jwks.json")
    }

    #[tokio::test]
    async fn keys_come_from_the_providers_url_and_rotate_there() {
        let old = tempfile::tempdir().expect("dir");
        let new = tempfile::tempdir().expect("dir");
        let (old_jwks, new_jwks) = (jwks_of(old.path()), jwks_of(new.path()));
        let body = Arc::new(Mutex::new(old_jwks.clone()));
        let hits = Arc::new(Mutex::new(0));
        let url = serve_jwks(body.clone(), hits.clone()).await;

        let keys = KeySet::with_reload_interval(Source::Url(url), Duration::ZERO)
            .await
            .expect("fetched");
        assert!(keys.get(&kid_of(&old_jwks)).await.is_some());
        let fetched = *hits.lock().expect("lock");
        assert!(keys.get(&kid_of(&old_jwks)).await.is_some());
        assert_eq!(
            *hits.lock().expect("lock"),
            fetched,
            "a known, fresh key costs no request"
        );

        *body.lock().expect("lock") = both(&old_jwks, &new_jwks);
        assert!(
            keys.get(&kid_of(&new_jwks)).await.is_some(),
            "an unknown kid fetches the set again"
        );
    }

    #[tokio::test]
    async fn an_unreachable_url_stops_start_up_with_the_reason() {
        let error = KeySet::load(Source::Url("http://127.0.0.1:1/jwks.json".into()))
            .await
            .err()
            .expect("refused");
        assert!(error.contains("cannot fetch the JWKS"), "{error}");
    }

    #[test]
    fn only_rs256_and_es256_keys_are_usable() {
        let hmac = r#"{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0"}]}"#;
        assert!(parse(hmac).is_err());
        assert!(parse("not json").is_err());
    }
}
