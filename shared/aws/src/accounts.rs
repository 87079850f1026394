//! `accounts` table, keys `pk` and `sk`, one partition per account:
//! `ACCOUNT#{id}` / `PROFILE` holds the customer and referrer, `ACCOUNT#{id}` /
//! `SUB#{sub_…}` one item per subscription; `CUSTOMER#{cus_…}` / `ACCOUNT` maps a
//! Stripe customer back to its account. Subscriptions that grant access carry
//! `active = "active"`, the sparse GSI `active_subscriptions` that counts them.

use crate::Aws;
use crate::dynamo::{Item, built, from_item, is_condition_failure, items_under, n, query_all, s, sdk, to_item};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use tollgate_app::ports::accounts::{Accounts, AccountsError, Applied};
use tollgate_app::ports::error::PortError;
use tollgate_core::account::{Profile, Subscription, SubscriptionStatus};
use tollgate_core::ids::{AccountId, CustomerId, SubscriptionId};
use tollgate_core::time::Timestamp;
use tollgate_records::{Stored, SubscriptionRecord};

/// The partition of everything an account owns: profile, subscriptions, purchases, payee.
pub(crate) fn account_key(account: &AccountId) -> AttributeValue {
    s(format!("ACCOUNT#{account}"))
}

/// The account a partition key (`ACCOUNT#{id}`) names, if it names a valid one.
pub(crate) fn account_in_key(pk: &str) -> Option<AccountId> {
    pk.strip_prefix("ACCOUNT#").and_then(|id| AccountId::parse(id).ok())
}

/// An item's key, as a keys-only index answers it.
#[derive(Deserialize)]
struct ItemKey {
    pk: String,
    sk: String,
}

fn subscription_key(subscription: &SubscriptionId) -> AttributeValue {
    s(format!("SUB#{subscription}"))
}

fn customer_key(customer: &CustomerId) -> AttributeValue {
    s(format!("CUSTOMER#{customer}"))
}

#[derive(Serialize, Deserialize)]
struct SubscriptionItem {
    pk: String,
    sk: String,
    account_id: AccountId,
    #[serde(flatten)]
    subscription: SubscriptionRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    active: Option<String>,
}

const ACTIVE: &str = "active";

#[derive(Deserialize)]
struct ProfileItem {
    account_id: AccountId,
    stripe_customer_id: Option<CustomerId>,
    referred_by: Option<AccountId>,
}

#[derive(Deserialize)]
struct CustomerItem {
    account_id: AccountId,
}

fn failed(error: PortError) -> AccountsError {
    AccountsError(error)
}

impl Accounts for Aws {
    async fn link_customer(
        &self,
        account: &AccountId,
        customer: Option<&CustomerId>,
        referred_by: Option<&AccountId>,
    ) -> Result<(), AccountsError> {
        let table = &self.resources.accounts_table;
        // Each field is set only where none is set yet: the first checkout decides.
        let mut sets = vec!["account_id = :account".to_owned()];
        let mut update = self
            .dynamo
            .update_item()
            .table_name(table)
            .key("pk", account_key(account))
            .key("sk", s("PROFILE"))
            .expression_attribute_values(":account", s(account.as_str()));
        if let Some(customer) = customer {
            sets.push("stripe_customer_id = if_not_exists(stripe_customer_id, :customer)".into());
            update = update.expression_attribute_values(":customer", s(customer.as_str()));
        }
        if let Some(referrer) = referred_by {
            sets.push("referred_by = if_not_exists(referred_by, :referrer)".into());
            update = update.expression_attribute_values(":referrer", s(referrer.as_str()));
        }
        update.update_expression(format!("SET {}", sets.join(", "))).send().await.map_err(|e| failed(sdk(e)))?;
        if let Some(customer) = customer {
            let put = self
                .dynamo
                .put_item()
                .table_name(table)
                .item("pk", customer_key(customer))
                .item("sk", s("ACCOUNT"))
                .item("account_id", s(account.as_str()))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            match put {
                Ok(_) => {}
                Err(error) if is_condition_failure(&error) => {}
                Err(error) => return Err(failed(sdk(error))),
            }
        }
        Ok(())
    }

