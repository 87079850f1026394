//! tollgate's HTTP surface, shared by the Lambda functions and the local stack.
//!
//! Requests and responses are plain `http` types with the whole body in memory, so
//! `lambda_http` and the local server both hand them straight to [`Api::handle`].
//! Errors become responses in exactly one place ([`error::ApiError`]).

pub mod error;
pub mod jwt;
mod keys;
mod workflows;

use bytes::Bytes;
use error::ApiError;
use http::{Method, Request, Response, StatusCode, header};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use tollgate_app::App;
use tollgate_app::checkout::Checkout;
use tollgate_app::ingest::Webhooks;
use tollgate_app::keys::EdgeLink;
use tollgate_app::orchestrator::Orchestrator;
use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::alerts::Alerts;
use tollgate_app::ports::api_keys::ApiKeys;
use tollgate_app::ports::event_log::EventLog;
use tollgate_app::ports::ledger::Ledger;
use tollgate_app::ports::purchases::Purchases;
use tollgate_app::ports::queue::{Queue, QueueConsumer};
use tollgate_app::ports::rate_limits::RateLimits;
use tollgate_app::ports::runs::Runs;
use tollgate_app::ports::usage::Usage;
use tollgate_app::ports::workflows::Workflows;
use tollgate_core::ids::{AccountId, WorkflowId};

/// Stripe's payloads stay far below this; anything larger is not from Stripe.
pub const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

const DEFAULT_LIST_LIMIT: usize = 50;
const MAX_LIST_LIMIT: usize = 500;
/// Days of revenue `/admin/metrics` shows.
const METRICS_DAYS: u32 = 30;

/// The routes a deployment serves follow from what it holds: a webhook verifier for
/// `/webhooks/stripe`, a JWT verifier for `/admin/*`, the orchestrator for workflow
/// callbacks and the workflow admin routes. Each Lambda function holds only its own.
pub struct Api<S> {
    app: Arc<App<S>>,
    webhooks: Option<Webhooks>,
    jwt: Option<jwt::Verifier>,
    orchestrator: Option<Arc<Orchestrator<S>>>,
    checkout: Option<Arc<Checkout<S>>>,
    edge: Option<Arc<EdgeLink>>,
}

