//! The plumbing every tollgate Lambda function shares, so that each entry point is a
//! page: build the app once, then hand requests or SQS batches to it.

pub mod emf;
pub mod functions;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use bytes::Bytes;
use lambda_http::Request;
use lambda_http::request::RequestContext;
use secrecy::SecretString;
use std::future::Future;
use std::sync::Arc;
use thiserror::Error;
use tollgate_app::checkout::{Checkout, CheckoutSettings, SettingError as CheckoutSettingError};
use tollgate_app::fulfillment::Fulfiller;
use tollgate_app::ingest::Webhooks;
use tollgate_app::keys::EdgeLink;
use tollgate_app::orchestrator::{Orchestrator, Settings, SettingsError, WorkflowSecret};
use tollgate_app::payouts::{PayoutPolicy, PayoutRun, PayoutSettings, Payouts};
use tollgate_app::ports::queue::{Delivery, QueueName};
use tollgate_app::reconcile::Reconciler;
use tollgate_app::usage_meter::{DEFAULT_METER_EVENT_NAME, UsageMeter};
use tollgate_app::{App, SystemClock};
pub use tollgate_aws::config::Env;
use tollgate_aws::config::Resource;
use tollgate_aws::{Aws, ConfigError, Resources};
use tollgate_core::catalog::{Catalog, CatalogError};
use tollgate_core::signature::Verifier;
use tollgate_http::{RequestId, jwt};

