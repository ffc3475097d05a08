//! CPR numbers at rest (R-DP-1): AES-256-GCM with the key id stored beside the ciphertext, so
//! keys rotate (old rows stay readable until re-encrypted under the active key), and an
//! HMAC-SHA-256 blind index for exact lookup without decrypting anything. A leaked backup holds
//! neither a CPR number nor anything a dictionary of the ~36 million possible numbers could be
//! checked against without the index key.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::cpr::Cpr;

/// Keys come from a secret (environment or a mounted file), never from code or the database.
#[derive(Clone, clap::Args)]
#[command(next_help_heading = "Personal data")]
pub struct CprKeySettings {
    /// Encryption keys for CPR numbers: `id=base64(32 bytes)`, comma-separated. Keep retired
    /// keys here until `kontakt` has re-encrypted their rows.
    #[arg(long, env = "KONTAKT_CPR_KEYS", hide_env_values = true)]
    pub cpr_keys: Option<String>,

    /// The key id new CPR numbers are encrypted with.
    #[arg(long, env = "KONTAKT_CPR_ACTIVE_KEY")]
    pub cpr_active_key: Option<String>,

    /// Key of the blind index used to find a person by CPR number: base64(32 bytes).
    #[arg(long, env = "KONTAKT_CPR_INDEX_KEY", hide_env_values = true)]
    pub cpr_index_key: Option<String>,
}

impl std::fmt::Debug for CprKeySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CprKeySettings")
            .field("cpr_keys", &self.cpr_keys.as_ref().map(|_| "<secret>"))
            .field("cpr_active_key", &self.cpr_active_key)
            .field(
                "cpr_index_key",
                &self.cpr_index_key.as_ref().map(|_| "<secret>"),
            )
            .finish()
    }
}

/// A CPR number as stored: which key sealed it, and nonce ‖ ciphertext ‖ tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedCpr {
    pub key_id: String,
    pub ciphertext: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("CPR key settings: {0}")]
    Config(String),
    #[error("no CPR key with id `{0}` is configured")]
    UnknownKey(String),
    #[error("a CPR number could not be encrypted")]
    Sealing,
    /// Tampered, truncated, sealed for another record, or under a different key.
    #[error("a stored CPR number could not be decrypted")]
    Undecryptable,
}

pub struct CprVault {
    active: String,
    keys: HashMap<String, Aes256Gcm>,
    index: Hmac<Sha256>,
}

impl std::fmt::Debug for CprVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CprVault")
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

const NONCE_LEN: usize = 12;

fn key_bytes(what: &str, text: &str) -> Result<[u8; 32], VaultError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| VaultError::Config(format!("{what} is not base64")))?;
    bytes
        .try_into()
        .map_err(|_| VaultError::Config(format!("{what} must be 32 bytes (256 bits)")))
}

