use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use thiserror::Error;

/// A POST to somebody else's endpoint: a workflow's webhook, the alert webhook.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    /// JSON.
    pub body: Vec<u8>,
    pub timeout: Duration,
}

#[derive(Debug, Error)]
pub enum OutboundError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("could not reach it: {0}")]
    Unreachable(String),
}

pub type Answer<'a> = Pin<Box<dyn Future<Output = Result<u16, OutboundError>> + Send + 'a>>;

/// Sends HTTP requests out. Object-safe, so the app holds one client whatever the store.
pub trait Outbound: Send + Sync {
    /// The answer's status code.
    fn post(&self, request: OutboundRequest) -> Answer<'_>;
}
