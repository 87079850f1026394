//! `payouts`: every month (EventBridge), pays each partner with payouts enabled their
//! available balance through a Stripe Connect transfer, once per period.

use lambda_runtime::{LambdaEvent, service_fn};
use tollgate_core::payout::Period;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    // Settings read once (a missing one fails the cold start); SDK and Stripe clients built once.
    let payout_run = tollgate_lambda::functions::payouts(&tollgate_lambda::Env::process()).await?;
    let payout_run = &payout_run;
    lambda_runtime::run(service_fn(move |tick: LambdaEvent<serde_json::Value>| async move {
        // The schedule sends no period (the current month); an operator's test invoke may name one.
        let period = tick.payload.get("period").and_then(|p| p.as_str()).map(Period::parse).transpose()?;
        let report = payout_run.run(period, false).await?;
        let (paid, skipped, failed) = (report.paid.len(), report.skipped.len(), report.failed.len());
        tracing::info!(period = %report.period, paid, skipped, failed, "payout run");
        let answer = serde_json::json!({ "period": report.period.to_string(), "paid": paid, "skipped": skipped, "failed": failed });
        Ok::<_, lambda_runtime::Error>(answer)
    }))
    .await
}
