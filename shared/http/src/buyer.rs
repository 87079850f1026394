//! The signed-in buyer's routes: what they bought and may use, and the links to pay
//! (`/api/checkout`) and to manage their subscription (`/api/portal`).

use crate::Auth;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Guarded, Shared};
use crate::extract::{JsonBody, User};
use crate::views::{
    CatalogView, CheckoutLinkView, EntitlementsView, PortalLink, PremiumView, PurchaseList, PurchaseView,
};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use tollgate_app::checkout::Checkout;
use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::premium_choices::PremiumChoices;
use tollgate_app::ports::purchases::Purchases;
use tollgate_app::ports::rate_limits::RateLimits;
use tollgate_app::ports::tallies::Tallies;
use tollgate_app::ports::workflow_subscriptions::WorkflowSubscriptions;
use tollgate_app::ports::workflows::Workflows;
use tollgate_app::premium::Premium;
use tollgate_app::reads::Reads;
use tollgate_core::checkout::CheckoutRequest;
use utoipa::ToSchema;

/// The ports a buyer's reads use.
pub trait BuyerStore: Accounts + Purchases + Workflows + PremiumChoices {}

impl<S: Accounts + Purchases + Workflows + PremiumChoices> BuyerStore for S {}

/// What the deployment offers buyers besides what they hold, as `/api/catalog` says it.
#[derive(Debug, Clone, Copy)]
pub struct Offer {
    /// `/api/checkout` is served.
    pub sells: bool,
    /// `/api/me/payouts` is served.
    pub pays_out: bool,
    /// `/admin/customers/{customer}/advance` is served (the emulated Stripe).
    pub renews_on_demand: bool,
}

/// A buyer's reads: what is on sale, what they bought, what they may use.
pub struct Buyers<S> {
    pub reads: Arc<Reads<S>>,
    pub premium: Arc<Premium<S>>,
    pub offer: Offer,
}

pub fn router<S: BuyerStore + 'static>(auth: Arc<Auth>, buyers: Buyers<S>) -> Router {
    Router::new()
        .route("/api/me/purchases", get(purchases::<S>))
        .route("/api/me/entitlements", get(entitlements::<S>))
        .route("/api/me/premium-workflows", get(premium_workflows::<S>).put(choose_premium_workflows::<S>))
        .route("/api/catalog", get(catalog::<S>))
        .with_state(Guarded::new(auth, buyers))
}

/// Checkout Sessions and portal links.
pub fn checkout_router<S: Accounts + RateLimits + Tallies + WorkflowSubscriptions + Workflows + 'static>(
    auth: Arc<Auth>,
    use_case: Checkout<S>,
) -> Router {
    Router::new()
        .route("/api/checkout", post(checkout::<S>))
        .route("/api/portal", post(portal::<S>))
        .with_state(Guarded::new(auth, use_case))
}

