use std::future::Future;
use tollgate_core::ids::AccountId;
use tollgate_core::ledger::{EntryKind, LedgerEntry};
use tollgate_core::time::Timestamp;

crate::ports::error::port_error!(LedgerError, "ledger");

/// Money in and out: payments, refunds, commissions and their reversals.
pub trait Ledger: Send + Sync {
    /// Stores the entry under its id; an entry already there is replaced only when the new
    /// one supersedes it (`LedgerEntry::supersedes`), so a retried write changes nothing.
    fn post(&self, entry: &LedgerEntry) -> impl Future<Output = Result<(), LedgerError>> + Send;
    fn for_payment(&self, payment_ref: &str) -> impl Future<Output = Result<Vec<LedgerEntry>, LedgerError>> + Send;
    fn for_account(&self, account: &AccountId) -> impl Future<Output = Result<Vec<LedgerEntry>, LedgerError>> + Send;
    /// Every entry of `kinds` that happened at or after `from`, oldest first: revenue by
    /// day, hour and month ([`tollgate_core::ledger::MONEY_IN`], [`tollgate_core::ledger::REVENUE`]).
    fn entries_since(
        &self,
        kinds: &[EntryKind],
        from: Timestamp,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, LedgerError>> + Send;
}
