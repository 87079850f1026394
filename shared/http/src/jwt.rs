//! JSON Web Tokens, checked by `jsonwebtoken`: users carry `sub` = their account id;
//! operators carry the admin role in the claim `JWT_ROLE_CLAIM` names (`role` by default;
//! a list such as `cognito:groups` works too).
//!
//! Two modes, never both: HS256 with `JWT_SECRET` (at least 32 bytes), or the RS256/ES256
//! keys of an OIDC issuer at `JWT_JWKS_URL` (Cognito, Auth0, Clerk), fetched at start and
//! again for an unknown `kid`, at most once a minute. `iss` and `aud` are enforced when
//! `JWT_ISSUER` and `JWT_AUDIENCE` are set; `exp` is required and `nbf` honoured, with 60 s
//! of leeway; a `crit` header tollgate does not understand is refused.

use crate::error::ApiError;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use thiserror::Error;
use tollgate_core::time::Timestamp;

/// Clocks drift between the issuer and us.
pub const LEEWAY_SECONDS: i64 = 60;
/// HS256 keys shorter than the hash are guessable offline (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;
/// An unknown `kid` fetches the key set again at most this often, so forged `kid`s cannot
/// make us hammer the issuer.
const REFETCH_EVERY: Duration = Duration::from_secs(60);
const DEFAULT_ROLE_CLAIM: &str = "role";
const ADMIN_ROLE: &str = "admin";

/// What `tollgate token` and the tests mint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub exp: i64,
}

/// Who a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub sub: String,
    pub admin: bool,
}

/// Why the JWT settings cannot start a function; each names its variable.
#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("JWT_SECRET is not set (or JWT_JWKS_URL, for an OIDC issuer's keys)")]
    Missing,
    #[error("JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")]
    ShortSecret,
    #[error("set JWT_SECRET or JWT_JWKS_URL, not both: with a key set, HS256 tokens are refused")]
    BothModes,
    #[error("JWT_JWKS_URL: {0}")]
    Jwks(String),
}

/// What a token must say besides its signature: `iss`, `aud`, and the claim carrying the
/// role (`JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_ROLE_CLAIM`).
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// `role` when `None`.
    pub role_claim: Option<String>,
}

/// The JWT settings, read once at start (`tollgate-settings`).
#[derive(Clone)]
pub struct Settings {
    secret: Option<SecretString>,
    jwks_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    role_claim: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("jwt::Settings")
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("role_claim", &self.role_claim)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// HS256 with `secret`, or the keys at `jwks_url`: exactly one of them.
    pub fn new(
        secret: Option<SecretString>,
        jwks_url: Option<String>,
        expected: Expected,
    ) -> Result<Self, SettingsError> {
        let settings = Self {
            secret,
            jwks_url,
            issuer: expected.issuer,
            audience: expected.audience,
            role_claim: expected.role_claim.unwrap_or_else(|| DEFAULT_ROLE_CLAIM.to_owned()),
        };
        match (&settings.secret, &settings.jwks_url) {
            (None, None) => Err(SettingsError::Missing),
            (Some(_), Some(_)) => Err(SettingsError::BothModes),
            (Some(secret), None) if secret.expose_secret().len() < MIN_SECRET_BYTES => Err(SettingsError::ShortSecret),
            _ => Ok(settings),
        }
    }

    /// HS256 with `secret`, nothing else set: for the tests and the sample events.
    pub fn hs256(secret: &str) -> Result<Self, SettingsError> {
        Self::new(Some(SecretString::from(secret)), None, Expected::default())
    }

