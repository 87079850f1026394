use serde::{Deserialize, Serialize};
use std::future::Future;
use tollgate_core::ids::{AccountId, Sku};
use tollgate_core::time::Timestamp;

crate::ports::error::port_error!(PurchasesError, "purchases");

/// Where a purchase's fulfillment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Queued for the product's fulfillment webhook.
    Pending,
    Delivered,
    /// The webhook refused every attempt.
    Failed,
    /// The product has no fulfillment webhook: granted, nothing to send.
    NotNeeded,
}

impl Delivery {
    /// As storage and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Pending => "pending",
            Delivery::Delivered => "delivered",
            Delivery::Failed => "failed",
            Delivery::NotNeeded => "not_needed",
        }
    }
}

/// A one-off product bought by an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    /// The Checkout Session (`cs_…`).
    pub id: String,
    pub account_id: AccountId,
    pub sku: Sku,
    pub quantity: u32,
    /// The payment intent (what a refund names).
    pub payment_ref: String,
    pub delivery: Delivery,
    /// A full refund revokes the grant.
    pub revoked: bool,
    pub created_at: Timestamp,
    /// Where the buyer downloads it, as the product's fulfillment webhook answered.
    pub download_url: Option<String>,
}

/// Purchases of one-off products, and their grants.
pub trait Purchases: Send + Sync {
    /// Stores a new purchase; the stored one when it is already there (a redelivered event).
    fn record_purchase(&self, purchase: &Purchase) -> impl Future<Output = Result<Purchase, PurchasesError>> + Send;
    fn purchase(
        &self,
        account: &AccountId,
        id: &str,
    ) -> impl Future<Output = Result<Option<Purchase>, PurchasesError>> + Send;
    fn purchases(&self, account: &AccountId) -> impl Future<Output = Result<Vec<Purchase>, PurchasesError>> + Send;
    fn set_delivery(
        &self,
        account: &AccountId,
        id: &str,
        delivery: Delivery,
    ) -> impl Future<Output = Result<(), PurchasesError>> + Send;
    /// Records where the buyer downloads what the purchase delivered.
    fn set_download_url(
        &self,
        account: &AccountId,
        id: &str,
        url: &str,
    ) -> impl Future<Output = Result<(), PurchasesError>> + Send;
    /// Revokes the purchases paid by `payment_ref`; how many were revoked.
    fn revoke_paid_by(&self, payment_ref: &str) -> impl Future<Output = Result<usize, PurchasesError>> + Send;
}
