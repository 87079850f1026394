use std::future::Future;
use tollgate_core::ids::AccountId;
use tollgate_core::ledger::LedgerEntry;
use tollgate_core::time::Timestamp;

crate::ports::error::port_error!(LedgerError, "ledger");

/// Money in and out: payments, refunds, commissions and their reversals.
pub trait Ledger: Send + Sync {
    /// Stores the entry under its id; an entry already there is replaced only when the new
    /// one supersedes it (`LedgerEntry::supersedes`), so a retried write changes nothing.
    fn post(&self, entry: &LedgerEntry) -> impl Future<Output = Result<(), LedgerError>> + Send;
    fn for_payment(&self, payment_ref: &str) -> impl Future<Output = Result<Vec<LedgerEntry>, LedgerError>> + Send;
    fn for_account(&self, account: &AccountId) -> impl Future<Output = Result<Vec<LedgerEntry>, LedgerError>> + Send;
    /// Every payment and refund entry that happened at or after `from`, oldest first: the
    /// money that came in, for revenue by day.
    fn money_in_since(&self, from: Timestamp) -> impl Future<Output = Result<Vec<LedgerEntry>, LedgerError>> + Send;
}