    /// A token for `claims`, with `iss` and `aud` when they are set and the role under
    /// the role claim; `None` in JWKS mode, where only the issuer holds a signing key.
    pub fn mint(&self, claims: &Claims) -> Option<String> {
        let secret = self.secret.as_ref()?;
        let mut body = Map::new();
        body.insert("sub".into(), claims.sub.clone().into());
        body.insert("exp".into(), claims.exp.into());
        if let Some(role) = &claims.role {
            body.insert(self.role_claim.clone(), role.clone().into());
        }
        if let Some(issuer) = &self.issuer {
            body.insert("iss".into(), issuer.clone().into());
        }
        if let Some(audience) = &self.audience {
            body.insert("aud".into(), audience.clone().into());
        }
        let key = EncodingKey::from_secret(secret.expose_secret().as_bytes()).ok()?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &body, &key).ok()
    }

    fn validations(&self, algorithms: &[Algorithm]) -> Vec<(Algorithm, Validation)> {
        algorithms.iter().map(|&alg| (alg, self.validation(alg))).collect()
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // `exp` and `nbf` are checked against the app's clock below, which tests can set.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = self.audience.is_some();
        if let Some(audience) = &self.audience {
            validation.set_audience(&[audience]);
            validation.required_spec_claims.insert("aud".into());
        }
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        validation
    }
}

/// The keys tokens are checked with.
enum Keys {
    Secret(Arc<DecodingKey>),
    Jwks { url: String, client: reqwest::Client, set: RwLock<KeySet> },
}

#[derive(Default)]
struct KeySet {
    /// Shared, so a verification takes a reference count, not a copy of the key.
    by_kid: HashMap<String, (Algorithm, Arc<DecodingKey>)>,
    /// When an unknown `kid` last made us fetch again; `None` until one does.
    refetched_at: Option<Instant>,
}

/// Checks bearer tokens. Built once at start.
pub struct Verifier {
    settings: Settings,
    keys: Keys,
    /// One per accepted algorithm: `jsonwebtoken` refuses a validation that names
    /// algorithms of another family than the key's.
    validations: Vec<(Algorithm, Validation)>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("jwt::Verifier(***)")
    }
}

impl Verifier {
    /// The verifier for `settings`; in JWKS mode the key set is fetched now, so a wrong
    /// URL fails the cold start instead of every request.
    pub async fn new(settings: Settings) -> Result<Self, SettingsError> {
        match (&settings.secret, &settings.jwks_url) {
            (Some(secret), _) => {
                let key = DecodingKey::from_secret(secret.expose_secret().as_bytes())
                    .map_err(|e| SettingsError::Jwks(e.to_string()))?;
                let validations = settings.validations(&[Algorithm::HS256]);
                Ok(Self { settings, keys: Keys::Secret(Arc::new(key)), validations })
            }
            (None, Some(url)) => {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .map_err(|e| SettingsError::Jwks(e.to_string()))?;
                let set = fetch(&client, url).await.map_err(SettingsError::Jwks)?;
                let validations = settings.validations(&[Algorithm::RS256, Algorithm::ES256]);
                let keys = Keys::Jwks { url: url.clone(), client, set: RwLock::new(set) };
                Ok(Self { settings, keys, validations })
            }
            (None, None) => Err(SettingsError::Missing),
        }
    }

    /// The settings it was built from (to mint tokens with the same `iss` and `aud`).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The identity in `token` at `now`, or `None` for any token that does not verify.
    pub async fn verify(&self, token: &str, now: Timestamp) -> Option<Identity> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let key = match &self.keys {
            Keys::Secret(key) => Arc::clone(key),
            Keys::Jwks { url, client, set } => {
                let kid = header.kid.as_deref()?;
                match lookup(set, kid, header.alg) {
                    Some(key) => key,
                    None => {
                        refetch(set, client, url).await;
                        lookup(set, kid, header.alg)?
                    }
                }
            }
        };
        // An algorithm this mode does not accept (HS256 with a key set, `none`, …) has no validation.
        let (_, validation) = self.validations.iter().find(|(alg, _)| *alg == header.alg)?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, validation)
            .inspect_err(|error| tracing::debug!(%error, "a bearer token was refused"))
            .ok()?;
        let claims = data.claims;
        if !in_time(&claims, now) {
            return None;
        }
        let sub = claims.get("sub").and_then(Value::as_str)?.to_owned();
        let admin = match claims.get(&self.settings.role_claim) {
            Some(Value::String(role)) => role == ADMIN_ROLE,
            Some(Value::Array(roles)) => roles.iter().any(|role| role.as_str() == Some(ADMIN_ROLE)),
            _ => false,
        };
        Some(Identity { sub, admin })
    }

    /// The identity of the `Authorization: Bearer` token (scheme in any case), or 401.
    pub async fn bearer(&self, headers: &http::HeaderMap, now: Timestamp) -> Result<Identity, ApiError> {
        let header = headers.get(http::header::AUTHORIZATION).and_then(|value| value.to_str().ok());
        let token = header.and_then(tollgate_core::api_key::bearer).ok_or(ApiError::Unauthorized)?;
        self.verify(token, now).await.ok_or(ApiError::Unauthorized)
    }
}

