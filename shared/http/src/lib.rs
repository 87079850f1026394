//! tollgate's HTTP surface, shared by the Lambda functions and the local stack: one axum
//! [`Router`] per deployment, built by [`Api::router`]. On Lambda `lambda_http` serves it;
//! `tollgate dev` serves the router of all capabilities at once.
//!
//! Each route is declared once, in the module of its capability. Errors become responses
//! in exactly one place ([`error::ApiError`]), and [`finish`] gives every error answer —
//! an unknown route, a wrong method — the same JSON shape with `request_id`.

mod admin;
mod buyer;
pub mod error;
mod extract;
mod finish;
pub mod jwt;
mod keys;
pub mod live;
pub mod openapi;
pub mod pages;
mod payouts;
mod stripe_history;
pub mod views;
mod webhooks;
mod workflows;

pub use finish::{REQUEST_ID_HEADER, RequestId, refusal};

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use error::ApiError;
use http::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tollgate_app::App;
use tollgate_app::checkout::Checkout;
use tollgate_app::ingest::Webhooks;
use tollgate_app::keys::EdgeLink;
use tollgate_app::orchestrator::Orchestrator;
use tollgate_app::payouts::{PayoutRun, Payouts};
use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::alerts::Alerts;
use tollgate_app::ports::api_keys::ApiKeys;
use tollgate_app::ports::cursors::Cursors;
use tollgate_app::ports::event_log::EventLog;
use tollgate_app::ports::intake::Intake;
use tollgate_app::ports::ledger::Ledger;
use tollgate_app::ports::payees::Payees;
use tollgate_app::ports::purchases::Purchases;
use tollgate_app::ports::queue::{Queue, QueueConsumer};
use tollgate_app::ports::rate_limits::RateLimits;
use tollgate_app::ports::runs::Runs;
use tollgate_app::ports::stripe_time::StripeTime;
use tollgate_app::ports::usage::Usage;
use tollgate_app::ports::workflows::Workflows;
use tollgate_app::reconcile::Reconciler;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// Stripe's payloads stay far below this; anything larger is not from Stripe. No route
/// takes a larger body.
pub const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

/// A request still unanswered after this gets `503` with `Retry-After`: API Gateway gives
/// up at 30 s, and every route's work is a few storage calls or one Stripe call.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(25);

/// Everything the routes read and write.
pub trait Store:
    EventLog
    + Intake
    + Queue
    + QueueConsumer
    + Accounts
    + Ledger
    + Workflows
    + Runs
    + Alerts
    + Purchases
    + RateLimits
    + ApiKeys
    + Usage
    + Cursors
    + Payees
    + 'static
{
}

impl<S> Store for S where
    S: EventLog
        + Intake
        + Queue
        + QueueConsumer
        + Accounts
        + Ledger
        + Workflows
        + Runs
        + Alerts
        + Purchases
        + RateLimits
        + ApiKeys
        + Usage
        + Cursors
        + Payees
        + 'static
{
}

/// The routes a deployment serves follow from what it holds: a webhook verifier for
/// `/webhooks/stripe`, a JWT verifier for `/admin/*` and `/api/*`, the orchestrator for
/// workflow callbacks and the workflow admin routes. Each Lambda function holds only its own.
pub struct Api<S> {
    app: Arc<App<S>>,
    webhooks: Option<Webhooks>,
    jwt: Option<jwt::Verifier>,
    orchestrator: Option<Arc<Orchestrator<S>>>,
    checkout: Option<Arc<Checkout<S>>>,
    edge: Option<Arc<EdgeLink>>,
    reconciler: Option<Arc<Reconciler>>,
    payouts: Option<Arc<Payouts<S>>>,
    payout_run: Option<Arc<PayoutRun<S>>>,
    stripe_time: Option<Arc<dyn StripeTime>>,
    openapi: bool,
    pages: bool,
    tickets: Option<Arc<live::Tickets>>,
}

/// The state every handler gets.
type Shared<S> = Arc<Api<S>>;

impl<S: Store> Api<S> {
    pub fn new(app: Arc<App<S>>, webhooks: Option<Webhooks>, jwt: Option<jwt::Verifier>) -> Self {
        Self {
            app,
            webhooks,
            jwt,
            orchestrator: None,
            checkout: None,
            edge: None,
            reconciler: None,
            payouts: None,
            payout_run: None,
            stripe_time: None,
            openapi: false,
            pages: false,
            tickets: None,
        }
    }

    /// Serves `/api/keys` and `/api/me` (with a JWT verifier) and the edge's signed
    /// `/internal/*` routes.
    pub fn with_keys(self, edge: Arc<EdgeLink>) -> Self {
        Self { edge: Some(edge), ..self }
    }