impl CprVault {
    pub fn from_settings(settings: &CprKeySettings) -> Result<Self, VaultError> {
        let missing = |name: &str| VaultError::Config(format!("{name} is not set"));
        let mut keys = HashMap::new();
        for entry in settings
            .cpr_keys
            .as_deref()
            .ok_or_else(|| missing("KONTAKT_CPR_KEYS"))?
            .split(',')
        {
            let (id, key) = entry.split_once('=').ok_or_else(|| {
                VaultError::Config("KONTAKT_CPR_KEYS entries are `id=base64key`".into())
            })?;
            let id = id.trim();
            if id.is_empty()
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(VaultError::Config(format!(
                    "`{id}` is not a usable key id (letters, digits, - and _)"
                )));
            }
            let bytes = key_bytes(&format!("key `{id}`"), key)?;
            keys.insert(id.to_owned(), Aes256Gcm::new(&bytes.into()));
        }
        let active = settings
            .cpr_active_key
            .clone()
            .ok_or_else(|| missing("KONTAKT_CPR_ACTIVE_KEY"))?;
        if !keys.contains_key(&active) {
            return Err(VaultError::UnknownKey(active));
        }
        let index_key = key_bytes(
            "KONTAKT_CPR_INDEX_KEY",
            settings
                .cpr_index_key
                .as_deref()
                .ok_or_else(|| missing("KONTAKT_CPR_INDEX_KEY"))?,
        )?;
        let index = <Hmac<Sha256> as Mac>::new_from_slice(&index_key)
            .map_err(|_| VaultError::Config("KONTAKT_CPR_INDEX_KEY is unusable".into()))?;
        Ok(Self {
            active,
            keys,
            index,
        })
    }

    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Encrypts under the active key. `record` (e.g. the person's resource name) is bound into
    /// the ciphertext, so a sealed number copied onto another row does not decrypt there.
    pub fn seal(&self, cpr: &Cpr, record: &str) -> Result<SealedCpr, VaultError> {
        let cipher = self
            .keys
            .get(&self.active)
            .ok_or_else(|| VaultError::UnknownKey(self.active.clone()))?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated_data(&self.active, record);
        let plaintext = cpr.expose();
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Sealing)?;
        let mut ciphertext = nonce.to_vec();
        ciphertext.extend_from_slice(&sealed);
        Ok(SealedCpr {
            key_id: self.active.clone(),
            ciphertext,
        })
    }

    pub fn open(&self, sealed: &SealedCpr, record: &str) -> Result<Cpr, VaultError> {
        let cipher = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| VaultError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.ciphertext.len() <= NONCE_LEN {
            return Err(VaultError::Undecryptable);
        }
        let (nonce, body) = sealed.ciphertext.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| VaultError::Undecryptable)?;
        let aad = associated_data(&sealed.key_id, record);
        let plaintext = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Undecryptable)?;
        let text = String::from_utf8(plaintext).map_err(|_| VaultError::Undecryptable)?;
        Cpr::parse(&text).map_err(|_| VaultError::Undecryptable)
    }

    /// True when `sealed` should be re-encrypted under the active key.
    pub fn needs_rekey(&self, sealed: &SealedCpr) -> bool {
        sealed.key_id != self.active
    }

    /// The keyed hash a person is looked up by. Equal numbers give equal indexes; without the
    /// key the index says nothing about the number.
    pub fn blind_index(&self, cpr: &Cpr) -> [u8; 32] {
        let mut mac = self.index.clone();
        mac.update(b"kontakt-cpr-index-v1|");
        mac.update(cpr.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }
}

fn associated_data(key_id: &str, record: &str) -> Vec<u8> {
    format!("kontakt-cpr-v1|{key_id}|{record}").into_bytes()
}

