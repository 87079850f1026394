use crate::Sqlite;
use crate::records::{from_json, to_json};
use rusqlite::{OptionalExtension, params};
use tollgate_app::ports::accounts::{Accounts, AccountsError, Applied};
use tollgate_core::account::{Profile, Subscription, SubscriptionStatus, is_stale};
use tollgate_core::ids::{AccountId, CustomerId, SubscriptionId};
use tollgate_core::time::Timestamp;

fn failed(error: crate::DbError) -> AccountsError {
    AccountsError(error.into())
}

fn corrupt(index: usize, error: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(error))
}

fn store_subscription(
    db: &rusqlite::Savepoint<'_>,
    account: &AccountId,
    subscription: &Subscription,
) -> rusqlite::Result<()> {
    let data = to_json(subscription)?;
    db.execute(
        "INSERT INTO subscriptions (id, account_id, event_created, data) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET event_created = excluded.event_created, data = excluded.data",
        params![subscription.id.as_str(), account.as_str(), subscription.event_created.0, data],
    )
    .map(drop)
}

fn load_subscription(db: &rusqlite::Savepoint<'_>, id: &SubscriptionId) -> rusqlite::Result<Option<Subscription>> {
    db.query_row("SELECT data FROM subscriptions WHERE id = ?1", [id.as_str()], from_json).optional()
}

impl Accounts for Sqlite {
    async fn link_customer(
        &self,
        account: &AccountId,
        customer: Option<&CustomerId>,
        referred_by: Option<&AccountId>,
    ) -> Result<(), AccountsError> {
        let (account, customer, referred_by) = (account.clone(), customer.cloned(), referred_by.cloned());
        self.call(move |db| {
            let tx = db.savepoint()?;
            tx.execute(
                "INSERT INTO profiles (account_id, stripe_customer_id, referred_by) VALUES (?1, ?2, ?3)
                 ON CONFLICT (account_id) DO UPDATE SET
                   stripe_customer_id = coalesce(stripe_customer_id, excluded.stripe_customer_id),
                   referred_by = coalesce(referred_by, excluded.referred_by)",
                params![account.as_str(), customer.as_ref().map(CustomerId::as_str), referred_by.as_ref().map(AccountId::as_str)],
            )?;
            if let Some(customer) = &customer {
                tx.execute(
                    "INSERT INTO customers (customer_id, account_id) VALUES (?1, ?2) ON CONFLICT (customer_id) DO NOTHING",
                    params![customer.as_str(), account.as_str()],
                )?;
            }
            tx.commit()
        })
        .await
        .map_err(failed)
    }

    async fn account_for_customer(&self, customer: &CustomerId) -> Result<Option<AccountId>, AccountsError> {
        let customer = customer.clone();
        self.call(move |db| {
            db.query_row("SELECT account_id FROM customers WHERE customer_id = ?1", [customer.as_str()], |row| {
                row.get::<_, String>(0)
            })
            .optional()?
            .map(|id| AccountId::parse(&id).map_err(|e| corrupt(0, e)))
            .transpose()
        })
        .await
        .map_err(failed)
    }

    async fn apply_subscription(
        &self,
        account: &AccountId,
        subscription: &Subscription,
    ) -> Result<Applied, AccountsError> {
        let (account, subscription) = (account.clone(), subscription.clone());
        self.call(move |db| {
            let tx = db.savepoint()?;
            let applied = load_subscription(&tx, &subscription.id)?.map(|stored| stored.event_created);
            if is_stale(subscription.event_created, applied) {
                return Ok(Applied::Stale);
            }
            store_subscription(&tx, &account, &subscription)?;
            tx.commit()?;
            Ok(Applied::Applied)
        })
        .await
        .map_err(failed)
    }

    async fn set_subscription_status(
        &self,
        account: &AccountId,
        subscription: &SubscriptionId,
        status: &SubscriptionStatus,
        event_created: Timestamp,
    ) -> Result<Option<Applied>, AccountsError> {
        let (account, id, status) = (account.clone(), subscription.clone(), status.clone());
        self.call(move |db| {
            let tx = db.savepoint()?;
            let Some(mut stored) = load_subscription(&tx, &id)? else {
                return Ok(None);
            };
            if is_stale(event_created, Some(stored.event_created)) {
                return Ok(Some(Applied::Stale));
            }
            stored.status = status;
            stored.event_created = event_created;
            store_subscription(&tx, &account, &stored)?;
            tx.commit()?;
            Ok(Some(Applied::Applied))
        })
        .await
        .map_err(failed)
    }

    async fn profile(&self, account: &AccountId) -> Result<Option<Profile>, AccountsError> {
        let account = account.clone();
        self.call(move |db| {
            db.query_row(
                "SELECT stripe_customer_id, referred_by FROM profiles WHERE account_id = ?1",
                [account.as_str()],
                |row| Ok((row.get::<_, Option<String>>(0)?, row.get::<_, Option<String>>(1)?)),
            )
            .optional()?
            .map(|(customer, referred_by)| {
                Ok(Profile {
                    account_id: account.clone(),
                    stripe_customer_id: customer
                        .map(|c| CustomerId::parse(&c))
                        .transpose()
                        .map_err(|e| corrupt(0, e))?,
                    referred_by: referred_by.map(|r| AccountId::parse(&r)).transpose().map_err(|e| corrupt(1, e))?,
                })
            })
            .transpose()
        })
        .await
        .map_err(failed)
    }

    async fn subscriptions(&self, account: &AccountId) -> Result<Vec<Subscription>, AccountsError> {
        let account = account.clone();
        self.call(move |db| {
            let mut statement = db.prepare("SELECT data FROM subscriptions WHERE account_id = ?1 ORDER BY id")?;
            statement.query_map([account.as_str()], from_json)?.collect()
        })
        .await
        .map_err(failed)
    }

    async fn referrals(&self, referrer: &AccountId) -> Result<Vec<AccountId>, AccountsError> {
        let referrer = referrer.clone();
        self.call(move |db| {
            let mut statement =
                db.prepare("SELECT account_id FROM profiles WHERE referred_by = ?1 ORDER BY account_id")?;
            let ids: Vec<String> =
                statement.query_map([referrer.as_str()], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(ids.iter().filter_map(|id| AccountId::parse(id).ok()).collect())
        })
        .await
        .map_err(failed)
    }

    async fn active_subscriptions(&self) -> Result<Vec<Subscription>, AccountsError> {
        self.call(|db| {
            let mut statement = db.prepare("SELECT data FROM subscriptions")?;
            let mut active = Vec::new();
            for subscription in statement.query_map([], from_json::<Subscription>)? {
                let subscription = subscription?;
                if subscription.status.grants_access() {
                    active.push(subscription);
                }
            }
            Ok(active)
        })
        .await
        .map_err(failed)
    }
}
