//! Signing in with an OIDC issuer's keys: `tollgate dev` with `JWT_JWKS_URL` pointing at a
//! local JWKS server, RS256 and ES256 tokens, `iss`/`aud` enforced, the admin role read from
//! a list claim (`cognito:groups`), and the key set fetched again for an unknown `kid` at
//! most once a minute.

use axum::extract::State;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tollgate_tests::stack::{TestStack, now};

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "tollgate-api";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/jwt").join(name)).unwrap()
}

struct SigningKey {
    kid: &'static str,
    alg: Algorithm,
    key: EncodingKey,
}

impl SigningKey {
    fn load(kid: &'static str, alg: Algorithm, file: &str) -> Self {
        let pem = fixture(file);
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
            _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
        };
        Self { kid, alg, key }
    }

    fn public(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).unwrap();
        jwk.common.key_id = Some(self.kid.to_owned());
        jwk
    }

    fn token(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

#[derive(Clone, Default)]
struct Issuer {
    keys: Arc<Mutex<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
}

async fn jwks(State(issuer): State<Issuer>) -> String {
    issuer.fetches.fetch_add(1, Ordering::SeqCst);
    serde_json::to_string(&JwkSet { keys: issuer.keys.lock().unwrap().clone() }).unwrap()
}

async fn serve_issuer(issuer: Issuer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    let router = axum::Router::new().route("/.well-known/jwks.json", get(jwks)).with_state(issuer);
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

fn claims(sub: &str, groups: &[&str]) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now().0 + 600, "cognito:groups": groups})
}

async fn status(stack: &TestStack, path: &str, token: &str) -> StatusCode {
    stack.http.get(stack.url(path)).bearer_auth(token).send().await.unwrap().status()
}

// Two workers: the issuer answers while the stack starts (its start blocks one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_an_oidc_issuer_are_checked_against_its_keys() {
    let (rsa, ec, rotated) = (
        SigningKey::load("rsa-a", Algorithm::RS256, "rsa-a.pem"),
        SigningKey::load("ec-a", Algorithm::ES256, "ec-a.pem"),
        SigningKey::load("rsa-b", Algorithm::RS256, "rsa-b.pem"),
    );
    let issuer = Issuer::default();
    *issuer.keys.lock().unwrap() = vec![rsa.public(), ec.public()];
    let url = serve_issuer(issuer.clone()).await;
    let stack = TestStack::start_with(&[
        ("JWT_SECRET", ""),
        ("JWT_JWKS_URL", &url),
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
        ("JWT_ROLE_CLAIM", "cognito:groups"),
    ])
    .await;
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1, "the keys are fetched at start");

    // RS256 and ES256 users; the admin role from a list claim.
    assert_eq!(status(&stack, "/api/me", &rsa.token(&claims("user_rsa", &[]))).await, StatusCode::OK);
    assert_eq!(status(&stack, "/api/me", &ec.token(&claims("user_ec", &[]))).await, StatusCode::OK);
    assert_eq!(status(&stack, "/admin/events", &rsa.token(&claims("ops", &["staff"]))).await, StatusCode::FORBIDDEN);
    assert_eq!(status(&stack, "/admin/events", &ec.token(&claims("ops", &["staff", "admin"]))).await, StatusCode::OK);

    // Another issuer or audience, no exp, not yet valid, and HS256 (with a JWKS configured) are refused.
    let mut wrong_issuer = claims("user_rsa", &[]);
    wrong_issuer["iss"] = json!("https://evil.example");
    let mut wrong_audience = claims("user_rsa", &[]);
    wrong_audience["aud"] = json!("someone-else");
    let mut no_exp = claims("user_rsa", &[]);
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut early = claims("user_rsa", &[]);
    early["nbf"] = json!(now().0 + 3600);
    for refused in [wrong_issuer, wrong_audience, no_exp, early] {
        assert_eq!(status(&stack, "/api/me", &rsa.token(&refused)).await, StatusCode::UNAUTHORIZED, "{refused}");
    }
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("user_rsa", &["admin"]),
        &EncodingKey::from_secret(tollgate_tests::stack::JWT_SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(status(&stack, "/admin/events", &hs256).await, StatusCode::UNAUTHORIZED);

    // A key the issuer has rotated in since start: one fetch finds it.
    issuer.keys.lock().unwrap().push(rotated.public());
    assert_eq!(status(&stack, "/api/me", &rotated.token(&claims("user_rotated", &[]))).await, StatusCode::OK);
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
    // Unknown kids within the minute cost the issuer nothing more.
    let forged = SigningKey { kid: "no-such-kid", ..SigningKey::load("x", Algorithm::RS256, "rsa-b.pem") };
    for _ in 0..5 {
        assert_eq!(status(&stack, "/api/me", &forged.token(&claims("user_x", &[]))).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2, "at most one fetch a minute");
}
