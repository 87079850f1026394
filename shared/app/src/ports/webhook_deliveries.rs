use std::future::Future;
use tollgate_core::delivery::Delivery;
use tollgate_core::ids::AccountId;
use tollgate_core::time::Timestamp;

crate::ports::error::port_error!(WebhookDeliveriesError, "webhook deliveries");

/// Deliveries of events to customers' endpoints, and the index the sender asks which are due.
pub trait WebhookDeliveries: Send + Sync {
    /// Records a new delivery; `false` when its id is recorded already.
    fn record_delivery(&self, delivery: &Delivery)
    -> impl Future<Output = Result<bool, WebhookDeliveriesError>> + Send;
    /// Up to `limit` pending deliveries due at or before `now`, the longest waiting first.
    fn due_deliveries(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Delivery>, WebhookDeliveriesError>> + Send;
    /// Stores a changed delivery; `false` (nothing written) when its stored attempts are no
    /// longer `expected_attempts`: another sender or a retry moved it since it was read.
    fn update_delivery(
        &self,
        delivery: &Delivery,
        expected_attempts: u32,
    ) -> impl Future<Output = Result<bool, WebhookDeliveriesError>> + Send;
    /// The account's deliveries, newest first.
    fn account_deliveries(
        &self,
        account: &AccountId,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Delivery>, WebhookDeliveriesError>> + Send;
    fn delivery(
        &self,
        account: &AccountId,
        id: &str,
    ) -> impl Future<Output = Result<Option<Delivery>, WebhookDeliveriesError>> + Send;
}
