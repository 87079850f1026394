use std::future::Future;
use std::pin::Pin;
use thiserror::Error;
use tollgate_core::ids::CustomerId;

#[derive(Debug, Error)]
pub enum StripeTimeError {
    #[error("no such customer: {0}")]
    UnknownCustomer(String),
    #[error("the emulated Stripe failed: {0}")]
    Failed(String),
}

/// What moving time on did: the subscriptions renewed (or ended) and the invoices made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Advanced {
    pub renewed: Vec<String>,
    pub invoices: Vec<String>,
}

pub type Advancing<'a> = Pin<Box<dyn Future<Output = Result<Advanced, StripeTimeError>> + Send + 'a>>;

/// Time on the emulated Stripe only: real Stripe renews when the period ends. Moves the
/// live subscriptions of `customer` (of every customer with `None`) on to their next period
/// now, with the invoices and events Stripe makes then: with `by_seconds`, those whose period
/// ends within that span, as many periods as it covers; without, each by one period.
pub trait StripeTime: Send + Sync {
    fn advance<'a>(&'a self, customer: Option<&'a CustomerId>, by_seconds: Option<i64>) -> Advancing<'a>;
}