impl<S> Api<S>
where
    S: EventLog
        + Queue
        + QueueConsumer
        + Accounts
        + Ledger
        + Workflows
        + Runs
        + Alerts
        + Purchases
        + RateLimits
        + ApiKeys
        + Usage,
{
    pub fn new(app: Arc<App<S>>, webhooks: Option<Webhooks>, jwt: Option<jwt::Verifier>) -> Self {
        Self { app, webhooks, jwt, orchestrator: None, checkout: None, edge: None }
    }

    /// Serves `/api/keys` and `/api/me` (with a JWT verifier) and the edge's signed
    /// `/internal/*` routes.
    pub fn with_keys(self, edge: Arc<EdgeLink>) -> Self {
        Self { edge: Some(edge), ..self }
    }

    /// Serves `/api/checkout` and `/api/portal` (with a JWT verifier).
    pub fn with_checkout(self, checkout: Arc<Checkout<S>>) -> Self {
        Self { checkout: Some(checkout), ..self }
    }

    /// Serves workflow callbacks and, with a JWT verifier, the workflow admin routes.
    pub fn with_orchestrator(self, orchestrator: Arc<Orchestrator<S>>) -> Self {
        Self { orchestrator: Some(orchestrator), ..self }
    }

    pub fn app(&self) -> &App<S> {
        &self.app
    }

    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        match self.route(&request).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    }

    async fn route(&self, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
        let path = request.uri().path().trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let method = request.method();
        match (method, segments.as_slice()) {
            (&Method::GET, ["health"]) => Ok(ok_json(&json!({"status": "ok"}))),
            (&Method::POST, ["webhooks", "stripe"]) if let Some(webhooks) = &self.webhooks => {
                self.stripe_webhook(webhooks, request).await
            }
            (&Method::POST, ["webhooks", "workflows", run_id]) if let Some(orchestrator) = &self.orchestrator => {
                // In the callback URL as given; a workflow tool that moves it to a bearer header works too.
                let bearer = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                let token = query_param(request, "token")
                    .or_else(|| bearer.and_then(tollgate_core::api_key::bearer).map(str::to_owned));
                let answer = orchestrator.callback(run_id, token.as_deref(), request.body()).await?;
                Ok(ok_json(&answer))
            }
            (&Method::POST, ["api", "checkout"])
                if self.jwt.is_some()
                    && let Some(checkout) = &self.checkout =>
            {
                let account = self.user(request).await?;
                Ok(ok_json(&checkout.checkout(&account, request.body()).await?))
            }
            (&Method::POST, ["api", "portal"])
                if self.jwt.is_some()
                    && let Some(checkout) = &self.checkout =>
            {
                let account = self.user(request).await?;
                Ok(ok_json(&json!({ "url": checkout.portal(&account).await? })))
            }
            (&Method::GET, ["api", "me", "purchases"]) if self.jwt.is_some() => {
                let account = self.user(request).await?;
                Ok(ok_json(&json!({ "purchases": self.app.purchases(&account).await? })))
            }
            (&Method::GET, ["api", "me", "entitlements"]) if self.jwt.is_some() => {
                let account = self.user(request).await?;
                Ok(ok_json(&self.app.entitlements(&account).await?))
            }
            (_, ["api", "keys", ..] | ["api", "me"])
                if self.jwt.is_some()
                    && let Some(edge) = &self.edge =>
            {
                let account = self.user(request).await?;
                keys::owner(&self.app, edge, &account, method, &segments[1..], request.body()).await
            }
            (_, ["internal", ..]) if let Some(edge) = &self.edge => keys::internal(&self.app, edge, request).await,
            (&Method::GET, ["admin", "events"]) if self.jwt.is_some() => {
                self.admin(request).await?;
                let events = self.app.recent_events(limit(request)?).await?;
                Ok(ok_json(&json!({ "events": events })))
            }
            (&Method::GET, ["admin", "alerts"]) if self.jwt.is_some() => {
                self.admin(request).await?;
                let alerts = self.app.store.alerts(limit(request)?).await?;
                Ok(ok_json(&json!({ "alerts": alerts })))
            }
            (&Method::GET, ["admin", "metrics"]) if self.jwt.is_some() => {
                self.admin(request).await?;
                Ok(ok_json(&self.app.metrics(METRICS_DAYS).await?))
            }
            (_, ["admin", "workflows", ..])
                if self.jwt.is_some()
                    && let Some(orchestrator) = &self.orchestrator =>
            {
                self.admin(request).await?;
                workflow_admin(orchestrator, method, &segments[2..], request.body()).await
            }
            (&Method::GET, ["admin", "accounts", account]) if self.jwt.is_some() => {
                self.admin(request).await?;
                let account = AccountId::parse(account).map_err(|e| ApiError::invalid("account_id", &e.to_string()))?;
                let view = self.app.account(&account).await?.ok_or(ApiError::NotFound("account"))?;
                Ok(ok_json(&view))
            }
            (&Method::GET, ["admin", "ledger"]) if self.jwt.is_some() => {
                self.admin(request).await?;
                let account =
                    query_param(request, "account").ok_or_else(|| ApiError::invalid("account", "is required"))?;
                let account = AccountId::parse(&account).map_err(|e| ApiError::invalid("account", &e.to_string()))?;
                let entries = self.app.ledger(&account).await?;
                let entries: Vec<_> = entries.iter().map(LedgerLine::from).collect();
                Ok(ok_json(&json!({ "entries": entries })))
            }
            _ if self.serves(&segments) => Err(ApiError::MethodNotAllowed),
            _ => Err(ApiError::NotFound("route")),
        }
    }

    async fn stripe_webhook(&self, webhooks: &Webhooks, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
        if request.body().len() > MAX_WEBHOOK_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        let signature = request.headers().get("stripe-signature").map(|value| value.to_str().unwrap_or_default());
        let ingested = self.app.ingest_stripe(webhooks, signature, request.body()).await?;
        Ok(ok_json(&json!({ "received": true, "id": ingested.event_id, "duplicate": ingested.duplicate })))
    }

    /// Whether this deployment serves `segments` with some method.
    fn serves(&self, segments: &[&str]) -> bool {
        match segments {
            ["health"] => true,
            ["webhooks", "stripe"] => self.webhooks.is_some(),
            ["webhooks", "workflows", _] => self.orchestrator.is_some(),
            ["api", "checkout" | "portal"] => self.jwt.is_some() && self.checkout.is_some(),
            ["api", "me", "purchases" | "entitlements"] => self.jwt.is_some(),
            ["api", "keys"] | ["api", "keys", _] | ["api", "me"] => self.jwt.is_some() && self.edge.is_some(),
            ["internal", "keys", _] | ["internal", "usage"] => self.edge.is_some(),
            ["admin", "events" | "alerts" | "metrics" | "ledger"] | ["admin", "accounts", _] => self.jwt.is_some(),
            ["admin", "workflows"] | ["admin", "workflows", _] | ["admin", "workflows", _, "run" | "runs"] => {
                self.jwt.is_some() && self.orchestrator.is_some()
            }
            _ => false,
        }
    }

    /// The signed-in account: the JWT's `sub`.
    async fn user(&self, request: &Request<Bytes>) -> Result<AccountId, ApiError> {
        let jwt = self.jwt.as_ref().ok_or(ApiError::Unauthorized)?;
        let identity = jwt.bearer(request.headers(), self.app.clock.now()).await?;
        AccountId::parse_user(&identity.sub).map_err(|_| ApiError::Unauthorized)
    }

    async fn admin(&self, request: &Request<Bytes>) -> Result<(), ApiError> {
        let jwt = self.jwt.as_ref().ok_or(ApiError::Unauthorized)?;
        let identity = jwt.bearer(request.headers(), self.app.clock.now()).await?;
        if identity.admin { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}

/// `/admin/workflows[/{id}[/run]]`.
async fn workflow_admin<S>(
    orchestrator: &Orchestrator<S>,
    method: &Method,
    rest: &[&str],
    body: &Bytes,
) -> Result<Response<Bytes>, ApiError>
where
    S: EventLog + Queue + QueueConsumer + Accounts + Ledger + Workflows + Runs + Alerts + Purchases + RateLimits,
{
    let id = |text: &str| WorkflowId::parse(text).map_err(|e| ApiError::invalid("workflow_id", &e.to_string()));
    match (method, rest) {
        (&Method::POST, []) => {
            let workflow = orchestrator.register(workflows::spec(body)?).await?;
            Ok(json_response(StatusCode::CREATED, &workflow))
        }
        (&Method::GET, []) => Ok(ok_json(&json!({ "workflows": orchestrator.workflows().await? }))),
        (&Method::GET, [workflow]) => Ok(ok_json(&orchestrator.workflow(&id(workflow)?).await?)),
        (&Method::PATCH, [workflow]) => {
            let patch = workflows::patch(body)?;
            Ok(ok_json(&orchestrator.change(&id(workflow)?, &patch).await?))
        }
        (&Method::GET, [workflow, "runs"]) => {
            Ok(ok_json(&json!({ "runs": orchestrator.recent_runs(&id(workflow)?).await? })))
        }
        (&Method::POST, [workflow, "run"]) => {
            let run = orchestrator.start_now(&id(workflow)?).await?;
            Ok(json_response(StatusCode::ACCEPTED, &run))
        }
        (_, [] | [_] | [_, "run" | "runs"]) => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::NotFound("route")),
    }
}

