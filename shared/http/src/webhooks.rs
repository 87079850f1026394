//! `/webhooks/stripe` (Stripe's deliveries) and `/webhooks/workflows/{run_id}` (a run's
//! callback, opened by its token).

use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Params, RawBody};
use crate::views::{CallbackView, StripeReceipt};
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use http::{HeaderMap, header};
use serde::Deserialize;
use std::sync::Arc;
use tollgate_app::ingest::Ingest;
use tollgate_app::orchestrator::{OrchestrationStore, Orchestrator};
use tollgate_app::ports::event_log::EventLog;
use tollgate_app::ports::intake::Intake;
use utoipa::IntoParams;

/// Stripe's deliveries, taken in.
pub fn stripe_router<S: EventLog + Intake + 'static>(ingest: Arc<Ingest<S>>) -> Router {
    Router::new().route("/webhooks/stripe", post(stripe::<S>)).with_state(ingest)
}

/// Runs' results, from their workflows.
pub fn callback_router<S: OrchestrationStore + 'static>(orchestrator: Arc<Orchestrator<S>>) -> Router {
    Router::new().route("/webhooks/workflows/{run_id}", post(callback::<S>)).with_state(orchestrator)
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
pub(crate) async fn stripe<S: EventLog + Intake>(
    State(ingest): State<Arc<Ingest<S>>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<StripeReceipt>, ApiError> {
    let signature = headers.get("stripe-signature").map(|value| value.to_str().unwrap_or_default());
    let ingested = ingest.ingest_stripe(signature, &body).await?;
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
pub(crate) async fn callback<S: OrchestrationStore>(
    State(orchestrator): State<Arc<Orchestrator<S>>>,
    Path(run_id): Path<String>,
    Params(query): Params<CallbackQuery>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<CallbackView>, ApiError> {
    // In the callback URL as given; a workflow tool that moves it to a bearer header works too.
    let bearer = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let token = query.token.or_else(|| bearer.and_then(tollgate_core::api_key::bearer).map(str::to_owned));
    Ok(Json(CallbackView::from(&orchestrator.callback(&run_id, token.as_deref(), &body).await?)))
}
