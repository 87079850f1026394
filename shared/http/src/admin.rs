//! The operator's routes, for a JWT with the admin role: the event log, alerts, metrics,
//! an account and its ledger (the workflows' are in [`crate::workflows`]).

use crate::Auth;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Admin, OptionalJsonBody, Params};
use crate::extract::{Guarded, Shared};
use crate::views::{
    AccountDetail, AdvancedView, AlertList, AlertView, EventList, EventView, KeyList, KeyView, LedgerLine, LedgerList,
    MetricsView, PurchaseList, PurchaseView, ReferralList, StandingView,
};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use tollgate_app::alerting::AlertDesk;
use tollgate_app::keys::{KeyStore, Keys};
use tollgate_app::metrics::Figures;
use tollgate_app::orchestrator::OrchestrateError;
use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::alerts::Alerts;
use tollgate_app::ports::event_log::EventLog;
use tollgate_app::ports::ledger::Ledger;
use tollgate_app::ports::runs::Runs;
use tollgate_app::ports::tallies::Tallies;
use tollgate_app::ports::workflows::Workflows;
use tollgate_app::reads::Reads;
use tollgate_app::renewals::Renewals;
use tollgate_core::alert::{AlertState, MAX_NOTE_CHARS};
use tollgate_core::ids::{AccountId, CustomerId};
use utoipa::{IntoParams, ToSchema};

const DEFAULT_LIST_LIMIT: usize = 50;
pub(crate) const MAX_LIST_LIMIT: usize = 500;
/// Days of revenue `/admin/metrics` shows.
const METRICS_DAYS: u32 = 30;

/// The ports the operator's reads use.
pub trait OperatorStore: EventLog + Alerts + Ledger + Workflows + Runs + Tallies + KeyStore {}

impl<S: EventLog + Alerts + Ledger + Workflows + Runs + Tallies + KeyStore> OperatorStore for S {}

/// The operator's reads: events, alerts, figures, accounts and their keys, the ledger; and
/// their hand on alerts.
pub struct Operator<S> {
    pub reads: Arc<Reads<S>>,
    pub keys: Arc<Keys<S>>,
    pub figures: Arc<Figures<S>>,
    pub desk: Arc<AlertDesk<S>>,
}

pub fn router<S: OperatorStore + 'static>(auth: Arc<Auth>, operator: Operator<S>) -> Router {
    Router::new()
        .route("/admin/events", get(events::<S>))
        .route("/admin/alerts", get(alerts::<S>))
        .route("/admin/alerts/{id}/ack", post(acknowledge::<S>))
        .route("/admin/alerts/{id}/resolve", post(resolve::<S>))
        .route("/admin/metrics", get(metrics::<S>))
        .route("/admin/accounts/{account}", get(account::<S>))
        .route("/admin/accounts/{account}/standing", get(account_standing::<S>))
        .route("/admin/accounts/{account}/keys", get(account_keys::<S>))
        .route("/admin/accounts/{account}/purchases", get(account_purchases::<S>))
        .route("/admin/accounts/{account}/referrals", get(account_referrals::<S>))
        .route("/admin/customers/{customer}", get(customer::<S>))
        .route("/admin/ledger", get(ledger::<S>))
        .with_state(Guarded::new(auth, operator))
}

/// Renewing a customer's subscriptions on demand (the emulated Stripe of `tollgate dev`).
pub fn renewal_router(auth: Arc<Auth>, renewals: Renewals) -> Router {
    Router::new()
        .route("/admin/customers/{customer}/advance", post(advance_customer))
        .with_state(Guarded::new(auth, renewals))
}

/// `?limit=`: how many of the newest to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct List {
    /// 1 to 500, default 50.
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
}

impl List {
    /// As documented: 1 to [`MAX_LIST_LIMIT`], anything else refused rather than bent.
    fn limit(&self) -> Result<usize, ApiError> {
        let Some(value) = self.limit.as_deref() else { return Ok(DEFAULT_LIST_LIMIT) };
        value
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_LIST_LIMIT).contains(limit))
            .ok_or_else(|| ApiError::invalid("limit", &format!("must be a whole number from 1 to {MAX_LIST_LIMIT}")))
    }
}

