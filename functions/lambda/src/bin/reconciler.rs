//! `reconciler`: every hour (EventBridge), lists Stripe's events since the stored cursor
//! and queues those no webhook delivered, alerting `missed_events` when there were any.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    // Settings read once (a missing one fails the cold start); SDK and Stripe clients built once.
    let reconciler = tollgate_lambda::functions::reconciler(&tollgate_lambda::Env::process()).await?;
    let reconciler = &reconciler;
    lambda_runtime::run(service_fn(move |_tick: LambdaEvent<serde_json::Value>| async move {
        let found = reconciler.reconcile(None).await?;
        tracing::info!(listed = found.listed, new = found.new, already_had = found.already_had, "reconciled");
        let answer = serde_json::json!({ "listed": found.listed, "new": found.new, "already_had": found.already_had });
        Ok::<_, lambda_runtime::Error>(answer)
    }))
    .await
}
