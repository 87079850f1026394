//! API keys: the stored document (hash and prefix, never the key), found by hash or by account.

use crate::Sqlite;
use crate::records::{from_json, to_json};
use rusqlite::{Connection, OptionalExtension, params};
use tollgate_app::ports::api_keys::{ApiKeys, ApiKeysError, KeyCreated, StoredKey};
use tollgate_core::api_key::KeyHash;
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::time::Timestamp;

fn failed(error: crate::DbError) -> ApiKeysError {
    ApiKeysError(error.into())
}

pub(crate) fn store(db: &Connection, key: &StoredKey) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO api_keys (id, hash, account_id, data) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET data = excluded.data",
        params![key.id.as_str(), key.hash.as_str(), key.account_id.as_str(), to_json(key)?],
    )
    .map(drop)
}

pub(crate) fn load(db: &Connection, id: &str) -> rusqlite::Result<Option<StoredKey>> {
    db.query_row("SELECT data FROM api_keys WHERE id = ?1", [id], from_json).optional()
}

impl ApiKeys for Sqlite {
    async fn create_key(&self, key: &StoredKey, max_active: u32) -> Result<KeyCreated, ApiKeysError> {
        let key = key.clone();
        // One connection runs one call at a time: no other key is made between the count
        // and the insert.
        self.call(move |db| {
            let active: u32 = db.query_row(
                "SELECT count(*) FROM api_keys WHERE account_id = ?1 AND json_extract(data, '$.revoked_at') IS NULL",
                [key.account_id.as_str()],
                |row| row.get(0),
            )?;
            if active >= max_active {
                return Ok(KeyCreated::LimitReached);
            }
            store(db, &key)?;
            Ok(KeyCreated::Created)
        })
        .await
        .map_err(failed)
    }

    async fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<StoredKey>, ApiKeysError> {
        let hash = hash.clone();
        self.call(move |db| {
            db.query_row("SELECT data FROM api_keys WHERE hash = ?1", [hash.as_str()], from_json).optional()
        })
        .await
        .map_err(failed)
    }

    async fn keys_of(&self, account: &AccountId) -> Result<Vec<StoredKey>, ApiKeysError> {
        let account = account.clone();
        self.call(move |db| {
            let mut statement = db.prepare("SELECT data FROM api_keys WHERE account_id = ?1")?;
            let mut keys: Vec<StoredKey> =
                statement.query_map([account.as_str()], from_json)?.collect::<Result<_, _>>()?;
            keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(keys)
        })
        .await
        .map_err(failed)
    }

    async fn revoke_key(
        &self,
        account: &AccountId,
        id: &KeyId,
        at: Timestamp,
    ) -> Result<Option<StoredKey>, ApiKeysError> {
        let (account, id) = (account.clone(), id.clone());
        self.call(move |db| {
            let Some(key) = load(db, id.as_str())?.filter(|key| key.account_id == account) else { return Ok(None) };
            let revoked = StoredKey { revoked_at: key.revoked_at.or(Some(at)), ..key };
            store(db, &revoked)?;
            Ok(Some(revoked))
        })
        .await
        .map_err(failed)
    }
}