    /// Serves `/api/checkout` and `/api/portal` (with a JWT verifier).
    pub fn with_checkout(self, checkout: Arc<Checkout<S>>) -> Self {
        Self { checkout: Some(checkout), ..self }
    }

    /// Serves `/admin/reconcile` and `/admin/events/{id}/replay` (with a JWT verifier).
    pub fn with_reconciler(self, reconciler: Arc<Reconciler>) -> Self {
        Self { reconciler: Some(reconciler), ..self }
    }

    /// Serves `/api/me/payouts` and, with a Stripe client, `/api/me/payouts/onboarding`
    /// (with a JWT verifier).
    pub fn with_payouts(self, payouts: Arc<Payouts<S>>) -> Self {
        Self { payouts: Some(payouts), ..self }
    }

    /// Serves `/admin/payouts/run` (with a JWT verifier).
    pub fn with_payout_run(self, payout_run: Arc<PayoutRun<S>>) -> Self {
        Self { payout_run: Some(payout_run), ..self }
    }

    /// Serves `POST /admin/customers/{customer}/advance`: `tollgate dev` on the emulated Stripe only.
    pub fn with_stripe_time(self, stripe_time: Arc<dyn StripeTime>) -> Self {
        Self { stripe_time: Some(stripe_time), ..self }
    }

    /// Serves the console (`/console`), the account page (`/account`) and their assets.
    pub fn with_pages(self) -> Self {
        Self { pages: true, ..self }
    }

    /// Serves the activity stream (`/admin/stream`, opened with a ticket from
    /// `/admin/stream-tickets`): for one long-running process, as the local stack is.
    pub fn with_stream(self) -> Self {
        Self { tickets: Some(Arc::default()), ..self }
    }

    /// Serves the OpenAPI document at `/openapi.json`.
    pub fn with_openapi(self) -> Self {
        Self { openapi: true, ..self }
    }

    /// Serves workflow callbacks and, with a JWT verifier, the workflow admin routes.
    pub fn with_orchestrator(self, orchestrator: Arc<Orchestrator<S>>) -> Self {
        Self { orchestrator: Some(orchestrator), ..self }
    }

    /// The router of what this deployment holds. An unknown route is `404 not_found`; a
    /// known one with another method, `405 method_not_allowed` with `Allow`.
    pub fn router(self) -> Router {
        let mut routes = Router::new().route("/health", get(health));
        if self.openapi {
            // Generated once, when the router is built, and shared by every request.
            let document = Arc::new(match &self.checkout {
                Some(checkout) => openapi::served(&self.app.catalog, checkout.settings.redirects.origins()),
                None => openapi::document(),
            });
            routes = routes.route("/openapi.json", get(move || async move { axum::Json(document.as_ref().clone()) }));
        }
        if self.pages {
            routes = routes.merge(pages::routes());
        }
        if self.webhooks.is_some() {
            routes = routes.merge(webhooks::stripe_routes());
        }
        if self.orchestrator.is_some() {
            routes = routes.merge(webhooks::workflow_routes());
        }
        if self.edge.is_some() {
            routes = routes.merge(keys::edge_routes());
        }
        if self.jwt.is_some() {
            routes = routes.merge(admin::routes()).merge(buyer::routes()).merge(live::routes());
            if self.tickets.is_some() {
                routes = routes.merge(live::stream_routes());
            }
            if self.orchestrator.is_some() {
                routes = routes.merge(workflows::routes());
            }
            if self.checkout.is_some() {
                routes = routes.merge(buyer::checkout_routes());
            }
            if self.edge.is_some() {
                routes = routes.merge(keys::owner_routes());
            }
            if self.reconciler.is_some() {
                routes = routes.merge(stripe_history::routes());
            }
            if let Some(payouts) = &self.payouts {
                routes = routes.merge(payouts::routes());
                if payouts.stripe.is_some() {
                    routes = routes.merge(payouts::onboarding_routes());
                }
            }
            if self.payout_run.is_some() {
                routes = routes.merge(payouts::run_routes());
            }
            if self.stripe_time.is_some() {
                routes = routes.merge(admin::stripe_time_routes());
            }
        }
        routes
            .fallback(|| async { ApiError::NotFound("route") })
            .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, REQUEST_TIMEOUT))
            .layer(RequestBodyLimitLayer::new(MAX_WEBHOOK_BYTES))
            .layer(axum::middleware::from_fn(finish::finish))
            .with_state(Arc::new(self))
    }
}

async fn health() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}
