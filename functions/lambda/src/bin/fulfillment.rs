//! `fulfillment`: announces each one-off purchase to its product's fulfillment webhook,
//! signed (SQS `fulfillment`, `ReportBatchItemFailures`); a refused post is retried with
//! backoff, then dead-lettered and the purchase marked `failed`.

use tollgate_app::ports::queue::QueueName;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    // Settings read once (a missing one fails the cold start); SDK clients built once.
    let fulfiller = tollgate_lambda::functions::fulfillment(&tollgate_lambda::Env::process()).await?;
    let fulfiller = &fulfiller;
    tollgate_lambda::sqs_main(QueueName::Fulfillment, |delivery| async move { fulfiller.fulfill(&delivery).await })
        .await
}
