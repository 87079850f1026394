//! `event-processor`: applies queued events (SQS, `ReportBatchItemFailures`): a failed
//! message is redelivered alone, and dead-lettered after its last receive.

use tollgate_app::ports::queue::QueueName;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    // Settings read once (a missing one fails the cold start); SDK clients built once.
    let processor = tollgate_lambda::functions::event_processor(&tollgate_lambda::Env::process()).await?;
    let processor = &processor;
    tollgate_lambda::sqs_main(QueueName::Events, |message| async move { processor.process(&message).await }).await
}
