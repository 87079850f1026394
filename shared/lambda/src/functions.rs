//! Each function's handler, built from its configuration by one library function that
//! its `main` calls and the tests call too. Each reads only its own settings, builds only
//! the tables and queues it names, and serves only the routers `template.yaml` routes to
//! it; the configuration check (`tests/tests/configuration.rs`) proves that the template
//! gives each exactly these settings, and IAM access to each table and queue.

use crate::{self as build, StartError};
use std::sync::Arc;
use tollgate_app::activity::Activity;
use tollgate_app::alerting::AlertDesk;
use tollgate_app::fulfillment::Fulfiller;
use tollgate_app::ingest::Ingest;
use tollgate_app::instances::Instances;
use tollgate_app::metrics::Figures;
use tollgate_app::monitor::Monitor;
use tollgate_app::orchestrator::Orchestrator;
use tollgate_app::payouts::PayoutRun;
use tollgate_app::ports::queue::QueueName;
use tollgate_app::premium::Premium;
use tollgate_app::process::Processor;
use tollgate_app::reads::Reads;
use tollgate_app::reconcile::Reconciler;
use tollgate_app::replay::Replay;
use tollgate_app::usage_meter::UsageMeter;
use tollgate_aws::Aws;
use tollgate_aws::config::Resource;
use tollgate_http::buyer::{self, Buyers, Offer};
use tollgate_http::customer_runs::{self, Customers};
use tollgate_http::{admin, deployment, keys as key_routes, live, openapi, pages, stripe_history, webhooks as hooks};
use tollgate_http::{endpoints as endpoint_routes, payouts as payout_routes, workflow_subscriptions, workflows};
use tollgate_settings::Env;

use Resource::*;

/// `webhook-ingest`: Stripe's deliveries and workflow callbacks.
pub async fn webhook_ingest(env: &Env<'_>) -> Result<axum::Router, StartError> {
    let webhooks = tollgate_settings::webhooks(env)?;
    let needs = [
        EventLogTable,
        EventsQueue,
        WorkflowsTable,
        RunsTable,
        LedgerTable,
        AlertsTable,
        UsageTable,
        RunsQueue,
        CustomerRunsQueue,
        UsageQueue,
        AccountsTable,
    ];
    let store = build::store(env, &needs).await?;
    let ingest = Ingest { store: store.clone(), clock: build::clock(), webhooks };
    let orchestrator = build::orchestrator(env, store)?;
    Ok(deployment([hooks::stripe_router(Arc::new(ingest)), hooks::callback_router(Arc::new(orchestrator))]))
}

/// `account-api`: API keys and the account view, the edge's signed routes, the operator's
/// routes (with reconciliation and replay, which take Stripe's events in as a delivery
/// would, and the payout run), the console and the OpenAPI document.
pub async fn account_api(env: &Env<'_>) -> Result<axum::Router, StartError> {
    let auth = build::auth(env).await?;
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
        CustomerRunsQueue,
        UsageQueue,
        EventsQueue,
    ];
    let store = build::store(env, &needs).await?;
    let catalog = tollgate_settings::catalog(env)?;
    let orchestrator = Arc::new(build::orchestrator(env, store.clone())?);
    let keys = Arc::new(build::keys(env, store.clone(), catalog.clone())?);
    let sales = Arc::new(build::sales(Arc::clone(&orchestrator), catalog.clone()));
    let endpoints = Arc::clone(&sales.endpoints);
    let instances = Arc::new(Instances { sales: Arc::clone(&sales) });
    let customers = Customers { sales, edge: keys.edge.secret.clone() };
    // One Stripe client (one connection pool) for reconciliation, replay and payouts.
    let stripe = Arc::new(build::stripe_api(env).await?);
    let operator = admin::Operator {
        reads: Arc::new(Reads { store: store.clone(), catalog: catalog.clone() }),
        keys: Arc::clone(&keys),
        figures: Arc::new(Figures {
            store: store.clone(),
            catalog,
            clock: build::clock(),
            caps: orchestrator.settings.caps,
            zone: orchestrator.settings.zone,
        }),
        desk: Arc::new(AlertDesk {
            store: store.clone(),
            alerting: orchestrator.alerting.clone(),
            clock: build::clock(),
        }),
    };
    let history = stripe_history::StripeHistory {
        reconciler: build::reconciler(env, store.clone(), Arc::clone(&stripe))?,
        replay: Replay { store: store.clone(), clock: build::clock(), stripe: Arc::clone(&stripe) as _ },
    };
    let feed = Arc::new(Activity { store: store.clone(), clock: build::clock() });
    Ok(deployment([
        admin::router(Arc::clone(&auth), operator),
        live::router(Arc::clone(&auth), feed),
        workflows::router(Arc::clone(&auth), orchestrator),
        customer_runs::router(Arc::clone(&auth), customers),
        workflow_subscriptions::router(Arc::clone(&auth), instances),
        stripe_history::router(Arc::clone(&auth), history),
        payout_routes::run_router(Arc::clone(&auth), build::payout_run(env, store, stripe)?),
        endpoint_routes::router(Arc::clone(&auth), endpoints),
        key_routes::owner_router(auth, Arc::clone(&keys)),
        key_routes::edge_router(keys),
        openapi::router(openapi::document()),
        pages::router(),
    ]))
}

