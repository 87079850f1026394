//! `monitor`: every five minutes (EventBridge), probes the stack's health endpoints;
//! two failures in a row raise `endpoint_down`, the first success after, `endpoint_recovered`.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    // Settings read once (a missing one fails the cold start); SDK and HTTP clients built once.
    let monitor = tollgate_lambda::functions::monitor(&tollgate_lambda::Env::process()).await?;
    let monitor = &monitor;
    lambda_runtime::run(service_fn(move |_tick: LambdaEvent<serde_json::Value>| async move {
        let checked = monitor.check().await?;
        let up = checked.iter().filter(|check| check.probe == tollgate_core::health::Probe::Up).count();
        tracing::info!(checked = checked.len(), up, "health checked");
        Ok::<_, lambda_runtime::Error>(serde_json::json!({ "checked": checked.len(), "up": up }))
    }))
    .await
}
