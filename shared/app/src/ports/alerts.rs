use std::future::Future;
use tollgate_core::alert::Alert;

crate::ports::error::port_error!(AlertsError, "alerts");

/// Incidents told to the operator. An alert's id is its incident, kept once.
pub trait Alerts: Send + Sync {
    /// Stores the alert; `false` when its incident was already raised.
    fn raise(&self, alert: &Alert) -> impl Future<Output = Result<bool, AlertsError>> + Send;
    /// The newest first.
    fn alerts(&self, limit: usize) -> impl Future<Output = Result<Vec<Alert>, AlertsError>> + Send;
    /// The alert of that id.
    fn alert(&self, id: &str) -> impl Future<Output = Result<Option<Alert>, AlertsError>> + Send;
    /// Stores `after` (the same incident in a new state) only if the stored alert is still
    /// in `before`'s state; `false` when another change came first.
    fn change_state(&self, before: &Alert, after: &Alert) -> impl Future<Output = Result<bool, AlertsError>> + Send;
}
