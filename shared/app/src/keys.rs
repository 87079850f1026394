//! API keys for their owners (`/api/keys`, `/api/me`) and for the edge (a key's record,
//! revocation pushed to the edge at once).

use crate::Clock;
use crate::ports::accounts::{Accounts, AccountsError};
use crate::ports::api_keys::{ApiKeys, ApiKeysError, KeyCreated, StoredKey};
use crate::ports::first_keys::{FirstKey, FirstKeys, FirstKeysError};
use crate::ports::outbound::{Outbound, OutboundRequest};
use crate::ports::purchases::{Purchase, Purchases, PurchasesError};
use crate::ports::queue::{Queue, QueueError, QueueName};
use crate::ports::usage::{KeyUsage, Usage, UsageError};
use rand::RngCore;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tollgate_core::api_key::{ApiKey, KEY_BYTES, KeyHash, KeyMode};
use tollgate_core::catalog::Catalog;
use tollgate_core::edge;
use tollgate_core::edge::EdgeSecret;
use tollgate_core::ids::{AccountId, KeyId, SubscriptionId};
use tollgate_core::metering::{KeyRecord, Limits, Period, UsageBatch};
use tollgate_core::meters::{MeterLimit, MeterName, REQUESTS};
use tollgate_core::money::{Currency, Micros};
use tollgate_core::quota::{AccountTerms, CountedMeter, Funds, window};
use tollgate_core::signing::Purpose;
use tollgate_core::time::{BusinessZone, Timestamp};
use tollgate_core::usage::{MeterStanding, PlanTerms, balance_granted, credits_granted, meter_standings, plan_terms};

