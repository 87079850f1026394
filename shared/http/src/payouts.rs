//! Partners' payouts (user JWT): onboarding to Stripe Connect.

use crate::error::{ApiError, ErrorResponse};
use crate::extract::User;
use crate::views::OnboardingLink;
use crate::{Shared, Store};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};

pub(crate) fn routes<S: Store>() -> Router<Shared<S>> {
    Router::new().route("/api/me/payouts/onboarding", post(onboarding::<S>))
}

#[utoipa::path(
    post,
    path = "/api/me/payouts/onboarding",
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
pub(crate) async fn onboarding<S: Store>(
    State(api): State<Shared<S>>,
    User(account): User,
) -> Result<Json<OnboardingLink>, ApiError> {
    let payouts = api.payouts.as_deref().ok_or(ApiError::NotFound("route"))?;
    Ok(Json(OnboardingLink { url: payouts.onboard(&account).await? }))
}
