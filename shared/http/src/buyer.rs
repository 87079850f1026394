//! The signed-in buyer's routes: what they bought and may use, and the links to pay
//! (`/api/checkout`) and to manage their subscription (`/api/portal`).

use crate::error::{ApiError, ErrorResponse};
use crate::extract::{RawBody, User};
use crate::{Shared, Store};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tollgate_app::checkout::Checkout;

pub(crate) fn routes<S: Store>() -> Router<Shared<S>> {
    Router::new().route("/api/me/purchases", get(purchases::<S>)).route("/api/me/entitlements", get(entitlements::<S>))
}

pub(crate) fn checkout_routes<S: Store>() -> Router<Shared<S>> {
    Router::new().route("/api/checkout", post(checkout::<S>)).route("/api/portal", post(portal::<S>))
}

#[utoipa::path(
    get,
    path = "/api/me/purchases",
    tag = "buyers",
    summary = "What the signed-in buyer bought",
    responses(
        (status = 200, description = "`{\"purchases\":[…]}`", body = Object),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn purchases<S: Store>(
    State(api): State<Shared<S>>,
    User(account): User,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "purchases": api.app.purchases(&account).await? })))
}

#[utoipa::path(
    get,
    path = "/api/me/entitlements",
    tag = "buyers",
    summary = "What the signed-in buyer may use",
    responses(
        (status = 200, body = Object),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn entitlements<S: Store>(
    State(api): State<Shared<S>>,
    User(account): User,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(api.app.entitlements(&account).await?))
}

fn checkouts<S>(api: &Shared<S>) -> Result<&Checkout<S>, ApiError> {
    api.checkout.as_deref().ok_or(ApiError::NotFound("route"))
}

/// The body is read by the checkout use case, which names the field at fault.
#[utoipa::path(
    post,
    path = "/api/checkout",
    tag = "buyers",
    summary = "A Stripe Checkout Session",
    request_body(content = Object, description = "`{sku, quantity?, referral_code?, success_url?, cancel_url?}`"),
    responses(
        (status = 200, description = "`{\"id\",\"url\"}`", body = Object),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 404, description = "`unknown_sku`", body = ErrorResponse),
        (status = 409, description = "`already_subscribed`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`", body = ErrorResponse),
        (status = 502, description = "`payment_provider_error`", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn checkout<S: Store>(
    State(api): State<Shared<S>>,
    User(account): User,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(checkouts(&api)?.checkout(&account, &body).await?))
}

#[utoipa::path(
    post,
    path = "/api/portal",
    tag = "buyers",
    summary = "A billing-portal link",
    responses(
        (status = 200, description = "`{\"url\"}`", body = Object),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 404, description = "`no_customer`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn portal<S: Store>(
    State(api): State<Shared<S>>,
    User(account): User,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "url": checkouts(&api)?.portal(&account).await? })))
}
