//! What operators and buyers read: accounts, the event log, the ledger, alerts, purchases,
//! referrals and entitlements.

use crate::orchestrator::OrchestrateError;
use crate::ports::accounts::{Accounts, AccountsError};
use crate::ports::alerts::{Alerts, AlertsError};
use crate::ports::event_log::{EventLog, EventLogError, EventRecord};
use crate::ports::ledger::{Ledger, LedgerError};
use crate::ports::premium_choices::PremiumChoices;
use crate::ports::purchases::{Purchase, Purchases, PurchasesError};
use crate::ports::workflows::Workflows;
use tollgate_core::account::{self, AccountView};
use tollgate_core::alert::Alert;
use tollgate_core::catalog::{Catalog, Grant};
use tollgate_core::entitlements::Entitlements;
use tollgate_core::ids::{AccountId, CustomerId};
use tollgate_core::ledger::LedgerEntry;

/// Reads of what tollgate holds, each as its caller sees it.
pub struct Reads<S> {
    pub store: S,
    pub catalog: Catalog,
}

impl<S: Accounts> Reads<S> {
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

    /// The account a Stripe customer belongs to, as it stands; `None` when unknown.
    pub async fn customer(&self, customer: &CustomerId) -> Result<Option<AccountView>, AccountsError> {
        match self.store.account_for_customer(customer).await? {
            Some(account) => self.account(&account).await,
            None => Ok(None),
        }
    }

    /// The accounts `referrer` referred, sorted.
    pub async fn referrals(&self, referrer: &AccountId) -> Result<Vec<AccountId>, AccountsError> {
        let mut referred = self.store.referrals(referrer).await?;
        referred.sort();
        Ok(referred)
    }

    fn free_tier(&self) -> &str {
        match self.catalog.free_plan().map(|item| &item.grant) {
            Some(Grant::ApiPlan { tier, .. }) => tier,
            _ => "free",
        }
    }
}

impl<S: EventLog> Reads<S> {
    pub async fn recent_events(&self, limit: usize) -> Result<Vec<EventRecord>, EventLogError> {
        self.store.recent(limit).await
    }
}

impl<S: Alerts> Reads<S> {
    pub async fn alerts(&self, limit: usize) -> Result<Vec<Alert>, AlertsError> {
        self.store.alerts(limit).await
    }
}

impl<S: Ledger> Reads<S> {
    pub async fn ledger(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, LedgerError> {
        self.store.for_account(account).await
    }
}

impl<S: Accounts + Workflows + PremiumChoices> Reads<S> {
    /// The account's membership and what it opens: the premium workflows the member chose,
    /// or until then the first ones registered, so a limited membership keeps the same ones.
    pub async fn entitlements(&self, account: &AccountId) -> Result<Entitlements, OrchestrateError> {
        let subscriptions = self.store.subscriptions(account).await?;
        let workflows = self.store.workflows().await?;
        Ok(crate::premium::opened(&self.store, &self.catalog, account, &subscriptions, &workflows).await?)
    }
}

impl<S: Purchases> Reads<S> {
    /// The account's purchases, newest first.
    pub async fn purchases(&self, account: &AccountId) -> Result<Vec<Purchase>, PurchasesError> {
        let mut purchases = self.store.purchases(account).await?;
        purchases.sort_by_key(|purchase| std::cmp::Reverse(purchase.created_at));
        Ok(purchases)
    }
}
