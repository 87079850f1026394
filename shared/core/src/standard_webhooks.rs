//! Deliveries to customers' endpoints follow the Standard Webhooks specification
//! (standardwebhooks.com), so any of its libraries verifies them: headers `webhook-id`,
//! `webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `"{id}.{timestamp}.{body}"`, keyed with the endpoint's secret `whsec_<base64 bytes>`.
//! Written here, not taken from a crate: the scheme is one HMAC, and no kept Rust crate
//! implements it without I/O and async, which this crate (compiled to wasm32) cannot take.

use crate::time::Timestamp;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// An endpoint's signing secret: the key's bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointSecret(Vec<u8>);

/// Bytes of a secret tollgate makes (the spec asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;
const PREFIX: &str = "whsec_";

/// A secret that is not `whsec_` and 24 to 64 bytes of base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("an endpoint secret is whsec_ then 24 to 64 bytes in base64")]
pub struct InvalidSecret;

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointSecret(…)")
    }
}

impl EndpointSecret {
    /// The secret of these random bytes (the caller draws them).
    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> Self {
        Self(bytes.to_vec())
    }

    /// Reads `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Self, InvalidSecret> {
        let encoded = text.strip_prefix(PREFIX).ok_or(InvalidSecret)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| InvalidSecret)?;
        if (24..=64).contains(&bytes.len()) { Ok(Self(bytes)) } else { Err(InvalidSecret) }
    }

    /// `whsec_<base64>`, as shown once to the endpoint's owner and stored.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The `webhook-signature` header of `body` sent as message `id` at `timestamp`.
    pub fn sign(&self, id: &str, timestamp: Timestamp, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.0.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The three headers of a delivery of `body` as message `id` at `timestamp`.
    pub fn headers(&self, id: &str, timestamp: Timestamp, body: &[u8]) -> [(&'static str, String); 3] {
        [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.0.to_string()),
            ("webhook-signature", self.sign(id, timestamp, body)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example (its README's test vector).
    #[test]
    fn signs_the_specifications_example() {
        let secret = EndpointSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature =
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", Timestamp(1_614_265_330), br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_secret_reads_back_as_written_and_bad_ones_are_refused() {
        let secret = EndpointSecret::from_bytes([7; SECRET_BYTES]);
        assert_eq!(EndpointSecret::parse(&secret.expose()), Ok(secret.clone()));
        assert!(format!("{secret:?}").contains('…'), "never printed");
        for bad in ["", "whsec_", "whsec_!!!", "sk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2hvcnQ="] {
            assert_eq!(EndpointSecret::parse(bad), Err(InvalidSecret), "{bad}");
        }
    }
}
