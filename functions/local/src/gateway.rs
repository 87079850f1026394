//! The local stack's native edge gateway: `/v1/*` decided by the same `tollgate-core`
//! gate as the Worker's Durable Objects, one per account (its keys' rate windows and its
//! pooled quotas, credits and balance), with in-process counters flushed to the usage
//! queue in batches. It reads each key's record from SQLite on every call, so a
//! revocation or a plan change applies to the next call.

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tollgate_app::keys::Keys;
use tollgate_core::api_key::{ApiKey, KeyHash};
use tollgate_core::forwarding::{self, PathError};
use tollgate_core::gate::AccountGate;
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::metering::{FLUSH_CALLS, RateHeaders, Refusal};
use tollgate_embedded::Sqlite;

pub struct Gateway {
    keys: Arc<Keys<Sqlite>>,
    gates: Mutex<HashMap<AccountId, AccountGate<KeyHash>>>,
    upstream: Option<String>,
    client: reqwest::Client,
    /// Wakes the flusher early when a key has many calls pending.
    pub flush_now: tokio::sync::Notify,
}

impl Gateway {
    pub fn new(keys: Arc<Keys<Sqlite>>, upstream: Option<String>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
        Ok(Self { keys, gates: Mutex::default(), upstream, client, flush_now: tokio::sync::Notify::new() })
    }

    /// Decides a `/v1/*` call and answers it: tollgate's own routes (workflows sold as APIs)
    /// from `origin`, signed as the Worker signs them; the rest from `UPSTREAM_URL`.
    pub async fn handle(&self, request: Request<Bytes>, origin: &axum::Router) -> Response<Bytes> {
        if let Err(error) = forwarding::forward_path(request.uri().path()) {
            let status = StatusCode::from_u16(PathError::STATUS).unwrap_or(StatusCode::BAD_REQUEST);
            let mut response = json(status, &error_body(PathError::CODE, &error.to_string()));
            with_rate_headers(&mut response, RateHeaders::UNKNOWN);
            return response;
        }
        let bearer = request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        let own = tollgate_core::edge::is_origin_path(request.uri().path());
        let Ok(key) = ApiKey::from_bearer(bearer) else {
            // Not an API key: tollgate's own routes take a user's JWT (the account page) too.
            if own {
                return answer_from(origin, request).await;
            }
            return refusal(&Refusal::InvalidKey, RateHeaders::UNKNOWN);
        };
        let hash = key.hash();
        let record = match self.keys.key_record(&hash).await {
            Ok(record) => record,
            Err(error) => {
                tracing::error!(%error, "key records are unreadable");
                return json(StatusCode::SERVICE_UNAVAILABLE, &error_body("origin_unavailable", "retry shortly"));
            }
        };
        // A gate is kept only for a key the origin issued and has not revoked: a stream of
        // made-up keys with valid checksums must not grow the gateway's memory.
        let Some(record) = record.filter(|record| !record.revoked) else {
            return refusal(&Refusal::InvalidKey, RateHeaders::UNKNOWN);
        };
        let now_ms = self.keys.clock.now_ms();
        let (decision, pending) = {
            let mut gates = self.gates.lock().expect("no gate panics while locked");
            let gate = gates.entry(record.account_id.clone()).or_insert_with(|| AccountGate::new(now_ms));
            let decision = gate.decide(&hash, &record, request.uri().path(), now_ms);
            (decision, gate.open_calls())
        };
        if pending >= FLUSH_CALLS {
            self.flush_now.notify_one();
        }
        if let Err(refused) = decision.outcome {
            return refusal(&refused, decision.headers);
        }
        let mut response = match &self.upstream {
            _ if own => self.to_origin(origin, request, &record.account_id, &record.key_id).await,
            Some(upstream) => self.forward(upstream, request, &record.account_id, &record.key_id).await,
            None => json(
                StatusCode::OK,
                &serde_json::json!({
                    "allowed": true,
                    "account_id": record.account_id,
                    "key_id": record.key_id,
                    "path": request.uri().path(),
                    "note": "set UPSTREAM_URL to forward calls to your API",
                }),
            ),
        };
        with_rate_headers(&mut response, decision.headers);
        response
    }

    /// Hands a call to the origin's own routes in-process, as the Worker forwards it to
    /// `ORIGIN_URL`: the account named, and signed with `EDGE_SECRET`.
    async fn to_origin(
        &self,
        origin: &axum::Router,
        request: Request<Bytes>,
        account: &AccountId,
        key: &KeyId,
    ) -> Response<Bytes> {
        use tollgate_core::edge;
        let (mut parts, body) = request.into_parts();
        let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
        let now = self.keys.clock.now();
        let signature =
            edge::sign_call(&self.keys.edge.secret, now, parts.method.as_str(), &target, account.as_str(), &body);
        let named = [
            (edge::ACCOUNT_HEADER, account.as_str().to_owned()),
            ("x-tollgate-key", key.as_str().to_owned()),
            (edge::SIGNATURE_HEADER, signature),
        ];
        parts.headers.remove(http::header::AUTHORIZATION);
        for (name, value) in named {
            let value = HeaderValue::from_str(&value).expect("ids and signatures are header values");
            parts.headers.insert(name, value);
        }
        answer_from(origin, Request::from_parts(parts, body)).await
    }