    async fn account_for_customer(&self, customer: &CustomerId) -> Result<Option<AccountId>, AccountsError> {
        let output = self
            .dynamo
            .get_item()
            .table_name(&self.resources.accounts_table)
            .key("pk", customer_key(customer))
            .key("sk", s("ACCOUNT"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed(sdk(e)))?;
        output.item.map(|item| from_item::<CustomerItem>(item).map(|c| c.account_id).map_err(failed)).transpose()
    }

    async fn apply_subscription(
        &self,
        account: &AccountId,
        subscription: &Subscription,
    ) -> Result<Applied, AccountsError> {
        let item = to_item(&SubscriptionItem {
            pk: format!("ACCOUNT#{account}"),
            sk: format!("SUB#{}", subscription.id),
            account_id: account.clone(),
            subscription: subscription.to_record(),
            active: subscription.status.grants_access().then(|| ACTIVE.to_owned()),
        })
        .map_err(failed)?;
        // tollgate_core::account::is_stale, as a condition: only an event at least as new replaces the item.
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.resources.accounts_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR event_created <= :created")
            .expression_attribute_values(":created", n(subscription.event_created.0))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Applied::Applied),
            Err(error) if is_condition_failure(&error) => Ok(Applied::Stale),
            Err(error) => Err(failed(sdk(error))),
        }
    }

    async fn set_subscription_status(
        &self,
        account: &AccountId,
        subscription: &SubscriptionId,
        status: &SubscriptionStatus,
        event_created: Timestamp,
    ) -> Result<Option<Applied>, AccountsError> {
        let mut update = self
            .dynamo
            .update_item()
            .table_name(&self.resources.accounts_table)
            .key("pk", account_key(account))
            .key("sk", subscription_key(subscription));
        update = if status.grants_access() {
            update
                .update_expression("SET #status = :status, event_created = :created, active = :active")
                .expression_attribute_values(":active", s(ACTIVE))
        } else {
            update.update_expression("SET #status = :status, event_created = :created REMOVE active")
        };
        let update = update
            .condition_expression("attribute_exists(pk) AND event_created <= :created")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(&status.0))
            .expression_attribute_values(":created", n(event_created.0))
            .send()
            .await;
        match update {
            Ok(_) => Ok(Some(Applied::Applied)),
            Err(error) if is_condition_failure(&error) => {
                let known = self.subscriptions(account).await?.iter().any(|s| &s.id == subscription);
                Ok(known.then_some(Applied::Stale))
            }
            Err(error) => Err(failed(sdk(error))),
        }
    }

    async fn profile(&self, account: &AccountId) -> Result<Option<Profile>, AccountsError> {
        let output = self
            .dynamo
            .get_item()
            .table_name(&self.resources.accounts_table)
            .key("pk", account_key(account))
            .key("sk", s("PROFILE"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed(sdk(e)))?;
        output
            .item
            .map(|item| {
                let profile: ProfileItem = from_item(item).map_err(failed)?;
                Ok(Profile {
                    account_id: profile.account_id,
                    stripe_customer_id: profile.stripe_customer_id,
                    referred_by: profile.referred_by,
                })
            })
            .transpose()
    }

    async fn subscriptions(&self, account: &AccountId) -> Result<Vec<Subscription>, AccountsError> {
        let items: Vec<SubscriptionItem> =
            items_under(&self.dynamo, &self.resources.accounts_table, account_key(account), "SUB#")
                .await
                .map_err(failed)?;
        Ok(items.into_iter().map(|item| Subscription::from_record(item.subscription)).collect())
    }

    async fn referrals(&self, referrer: &AccountId) -> Result<Vec<AccountId>, AccountsError> {
        let query = self
            .dynamo
            .query()
            .table_name(&self.resources.accounts_table)
            .index_name("by_referrer")
            .key_condition_expression("referred_by = :referrer")
            .expression_attribute_values(":referrer", s(referrer.as_str()));
        let keys: Vec<ItemKey> = query_all(query).await.map_err(failed)?;
        Ok(keys.iter().filter_map(|key| account_in_key(&key.pk)).collect())
    }

    async fn active_subscriptions(&self) -> Result<Vec<Subscription>, AccountsError> {
        // The index is sparse and holds keys only: find the keys, then read the items.
        let query = self
            .dynamo
            .query()
            .table_name(&self.resources.accounts_table)
            .index_name("active_subscriptions")
            .key_condition_expression("active = :active")
            .expression_attribute_values(":active", s(ACTIVE));
        let found: Vec<ItemKey> = query_all(query).await.map_err(failed)?;
        let keys: Vec<Item> = found
            .into_iter()
            .map(|key| Item::from([("pk".to_owned(), s(key.pk)), ("sk".to_owned(), s(key.sk))]))
            .collect();
        let mut subscriptions = Vec::with_capacity(keys.len());
        // BatchGetItem reads at most 100 keys a call, and may leave some for a second.
        for chunk in keys.chunks(100) {
            let mut pending = Some(
                built(
                    aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                        .set_keys(Some(chunk.to_vec()))
                        .consistent_read(true)
                        .build(),
                )
                .map_err(failed)?,
            );
            while let Some(request) = pending.take() {
                let output = self
                    .dynamo
                    .batch_get_item()
                    .request_items(&self.resources.accounts_table, request)
                    .send()
                    .await
                    .map_err(|e| failed(sdk(e)))?;
                for item in
                    output.responses.unwrap_or_default().remove(&self.resources.accounts_table).unwrap_or_default()
                {
                    let stored: SubscriptionItem = from_item(item).map_err(failed)?;
                    subscriptions.push(Subscription::from_record(stored.subscription));
                }
                pending = output.unprocessed_keys.unwrap_or_default().remove(&self.resources.accounts_table);
            }
        }
        Ok(subscriptions)
    }
}
