//! What operators read: accounts, the event log, the ledger.

use crate::App;
use crate::ports::accounts::{Accounts, AccountsError};
use crate::ports::event_log::{EventLog, EventLogError, EventRecord};
use crate::ports::ledger::{Ledger, LedgerError};
use tollgate_core::account::{self, AccountView};
use tollgate_core::catalog::Grant;
use tollgate_core::ids::AccountId;
use tollgate_core::ledger::LedgerEntry;

impl<S: Accounts> App<S> {
    /// The account as it stands, or `None` when tollgate has never heard of it.
    pub async fn account(&self, id: &AccountId) -> Result<Option<AccountView>, AccountsError> {
        let subscriptions = self.store.subscriptions(id).await?;
        let profile = self.store.profile(id).await?;
        if profile.is_none() && subscriptions.is_empty() {
            return Ok(None);
        }
        let profile =
            profile.unwrap_or(account::Profile { account_id: id.clone(), stripe_customer_id: None, referred_by: None });
        Ok(Some(account::view(&profile, &subscriptions, self.free_tier())))
    }

    fn free_tier(&self) -> &str {
        match self.catalog.free_plan().map(|item| &item.grant) {
            Some(Grant::ApiPlan { tier, .. }) => tier,
            _ => "free",
        }
    }
}

impl<S: EventLog> App<S> {
    pub async fn recent_events(&self, limit: usize) -> Result<Vec<EventRecord>, EventLogError> {
        self.store.recent(limit).await
    }
}

impl<S: Ledger> App<S> {
    pub async fn ledger(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, LedgerError> {
        self.store.for_account(account).await
    }
}
