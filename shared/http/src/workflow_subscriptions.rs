//! A subscriber's workflow subscriptions: `GET /api/me/workflow-subscriptions` and
//! `PATCH /api/me/workflow-subscriptions/{id}` (params, pause), with a user JWT.

use crate::Auth;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Admin, Guarded, JsonBody, Shared, User};
use crate::views::ScheduleView;
use axum::extract::{Path, State};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tollgate_app::instances::{InstanceChange, InstanceError, InstanceView, Instances};
use tollgate_app::sales::SalesStore;
use tollgate_core::ids::{AccountId, SubscriptionId};
use utoipa::ToSchema;

pub fn router<S: SalesStore + 'static>(auth: Arc<Auth>, instances: Arc<Instances<S>>) -> Router {
    Router::new()
        .route("/api/me/workflow-subscriptions", get(list::<S>))
        .route("/api/me/workflow-subscriptions/{id}", patch(change::<S>))
        .route("/admin/accounts/{account}/workflow-subscriptions", get(of_account::<S>))
        .with_state(Guarded::new(auth, instances))
}

/// A subscriber's instance of a workflow subscription.
#[derive(Serialize, ToSchema)]
pub struct WorkflowSubscriptionView {
    /// The Stripe subscription (`sub_…`).
    pub id: String,
    pub sku: String,
    pub workflow_id: String,
    /// Each run's `input`.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// `active`, `paused` or `stopped`.
    pub status: &'static str,
    /// Paused by the subscriber (a `paused` status may also come from an unpaid renewal).
    pub paused: bool,
    pub schedule: Option<ScheduleView>,
    /// Unix seconds; `null` when stopped.
    pub next_run: Option<i64>,
    /// The latest run's id (`GET /v1/runs/{run_id}`).
    pub last_run: Option<String>,
}

impl From<&InstanceView> for WorkflowSubscriptionView {
    fn from(view: &InstanceView) -> Self {
        let instance = &view.instance;
        WorkflowSubscriptionView {
            id: instance.id.to_string(),
            sku: instance.sku.to_string(),
            workflow_id: instance.workflow_id.to_string(),
            params: instance.params.clone(),
            status: view.status.as_str(),
            paused: instance.paused,
            schedule: view.schedule.as_ref().map(|schedule| ScheduleView {
                cron: schedule.spec().cron.clone(),
                timezone: schedule.spec().timezone.clone(),
            }),
            next_run: instance.next_run.filter(|_| !instance.stopped).map(|at| at.0),
            last_run: instance.last_run.as_ref().map(ToString::to_string),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WorkflowSubscriptionList {
    /// Oldest first.
    pub data: Vec<WorkflowSubscriptionView>,
}

/// What a subscriber changes: either or both.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstanceChangeBody {
    /// New parameters, checked against the subscription's `params_schema`.
    #[schema(value_type = Option<Object>)]
    params: Option<serde_json::Value>,
    /// `true` pauses the runs; `false` resumes them at the next scheduled time.
    paused: Option<bool>,
}

impl From<InstanceError> for ApiError {
    fn from(error: InstanceError) -> Self {
        let message = error.to_string();
        match error {
            InstanceError::NotFound => ApiError::NotFound("workflow subscription"),
            InstanceError::InvalidParams(refusal) => {
                ApiError::InvalidParams { pointer: refusal.pointer, reason: message }
            }
            InstanceError::Stopped => ApiError::Conflict { code: "subscription_ended", message },
            InstanceError::Changed => ApiError::Conflict { code: "changed_meanwhile", message },
            InstanceError::Store(error) => ApiError::from_port(&error),
            InstanceError::Sale(error) => error.into(),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/me/workflow-subscriptions",
    tag = "buyers",
    operation_id = "list_workflow_subscriptions",
    summary = "The signed-in subscriber's workflow subscriptions (strategies) and where each stands",
    responses(
        (status = 200, description = "oldest first", body = WorkflowSubscriptionList),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list<S: SalesStore>(
    State(instances): Shared<Arc<Instances<S>>>,
    User(account): User,
) -> Result<Json<WorkflowSubscriptionList>, ApiError> {
    let views = instances.list(&account).await?;
    Ok(Json(WorkflowSubscriptionList { data: views.iter().map(WorkflowSubscriptionView::from).collect() }))
}

#[utoipa::path(
    patch,
    path = "/api/me/workflow-subscriptions/{id}",
    tag = "buyers",
    operation_id = "change_workflow_subscription",
    summary = "Change a workflow subscription's params, or pause or resume it, without a new checkout",
    params(("id" = String, Path, description = "the Stripe subscription id (`sub_…`)")),
    request_body = InstanceChangeBody,
    responses(
        (status = 200, description = "as it now stands", body = WorkflowSubscriptionView),
        (status = 400, description = "`invalid_params` (`field` is the JSON pointer), or a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 404, description = "no such workflow subscription of this account", body = ErrorResponse),
        (status = 409, description = "`subscription_ended`, or `changed_meanwhile`", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn change<S: SalesStore>(
    State(instances): Shared<Arc<Instances<S>>>,
    User(account): User,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<InstanceChangeBody>,
) -> Result<Json<WorkflowSubscriptionView>, ApiError> {
    let id = SubscriptionId::parse(&id).map_err(|_| ApiError::NotFound("workflow subscription"))?;
    let change = InstanceChange { params: body.params, paused: body.paused };
    Ok(Json(WorkflowSubscriptionView::from(&instances.change(&account, &id, change).await?)))
}

#[utoipa::path(
    get,
    path = "/admin/accounts/{account}/workflow-subscriptions",
    tag = "admin",
    operation_id = "account_workflow_subscriptions",
    summary = "A customer's workflow subscriptions (strategies) and where each stands",
    params(("account" = String, Path, description = "the account id")),
    responses(
        (status = 200, description = "oldest first", body = WorkflowSubscriptionList),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn of_account<S: SalesStore>(
    State(instances): Shared<Arc<Instances<S>>>,
    _: Admin,
    Path(account): Path<String>,
) -> Result<Json<WorkflowSubscriptionList>, ApiError> {
    let account = AccountId::parse(&account).map_err(|e| ApiError::invalid("account", &e.to_string()))?;
    let views = instances.list(&account).await?;
    Ok(Json(WorkflowSubscriptionList { data: views.iter().map(WorkflowSubscriptionView::from).collect() }))
}
