//! tollgate's HTTP surface, shared by the Lambda functions and the local stack: a router
//! per capability (`webhooks`, `keys`, `buyer`, `admin`, `live`, `workflows`,
//! `stripe_history`, `payouts`, `pages`, `openapi`), each with a state holding exactly the
//! use cases it calls. A deployment merges the routers it serves with [`deployment`]; on
//! Lambda `lambda_http` serves the result, and `tollgate dev` serves all of them at once.
//!
//! Each route is declared once, in the module of its capability. Errors become responses
//! in exactly one place ([`error::ApiError`]), and [`finish`] gives every error answer —
//! an unknown route, a wrong method — the same JSON shape with `request_id`.

pub mod admin;
pub mod buyer;
pub mod customer_runs;
pub mod endpoints;
pub mod error;
mod extract;
mod finish;
pub mod jwt;
pub mod keys;
pub mod live;
pub mod openapi;
pub mod pages;
pub mod payouts;
pub mod stripe_history;
pub mod views;
pub mod webhooks;
pub mod workflow_subscriptions;
pub mod workflows;

pub use finish::{REQUEST_ID_HEADER, RequestId, refusal};

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use error::ApiError;
use http::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tollgate_app::Clock;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// Stripe's payloads stay far below this; anything larger is not from Stripe. No route
/// takes a larger body.
pub const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

/// A request still unanswered after this gets `503` with `Retry-After`: API Gateway gives
/// up at 30 s, and every route's work is a few storage calls or one Stripe call.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(25);

/// Who is calling: the JWT verifier and the clock tokens are checked against. Every
/// router with `/api/*` or `/admin/*` routes holds one.
pub struct Auth {
    pub verifier: jwt::Verifier,
    pub clock: Arc<dyn Clock>,
}

/// A deployment's routes: the capability routers it serves, merged, with `/health`. A
/// route that is not served is not in any of them, so it is `404 not_found` like any
/// unknown route; a known one with another method is `405 method_not_allowed` with `Allow`.
pub fn deployment(routers: impl IntoIterator<Item = Router>) -> Router {
    routers
        .into_iter()
        .fold(Router::new().route("/health", get(health)), Router::merge)
        .fallback(|| async { ApiError::NotFound("route") })
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, REQUEST_TIMEOUT))
        .layer(RequestBodyLimitLayer::new(MAX_WEBHOOK_BYTES))
        .layer(axum::middleware::from_fn(finish::finish))
}

async fn health() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}