    async fn forward(
        &self,
        upstream: &str,
        request: Request<Bytes>,
        account: &AccountId,
        key: &KeyId,
    ) -> Response<Bytes> {
        let (parts, body) = request.into_parts();
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let mut outgoing =
            self.client.request(parts.method, format!("{}{path_and_query}", upstream.trim_end_matches('/')));
        for (name, value) in &parts.headers {
            if forwarding::forwards_header(name.as_str()) {
                outgoing = outgoing.header(name, value);
            }
        }
        let sent = outgoing
            .header("x-tollgate-account", account.as_str())
            .header("x-tollgate-key", key.as_str())
            .body(body)
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(error) => {
                tracing::warn!(%error, "the upstream did not answer");
                return json(
                    StatusCode::BAD_GATEWAY,
                    &error_body("upstream_unavailable", "the API behind the gateway did not answer"),
                );
            }
        };
        let mut response = Response::builder().status(answer.status());
        for (name, value) in answer.headers() {
            if name != http::header::TRANSFER_ENCODING && name != http::header::CONNECTION {
                response = response.header(name, value);
            }
        }
        let body = answer.bytes().await.unwrap_or_default();
        response
            .body(body)
            .unwrap_or_else(|_| json(StatusCode::BAD_GATEWAY, &error_body("upstream_unavailable", "unreadable answer")))
    }

    /// Sends every key's sealed counts to the usage queue, as a Durable Object's alarm does.
    pub async fn flush(&self) {
        let batches: Vec<_> = {
            let mut gates = self.gates.lock().expect("no gate panics while locked");
            gates.values_mut().flat_map(AccountGate::flush).collect()
        };
        if batches.is_empty() {
            return;
        }
        match self.keys.accept_usage(&batches).await {
            Ok(accepted) => {
                let mut gates = self.gates.lock().expect("no gate panics while locked");
                for gate in gates.values_mut() {
                    gate.acknowledge(&accepted);
                }
            }
            Err(error) => tracing::error!(%error, "usage could not be queued; the next flush sends it again"),
        }
    }
}

/// The origin's answer to `request`, in-process.
async fn answer_from(origin: &axum::Router, request: Request<Bytes>) -> Response<Bytes> {
    use tower::ServiceExt;
    let Ok(answer) = origin.clone().oneshot(request.map(axum::body::Body::from)).await;
    let (parts, body) = answer.into_parts();
    match axum::body::to_bytes(body, tollgate_http::MAX_WEBHOOK_BYTES).await {
        Ok(bytes) => Response::from_parts(parts, bytes),
        Err(_) => json(StatusCode::BAD_GATEWAY, &error_body("origin_unavailable", "unreadable answer")),
    }
}

fn error_body(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"error": {"code": code, "message": message}})
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(body.to_string()))
        .expect("a status and a static header always build")
}

fn refusal(refusal: &Refusal, headers: RateHeaders) -> Response<Bytes> {
    let status = StatusCode::from_u16(refusal.status()).expect("refusal statuses are valid");
    let mut response = json(status, &refusal.body());
    if let Refusal::RateLimited { retry_after } = refusal {
        response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(*retry_after));
    }
    with_rate_headers(&mut response, headers);
    response
}

fn with_rate_headers(response: &mut Response<Bytes>, headers: RateHeaders) {
    for (name, value) in headers.pairs() {
        response.headers_mut().insert(name, HeaderValue::from_str(&value).expect("digits are a header value"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_app::SystemClock;
    use tollgate_app::keys::EdgeLink;
    use tollgate_core::api_key::KeyMode;
    use tollgate_core::catalog::Catalog;
    use tollgate_core::edge::EdgeSecret;
    use tollgate_core::time::BusinessZone;
    use tollgate_embedded::QueueSettings;

    #[tokio::test]
    async fn keys_the_origin_does_not_know_leave_no_meter_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open(&dir.path().join("db.sqlite3"), QueueSettings::default()).unwrap();
        let outbound = Arc::new(tollgate_outbound::HttpClient::new().unwrap());
        let edge = EdgeLink { secret: EdgeSecret::new("edge").unwrap(), url: None, outbound };
        let keys = Keys {
            store,
            catalog: Catalog::default_catalog(),
            zone: BusinessZone::UTC,
            clock: Arc::new(SystemClock),
            edge: Arc::new(edge),
        };
        let gateway = Gateway::new(Arc::new(keys), None).unwrap();
        for n in 0..500u32 {
            let mut random = [0u8; tollgate_core::api_key::KEY_BYTES];
            random[..4].copy_from_slice(&n.to_le_bytes());
            let key = ApiKey::generate(KeyMode::Test, random);
            let request = Request::get("/v1/anything")
                .header(http::header::AUTHORIZATION, format!("Bearer {}", key.expose()))
                .body(Bytes::new())
                .unwrap();
            assert_eq!(gateway.handle(request, &axum::Router::new()).await.status(), StatusCode::UNAUTHORIZED);
        }
        assert_eq!(gateway.gates.lock().unwrap().len(), 0, "a made-up key must not be remembered");
    }
}