fn limit(request: &Request<Bytes>) -> Result<usize, ApiError> {
    Ok(query_param(request, "limit")
        .map(|value| value.parse::<usize>().map_err(|_| ApiError::invalid("limit", "must be a positive number")))
        .transpose()?
        .unwrap_or(DEFAULT_LIST_LIMIT)
        .clamp(1, MAX_LIST_LIMIT))
}

/// A ledger entry as the admin API shows it.
#[derive(Serialize)]
struct LedgerLine<'a> {
    id: &'a str,
    kind: &'static str,
    amount_cents: i64,
    currency: &'a str,
    event_id: &'a str,
    payment_ref: &'a str,
}

impl<'a> From<&'a tollgate_core::ledger::LedgerEntry> for LedgerLine<'a> {
    fn from(entry: &'a tollgate_core::ledger::LedgerEntry) -> Self {
        Self {
            id: &entry.id,
            kind: entry.kind.as_str(),
            amount_cents: entry.amount.amount,
            currency: entry.amount.currency.as_str(),
            event_id: &entry.event_id,
            payment_ref: &entry.payment_ref,
        }
    }
}

fn query_param(request: &Request<Bytes>, name: &str) -> Option<String> {
    request.uri().query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Bytes> {
    let body = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(body))
        .expect("a status and a static header always build")
}

pub(crate) fn ok_json(body: &impl Serialize) -> Response<Bytes> {
    json_response(StatusCode::OK, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(percent_decode("a%40b.c"), "a@b.c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("x+y"), "x y");
    }
}
