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

impl<S: Accounts + crate::ports::workflows::Workflows> App<S> {
    /// The account's membership and what it opens. Premium workflows count in the order
    /// they were registered, so a limited membership keeps the same ones.
    pub async fn entitlements(
        &self,
        account: &AccountId,
    ) -> Result<tollgate_core::entitlements::Entitlements, crate::orchestrator::OrchestrateError> {
        let subscriptions = self.store.subscriptions(account).await?;
        let mut premium: Vec<_> = self.store.workflows().await?.into_iter().filter(|w| w.spec.premium).collect();
        premium.sort_by(|a, b| (a.created_at, &a.spec.id).cmp(&(b.created_at, &b.spec.id)));
        let premium: Vec<_> = premium.into_iter().map(|workflow| workflow.spec.id).collect();
        Ok(tollgate_core::entitlements::entitlements(&self.catalog, &subscriptions, &premium))
    }
}

impl<S: crate::ports::purchases::Purchases> App<S> {
    pub async fn purchases(
        &self,
        account: &AccountId,
    ) -> Result<Vec<crate::ports::purchases::Purchase>, crate::ports::purchases::PurchasesError> {
        let mut purchases = self.store.purchases(account).await?;
        purchases.sort_by_key(|purchase| std::cmp::Reverse(purchase.created_at));
        Ok(purchases)
    }
}
