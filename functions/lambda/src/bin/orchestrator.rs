//! `orchestrator`: on every EventBridge tick, fails runs past their deadline and starts
//! due workflows under the daily and concurrency caps, queueing each run for `workflow-runner`;
//! then runs the workflow subscriptions' instances that are due.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    // Settings read once (a missing one fails the cold start); SDK clients built once.
    let instances = tollgate_lambda::functions::orchestrator(&tollgate_lambda::Env::process()).await?;
    let instances = &instances;
    lambda_runtime::run(service_fn(move |_tick: LambdaEvent<serde_json::Value>| async move {
        let report = instances.sales.orchestrator.tick().await?;
        tracing::info!(started = report.started.len(), failed_overdue = report.failed_overdue.len(), stopped_by = ?report.stopped_by.map(|cap| cap.to_string()), "tick");
        let instance_runs = instances.run_due().await?;
        Ok::<_, lambda_runtime::Error>(serde_json::json!({ "started": report.started.len(), "instance_runs": instance_runs }))
    }))
    .await
}
