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
/// `tg_live_` and the visible characters.
const PREFIX_CHARS: usize = 8 + VISIBLE_CHARS;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 24 bytes need 33 base62 digits (62^33 > 2^192).
const SECRET_CHARS: usize = 33;
/// A CRC32 of the rest of the key in 6 base62 digits (62^6 > 2^32), as GitHub's tokens
/// carry: a typo or a forged key is refused without a lookup anywhere.
const CHECKSUM_CHARS: usize = 6;

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
        let body = format!("{}{}", mode.prefix(), base62(&random, SECRET_CHARS));
        let checksum = checksum(&body);
        Self(body + &checksum)
    }

    /// Checks the shape and the checksum of a presented key; a wrong one is refused
    /// before any lookup, so forged keys cost nothing.
    pub fn parse(value: &str) -> Result<Self, InvalidKey> {
        let secret = value.strip_prefix(KeyMode::Live.prefix()).or_else(|| value.strip_prefix(KeyMode::Test.prefix()));
        let well_shaped = secret.is_some_and(|secret| {
            secret.len() == SECRET_CHARS.saturating_add(CHECKSUM_CHARS)
                && secret.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        // Shaped as a key, so all ASCII: the split is on a character boundary.
        let (body, sum) = value.split_at(value.len().saturating_sub(CHECKSUM_CHARS));
        if well_shaped && checksum(body) == sum { Ok(Self(value.to_owned())) } else { Err(InvalidKey) }
    }

    /// The key of an `Authorization: Bearer <key>` header.
    pub fn from_bearer(header: &str) -> Result<Self, InvalidKey> {
        Self::parse(bearer(header).ok_or(InvalidKey)?)
    }

    /// The key's text, to show its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The mode prefix and the first characters of the secret (`tg_live_3kF9aQ`).
    pub fn prefix(&self) -> String {
        self.0.chars().take(PREFIX_CHARS).collect()
    }

    /// What storage keeps and looks keys up by.
    pub fn hash(&self) -> KeyHash {
        KeyHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

/// The credentials of an `Authorization` header in the `Bearer` scheme, whose name is
/// case-insensitive (RFC 9110 §11.1).
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, credentials) = header.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| credentials.trim()).filter(|credentials| !credentials.is_empty())
}

fn checksum(body: &str) -> String {
    base62(&crc32fast::hash(body.as_bytes()).to_be_bytes(), CHECKSUM_CHARS)
}

/// `bytes` as a big-endian number in `chars` base62 digits, zero-padded.
fn base62(bytes: &[u8], chars: usize) -> String {
    // Repeated division of the big-endian number: every byte string has one encoding.
    let mut number = bytes.to_vec();
    let mut digits = Vec::with_capacity(chars);
    for _ in 0..chars {
        let mut remainder = 0u32;
        for byte in &mut number {
            // remainder < 62, so the value stays below 62 × 256: no overflow, and value / 62 < 256.
            let value = (remainder << 8) | u32::from(*byte);
            *byte = u8::try_from(value.div_euclid(62)).unwrap_or(u8::MAX);
            remainder = value.rem_euclid(62);
        }
        digits.push(BASE62.get(remainder as usize).copied().unwrap_or(b'0'));
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
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
        assert_eq!(key.expose().len(), 8 + SECRET_CHARS + CHECKSUM_CHARS);
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
        for text in ["", "tg_live_", "sk_live_abc", "tg_live_short", &format!("tg_prod_{}", "a".repeat(39))] {
            assert_eq!(ApiKey::parse(text), Err(InvalidKey), "{text}");
        }
        let key = ApiKey::generate(KeyMode::Live, [9; KEY_BYTES]);
        assert!(ApiKey::from_bearer(&format!("Basic {}", key.expose())).is_err());
        for scheme in ["Bearer", "bearer", "BEARER"] {
            assert_eq!(ApiKey::from_bearer(&format!("{scheme} {}", key.expose())), Ok(key.clone()));
        }
    }

    #[test]
    fn a_forged_or_mistyped_key_fails_its_checksum() {
        let key = ApiKey::generate(KeyMode::Test, [3; KEY_BYTES]).expose().to_owned();
        // A well-shaped key that was never issued: the old 33-character secret plus six guesses.
        assert_eq!(ApiKey::parse(&format!("tg_test_{}", "a".repeat(39))), Err(InvalidKey));
        let mut typo = key.clone().into_bytes();
        typo[12] = if typo[12] == b'x' { b'y' } else { b'x' };
        assert_eq!(ApiKey::parse(std::str::from_utf8(&typo).unwrap()), Err(InvalidKey));
        let live = key.replacen("tg_test_", "tg_live_", 1);
        assert_eq!(ApiKey::parse(&live), Err(InvalidKey), "the mode is covered by the checksum");
    }

    #[test]
    fn the_hash_is_sha256_hex_of_the_whole_key() {
        // The zero key: "tg_test_" + 33 zeros + base62(crc32) — hashed with `sha256sum`.
        let key = ApiKey::generate(KeyMode::Test, [0; KEY_BYTES]);
        assert_eq!(key.expose(), ZERO_KEY);
        assert_eq!(key.hash().as_str(), ZERO_KEY_SHA256);
        assert!(KeyHash::parse(key.hash().as_str()).is_ok());
        assert!(KeyHash::parse("ABC").is_err());
    }

    const ZERO_KEY: &str = "tg_test_0000000000000000000000000000000001v6wXW";
    const ZERO_KEY_SHA256: &str = "e31180d63ca6d9987d479898929e18e774d8104f76b24fff661733edb6f315c6";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn any_text_is_a_key_or_refused_without_panicking(text in "(tg_(live|test)_)?[0-9A-Za-z]{0,45}") {
            if let Ok(key) = ApiKey::parse(&text) {
                prop_assert_eq!(key.expose(), text.as_str());
            }
        }

        #[test]
        fn distinct_random_bytes_make_distinct_keys(a in any::<[u8; KEY_BYTES]>(), b in any::<[u8; KEY_BYTES]>()) {
            let (ka, kb) = (ApiKey::generate(KeyMode::Live, a), ApiKey::generate(KeyMode::Live, b));
            prop_assert_eq!(a == b, ka == kb);
            prop_assert!(ApiKey::parse(ka.expose()).is_ok());
        }
    }
}