#[utoipa::path(
    get,
    path = "/admin/events",
    tag = "admin",
    summary = "The event log, newest first",
    params(List),
    responses(
        (status = 200, description = "the newest events", body = EventList),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn events<S: OperatorStore>(
    State(operator): Shared<Operator<S>>,
    _: Admin,
    Params(list): Params<List>,
) -> Result<Json<EventList>, ApiError> {
    let events = operator.reads.recent_events(list.limit()?).await?;
    Ok(Json(EventList { events: events.iter().map(EventView::from).collect() }))
}

#[utoipa::path(
    get,
    path = "/admin/alerts",
    tag = "admin",
    summary = "Alerts, newest first",
    params(List),
    responses(
        (status = 200, description = "the newest alerts", body = AlertList),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn alerts<S: OperatorStore>(
    State(operator): Shared<Operator<S>>,
    _: Admin,
    Params(list): Params<List>,
) -> Result<Json<AlertList>, ApiError> {
    let alerts = operator.reads.alerts(list.limit()?).await?;
    Ok(Json(AlertList { alerts: alerts.iter().map(AlertView::from).collect() }))
}

/// What the operator writes when acknowledging or resolving an alert.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertNote {
    /// Up to 1,000 characters, kept with the alert.
    #[serde(default)]
    note: Option<String>,
}

impl AlertNote {
    fn checked(self) -> Result<Option<String>, ApiError> {
        match self.note.map(|note| note.trim().to_owned()).filter(|note| !note.is_empty()) {
            Some(note) if note.chars().count() > MAX_NOTE_CHARS => {
                Err(ApiError::invalid("note", "must be at most 1000 characters"))
            }
            note => Ok(note),
        }
    }
}

#[utoipa::path(
    post,
    path = "/admin/alerts/{id}/ack",
    tag = "admin",
    summary = "Acknowledge an open alert: someone is on it",
    params(("id" = String, Path, description = "the alert's id")),
    request_body(content = Option<AlertNote>, description = "an optional note"),
    responses(
        (status = 200, description = "the alert, acknowledged (again: unchanged)", body = AlertView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 404, description = "no such alert", body = ErrorResponse),
        (status = 409, description = "`invalid_transition`: the alert is resolved", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn acknowledge<S: OperatorStore>(
    State(operator): Shared<Operator<S>>,
    _: Admin,
    Path(id): Path<String>,
    OptionalJsonBody(note): OptionalJsonBody<AlertNote>,
) -> Result<Json<AlertView>, ApiError> {
    let alert = operator.desk.change(&id, AlertState::Acknowledged, note.checked()?).await?;
    Ok(Json(AlertView::from(&alert)))
}

#[utoipa::path(
    post,
    path = "/admin/alerts/{id}/resolve",
    tag = "admin",
    summary = "Resolve an alert by hand: the incident is over",
    params(("id" = String, Path, description = "the alert's id")),
    request_body(content = Option<AlertNote>, description = "an optional note"),
    responses(
        (status = 200, description = "the alert, resolved (again: unchanged)", body = AlertView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 404, description = "no such alert", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn resolve<S: OperatorStore>(
    State(operator): Shared<Operator<S>>,
    _: Admin,
    Path(id): Path<String>,
    OptionalJsonBody(note): OptionalJsonBody<AlertNote>,
) -> Result<Json<AlertView>, ApiError> {
    let alert = operator.desk.change(&id, AlertState::Resolved, note.checked()?).await?;
    Ok(Json(AlertView::from(&alert)))
}

#[utoipa::path(
    get,
    path = "/admin/metrics",
    tag = "admin",
    summary = "Revenue by day, workflow totals, active subscriptions",
    responses(
        (status = 200, description = "the last 30 days", body = MetricsView),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn metrics<S: OperatorStore>(
    State(operator): Shared<Operator<S>>,
    _: Admin,
) -> Result<Json<MetricsView>, ApiError> {
    Ok(Json(metrics_view(&operator.figures).await?))
}

/// The figures of `/admin/metrics`, with the caps they are read against.
pub(crate) async fn metrics_view<S>(figures: &Figures<S>) -> Result<MetricsView, OrchestrateError>
where
    S: Workflows + Runs + Accounts + Ledger + Tallies,
{
    let mut view = MetricsView::from(&figures.metrics(METRICS_DAYS).await?);
    view.daily_run_cap = Some(figures.caps.daily_starts);
    view.concurrent_run_cap = Some(figures.caps.concurrent);
    Ok(view)
}

#[utoipa::path(
    get,
    path = "/admin/accounts/{account}",
    tag = "admin",
    summary = "One account",
    params(("account" = String, Path, description = "the account id")),
    responses(
        (status = 200, description = "the account", body = AccountDetail),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 404, description = "no such thing", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn account<S: OperatorStore>(
    State(operator): Shared<Operator<S>>,
    _: Admin,
    Path(account): Path<String>,
) -> Result<Json<AccountDetail>, ApiError> {
    let account = AccountId::parse(&account).map_err(|e| ApiError::invalid("account_id", &e.to_string()))?;
    let view = operator.reads.account(&account).await?.ok_or(ApiError::NotFound("account"))?;
    Ok(Json(AccountDetail::from(&view)))
}

fn account_id(account: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(account).map_err(|e| ApiError::invalid("account_id", &e.to_string()))
}

#[utoipa::path(
    get,
    path = "/admin/accounts/{account}/standing",
    tag = "admin",
    summary = "An account's plan, period, usage against its quota, and credits (what /api/me shows its owner)",
    params(("account" = String, Path, description = "the account id")),
    responses(
        (status = 200, description = "the account's standing", body = StandingView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn account_standing<S: OperatorStore>(
    State(operator): Shared<Operator<S>>,
    _: Admin,
    Path(account): Path<String>,
) -> Result<Json<StandingView>, ApiError> {
    Ok(Json(StandingView::from(&operator.keys.standing(&account_id(&account)?).await?)))
}

#[utoipa::path(
    get,
    path = "/admin/accounts/{account}/keys",
    tag = "admin",
    summary = "An account's API keys (prefix, last use, revocation; never the key)",
    params(("account" = String, Path, description = "the account id")),
    responses(
        (status = 200, description = "the keys, newest first", body = KeyList),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn account_keys<S: OperatorStore>(
    State(operator): Shared<Operator<S>>,
    _: Admin,
    Path(account): Path<String>,
) -> Result<Json<KeyList>, ApiError> {
    let account = account_id(&account)?;
    let keys = operator.keys.list_keys(&account).await?;
    let first_key_waiting = operator.keys.first_key_waiting(&account).await?;
    Ok(Json(KeyList { keys: keys.iter().map(KeyView::from).collect(), first_key_waiting }))
}

#[utoipa::path(
    get,
    path = "/admin/accounts/{account}/purchases",
    tag = "admin",
    summary = "What an account bought",
    params(("account" = String, Path, description = "the account id")),
    responses(
        (status = 200, description = "its purchases, newest first", body = PurchaseList),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn account_purchases<S: OperatorStore>(
    State(operator): Shared<Operator<S>>,
    _: Admin,
    Path(account): Path<String>,
) -> Result<Json<PurchaseList>, ApiError> {
    let purchases = operator.reads.purchases(&account_id(&account)?).await?;
    Ok(Json(PurchaseList { purchases: purchases.iter().map(PurchaseView::from).collect() }))
}

#[utoipa::path(
    get,
    path = "/admin/accounts/{account}/referrals",
    tag = "admin",
    summary = "The accounts this account referred",
    params(("account" = String, Path, description = "the account id")),
    responses(
        (status = 200, description = "whom it referred, by account id", body = ReferralList),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn account_referrals<S: OperatorStore>(
    State(operator): Shared<Operator<S>>,
    _: Admin,
    Path(account): Path<String>,
) -> Result<Json<ReferralList>, ApiError> {
    let referred = operator.reads.referrals(&account_id(&account)?).await?;
    Ok(Json(ReferralList { referred: referred.iter().map(ToString::to_string).collect() }))
}

#[utoipa::path(
    get,
    path = "/admin/customers/{customer}",
    tag = "admin",
    summary = "The account a Stripe customer belongs to",
    params(("customer" = String, Path, description = "the Stripe customer id, `cus_…`")),
    responses(
        (status = 200, description = "the account", body = AccountDetail),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 404, description = "no account has this customer", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn customer<S: OperatorStore>(
    State(operator): Shared<Operator<S>>,
    _: Admin,
    Path(customer): Path<String>,
) -> Result<Json<AccountDetail>, ApiError> {
    let customer = CustomerId::parse(&customer).map_err(|e| ApiError::invalid("customer", &e.to_string()))?;
    let view = operator.reads.customer(&customer).await?.ok_or(ApiError::NotFound("customer"))?;
    Ok(Json(AccountDetail::from(&view)))
}

#[utoipa::path(
    post,
    path = "/admin/customers/{customer}/advance",
    tag = "admin",
    summary = "Renew a customer's subscriptions now (the emulated Stripe of `tollgate dev` only)",
    description = "Moves each live subscription of the customer on to its next period now, with the paid (or failed) invoice and the events Stripe makes then; a subscription cancelled at period end ends. Served only by `tollgate dev` on its emulated Stripe.",
    params(("customer" = String, Path, description = "the Stripe customer id, `cus_…`")),
    responses(
        (status = 200, description = "what was renewed", body = AdvancedView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 404, description = "the emulated Stripe has no such customer", body = ErrorResponse),
        (status = 503, description = "the emulated Stripe failed", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn advance_customer(
    State(renewing): Shared<Renewals>,
    _: Admin,
    Path(customer): Path<String>,
) -> Result<Json<AdvancedView>, ApiError> {
    let customer = CustomerId::parse(&customer).map_err(|e| ApiError::invalid("customer", &e.to_string()))?;
    let advanced = renewing.renew(&customer).await?;
    Ok(Json(AdvancedView { renewed: advanced.renewed, invoices: advanced.invoices }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LedgerQuery {
    /// The account whose entries to list.
    #[param(required = true)]
    account: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/ledger",
    tag = "admin",
    summary = "An account's ledger",
    params(LedgerQuery),
    responses(
        (status = 200, description = "the account's entries", body = LedgerList),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn ledger<S: OperatorStore>(
    State(operator): Shared<Operator<S>>,
    _: Admin,
    Params(query): Params<LedgerQuery>,
) -> Result<Json<LedgerList>, ApiError> {
    let account = query.account.ok_or_else(|| ApiError::invalid("account", "is required"))?;
    let account = AccountId::parse(&account).map_err(|e| ApiError::invalid("account", &e.to_string()))?;
    let entries = operator.reads.ledger(&account).await?;
    Ok(Json(LedgerList { entries: entries.iter().map(LedgerLine::from).collect() }))
}
