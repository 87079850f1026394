//! `webhook-ingest`: verifies Stripe's deliveries, records each event once, queues it
//! for `event-processor`, and only then answers 2xx. Also takes workflow callbacks
//! (`/webhooks/workflows/{runId}`), each checked against its run's token.

use std::sync::Arc;
use tollgate_http::Api;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    let webhooks = tollgate_lambda::webhooks()?; // a missing secret fails the cold start
    let app = Arc::new(tollgate_lambda::app_from_env().await?); // SDK clients built once
    let orchestrator = Arc::new(tollgate_lambda::orchestrator_from_env(Arc::clone(&app))?);
    let api = Api::new(app, Some(webhooks), None).with_orchestrator(orchestrator);
    tollgate_lambda::serve(api.router()).await
}
