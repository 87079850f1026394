//! `webhook-ingest`: verifies Stripe's deliveries, records each event once, queues it
//! for `event-processor`, and only then answers 2xx. Also takes workflow callbacks
//! (`/webhooks/workflows/{runId}`), each checked against its run's token.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    // Settings read once (a missing one fails the cold start); SDK clients built once.
    let router = tollgate_lambda::functions::webhook_ingest(&tollgate_lambda::Env::process()).await?;
    tollgate_lambda::serve(router).await
}
