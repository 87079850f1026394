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
/// The header a forwarded call names its account in.
pub const ACCOUNT_HEADER: &str = "x-tollgate-account";

/// Whether `path` is served by tollgate itself (workflows sold as APIs), not by the
/// operator's upstream: the edge meters the call and forwards it to the origin, signed.
pub fn is_origin_path(path: &str) -> bool {
    ["/v1/workflows", "/v1/runs"]
        .iter()
        .any(|prefix| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// The signature of a customer's call the edge forwards to the origin for `account`: over
/// the method, the path with its query, the account and the body, so none can be changed.
pub fn sign_call(
    secret: &EdgeSecret,
    timestamp: Timestamp,
    method: &str,
    path_and_query: &str,
    account: &str,
    body: &[u8],
) -> String {
    signing::sign(&secret.0, Purpose::EdgeCall, timestamp, &call_message(method, path_and_query, account, body))
}

/// Checks a forwarded call's signature (in constant time), then its age.
pub fn verify_call(
    secret: &EdgeSecret,
    header: Option<&str>,
    request: (&str, &str, &str, &[u8]),
    now: Timestamp,
) -> Result<(), SignatureError> {
    let (method, path_and_query, account, body) = request;
    let message = call_message(method, path_and_query, account, body);
    signing::verify(&secret.0, Purpose::EdgeCall, header, &message, now, TOLERANCE_SECONDS)
}

fn call_message<'a>(method: &'a str, path_and_query: &'a str, account: &'a str, body: &'a [u8]) -> [&'a [u8]; 7] {
    [method.as_bytes(), b" ", path_and_query.as_bytes(), b"\n", account.as_bytes(), b"\n", body]
}

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

/// The first API key of `account`'s API-plan `subscription`, and its id: derived from the
/// edge secret, so the origin stores only its hash, as of any key, and can show it once later
/// without having kept it. Deterministic, so a redelivered event makes the same key.
pub fn first_key(
    secret: &EdgeSecret,
    account: &crate::ids::AccountId,
    subscription: &crate::ids::SubscriptionId,
) -> (crate::ids::KeyId, crate::api_key::ApiKey) {
    use crate::api_key::{ApiKey, KEY_BYTES, KeyMode};
    let derived = signing::token(&secret.0, Purpose::FirstKey, &format!("{account}\u{0}{subscription}"));
    let bytes = hex::decode(derived).expect("a token is hex");
    let mut material = [0u8; KEY_BYTES];
    material.copy_from_slice(&bytes[..KEY_BYTES]);
    let id = crate::ids::KeyId::parse(&format!("key_{}", hex::encode(&bytes[KEY_BYTES..])))
        .expect("hex after key_ is a key id");
    (id, ApiKey::generate(KeyMode::Live, material))
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
    fn a_forwarded_call_names_its_account_under_the_signature() {
        let secret = EdgeSecret::new("edge-secret").unwrap();
        let header = sign_call(&secret, NOW, "POST", "/v1/workflows/w/runs?wait=5", "acct_1", b"{}");
        let call = ("POST", "/v1/workflows/w/runs?wait=5", "acct_1", &b"{}"[..]);
        assert_eq!(verify_call(&secret, Some(&header), call, NOW), Ok(()));
        let other_account = ("POST", "/v1/workflows/w/runs?wait=5", "acct_2", &b"{}"[..]);
        assert_eq!(verify_call(&secret, Some(&header), other_account, NOW), Err(SignatureError::Mismatch));
        let other_query = ("POST", "/v1/workflows/w/runs?wait=30", "acct_1", &b"{}"[..]);
        assert_eq!(verify_call(&secret, Some(&header), other_query, NOW), Err(SignatureError::Mismatch));
        assert!(is_origin_path("/v1/workflows") && is_origin_path("/v1/runs/run_1/cancel"));
        assert!(!is_origin_path("/v1/workflowsx") && !is_origin_path("/v1/weather"));
    }

    #[test]
    fn a_first_key_is_the_same_for_its_subscription_and_another_for_any_other() {
        use crate::ids::{AccountId, SubscriptionId};
        let secret = EdgeSecret::new("edge-secret").unwrap();
        let (ann, sub) = (AccountId::parse("acct_ann").unwrap(), SubscriptionId::parse("sub_1").unwrap());
        let (id, key) = first_key(&secret, &ann, &sub);
        let (again_id, again) = first_key(&secret, &ann, &sub);
        assert_eq!((&id, key.expose()), (&again_id, again.expose()), "a redelivered event makes the same key");
        assert!(crate::api_key::ApiKey::parse(key.expose()).is_ok(), "a well-formed key with its checksum");
        let other_sub = SubscriptionId::parse("sub_2").unwrap();
        assert_ne!(first_key(&secret, &ann, &other_sub).1.expose(), key.expose());
        let other_secret = EdgeSecret::new("another-secret").unwrap();
        assert_ne!(first_key(&other_secret, &ann, &sub).1.expose(), key.expose());
    }

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
