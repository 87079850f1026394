use crate::ports::checkouts::Paid;
use tollgate_core::ids::AccountId;

/// What onboarding asks of Stripe Connect. Object-safe, so one client serves whatever the store.
pub trait Connect: Send + Sync {
    /// An Express connected account for `account` (named in its metadata); the same
    /// `idempotency_key` always yields the same account.
    fn create_connected_account<'a>(&'a self, account: &'a AccountId, idempotency_key: &'a str) -> Paid<'a, String>;
    /// A one-time onboarding link (`account_onboarding`) for `connect_account`.
    fn onboarding_link<'a>(
        &'a self,
        connect_account: &'a str,
        refresh_url: &'a str,
        return_url: &'a str,
    ) -> Paid<'a, String>;
}