/// Why a cold start stopped. Shown as its sentence (also as `Debug`, which is what a
/// failing `main` prints), so the log names the missing or bad setting.
#[derive(Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("reading CATALOG_PATH: {0}")]
    CatalogFile(#[from] std::io::Error),
    #[error("CATALOG_PATH: {0}")]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    #[error(transparent)]
    Checkout(#[from] CheckoutSettingError),
    #[error(transparent)]
    Jwt(#[from] jwt::SettingsError),
    #[error("{0}")]
    StripeMode(&'static str),
}

impl std::fmt::Debug for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// The Stripe endpoint from `STRIPE_WEBHOOK_SECRET` (and the tolerance), in the mode
/// `STRIPE_LIVEMODE` or `STRIPE_SECRET_KEY` says (test mode by default).
pub fn webhooks(env: &Env) -> Result<Webhooks, StartError> {
    let (secrets, tolerance) = tollgate_aws::config::webhook_secrets(env)?;
    let livemode = tollgate_core::stripe::stack_livemode(
        env.optional("STRIPE_SECRET_KEY").as_deref(),
        env.optional("STRIPE_LIVEMODE").as_deref(),
    )
    .map_err(StartError::StripeMode)?;
    Ok(Webhooks { verifier: Verifier::new(secrets, tolerance), livemode })
}

/// The JWT verifier from `JWT_SECRET` or `JWT_JWKS_URL` (whose keys are fetched now).
pub async fn jwt_verifier(env: &Env<'_>) -> Result<jwt::Verifier, StartError> {
    Ok(jwt::Verifier::new(jwt::Settings::read(env.lookup())?).await?)
}

/// The app on the DynamoDB tables and SQS queues in `needs` (no others are read),
/// configured from `env`. Called once per cold start.
pub async fn app_from_env(env: &Env<'_>, needs: &[Resource]) -> Result<App<Aws>, StartError> {
    let resources = Resources::read(env, needs)?;
    let catalog = match env.optional("CATALOG_PATH") {
        Some(path) => Catalog::parse(&std::fs::read_to_string(path)?)?,
        None => Catalog::default_catalog(),
    };
    let max_receives = tollgate_aws::config::max_receives(env)?;
    let store = Aws::connect(resources).await;
    store.warm_up().await;
    Ok(App { store, catalog, clock: Arc::new(SystemClock), max_receives })
}

/// The orchestrator over `app`, from `WORKFLOW_SECRET`, `CALLBACK_BASE_URL` and the
/// optional caps and retry settings. Called once per cold start.
pub fn orchestrator_from_env(env: &Env, app: Arc<App<Aws>>) -> Result<Orchestrator<Aws>, StartError> {
    let secret =
        WorkflowSecret::new(&env.required("WORKFLOW_SECRET")?).ok_or(SettingsError::Missing("WORKFLOW_SECRET"))?;
    let callback_base = env.required("CALLBACK_BASE_URL")?;
    if tollgate_core::workflow::WebhookUrl::parse(&callback_base).is_err() {
        return Err(SettingsError::NotAUrl("CALLBACK_BASE_URL").into());
    }
    let settings = Settings::read(secret, callback_base, env.lookup())?;
    Ok(Orchestrator { app, settings, outbound: Arc::new(http_client()?), metrics: Arc::new(emf::Emf) })
}

/// The checkout use cases over `app` and the Stripe client, from the checkout URLs. Called
/// once per cold start.
pub fn checkout_from_env(
    env: &Env<'_>,
    app: Arc<App<Aws>>,
    stripe: Arc<tollgate_stripe::StripeApi>,
) -> Result<Checkout<Aws>, StartError> {
    let settings = CheckoutSettings::read(env.lookup(), None)?;
    Ok(Checkout { app, stripe, settings })
}

/// Partners' onboarding and standing over `app`, from `PAYOUTS_RETURN_URL`,
/// `PAYOUT_HOLD_DAYS` and `PAYOUT_MINIMUM_CENTS`.
pub fn payouts_from_env(
    env: &Env<'_>,
    app: Arc<App<Aws>>,
    stripe: Arc<tollgate_stripe::StripeApi>,
) -> Result<Payouts<Aws>, StartError> {
    let settings = PayoutSettings::read(env.lookup(), None)?;
    let policy = PayoutPolicy::read(env.lookup())?;
    Ok(Payouts { app, stripe: Some(stripe), settings, policy })
}

/// The payout run over `app` and the Stripe client, from `PAYOUT_HOLD_DAYS`,
/// `PAYOUT_MINIMUM_CENTS` and `ALERT_WEBHOOK_URL`.
pub fn payout_run_from_env(
    env: &Env<'_>,
    app: Arc<App<Aws>>,
    stripe: Arc<tollgate_stripe::StripeApi>,
) -> Result<PayoutRun<Aws>, StartError> {
    Ok(PayoutRun {
        app,
        transfers: stripe,
        policy: PayoutPolicy::read(env.lookup())?,
        outbound: Arc::new(http_client()?),
        alert_webhook: env.optional("ALERT_WEBHOOK_URL"),
    })
}

/// The Stripe client from `STRIPE_SECRET_KEY` and `STRIPE_API_BASE`, connected.
pub async fn stripe_api(env: &Env<'_>) -> Result<tollgate_stripe::StripeApi, StartError> {
    let key = SecretString::from(env.required("STRIPE_SECRET_KEY")?);
    let base = env.optional("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com".into());
    let api = tollgate_stripe::StripeApi::new(&key, &base).map_err(|e| StartError::HttpClient(e.to_string()))?;
    api.warm_up(tollgate_aws::WARM_UP_LIMIT).await;
    Ok(api)
}

/// The fulfiller over `app`: signs with `WORKFLOW_SECRET`, retries like the runner.
pub fn fulfiller_from_env(env: &Env, app: Arc<App<Aws>>) -> Result<Fulfiller<Aws>, StartError> {
    let secret =
        WorkflowSecret::new(&env.required("WORKFLOW_SECRET")?).ok_or(SettingsError::Missing("WORKFLOW_SECRET"))?;
    let retry = Settings::read(secret.clone(), String::new(), env.lookup())?.retry;
    Ok(Fulfiller { app, outbound: Arc::new(http_client()?), secret, retry })
}

/// The origin's side of the edge link: `EDGE_SECRET`, and `EDGE_URL` to push revocations to.
pub fn edge_link_from_env(env: &Env) -> Result<EdgeLink, StartError> {
    let secret = tollgate_core::edge::EdgeSecret::new(&env.required("EDGE_SECRET")?)
        .ok_or(ConfigError::Missing("EDGE_SECRET"))?;
    let url = env.optional("EDGE_URL");
    Ok(EdgeLink { secret, url, outbound: Arc::new(http_client()?) })
}

/// The usage meter over `app`: Stripe from `STRIPE_SECRET_KEY`, the meter from
/// `STRIPE_METER_EVENT_NAME`, alerts to `ALERT_WEBHOOK_URL` when set.
pub async fn usage_meter_from_env(env: &Env<'_>, app: Arc<App<Aws>>) -> Result<UsageMeter<Aws>, StartError> {
    Ok(UsageMeter {
        app,
        stripe: Some(Arc::new(stripe_api(env).await?)),
        event_name: env.optional("STRIPE_METER_EVENT_NAME").unwrap_or_else(|| DEFAULT_METER_EVENT_NAME.to_owned()),
        outbound: Arc::new(http_client()?),
        alert_webhook: env.optional("ALERT_WEBHOOK_URL"),
    })
}

/// Reconciliation and replay: Stripe from `STRIPE_SECRET_KEY`, alerts to `ALERT_WEBHOOK_URL` when set.
pub fn reconciler_from_env(env: &Env<'_>, stripe: Arc<tollgate_stripe::StripeApi>) -> Result<Reconciler, StartError> {
    Ok(Reconciler { stripe, outbound: Arc::new(http_client()?), alert_webhook: env.optional("ALERT_WEBHOOK_URL") })
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

/// Runs an SQS-triggered function: every message of each batch is handed to `handle`,
/// and the ones it fails are reported back (`ReportBatchItemFailures`), as [`each_message`].
pub async fn sqs_main<F, Fut, T, E>(queue: QueueName, handle: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let handle = &handle;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(each_message(queue, event.payload, handle).await)
    }))
    .await
}

/// Applies `each` to every message of an SQS batch and reports the ones that failed, so
/// that SQS deletes only the others (`ReportBatchItemFailures`). A failed one has already
/// been settled by the retry policy: its visibility set to the backoff, or dead-lettered.
pub async fn each_message<F, Fut, T, E>(queue: QueueName, event: SqsEvent, each: F) -> SqsBatchResponse
where
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut failures = Vec::new();
    for message in event.records {
        let Some(delivery) = delivery(queue, message) else {
            tracing::error!("an SQS record without id, receipt or body was skipped");
            continue;
        };
        let id = delivery.message_id.clone();
        // Boxed: a use case awaits storage through several layers; unboxed, its future makes
        // the entry point's type deeper than rustc's layout limit (a clean build refuses it).
        if let Err(error) = Box::pin(each(delivery)).await {
            tracing::warn!(message_id = %id, %error, "message left for redelivery");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
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
