//! Each function's handler, built from its configuration by one library function that
//! its `main` calls and the tests call too. Each reads only its own settings and builds
//! only the tables and queues it names; the configuration check
//! (`tests/tests/configuration.rs`) proves that `template.yaml` gives each exactly these,
//! and IAM access to each table and queue.

use crate::{
    StartError, app_from_env, checkout_from_env, edge_link_from_env, fulfiller_from_env, jwt_verifier,
    orchestrator_from_env, payout_run_from_env, payouts_from_env, reconciler_from_env, stripe_api,
    usage_meter_from_env, webhooks,
};
use std::sync::Arc;
use tollgate_app::App;
use tollgate_app::fulfillment::Fulfiller;
use tollgate_app::orchestrator::Orchestrator;
use tollgate_app::payouts::PayoutRun;
use tollgate_app::reconcile::Reconciler;
use tollgate_app::usage_meter::UsageMeter;
use tollgate_aws::Aws;
use tollgate_aws::config::{Env, Resource};
use tollgate_http::Api;

use Resource::*;

/// `webhook-ingest`: Stripe's deliveries and workflow callbacks.
pub async fn webhook_ingest(env: &Env<'_>) -> Result<axum::Router, StartError> {
    let webhooks = webhooks(env)?;
    let needs = [EventLogTable, EventsQueue, WorkflowsTable, RunsTable, LedgerTable, AlertsTable];
    let app = Arc::new(app_from_env(env, &needs).await?);
    let orchestrator = Arc::new(orchestrator_from_env(env, Arc::clone(&app))?);
    Ok(Api::new(app, Some(webhooks), None).with_orchestrator(orchestrator).router())
}

/// `account-api`: API keys and the account view, the edge's signed routes, the admin routes
/// (with reconciliation and replay, which take Stripe's events in as a delivery would).
pub async fn account_api(env: &Env<'_>) -> Result<axum::Router, StartError> {
    let jwt = jwt_verifier(env).await?;
    let needs = [
        EventLogTable,
        AccountsTable,
        LedgerTable,
        WorkflowsTable,
        RunsTable,
        AlertsTable,
        ApiKeysTable,
        UsageTable,
        RunsQueue,
        UsageQueue,
        EventsQueue,
    ];
    let app = Arc::new(app_from_env(env, &needs).await?);
    let orchestrator = Arc::new(orchestrator_from_env(env, Arc::clone(&app))?);
    let edge = Arc::new(edge_link_from_env(env)?);
    // One Stripe client (one connection pool) for reconciliation, replay and payouts.
    let stripe = Arc::new(stripe_api(env).await?);
    let reconciler = Arc::new(reconciler_from_env(env, Arc::clone(&stripe))?);
    let payout_run = Arc::new(payout_run_from_env(env, Arc::clone(&app), stripe)?);
    let api = Api::new(app, None, Some(jwt)).with_orchestrator(orchestrator).with_keys(edge);
    Ok(api.with_reconciler(reconciler).with_payout_run(payout_run).with_openapi().with_pages().router())
}

/// `checkout`: Checkout Sessions, portal links, what a buyer bought, and partners'
/// onboarding and standing.
pub async fn checkout(env: &Env<'_>) -> Result<axum::Router, StartError> {
    let jwt = jwt_verifier(env).await?;
    let app = Arc::new(app_from_env(env, &[AccountsTable, WorkflowsTable, LedgerTable]).await?);
    // One Stripe client (one connection pool) for checkout and onboarding.
    let stripe = Arc::new(stripe_api(env).await?);
    let checkout = Arc::new(checkout_from_env(env, Arc::clone(&app), Arc::clone(&stripe))?);
    let payouts = Arc::new(payouts_from_env(env, Arc::clone(&app), stripe)?);
    Ok(Api::new(app, None, Some(jwt)).with_checkout(checkout).with_payouts(payouts).router())
}

/// `event-processor`: applies queued events.
pub async fn event_processor(env: &Env<'_>) -> Result<App<Aws>, StartError> {
    let needs = [EventLogTable, AccountsTable, LedgerTable, EventsQueue, EventsDeadLetterQueue, FulfillmentQueue];
    app_from_env(env, &needs).await
}

/// `orchestrator`: the scheduled tick.
pub async fn orchestrator(env: &Env<'_>) -> Result<Orchestrator<Aws>, StartError> {
    let app = app_from_env(env, &[WorkflowsTable, RunsTable, AlertsTable, LedgerTable, RunsQueue]).await?;
    orchestrator_from_env(env, Arc::new(app))
}

/// `workflow-runner`: starts queued runs.
pub async fn workflow_runner(env: &Env<'_>) -> Result<Orchestrator<Aws>, StartError> {
    let needs = [WorkflowsTable, RunsTable, AlertsTable, LedgerTable, RunsQueue, RunsDeadLetterQueue];
    let app = app_from_env(env, &needs).await?;
    orchestrator_from_env(env, Arc::new(app))
}

/// `fulfillment`: announces one-off purchases to their products' webhooks.
pub async fn fulfillment(env: &Env<'_>) -> Result<Fulfiller<Aws>, StartError> {
    let app = app_from_env(env, &[AccountsTable, FulfillmentQueue, FulfillmentDeadLetterQueue]).await?;
    fulfiller_from_env(env, Arc::new(app))
}

/// `usage-meter`: counts the edge's usage batches and bills overage.
pub async fn usage_meter(env: &Env<'_>) -> Result<UsageMeter<Aws>, StartError> {
    let needs = [AccountsTable, AlertsTable, ApiKeysTable, UsageTable, UsageQueue, UsageDeadLetterQueue];
    let app = app_from_env(env, &needs).await?;
    usage_meter_from_env(env, Arc::new(app)).await
}

/// `reconciler`: the hourly reconciliation against Stripe's event list.
pub async fn reconciler(env: &Env<'_>) -> Result<(App<Aws>, Reconciler), StartError> {
    let app = app_from_env(env, &[EventLogTable, EventsQueue, AlertsTable]).await?;
    Ok((app, reconciler_from_env(env, Arc::new(stripe_api(env).await?))?))
}

/// `payouts`: the monthly payout run.
pub async fn payouts(env: &Env<'_>) -> Result<PayoutRun<Aws>, StartError> {
    let app = Arc::new(app_from_env(env, &[AccountsTable, LedgerTable, AlertsTable]).await?);
    payout_run_from_env(env, app, Arc::new(stripe_api(env).await?))
}
