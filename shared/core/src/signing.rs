//! One scheme for everything tollgate signs itself — edge lookups, usage batches,
//! revocations, workflow starts, fulfillment posts and callback tokens — with the purpose
//! bound into every MAC, so a signature or token made for one purpose is refused for any
//! other even under the same secret. (Stripe's webhooks keep Stripe's scheme, in
//! [`crate::signature`].)
//!
//! A signature is `t=<unix>,v1=<hex HMAC-SHA256>` over `"{t}.{purpose}.{message}"`: Stripe's
//! header shape, with the purpose's label between the time and the message. A token (no
//! time: it lives as long as what it opens) is the hex HMAC-SHA256 of `"{purpose}:{subject}"`.

use crate::signature::{SignatureError, SignatureHeader};
use crate::time::Timestamp;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// What a signature or token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The edge asks the origin for a key's record.
    EdgeLookup,
    /// The edge sends usage batches to the origin.
    UsageBatch,
    /// The origin tells the edge a key is revoked.
    Revocation,
    /// The origin reads a key's Durable Object counters at the edge.
    EdgeStats,
    /// A run's start, POSTed to its workflow's webhook.
    WorkflowStart,
    /// A purchase, POSTed to its product's fulfillment webhook.
    FulfillmentPost,
    /// The token in a run's callback URL.
    CallbackToken,
    /// The edge forwards a customer's call to the origin's own API, naming the account.
    EdgeCall,
    /// The first API key an API plan's subscription gives its account, derived, never stored.
    FirstKey,
}

impl Purpose {
    /// Every purpose, for checks that must hold between each pair.
    pub const ALL: [Purpose; 9] = [
        Purpose::EdgeLookup,
        Purpose::UsageBatch,
        Purpose::Revocation,
        Purpose::EdgeStats,
        Purpose::WorkflowStart,
        Purpose::FulfillmentPost,
        Purpose::CallbackToken,
        Purpose::EdgeCall,
        Purpose::FirstKey,
    ];

    /// The label signed with the message; receivers outside tollgate use it too.
    pub const fn label(self) -> &'static str {
        match self {
            Purpose::EdgeLookup => "edge-lookup",
            Purpose::UsageBatch => "usage-batch",
            Purpose::Revocation => "revocation",
            Purpose::EdgeStats => "edge-stats",
            Purpose::WorkflowStart => "workflow-start",
            Purpose::FulfillmentPost => "fulfillment-post",
            Purpose::CallbackToken => "callback",
            Purpose::EdgeCall => "edge-call",
            Purpose::FirstKey => "first-key",
        }
    }
}

fn keyed(secret: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length")
}

fn signature_mac(secret: &[u8], purpose: Purpose, timestamp: Timestamp, message: &[&[u8]]) -> HmacSha256 {
    let mut mac = keyed(secret);
    mac.update(format!("{}.{}.", timestamp.0, purpose.label()).as_bytes());
    for part in message {
        mac.update(part);
    }
    mac
}

/// The signature header for `message` (given in parts, signed as their concatenation).
pub fn sign(secret: &[u8], purpose: Purpose, timestamp: Timestamp, message: &[&[u8]]) -> String {
    let digest = signature_mac(secret, purpose, timestamp, message).finalize().into_bytes();
    format!("t={},v1={}", timestamp.0, hex::encode(digest))
}

/// Checks a signature header for `purpose` in constant time, then its age against `tolerance` seconds.
pub fn verify(
    secret: &[u8],
    purpose: Purpose,
    header: Option<&str>,
    message: &[&[u8]],
    now: Timestamp,
    tolerance: i64,
) -> Result<(), SignatureError> {
    let header = SignatureHeader::parse(header.ok_or(SignatureError::Missing)?)?;
    let mac = signature_mac(secret, purpose, header.timestamp, message);
    if !header.v1.iter().any(|candidate| mac.clone().verify_slice(candidate).is_ok()) {
        return Err(SignatureError::Mismatch);
    }
    if now.seconds_since(header.timestamp).abs() > tolerance {
        return Err(SignatureError::OutOfTolerance);
    }
    Ok(())
}

/// A token opening `subject` for `purpose`.
pub fn token(secret: &[u8], purpose: Purpose, subject: &str) -> String {
    let mut mac = keyed(secret);
    mac.update(purpose.label().as_bytes());
    mac.update(b":");
    mac.update(subject.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `given` is the token opening `subject` for `purpose`, compared in constant time.
pub fn token_opens(secret: &[u8], purpose: Purpose, subject: &str, given: &str) -> bool {
    token(secret, purpose, subject).as_bytes().ct_eq(given.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: Timestamp = Timestamp(1_800_000_000);

    #[test]
    fn a_signature_is_the_documented_mac() {
        let header = sign(b"k", Purpose::WorkflowStart, Timestamp(1), &[b"{}"]);
        let mut mac = keyed(b"k");
        mac.update(b"1.workflow-start.{}");
        assert_eq!(header, format!("t=1,v1={}", hex::encode(mac.finalize().into_bytes())));
        assert_eq!(verify(b"k", Purpose::WorkflowStart, Some(&header), &[b"{", b"}"], Timestamp(1), 300), Ok(()));
        assert_eq!(
            verify(b"k", Purpose::WorkflowStart, Some(&header), &[b"{}"], Timestamp(302), 300),
            Err(SignatureError::OutOfTolerance)
        );
        assert_eq!(verify(b"k", Purpose::WorkflowStart, None, &[b"{}"], NOW, 300), Err(SignatureError::Missing));
    }

    proptest! {
        /// Every pair of distinct purposes, any secret and message: what one signs, the other refuses.
        #[test]
        fn a_signature_or_token_for_one_purpose_opens_no_other(
            secret in proptest::collection::vec(any::<u8>(), 1..48),
            message in proptest::collection::vec(any::<u8>(), 0..256),
            subject in "[a-z0-9_]{1,32}",
        ) {
            for made_for in Purpose::ALL {
                let header = sign(&secret, made_for, NOW, &[&message]);
                let token = token(&secret, made_for, &subject);
                for used_for in Purpose::ALL {
                    let opened = verify(&secret, used_for, Some(&header), &[&message], NOW, 300).is_ok();
                    prop_assert_eq!(opened, used_for == made_for, "{:?} signed, {:?} checked", made_for, used_for);
                    prop_assert_eq!(token_opens(&secret, used_for, &subject, &token), used_for == made_for);
                }
            }
        }
    }
}
