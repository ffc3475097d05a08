//! Tokens already verified. Case systems reuse one token until it expires, so without this every
//! call paid for a signature check: ES256 verification was half of the referral service's CPU
//! under the read benchmark.
//!
//! An entry is keyed by the SHA-256 of the whole token, so only the very same bytes hit; it is
//! used only inside the token's own validity window (`nbf`/`exp` with the leeway) and only while
//! the key that verified it is still in the key set (the verifier checks that on every hit).

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::Principal;

/// Beyond this many live tokens, the cache starts over (cheap, and a verification is only a
/// slower path, never a wrong answer).
const CAPACITY: usize = 10_000;

#[derive(Clone, Debug)]
pub struct Verified {
    pub principal: Principal,
    /// The key id it was verified with.
    pub kid: String,
    pub not_before: Option<u64>,
    pub expires: u64,
}

impl Verified {
    /// The same rule the full verification applies: usable from `nbf − leeway` to `exp + leeway`.
    fn is_current(&self, now: u64, leeway: u64) -> bool {
        now <= self.expires.saturating_add(leeway)
            && self
                .not_before
                .is_none_or(|nbf| nbf <= now.saturating_add(leeway))
    }
}

#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], Verified>>,
}

pub type Key = [u8; 32];

pub fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenCache {
    /// The earlier verification of this token, if it is still current at `now`.
    pub fn get(&self, key: &Key, now: u64, leeway: u64) -> Option<Verified> {
        let mut entries = self.lock();
        match entries.get(key) {
            Some(hit) if hit.is_current(now, leeway) => Some(hit.clone()),
            Some(_) => {
                // Expired (or not yet valid): the full verification gives the precise reason.
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, key: Key, verified: Verified, now: u64, leeway: u64) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.retain(|_, v| v.is_current(now, leeway));
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, verified);
    }

    pub fn forget(&self, key: &Key) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Verified>> {
        // A panic elsewhere while holding the lock leaves a consistent map: keep using it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Claims;

    fn verified(nbf: Option<u64>, exp: u64) -> Verified {
        Verified {
            principal: Principal::from_claims(Claims {
                sub: "someone".into(),
                ..Claims::default()
            })
            .expect("principal"),
            kid: "k1".into(),
            not_before: nbf,
            expires: exp,
        }
    }

    #[test]
    fn a_hit_is_only_returned_inside_the_tokens_window() {
        let cache = TokenCache::default();
        let k = key("a.b.c");
        cache.insert(k, verified(Some(1_000), 2_000), 1_500, 30);
        assert!(cache.get(&k, 969, 30).is_none(), "before nbf − leeway");
        cache.insert(k, verified(Some(1_000), 2_000), 1_500, 30);
        assert!(cache.get(&k, 970, 30).is_some());
        assert!(cache.get(&k, 2_030, 30).is_some());
        assert!(cache.get(&k, 2_031, 30).is_none(), "after exp + leeway");
        assert!(
            cache.get(&k, 1_500, 30).is_none(),
            "an expired entry is dropped"
        );
    }

    #[test]
    fn only_the_same_bytes_hit() {
        let cache = TokenCache::default();
        cache.insert(key("a.b.c"), verified(None, 2_000), 1_500, 0);
        assert!(cache.get(&key("a.b.c"), 1_500, 0).is_some());
        assert!(cache.get(&key("a.b.d"), 1_500, 0).is_none());
        cache.forget(&key("a.b.c"));
        assert!(cache.get(&key("a.b.c"), 1_500, 0).is_none());
    }

    #[test]
    fn a_full_cache_keeps_its_size_bounded() {
        let cache = TokenCache::default();
        for i in 0..CAPACITY + 10 {
            cache.insert(key(&i.to_string()), verified(None, 2_000), 1_500, 0);
        }
        assert!(cache.lock().len() <= CAPACITY);
        assert!(
            cache
                .get(&key(&(CAPACITY + 9).to_string()), 1_500, 0)
                .is_some()
        );
    }
}
