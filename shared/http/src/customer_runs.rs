//! The customer API of workflows sold as APIs: `/v1/workflows` and `/v1/runs`. A caller is
//! an account, named either by the edge (which checked and metered its API key, and signs
//! the call it forwards with `EDGE_SECRET`, account included) or by a user JWT (the
//! account page).

use crate::Auth;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Guarded, Params, RawBody, Shared, parse_json};
use crate::views::{AcceptedRun, CustomerRunList, CustomerRunView, DeliveryList, DeliveryView, OfferList, OfferView};
use axum::extract::{FromRequest, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use std::sync::Arc;
use tollgate_app::ports::customer_runs::RunFilter;
use tollgate_app::sales::{MAX_PAGE, RunRequest, SaleError, Sales, SalesStore};
use tollgate_core::edge::{self, EdgeSecret};
use tollgate_core::ids::{AccountId, RunId, WorkflowId};
use tollgate_core::workflow::RunStatus;
use utoipa::{IntoParams, ToSchema};

/// The customer API's use cases, and the secret the edge signs forwarded calls with.
pub struct Customers<S> {
    pub sales: Arc<Sales<S>>,
    pub edge: EdgeSecret,
}

/// The calling account and the request's body, read whole: the edge's signature covers both.
pub struct Caller {
    account: AccountId,
    body: Bytes,
}

impl<S: Send + Sync> FromRequest<Arc<Guarded<Customers<S>>>> for Caller {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<Guarded<Customers<S>>>) -> Result<Self, ApiError> {
        let headers = request.headers().clone();
        let method = request.method().clone();
        let target =
            request.uri().path_and_query().map_or_else(|| request.uri().path().to_owned(), |pq| pq.to_string());
        let RawBody(body) = RawBody::from_request(request, state).await?;
        let Auth { verifier, clock } = state.auth.as_ref();
        let signature = headers.get(edge::SIGNATURE_HEADER).and_then(|value| value.to_str().ok());
        let account = match signature {
            Some(signature) => {
                let named = headers.get(edge::ACCOUNT_HEADER).and_then(|value| value.to_str().ok()).unwrap_or("");
                edge::verify_call(&state.edge, Some(signature), (method.as_str(), &target, named, &body), clock.now())
                    .map_err(|error| ApiError::Signature { header: "Tollgate-Signature", error })?;
                AccountId::parse(named).map_err(|_| ApiError::Unauthorized)?
            }
            None => {
                let identity = verifier.bearer(&headers, clock.now()).await?;
                AccountId::parse_user(&identity.sub).map_err(|_| ApiError::Unauthorized)?
            }
        };
        Ok(Caller { account, body })
    }
}

/// The customer routes.
pub fn router<S: SalesStore + 'static>(auth: Arc<Auth>, customers: Customers<S>) -> Router {
    Router::new()
        .route("/v1/workflows", get(offers::<S>))
        .route("/v1/workflows/{id}/runs", post(order::<S>))
        .route("/v1/runs", get(list::<S>))
        .route("/v1/runs/{run_id}", get(read::<S>))
        .route("/v1/runs/{run_id}/cancel", post(cancel::<S>))
        .route("/api/me/webhook-deliveries", get(deliveries::<S>))
        .route("/api/me/webhook-deliveries/{id}/retry", post(retry::<S>))
        .with_state(Guarded::new(auth, customers))
}

