//! Configuration read once at cold start. A missing setting stops the function with a
//! message naming it, rather than failing requests one by one.

use thiserror::Error;
use tollgate_core::signature::{DEFAULT_TOLERANCE_SECONDS, SecretError, WebhookSecret};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("STRIPE_WEBHOOK_SECRET: {0}")]
    WebhookSecret(#[from] SecretError),
    #[error("{0} must be a whole number")]
    NotANumber(&'static str),
}

/// Where settings are read from: the process environment in a deployed function, a
/// recording lookup in the configuration check (which proves each function reads what
/// `template.yaml` gives it).
#[derive(Clone, Copy)]
pub struct Env<'a> {
    lookup: &'a (dyn Fn(&str) -> Option<String> + Sync),
    required: &'a (dyn Fn(&'static str) + Sync),
}

fn process_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn ignore(_: &'static str) {}

impl Env<'static> {
    /// The process environment.
    pub fn process() -> Self {
        Env { lookup: &process_lookup, required: &ignore }
    }
}

impl<'a> Env<'a> {
    /// Settings from `lookup`; `required` hears the name of each setting read as required.
    pub fn new(
        lookup: &'a (dyn Fn(&str) -> Option<String> + Sync),
        required: &'a (dyn Fn(&'static str) + Sync),
    ) -> Self {
        Env { lookup, required }
    }

    /// A setting; unset and blank are the same.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.trim().is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        (self.required)(name);
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    pub fn number<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError> {
        self.optional(name).map_or(Ok(default), |value| value.parse().map_err(|_| ConfigError::NotANumber(name)))
    }

    /// The lookup, for readers that take a closure (`Settings::read`, `jwt::Settings::read`).
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name| self.optional(name)
    }
}

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
    pub fulfillment_queue_url: String,
    pub fulfillment_dead_letter_queue_url: Option<String>,
    pub api_keys_table: String,
    pub usage_table: String,
    pub usage_queue_url: String,
    pub usage_dead_letter_queue_url: Option<String>,
}

impl Resources {
    /// The tables and queues in `needs`, each required. One the function does not need is
    /// named `unconfigured-<VARIABLE>`: a call reaching it fails with DynamoDB's or SQS's
    /// error naming the variable, and can never land in a table of that name.
    pub fn read(env: &Env, needs: &[Resource]) -> Result<Self, ConfigError> {
        let take = |resource: Resource| -> Result<String, ConfigError> {
            if needs.contains(&resource) {
                env.required(resource.variable())
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
        [&self.events_queue_url, &self.runs_queue_url, &self.fulfillment_queue_url, &self.usage_queue_url]
            .into_iter()
            .find(|url| !url.starts_with(UNCONFIGURED))
            .map(String::as_str)
    }
}

/// Webhook verification settings (`STRIPE_WEBHOOK_SECRET`, comma-separated for rotation).
/// A Connect endpoint (`account.updated`) signs with its own secret,
/// `STRIPE_CONNECT_WEBHOOK_SECRET`; deliveries signed with either are accepted.
pub fn webhook_secrets(env: &Env) -> Result<(Vec<WebhookSecret>, i64), ConfigError> {
    let mut secrets = WebhookSecret::parse_list(&env.required("STRIPE_WEBHOOK_SECRET")?)?;
    if let Some(connect) = env.optional("STRIPE_CONNECT_WEBHOOK_SECRET") {
        secrets.extend(WebhookSecret::parse_list(&connect)?);
    }
    Ok((secrets, env.number("STRIPE_WEBHOOK_TOLERANCE_SECONDS", DEFAULT_TOLERANCE_SECONDS)?))
}

/// Receives of one message before SQS dead-letters it: must match the redrive policy.
pub fn max_receives(env: &Env) -> Result<u32, ConfigError> {
    env.number("EVENTS_MAX_RECEIVES", tollgate_app::DEFAULT_MAX_RECEIVES)
}
