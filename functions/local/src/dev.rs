//! `tollgate dev`: the HTTP functions and the native edge gateway (`/v1/*`) on one
//! address; beside them the event processor, the workflow runner, the fulfiller and the
//! usage meter, each on its queue by a [`worker`] (the stand-in for an SQS event
//! source mapping), the gateway's flusher (the stand-in for Durable Object alarms) and the
//! orchestrator on a timer (the stand-in for the EventBridge schedule). The operator's
//! one-shot commands are in `commands.rs`, the start-up text in `greeting.rs`, and the use
//! cases and routers are built in `compose.rs`.

use crate::compose::UseCases;
use crate::config::{DevConfig, StripeSetup, stripe_client};
use crate::gateway::Gateway;
use crate::serve::{BodyError, read_body};
use crate::worker;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tollgate_app::instances::Instances;
use tollgate_app::monitor::Monitor;
use tollgate_app::orchestrator::Orchestrator;
use tollgate_app::ports::queue::{Delivery, QueueName};
use tollgate_app::ports::stripe_time::StripeTime;
use tollgate_embedded::{QueueSettings, Sqlite};
use tollgate_http::MAX_WEBHOOK_BYTES;
use tollgate_http::error::ApiError;
use tollgate_stripe_emulator::{Emulator, Settings as EmulatorSettings};
use tower::ServiceExt;

struct Local {
    /// The routes of webhook-ingest, account-api and checkout together.
    api: axum::Router,
    orchestrator: Arc<Orchestrator<Sqlite>>,
    /// Workflow subscriptions' instances, run at each tick.
    instances: Arc<Instances<Sqlite>>,
    gateway: Gateway,
    usage_flush: Duration,
    /// The emulated Stripe's routes, under `/stripe/`.
    stripe_emulator: Option<axum::Router>,
}

/// The data directory's database, as `tollgate dev` and the operator commands both open it.
pub(crate) fn open_store(data_dir: &Path) -> Result<Sqlite, tollgate_embedded::DbError> {
    Sqlite::open(&data_dir.join("tollgate.sqlite3"), QueueSettings::default())
}

