use crate::ports::checkouts::Paid;
use tollgate_core::ids::AccountId;
use tollgate_core::money::Cents;

/// A transfer to make: `amount` to the connected account `destination`, for `account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransfer {
    pub account: AccountId,
    pub destination: String,
    pub amount: Cents,
    /// `tollgate-payout-<period>`
    pub group: String,
    /// The period, as `YYYY-MM`, in the metadata beside the account.
    pub period: String,
}

/// A transfer Stripe made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeTransfer {
    /// `tr_…`
    pub id: String,
    /// The account its metadata names, when it names a valid one.
    pub account: Option<AccountId>,
    pub amount: Cents,
}

/// Money out to connected accounts (Stripe Connect transfers). Object-safe, so one client
/// serves whatever the store.
pub trait Transfers: Send + Sync {
    /// Makes `transfer`; the same `idempotency_key` within Stripe's 24 hours yields the same one.
    fn create_transfer<'a>(&'a self, transfer: &'a NewTransfer, idempotency_key: &'a str) -> Paid<'a, MadeTransfer>;
    /// Every transfer of `group`, all pages.
    fn transfers_in_group<'a>(&'a self, group: &'a str) -> Paid<'a, Vec<MadeTransfer>>;
}
