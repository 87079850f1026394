//! DynamoDB and SQS adapters for tollgate's ports, and the tables and queues each function names.
//!
//! Every state change that must happen once is a conditional write: the event log
//! (`attribute_not_exists`), subscriptions (`event_created` guard) and ledger entries
//! (grow-only running totals). Items are mapped with `serde_dynamo`.

mod accounts;
mod alerts;
mod api_keys;
pub mod config;
mod cursors;
mod customer_runs;
mod dynamo;
mod event_log;
mod first_keys;
mod https;
mod intake;
mod ledger;
mod payees;
mod premium_choices;
mod probes;
mod purchases;
mod queue;
mod rate_limits;
mod runs;
mod tallies;
mod usage;
mod webhook_deliveries;
mod webhook_endpoints;
mod workflow_subscriptions;
mod workflows;

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_sqs::Client as SqsClient;
use aws_sdk_sqs::types::QueueAttributeName;
pub use config::Resources;
pub use https::https_client;

/// How long a cold start waits for its connections to open before going on without them.
pub const WARM_UP_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Every port on DynamoDB tables and an SQS queue. Clients are built once per cold start.
#[derive(Clone)]
pub struct Aws {
    dynamo: DynamoClient,
    sqs: SqsClient,
    resources: Resources,
}

impl Aws {
    /// Builds the SDK clients from the environment (region, credentials, and
    /// `AWS_ENDPOINT_URL*` when pointed at a local emulator).
    pub async fn connect(resources: Resources) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client()).load().await;
        Self::with_clients(DynamoClient::new(&sdk), SqsClient::new(&sdk), resources)
    }

    /// Opens the connections (and signs with the credentials) a first request would, so a
    /// cold start pays its TLS handshakes during init rather than on the first request.
    /// Best effort: a failure here is the first request's to report.
    pub async fn warm_up(&self) {
        let dynamo = async {
            if let Err(error) = self.dynamo.describe_endpoints().send().await {
                tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&error), "DynamoDB warm-up failed");
            }
        };
        let sqs = async {
            let Some(queue) = self.resources.any_queue_url() else { return };
            let attributes =
                self.sqs.get_queue_attributes().queue_url(queue).attribute_names(QueueAttributeName::QueueArn);
            if let Err(error) = attributes.send().await {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "SQS warm-up failed");
            }
        };
        // Both at once, and never for long: Lambda gives init 10 s in all.
        if tokio::time::timeout(WARM_UP_LIMIT, async { tokio::join!(dynamo, sqs) }).await.is_err() {
            tracing::warn!("the AWS warm-up took too long; the first request opens what it needs");
        }
    }

    pub fn with_clients(dynamo: DynamoClient, sqs: SqsClient, resources: Resources) -> Self {
        Self { dynamo, sqs, resources }
    }
}
