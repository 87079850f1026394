use std::future::Future;
use tollgate_core::ids::{AccountId, KeyId, SubscriptionId};
use tollgate_core::time::Timestamp;

crate::ports::error::port_error!(FirstKeysError, "first keys");

/// A first key made for an account by its API plan's subscription, not yet shown: what to
/// derive it from again when its owner asks for it, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstKey {
    pub key_id: KeyId,
    pub subscription: SubscriptionId,
    pub created_at: Timestamp,
}

/// Each account's first key waiting to be shown.
pub trait FirstKeys: Send + Sync {
    /// Records it (a second record of the account's replaces the first).
    fn owe_first_key(
        &self,
        account: &AccountId,
        first: &FirstKey,
    ) -> impl Future<Output = Result<(), FirstKeysError>> + Send;
    /// Whether one is waiting, without taking it.
    fn first_key_waiting(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<FirstKey>, FirstKeysError>> + Send;
    /// Takes it, in one step: of two concurrent calls, one gets it.
    fn take_first_key(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<FirstKey>, FirstKeysError>> + Send;
}
