//! `workflow-runner`: starts each queued run by POSTing to its workflow's webhook (SQS
//! `runs` and `customer-runs`, each its own event source with its own maximum concurrency,
//! `ReportBatchItemFailures`). A refused start is delayed by an exponential backoff
//! (message visibility) and, after its last receive, dead-lettered on its own queue.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber(); // JSON when AWS_LAMBDA_LOG_FORMAT=JSON
    // Settings read once (a missing one fails the cold start); SDK clients built once.
    let (orchestrator, sources) = tollgate_lambda::functions::workflow_runner(&tollgate_lambda::Env::process()).await?;
    let orchestrator = &orchestrator;
    tollgate_lambda::sqs_main(sources, |delivery| async move { orchestrator.start_run(&delivery).await }).await
}
