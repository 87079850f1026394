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

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty()).ok_or(ConfigError::Missing(name))
}

pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

pub fn number<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError> {
    optional(name).map_or(Ok(default), |value| value.parse().map_err(|_| ConfigError::NotANumber(name)))
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
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            event_log_table: required("EVENT_LOG_TABLE")?,
            accounts_table: required("ACCOUNTS_TABLE")?,
            ledger_table: required("LEDGER_TABLE")?,
            events_queue_url: required("EVENTS_QUEUE_URL")?,
            events_dead_letter_queue_url: optional("EVENTS_DLQ_URL"),
            workflows_table: required("WORKFLOWS_TABLE")?,
            runs_table: required("RUNS_TABLE")?,
            alerts_table: required("ALERTS_TABLE")?,
            runs_queue_url: required("RUNS_QUEUE_URL")?,
            runs_dead_letter_queue_url: optional("RUNS_DLQ_URL"),
            fulfillment_queue_url: required("FULFILLMENT_QUEUE_URL")?,
            fulfillment_dead_letter_queue_url: optional("FULFILLMENT_DLQ_URL"),
            api_keys_table: required("API_KEYS_TABLE")?,
            usage_table: required("USAGE_TABLE")?,
            usage_queue_url: required("USAGE_QUEUE_URL")?,
            usage_dead_letter_queue_url: optional("USAGE_DLQ_URL"),
        })
    }
}

/// Webhook verification settings (`STRIPE_WEBHOOK_SECRET`, comma-separated for rotation).
pub fn webhook_secrets() -> Result<(Vec<WebhookSecret>, i64), ConfigError> {
    let secrets = WebhookSecret::parse_list(&required("STRIPE_WEBHOOK_SECRET")?)?;
    Ok((secrets, number("STRIPE_WEBHOOK_TOLERANCE_SECONDS", DEFAULT_TOLERANCE_SECONDS)?))
}

/// Receives of one message before SQS dead-letters it: must match the redrive policy.
pub fn max_receives() -> Result<u32, ConfigError> {
    number("EVENTS_MAX_RECEIVES", tollgate_app::DEFAULT_MAX_RECEIVES)
}
