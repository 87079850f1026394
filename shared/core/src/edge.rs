//! The signed link between the origin and the edge: the edge fetches key records and
//! sends usage batches, the origin pushes revocations and reads counters. Each request
//! carries `Tollgate-Signature` ([`crate::signing`]) over `METHOD PATH\nBODY`, for the
//! purpose its route serves: a signature made for one endpoint opens no other.

use crate::signature::SignatureError;
use crate::signing::{self, Purpose};
use crate::time::Timestamp;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "tollgate-signature";
/// Origin: a key's record, `GET /internal/keys/{sha256 hex}`.
pub const KEYS_PATH: &str = "/internal/keys/";
/// Origin: usage batches, `POST {"batches":[…]}` → `{"accepted":[ids]}`.
pub const USAGE_PATH: &str = "/internal/usage";
/// Edge: a revocation, `POST {"key_hash":…}`.
pub const REVOKE_PATH: &str = "/internal/revoke";
/// Edge: a key's Durable Object counters, `GET /internal/stats/{sha256 hex}`.
pub const STATS_PATH: &str = "/internal/stats/";
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

/// The purpose a signed request serves, from its method and path; `None` for a route
/// that takes no edge signature.
pub fn purpose(method: &str, path: &str) -> Option<Purpose> {
    match method {
        "GET" if path.starts_with(KEYS_PATH) => Some(Purpose::EdgeLookup),
        "GET" if path.starts_with(STATS_PATH) => Some(Purpose::EdgeStats),
        "POST" if path == USAGE_PATH => Some(Purpose::UsageBatch),
        "POST" if path == REVOKE_PATH => Some(Purpose::Revocation),
        _ => None,
    }
}

/// The signature header for a request made for `purpose`.
pub fn sign(
    secret: &EdgeSecret,
    purpose: Purpose,
    timestamp: Timestamp,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    signing::sign(&secret.0, purpose, timestamp, &[method.as_bytes(), b" ", path.as_bytes(), b"\n", body])
}

/// Checks a request's signature (in constant time) for the purpose its route serves, then its age.
pub fn verify(
    secret: &EdgeSecret,
    header: Option<&str>,
    method: &str,
    path: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<(), SignatureError> {
    let purpose = purpose(method, path).ok_or(SignatureError::Mismatch)?;
    let message: [&[u8]; 5] = [method.as_bytes(), b" ", path.as_bytes(), b"\n", body];
    signing::verify(&secret.0, purpose, header, &message, now, TOLERANCE_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_795_500_000);

    #[test]
    fn a_signature_opens_only_its_own_request() {
        let secret = EdgeSecret::new("edge-secret").unwrap();
        let header = sign(&secret, Purpose::UsageBatch, NOW, "POST", USAGE_PATH, b"{}");
        assert_eq!(verify(&secret, Some(&header), "POST", USAGE_PATH, b"{}", NOW), Ok(()));
        // Signed for the wrong purpose, even over the right request: refused.
        let misused = sign(&secret, Purpose::Revocation, NOW, "POST", USAGE_PATH, b"{}");
        assert_eq!(verify(&secret, Some(&misused), "POST", USAGE_PATH, b"{}", NOW), Err(SignatureError::Mismatch));
        assert_eq!(purpose("DELETE", USAGE_PATH), None);
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