/// `exp` (required) not passed and `nbf` (if any) reached, with leeway. Compared without
/// arithmetic on the token's numbers, so `exp = i64::MAX` is just late; a fractional
/// NumericDate counts by its whole seconds (`as` saturates, and JSON has no NaN).
fn in_time(claims: &Map<String, Value>, now: Timestamp) -> bool {
    let seconds = |name: &str| {
        claims.get(name).map(|value| value.as_i64().or_else(|| value.as_f64().map(|at| at.floor() as i64)))
    };
    let expired = match seconds("exp") {
        Some(Some(exp)) => exp < now.plus_seconds(-LEEWAY_SECONDS).0,
        _ => true,
    };
    let early = match seconds("nbf") {
        None => false,
        Some(Some(nbf)) => nbf > now.plus_seconds(LEEWAY_SECONDS).0,
        Some(None) => true,
    };
    !expired && !early
}

fn lookup(set: &RwLock<KeySet>, kid: &str, alg: Algorithm) -> Option<Arc<DecodingKey>> {
    let set = set.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    set.by_kid.get(kid).filter(|(key_alg, _)| *key_alg == alg).map(|(_, key)| Arc::clone(key))
}

async fn refetch(set: &RwLock<KeySet>, client: &reqwest::Client, url: &str) {
    {
        let mut set = set.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if set.refetched_at.is_some_and(|at| at.elapsed() < REFETCH_EVERY) {
            return;
        }
        // Claimed before the fetch, so concurrent unknown `kid`s make one request.
        set.refetched_at = Some(Instant::now());
    }
    match fetch(client, url).await {
        Ok(fresh) => set.write().unwrap_or_else(std::sync::PoisonError::into_inner).by_kid = fresh.by_kid,
        Err(error) => tracing::warn!(%error, "the JWT key set could not be fetched again"),
    }
}

