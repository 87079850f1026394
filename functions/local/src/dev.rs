//! `tollgate dev`: the HTTP functions and the native edge gateway (`/v1/*`) on one
//! address; beside them the event processor, the workflow runner, the fulfiller and the
//! usage meter, each on its queue by a [`QueueWorker`] (the stand-in for an SQS event
//! source mapping), the gateway's
//! flusher (the stand-in for Durable Object alarms) and the orchestrator on a timer (the
//! stand-in for the EventBridge schedule).

use crate::config::{DevConfig, Origin, StripeAccess, StripeSetup};
use crate::gateway::Gateway;
use crate::serve::{BodyError, read_body};
use crate::worker::QueueWorker;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tollgate_app::checkout::{Checkout, CheckoutSettings};
use tollgate_app::fulfillment::Fulfiller;
use tollgate_app::ingest::Webhooks;
use tollgate_app::keys::EdgeLink;
use tollgate_app::orchestrator::Orchestrator;
use tollgate_app::payouts::{PayoutReport, PayoutRun, PayoutSettings, Payouts};
use tollgate_app::ports::connect::Connect;
use tollgate_app::ports::meter_events::MeterEvents;
use tollgate_app::ports::queue::{Delivery, QueueName};
use tollgate_app::ports::run_metrics::LoggedMetrics;
use tollgate_app::ports::stripe_events::StripeEvents;
use tollgate_app::ports::stripe_time::StripeTime;
use tollgate_app::reconcile::{Reconciled, Reconciler};
use tollgate_app::usage_meter::UsageMeter;
use tollgate_app::{App, DEFAULT_MAX_RECEIVES, SystemClock};
use tollgate_core::payout::Period;
use tollgate_core::signature::Verifier;
use tollgate_embedded::{QueueSettings, Sqlite};
use tollgate_http::error::ApiError;
use tollgate_http::{Api, MAX_WEBHOOK_BYTES};
use tollgate_stripe_emulator::{Emulator, Settings as EmulatorSettings};
use tower::ServiceExt;

struct Local {
    /// The routes of webhook-ingest, account-api and checkout together.
    api: axum::Router,
    orchestrator: Arc<Orchestrator<Sqlite>>,
    gateway: Gateway,
    usage_flush: Duration,
    /// The emulated Stripe's routes, under `/stripe/`.
    stripe_emulator: Option<axum::Router>,
}

/// The use cases over the data directory's database, as `tollgate dev` and the operator
/// commands both open it.
fn open_app(data_dir: &Path, config: &DevConfig) -> Result<App<Sqlite>, tollgate_embedded::DbError> {
    let store = Sqlite::open(&data_dir.join("tollgate.sqlite3"), QueueSettings::default())?;
    Ok(App { store, catalog: config.catalog.clone(), clock: Arc::new(SystemClock), max_receives: DEFAULT_MAX_RECEIVES })
}

