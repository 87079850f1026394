//! Stripe webhook signatures.
//!
//! `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`, where each `v1` is
//! HMAC-SHA256 over `"{t}.{raw body}"` keyed by an endpoint secret. Several `v1`
//! values appear while Stripe rolls a secret; several secrets are configured while
//! we roll ours. Any match of any pair passes.

use crate::time::Timestamp;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's own default: a replayed delivery older than five minutes is refused.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

/// A webhook endpoint secret (`whsec_…`). Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
/// Why a webhook secret was refused.
pub enum SecretError {
    #[error("no webhook secret given")]
    /// Nothing was given.
    Empty,
    #[error("a webhook secret must start with whsec_")]
    /// The value is not a `whsec_…` secret (a common mix-up with API keys).
    Prefix,
}

impl WebhookSecret {
    /// Checks one secret.
    pub fn parse(value: &str) -> Result<Self, SecretError> {
        let value = value.trim();
        if value.is_empty() {
            Err(SecretError::Empty)
        } else if !value.starts_with("whsec_") {
            Err(SecretError::Prefix)
        } else {
            Ok(Self(value.to_owned()))
        }
    }

    /// One or more secrets separated by commas, as `STRIPE_WEBHOOK_SECRET` holds them.
    pub fn parse_list(value: &str) -> Result<Vec<Self>, SecretError> {
        let secrets =
            value.split(',').filter(|part| !part.trim().is_empty()).map(Self::parse).collect::<Result<Vec<_>, _>>()?;
        if secrets.is_empty() { Err(SecretError::Empty) } else { Ok(secrets) }
    }

    /// The secret itself, for signing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Why a delivery was refused. Each maps to one machine-readable code.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    /// No signature header.
    Missing,
    #[error("the signature header has no timestamp or no v1 signature")]
    /// No timestamp or no `v1` in the header.
    InvalidHeader,
    #[error("no signature matches the payload")]
    /// No `v1` matches any secret.
    Mismatch,
    #[error("the signature timestamp is outside the tolerance")]
    /// Signed too long ago (or in the future).
    OutOfTolerance,
}

impl SignatureError {
    /// The stable code clients see.
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing_signature",
            SignatureError::InvalidHeader => "invalid_signature_header",
            SignatureError::Mismatch => "signature_mismatch",
            SignatureError::OutOfTolerance => "timestamp_out_of_tolerance",
        }
    }

    /// What a client is told, naming the header it signs with (`Stripe-Signature`,
    /// `Tollgate-Signature`), since the same rules check both.
    pub fn message(self, header: &str) -> String {
        match self {
            SignatureError::Missing => format!("the {header} header is missing"),
            SignatureError::InvalidHeader => format!("the {header} header has no timestamp or no v1 signature"),
            other => other.to_string(),
        }
    }
}

/// The parts of a `Stripe-Signature` header that matter: the timestamp and every `v1`.
#[derive(Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    /// When Stripe signed the delivery (`t`).
    pub timestamp: Timestamp,
    /// Every `v1` signature, decoded.
    pub v1: Vec<Vec<u8>>,
}

impl SignatureHeader {
    /// Unknown schemes (`v0`, future ones) are ignored; a `v1` that is not hex can never
    /// match, so it is dropped rather than failing the others.
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        let mut timestamp = None;
        let mut v1 = Vec::new();
        for item in header.split(',') {
            let Some((key, value)) = item.trim().split_once('=') else {
                continue;
            };
            match key {
                // Range-checked here, so the tolerance arithmetic can never overflow.
                "t" => timestamp = value.parse::<i64>().ok().and_then(|t| Timestamp::from_untrusted(t).ok()),
                "v1" => v1.extend(hex::decode(value).ok()),
                _ => {}
            }
        }
        match timestamp {
            Some(timestamp) if !v1.is_empty() => Ok(Self { timestamp, v1 }),
            _ => Err(SignatureError::InvalidHeader),
        }
    }
}

/// Checks deliveries against a set of endpoint secrets.
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: Vec<WebhookSecret>,
    tolerance_seconds: i64,
}

impl Verifier {
    /// Accepts any of `secrets`, within `tolerance_seconds` of now.
    pub fn new(secrets: Vec<WebhookSecret>, tolerance_seconds: i64) -> Self {
        Self { secrets, tolerance_seconds }
    }

    /// The secret to sign with where tollgate stands in for Stripe: the first.
    pub fn signing_secret(&self) -> Option<&WebhookSecret> {
        self.secrets.first()
    }

    /// Verifies `payload` (the raw bytes, never re-serialized JSON) at time `now`.
    ///
    /// The signature is checked before the timestamp so that an attacker cannot learn
    /// anything about our clock from unsigned requests.
    pub fn verify(&self, header: Option<&str>, payload: &[u8], now: Timestamp) -> Result<Timestamp, SignatureError> {
        let header = SignatureHeader::parse(header.ok_or(SignatureError::Missing)?)?;
        let signed = self.secrets.iter().any(|secret| {
            let mac = mac_for(secret, header.timestamp, payload);
            header.v1.iter().any(|candidate| mac.clone().verify_slice(candidate).is_ok())
        });
        if !signed {
            return Err(SignatureError::Mismatch);
        }
        if now.seconds_since(header.timestamp).abs() > self.tolerance_seconds {
            return Err(SignatureError::OutOfTolerance);
        }
        Ok(header.timestamp)
    }
}

