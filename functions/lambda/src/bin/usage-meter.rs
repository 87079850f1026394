//! `usage-meter`: adds the edge's usage batches per key and billing period, once each
//! (SQS `usage`, `ReportBatchItemFailures`); reports overage as Stripe meter events and
//! raises quota alerts at 70/85/95%.

use tollgate_app::ports::queue::QueueName;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    // Settings read once (a missing one fails the cold start); SDK clients built once.
    let meter = tollgate_lambda::functions::usage_meter(&tollgate_lambda::Env::process()).await?;
    let meter = &meter;
    tollgate_lambda::sqs_main(QueueName::Usage, |delivery| async move { meter.meter_delivery(&delivery).await }).await
}
