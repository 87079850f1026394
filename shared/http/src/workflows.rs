//! The workflow routes, for a JWT with the admin role: register, list, read, change, start
//! and list the runs of a workflow; and their body, typed, checked into the domain's spec or
//! patch with the field at fault named.

use crate::Auth;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Admin, Guarded, JsonBody, Shared};
use crate::views::{RunList, RunView, WorkflowList, WorkflowView};
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;
use tollgate_app::orchestrator::{OrchestrationStore, Orchestrator, WorkflowPatch};
use tollgate_core::cron::Schedule;
use tollgate_core::ids::WorkflowId;
use tollgate_core::workflow::{DEFAULT_TIMEOUT_SECONDS, WebhookUrl, WorkflowSpec};
use utoipa::ToSchema;

/// A workflow as registered (`id`, `name`, `webhook_url` and `schedule` required) or
/// changed (any field but `id`). Every field is optional here so that a missing one is
/// named, not reported as an unreadable body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkflowBody {
    /// Letters, digits, `_` and `-`; fixed once registered.
    id: Option<String>,
    name: Option<String>,
    /// Where a run's start is posted (http or https).
    webhook_url: Option<String>,
    schedule: Option<ScheduleBody>,
    /// IANA zone for a `schedule` given as a string; default `UTC`.
    timezone: Option<String>,
    /// Default true.
    enabled: Option<bool>,
    /// Open only to members; default false.
    premium: Option<bool>,
    /// Seconds a run has to call back; default 3600.
    timeout_s: Option<u32>,
}

/// `"0 9 * * *"`, or `{"cron": "0 9 * * *", "timezone": "Europe/Paris"}`.
#[derive(Deserialize, ToSchema)]
#[serde(untagged, expecting = "a cron string or {\"cron\", \"timezone\"}")]
enum ScheduleBody {
    Cron(String),
    Zoned(ZonedSchedule),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ZonedSchedule {
    cron: String,
    timezone: Option<String>,
}

impl WorkflowBody {
    fn schedule(&self) -> Result<Option<Schedule>, ApiError> {
        let outer = self.timezone.as_deref();
        // A zone is checked even with no schedule beside it: taken and ignored, a typo would go unseen.
        if let Some(zone) = outer
            && !tollgate_core::cron::is_zone(zone)
        {
            return Err(ApiError::invalid(
                "timezone",
                &format!("unknown time zone {zone:?} (use an IANA name such as Europe/Paris)"),
            ));
        }
        let (cron, zone) = match &self.schedule {
            None => return Ok(None),
            Some(ScheduleBody::Cron(cron)) => (cron, outer),
            Some(ScheduleBody::Zoned(ZonedSchedule { cron, timezone })) => (cron, timezone.as_deref().or(outer)),
        };
        Schedule::parse(cron, zone.unwrap_or("UTC"))
            .map(Some)
            .map_err(|error| ApiError::invalid("schedule", &error.to_string()))
    }

    fn webhook_url(&self) -> Result<Option<WebhookUrl>, ApiError> {
        let parse = |url: &String| WebhookUrl::parse(url).map_err(|e| ApiError::invalid("webhook_url", &e.to_string()));
        self.webhook_url.as_ref().map(parse).transpose()
    }

    /// A registration.
    pub(crate) fn spec(self) -> Result<WorkflowSpec, ApiError> {
        let required = |field| ApiError::invalid(field, "is required");
        let id = self.id.as_deref().ok_or_else(|| required("id"))?;
        Ok(WorkflowSpec {
            id: WorkflowId::parse(id).map_err(|error| ApiError::invalid("id", &error.to_string()))?,
            webhook_url: self.webhook_url()?.ok_or_else(|| required("webhook_url"))?,
            schedule: self.schedule()?.ok_or_else(|| required("schedule"))?,
            name: self.name.ok_or_else(|| required("name"))?,
            enabled: self.enabled.unwrap_or(true),
            premium: self.premium.unwrap_or(false),
            timeout_s: self.timeout_s.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
        })
    }

    /// A change.
    pub(crate) fn patch(self) -> Result<WorkflowPatch, ApiError> {
        if self.id.is_some() {
            return Err(ApiError::invalid("id", "cannot be changed"));
        }
        Ok(WorkflowPatch {
            webhook_url: self.webhook_url()?,
            schedule: self.schedule()?,
            name: self.name,
            enabled: self.enabled,
            premium: self.premium,
            timeout_s: self.timeout_s,
        })
    }
}

/// The operator's workflows: registered, changed, started by hand, their runs listed.
pub fn router<S: OrchestrationStore + 'static>(auth: Arc<Auth>, orchestrator: Arc<Orchestrator<S>>) -> Router {
    Router::new()
        .route("/admin/workflows", get(list_workflows::<S>).post(register::<S>))
        .route("/admin/workflows/{id}", get(workflow::<S>).patch(change::<S>))
        .route("/admin/workflows/{id}/runs", get(runs::<S>))
        .route("/admin/workflows/{id}/run", post(start_now::<S>))
        .with_state(Guarded::new(auth, orchestrator))
}

fn workflow_id(text: &str) -> Result<WorkflowId, ApiError> {
    WorkflowId::parse(text).map_err(|e| ApiError::invalid("workflow_id", &e.to_string()))
}