/// `checkout`: Checkout Sessions, portal links, what a buyer bought and may use, and
/// partners' onboarding and standing.
pub async fn checkout(env: &Env<'_>) -> Result<axum::Router, StartError> {
    let auth = build::auth(env).await?;
    let store = build::store(env, &[AccountsTable, WorkflowsTable, LedgerTable, UsageTable]).await?;
    let catalog = tollgate_settings::catalog(env)?;
    // One Stripe client (one connection pool) for checkout and onboarding.
    let stripe = Arc::new(build::stripe_api(env).await?);
    let offer = Offer { sells: true, pays_out: true, renews_on_demand: false };
    let reads = Arc::new(Reads { store: store.clone(), catalog: catalog.clone() });
    let premium = Arc::new(Premium { store: store.clone(), catalog: catalog.clone(), clock: build::clock() });
    let checkout = build::checkout(env, store.clone(), catalog, Arc::clone(&stripe))?;
    Ok(deployment([
        buyer::router(Arc::clone(&auth), Buyers { reads, premium, offer }),
        buyer::checkout_router(Arc::clone(&auth), checkout),
        payout_routes::standing_router(Arc::clone(&auth), build::payouts(env, store.clone())?),
        payout_routes::onboarding_router(auth, build::onboarding(env, store, stripe)?),
    ]))
}

/// `event-processor`: applies queued events.
pub async fn event_processor(env: &Env<'_>) -> Result<Processor<Aws>, StartError> {
    let needs = [
        EventLogTable,
        AccountsTable,
        LedgerTable,
        UsageTable,
        ApiKeysTable,
        WorkflowsTable,
        EventsQueue,
        EventsDeadLetterQueue,
        FulfillmentQueue,
    ];
    let store = build::store(env, &needs).await?;
    let catalog = tollgate_settings::catalog(env)?;
    Ok(Processor {
        keys: Arc::new(build::keys(env, store.clone(), catalog.clone())?),
        revoke_keys_on_cancel: tollgate_settings::revoke_keys_on_cancel(env)?,
        store,
        catalog,
        retry: tollgate_settings::retry(env)?,
        zone: tollgate_settings::business_zone(env)?,
    })
}

/// `orchestrator`: the scheduled tick.
pub async fn orchestrator(env: &Env<'_>) -> Result<Instances<Aws>, StartError> {
    let needs = [
        WorkflowsTable,
        RunsTable,
        AlertsTable,
        LedgerTable,
        RunsQueue,
        CustomerRunsQueue,
        UsageQueue,
        UsageTable,
        AccountsTable,
    ];
    let orchestrator = Arc::new(build::orchestrator(env, build::store(env, &needs).await?)?);
    let sales = build::sales(orchestrator, tollgate_settings::catalog(env)?);
    Ok(Instances { sales: Arc::new(sales) })
}

/// `workflow-runner`: starts queued runs, the operator's and customers', each from its own queue.
pub async fn workflow_runner(env: &Env<'_>) -> Result<(Orchestrator<Aws>, build::Sources), StartError> {
    let needs = [
        WorkflowsTable,
        RunsTable,
        AlertsTable,
        LedgerTable,
        RunsQueue,
        RunsDeadLetterQueue,
        CustomerRunsQueue,
        CustomerRunsDeadLetterQueue,
        UsageQueue,
        UsageTable,
        AccountsTable,
    ];
    let store = build::store(env, &needs).await?;
    let sources = build::Sources::ByName(store.queue_names(&[QueueName::Runs, QueueName::CustomerRuns]));
    Ok((build::orchestrator(env, store)?, sources))
}

/// `fulfillment`: announces one-off purchases to their products' webhooks.
pub async fn fulfillment(env: &Env<'_>) -> Result<Fulfiller<Aws>, StartError> {
    let store = build::store(env, &[AccountsTable, FulfillmentQueue, FulfillmentDeadLetterQueue]).await?;
    build::fulfiller(env, store, tollgate_settings::catalog(env)?)
}

/// `usage-meter`: counts the edge's usage batches and bills overage.
pub async fn usage_meter(env: &Env<'_>) -> Result<UsageMeter<Aws>, StartError> {
    let needs = [AccountsTable, RunsTable, AlertsTable, ApiKeysTable, UsageTable, UsageQueue, UsageDeadLetterQueue];
    build::usage_meter(env, build::store(env, &needs).await?).await
}

/// `reconciler`: the hourly reconciliation against Stripe's event list.
pub async fn reconciler(env: &Env<'_>) -> Result<Reconciler<Aws>, StartError> {
    let store = build::store(env, &[EventLogTable, EventsQueue, AlertsTable]).await?;
    build::reconciler(env, store, Arc::new(build::stripe_api(env).await?))
}

/// `monitor`: the health checks, every five minutes.
pub async fn monitor(env: &Env<'_>) -> Result<Monitor<Aws>, StartError> {
    let store = build::store(env, &[EventLogTable, AlertsTable]).await?;
    build::monitor(env, store)
}

/// `payouts`: the monthly payout run.
pub async fn payouts(env: &Env<'_>) -> Result<PayoutRun<Aws>, StartError> {
    let store = build::store(env, &[AccountsTable, LedgerTable, AlertsTable]).await?;
    build::payout_run(env, store, Arc::new(build::stripe_api(env).await?))
}
