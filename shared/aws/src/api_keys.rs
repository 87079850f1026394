//! `api-keys` table, key `hash` (the edge's lookup, read consistently so a revocation is
//! seen at once); the GSI `by_account` (`account_id`, `created_at`) lists an account's keys.

use crate::Aws;
use crate::dynamo::{describe, from_item, get, query_all, s, to_item, took_effect};
use tollgate_app::ports::api_keys::{ApiKeys, ApiKeysError, StoredKey};
use tollgate_core::api_key::KeyHash;
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::time::Timestamp;

fn failed(error: String) -> ApiKeysError {
    ApiKeysError(error)
}

impl Aws {
    pub(crate) async fn account_keys(&self, account: &AccountId) -> Result<Vec<StoredKey>, String> {
        let query = self
            .dynamo
            .query()
            .table_name(&self.resources.api_keys_table)
            .index_name("by_account")
            .key_condition_expression("account_id = :account")
            .expression_attribute_values(":account", s(account.as_str()));
        query_all(query).await
    }
}

impl ApiKeys for Aws {
    async fn create_key(&self, key: &StoredKey) -> Result<(), ApiKeysError> {
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.resources.api_keys_table)
            .set_item(Some(to_item(key).map_err(failed)?))
            .condition_expression("attribute_not_exists(#hash)")
            .expression_attribute_names("#hash", "hash")
            .send()
            .await;
        match took_effect(put).map_err(failed)? {
            true => Ok(()),
            false => Err(failed("a key with this hash already exists".into())),
        }
    }

    async fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<StoredKey>, ApiKeysError> {
        get(&self.dynamo, &self.resources.api_keys_table, &[("hash", s(hash.as_str()))]).await.map_err(failed)
    }

    async fn keys_of(&self, account: &AccountId) -> Result<Vec<StoredKey>, ApiKeysError> {
        self.account_keys(account).await.map_err(failed)
    }

    async fn revoke_key(
        &self,
        account: &AccountId,
        id: &KeyId,
        at: Timestamp,
    ) -> Result<Option<StoredKey>, ApiKeysError> {
        let Some(key) = self.account_keys(account).await.map_err(failed)?.into_iter().find(|key| &key.id == id) else {
            return Ok(None);
        };
        let update = self
            .dynamo
            .update_item()
            .table_name(&self.resources.api_keys_table)
            .key("hash", s(key.hash.as_str()))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :at)")
            .expression_attribute_values(":at", crate::dynamo::n(at.0))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| failed(describe(&e)))?;
        update.attributes.map(from_item).transpose().map_err(failed)
    }
}
