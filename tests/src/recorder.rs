//! A local HTTP server that records every request and answers 200 with what it saw:
//! the API behind the gateway (`UPSTREAM_URL`), or an alert webhook.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    /// Path and query.
    pub target: String,
    pub headers: HeaderMap,
    pub body: String,
}

#[derive(Clone)]
pub struct Recorder {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn record(
    State(seen): State<Arc<Mutex<Vec<Seen>>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
    let account = headers.get("x-tollgate-account").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = String::from_utf8_lossy(&body).into_owned();
    seen.lock().unwrap().push(Seen { method, target: target.clone(), headers, body });
    let answer = json!({"upstream": true, "target": target, "account": account});
    ([("content-type", "application/json")], answer.to_string())
}

impl Recorder {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0").await
    }

    /// Listens on `address` (one a test picked before anything listened there).
    pub async fn start_on(address: &str) -> Self {
        let seen = Arc::default();
        let app = axum::Router::new().fallback(record).with_state(Arc::clone(&seen));
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}