#[derive(Debug, Error)]
pub enum KeysError {
    #[error("no such key")]
    NoSuchKey,
    #[error("the plan allows {max} keys at once; revoke one to make another")]
    KeyLimitReached { max: u32 },
    #[error(transparent)]
    Keys(#[from] ApiKeysError),
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Purchases(#[from] PurchasesError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    FirstKeys(#[from] FirstKeysError),
}

/// A new key, shown this once.
#[derive(Debug)]
pub struct NewKey {
    pub id: KeyId,
    pub key: String,
    pub prefix: String,
}

/// `GET /api/me`: the plan and where the account stands in its billing period.
#[derive(Debug)]
pub struct Standing {
    pub account_id: AccountId,
    pub plan: String,
    pub billing_period: Period,
    pub limits: Limits,
    /// Calls counted this period, all keys (as flushed by the edge).
    pub used: u64,
    /// Calls left in the quota; `None` when unlimited.
    pub remaining: Option<u64>,
    /// Prepaid credits left.
    pub credits: u64,
    /// Every meter of the catalog as the plan limits it. The edge counts `requests`; the
    /// other meters count from zero until it counts them.
    pub meters: Vec<MeterStanding>,
    /// The money balance, exactly.
    pub balance: Micros,
    /// The balance's currency (the catalog's free plan's).
    pub currency: Currency,
}

/// The ports API keys read and write.
pub trait KeyStore: ApiKeys + Accounts + Usage + Purchases + Queue + FirstKeys {}

impl<S: ApiKeys + Accounts + Usage + Purchases + Queue + FirstKeys> KeyStore for S {}

/// API keys for their owners, and what the edge asks of them.
pub struct Keys<S> {
    pub store: S,
    pub catalog: Catalog,
    /// Where a free account's calendar month starts.
    pub zone: BusinessZone,
    pub clock: Arc<dyn Clock>,
    pub edge: Arc<EdgeLink>,
}

/// A revoked key, and whether the edge has heard of it yet.
#[derive(Debug)]
pub struct Revoked {
    pub key: StoredKey,
    /// `false` when the edge could not be told: it learns at its next record refresh.
    pub edge_notified: bool,
}

impl<S: KeyStore> Keys<S> {
    /// Makes a key for `account` (creating the account, on the free plan, at its first call).
    #[tracing::instrument(level = "error", skip_all, fields(account_id = %account))]
    pub async fn create_key(&self, account: &AccountId, mode: KeyMode) -> Result<NewKey, KeysError> {
        self.store.link_customer(account, None, None).await?;
        let max = plan_terms(&self.catalog, &self.store.subscriptions(account).await?, self.clock.now(), self.zone)
            .plan
            .max_keys;
        let mut random = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut random);
        let key = ApiKey::generate(mode, random);
        let mut id_bytes = [0u8; 9];
        rand::rng().fill_bytes(&mut id_bytes);
        let id = KeyId::parse(&format!("key_{}", hex::encode(id_bytes))).expect("hex after key_ is a key id");
        let stored = StoredKey {
            id: id.clone(),
            account_id: account.clone(),
            hash: key.hash(),
            prefix: key.prefix(),
            created_at: self.clock.now(),
            revoked_at: None,
            last_used_at: None,
        };
        if self.store.create_key(&stored, max).await? == KeyCreated::LimitReached {
            return Err(KeysError::KeyLimitReached { max });
        }
        tracing::info!(key_id = %id, prefix = %stored.prefix, "API key created");
        Ok(NewKey { id, key: key.expose().to_owned(), prefix: stored.prefix })
    }

    /// The first key of an account that holds no active key, made by its API plan's
    /// `subscription` and waiting to be shown once on the account page. Derived from the
    /// edge secret (only its hash is stored, as of any key), so a redelivered event makes
    /// the same key, and finds it made. `None` when the account already holds a key.
    #[tracing::instrument(level = "error", skip_all, fields(account_id = %account))]
    pub async fn create_first_key(
        &self,
        account: &AccountId,
        subscription: &SubscriptionId,
    ) -> Result<Option<KeyId>, KeysError> {
        if self.store.keys_of(account).await?.iter().any(|key| key.revoked_at.is_none()) {
            return Ok(None);
        }
        let (id, key) = edge::first_key(&self.edge.secret, account, subscription);
        let now = self.clock.now();
        let stored = StoredKey {
            id: id.clone(),
            account_id: account.clone(),
            hash: key.hash(),
            prefix: key.prefix(),
            created_at: now,
            revoked_at: None,
            last_used_at: None,
        };
        let max = plan_terms(&self.catalog, &self.store.subscriptions(account).await?, now, self.zone).plan.max_keys;
        if self.store.create_key(&stored, max).await? == KeyCreated::LimitReached {
            return Err(KeysError::KeyLimitReached { max });
        }
        let first = FirstKey { key_id: id.clone(), subscription: subscription.clone(), created_at: now };
        self.store.owe_first_key(account, &first).await?;
        tracing::info!(key_id = %id, prefix = %stored.prefix, "first API key made by a subscription");
        Ok(Some(id))
    }

    /// The account's first key, shown this once (derived again: it was never kept); `None`
    /// when there is none waiting, or it was revoked before it was shown.
    #[tracing::instrument(level = "error", skip_all, fields(account_id = %account))]
    pub async fn reveal_first_key(&self, account: &AccountId) -> Result<Option<NewKey>, KeysError> {
        let Some(first) = self.store.take_first_key(account).await? else { return Ok(None) };
        let (id, key) = edge::first_key(&self.edge.secret, account, &first.subscription);
        let stored = self.store.key_by_hash(&key.hash()).await?;
        let Some(stored) = stored.filter(|stored| stored.id == id && stored.revoked_at.is_none()) else {
            return Ok(None);
        };
        tracing::info!(key_id = %id, "first API key shown");
        Ok(Some(NewKey { id, key: key.expose().to_owned(), prefix: stored.prefix }))
    }

    /// Whether a first key waits to be shown.
    pub async fn first_key_waiting(&self, account: &AccountId) -> Result<bool, KeysError> {
        Ok(self.store.first_key_waiting(account).await?.is_some())
    }

    /// Revokes every active key of the account and tells the edge; how many.
    #[tracing::instrument(level = "error", skip_all, fields(account_id = %account))]
    pub async fn revoke_all(&self, account: &AccountId) -> Result<usize, KeysError> {
        let mut revoked = 0;
        for key in self.store.keys_of(account).await?.into_iter().filter(|key| key.revoked_at.is_none()) {
            self.revoke_key(account, &key.id).await?;
            revoked += 1;
        }
        Ok(revoked)
    }

    /// The account's keys, oldest first; what the owner may see of them is the API's view.
    pub async fn list_keys(&self, account: &AccountId) -> Result<Vec<StoredKey>, KeysError> {
        self.store.link_customer(account, None, None).await?;
        Ok(self.store.keys_of(account).await?)
    }

    /// Revokes the account's key and tells the edge, so its very next call is refused.
    #[tracing::instrument(level = "error", skip_all, fields(account_id = %account))]
    pub async fn revoke_key(&self, account: &AccountId, id: &KeyId) -> Result<Revoked, KeysError> {
        let now = self.clock.now();
        let key = self.store.revoke_key(account, id, now).await?.ok_or(KeysError::NoSuchKey)?;
        tracing::info!(key_id = %id, "API key revoked");
        let edge_notified = self.edge.revoked(&key.hash, now).await;
        Ok(Revoked { key, edge_notified })
    }

    #[tracing::instrument(level = "error", skip_all, fields(account_id = %account))]
    pub async fn standing(&self, account: &AccountId) -> Result<Standing, KeysError> {
        self.store.link_customer(account, None, None).await?;
        let now = self.clock.now();
        let terms = plan_terms(&self.catalog, &self.store.subscriptions(account).await?, now, self.zone);
        let usage = self.store.key_usage(account, None, terms.period.start).await?;
        let counted = self.counted(account, &terms, &usage, now, |_| true).await?;
        let funds = self.funds(account, &usage).await?;
        let balance = Micros(funds.balance_granted.0.saturating_sub(funds.balance_spent.0).max(0));
        let used = |meter: &MeterName| counted.iter().find(|c| &c.meter == meter).map_or(0, |c| c.counted);
        let meters = meter_standings(&self.catalog, &terms, used, balance, now, self.zone);
        let limits = terms.limits();
        Ok(Standing {
            account_id: account.clone(),
            plan: terms.tier,
            billing_period: terms.period,
            limits,
            used: usage.account_calls,
            remaining: limits.monthly_requests.map(|quota| quota.saturating_sub(usage.account_calls)),
            credits: funds.credits_granted.saturating_sub(funds.credits_spent),
            meters,
            balance,
            currency: self.catalog.currency().clone(),
        })
    }

    /// What the edge needs to decide calls of the key with this hash; `None` when unknown.
    pub async fn key_record(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, KeysError> {
        let Some(key) = self.store.key_by_hash(hash).await? else { return Ok(None) };
        let account = &key.account_id;
        let now = self.clock.now();
        let terms = plan_terms(&self.catalog, &self.store.subscriptions(account).await?, now, self.zone);
        let usage = self.store.key_usage(account, Some(&key.id), terms.period.start).await?;
        let funds = self.funds(account, &usage).await?;
        let granted = funds.credits_granted;
        // Unlimited meters need no count to be decided: they are not read.
        let meters = self.counted(account, &terms, &usage, now, |limit| limit.quota.is_some()).await?;
        Ok(Some(KeyRecord {
            key_id: key.id,
            account_id: key.account_id.clone(),
            revoked: key.revoked_at.is_some(),
            limits: terms.limits(),
            period: terms.period,
            // Totals are read one after the other: a batch landing between the reads must not underflow.
            used_elsewhere: usage.account_calls.saturating_sub(usage.key_calls),
            key_used: usage.key_calls,
            key_credits_spent: usage.key_credits,
            credits: (granted > 0)
                .then(|| granted.saturating_sub(usage.account_credits.saturating_sub(usage.key_credits))),
            account: Some(AccountTerms {
                zone: self.zone,
                period: terms.period,
                routes: self.catalog.routes().to_vec(),
                meters,
                funds,
                currency: self.catalog.currency().clone(),
            }),
        }))
    }

    /// The catalog's meters whose plan limit is `wanted`, each with that limit and the
    /// account's count in its current window.
    async fn counted(
        &self,
        account: &AccountId,
        terms: &PlanTerms,
        usage: &KeyUsage,
        now: Timestamp,
        wanted: impl Fn(&MeterLimit) -> bool,
    ) -> Result<Vec<CountedMeter>, KeysError> {
        let mut counted = Vec::with_capacity(self.catalog.meters().len());
        for meter in self.catalog.meters() {
            let limit = terms.plan.on(&meter.name).clone();
            if !wanted(&limit) {
                continue;
            }
            let window = window(limit.per, self.zone, terms.period, now);
            let count = if meter.name.as_str() == REQUESTS && window.start == terms.period.start {
                usage.account_calls
            } else {
                self.store.meter_usage(account, &meter.name, window.start).await?
            };
            counted.push(CountedMeter { meter: meter.name.clone(), limit, window_start: window.start, counted: count });
        }
        Ok(counted)
    }

    /// What the account can pay past its quotas with: its top-ups and credits, and what its
    /// batches have spent of them.
    async fn funds(&self, account: &AccountId, usage: &KeyUsage) -> Result<Funds, KeysError> {
        let purchases = self.store.purchases(account).await?;
        let live = purchases.iter().filter(|p| !p.revoked).map(|p| (&p.sku, u64::from(p.quantity)));
        let (balance_granted, balance_spent) = balance_of(&self.store, &self.catalog, account, &purchases).await?;
        Ok(Funds {
            balance_granted,
            balance_spent,
            credits_granted: credits_granted(&self.catalog, live),
            credits_spent: usage.account_credits,
        })
    }

    /// Queues the edge's batches for the usage meter; the ids queued (all of them).
    pub async fn accept_usage(&self, batches: &[UsageBatch]) -> Result<Vec<String>, KeysError> {
        for batch in batches {
            let body = serde_json::to_string(batch).expect("a usage batch always serialises");
            self.store.send(QueueName::Usage, &body).await?;
        }
        Ok(batches.iter().map(|batch| batch.id.clone()).collect())
    }
}

/// An account's money balance: what its top-ups put in (every top-up bought, refunded ones
/// too, less what their refunds took back) and what its batches spent.
pub(crate) async fn balance<S: Purchases + Usage>(
    store: &S,
    catalog: &Catalog,
    account: &AccountId,
) -> Result<(Micros, Micros), UsageError> {
    let purchases = store.purchases(account).await.map_err(|error| UsageError(error.0))?;
    balance_of(store, catalog, account, &purchases).await
}

/// [`balance`], from the account's `purchases` already read.
async fn balance_of<S: Usage>(
    store: &S,
    catalog: &Catalog,
    account: &AccountId,
    purchases: &[Purchase],
) -> Result<(Micros, Micros), UsageError> {
    let bought = balance_granted(catalog, purchases.iter().map(|p| (&p.sku, u64::from(p.quantity))));
    let granted = Micros(bought.0.saturating_sub(store.taken_back(account).await?.0));
    Ok((granted, store.balance_spent(account).await?))
}

/// What is left of an account's money balance.
pub(crate) async fn balance_left<S: Purchases + Usage>(
    store: &S,
    catalog: &Catalog,
    account: &AccountId,
) -> Result<Micros, UsageError> {
    let (granted, spent) = balance(store, catalog, account).await?;
    Ok(Micros(granted.0.saturating_sub(spent.0).max(0)))
}

/// The signed link between origin and edge (`EDGE_SECRET`), and where the edge is
/// (`EDGE_URL`; none when no Worker is deployed, as in the local stack).
pub struct EdgeLink {
    pub secret: EdgeSecret,
    pub url: Option<String>,
    pub outbound: Arc<dyn Outbound>,
}

impl EdgeLink {
    /// Tells the edge a key is revoked. When the edge cannot be told, it still learns at
    /// its next record refresh; `false` then.
    async fn revoked(&self, hash: &KeyHash, now: Timestamp) -> bool {
        let Some(url) = &self.url else { return true };
        let body = serde_json::to_vec(&serde_json::json!({ "key_hash": hash })).expect("always serialises");
        let signature = edge::sign(&self.secret, Purpose::Revocation, now, "POST", edge::REVOKE_PATH, &body);
        let request = OutboundRequest {
            url: format!("{}{}", url.trim_end_matches('/'), edge::REVOKE_PATH),
            headers: vec![("content-type", "application/json".to_owned()), (edge::SIGNATURE_HEADER, signature)],
            body,
            timeout: Duration::from_secs(5),
        };
        match self.outbound.post(request).await {
            Ok(status) if (200..300).contains(&status) => true,
            Ok(status) => {
                tracing::error!(status, "the edge refused a revocation; it applies at the next refresh");
                false
            }
            Err(error) => {
                tracing::error!(%error, "the edge could not be told of a revocation; it applies at the next refresh");
                false
            }
        }
    }
}