pub async fn run(
    addr: SocketAddr,
    data_dir: &Path,
    tick: Duration,
    config: DevConfig,
    stripe_chaos: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let app = open_app(data_dir, &config)?;
    let released = app.store.release_in_flight().await?;
    if released > 0 {
        tracing::info!(released, "messages in flight when the last run stopped are queued again");
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let public = config.public_base(addr);
    let app = Arc::new(app);
    let orchestrator = Arc::new(Orchestrator {
        app: Arc::clone(&app),
        settings: config.orchestration(&public)?,
        outbound: Arc::new(tollgate_outbound::HttpClient::new()?),
        metrics: Arc::new(LoggedMetrics),
    });
    let webhooks = Webhooks {
        verifier: Verifier::new(config.webhook_secrets.clone(), config.tolerance_seconds),
        livemode: config.livemode,
    };
    let jwt = tollgate_http::jwt::Verifier::new(config.jwt.clone()).await?;
    let edge = EdgeLink {
        secret: config.edge_secret.clone(),
        url: config.edge_url.clone(),
        outbound: Arc::clone(&orchestrator.outbound),
    };
    let mut api = Api::new(Arc::clone(&app), Some(webhooks), Some(jwt))
        .with_orchestrator(Arc::clone(&orchestrator))
        .with_keys(Arc::new(edge))
        .with_openapi()
        .with_pages()
        .with_stream();
    let emulator = match &config.stripe {
        StripeSetup::Emulated { key } => Some(Emulator::open(EmulatorSettings {
            state_file: data_dir.join("stripe-emulator.json"),
            secret_key: key.clone(),
            public_base: format!("{public}/stripe"),
            webhook_url: config
                .emulator_webhook_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}/webhooks/stripe")),
            webhook_secret: config.webhook_secrets[0].clone(),
            enabled_events: tollgate_core::change::HANDLED_EVENT_TYPES.iter().map(|&kind| kind.to_owned()).collect(),
            chaos: stripe_chaos,
        })?),
        StripeSetup::Real(_) => None,
    };
    if let Some(emulator) = &emulator {
        api = api.with_stripe_time(Arc::clone(emulator) as Arc<dyn StripeTime>);
    }
    // One Stripe client (one connection pool) for every Stripe call, the emulator's catalog too.
    let stripe = config.stripe_api(addr).as_ref().map(StripeAccess::client).transpose()?.map(Arc::new);
    let catalog_sync = emulator.is_some().then(|| stripe.clone()).flatten();
    let usage_meter = UsageMeter {
        app: Arc::clone(&app),
        stripe: stripe.clone().map(|stripe| stripe as Arc<dyn MeterEvents>),
        event_name: config.meter_event_name.clone(),
        outbound: Arc::clone(&orchestrator.outbound),
        alert_webhook: orchestrator.settings.alert_webhook.clone(),
    };
    let gateway = Gateway::new(Arc::clone(&app), config.upstream_url.clone())?;
    // A partner's standing is read from the ledger, Stripe or not; onboarding needs Stripe.
    api = api.with_payouts(Arc::new(Payouts {
        app: Arc::clone(&app),
        stripe: stripe.clone().map(|stripe| stripe as Arc<dyn Connect>),
        settings: PayoutSettings::read(|name| std::env::var(name).ok(), Some(&public))?,
        policy: config.payout_policy,
    }));
    if let Some(stripe) = stripe {
        let settings = CheckoutSettings::read(|name| std::env::var(name).ok(), Some(&public))?;
        api = api.with_reconciler(Arc::new(Reconciler {
            stripe: Arc::clone(&stripe) as Arc<dyn StripeEvents>,
            outbound: Arc::clone(&orchestrator.outbound) as _,
            alert_webhook: orchestrator.settings.alert_webhook.clone(),
        }));
        api = api.with_payout_run(Arc::new(PayoutRun {
            app: Arc::clone(&app),
            transfers: Arc::clone(&stripe) as _,
            policy: config.payout_policy,
            outbound: Arc::clone(&orchestrator.outbound) as _,
            alert_webhook: orchestrator.settings.alert_webhook.clone(),
        }));
        api = api.with_checkout(Arc::new(Checkout { app: Arc::clone(&app), stripe, settings }));
    }
    let fulfiller = Arc::new(Fulfiller {
        app: Arc::clone(&app),
        outbound: Arc::clone(&orchestrator.outbound),
        secret: orchestrator.settings.secret.clone(),
        retry: orchestrator.settings.retry,
    });
    let usage_meter = Arc::new(usage_meter);
    let local = Arc::new(Local {
        api: api.router(),
        orchestrator: Arc::clone(&orchestrator),
        gateway,
        usage_flush: config.usage_flush,
        stripe_emulator: emulator.as_ref().map(|emulator| axum::Router::new().nest("/stripe", emulator.router())),
    });
    greet(addr, &public, data_dir, tick, &config, stripe_chaos);
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
    let store = app.store.clone();
    let background = [
        tokio::spawn(
            QueueWorker {
                queue: QueueName::Events,
                store: store.clone(),
                handler: move |delivery: Delivery| {
                    let app = Arc::clone(&app);
                    async move { app.process(&delivery).await }
                },
            }
            .run(),
        ),
        tokio::spawn(
            QueueWorker {
                queue: QueueName::Runs,
                store: store.clone(),
                handler: move |delivery: Delivery| {
                    let orchestrator = Arc::clone(&orchestrator);
                    async move { orchestrator.start_run(&delivery).await }
                },
            }
            .run(),
        ),
        tokio::spawn(
            QueueWorker {
                queue: QueueName::Fulfillment,
                store: store.clone(),
                handler: move |delivery: Delivery| {
                    let fulfiller = Arc::clone(&fulfiller);
                    async move { fulfiller.fulfill(&delivery).await }
                },
            }
            .run(),
        ),
        tokio::spawn(
            QueueWorker {
                queue: QueueName::Usage,
                store,
                handler: move |delivery: Delivery| {
                    let usage_meter = Arc::clone(&usage_meter);
                    async move { usage_meter.meter_delivery(&delivery).await }
                },
            }
            .run(),
        ),
        tokio::spawn(flush_usage(Arc::clone(&local))),
        tokio::spawn(orchestrate(Arc::clone(&local), tick)),
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

/// `tollgate reconcile`: one reconciliation on the data directory's database, with the
/// configured Stripe client and alert webhook.
pub async fn reconcile(
    data_dir: &Path,
    addr: SocketAddr,
    config: &DevConfig,
    since: Option<i64>,
) -> Result<Reconciled, Box<dyn std::error::Error>> {
    let stripe = config.stripe_api(addr).ok_or("reconcile needs STRIPE_SECRET_KEY")?.client()?;
    let app = open_app(data_dir, config)?;
    let reconciler = Reconciler {
        stripe: Arc::new(stripe),
        outbound: Arc::new(tollgate_outbound::HttpClient::new()?),
        alert_webhook: config.alert_webhook()?,
    };
    Ok(app.reconcile(&reconciler, since).await?)
}

/// `tollgate payouts run`: one payout run on the data directory's database, with the
/// configured Stripe client and alert webhook.
pub async fn run_payouts(
    data_dir: &Path,
    addr: SocketAddr,
    config: &DevConfig,
    period: Option<Period>,
    dry_run: bool,
) -> Result<PayoutReport, Box<dyn std::error::Error>> {
    let stripe = config.stripe_api(addr).ok_or("payouts need STRIPE_SECRET_KEY")?.client()?;
    let payout_run = PayoutRun {
        app: Arc::new(open_app(data_dir, config)?),
        transfers: Arc::new(stripe),
        policy: config.payout_policy,
        outbound: Arc::new(tollgate_outbound::HttpClient::new()?),
        alert_webhook: config.alert_webhook()?,
    };
    Ok(payout_run.run(period, dry_run).await?)
}

/// `tollgate stripe advance`: asks the running stack's emulated Stripe to move subscriptions
/// on; answers what it did, as it said it.
pub async fn advance(
    emulated: &StripeAccess,
    by_seconds: i64,
    customer: Option<&str>,
) -> Result<String, Box<dyn std::error::Error>> {
    let by = format!("{by_seconds}s");
    let mut form = vec![("by", by.as_str())];
    form.extend(customer.map(|customer| ("customer", customer)));
    let answer = reqwest::Client::new()
        .post(format!("{}emulator/advance", emulated.base))
        .bearer_auth(secrecy::ExposeSecret::expose_secret(&emulated.key))
        .form(&form)
        .send()
        .await
        .map_err(|error| format!("is `tollgate dev` running at {}? {error}", emulated.base))?;
    let ok = answer.status().is_success();
    let body: serde_json::Value = answer.json().await?;
    if !ok {
        return Err(body["error"]["message"].as_str().unwrap_or("the emulated Stripe refused").into());
    }
    let count = |field: &str| body[field].as_array().map_or(0, Vec::len);
    Ok(format!("renewed {} subscription(s), {} new invoice(s)", count("renewed"), count("invoices")))
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
        return local.gateway.handle(http::Request::from_parts(parts, body)).await.map(Body::from);
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
    }
}

/// The account the printed account link signs in as.
const DEMO_USER: &str = "user_demo";

fn greet(addr: SocketAddr, public: &str, data_dir: &Path, tick: Duration, config: &DevConfig, stripe_chaos: bool) {
    println!("tollgate dev is listening on http://{addr}");
    if !addr.ip().is_loopback() {
        // Development secrets and ready admin links are printed below: fine on loopback only.
        println!("  WARNING:   listening beyond loopback: whoever reaches http://{addr} can use the development");
        println!("             secrets and the admin link below; links use {public} (set PUBLIC_URL to the address");
        println!("             others reach this stack at)");
        tracing::warn!(%addr, public, "tollgate dev listens beyond loopback");
    }
    // Ready links (the token in the fragment, which the browser never sends) only with the
    // generated development secret; with a configured one, the pages ask for a token.
    if config.jwt_secret_origin == Origin::Generated {
        let admin = config.token("operator", Some("admin"), 12 * 3600).unwrap_or_default();
        let demo = config.token(DEMO_USER, None, 12 * 3600).unwrap_or_default();
        println!("  console:   {public}/console#token={admin}");
        println!("  account:   {public}/account#token={demo}   ({DEMO_USER})");
    } else {
        println!("  console:   {public}/console   account: {public}/account   (sign in with a token)");
    }
    println!("  data:      {}", data_dir.display());
    println!("  workflows: ticking every {} s; callbacks on {public}/webhooks/workflows/{{runId}}", tick.as_secs());
    println!("  webhooks:  {public}/webhooks/stripe");
    println!("             stripe listen --forward-to {public}/webhooks/stripe");
    if config.webhook_secret_origin == Origin::Generated {
        let secret = config.webhook_secrets[0].expose();
        println!("  STRIPE_WEBHOOK_SECRET is not set; using a development secret:");
        println!("             {secret}");
        println!("             (set STRIPE_WEBHOOK_SECRET to the whsec_ that `stripe listen` prints to use its)");
    }
    println!("  API keys:  POST {public}/api/keys (JWT), then call {public}/v1/… with the key");
    match &config.upstream_url {
        Some(upstream) => println!("             allowed /v1 calls are forwarded to {upstream}"),
        None => println!("             UPSTREAM_URL is not set: allowed /v1 calls are answered here"),
    }
    if config.edge_secret_origin == Origin::Generated {
        println!(
            "  EDGE_SECRET is not set; a development secret is kept in {}",
            data_dir.join("edge-secret").display()
        );
    }
    if config.jwt_secret_origin == Origin::Generated {
        println!("  JWT_SECRET is not set; a development secret is kept in {}", data_dir.join("jwt-secret").display());
        println!("  admin token (1 h):  {}", config.token("operator", Some("admin"), 3600).unwrap_or_default());
        println!("             curl -H \"Authorization: Bearer $(tollgate token --role admin)\" {public}/admin/events");
    }
    match &config.stripe {
        StripeSetup::Emulated { .. } => {
            println!(
                "  Stripe:    pay with 4242 4242 4242 4242 on the local Checkout; 4000 0000 0000 0002 is declined"
            );
            println!("             tollgate stripe advance 31d · tollgate stripe refund pi_… · tollgate payouts run");
            if stripe_chaos {
                println!("             chaos: every event is delivered twice, out of order");
            }
            println!("  Stripe API: emulated at {public}/stripe/ (no account, no network; --stripe real for Stripe)");
        }
        StripeSetup::Real(Some(stripe)) => {
            println!("  Stripe API: {} (checkout: {public}/api/checkout)", stripe.base)
        }
        StripeSetup::Real(None) => {
            println!("  Stripe API: not configured (STRIPE_SECRET_KEY is not set; /api/checkout is off)")
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
