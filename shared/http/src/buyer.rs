//! The signed-in buyer's routes: what they bought and may use, and the links to pay
//! (`/api/checkout`) and to manage their subscription (`/api/portal`).

use crate::error::ApiError;
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

async fn purchases<S: Store>(State(api): State<Shared<S>>, User(account): User) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "purchases": api.app.purchases(&account).await? })))
}

async fn entitlements<S: Store>(
    State(api): State<Shared<S>>,
    User(account): User,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(api.app.entitlements(&account).await?))
}

fn checkouts<S>(api: &Shared<S>) -> Result<&Checkout<S>, ApiError> {
    api.checkout.as_deref().ok_or(ApiError::NotFound("route"))
}

/// The body is read by the checkout use case, which names the field at fault.
async fn checkout<S: Store>(
    State(api): State<Shared<S>>,
    User(account): User,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(checkouts(&api)?.checkout(&account, &body).await?))
}

async fn portal<S: Store>(State(api): State<Shared<S>>, User(account): User) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "url": checkouts(&api)?.portal(&account).await? })))
}
