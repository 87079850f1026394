//! API keys: what a key looks like, and what is kept of it.
//!
//! A key is shown once. Storage keeps only its SHA-256 (to find it) and a short
//! visible prefix (to let people tell their keys apart), so nothing read from
//! storage or logs can be used to call the API.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Random bytes in a key: 192 bits, over the 128 a guess would have to beat.
pub const KEY_BYTES: usize = 24;
/// Characters of the secret part kept visible after the mode prefix.
const VISIBLE_CHARS: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 24 bytes need 33 base62 digits (62^33 > 2^192).
const SECRET_CHARS: usize = 33;

/// Whether a key calls the live system or the test one; part of the key's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyMode {
    /// `tg_live_…`
    Live,
    /// `tg_test_…`
    Test,
}

impl KeyMode {
    fn prefix(self) -> &'static str {
        match self {
            KeyMode::Live => "tg_live_",
            KeyMode::Test => "tg_test_",
        }
    }
}

/// Why a text is not an API key.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("not a tollgate API key")]
pub struct InvalidKey;

/// A whole API key. Its `Debug` hides it, so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({}…)", self.prefix())
    }
}

impl ApiKey {
    /// A new key from `random` bytes (the caller draws them from a CSPRNG).
    pub fn generate(mode: KeyMode, random: [u8; KEY_BYTES]) -> Self {
        Self(format!("{}{}", mode.prefix(), base62(random)))
    }

    /// Checks the shape of a presented key; a wrong one is refused before any lookup.
    pub fn parse(value: &str) -> Result<Self, InvalidKey> {
        let secret = value.strip_prefix(KeyMode::Live.prefix()).or_else(|| value.strip_prefix(KeyMode::Test.prefix()));
        match secret {
            Some(secret) if secret.len() == SECRET_CHARS && secret.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                Ok(Self(value.to_owned()))
            }
            _ => Err(InvalidKey),
        }
    }

    /// The key of an `Authorization: Bearer <key>` header.
    pub fn from_bearer(header: &str) -> Result<Self, InvalidKey> {
        Self::parse(header.strip_prefix("Bearer ").ok_or(InvalidKey)?.trim())
    }

    /// The key's text, to show its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The mode prefix and the first characters of the secret (`tg_live_3kF9aQ`).
    pub fn prefix(&self) -> String {
        self.0[..KeyMode::Live.prefix().len() + VISIBLE_CHARS].to_owned()
    }

    /// What storage keeps and looks keys up by.
    pub fn hash(&self) -> KeyHash {
        KeyHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

fn base62(bytes: [u8; KEY_BYTES]) -> String {
    // Repeated division of the big-endian number: every byte string has one encoding.
    let mut number = bytes.to_vec();
    let mut digits = Vec::with_capacity(SECRET_CHARS);
    for _ in 0..SECRET_CHARS {
        let mut remainder = 0u32;
        for byte in &mut number {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        digits.push(BASE62[remainder as usize]);
    }
    digits.reverse();
    String::from_utf8(digits).expect("base62 digits are ASCII")
}

/// The SHA-256 of a key, as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyHash(String);

impl KeyHash {
    /// Checks the shape of a hash received from another part (the edge, a URL).
    pub fn parse(value: &str) -> Result<Self, InvalidKey> {
        if value.len() == 64 && value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidKey)
        }
    }

    /// The hash as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyHash {
    type Error = InvalidKey;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<KeyHash> for String {
    fn from(value: KeyHash) -> Self {
        value.0
    }
}

impl std::fmt::Display for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_key_has_its_mode_prefix_and_parses_back() {
        let key = ApiKey::generate(KeyMode::Live, [7; KEY_BYTES]);
        assert!(key.expose().starts_with("tg_live_"));
        assert_eq!(key.expose().len(), 8 + SECRET_CHARS);
        assert_eq!(ApiKey::parse(key.expose()), Ok(key.clone()));
        assert_eq!(key.prefix().len(), 14);
        assert!(ApiKey::generate(KeyMode::Test, [7; KEY_BYTES]).expose().starts_with("tg_test_"));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = ApiKey::generate(KeyMode::Live, [200; KEY_BYTES]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.expose()[14..]), "{shown}");
    }

    #[test]
    fn wrong_shapes_are_refused() {
        for text in ["", "tg_live_", "sk_live_abc", "tg_live_short", &format!("tg_prod_{}", "a".repeat(33))] {
            assert_eq!(ApiKey::parse(text), Err(InvalidKey), "{text}");
        }
        assert!(ApiKey::from_bearer(&format!("Basic tg_live_{}", "a".repeat(33))).is_err());
        assert!(ApiKey::from_bearer(&format!("Bearer tg_live_{}", "a".repeat(33))).is_ok());
    }

    #[test]
    fn the_hash_is_sha256_hex_of_the_whole_key() {
        // sha256("tg_test_000000000000000000000000000000000"), computed with `sha256sum`.
        let key = ApiKey::parse(&format!("tg_test_{}", "0".repeat(33))).unwrap();
        assert_eq!(key.hash().as_str(), "0cf3e52d39b56bd29c75755a7372609bb7285de4c13b5c57a81e130f655b583f");
        assert!(KeyHash::parse(key.hash().as_str()).is_ok());
        assert!(KeyHash::parse("ABC").is_err());
    }

    proptest! {
        #[test]
        fn distinct_random_bytes_make_distinct_keys(a in any::<[u8; KEY_BYTES]>(), b in any::<[u8; KEY_BYTES]>()) {
            let (ka, kb) = (ApiKey::generate(KeyMode::Live, a), ApiKey::generate(KeyMode::Live, b));
            prop_assert_eq!(a == b, ka == kb);
            prop_assert!(ApiKey::parse(ka.expose()).is_ok());
        }
    }
}
