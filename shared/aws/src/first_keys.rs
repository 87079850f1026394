//! A first key waiting to be shown is an item of its account's partition in the `accounts`
//! table: `ACCOUNT#{id}` / `FIRST_KEY`, with the key's id and the subscription it derives from.

use crate::Aws;
use crate::accounts::account_key;
use crate::dynamo::{get, n, s, sdk};
use aws_sdk_dynamodb::types::ReturnValue;
use serde::Deserialize;
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::first_keys::{FirstKey, FirstKeys, FirstKeysError};
use tollgate_core::ids::{AccountId, KeyId, SubscriptionId};
use tollgate_core::time::Timestamp;

const SORT_KEY: &str = "FIRST_KEY";

#[derive(Deserialize)]
struct FirstKeyItem {
    key_id: String,
    subscription_id: String,
    created_at: i64,
}

fn failed(error: PortError) -> FirstKeysError {
    FirstKeysError(error)
}

fn parsed(item: FirstKeyItem) -> Result<FirstKey, FirstKeysError> {
    let corrupt = |what: &str| failed(PortError::new(ErrorKind::Corrupt, format!("a first key's {what}")));
    Ok(FirstKey {
        key_id: KeyId::parse(&item.key_id).map_err(|_| corrupt("key id"))?,
        subscription: SubscriptionId::parse(&item.subscription_id).map_err(|_| corrupt("subscription"))?,
        created_at: Timestamp(item.created_at),
    })
}

impl FirstKeys for Aws {
    async fn owe_first_key(&self, account: &AccountId, first: &FirstKey) -> Result<(), FirstKeysError> {
        self.dynamo
            .put_item()
            .table_name(&self.resources.accounts_table)
            .item("pk", account_key(account))
            .item("sk", s(SORT_KEY))
            .item("key_id", s(first.key_id.as_str()))
            .item("subscription_id", s(first.subscription.as_str()))
            .item("created_at", n(first.created_at.0))
            .send()
            .await
            .map(drop)
            .map_err(|e| failed(sdk(e)))
    }

    async fn first_key_waiting(&self, account: &AccountId) -> Result<Option<FirstKey>, FirstKeysError> {
        let key = [("pk", account_key(account)), ("sk", s(SORT_KEY))];
        let item = get::<FirstKeyItem>(&self.dynamo, &self.resources.accounts_table, &key).await.map_err(failed)?;
        item.map(parsed).transpose()
    }

    async fn take_first_key(&self, account: &AccountId) -> Result<Option<FirstKey>, FirstKeysError> {
        let deleted = self
            .dynamo
            .delete_item()
            .table_name(&self.resources.accounts_table)
            .key("pk", account_key(account))
            .key("sk", s(SORT_KEY))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| failed(sdk(e)))?;
        let Some(old) = deleted.attributes.filter(|old| !old.is_empty()) else { return Ok(None) };
        let item: FirstKeyItem = crate::dynamo::from_item(old).map_err(failed)?;
        parsed(item).map(Some)
    }
}
