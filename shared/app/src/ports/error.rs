//! What every port's error carries: a kind, which decides the HTTP answer and whether a
//! queue retries, and the cause, kept as its `source` for the log.

use std::error::Error;
use std::fmt;

/// What kind of failure a port met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttled, unreachable, timed out, busy: a later try can succeed.
    Transient,
    /// A write lost to a concurrent one more times than it retries.
    Conflict,
    /// The table, queue or item the call needs does not exist (a deployment fault).
    NotFound,
    /// The store refused the request as malformed (a bug on our side).
    Invalid,
    /// What is stored cannot be read back (a bug, or a release that wrote it differently).
    Corrupt,
    /// An outside service (Stripe, a workflow's or an alert's endpoint) answered and refused
    /// the request: the same request will not pass later.
    Refused,
}

impl ErrorKind {
    /// Whether waiting can cure it: only then does a queue retry with backoff.
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorKind::Transient | ErrorKind::Conflict)
    }
}

/// A port's failure: its kind, what failed, and the cause.
#[derive(Debug)]
pub struct PortError {
    kind: ErrorKind,
    what: String,
    source: Option<Box<dyn Error + Send + Sync>>,
}

impl PortError {
    pub fn new(kind: ErrorKind, what: impl Into<String>) -> Self {
        PortError { kind, what: what.into(), source: None }
    }

    /// With the error that caused it.
    pub fn caused_by(
        kind: ErrorKind,
        what: impl Into<String>,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        PortError { kind, what: what.into(), source: Some(source.into()) }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The kind of the first port error in `error`'s chain of causes, if any.
    pub fn kind_in(error: &(dyn Error + 'static)) -> Option<ErrorKind> {
        let mut cause = Some(error);
        while let Some(error) = cause {
            if let Some(port) = error.downcast_ref::<PortError>() {
                return Some(port.kind);
            }
            cause = error.source();
        }
        None
    }
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl Error for PortError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|source| source as &(dyn Error + 'static))
    }
}

/// A port's own error type: `"{label}: {cause}"`, its [`PortError`] as its source.
macro_rules! port_error {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Debug, thiserror::Error)]
        #[error("{}: {}", $label, .0)]
        pub struct $name(#[source] pub $crate::ports::error::PortError);

        impl $name {
            pub fn kind(&self) -> $crate::ports::error::ErrorKind {
                self.0.kind()
            }
        }

        impl From<$crate::ports::error::PortError> for $name {
            fn from(error: $crate::ports::error::PortError) -> Self {
                $name(error)
            }
        }
    };
}

pub(crate) use port_error;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_is_found_through_any_chain_of_causes() {
        #[derive(Debug, thiserror::Error)]
        #[error("use case failed")]
        struct UseCase(#[source] crate::ports::accounts::AccountsError);
        let io = std::io::Error::other("connection reset");
        let error = UseCase(PortError::caused_by(ErrorKind::Transient, "reading an account", io).into());
        assert_eq!(PortError::kind_in(&error), Some(ErrorKind::Transient));
        assert_eq!(error.0.to_string(), "accounts: reading an account");
        let cause = std::error::Error::source(&error.0).and_then(std::error::Error::source).unwrap();
        assert_eq!(cause.to_string(), "connection reset");
        assert_eq!(PortError::kind_in(&std::io::Error::other("x")), None);
    }
}
