use std::future::Future;
use tollgate_core::alert::Alert;

crate::ports::error::port_error!(AlertsError, "alerts");

/// Incidents told to the operator. An alert's id is its incident, kept once.
pub trait Alerts: Send + Sync {
    /// Stores the alert; `false` when its incident was already raised.
    fn raise(&self, alert: &Alert) -> impl Future<Output = Result<bool, AlertsError>> + Send;
    /// The newest first.
    fn alerts(&self, limit: usize) -> impl Future<Output = Result<Vec<Alert>, AlertsError>> + Send;
}
