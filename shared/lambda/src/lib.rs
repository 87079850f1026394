//! The Lambda composition root: each function's use cases built once at cold start from
//! its settings parts (`functions.rs` composes them per function), then requests or SQS
//! batches handed to them, so that each entry point is a page.

pub mod emf;
pub mod functions;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use bytes::Bytes;
use lambda_http::Request;
use lambda_http::request::RequestContext;
use std::future::Future;
use std::sync::Arc;
use thiserror::Error;
use tollgate_app::alerting::Alerting;
use tollgate_app::checkout::Checkout;
use tollgate_app::endpoints::Endpoints;
use tollgate_app::fulfillment::Fulfiller;
use tollgate_app::keys::{EdgeLink, Keys};
use tollgate_app::monitor::Monitor;
use tollgate_app::orchestrator::Orchestrator;
use tollgate_app::payouts::{Onboarding, PayoutRun, Payouts};
use tollgate_app::ports::queue::{Delivery, QueueName};
use tollgate_app::reconcile::Reconciler;
use tollgate_app::sales::Sales;
use tollgate_app::usage_meter::UsageMeter;
use tollgate_app::{Clock, SystemClock};
use tollgate_aws::config::Resource;
use tollgate_aws::{Aws, Resources};
use tollgate_core::catalog::Catalog;
use tollgate_core::money::Micros;
use tollgate_http::{Auth, RequestId, jwt};
pub use tollgate_settings::Env;
use tollgate_settings::SettingError;

/// Why a cold start stopped. Shown as its sentence (also as `Debug`, which is what a
/// failing `main` prints), so the log names the missing or bad setting.
#[derive(Error)]
pub enum StartError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    #[error(transparent)]
    Jwks(#[from] jwt::SettingsError),
}

