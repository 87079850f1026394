//! Catching up with Stripe's own record of events: reconciliation and replay (admin).

use crate::Auth;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Admin, OptionalJsonBody};
use crate::extract::{Guarded, Shared};
use crate::views::{ReconcileView, ReplayView};
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;
use tollgate_app::ports::alerts::Alerts;
use tollgate_app::ports::cursors::Cursors;
use tollgate_app::ports::event_log::EventLog;
use tollgate_app::ports::intake::Intake;
use tollgate_app::ports::queue::Queue;
use tollgate_app::reconcile::{Reconciler, parse_since};
use tollgate_app::replay::Replay;
use tollgate_core::ids::EventId;
use utoipa::ToSchema;

/// The ports reconciliation and replay use.
pub trait HistoryStore: EventLog + Intake + Queue + Cursors + Alerts {}

impl<S: EventLog + Intake + Queue + Cursors + Alerts> HistoryStore for S {}

/// Stripe's own record of events, read by the operator.
pub struct StripeHistory<S> {
    pub reconciler: Reconciler<S>,
    pub replay: Replay<S>,
}

pub fn router<S: HistoryStore + 'static>(auth: Arc<Auth>, history: StripeHistory<S>) -> Router {
    Router::new()
        .route("/admin/reconcile", post(reconcile::<S>))
        .route("/admin/events/{id}/replay", post(replay::<S>))
        .with_state(Guarded::new(auth, history))
}

/// Body of `POST /admin/reconcile`; empty is fine.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReconcileBody {
    /// How far back to list (`72h`, `30m`, `7d`); default: from where the last run stopped, less an hour.
    since: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/reconcile",
    tag = "admin",
    summary = "List Stripe's events and take in those no webhook delivered",
    request_body(content = Option<ReconcileBody>, description = "optional `since`"),
    responses(
        (status = 200, description = "what was listed, new and already had", body = ReconcileView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 502, description = "`payment_provider_error`: Stripe refused the list", body = ErrorResponse),
        (status = 503, description = "Stripe or storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn reconcile<S: HistoryStore>(
    State(history): Shared<StripeHistory<S>>,
    _: Admin,
    OptionalJsonBody(body): OptionalJsonBody<ReconcileBody>,
) -> Result<Json<ReconcileView>, ApiError> {
    let since = body.since.as_deref().map(parse_since).transpose().map_err(|e| ApiError::invalid("since", &e))?;
    let found = history.reconciler.reconcile(since).await?;
    Ok(Json(ReconcileView::from(&found)))
}

#[utoipa::path(
    post,
    path = "/admin/events/{id}/replay",
    tag = "admin",
    summary = "Fetch an event from Stripe and queue it again",
    params(("id" = String, Path, description = "the event id, `evt_…`")),
    responses(
        (status = 202, description = "queued; a `failed` event is applied again, an applied one changes nothing", body = ReplayView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 404, description = "`not_found`: Stripe does not know the event", body = ErrorResponse),
        (status = 502, description = "`payment_provider_error`: Stripe refused the request", body = ErrorResponse),
        (status = 503, description = "Stripe or storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn replay<S: HistoryStore>(
    State(history): Shared<StripeHistory<S>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ReplayView>), ApiError> {
    let id = EventId::parse(&id).map_err(|e| ApiError::invalid("id", &e.to_string()))?;
    history.replay.replay(&id).await?;
    Ok((StatusCode::ACCEPTED, Json(ReplayView { id: id.to_string(), status: "queued" })))
}