#[utoipa::path(
    post,
    path = "/admin/workflows",
    tag = "workflows",
    summary = "Register a workflow",
    request_body(content = WorkflowBody, description = "`id`, `name`, `webhook_url` and `schedule` are required"),
    responses(
        (status = 201, description = "registered", body = WorkflowView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 409, description = "`workflow_exists`", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn register<S: OrchestrationStore>(
    State(workflows): Shared<Arc<Orchestrator<S>>>,
    _: Admin,
    JsonBody(body): JsonBody<WorkflowBody>,
) -> Result<impl IntoResponse, ApiError> {
    let workflow = workflows.register(body.spec()?).await?;
    Ok((StatusCode::CREATED, Json(WorkflowView::from(&workflow))))
}

#[utoipa::path(
    get,
    path = "/admin/workflows",
    tag = "workflows",
    summary = "Every workflow",
    responses(
        (status = 200, description = "every workflow", body = WorkflowList),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list_workflows<S: OrchestrationStore>(
    State(workflows): Shared<Arc<Orchestrator<S>>>,
    _: Admin,
) -> Result<Json<WorkflowList>, ApiError> {
    let workflows = workflows.workflows().await?;
    Ok(Json(WorkflowList { workflows: workflows.iter().map(WorkflowView::from).collect() }))
}

#[utoipa::path(
    get,
    path = "/admin/workflows/{id}",
    tag = "workflows",
    summary = "One workflow",
    params(("id" = String, Path, description = "the workflow id")),
    responses(
        (status = 200, description = "the workflow", body = WorkflowView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 404, description = "no such thing", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn workflow<S: OrchestrationStore>(
    State(workflows): Shared<Arc<Orchestrator<S>>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(WorkflowView::from(&workflows.workflow(&workflow_id(&id)?).await?)))
}

#[utoipa::path(
    patch,
    path = "/admin/workflows/{id}",
    tag = "workflows",
    summary = "Change a workflow",
    params(("id" = String, Path, description = "the workflow id")),
    request_body(content = WorkflowBody, description = "any field but `id`"),
    responses(
        (status = 200, description = "the workflow as changed", body = WorkflowView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 404, description = "no such thing", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn change<S: OrchestrationStore>(
    State(workflows): Shared<Arc<Orchestrator<S>>>,
    _: Admin,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<WorkflowBody>,
) -> Result<impl IntoResponse, ApiError> {
    let patch = body.patch()?;
    Ok(Json(WorkflowView::from(&workflows.change(&workflow_id(&id)?, &patch).await?)))
}

#[utoipa::path(
    get,
    path = "/admin/workflows/{id}/runs",
    tag = "workflows",
    summary = "A workflow's runs of the last 7 days",
    params(("id" = String, Path, description = "the workflow id")),
    responses(
        (status = 200, description = "its runs, newest first", body = RunList),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 404, description = "no such thing", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn runs<S: OrchestrationStore>(
    State(workflows): Shared<Arc<Orchestrator<S>>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<RunList>, ApiError> {
    let runs = workflows.recent_runs(&workflow_id(&id)?).await?;
    Ok(Json(RunList { runs: runs.iter().map(RunView::from).collect() }))
}

#[utoipa::path(
    post,
    path = "/admin/workflows/{id}/run",
    tag = "workflows",
    summary = "Start a run now, under the caps",
    params(("id" = String, Path, description = "the workflow id")),
    responses(
        (status = 202, description = "claimed and queued for the runner", body = RunView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 404, description = "no such thing", body = ErrorResponse),
        (status = 409, description = "`already_running`", body = ErrorResponse),
        (status = 429, description = "`daily_cap_reached`, `concurrency_cap_reached`", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn start_now<S: OrchestrationStore>(
    State(workflows): Shared<Arc<Orchestrator<S>>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let run = workflows.start_now(&workflow_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(RunView::from(&run))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::parse_json;

    fn field(result: Result<impl std::fmt::Debug, ApiError>) -> String {
        match result.unwrap_err() {
            ApiError::InvalidRequest { field, .. } => field.into_owned(),
            other => panic!("{other:?}"),
        }
    }

    fn spec(body: &[u8]) -> Result<WorkflowSpec, ApiError> {
        parse_json::<WorkflowBody>(body)?.spec()
    }

    fn patch(body: &[u8]) -> Result<WorkflowPatch, ApiError> {
        parse_json::<WorkflowBody>(body)?.patch()
    }

    #[test]
    fn a_registration_names_the_bad_field() {
        let ok = br#"{"id":"w","name":"W","webhook_url":"http://127.0.0.1:1/x","schedule":"*/5 * * * *","timezone":"Europe/Paris"}"#;
        let registered = spec(ok).unwrap();
        assert_eq!(
            (registered.enabled, registered.premium, registered.timeout_s),
            (true, false, DEFAULT_TIMEOUT_SECONDS)
        );
        assert_eq!(registered.schedule.spec().timezone, "Europe/Paris");
        let zoned = br#"{"id":"w","name":"W","webhook_url":"http://a/","schedule":{"cron":"0 9 * * *","timezone":"Asia/Tokyo"}}"#;
        assert_eq!(spec(zoned).unwrap().schedule.spec().timezone, "Asia/Tokyo");
        assert_eq!(field(spec(br#"{"name":"W"}"#)), "id");
        assert_eq!(field(spec(br#"{"id":"w","name":"W","webhook_url":"x","schedule":"* * * * *"}"#)), "webhook_url");
        assert_eq!(field(spec(br#"{"id":"w","name":"W","webhook_url":"http://a/","schedule":"* * *"}"#)), "schedule");
        assert_eq!(field(spec(br#"{"id":"w","name":"W","webhook_url":"http://a/","schedule":7}"#)), "schedule");
        assert_eq!(field(spec(br#"{"id":"w","nmae":"W"}"#)), "nmae");
        assert_eq!(field(spec(b"[]")), "body");
        assert_eq!(field(patch(br#"{"enabled":"yes"}"#)), "enabled");
        assert_eq!(field(patch(br#"{"timeout_s":-1}"#)), "timeout_s");
        assert_eq!(field(patch(br#"{"id":"other"}"#)), "id");
    }
}