/// The RS256 and ES256 signing keys of the set at `url`, by `kid`.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<KeySet, String> {
    let response = client.get(url).send().await.map_err(|e| format!("fetching {url}: {e}"))?;
    let response = response.error_for_status().map_err(|e| format!("fetching {url}: {e}"))?;
    let set: JwkSet = response.json().await.map_err(|e| format!("{url} is not a JWK set: {e}"))?;
    let mut by_kid = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else { continue };
        let alg = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
            _ => continue,
        };
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            by_kid.insert(kid, (alg, Arc::new(key)));
        }
    }
    if by_kid.is_empty() {
        return Err(format!("{url} holds no RS256 or ES256 key with a kid"));
    }
    Ok(KeySet { by_kid, refetched_at: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, Mac};

    const NOW: Timestamp = Timestamp(1_700_000_000);
    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    /// Settings as `tollgate-settings` reads them from these variables.
    fn settings(env: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let get = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        let expected =
            Expected { issuer: get("JWT_ISSUER"), audience: get("JWT_AUDIENCE"), role_claim: get("JWT_ROLE_CLAIM") };
        Settings::new(get("JWT_SECRET").map(SecretString::from), get("JWT_JWKS_URL"), expected)
    }

    async fn verifier(env: &[(&str, &str)]) -> Verifier {
        Verifier::new(settings(env).unwrap()).await.unwrap()
    }

    /// A token signed by hand, so the test controls every byte of header and payload.
    fn hand_signed(header: &str, payload: &str, secret: &str) -> String {
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    fn claims(exp: i64) -> Claims {
        Claims { sub: "ops".into(), role: Some("admin".into()), exp }
    }

    #[tokio::test]
    async fn a_minted_token_verifies_until_it_expires_with_leeway() {
        let verifier = verifier(&[("JWT_SECRET", SECRET)]).await;
        let token = verifier.settings().mint(&claims(NOW.0 + 60)).unwrap();
        let admin = Some(Identity { sub: "ops".into(), admin: true });
        assert_eq!(verifier.verify(&token, NOW).await, admin);
        assert_eq!(verifier.verify(&token, Timestamp(NOW.0 + 60 + LEEWAY_SECONDS)).await, admin);
        assert_eq!(verifier.verify(&token, Timestamp(NOW.0 + 60 + LEEWAY_SECONDS + 1)).await, None);
    }

    #[test]
    fn a_short_secret_or_no_mode_or_both_modes_refuse_to_start() {
        let read = settings;
        assert!(matches!(read(&[("JWT_SECRET", "short")]), Err(SettingsError::ShortSecret)));
        assert!(read(&[("JWT_SECRET", "short")]).unwrap_err().to_string().contains("JWT_SECRET"));
        assert!(matches!(read(&[]), Err(SettingsError::Missing)));
        assert!(matches!(
            read(&[("JWT_SECRET", SECRET), ("JWT_JWKS_URL", "http://127.0.0.1:1/jwks")]),
            Err(SettingsError::BothModes)
        ));
        assert!(!format!("{:?}", read(&[("JWT_SECRET", SECRET)]).unwrap()).contains(SECRET));
    }

    #[tokio::test]
    async fn issuer_and_audience_are_enforced_when_set() {
        let strict =
            verifier(&[("JWT_SECRET", SECRET), ("JWT_ISSUER", "https://id.example"), ("JWT_AUDIENCE", "tollgate")])
                .await;
        let minted = strict.settings().mint(&claims(NOW.0 + 60)).unwrap();
        assert!(strict.verify(&minted, NOW).await.is_some(), "tollgate token mints iss and aud");
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        for payload in [
            r#"{"sub":"ops","exp":1700000060}"#,
            r#"{"sub":"ops","exp":1700000060,"iss":"https://evil.example","aud":"tollgate"}"#,
            r#"{"sub":"ops","exp":1700000060,"iss":"https://id.example","aud":"other"}"#,
            r#"{"sub":"ops","exp":1700000060,"iss":"https://id.example"}"#,
        ] {
            assert_eq!(strict.verify(&hand_signed(header, payload, SECRET), NOW).await, None, "{payload}");
        }
        let lax = verifier(&[("JWT_SECRET", SECRET)]).await;
        assert!(
            lax.verify(&hand_signed(header, r#"{"sub":"u","exp":1700000060,"iss":"x"}"#, SECRET), NOW).await.is_some()
        );
    }

    #[tokio::test]
    async fn exp_is_required_nbf_is_honoured_and_huge_numbers_never_panic() {
        let verifier = verifier(&[("JWT_SECRET", SECRET)]).await;
        let header = r#"{"alg":"HS256"}"#;
        let verify = |payload: &str| {
            let token = hand_signed(header, payload, SECRET);
            let verifier = &verifier;
            async move { verifier.verify(&token, NOW).await }
        };
        assert_eq!(verify(r#"{"sub":"u"}"#).await, None, "no exp");
        assert_eq!(verify(r#"{"sub":"u","exp":"soon"}"#).await, None);
        assert_eq!(verify(r#"{"sub":"u","exp":1e30}"#).await, None, "beyond what jsonwebtoken reads");
        assert!(verify(r#"{"sub":"u","exp":1700000060.5}"#).await.is_some(), "a fractional NumericDate");
        assert_eq!(verify(r#"{"sub":"u","exp":1699999939.9}"#).await, None, "past, by its whole seconds");
        assert!(verify(r#"{"sub":"u","exp":9223372036854775807}"#).await.is_some(), "far future, no overflow");
        assert_eq!(verify(r#"{"sub":"u","exp":-9223372036854775808}"#).await, None);
        assert_eq!(verify(r#"{"sub":"u","exp":1700009999,"nbf":1700000060}"#).await.map(|i| i.sub), Some("u".into()));
        assert_eq!(verify(r#"{"sub":"u","exp":1700009999,"nbf":1700000061}"#).await, None, "past the leeway");
        assert_eq!(verify(r#"{"sub":"u","exp":1700009999,"nbf":1700000100}"#).await, None, "not yet");
        assert_eq!(verify(r#"{"sub":"u","exp":1700009999,"nbf":9223372036854775807}"#).await, None);
    }

    #[tokio::test]
    async fn unknown_crit_none_alg_tampering_and_other_keys_are_refused() {
        let verifier = verifier(&[("JWT_SECRET", SECRET)]).await;
        let payload = r#"{"sub":"ops","role":"admin","exp":1700000060}"#;
        let crit = hand_signed(r#"{"alg":"HS256","crit":["exp-ext"],"exp-ext":1}"#, payload, SECRET);
        assert_eq!(verifier.verify(&crit, NOW).await, None);
        let empty_crit = hand_signed(r#"{"alg":"HS256","crit":[]}"#, payload, SECRET);
        assert_eq!(verifier.verify(&empty_crit, NOW).await, None);
        let other_key = hand_signed(r#"{"alg":"HS256"}"#, payload, "another secret of thirty-two bytes!");
        assert_eq!(verifier.verify(&other_key, NOW).await, None);
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode(payload));
        assert_eq!(verifier.verify(&none, NOW).await, None);
        let good = hand_signed(r#"{"alg":"HS256"}"#, payload, SECRET);
        let (head, rest) = good.split_once('.').unwrap();
        let signature = rest.split_once('.').unwrap().1;
        let forged = URL_SAFE_NO_PAD.encode(r#"{"sub":"root","role":"admin","exp":1700000060}"#);
        assert_eq!(verifier.verify(&format!("{head}.{forged}.{signature}"), NOW).await, None);
        for junk in ["", ".", "..", "a.b.c", "not a jwt", "a.b.c.d"] {
            assert_eq!(verifier.verify(junk, NOW).await, None, "{junk}");
        }
    }

    #[tokio::test]
    async fn the_role_claim_is_configurable_and_may_be_a_list() {
        let cognito = verifier(&[("JWT_SECRET", SECRET), ("JWT_ROLE_CLAIM", "cognito:groups")]).await;
        let header = r#"{"alg":"HS256"}"#;
        let groups = hand_signed(header, r#"{"sub":"u","exp":1700000060,"cognito:groups":["staff","admin"]}"#, SECRET);
        assert_eq!(cognito.verify(&groups, NOW).await.map(|i| i.admin), Some(true));
        let plain_role = hand_signed(header, r#"{"sub":"u","exp":1700000060,"role":"admin"}"#, SECRET);
        assert_eq!(cognito.verify(&plain_role, NOW).await.map(|i| i.admin), Some(false));
        let minted = cognito.settings().mint(&claims(NOW.0 + 60)).unwrap();
        assert_eq!(cognito.verify(&minted, NOW).await.map(|i| i.admin), Some(true));
    }

    #[tokio::test]
    async fn the_bearer_scheme_is_matched_in_any_case() {
        let verifier = verifier(&[("JWT_SECRET", SECRET)]).await;
        let token = verifier.settings().mint(&claims(NOW.0 + 60)).unwrap();
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::AUTHORIZATION, format!("{scheme} {token}").parse().unwrap());
            assert!(verifier.bearer(&headers, NOW).await.is_ok(), "{scheme}");
        }
        let mut basic = http::HeaderMap::new();
        basic.insert(http::header::AUTHORIZATION, format!("Basic {token}").parse().unwrap());
        assert!(verifier.bearer(&basic, NOW).await.is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        #[test]
        fn any_token_text_verifies_or_is_refused_without_panicking(
            token in "\\PC{0,120}",
            header in "\\PC{0,60}",
            payload in "\\PC{0,80}",
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                let verifier = verifier(&[("JWT_SECRET", SECRET)]).await;
                proptest::prop_assert_eq!(verifier.verify(&token, NOW).await, None);
                // Well-formed base64 parts around arbitrary JSON-ish text, signed with the right key.
                let signed = hand_signed(&header, &payload, SECRET);
                let _ = verifier.verify(&signed, NOW).await;
                Ok(())
            })?;
        }
    }
}
