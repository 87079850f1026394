//! HS256 JSON Web Tokens: users carry `sub` = their account id; operators `role: "admin"`.
//!
//! Only HS256 is accepted (no `alg` negotiation, so no `none` and no key confusion),
//! and every token must expire.

use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tollgate_core::time::Timestamp;

type HmacSha256 = Hmac<Sha256>;

/// Tokens a few seconds past `exp` still pass: clocks drift.
const LEEWAY_SECONDS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub exp: i64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// The JWT secret (`JWT_SECRET`). Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Verifier {
    secret: Vec<u8>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("jwt::Verifier(***)")
    }
}

impl Verifier {
    pub fn new(secret: &str) -> Self {
        Self { secret: secret.as_bytes().to_vec() }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.secret).expect("HMAC takes keys of any length")
    }

    /// Signs `claims`: for `tollgate token` and the tests.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    pub fn verify(&self, token: &str, now: Timestamp) -> Option<Claims> {
        let mut parts = token.split('.');
        let (header_part, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_part).ok()?).ok()?;
        if header.alg != "HS256" {
            return None;
        }
        let mut mac = self.mac();
        mac.update(header_part.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (claims.exp + LEEWAY_SECONDS >= now.0).then_some(claims)
    }

    /// The claims of the `Authorization: Bearer` token, or 401.
    pub fn bearer(&self, headers: &http::HeaderMap, now: Timestamp) -> Result<Claims, ApiError> {
        headers
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| self.verify(token.trim(), now))
            .ok_or(ApiError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_700_000_000);

    fn claims(exp: i64) -> Claims {
        Claims { sub: "ops".into(), role: Some("admin".into()), exp }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let verifier = Verifier::new("secret");
        let token = verifier.sign(&claims(NOW.0 + 60));
        assert_eq!(verifier.verify(&token, NOW), Some(claims(NOW.0 + 60)));
        assert_eq!(verifier.verify(&token, Timestamp(NOW.0 + 60 + LEEWAY_SECONDS + 1)), None);
    }

    #[test]
    fn a_known_token_from_another_implementation_verifies() {
        // Made by hand with Python's hmac and base64 modules, key "secret".
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJvcHMiLCJyb2xlIjoiYWRtaW4iLCJleHAiOjQxMDI0NDQ4MDB9.jOPI1I12Foe_ooKd2eR5Y2gsm1UIr4JOtLd6pe5cxHA";
        let claims = Verifier::new("secret").verify(token, NOW).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role.as_deref()), ("ops", Some("admin")));
    }

    #[test]
    fn tampering_another_key_or_another_algorithm_fails() {
        let verifier = Verifier::new("secret");
        let token = verifier.sign(&claims(NOW.0 + 60));
        assert_eq!(Verifier::new("other").verify(&token, NOW), None);
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"ops","role":"admin","exp":9999999999}"#);
        assert_eq!(verifier.verify(&format!("{head}.{forged}.{signature}"), NOW), None);
        let none_alg = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        assert_eq!(verifier.verify(&format!("{none_alg}.{forged}."), NOW), None);
        assert_eq!(verifier.verify("not.a.jwt.at-all", NOW), None);
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        let verifier = Verifier::new("secret");
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"ops","role":"admin"}"#);
        let input = format!("{header}.{payload}");
        let mut mac = verifier.mac();
        mac.update(input.as_bytes());
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        assert_eq!(verifier.verify(&token, NOW), None);
    }
}
