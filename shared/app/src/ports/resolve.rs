use crate::ports::error::{ErrorKind, PortError, port_error};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

port_error!(
    /// A name that could not be resolved: unknown ([`ErrorKind::Invalid`]) or no answer
    /// ([`ErrorKind::Transient`]).
    ResolveError,
    "DNS"
);

impl ResolveError {
    pub fn unknown(host: &str) -> Self {
        PortError::new(ErrorKind::Invalid, format!("{host} does not resolve")).into()
    }
}

pub type Resolved<'a> = Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, ResolveError>> + Send + 'a>>;

/// Resolves host names, so a customer's endpoint is refused when any of its addresses is
/// not public. Object-safe: one resolver whatever the store.
pub trait Resolve: Send + Sync {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> Resolved<'a>;
}
