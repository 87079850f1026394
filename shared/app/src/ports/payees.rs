use crate::ports::accounts::Applied;
use std::future::Future;
use tollgate_core::ids::AccountId;
use tollgate_core::time::Timestamp;

crate::ports::error::port_error!(PayeesError, "payees");

/// A partner's connected account (Stripe Connect, Express), where payouts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payee {
    pub account: AccountId,
    /// `acct_…`
    pub connect_account: String,
    /// Stripe lets the account receive payouts (its onboarding is complete).
    pub payouts_enabled: bool,
    /// The last payout Stripe refused, until one succeeds.
    pub failed_payout: Option<FailedPayout>,
}

/// A payout Stripe refused, kept to show the partner and the operator why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedPayout {
    /// `YYYY-MM`
    pub period: String,
    pub reason: String,
}

/// Partners' connected accounts: one per account, the first linked staying.
pub trait Payees: Send + Sync {
    fn payee(&self, account: &AccountId) -> impl Future<Output = Result<Option<Payee>, PayeesError>> + Send;
    /// Links `connect_account` to `account` unless one is linked already; answers the payee
    /// as stored, so concurrent first onboardings all see the one that won.
    fn link_payee(
        &self,
        account: &AccountId,
        connect_account: &str,
    ) -> impl Future<Output = Result<Payee, PayeesError>> + Send;
    /// Records `payouts_enabled` as Stripe reported it at `as_of` (an event's `created`),
    /// linking the account if it was not yet. `Stale` when a newer report was recorded, or
    /// the account is linked to another connected account.
    fn record_payouts_enabled(
        &self,
        account: &AccountId,
        connect_account: &str,
        payouts_enabled: bool,
        as_of: Timestamp,
    ) -> impl Future<Output = Result<Applied, PayeesError>> + Send;
    /// Every payee Stripe lets receive payouts. A payout run reads them once a month, so a
    /// full read (a scan in DynamoDB) is the right cost.
    fn payees_enabled(&self) -> impl Future<Output = Result<Vec<Payee>, PayeesError>> + Send;
    /// Records the payout Stripe refused, or clears it (`None`) once one succeeds.
    fn record_failed_payout(
        &self,
        account: &AccountId,
        failed: Option<&FailedPayout>,
    ) -> impl Future<Output = Result<(), PayeesError>> + Send;
}
