//! Renewing a customer's subscriptions now, on a Stripe whose clock can be moved (the
//! emulated Stripe of `tollgate dev`): a month of billing tried in a second.

use crate::ports::stripe_time::{Advanced, StripeTime, StripeTimeError};
use std::sync::Arc;
use tollgate_core::ids::CustomerId;

pub struct Renewals {
    pub stripe_time: Arc<dyn StripeTime>,
}

impl Renewals {
    /// Moves each live subscription of `customer` on to its next period, as Stripe would.
    pub async fn renew(&self, customer: &CustomerId) -> Result<Advanced, StripeTimeError> {
        self.stripe_time.advance(Some(customer), None).await
    }
}
