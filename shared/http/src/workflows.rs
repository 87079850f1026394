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
use std::num::NonZeroU64;
use std::sync::Arc;
use tollgate_app::orchestrator::{OrchestrationStore, Orchestrator, WorkflowPatch};
use tollgate_core::cron::Schedule;
use tollgate_core::ids::{Sku, WorkflowId};
use tollgate_core::meters::MeterName;
use tollgate_core::workflow::WorkflowSpec;
use tollgate_core::workflow::{Access, Charge, DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_TIMEOUT_SECONDS, Sell, WebhookUrl};
use utoipa::ToSchema;

/// A workflow as registered (`id`, `name`, `webhook_url` required, and `schedule` unless
/// it is sold) or changed (any field but `id`). Every field is optional here so that a missing one is
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
    /// Sold to customers, who run it with their API keys (`/v1/workflows/{id}/runs`).
    sell: Option<SellBody>,
}

/// How a workflow is sold: the plan meter a run is charged to and its cost, who may run it,
/// the JSON Schema of a run's `input`, when it is charged, and the most output it returns.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SellBody {
    /// A meter of the plans (`generations`).
    meter: String,
    /// Units of the meter one run costs; default 1.
    cost: Option<u64>,
    /// `public` (default), `premium` (members) or `plans` (those in `plans`).
    access: Option<AccessBody>,
    /// With `access: plans`: the plan SKUs that may run it (`["api_pro"]`).
    plans: Option<Vec<String>>,
    /// A JSON Schema (draft 2020-12 by default) a run's `input` must meet; default `{}`.
    #[schema(value_type = Object)]
    input_schema: Option<serde_json::Value>,
    /// `on_start` (default: given back if cancelled or failed before it starts) or
    /// `on_success` (charged only when it completes).
    charge: Option<ChargeBody>,
    /// The most output a callback may carry, in bytes: at most (and by default) 262144.
    max_output_bytes: Option<u32>,
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum AccessBody {
    Public,
    Premium,
    Plans,
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ChargeBody {
    OnStart,
    OnSuccess,
}

impl SellBody {
    fn sell(self) -> Result<Sell, ApiError> {
        let plans = self.plans.unwrap_or_default().iter().map(|sku| Sku::parse(sku)).collect::<Result<Vec<_>, _>>();
        Sell {
            meter: MeterName::parse(&self.meter).map_err(|e| ApiError::invalid("sell.meter", &e.to_string()))?,
            cost: NonZeroU64::new(self.cost.unwrap_or(1))
                .ok_or_else(|| ApiError::invalid("sell.cost", "must be at least 1"))?,
            access: match self.access {
                None | Some(AccessBody::Public) => Access::Public,
                Some(AccessBody::Premium) => Access::Premium,
                Some(AccessBody::Plans) => Access::Plans,
            },
            plans: plans.map_err(|e| ApiError::invalid("sell.plans", &e.to_string()))?,
            input_schema: self.input_schema.unwrap_or_else(|| serde_json::json!({})),
            charge: match self.charge {
                None | Some(ChargeBody::OnStart) => Charge::OnStart,
                Some(ChargeBody::OnSuccess) => Charge::OnSuccess,
            },
            max_output_bytes: self.max_output_bytes.unwrap_or(DEFAULT_MAX_OUTPUT_BYTES),
        }
        .check()
        .map_err(|invalid| ApiError::invalid(invalid.field, &invalid.reason))
    }
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
        let id = WorkflowId::parse(id).map_err(|error| ApiError::invalid("id", &error.to_string()))?;
        let webhook_url = self.webhook_url()?.ok_or_else(|| required("webhook_url"))?;
        let schedule = self.schedule()?;
        let sell = self.sell.map(SellBody::sell).transpose()?;
        if schedule.is_none() && sell.is_none() {
            return Err(ApiError::invalid("schedule", "is required unless the workflow is sold"));
        }
        Ok(WorkflowSpec {
            id,
            webhook_url,
            schedule,
            name: self.name.ok_or_else(|| required("name"))?,
            enabled: self.enabled.unwrap_or(true),
            premium: self.premium.unwrap_or(false),
            timeout_s: self.timeout_s.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
            sell,
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
            sell: self.sell.map(SellBody::sell).transpose()?,
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
    let id = workflow_id(&id)?;
    let workflow = workflows.workflow(&id).await?;
    let active_subscribers = workflows.active_subscribers(&id).await?;
    Ok(Json(WorkflowView { active_subscribers: Some(active_subscribers), ..WorkflowView::from(&workflow) }))
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
        assert_eq!(registered.schedule.as_ref().unwrap().spec().timezone, "Europe/Paris");
        let zoned = br#"{"id":"w","name":"W","webhook_url":"http://a/","schedule":{"cron":"0 9 * * *","timezone":"Asia/Tokyo"}}"#;
        assert_eq!(spec(zoned).unwrap().schedule.unwrap().spec().timezone, "Asia/Tokyo");
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

    #[test]
    fn a_sold_workflow_needs_no_schedule_and_its_sell_is_checked_field_by_field() {
        let base = r#"{"id":"images","name":"Images","webhook_url":"https://n8n.example.com/webhook/images","#;
        let sold = |sell: &str| spec(format!("{base}\"sell\":{sell}}}").as_bytes());
        let registered = sold(r#"{"meter":"generations"}"#).unwrap();
        let sell = registered.sell.unwrap();
        assert_eq!(registered.schedule, None);
        assert_eq!((sell.cost.get(), sell.access, sell.charge), (1, Access::Public, Charge::OnStart));
        assert_eq!(
            (sell.input_schema.clone(), sell.max_output_bytes),
            (serde_json::json!({}), DEFAULT_MAX_OUTPUT_BYTES)
        );
        let full = r#"{"meter":"generations","cost":3,"access":"plans","plans":["api_pro"],"charge":"on_success",
                       "input_schema":{"type":"object","properties":{"prompt":{"type":"string"}}},"max_output_bytes":1024}"#;
        let sell = sold(full).unwrap().sell.unwrap();
        assert_eq!(
            (sell.cost.get(), sell.access, sell.plans.len(), sell.charge),
            (3, Access::Plans, 1, Charge::OnSuccess)
        );
        assert_eq!(
            field(spec(format!("{base}\"enabled\":true}}").as_bytes())),
            "schedule",
            "neither sold nor scheduled"
        );
        assert_eq!(field(sold(r#"{"meter":"Not A Meter"}"#)), "sell.meter");
        assert_eq!(field(sold(r#"{"meter":"generations","cost":0}"#)), "sell.cost");
        assert_eq!(field(sold(r#"{"meter":"generations","access":"plans"}"#)), "sell.plans");
        assert_eq!(field(sold(r#"{"meter":"generations","plans":["api_pro"]}"#)), "sell.plans");
        assert_eq!(field(sold(r#"{"meter":"generations","input_schema":"text"}"#)), "sell.input_schema");
        assert_eq!(field(sold(r#"{"meter":"generations","max_output_bytes":262145}"#)), "sell.max_output_bytes");
        assert_eq!(field(sold(r#"{"meter":"generations","charge":"later"}"#)), "sell.charge");
    }
}
