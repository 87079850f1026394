//! The leases this isolate holds, per key hash: calls of `requests` its account's Durable
//! Object lent it ([`tollgate_core::metering::lease`]), decided here without a round trip
//! until they are spent or expire. A call under a route that charges another meter is never
//! decided from a lease. And the accounts of the keys seen, so a call finds its account's
//! Durable Object without asking the key directory each time. A Worker isolate runs one request at a time on one thread, so a
//! thread-local map is its whole shared state.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::metering::lease::{Lease, Settlement};
use tollgate_core::metering::{QuotaLeft, RateHeaders};

/// A lease and what this isolate did with it.
pub struct Held {
    pub lease: Lease,
    pub account_id: AccountId,
    pub key_id: KeyId,
    /// The rate headers of the call that brought the lease.
    pub headers: RateHeaders,
    /// Prefixes of the routes that charge other meters: never decided from this lease.
    pub routes: Vec<String>,
    pub used: u64,
}

impl Held {
    fn usable(&self, now_ms: u64) -> bool {
        self.used < self.lease.calls && now_ms < self.lease.expires_at_ms
    }

    fn covers(&self, path: &str) -> bool {
        !self.routes.iter().any(|prefix| tollgate_core::meters::covers(prefix, path))
    }

    fn settlement(&self) -> Settlement {
        Settlement { id: self.lease.id, used: self.used }
    }
}

#[derive(Default)]
struct Leases {
    held: HashMap<String, Vec<Held>>,
    /// Keys with a lease asked for and not yet answered: a burst of calls that all reach the
    /// Durable Object before the first answer asks for one lease, not one each (a lease
    /// nobody uses holds its calls back from the others until it is settled).
    asking: HashSet<String>,
    /// Key hash → account, for the keys the directory has named.
    accounts: HashMap<String, AccountId>,
}

/// The most accounts of keys an isolate remembers: past it, it forgets them all and asks
/// the directory again, so made-up keys cannot grow its memory.
const MAX_ACCOUNTS: usize = 10_000;

thread_local! {
    static LEASES: RefCell<Leases> = RefCell::new(Leases::default());
}

/// The account of the key with `hash`, if the directory has named it to this isolate.
pub fn account_of(hash: &str) -> Option<AccountId> {
    LEASES.with_borrow(|leases| leases.accounts.get(hash).cloned())
}

/// Remembers the account the directory named for `hash`.
pub fn remember(hash: &str, account: &AccountId) {
    LEASES.with_borrow_mut(|leases| {
        if leases.accounts.len() >= MAX_ACCOUNTS {
            leases.accounts.clear();
        }
        leases.accounts.insert(hash.to_owned(), account.clone());
    });
}

/// Whether this call should ask for a lease for `hash`; if so, no other will until
/// [`answered`].
pub fn ask(hash: &str) -> bool {
    LEASES.with_borrow_mut(|leases| leases.asking.insert(hash.to_owned()))
}

/// The Durable Object answered the call that asked for a lease for `hash`.
pub fn answered(hash: &str) {
    LEASES.with_borrow_mut(|leases| leases.asking.remove(hash));
}

/// Takes one call to `path` from a lease held for `hash`: the account, key and headers to
/// forward it with, or `None` when no usable lease covers it.
pub fn take(hash: &str, path: &str, now_ms: u64) -> Option<(AccountId, KeyId, RateHeaders)> {
    LEASES.with_borrow_mut(|leases| {
        let lease = leases.held.get_mut(hash)?.iter_mut().find(|held| held.usable(now_ms) && held.covers(path))?;
        lease.used += 1;
        let left = lease.lease.calls - lease.used;
        let quota = lease
            .headers
            .quota
            .map(|quota| QuotaLeft { remaining: quota.remaining.saturating_sub(lease.used), ..quota });
        let headers = RateHeaders {
            remaining: lease.headers.remaining.min(u32::try_from(left).unwrap_or(u32::MAX)),
            quota,
            ..lease.headers
        };
        Some((lease.account_id.clone(), lease.key_id.clone(), headers))
    })
}

/// Keeps a lease the Durable Object granted.
pub fn keep(hash: &str, held: Held) {
    LEASES.with_borrow_mut(|leases| leases.held.entry(hash.to_owned()).or_default().push(held));
}

/// Removes the spent and expired leases of `hash` and answers their settlements.
pub fn finished(hash: &str, now_ms: u64) -> Vec<Settlement> {
    remove(hash, |held| !held.usable(now_ms))
}

/// Removes every lease of `hash` (its key was revoked) and answers their settlements.
pub fn drop_all(hash: &str) -> Vec<Settlement> {
    remove(hash, |_| true)
}

fn remove(hash: &str, done: impl Fn(&Held) -> bool) -> Vec<Settlement> {
    LEASES.with_borrow_mut(|leases| {
        let Some(held) = leases.held.get_mut(hash) else { return Vec::new() };
        let settlements = held.iter().filter(|held| done(held)).map(Held::settlement).collect();
        held.retain(|held| !done(held));
        if held.is_empty() {
            leases.held.remove(hash);
        }
        settlements
    })
}
