use std::future::Future;
use tollgate_core::time::Timestamp;

crate::ports::error::port_error!(CursorsError, "cursors");

/// Named points in time a job resumes from (`reconcile`: how far Stripe's events were listed).
pub trait Cursors: Send + Sync {
    fn cursor(&self, name: &str) -> impl Future<Output = Result<Option<Timestamp>, CursorsError>> + Send;
    /// Sets the cursor; a later one never loses to an earlier one written at the same time.
    fn advance_cursor(&self, name: &str, to: Timestamp) -> impl Future<Output = Result<(), CursorsError>> + Send;
}
