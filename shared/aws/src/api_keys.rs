//! `api-keys` table, key `hash` (the edge's lookup, read consistently so a revocation is
//! seen at once); the GSI `by_account` (`account_id`, `created_at`) lists an account's keys.

use crate::Aws;
use crate::dynamo::{
    Item, Transacted, built, from_stored, get, get_stored, is_condition_failure, query_all, s, sdk, to_stored, transact,
};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use tollgate_app::ports::api_keys::{ApiKeys, ApiKeysError, StoredKey};
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_core::api_key::KeyHash;
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::time::Timestamp;
use tollgate_records::{KeyRecord, Stored};

fn failed(error: PortError) -> ApiKeysError {
    ApiKeysError(error)
}

impl Aws {
    pub(crate) async fn account_keys(&self, account: &AccountId) -> Result<Vec<StoredKey>, PortError> {
        let query = self
            .dynamo
            .query()
            .table_name(&self.resources.api_keys_table)
            .index_name("by_account")
            .key_condition_expression("account_id = :account")
            .expression_attribute_values(":account", s(account.as_str()));
        Ok(query_all::<KeyRecord>(query).await?.into_iter().map(StoredKey::from_record).collect())
    }
}

/// The item that finds a key's hash from its public id (`hash = "id#<key id>"`), written
/// with the key in one transaction, so a revocation reads the key by its hash, consistently,
/// even right after it was made (the `by_account` index lags). It has no `account_id`, so
/// the index never lists it.
fn alias_of(id: &KeyId) -> String {
    format!("id#{id}")
}

impl Aws {
    /// The hash of the key with public id `id`: from its alias item, else (keys made before
    /// aliases existed) from the account's listing.
    pub(crate) async fn hash_of(&self, account: &AccountId, id: &KeyId) -> Result<Option<KeyHash>, PortError> {
        #[derive(serde::Deserialize)]
        struct Alias {
            key_hash: KeyHash,
        }
        let alias: Option<Alias> =
            get(&self.dynamo, &self.resources.api_keys_table, &[("hash", s(alias_of(id)))]).await?;
        if let Some(alias) = alias {
            return Ok(Some(alias.key_hash));
        }
        Ok(self.account_keys(account).await?.into_iter().find(|key| &key.id == id).map(|key| key.hash))
    }
}

impl ApiKeys for Aws {
    async fn create_key(&self, key: &StoredKey) -> Result<(), ApiKeysError> {
        let absent = |item: Item| {
            built(
                Put::builder()
                    .table_name(&self.resources.api_keys_table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(#hash)")
                    .expression_attribute_names("#hash", "hash")
                    .build(),
            )
        };
        let alias: Item =
            [("hash".to_owned(), s(alias_of(&key.id))), ("key_hash".to_owned(), s(key.hash.as_str()))].into();
        let items = vec![
            TransactWriteItem::builder().put(absent(to_stored(key).map_err(failed)?).map_err(failed)?).build(),
            TransactWriteItem::builder().put(absent(alias).map_err(failed)?).build(),
        ];
        match transact(&self.dynamo, items).await.map_err(failed)? {
            Transacted::Committed => Ok(()),
            Transacted::Cancelled(reasons) => Err(failed(PortError::new(
                ErrorKind::Conflict,
                format!("a key with this hash or id already exists ({reasons:?})"),
            ))),
        }
    }

    async fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<StoredKey>, ApiKeysError> {
        get_stored(&self.dynamo, &self.resources.api_keys_table, &[("hash", s(hash.as_str()))]).await.map_err(failed)
    }

    async fn keys_of(&self, account: &AccountId) -> Result<Vec<StoredKey>, ApiKeysError> {
        self.account_keys(account).await.map_err(failed)
    }

    /// Read by hash, consistently; written only if the key is still the account's.
    async fn revoke_key(
        &self,
        account: &AccountId,
        id: &KeyId,
        at: Timestamp,
    ) -> Result<Option<StoredKey>, ApiKeysError> {
        let Some(hash) = self.hash_of(account, id).await.map_err(failed)? else { return Ok(None) };
        let update = self
            .dynamo
            .update_item()
            .table_name(&self.resources.api_keys_table)
            .key("hash", s(hash.as_str()))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :at)")
            .condition_expression("account_id = :account AND id = :id")
            .expression_attribute_values(":at", crate::dynamo::n(at.0))
            .expression_attribute_values(":account", s(account.as_str()))
            .expression_attribute_values(":id", s(id.as_str()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match update {
            Ok(update) => update.attributes.map(from_stored).transpose().map_err(failed),
            // Another account's key, or no key: the owner learns nothing either way.
            Err(error) if is_condition_failure(&error) => Ok(None),
            Err(error) => Err(failed(sdk(error))),
        }
    }
}
