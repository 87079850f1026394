use crate::ports::error::port_error;
use std::future::Future;
use std::pin::Pin;
use tollgate_core::ids::CustomerId;
use tollgate_core::time::Timestamp;

port_error!(
    /// A meter event Stripe refused (the same one will not pass later) or could not take now.
    MeterEventsError,
    "Stripe Billing"
);

/// One Stripe Billing meter event: `value` units for `customer`, deduplicated by Stripe
/// on `identifier`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterEvent {
    pub event_name: String,
    pub customer: CustomerId,
    pub value: u64,
    pub identifier: String,
    pub timestamp: Timestamp,
}

pub type Reported<'a> = Pin<Box<dyn Future<Output = Result<(), MeterEventsError>> + Send + 'a>>;

/// Reports usage to Stripe Billing. Object-safe, like the other outside services.
pub trait MeterEvents: Send + Sync {
    fn report(&self, event: MeterEvent) -> Reported<'_>;
}
