//! `/webhooks/stripe` (Stripe's deliveries) and `/webhooks/workflows/{run_id}` (a run's
//! callback, opened by its token).

use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Params, RawBody};
use crate::views::{CallbackView, StripeReceipt};
use crate::{Shared, Store};
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use http::{HeaderMap, header};
use serde::Deserialize;
use utoipa::IntoParams;

pub(crate) fn stripe_routes<S: Store>() -> Router<Shared<S>> {
    Router::new().route("/webhooks/stripe", post(stripe::<S>))
}

pub(crate) fn workflow_routes<S: Store>() -> Router<Shared<S>> {
    Router::new().route("/webhooks/workflows/{run_id}", post(callback::<S>))
}

#[utoipa::path(
    post,
    path = "/webhooks/stripe",
    tag = "webhooks",
    summary = "Stripe's deliveries",
    request_body(content = Object, description = "a Stripe event, as Stripe signed it"),
    responses(
        (status = 200, description = "recorded and queued", body = StripeReceipt),
        (status = 400, description = "a bad signature or payload", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`: over 1 MiB", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("stripe_signature" = []))
)]
pub(crate) async fn stripe<S: Store>(
    State(api): State<Shared<S>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<StripeReceipt>, ApiError> {
    let webhooks = api.webhooks.as_ref().ok_or(ApiError::NotFound("route"))?;
    let signature = headers.get("stripe-signature").map(|value| value.to_str().unwrap_or_default());
    let ingested = api.app.ingest_stripe(webhooks, signature, &body).await?;
    Ok(Json(StripeReceipt::from(&ingested)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CallbackQuery {
    /// The run's token, as in the callback URL (or as `Authorization: Bearer`).
    token: Option<String>,
}

#[utoipa::path(
    post,
    path = "/webhooks/workflows/{run_id}",
    tag = "webhooks",
    summary = "A run's result, from its workflow",
    params(("run_id" = String, Path, description = "the run"), CallbackQuery),
    request_body(content = Object, description = "`{workflowId, status, earnings, timestamp?, currency?, metadata?}`; `earnings` in dollars"),
    responses(
        (status = 200, description = "the run after the callback", body = CallbackView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "`invalid_token`", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    )
)]
pub(crate) async fn callback<S: Store>(
    State(api): State<Shared<S>>,
    Path(run_id): Path<String>,
    Params(query): Params<CallbackQuery>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<CallbackView>, ApiError> {
    let orchestrator = api.orchestrator.as_ref().ok_or(ApiError::NotFound("route"))?;
    // In the callback URL as given; a workflow tool that moves it to a bearer header works too.
    let bearer = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let token = query.token.or_else(|| bearer.and_then(tollgate_core::api_key::bearer).map(str::to_owned));
    Ok(Json(CallbackView::from(&orchestrator.callback(&run_id, token.as_deref(), &body).await?)))
}
