//! `api-keys` table, key `hash` (the edge's lookup, read consistently so a revocation is
//! seen at once); the GSI `by_account` (`account_id`, `created_at`) lists an account's keys.

use crate::Aws;
use crate::dynamo::{Item, Transacted, built, get, get_stored, n, query_all, s, to_stored, took_effect, transact};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use tollgate_app::ports::api_keys::{ApiKeys, ApiKeysError, KeyCreated, StoredKey};
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

/// The item that counts an account's unrevoked keys (`hash = "active#<account>"`, attribute
/// `active`): a key is made and counted in one transaction whose condition is the limit,
/// so concurrent creations never pass it together. Like the alias it has no `account_id`.
fn counter_of(account: &AccountId) -> String {
    format!("active#{account}")
}

impl Aws {
    /// Writes the account's key counter if it has none, from its listed keys (accounts
    /// whose keys were made before the counter existed).
    async fn seed_key_counter(&self, account: &AccountId) -> Result<(), PortError> {
        let key = [("hash", s(counter_of(account)))];
        if get::<serde::de::IgnoredAny>(&self.dynamo, &self.resources.api_keys_table, &key).await?.is_some() {
            return Ok(());
        }
        let listed = self.account_keys(account).await?;
        let active = listed.iter().filter(|key| key.revoked_at.is_none()).count();
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.resources.api_keys_table)
            .item("hash", s(counter_of(account)))
            .item("active", n(i64::try_from(active).unwrap_or(i64::MAX)))
            .condition_expression("attribute_not_exists(#hash)")
            .expression_attribute_names("#hash", "hash")
            .send()
            .await;
        // Another writer seeded it first: theirs stands.
        took_effect(put).map(drop)
    }

    fn count_keys(
        &self,
        account: &AccountId,
        change: i64,
        condition: Option<u32>,
    ) -> Result<TransactWriteItem, PortError> {
        let mut update = Update::builder()
            .table_name(&self.resources.api_keys_table)
            .key("hash", s(counter_of(account)))
            .update_expression("ADD active :change")
            .expression_attribute_values(":change", n(change));
        if let Some(max_active) = condition {
            update = update
                .condition_expression("active < :max")
                .expression_attribute_values(":max", n(i64::from(max_active)));
        }
        Ok(TransactWriteItem::builder().update(built(update.build())?).build())
    }
}

impl ApiKeys for Aws {
    async fn create_key(&self, key: &StoredKey, max_active: u32) -> Result<KeyCreated, ApiKeysError> {
        self.seed_key_counter(&key.account_id).await.map_err(failed)?;
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
            self.count_keys(&key.account_id, 1, Some(max_active)).map_err(failed)?,
            TransactWriteItem::builder().put(absent(to_stored(key).map_err(failed)?).map_err(failed)?).build(),
            TransactWriteItem::builder().put(absent(alias).map_err(failed)?).build(),
        ];
        match transact(&self.dynamo, items).await.map_err(failed)? {
            Transacted::Committed => Ok(KeyCreated::Created),
            Transacted::Cancelled(reasons) if reasons.first().is_some_and(|r| r == "ConditionalCheckFailed") => {
                Ok(KeyCreated::LimitReached)
            }
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

    /// Read by hash, consistently; written (and uncounted) only if the key is still the
    /// account's and not yet revoked.
    async fn revoke_key(
        &self,
        account: &AccountId,
        id: &KeyId,
        at: Timestamp,
    ) -> Result<Option<StoredKey>, ApiKeysError> {
        let Some(hash) = self.hash_of(account, id).await.map_err(failed)? else { return Ok(None) };
        self.seed_key_counter(account).await.map_err(failed)?;
        let revoke = Update::builder()
            .table_name(&self.resources.api_keys_table)
            .key("hash", s(hash.as_str()))
            .update_expression("SET revoked_at = :at")
            .condition_expression("account_id = :account AND id = :id AND attribute_not_exists(revoked_at)")
            .expression_attribute_values(":at", n(at.0))
            .expression_attribute_values(":account", s(account.as_str()))
            .expression_attribute_values(":id", s(id.as_str()));
        let items = vec![
            TransactWriteItem::builder().update(built(revoke.build()).map_err(failed)?).build(),
            self.count_keys(account, -1, None).map_err(failed)?,
        ];
        // Cancelled: revoked before (the first time stands), or another account's key.
        transact(&self.dynamo, items).await.map_err(failed)?;
        let key: Option<StoredKey> =
            get_stored(&self.dynamo, &self.resources.api_keys_table, &[("hash", s(hash.as_str()))])
                .await
                .map_err(failed)?;
        // Another account's key, or no key: the owner learns nothing either way.
        Ok(key.filter(|key| &key.account_id == account && &key.id == id))
    }
}
