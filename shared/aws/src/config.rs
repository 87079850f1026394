//! The tables and queues a function is given, each by its own variable. Reading the
//! variables is the composition root's (`tollgate-settings`' `Env`); this names them.

/// A table or queue a function may be given, each by its own variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    EventLogTable,
    AccountsTable,
    LedgerTable,
    WorkflowsTable,
    RunsTable,
    AlertsTable,
    ApiKeysTable,
    UsageTable,
    EventsQueue,
    EventsDeadLetterQueue,
    RunsQueue,
    RunsDeadLetterQueue,
    CustomerRunsQueue,
    CustomerRunsDeadLetterQueue,
    FulfillmentQueue,
    FulfillmentDeadLetterQueue,
    UsageQueue,
    UsageDeadLetterQueue,
}

impl Resource {
    pub const fn variable(self) -> &'static str {
        match self {
            Resource::EventLogTable => "EVENT_LOG_TABLE",
            Resource::AccountsTable => "ACCOUNTS_TABLE",
            Resource::LedgerTable => "LEDGER_TABLE",
            Resource::WorkflowsTable => "WORKFLOWS_TABLE",
            Resource::RunsTable => "RUNS_TABLE",
            Resource::AlertsTable => "ALERTS_TABLE",
            Resource::ApiKeysTable => "API_KEYS_TABLE",
            Resource::UsageTable => "USAGE_TABLE",
            Resource::EventsQueue => "EVENTS_QUEUE_URL",
            Resource::EventsDeadLetterQueue => "EVENTS_DLQ_URL",
            Resource::RunsQueue => "RUNS_QUEUE_URL",
            Resource::RunsDeadLetterQueue => "RUNS_DLQ_URL",
            Resource::CustomerRunsQueue => "CUSTOMER_RUNS_QUEUE_URL",
            Resource::CustomerRunsDeadLetterQueue => "CUSTOMER_RUNS_DLQ_URL",
            Resource::FulfillmentQueue => "FULFILLMENT_QUEUE_URL",
            Resource::FulfillmentDeadLetterQueue => "FULFILLMENT_DLQ_URL",
            Resource::UsageQueue => "USAGE_QUEUE_URL",
            Resource::UsageDeadLetterQueue => "USAGE_DLQ_URL",
        }
    }
}

/// The tables and queue every function shares.
#[derive(Debug, Clone)]
pub struct Resources {
    pub event_log_table: String,
    pub accounts_table: String,
    pub ledger_table: String,
    pub events_queue_url: String,
    /// Where SQS moves messages past their last receive; only read by operators and tests.
    pub events_dead_letter_queue_url: Option<String>,
    pub workflows_table: String,
    pub runs_table: String,
    pub alerts_table: String,
    pub runs_queue_url: String,
    pub runs_dead_letter_queue_url: Option<String>,
    pub customer_runs_queue_url: String,
    pub customer_runs_dead_letter_queue_url: Option<String>,
    pub fulfillment_queue_url: String,
    pub fulfillment_dead_letter_queue_url: Option<String>,
    pub api_keys_table: String,
    pub usage_table: String,
    pub usage_queue_url: String,
    pub usage_dead_letter_queue_url: Option<String>,
}

impl Resources {
    /// The tables and queues in `needs`, each named by `required` (which reads its
    /// variable, or says why it cannot). One the function does not need is named
    /// `unconfigured-<VARIABLE>`: a call reaching it fails with DynamoDB's or SQS's error
    /// naming the variable, and can never land in a table of that name.
    pub fn read<E>(needs: &[Resource], required: impl Fn(&'static str) -> Result<String, E>) -> Result<Self, E> {
        let take = |resource: Resource| -> Result<String, E> {
            if needs.contains(&resource) {
                required(resource.variable())
            } else {
                Ok(format!("{UNCONFIGURED}{}", resource.variable()))
            }
        };
        let dead_letters = |resource: Resource| take(resource).map(|url| needs.contains(&resource).then_some(url));
        Ok(Self {
            event_log_table: take(Resource::EventLogTable)?,
            accounts_table: take(Resource::AccountsTable)?,
            ledger_table: take(Resource::LedgerTable)?,
            events_queue_url: take(Resource::EventsQueue)?,
            events_dead_letter_queue_url: dead_letters(Resource::EventsDeadLetterQueue)?,
            workflows_table: take(Resource::WorkflowsTable)?,
            runs_table: take(Resource::RunsTable)?,
            alerts_table: take(Resource::AlertsTable)?,
            runs_queue_url: take(Resource::RunsQueue)?,
            runs_dead_letter_queue_url: dead_letters(Resource::RunsDeadLetterQueue)?,
            customer_runs_queue_url: take(Resource::CustomerRunsQueue)?,
            customer_runs_dead_letter_queue_url: dead_letters(Resource::CustomerRunsDeadLetterQueue)?,
            fulfillment_queue_url: take(Resource::FulfillmentQueue)?,
            fulfillment_dead_letter_queue_url: dead_letters(Resource::FulfillmentDeadLetterQueue)?,
            api_keys_table: take(Resource::ApiKeysTable)?,
            usage_table: take(Resource::UsageTable)?,
            usage_queue_url: take(Resource::UsageQueue)?,
            usage_dead_letter_queue_url: dead_letters(Resource::UsageDeadLetterQueue)?,
        })
    }
}

/// The name prefix of a table or queue the function was not given.
const UNCONFIGURED: &str = "unconfigured-";

impl Resources {
    /// A queue this function was given, if any: the one its warm-up connects to.
    pub fn any_queue_url(&self) -> Option<&str> {
        [
            &self.events_queue_url,
            &self.runs_queue_url,
            &self.customer_runs_queue_url,
            &self.fulfillment_queue_url,
            &self.usage_queue_url,
        ]
        .into_iter()
        .find(|url| !url.starts_with(UNCONFIGURED))
        .map(String::as_str)
    }
}
