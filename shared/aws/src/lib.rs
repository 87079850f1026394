//! DynamoDB and SQS adapters for tollgate's ports, and the functions' configuration.
//!
//! Every state change that must happen once is a conditional write: the event log
//! (`attribute_not_exists`), subscriptions (`event_created` guard) and ledger entries
//! (grow-only running totals). Items are mapped with `serde_dynamo`.

mod accounts;
mod alerts;
mod api_keys;
pub mod config;
mod dynamo;
mod event_log;
mod intake;
mod ledger;
mod purchases;
mod queue;
mod rate_limits;
mod runs;
mod usage;
mod workflows;

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_sqs::Client as SqsClient;
pub use config::{ConfigError, Resources};

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
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::with_clients(DynamoClient::new(&sdk), SqsClient::new(&sdk), resources)
    }

    pub fn with_clients(dynamo: DynamoClient, sqs: SqsClient, resources: Resources) -> Self {
        Self { dynamo, sqs, resources }
    }
}
