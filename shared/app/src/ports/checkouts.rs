use crate::ports::error::{ErrorKind, PortError, port_error};
use std::future::Future;
use std::pin::Pin;
use tollgate_core::checkout::Mode;
use tollgate_core::ids::{AccountId, CustomerId};

port_error!(
    /// A Stripe call that failed, by kind: [`ErrorKind::Refused`] (an invalid parameter, a
    /// card issue: retrying does not help) or [`ErrorKind::Transient`] (unreachable, 5xx,
    /// 429: a later try can pass), with Stripe's answer as its cause.
    PaymentsError,
    "Stripe"
);

impl PaymentsError {
    /// Stripe answered and refused `what`.
    pub fn refused(what: impl Into<String>) -> Self {
        PortError::new(ErrorKind::Refused, what).into()
    }

    /// Stripe could not answer `what` now.
    pub fn unavailable(what: impl Into<String>) -> Self {
        PortError::new(ErrorKind::Transient, what).into()
    }
}

pub type Paid<'a, T> = Pin<Box<dyn Future<Output = Result<T, PaymentsError>> + Send + 'a>>;

/// A Checkout Session to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub mode: Mode,
    pub customer: CustomerId,
    pub price_id: String,
    /// Metered prices subscribed beside `price_id` (no quantity: usage decides it).
    pub metered_price_ids: Vec<String>,
    pub quantity: u32,
    pub account: AccountId,
    /// `account_id`, `sku` and `referral_code`, on the session and on what it creates
    /// (the subscription or the payment intent), so every later event names them.
    pub metadata: Vec<(&'static str, String)>,
    pub success_url: String,
    pub cancel_url: String,
}

/// A created Checkout Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub url: String,
}

/// What the checkout function asks of Stripe. Object-safe, so one client serves whatever the store.
pub trait Checkouts: Send + Sync {
    /// A customer for `account`; the same `idempotency_key` always yields the same customer.
    fn create_customer<'a>(&'a self, account: &'a AccountId, idempotency_key: &'a str) -> Paid<'a, CustomerId>;
    /// The id of the active price with `lookup_key`, if Stripe has one.
    fn price_for<'a>(&'a self, lookup_key: &'a str) -> Paid<'a, Option<String>>;
    fn create_session<'a>(&'a self, session: &'a NewSession, idempotency_key: &'a str) -> Paid<'a, Session>;
    /// A billing-portal session's URL.
    fn create_portal<'a>(&'a self, customer: &'a CustomerId, return_url: &'a str) -> Paid<'a, String>;
}
