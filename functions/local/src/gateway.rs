//! The local stack's native edge gateway: `/v1/*` decided by the same `tollgate-core`
//! meter as the Worker's Durable Objects, with in-process counters, flushed to the usage
//! queue in batches. It reads each key's record from SQLite on every call, so a
//! revocation or a plan change applies to the next call.

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tollgate_app::App;
use tollgate_core::api_key::{ApiKey, KeyHash};
use tollgate_core::forwarding::{self, PathError};
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::metering::{FLUSH_CALLS, Meter, RateHeaders, Refusal};
use tollgate_embedded::Sqlite;

#[derive(Default)]
struct KeyMeter {
    meter: Meter,
    /// Known once a record was seen: whose counts a flush sends.
    owner: Option<(KeyId, AccountId)>,
}

pub struct Gateway {
    app: Arc<App<Sqlite>>,
    meters: Mutex<HashMap<KeyHash, KeyMeter>>,
    upstream: Option<String>,
    client: reqwest::Client,
    /// Wakes the flusher early when a key has many calls pending.
    pub flush_now: tokio::sync::Notify,
}

impl Gateway {
    pub fn new(app: Arc<App<Sqlite>>, upstream: Option<String>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
        Ok(Self { app, meters: Mutex::default(), upstream, client, flush_now: tokio::sync::Notify::new() })
    }

    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        if let Err(error) = forwarding::forward_path(request.uri().path()) {
            let status = StatusCode::from_u16(PathError::STATUS).unwrap_or(StatusCode::BAD_REQUEST);
            let mut response = json(status, &error_body(PathError::CODE, &error.to_string()));
            with_rate_headers(&mut response, RateHeaders::UNKNOWN);
            return response;
        }
        let bearer = request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        let Ok(key) = ApiKey::from_bearer(bearer) else {
            return refusal(Refusal::InvalidKey, RateHeaders::UNKNOWN);
        };
        let hash = key.hash();
        let record = match self.app.key_record(&hash).await {
            Ok(record) => record,
            Err(error) => {
                tracing::error!(%error, "key records are unreadable");
                return json(StatusCode::SERVICE_UNAVAILABLE, &error_body("origin_unavailable", "retry shortly"));
            }
        };
        let now_ms = self.app.clock.now_ms();
        let (decision, pending) = {
            let mut meters = self.meters.lock().expect("no meter panics while locked");
            let entry = meters.entry(hash).or_default();
            if let Some(record) = &record {
                entry.owner = Some((record.key_id.clone(), record.account_id.clone()));
            }
            let decision = entry.meter.decide(record.as_ref(), now_ms);
            (decision, entry.meter.open_calls())
        };
        if pending >= FLUSH_CALLS {
            self.flush_now.notify_one();
        }
        let (Ok(_), Some(record)) = (decision.outcome, record) else {
            return refusal(decision.outcome.err().unwrap_or(Refusal::InvalidKey), decision.headers);
        };
        let mut response = match &self.upstream {
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
            let mut meters = self.meters.lock().expect("no meter panics while locked");
            meters
                .values_mut()
                .filter_map(|entry| Some(entry.meter.flush(&entry.owner.as_ref()?.0, &entry.owner.as_ref()?.1)))
                .flatten()
                .collect()
        };
        if batches.is_empty() {
            return;
        }
        match self.app.accept_usage(&batches).await {
            Ok(accepted) => {
                let mut meters = self.meters.lock().expect("no meter panics while locked");
                for entry in meters.values_mut() {
                    entry.meter.acknowledge(&accepted);
                }
            }
            Err(error) => tracing::error!(%error, "usage could not be queued; the next flush sends it again"),
        }
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

fn refusal(refusal: Refusal, headers: RateHeaders) -> Response<Bytes> {
    let status = StatusCode::from_u16(refusal.status()).expect("refusal statuses are valid");
    let mut response = json(status, &refusal.body());
    if let Refusal::RateLimited { retry_after } = refusal {
        response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    with_rate_headers(&mut response, headers);
    response
}

fn with_rate_headers(response: &mut Response<Bytes>, headers: RateHeaders) {
    for (name, value) in headers.pairs() {
        response.headers_mut().insert(name, HeaderValue::from_str(&value).expect("digits are a header value"));
    }
}
