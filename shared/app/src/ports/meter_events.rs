use std::future::Future;
use std::pin::Pin;
use thiserror::Error;
use tollgate_core::ids::CustomerId;
use tollgate_core::time::Timestamp;

#[derive(Debug, Error)]
pub enum MeterEventsError {
    /// Stripe answered and refused: retrying the same request will not help.
    #[error("Stripe refused the meter event: {0}")]
    Refused(String),
    #[error("Stripe could not be reached: {0}")]
    Unavailable(String),
}

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
