use crate::ports::error::{ErrorKind, PortError, port_error};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A POST to somebody else's endpoint: a workflow's webhook, the alert webhook.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    /// JSON.
    pub body: Vec<u8>,
    pub timeout: Duration,
}

port_error!(
    /// A request that got no answer: timed out or unreachable, both [`ErrorKind::Transient`]
    /// (an answer, whatever its status, is not an error here: the caller reads it).
    OutboundError,
    "outbound HTTP"
);

impl OutboundError {
    pub fn timed_out(after: Duration) -> Self {
        PortError::new(ErrorKind::Transient, format!("no answer within {after:?}")).into()
    }

    pub fn unreachable(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        PortError::caused_by(ErrorKind::Transient, "could not reach it", cause).into()
    }
}

pub type Answer<'a> = Pin<Box<dyn Future<Output = Result<u16, OutboundError>> + Send + 'a>>;

/// The most of an answer's body [`Outbound::post_reading`] reads: a small JSON answer, not a
/// download; what is longer is cut there.
pub const MAX_REPLY_BYTES: usize = 16 * 1024;

/// An answer's status and the start of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// At most [`MAX_REPLY_BYTES`].
    pub body: Vec<u8>,
}

pub type Replied<'a> = Pin<Box<dyn Future<Output = Result<Reply, OutboundError>> + Send + 'a>>;

/// Sends HTTP requests out. Object-safe, so the app holds one client whatever the store.
pub trait Outbound: Send + Sync {
    /// The answer's status code.
    fn post(&self, request: OutboundRequest) -> Answer<'_>;
    /// The answer's status and its body's first [`MAX_REPLY_BYTES`].
    fn post_reading(&self, request: OutboundRequest) -> Replied<'_>;
    /// A health check's `GET`: the final answer's status code. Redirects are followed on the
    /// same host only; one to another host is the answer (a 3xx).
    fn probe<'a>(&'a self, url: &'a str, timeout: Duration) -> Answer<'a>;
}