impl std::fmt::Debug for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Bearer tokens checked as the JWT settings say (an issuer's keys are fetched now).
pub async fn auth(env: &Env<'_>) -> Result<Arc<Auth>, StartError> {
    let verifier = jwt::Verifier::new(tollgate_settings::jwt(env)?).await?;
    Ok(Arc::new(Auth { verifier, clock: clock() }))
}

/// The wall clock every use case reads.
pub fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// The store on the DynamoDB tables and SQS queues in `needs` (no others are read),
/// connected and warmed up. Called once per cold start.
pub async fn store(env: &Env<'_>, needs: &[Resource]) -> Result<Aws, StartError> {
    let store = Aws::connect(Resources::read(needs, |variable| env.required(variable))?).await;
    store.warm_up().await;
    Ok(store)
}

/// Alerts go to the alert webhook too, when one is set.
pub fn alerting(env: &Env) -> Result<Alerting, StartError> {
    Ok(Alerting { outbound: Arc::new(http_client()?), webhook: tollgate_settings::alert_webhook(env)? })
}

/// The orchestrator over `store`, as the orchestration settings say. Called once per cold start.
pub fn orchestrator(env: &Env, store: Aws) -> Result<Orchestrator<Aws>, StartError> {
    Ok(Orchestrator {
        store,
        clock: clock(),
        settings: tollgate_settings::orchestration(env)?,
        outbound: Arc::new(http_client()?),
        deliveries: Arc::new(
            tollgate_outbound::HttpClient::public_only().map_err(|e| StartError::HttpClient(e.to_string()))?,
        ),
        metrics: Arc::new(emf::Emf),
        alerting: alerting(env)?,
        revenue_checked: Default::default(),
    })
}

/// The customer API's use cases over `orchestrator`'s store: in the cloud a webhook URL must
/// resolve to public addresses.
pub fn sales(orchestrator: Arc<Orchestrator<Aws>>, catalog: Catalog) -> Sales<Aws> {
    let resolver = Arc::new(tollgate_outbound::SystemResolver);
    let store = orchestrator.store.clone();
    Sales {
        zone: orchestrator.settings.zone,
        endpoints: Arc::new(Endpoints { store, clock: clock(), resolver, local: false }),
        orchestrator,
        catalog,
        schemas: Default::default(),
    }
}

/// Checkout Sessions and portal links over `store`, redirecting as the checkout settings say.
pub fn checkout(
    env: &Env<'_>,
    store: Aws,
    catalog: Catalog,
    stripe: Arc<tollgate_stripe::StripeApi>,
) -> Result<Checkout<Aws>, StartError> {
    Ok(Checkout { store, catalog, clock: clock(), stripe, settings: tollgate_settings::checkout(env)? })
}

/// Partners' standing over `store`, by the payout policy.
pub fn payouts(env: &Env<'_>, store: Aws) -> Result<Payouts<Aws>, StartError> {
    Ok(Payouts { store, clock: clock(), policy: tollgate_settings::payout_policy(env)? })
}

/// Partners' onboarding over `store` and Stripe Connect, back to `PAYOUTS_RETURN_URL`.
pub fn onboarding(
    env: &Env<'_>,
    store: Aws,
    stripe: Arc<tollgate_stripe::StripeApi>,
) -> Result<Onboarding<Aws>, StartError> {
    Ok(Onboarding { store, connect: stripe, settings: tollgate_settings::payouts_return(env)? })
}

/// The payout run over `store` and Stripe's transfers, by the payout policy.
pub fn payout_run(
    env: &Env<'_>,
    store: Aws,
    stripe: Arc<tollgate_stripe::StripeApi>,
) -> Result<PayoutRun<Aws>, StartError> {
    Ok(PayoutRun {
        store,
        clock: clock(),
        transfers: stripe,
        policy: tollgate_settings::payout_policy(env)?,
        alerting: alerting(env)?,
    })
}

/// The Stripe client, connected.
pub async fn stripe_api(env: &Env<'_>) -> Result<tollgate_stripe::StripeApi, StartError> {
    let access = tollgate_settings::stripe(env)?;
    let api = tollgate_stripe::StripeApi::new(&access.key, &access.base)
        .map_err(|e| StartError::HttpClient(e.to_string()))?;
    api.warm_up(tollgate_aws::WARM_UP_LIMIT).await;
    Ok(api)
}

/// The fulfiller over `store`: signs with `WORKFLOW_SECRET`, retries like the runner.
pub fn fulfiller(env: &Env, store: Aws, catalog: Catalog) -> Result<Fulfiller<Aws>, StartError> {
    Ok(Fulfiller {
        store,
        catalog,
        clock: clock(),
        outbound: Arc::new(http_client()?),
        secret: tollgate_settings::workflow_secret(env)?,
        retry: tollgate_settings::run_retry(env)?,
    })
}

/// API keys over `store`, with the link to the edge.
pub fn keys(env: &Env, store: Aws, catalog: Catalog) -> Result<Keys<Aws>, StartError> {
    let edge = tollgate_settings::edge(env)?;
    let link = EdgeLink { secret: edge.secret, url: edge.url, outbound: Arc::new(http_client()?) };
    let zone = tollgate_settings::business_zone(env)?;
    Ok(Keys { store, catalog, zone, clock: clock(), edge: Arc::new(link) })
}

/// The usage meter over `store`: overage to Stripe's meter, alerts to the alert webhook.
pub async fn usage_meter(env: &Env<'_>, store: Aws) -> Result<UsageMeter<Aws>, StartError> {
    let catalog = tollgate_settings::catalog(env)?;
    let low_balance = Micros::from_minor(tollgate_settings::low_balance_cents(env)?, catalog.currency());
    Ok(UsageMeter {
        store,
        catalog,
        zone: tollgate_settings::business_zone(env)?,
        clock: clock(),
        retry: tollgate_settings::retry(env)?,
        stripe: Some(Arc::new(stripe_api(env).await?)),
        alerting: alerting(env)?,
        low_balance,
    })
}

/// Reconciliation over `store`: Stripe's events, alerts to the alert webhook.
pub fn reconciler(
    env: &Env<'_>,
    store: Aws,
    stripe: Arc<tollgate_stripe::StripeApi>,
) -> Result<Reconciler<Aws>, StartError> {
    Ok(Reconciler { store, clock: clock(), stripe, alerting: alerting(env)? })
}

/// Health checks of the stack (at `CALLBACK_BASE_URL`, its own address) and its upstream.
pub fn monitor(env: &Env<'_>, store: Aws) -> Result<Monitor<Aws>, StartError> {
    let own_base = env.required_url("CALLBACK_BASE_URL")?;
    let checks = tollgate_settings::health_checks(env, &own_base)?;
    let alerting = alerting(env)?;
    Ok(Monitor { store, outbound: Arc::clone(&alerting.outbound), alerting, clock: clock(), urls: checks.urls })
}

fn http_client() -> Result<tollgate_outbound::HttpClient, StartError> {
    tollgate_outbound::HttpClient::new().map_err(|e| StartError::HttpClient(e.to_string()))
}

/// Serves `router` as this function's handler, each request named by its platform id.
pub async fn serve(router: axum::Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(with_request_ids(router)).await
}

/// `router` with each request named by API Gateway's request id, else Lambda's: the id a
/// customer's error body shows is the one in API Gateway's and the function's logs.
pub fn with_request_ids(router: axum::Router) -> axum::Router {
    router.layer(axum::middleware::map_request(|mut request: axum::extract::Request| async move {
        if let Some(id) = platform_request_id(request.extensions()) {
            request.extensions_mut().insert(RequestId(id));
        }
        request
    }))
}

fn platform_request_id(extensions: &http::Extensions) -> Option<String> {
    let gateway = extensions.get::<RequestContext>().and_then(|context| match context {
        RequestContext::ApiGatewayV2(context) => context.request_id.clone(),
        RequestContext::ApiGatewayV1(context) => context.request_id.clone(),
        _ => None,
    });
    gateway.or_else(|| extensions.get::<lambda_http::Context>().map(|context| context.request_id.clone()))
}

/// Answers one API Gateway request as [`serve`] would: for the sample-event tests.
pub async fn answer(router: axum::Router, request: Request) -> http::Response<Bytes> {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let Ok(response) = with_request_ids(router).oneshot(request).await;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
    http::Response::from_parts(parts, body)
}

/// Which queue an SQS record came from.
#[derive(Debug, Clone)]
pub enum Sources {
    /// The one queue of a function with one event source.
    One(QueueName),
    /// Each queue by its SQS name, the last part of a record's `eventSourceARN`: a function
    /// fed by several queues settles each record on its own queue.
    ByName(Vec<(String, QueueName)>),
}

impl From<QueueName> for Sources {
    fn from(queue: QueueName) -> Self {
        Sources::One(queue)
    }
}

impl Sources {
    fn of(&self, message: &SqsMessage) -> Option<QueueName> {
        match self {
            Sources::One(queue) => Some(*queue),
            Sources::ByName(queues) => {
                let arn = message.event_source_arn.as_deref()?;
                let name = arn.rsplit(':').next()?;
                queues.iter().find(|(queue_name, _)| queue_name == name).map(|(_, queue)| *queue)
            }
        }
    }
}

/// Runs an SQS-triggered function: every message of each batch is handed to `handle`,
/// and the ones it fails are reported back (`ReportBatchItemFailures`), as [`each_message`].
pub async fn sqs_main<F, Fut, T, E>(sources: impl Into<Sources>, handle: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let (handle, sources) = (&handle, &sources.into());
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(each_message(sources.clone(), event.payload, handle).await)
    }))
    .await
}

