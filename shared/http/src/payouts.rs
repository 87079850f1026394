//! Partners' payouts: onboarding to Stripe Connect and standing (user JWT), and the payout
//! run (admin).

use crate::Auth;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Admin, Guarded, OptionalJsonBody, Shared, User};
use crate::views::{OnboardingLink, PayoutRunView, PayoutsView};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use tollgate_app::payouts::{Onboarding, PayoutRun, Payouts};
use tollgate_app::ports::alerts::Alerts;
use tollgate_app::ports::ledger::Ledger;
use tollgate_app::ports::payees::Payees;
use tollgate_core::payout::Period;
use utoipa::ToSchema;

/// A partner's standing.
pub fn standing_router<S: Payees + Ledger + 'static>(auth: Arc<Auth>, payouts: Payouts<S>) -> Router {
    Router::new().route("/api/me/payouts", get(payout_standing::<S>)).with_state(Guarded::new(auth, payouts))
}

/// A partner's onboarding to Stripe Connect.
pub fn onboarding_router<S: Payees + 'static>(auth: Arc<Auth>, onboarding: Onboarding<S>) -> Router {
    Router::new().route("/api/me/payouts/onboarding", post(onboard::<S>)).with_state(Guarded::new(auth, onboarding))
}

/// The payout run, for admins.
pub fn run_router<S: Payees + Ledger + Alerts + 'static>(auth: Arc<Auth>, run: PayoutRun<S>) -> Router {
    Router::new().route("/admin/payouts/run", post(run_payouts::<S>)).with_state(Guarded::new(auth, run))
}

#[utoipa::path(
    post,
    path = "/api/me/payouts/onboarding",
    operation_id = "onboarding",
    tag = "payouts",
    summary = "A Stripe Connect onboarding link; the connected account is made the first time",
    responses(
        (status = 200, description = "the onboarding link to send the partner to", body = OnboardingLink),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 502, description = "`payment_provider_error`: Stripe refused the request", body = ErrorResponse),
        (status = 503, description = "Stripe or storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn onboard<S: Payees>(
    State(onboarding): Shared<Onboarding<S>>,
    User(account): User,
) -> Result<Json<OnboardingLink>, ApiError> {
    Ok(Json(OnboardingLink { url: onboarding.onboard(&account).await? }))
}

#[utoipa::path(
    get,
    path = "/api/me/payouts",
    tag = "payouts",
    summary = "Where the signed-in partner stands: connected account, balance and payouts",
    responses(
        (status = 200, description = "the partner's standing, in minor units", body = PayoutsView),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn payout_standing<S: Payees + Ledger>(
    State(payouts): Shared<Payouts<S>>,
    User(account): User,
) -> Result<Json<PayoutsView>, ApiError> {
    Ok(Json(PayoutsView::from(&payouts.standing(&account).await?)))
}

/// Body of `POST /admin/payouts/run`; empty is fine.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PayoutRunBody {
    /// The month paid for, `YYYY-MM`; default the current one.
    period: Option<String>,
    /// Report what would be paid, and pay nothing.
    #[serde(default)]
    dry_run: bool,
}

#[utoipa::path(
    post,
    path = "/admin/payouts/run",
    tag = "admin",
    summary = "Pay every partner their available balance for a period, once",
    request_body(content = Option<PayoutRunBody>, description = "optional `period` and `dry_run`"),
    responses(
        (status = 200, description = "what was paid, skipped and failed", body = PayoutRunView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "not an admin", body = ErrorResponse),
        (status = 502, description = "`payment_provider_error`: Stripe refused to list the period's transfers", body = ErrorResponse),
        (status = 503, description = "Stripe or storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn run_payouts<S: Payees + Ledger + Alerts>(
    State(payout_run): Shared<PayoutRun<S>>,
    _: Admin,
    OptionalJsonBody(body): OptionalJsonBody<PayoutRunBody>,
) -> Result<Json<PayoutRunView>, ApiError> {
    let period = body
        .period
        .as_deref()
        .map(Period::parse)
        .transpose()
        .map_err(|e| ApiError::invalid("period", &e.to_string()))?;
    let report = payout_run.run(period, body.dry_run).await?;
    Ok(Json(PayoutRunView::from(&report)))
}