#[utoipa::path(
    get,
    path = "/api/catalog",
    tag = "buyers",
    summary = "What is on sale (every catalog entry with a Stripe price), and whether this deployment sells and pays out",
    responses(
        (status = 200, description = "plans, memberships, products and credits on sale; `buying` and `payouts` say whether `/api/checkout` and `/api/me/payouts` are served", body = CatalogView),
        (status = 401, description = "no valid bearer token", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn catalog<S: BuyerStore>(State(buyers): Shared<Buyers<S>>, User(_): User) -> Json<CatalogView> {
    let Offer { sells, pays_out, renews_on_demand } = buyers.offer;
    Json(CatalogView::new(&buyers.reads.catalog, sells, pays_out, renews_on_demand))
}

#[utoipa::path(
    get,
    path = "/api/me/purchases",
    tag = "buyers",
    summary = "What the signed-in buyer bought",
    responses(
        (status = 200, description = "what was bought", body = PurchaseList),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn purchases<S: BuyerStore>(
    State(buyers): Shared<Buyers<S>>,
    User(account): User,
) -> Result<Json<PurchaseList>, ApiError> {
    let purchases = buyers.reads.purchases(&account).await?;
    Ok(Json(PurchaseList { purchases: purchases.iter().map(PurchaseView::from).collect() }))
}

#[utoipa::path(
    get,
    path = "/api/me/entitlements",
    tag = "buyers",
    summary = "What the signed-in buyer may use",
    responses(
        (status = 200, description = "what is open to the buyer", body = EntitlementsView),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn entitlements<S: BuyerStore>(
    State(buyers): Shared<Buyers<S>>,
    User(account): User,
) -> Result<Json<EntitlementsView>, ApiError> {
    Ok(Json(EntitlementsView::from(&buyers.reads.entitlements(&account).await?)))
}

#[utoipa::path(
    get,
    path = "/api/me/premium-workflows",
    tag = "buyers",
    summary = "The premium workflows, and which the signed-in member may run",
    responses(
        (status = 200, description = "the membership's limit and each premium workflow, open or not", body = PremiumView),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn premium_workflows<S: BuyerStore>(
    State(buyers): Shared<Buyers<S>>,
    User(account): User,
) -> Result<Json<PremiumView>, ApiError> {
    Ok(Json(PremiumView::from(&buyers.premium.standing(&account).await?)))
}

/// The premium workflows a member chooses.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PremiumChoiceBody {
    /// Premium workflow ids, each once, at most the membership's `limit`.
    workflows: Vec<String>,
}

/// The most premium workflows one choice may name: no catalog opens more.
pub(crate) const MAX_CHOICE: usize = 100;

#[utoipa::path(
    put,
    path = "/api/me/premium-workflows",
    tag = "buyers",
    summary = "Choose the premium workflows the membership opens; takes effect at once",
    request_body = PremiumChoiceBody,
    responses(
        (status = 200, description = "the choice, as it now stands", body = PremiumView),
        (status = 400, description = "`invalid_request`: a workflow named twice (`field` says which)", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 403, description = "`not_entitled`: no membership opens premium workflows; `membership` names one that does", body = ErrorResponse),
        (status = 404, description = "`not_found`: no premium workflow has that id", body = ErrorResponse),
        (status = 409, description = "`too_many`: more than the membership opens", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn choose_premium_workflows<S: BuyerStore>(
    State(buyers): Shared<Buyers<S>>,
    User(account): User,
    JsonBody(body): JsonBody<PremiumChoiceBody>,
) -> Result<Json<PremiumView>, ApiError> {
    let workflows = body.workflows;
    if workflows.len() > MAX_CHOICE {
        return Err(ApiError::invalid("workflows", &format!("names at most {MAX_CHOICE} workflows")));
    }
    Ok(Json(PremiumView::from(&buyers.premium.choose(&account, &workflows).await?)))
}

/// What a buyer asks to pay for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckoutBody {
    /// A catalog SKU on sale (required).
    sku: Option<String>,
    /// 1 to 100, default 1; subscriptions are always 1.
    quantity: Option<u64>,
    /// The referrer's account id.
    referral_code: Option<String>,
    /// Where Stripe sends the buyer after paying; must be on an allowed origin.
    success_url: Option<String>,
    /// Where Stripe sends a buyer who gives up; must be on an allowed origin.
    cancel_url: Option<String>,
    /// A workflow subscription's parameters, checked against its `params_schema` (default `{}`).
    #[schema(value_type = Option<Object>)]
    params: Option<serde_json::Value>,
}

impl CheckoutBody {
    fn request(self) -> Result<CheckoutRequest, ApiError> {
        CheckoutRequest::new(
            self.sku.as_deref(),
            self.quantity,
            self.referral_code.as_deref(),
            self.success_url,
            self.cancel_url,
        )
        .map(|request| CheckoutRequest { params: self.params, ..request })
        .map_err(|refused| ApiError::invalid(refused.field, &refused.reason))
    }
}

#[utoipa::path(
    post,
    path = "/api/checkout",
    tag = "buyers",
    summary = "A Stripe Checkout Session",
    request_body(content = CheckoutBody),
    responses(
        (status = 200, description = "the session to send the buyer to", body = CheckoutLinkView),
        (status = 400, description = "a bad field, named; `invalid_params`: a workflow subscription's params fail its schema (`field` is the JSON pointer)", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 404, description = "`unknown_sku`", body = ErrorResponse),
        (status = 409, description = "`already_subscribed`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`", body = ErrorResponse),
        (status = 502, description = "`payment_provider_error`", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn checkout<S: Accounts + RateLimits + Tallies + WorkflowSubscriptions + Workflows>(
    State(checkouts): Shared<Checkout<S>>,
    User(account): User,
    JsonBody(body): JsonBody<CheckoutBody>,
) -> Result<Json<CheckoutLinkView>, ApiError> {
    let request = body.request()?;
    Ok(Json(checkouts.checkout(&account, request).await?.into()))
}

#[utoipa::path(
    post,
    path = "/api/portal",
    tag = "buyers",
    summary = "A billing-portal link",
    responses(
        (status = 200, description = "the portal session to send the buyer to", body = PortalLink),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 404, description = "`no_customer`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn portal<S: Accounts + RateLimits + Tallies + WorkflowSubscriptions + Workflows>(
    State(checkouts): Shared<Checkout<S>>,
    User(account): User,
) -> Result<Json<PortalLink>, ApiError> {
    Ok(Json(PortalLink { url: checkouts.portal(&account).await? }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::parse_json;

    fn field(body: &str) -> String {
        match parse_json::<CheckoutBody>(body.as_bytes()).and_then(CheckoutBody::request) {
            Err(ApiError::InvalidRequest { field, .. }) => field.into_owned(),
            other => panic!("{body}: {:?}", other.map(|request| request.sku)),
        }
    }

    #[test]
    fn a_checkout_body_names_the_bad_field() {
        let body = r#"{"sku":"template_budget_tracker","quantity":2,"referral_code":"user_bob"}"#;
        let request = parse_json::<CheckoutBody>(body.as_bytes()).and_then(CheckoutBody::request).unwrap();
        assert_eq!((request.sku.as_str(), request.quantity), ("template_budget_tracker", 2));
        for (body, expected) in [
            ("[]", "body"),
            ("{", "body"),
            (r#"{"quantity":1}"#, "sku"),
            (r#"{"sku":"api_pro","quantity":0}"#, "quantity"),
            (r#"{"sku":"api_pro","quantity":1.5}"#, "quantity"),
            (r#"{"sku":"api_pro","quantity":-1}"#, "quantity"),
            (r#"{"sku":"api_pro","referral_code":"a b"}"#, "referral_code"),
            (r#"{"sku":"api_pro","success_url":7}"#, "success_url"),
            (r#"{"sku":"api_pro","coupon":"x"}"#, "coupon"),
        ] {
            assert_eq!(field(body), expected, "{body}");
        }
    }
}