fn mac_for(secret: &WebhookSecret, timestamp: Timestamp, payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.0.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// The header Stripe would send for `payload` at `timestamp`: used by `tollgate` to
/// sign test deliveries and by the test suites.
pub fn sign(secret: &WebhookSecret, timestamp: Timestamp, payload: &[u8]) -> String {
    let digest = mac_for(secret, timestamp, payload).finalize().into_bytes();
    format!("t={},v1={}", timestamp.0, hex::encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_700_000_000);
    const BODY: &[u8] = br#"{"id":"evt_test_webhook","object":"event"}"#;

    fn secret() -> WebhookSecret {
        WebhookSecret::parse("whsec_test_secret").unwrap()
    }

    fn verifier() -> Verifier {
        Verifier::new(vec![secret()], DEFAULT_TOLERANCE_SECONDS)
    }

    #[test]
    fn a_valid_header_passes() {
        let header = sign(&secret(), NOW, BODY);
        assert_eq!(verifier().verify(Some(&header), BODY, NOW), Ok(NOW));
    }

    #[test]
    fn a_missing_header_is_reported_as_missing() {
        assert_eq!(verifier().verify(None, BODY, NOW), Err(SignatureError::Missing));
    }

    #[test]
    fn a_malformed_header_is_invalid() {
        for header in ["", "bad_header", "t=,v1=", "v1=abcd", "t=abc,v1=00", "t=1700000000"] {
            assert_eq!(verifier().verify(Some(header), BODY, NOW), Err(SignatureError::InvalidHeader), "{header}");
        }
    }

    #[test]
    fn only_a_v0_signature_is_invalid() {
        let v1 = sign(&secret(), NOW, BODY);
        let v0 = v1.replace("v1=", "v0=");
        assert_eq!(verifier().verify(Some(&v0), BODY, NOW), Err(SignatureError::InvalidHeader));
    }

    #[test]
    fn a_bad_signature_is_a_mismatch() {
        let header = format!("t={},v1={}", NOW.0, "ab".repeat(32));
        assert_eq!(verifier().verify(Some(&header), BODY, NOW), Err(SignatureError::Mismatch));
        let other = WebhookSecret::parse("whsec_other").unwrap();
        assert_eq!(verifier().verify(Some(&sign(&other, NOW, BODY)), BODY, NOW), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_changed_body_is_a_mismatch() {
        let header = sign(&secret(), NOW, BODY);
        assert_eq!(verifier().verify(Some(&header), b"{\"id\":\"evt_other\"}", NOW), Err(SignatureError::Mismatch));
    }

    #[test]
    fn outside_the_tolerance_is_refused_both_ways() {
        let header = sign(&secret(), NOW, BODY);
        let late = Timestamp(NOW.0 + DEFAULT_TOLERANCE_SECONDS + 1);
        let early = Timestamp(NOW.0 - DEFAULT_TOLERANCE_SECONDS - 1);
        assert_eq!(verifier().verify(Some(&header), BODY, late), Err(SignatureError::OutOfTolerance));
        assert_eq!(verifier().verify(Some(&header), BODY, early), Err(SignatureError::OutOfTolerance));
        let edge = Timestamp(NOW.0 + DEFAULT_TOLERANCE_SECONDS);
        assert!(verifier().verify(Some(&header), BODY, edge).is_ok());
    }

    #[test]
    fn the_tolerance_is_configurable() {
        let header = sign(&secret(), NOW, BODY);
        let strict = Verifier::new(vec![secret()], 10);
        assert_eq!(strict.verify(Some(&header), BODY, Timestamp(NOW.0 + 11)), Err(SignatureError::OutOfTolerance));
    }

    #[test]
    fn one_good_v1_among_bad_ones_passes() {
        let good = sign(&secret(), NOW, BODY);
        let good_hex = good.split_once("v1=").unwrap().1;
        let header = format!("t={},v1={},v1=nothex,v1={},v0={}", NOW.0, "00".repeat(32), good_hex, "11".repeat(32));
        assert!(verifier().verify(Some(&header), BODY, NOW).is_ok());
    }

    #[test]
    fn any_configured_secret_passes_during_rotation() {
        let old = WebhookSecret::parse("whsec_old").unwrap();
        let new = WebhookSecret::parse("whsec_new").unwrap();
        let rotating = Verifier::new(vec![old, new.clone()], DEFAULT_TOLERANCE_SECONDS);
        assert!(rotating.verify(Some(&sign(&new, NOW, BODY)), BODY, NOW).is_ok());
    }

    #[test]
    fn raw_bytes_are_signed_not_text() {
        let payload = [0xff_u8, 0x00, 0x7b, 0xfe];
        let header = sign(&secret(), NOW, &payload);
        assert!(verifier().verify(Some(&header), &payload, NOW).is_ok());
    }

    #[test]
    fn secrets_parse_as_a_comma_separated_list_and_never_print() {
        let list = WebhookSecret::parse_list("whsec_a, whsec_b,").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(WebhookSecret::parse_list(" , "), Err(SecretError::Empty));
        assert_eq!(WebhookSecret::parse_list("sk_live_x"), Err(SecretError::Prefix));
        assert!(!format!("{:?}", list).contains("whsec_a"));
    }
}
