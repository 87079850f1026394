use std::future::Future;
use tollgate_core::account::{Profile, Subscription, SubscriptionStatus};
use tollgate_core::ids::{AccountId, CustomerId, SubscriptionId};
use tollgate_core::time::Timestamp;

/// What a guarded write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// An event at least as new had already been applied: nothing changed.
    Stale,
}

crate::ports::error::port_error!(AccountsError, "accounts");

/// Accounts, their Stripe customer and referrer, and their subscriptions.
pub trait Accounts: Send + Sync {
    /// Creates the account if new; sets its customer and referrer only where none is set,
    /// and maps the customer to the account.
    fn link_customer(
        &self,
        account: &AccountId,
        customer: Option<&CustomerId>,
        referred_by: Option<&AccountId>,
    ) -> impl Future<Output = Result<(), AccountsError>> + Send;
    fn account_for_customer(
        &self,
        customer: &CustomerId,
    ) -> impl Future<Output = Result<Option<AccountId>, AccountsError>> + Send;
    /// Stores the subscription unless a newer event already set it (`event_created` guard).
    fn apply_subscription(
        &self,
        account: &AccountId,
        subscription: &Subscription,
    ) -> impl Future<Output = Result<Applied, AccountsError>> + Send;
    /// Sets the status of a known subscription under the same guard; `None` when unknown.
    fn set_subscription_status(
        &self,
        account: &AccountId,
        subscription: &SubscriptionId,
        status: &SubscriptionStatus,
        event_created: Timestamp,
    ) -> impl Future<Output = Result<Option<Applied>, AccountsError>> + Send;
    fn profile(&self, account: &AccountId) -> impl Future<Output = Result<Option<Profile>, AccountsError>> + Send;
    fn subscriptions(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<Subscription>, AccountsError>> + Send;
    /// The accounts `referrer` referred, in no particular order.
    fn referrals(&self, referrer: &AccountId) -> impl Future<Output = Result<Vec<AccountId>, AccountsError>> + Send;
    /// Subscriptions whose status grants access (active or trialing), across all accounts.
    fn active_subscriptions(&self) -> impl Future<Output = Result<Vec<Subscription>, AccountsError>> + Send;
}