impl From<SaleError> for ApiError {
    fn from(error: SaleError) -> Self {
        let message = error.to_string();
        match error {
            SaleError::NotFound(what) => ApiError::NotFound(what),
            SaleError::InvalidInput(refusal) => {
                ApiError::InvalidInput { pointer: refusal.pointer, reason: format!("input is invalid: {message}") }
            }
            SaleError::Invalid { field, reason } => ApiError::InvalidRequest { field: field.into(), reason },
            SaleError::WebhookUrl(_) => {
                ApiError::Refused { code: "invalid_webhook_url", field: "webhook_url", message }
            }
            SaleError::NotEntitled { membership } => {
                let membership = membership.map(|sku| sku.to_string());
                let message = match &membership {
                    Some(sku) => format!("{message}: the {sku} membership opens it"),
                    None => message,
                };
                ApiError::Denied { code: "not_entitled", message, membership }
            }
            SaleError::QuotaExceeded { .. } => ApiError::PaymentRequired { code: "quota_exceeded", message },
            SaleError::InsufficientBalance { .. } => {
                ApiError::PaymentRequired { code: "insufficient_balance", message }
            }
            SaleError::ConcurrencyLimit(_) => ApiError::CapReached { code: "concurrency_limit", message },
            SaleError::IdempotencyKeyReused => ApiError::Conflict { code: "idempotency_key_reused", message },
            SaleError::NotQueued(_) => ApiError::Conflict { code: "run_not_queued", message },
            SaleError::Orchestrate(error) => error.into(),
            SaleError::Usage(error) => ApiError::from_port(&error),
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/workflows",
    tag = "runs",
    operation_id = "list_offers",
    summary = "The workflows this account may run, with their input schema, meter and cost",
    responses(
        (status = 200, description = "the workflows, by id", body = OfferList),
        (status = 401, description = "no valid API key (at the edge) or bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn offers<S: SalesStore>(
    State(customers): Shared<Customers<S>>,
    caller: Caller,
) -> Result<Json<OfferList>, ApiError> {
    let offers = customers.sales.offers(&caller.account).await?;
    Ok(Json(OfferList { data: offers.iter().map(OfferView::from).collect() }))
}

/// A run asked for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunBody {
    /// What the workflow works on; must meet its `input_schema`.
    #[schema(value_type = Object)]
    input: serde_json::Value,
    /// Where this run's result is delivered (signed, Standard Webhooks), besides the
    /// account's endpoint: `https://…`.
    webhook_url: Option<String>,
    /// `false`: answer `429 concurrency_limit` rather than wait when the account has its
    /// plan's `concurrent_runs` in flight. Default `true`.
    queue: Option<bool>,
}

/// The longest a request waits for its run: what is left of [`crate::REQUEST_TIMEOUT`] once
/// the run is stored, with room to answer (API Gateway cuts a request at 30 s).
const LONGEST_WAIT_SECONDS: u32 = 20;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct WaitParams {
    /// Seconds (at most 30; waited at most 20) for the run to end before answering.
    #[param(maximum = 30)]
    wait: Option<u32>,
}

#[utoipa::path(
    post,
    path = "/v1/workflows/{id}/runs",
    tag = "runs",
    operation_id = "run_workflow",
    summary = "Runs a workflow: checked, charged on its meter and queued; with `?wait`, answered once it ends",
    params(
        ("id" = String, Path, description = "the workflow"),
        ("Idempotency-Key" = Option<String>, Header, description = "the same key within 24 h answers the first run"),
        WaitParams
    ),
    request_body = RunBody,
    responses(
        (status = 200, description = "the run, ended within `wait`", body = CustomerRunView),
        (status = 202, description = "the run, queued or started", body = AcceptedRun),
        (status = 400, description = "`invalid_input` (`field` is the JSON pointer of the first field at fault) or `invalid_request`", body = ErrorResponse),
        (status = 401, description = "no valid API key (at the edge) or bearer token", body = ErrorResponse),
        (status = 402, description = "`quota_exceeded` or `insufficient_balance` on the workflow's meter", body = ErrorResponse),
        (status = 403, description = "`not_entitled`: the account's plan does not include this workflow", body = ErrorResponse),
        (status = 404, description = "no such workflow on sale", body = ErrorResponse),
        (status = 409, description = "`idempotency_key_reused`: the key named a run of another workflow", body = ErrorResponse),
        (status = 429, description = "`concurrency_limit`: the plan's runs are in flight and `queue` was false", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn order<S: SalesStore>(
    State(customers): Shared<Customers<S>>,
    Path(id): Path<String>,
    Params(wait): Params<WaitParams>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, ApiError> {
    let workflow = WorkflowId::parse(&id).map_err(|_| ApiError::NotFound("workflow"))?;
    let body: RunBody = parse_json(&caller.body)?;
    let idempotency_key = match headers.get("idempotency-key") {
        Some(value) => {
            Some(value.to_str().map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?.to_owned())
        }
        None => None,
    };
    let request = RunRequest {
        input: body.input,
        webhook_url: body.webhook_url,
        queue: body.queue.unwrap_or(true),
        idempotency_key,
    };
    let ordered = customers.sales.order(&caller.account, &workflow, request).await?;
    let run = match wait.wait.filter(|seconds| *seconds > 0) {
        Some(seconds) if ordered.run.status.is_open() => {
            customers.sales.wait(&caller.account, &ordered.run.id, seconds.min(LONGEST_WAIT_SECONDS)).await?
        }
        _ => ordered.run,
    };
    let mut response = if run.status.is_open() {
        (StatusCode::ACCEPTED, Json(AcceptedRun::from(&run))).into_response()
    } else {
        (StatusCode::OK, Json(CustomerRunView::from(&run))).into_response()
    };
    if ordered.replayed {
        response.headers_mut().insert("idempotent-replayed", http::HeaderValue::from_static("true"));
    }
    Ok(response)
}

fn run_id(id: &str) -> Result<RunId, ApiError> {
    RunId::parse(id).map_err(|_| ApiError::NotFound("run"))
}

#[utoipa::path(
    get,
    path = "/v1/runs/{run_id}",
    tag = "runs",
    operation_id = "read_run",
    summary = "One of the account's runs",
    params(("run_id" = String, Path, description = "the run")),
    responses(
        (status = 200, description = "the run", body = CustomerRunView),
        (status = 400, description = "`invalid_path`: a malformed escape in the path (refused at the edge)", body = ErrorResponse),
        (status = 401, description = "no valid API key (at the edge) or bearer token", body = ErrorResponse),
        (status = 404, description = "the account has no such run", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn read<S: SalesStore>(
    State(customers): Shared<Customers<S>>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Json<CustomerRunView>, ApiError> {
    let run = customers.sales.run(&caller.account, &run_id(&id)?).await?;
    Ok(Json(CustomerRunView::from(&run)))
}

/// A run's status, as a filter.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StatusFilter {
    Queued,
    Started,
    Completed,
    Failed,
    Cancelled,
}

impl From<StatusFilter> for RunStatus {
    fn from(status: StatusFilter) -> Self {
        match status {
            StatusFilter::Queued => RunStatus::Queued,
            StatusFilter::Started => RunStatus::Started,
            StatusFilter::Completed => RunStatus::Completed,
            StatusFilter::Failed => RunStatus::Failed,
            StatusFilter::Cancelled => RunStatus::Cancelled,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only this workflow's runs.
    workflow: Option<String>,
    /// Only runs in this status.
    #[param(inline)]
    status: Option<StatusFilter>,
    /// At most this many (1 to 100, default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// Runs older than this one (the last `run_id` of the page before; none after a run the
    /// account does not have).
    starting_after: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/runs",
    tag = "runs",
    operation_id = "list_runs",
    summary = "The account's runs, newest first",
    params(ListParams),
    responses(
        (status = 200, description = "a page of runs", body = CustomerRunList),
        (status = 400, description = "`invalid_request`: a status, workflow id, run id or limit out of its range", body = ErrorResponse),
        (status = 401, description = "no valid API key (at the edge) or bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list<S: SalesStore>(
    State(customers): Shared<Customers<S>>,
    Params(params): Params<ListParams>,
    caller: Caller,
) -> Result<Json<CustomerRunList>, ApiError> {
    let workflow = params
        .workflow
        .map(|id| WorkflowId::parse(&id).map_err(|_| ApiError::invalid("workflow", "is not a workflow id")))
        .transpose()?;
    let starting_after = params
        .starting_after
        .map(|id| RunId::parse(&id).map_err(|_| ApiError::invalid("starting_after", "is not a run id")))
        .transpose()?;
    let status = params.status.map(RunStatus::from);
    let limit = params.limit.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be from 1 to 100"));
    }
    // One more than asked: whether more follow.
    let filter = RunFilter { workflow, status, starting_after, limit: limit + 1 };
    let mut runs = customers.sales.runs(&caller.account, filter).await?;
    let has_more = runs.len() > limit;
    runs.truncate(limit);
    Ok(Json(CustomerRunList { data: runs.iter().map(CustomerRunView::from).collect(), has_more }))
}

#[utoipa::path(
    post,
    path = "/v1/runs/{run_id}/cancel",
    tag = "runs",
    operation_id = "cancel_run",
    summary = "Cancels a queued run; its charge is given back",
    params(("run_id" = String, Path, description = "the run")),
    responses(
        (status = 200, description = "the run, cancelled", body = CustomerRunView),
        (status = 400, description = "`invalid_path`: a malformed escape in the path (refused at the edge)", body = ErrorResponse),
        (status = 401, description = "no valid API key (at the edge) or bearer token", body = ErrorResponse),
        (status = 404, description = "the account has no such run", body = ErrorResponse),
        (status = 409, description = "`run_not_queued`: it has started or ended", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn cancel<S: SalesStore>(
    State(customers): Shared<Customers<S>>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Json<CustomerRunView>, ApiError> {
    let run = customers.sales.cancel(&caller.account, &run_id(&id)?).await?;
    Ok(Json(CustomerRunView::from(&run)))
}

#[utoipa::path(
    get,
    path = "/api/me/webhook-deliveries",
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    summary = "Where the account's run results go, and their deliveries, newest first",
    responses(
        (status = 200, description = "the last 100 deliveries", body = DeliveryList),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn deliveries<S: SalesStore>(
    State(customers): Shared<Customers<S>>,
    caller: Caller,
) -> Result<Json<DeliveryList>, ApiError> {
    let (endpoint, deliveries) = customers.sales.deliveries(&caller.account, MAX_PAGE).await?;
    Ok(Json(DeliveryList { endpoint, data: deliveries.iter().map(DeliveryView::from).collect() }))
}

#[utoipa::path(
    post,
    path = "/api/me/webhook-deliveries/{id}/retry",
    tag = "webhooks",
    operation_id = "retry_webhook_delivery",
    summary = "Sends a delivery again now, with its whole schedule of retries ahead",
    params(("id" = String, Path, description = "the delivery (its `webhook-id`)")),
    responses(
        (status = 200, description = "the delivery after this attempt", body = DeliveryView),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 404, description = "the account has no such delivery", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn retry<S: SalesStore>(
    State(customers): Shared<Customers<S>>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Json<DeliveryView>, ApiError> {
    let delivery = customers.sales.retry_delivery(&caller.account, &id).await?;
    Ok(Json(DeliveryView::from(&delivery)))
}