pub async fn run(
    addr: SocketAddr,
    data_dir: &Path,
    tick: Duration,
    config: DevConfig,
    stripe_chaos: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = open_store(data_dir)?;
    let released = store.release_in_flight().await?;
    if released > 0 {
        tracing::info!(released, "messages in flight when the last run stopped are queued again");
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let public = config.public_base(addr);
    let emulator = match &config.stripe {
        StripeSetup::Emulated { key } => Some(Emulator::open(EmulatorSettings {
            state_file: data_dir.join("stripe-emulator.json"),
            secret_key: key.clone(),
            public_base: format!("{public}/stripe"),
            webhook_url: config
                .emulator_webhook_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}/webhooks/stripe")),
            webhook_secret: config.signing_secret.clone(),
            enabled_events: tollgate_core::change::HANDLED_EVENT_TYPES.iter().map(|&kind| kind.to_owned()).collect(),
            chaos: stripe_chaos,
        })?),
        StripeSetup::Real(_) => None,
    };
    // One Stripe client (one connection pool) for every Stripe call, the emulator's catalog too.
    let stripe = config.stripe_api(addr).as_ref().map(stripe_client).transpose()?.map(Arc::new);
    let catalog_sync = emulator.is_some().then(|| stripe.clone()).flatten();
    let use_cases = UseCases::build(&config, &public, &store, stripe.as_ref())?;
    let (processor, fulfiller) = (Arc::clone(&use_cases.processor), Arc::clone(&use_cases.fulfiller));
    let (orchestrator, usage_meter) = (Arc::clone(&use_cases.orchestrator), Arc::clone(&use_cases.usage_meter));
    let (monitor, health_interval) = (Arc::clone(&use_cases.monitor), use_cases.health_interval);
    let instances = Arc::clone(&use_cases.instances);
    let gateway = Gateway::new(Arc::clone(&use_cases.keys), config.upstream_url.clone())?;
    let stripe_time = emulator.as_ref().map(|emulator| Arc::clone(emulator) as Arc<dyn StripeTime>);
    let local = Arc::new(Local {
        api: tollgate_http::deployment(use_cases.routers(&config, stripe_time).await?),
        orchestrator: Arc::clone(&orchestrator),
        instances,
        gateway,
        usage_flush: config.usage_flush,
        stripe_emulator: emulator.as_ref().map(|emulator| axum::Router::new().nest("/stripe", emulator.router())),
    });
    crate::greeting::greet(addr, &public, data_dir, tick, &config, stripe_chaos, (&monitor.urls, health_interval));
    if let Some(emulator) = emulator {
        tokio::spawn(emulator.run());
    }
    if let Some(client) = catalog_sync {
        // The emulator starts empty: the catalog's products and prices are put there as
        // `tollgate catalog sync` puts them on Stripe, once the address answers.
        let catalog = config.catalog.clone();
        tokio::spawn(async move {
            match tollgate_app::catalog_sync::sync_catalog(client.as_ref(), &catalog, false).await {
                Ok(actions) => tracing::info!(changes = actions.len(), "the catalog is on the emulated Stripe"),
                Err(error) => tracing::error!(%error, "the catalog could not be put on the emulated Stripe"),
            }
        });
    }

    // Each queue worked as its Lambda function works it, with the same handler.
    let background = [
        worker::spawn(QueueName::Events, &store, move |delivery: Delivery| {
            let processor = Arc::clone(&processor);
            async move { processor.process(&delivery).await }
        }),
        worker::spawn(QueueName::Runs, &store, {
            let orchestrator = Arc::clone(&orchestrator);
            move |delivery: Delivery| {
                let orchestrator = Arc::clone(&orchestrator);
                async move { orchestrator.start_run(&delivery).await }
            }
        }),
        worker::spawn(QueueName::CustomerRuns, &store, move |delivery: Delivery| {
            let orchestrator = Arc::clone(&orchestrator);
            async move { orchestrator.start_run(&delivery).await }
        }),
        worker::spawn(QueueName::Fulfillment, &store, move |delivery: Delivery| {
            let fulfiller = Arc::clone(&fulfiller);
            async move { fulfiller.fulfill(&delivery).await }
        }),
        worker::spawn(QueueName::Usage, &store, move |delivery: Delivery| {
            let usage_meter = Arc::clone(&usage_meter);
            async move { usage_meter.meter_delivery(&delivery).await }
        }),
        tokio::spawn(flush_usage(Arc::clone(&local))),
        tokio::spawn(orchestrate(Arc::clone(&local), tick)),
        tokio::spawn(check_health(monitor, health_interval)),
    ];
    let router = axum::Router::new().fallback(handle).with_state(Arc::clone(&local));
    crate::serve::serve(listener, router, shutdown_signal()).await;
    // Counts still in memory go to the (durable) usage queue; the next start meters them.
    local.gateway.flush().await;
    for task in background {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Every answer of the stack, the gateway's and the emulator's too, tells browsers not to
/// guess its type.
async fn handle(state: State<Arc<Local>>, request: Request) -> Response {
    let mut response = dispatch(state, request).await;
    response.headers_mut().insert(http::header::X_CONTENT_TYPE_OPTIONS, http::HeaderValue::from_static("nosniff"));
    response
}

/// `/v1/*` goes to the native gateway; everything else to the functions' routes. The body
/// is read whole first, as API Gateway does: a route that refuses early (no token) then
/// still leaves the connection usable.
async fn dispatch(State(local): State<Arc<Local>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(body, MAX_WEBHOOK_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return tollgate_http::refusal(&parts, ApiError::PayloadTooLarge),
        Err(BodyError::Stalled) => return tollgate_http::refusal(&parts, ApiError::BodyTimeout),
        Err(BodyError::Broken) => return tollgate_http::refusal(&parts, ApiError::IncompleteBody),
    };
    let path = parts.uri.path();
    if let Some(emulator) = local.stripe_emulator.as_ref().filter(|_| path.starts_with("/stripe/")) {
        let Ok(response) = emulator.clone().oneshot(http::Request::from_parts(parts, Body::from(body))).await;
        return response;
    }
    if tollgate_core::forwarding::is_gateway_path(path) {
        return local.gateway.handle(http::Request::from_parts(parts, body), &local.api).await.map(Body::from);
    }
    let request = http::Request::from_parts(parts, Body::from(body));
    let Ok(response) = local.api.clone().oneshot(request).await;
    response
}

/// The stand-in for the Durable Objects' alarms: the gateway's counts go to the usage
/// queue every `USAGE_FLUSH_SECONDS`, or at once when a key has many pending.
async fn flush_usage(local: Arc<Local>) {
    loop {
        let _ = tokio::time::timeout(local.usage_flush, local.gateway.flush_now.notified()).await;
        local.gateway.flush().await;
    }
}

/// The stand-in for the EventBridge schedule: one tick every `every`, the first at start.
async fn orchestrate(local: Arc<Local>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match local.orchestrator.tick().await {
            Ok(report) => {
                if let Some(cap) = report.stopped_by {
                    tracing::info!(reason = %cap, "the tick stopped at a cap");
                }
            }
            Err(error) => tracing::error!(%error, "the tick failed; the next one tries again"),
        }
        if let Err(error) = local.instances.run_due().await {
            tracing::error!(%error, "due workflow subscriptions could not run; the next tick tries again");
        }
    }
}

/// The stand-in for the monitor's EventBridge schedule: a check every `every`, the first
/// one interval after start (the stack's own `/health` is not served before that).
async fn check_health(monitor: Arc<Monitor<Sqlite>>, every: Duration) {
    let mut checks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        checks.tick().await;
        if let Err(error) = monitor.check().await {
            tracing::error!(%error, "the health check failed; the next one tries again");
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}
