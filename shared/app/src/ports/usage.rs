use std::future::Future;
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::metering::UsageBatch;
use tollgate_core::meters::MeterName;
use tollgate_core::money::Micros;
use tollgate_core::time::Timestamp;
use tollgate_core::usage::BatchTotals;

crate::ports::error::port_error!(UsageError, "usage");

/// A batch as stored: the account's period totals around it, and whether its overage
/// has reached Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedBatch {
    pub totals: BatchTotals,
    pub reported: bool,
    /// The account's totals around the batch on each other meter it counts, in the
    /// batch's order.
    pub meters: Vec<MeterTotals>,
}

/// An account's total on one meter and window, before and after a batch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MeterTotals {
    pub meter: MeterName,
    pub window_start: Timestamp,
    pub before: u64,
    pub after: u64,
}

impl MeterTotals {
    pub fn totals(&self) -> BatchTotals {
        BatchTotals { before: self.before, after: self.after }
    }
}

/// Calls and credits counted for a key, with its account's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyUsage {
    /// The account's calls in the period, all keys.
    pub account_calls: u64,
    /// This key's calls in the period.
    pub key_calls: u64,
    /// Credits the account has spent, ever, all keys.
    pub account_credits: u64,
    /// Credits this key has spent, ever.
    pub key_credits: u64,
}

/// Counted use per key and billing period, added batch by batch.
pub trait Usage: Send + Sync {
    /// Adds the batch to its key's and account's period totals and credits spent, its
    /// units to the account's meter totals, its spending to the account's balance spent,
    /// and stamps the key's last use, in one atomic write, unless the batch id is already
    /// stored. Either way the totals stored with the batch come back.
    fn add_batch(
        &self,
        batch: &UsageBatch,
        now: Timestamp,
    ) -> impl Future<Output = Result<RecordedBatch, UsageError>> + Send;
    /// The batch's overage is reported to Stripe.
    fn mark_reported(&self, batch_id: &str) -> impl Future<Output = Result<(), UsageError>> + Send;
    /// The account's totals, and the key's (zero when `key` is `None`).
    fn key_usage(
        &self,
        account: &AccountId,
        key: Option<&KeyId>,
        period_start: Timestamp,
    ) -> impl Future<Output = Result<KeyUsage, UsageError>> + Send;
    /// The account's units of `meter` counted in the window starting at `window_start`.
    fn meter_usage(
        &self,
        account: &AccountId,
        meter: &MeterName,
        window_start: Timestamp,
    ) -> impl Future<Output = Result<u64, UsageError>> + Send;
    /// Everything the account's batches have taken from its balance.
    fn balance_spent(&self, account: &AccountId) -> impl Future<Output = Result<Micros, UsageError>> + Send;
    /// Takes back from the account's balance what is left of a refunded top-up, once per
    /// step of its refunds: `target` is what all the refunds of the payment `payment_ref`
    /// take back so far (Stripe's refunded total, as a share of the top-up), of which at
    /// most `left` is taken now. A target already reached takes nothing (a redelivery).
    /// Returns what was taken.
    fn take_back(
        &self,
        account: &AccountId,
        payment_ref: &str,
        target: Micros,
        left: Micros,
    ) -> impl Future<Output = Result<Micros, UsageError>> + Send;
    /// Everything refunds have taken back from the account's balance.
    fn taken_back(&self, account: &AccountId) -> impl Future<Output = Result<Micros, UsageError>> + Send;
}