/// Keys for `kontakt dev`, kept in its data directory (created the first time, owner-only).
pub fn dev_settings(dir: &std::path::Path) -> Result<CprKeySettings, String> {
    let path = dir.join("dev-cpr-keys.json");
    if !path.exists() {
        let keys = serde_json::json!({ "active": "dev-1", "keys": { "dev-1": generate_key() }, "index": generate_key() });
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("creating {}: {e}", path.display()))?;
        file.write_all(keys.to_string().as_bytes())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let keys = json["keys"]
        .as_object()
        .map(|keys| {
            keys.iter()
                .map(|(id, key)| format!("{id}={}", key.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .ok_or_else(|| format!("{} has no keys", path.display()))?;
    Ok(CprKeySettings {
        cpr_keys: Some(keys),
        cpr_active_key: json["active"].as_str().map(str::to_owned),
        cpr_index_key: json["index"].as_str().map(str::to_owned),
    })
}

/// A fresh random 256-bit key, base64-encoded (for `kontakt dev` and operators' key setup).
pub fn generate_key() -> String {
    STANDARD.encode(Aes256Gcm::generate_key(&mut OsRng))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(keys: &[(&str, &str)], active: &str, index: &str) -> CprKeySettings {
        CprKeySettings {
            cpr_keys: Some(
                keys.iter()
                    .map(|(id, k)| format!("{id}={k}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            cpr_active_key: Some(active.into()),
            cpr_index_key: Some(index.into()),
        }
    }

    fn cpr() -> Cpr {
        Cpr::parse("241124-4321").expect("valid")
    }

    #[test]
    fn a_sealed_number_opens_only_for_its_own_record_and_hides_the_digits() {
        let (k1, index) = (generate_key(), generate_key());
        let vault =
            CprVault::from_settings(&settings(&[("k1", &k1)], "k1", &index)).expect("vault");
        let sealed = vault
            .seal(&cpr(), "municipalities/183/persons/p1")
            .expect("seal");
        assert_eq!(sealed.key_id, "k1");
        assert!(!sealed.ciphertext.windows(10).any(|w| w == b"2411244321"));
        assert_eq!(
            vault
                .open(&sealed, "municipalities/183/persons/p1")
                .expect("opens"),
            cpr()
        );
        assert_eq!(
            vault.open(&sealed, "municipalities/183/persons/p2"),
            Err(VaultError::Undecryptable)
        );
        let mut tampered = sealed.clone();
        let last = tampered.ciphertext.len() - 1;
        tampered.ciphertext[last] ^= 1;
        assert_eq!(
            vault.open(&tampered, "municipalities/183/persons/p1"),
            Err(VaultError::Undecryptable)
        );
        // The same number sealed twice differs (random nonce), so equal numbers are not visible.
        assert_ne!(
            vault.seal(&cpr(), "r").expect("seal").ciphertext,
            vault.seal(&cpr(), "r").expect("seal").ciphertext
        );
    }

    #[test]
    fn rotation_keeps_old_rows_readable_and_marks_them_for_rekeying() {
        let (k1, k2, index) = (generate_key(), generate_key(), generate_key());
        let before =
            CprVault::from_settings(&settings(&[("k1", &k1)], "k1", &index)).expect("vault");
        let old = before.seal(&cpr(), "r").expect("seal");
        let after = CprVault::from_settings(&settings(&[("k1", &k1), ("k2", &k2)], "k2", &index))
            .expect("vault");
        assert!(after.needs_rekey(&old));
        let reopened = after.open(&old, "r").expect("old key still configured");
        let resealed = after.seal(&reopened, "r").expect("seal");
        assert_eq!(resealed.key_id, "k2");
        assert!(!after.needs_rekey(&resealed));
        // Once k1 is retired, rows still under it are reported, not silently lost.
        let retired =
            CprVault::from_settings(&settings(&[("k2", &k2)], "k2", &index)).expect("vault");
        assert_eq!(
            retired.open(&old, "r"),
            Err(VaultError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn the_blind_index_is_stable_per_key_and_differs_between_numbers_and_keys() {
        let (k1, index, other_index) = (generate_key(), generate_key(), generate_key());
        let vault =
            CprVault::from_settings(&settings(&[("k1", &k1)], "k1", &index)).expect("vault");
        let other =
            CprVault::from_settings(&settings(&[("k1", &k1)], "k1", &other_index)).expect("vault");
        let same = Cpr::parse("2411244321").expect("valid");
        assert_eq!(vault.blind_index(&cpr()), vault.blind_index(&same));
        assert_ne!(
            vault.blind_index(&cpr()),
            vault.blind_index(&Cpr::parse("241124-4322").expect("valid"))
        );
        assert_ne!(vault.blind_index(&cpr()), other.blind_index(&cpr()));
    }

    #[test]
    fn bad_key_settings_are_refused_with_what_is_wrong() {
        let key = generate_key();
        let short = STANDARD.encode([0u8; 16]);
        let cases = [
            (settings(&[("k1", &key)], "k2", &key), "k2"),
            (settings(&[("k1", &short)], "k1", &key), "32 bytes"),
            (settings(&[("k1", "%%%")], "k1", &key), "base64"),
            (settings(&[("k 1", &key)], "k 1", &key), "key id"),
            (
                CprKeySettings {
                    cpr_keys: None,
                    cpr_active_key: None,
                    cpr_index_key: None,
                },
                "KONTAKT_CPR_KEYS",
            ),
        ];
        for (settings, expected) in cases {
            let error = CprVault::from_settings(&settings)
                .expect_err("refused")
                .to_string();
            assert!(
                error.contains(expected),
                "{error} should mention {expected}"
            );
            assert!(!error.contains(&key), "a key never appears in an error");
        }
    }

    #[test]
    fn settings_never_print_their_secrets() {
        let key = generate_key();
        let shown = format!("{:?}", settings(&[("k1", &key)], "k1", &key));
        assert!(!shown.contains(&key), "{shown}");
    }
}
