//! The signed link between the origin and the edge: the edge fetches key records and
//! sends usage batches, the origin pushes revocations. Each request carries
//! `Tollgate-Signature: t=<unix>,v1=<hex HMAC-SHA256>` over `t.METHOD PATH\nBODY`
//! (Stripe's scheme, with the method and path signed so a signature made for one
//! endpoint opens no other).

use crate::signature::{SignatureError, SignatureHeader};
use crate::time::Timestamp;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "tollgate-signature";
/// Origin: a key's record, `GET /internal/keys/{sha256 hex}`.
pub const KEYS_PATH: &str = "/internal/keys/";
/// Origin: usage batches, `POST {"batches":[…]}` → `{"accepted":[ids]}`.
pub const USAGE_PATH: &str = "/internal/usage";
/// Edge: a revocation, `POST {"key_hash":…}`.
pub const REVOKE_PATH: &str = "/internal/revoke";
/// A signed request older or newer than this is refused (replay window).
pub const TOLERANCE_SECONDS: i64 = 300;

/// `EDGE_SECRET`, shared by origin and edge. Its `Debug` hides it.
#[derive(Clone)]
pub struct EdgeSecret(Vec<u8>);

impl std::fmt::Debug for EdgeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdgeSecret(***)")
    }
}

impl EdgeSecret {
    /// `None` for an empty value: an empty key would let anyone sign.
    pub fn new(value: &str) -> Option<Self> {
        (!value.trim().is_empty()).then(|| Self(value.trim().as_bytes().to_vec()))
    }
}

fn mac_for(secret: &EdgeSecret, timestamp: Timestamp, method: &str, path: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes keys of any length");
    mac.update(format!("{}.{method} {path}\n", timestamp.0).as_bytes());
    mac.update(body);
    mac
}

/// The signature header for a request.
pub fn sign(secret: &EdgeSecret, timestamp: Timestamp, method: &str, path: &str, body: &[u8]) -> String {
    let digest = mac_for(secret, timestamp, method, path, body).finalize().into_bytes();
    format!("t={},v1={}", timestamp.0, hex::encode(digest))
}

/// Checks a request's signature (in constant time), then its age.
pub fn verify(
    secret: &EdgeSecret,
    header: Option<&str>,
    method: &str,
    path: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<(), SignatureError> {
    let header = SignatureHeader::parse(header.ok_or(SignatureError::Missing)?)?;
    let mac = mac_for(secret, header.timestamp, method, path, body);
    if !header.v1.iter().any(|candidate| mac.clone().verify_slice(candidate).is_ok()) {
        return Err(SignatureError::Mismatch);
    }
    if now.seconds_since(header.timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::OutOfTolerance);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_795_500_000);

    #[test]
    fn a_signature_opens_only_its_own_request() {
        let secret = EdgeSecret::new("edge-secret").unwrap();
        let header = sign(&secret, NOW, "POST", USAGE_PATH, b"{}");
        assert_eq!(verify(&secret, Some(&header), "POST", USAGE_PATH, b"{}", NOW), Ok(()));
        assert_eq!(verify(&secret, Some(&header), "POST", REVOKE_PATH, b"{}", NOW), Err(SignatureError::Mismatch));
        assert_eq!(verify(&secret, Some(&header), "POST", USAGE_PATH, b"{ }", NOW), Err(SignatureError::Mismatch));
        let other = EdgeSecret::new("other").unwrap();
        assert_eq!(verify(&other, Some(&header), "POST", USAGE_PATH, b"{}", NOW), Err(SignatureError::Mismatch));
        let late = Timestamp(NOW.0 + TOLERANCE_SECONDS + 1);
        assert_eq!(
            verify(&secret, Some(&header), "POST", USAGE_PATH, b"{}", late),
            Err(SignatureError::OutOfTolerance)
        );
        assert_eq!(verify(&secret, None, "POST", USAGE_PATH, b"{}", NOW), Err(SignatureError::Missing));
        assert!(EdgeSecret::new("  ").is_none());
        assert_eq!(format!("{secret:?}"), "EdgeSecret(***)");
    }
}
