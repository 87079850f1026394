//! Keys and gateway calls as API clients make them, for the native gateway's and the
//! Worker's end-to-end tests.

use crate::stack::{TestStack, token};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::path::PathBuf;

/// A copy of the shipped catalog with `replacements` made, written to a file that lives
/// as long as the test process (for `CATALOG_PATH`).
pub fn catalog_with(replacements: &[(&str, &str)]) -> PathBuf {
    catalog_from(tollgate_core::catalog::DEFAULT_CATALOG, replacements)
}

/// The catalog `text` with `replacements` made, written as [`catalog_with`] writes it.
pub fn catalog_from(text: &str, replacements: &[(&str, &str)]) -> PathBuf {
    let mut text = text.to_owned();
    for (from, to) in replacements {
        assert!(text.contains(from), "the catalog has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    tollgate_core::catalog::Catalog::parse(&text).expect("the edited catalog is valid");
    let path = tempfile::tempdir().unwrap().keep().join("catalog.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `POST /api/keys` as `account`: the new key's `{"id","key","prefix"}`.
pub async fn create_key(stack: &TestStack, account: &str) -> Value {
    let response =
        stack.http.post(stack.url("/api/keys")).bearer_auth(token(account, None)).send().await.expect("answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

pub async fn me(stack: &TestStack, account: &str) -> Value {
    let response = stack.http.get(stack.url("/api/me")).bearer_auth(token(account, None)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// An answer of the gateway: status, headers, JSON body.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}

/// `GET {base}{path}` with `Authorization: Bearer {key}`.
pub async fn call(http: &reqwest::Client, base: &str, key: &str, path: &str) -> Answer {
    let response = http.get(format!("{base}{path}")).bearer_auth(key).send().await.expect("the gateway answers");
    let (status, headers) = (response.status(), response.headers().clone());
    Answer { status, headers, body: response.json().await.unwrap_or(Value::Null) }
}

/// Asserts that of `answers`, `allowed` passed and the rest were refused with 429
/// `rate_limited`, each saying when to retry (within the 60 s window) and that none is left.
pub fn assert_rate_limited_beyond(answers: &[Answer], allowed: usize) {
    assert_eq!(answers.iter().filter(|a| a.status == StatusCode::OK).count(), allowed);
    let limited: Vec<_> = answers.iter().filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!(limited.len(), answers.len() - allowed);
    for answer in limited {
        assert_eq!(answer.code(), Some("rate_limited"));
        let retry: u64 = answer.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_eq!(answer.header("x-ratelimit-remaining"), Some("0"));
        assert_eq!(answer.header("x-ratelimit-reset"), answer.header("retry-after"));
    }
}

/// `GET {base}{path}` once for each of `keys` in turn, `calls` calls, all at once; the
/// answers in completion order.
pub async fn call_keys_at_once(
    http: &reqwest::Client,
    base: &str,
    keys: &[String],
    path: &str,
    calls: usize,
) -> Vec<Answer> {
    let tasks = (0..calls).map(|i| {
        let (http, base, key, path) = (http.clone(), base.to_owned(), keys[i % keys.len()].clone(), path.to_owned());
        tokio::spawn(async move { call(&http, &base, &key, &path).await })
    });
    crate::join_all(tasks).await
}

/// `calls` calls at once; the answers in completion order.
pub async fn call_at_once(http: &reqwest::Client, base: &str, key: &str, calls: usize) -> Vec<Answer> {
    let tasks = (0..calls).map(|i| {
        let (http, base, key) = (http.clone(), base.to_owned(), key.to_owned());
        tokio::spawn(async move { call(&http, &base, &key, &format!("/v1/things/{i}")).await })
    });
    crate::join_all(tasks).await
}