/// Applies `each` to every message of an SQS batch and reports the ones that failed, so
/// that SQS deletes only the others (`ReportBatchItemFailures`). A failed one has already
/// been settled by the retry policy: its visibility set to the backoff, or dead-lettered.
pub async fn each_message<F, Fut, T, E>(sources: impl Into<Sources>, event: SqsEvent, each: F) -> SqsBatchResponse
where
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let sources = sources.into();
    let mut failures = Vec::new();
    let failed = |id: String| {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        failure
    };
    for message in event.records {
        let Some(queue) = sources.of(&message) else {
            // Not deleted: it comes back, and in the end reaches its dead-letter queue.
            tracing::error!(source = ?message.event_source_arn, "an SQS record from a queue this function was not given");
            failures.extend(message.message_id.map(failed));
            continue;
        };
        let Some(delivery) = delivery(queue, message) else {
            tracing::error!("an SQS record without id, receipt or body was skipped");
            continue;
        };
        let id = delivery.message_id.clone();
        // Boxed: a use case awaits storage through several layers; unboxed, its future makes
        // the entry point's type deeper than rustc's layout limit (a clean build refuses it).
        if let Err(error) = Box::pin(each(delivery)).await {
            tracing::warn!(message_id = %id, %error, "message left for redelivery");
            failures.push(failed(id));
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

fn delivery(queue: QueueName, message: SqsMessage) -> Option<Delivery> {
    let receive_count =
        message.attributes.get("ApproximateReceiveCount").and_then(|count| count.parse().ok()).unwrap_or(1);
    Some(Delivery {
        queue,
        message_id: message.message_id?,
        receipt: message.receipt_handle?,
        body: message.body?,
        receive_count,
    })
}
