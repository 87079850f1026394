//! `event-processor`: applies queued events (SQS, `ReportBatchItemFailures`): a failed
//! message is redelivered alone, and dead-lettered after its last receive.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use tollgate_app::ports::queue::QueueName;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    // Settings read once (a missing one fails the cold start); SDK clients built once.
    let app = tollgate_lambda::functions::event_processor(&tollgate_lambda::Env::process()).await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let batch = tollgate_lambda::each_message(QueueName::Events, event.payload, |message| async move {
            app.process(&message).await
        })
        .await;
        Ok::<_, lambda_runtime::Error>(batch)
    }))
    .await
}
