use std::future::Future;
use tollgate_core::api_key::KeyHash;
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::time::Timestamp;

crate::ports::error::port_error!(ApiKeysError, "api keys");

/// What is kept of an API key: never the key, only its hash and visible prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub id: KeyId,
    pub account_id: AccountId,
    pub hash: KeyHash,
    /// `tg_live_3kF9aQ`: enough to tell keys apart, useless to call with.
    pub prefix: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// When the usage meter last counted calls of it (batches, not every call).
    pub last_used_at: Option<Timestamp>,
}

/// Whether a key was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum KeyCreated {
    Created,
    /// The account already holds `max_active` unrevoked keys; nothing was written.
    LimitReached,
}

/// API keys by hash (the edge's lookup) and by account (the owner's list).
pub trait ApiKeys: Send + Sync {
    /// Stores the key unless its account already holds `max_active` unrevoked keys. The
    /// count and the write are one step: concurrent calls never pass the limit together.
    fn create_key(
        &self,
        key: &StoredKey,
        max_active: u32,
    ) -> impl Future<Output = Result<KeyCreated, ApiKeysError>> + Send;
    fn key_by_hash(&self, hash: &KeyHash) -> impl Future<Output = Result<Option<StoredKey>, ApiKeysError>> + Send;
    /// Oldest first.
    fn keys_of(&self, account: &AccountId) -> impl Future<Output = Result<Vec<StoredKey>, ApiKeysError>> + Send;
    /// Revokes the account's key (once: a second call keeps the first time); `None` when
    /// the account has no such key.
    fn revoke_key(
        &self,
        account: &AccountId,
        id: &KeyId,
        at: Timestamp,
    ) -> impl Future<Output = Result<Option<StoredKey>, ApiKeysError>> + Send;
}
