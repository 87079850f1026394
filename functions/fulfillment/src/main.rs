//! `fulfillment`: announces each one-off purchase to its product's fulfillment webhook,
//! signed (SQS `fulfillment`, `ReportBatchItemFailures`); a refused post is retried with
//! backoff, then dead-lettered and the purchase marked `failed`.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use tollgate_app::ports::queue::QueueName;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    // Settings read once (a missing one fails the cold start); SDK clients built once.
    let fulfiller = tollgate_lambda::functions::fulfillment(&tollgate_lambda::Env::process()).await?;
    let fulfiller = &fulfiller;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let batch = tollgate_lambda::each_message(QueueName::Fulfillment, event.payload, |delivery| async move {
            fulfiller.fulfill(&delivery).await
        })
        .await;
        Ok::<_, lambda_runtime::Error>(batch)
    }))
    .await
}
