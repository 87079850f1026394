use crate::Sqlite;
use rusqlite::{OptionalExtension, Row, params};
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::first_keys::{FirstKey, FirstKeys, FirstKeysError};
use tollgate_core::ids::{AccountId, KeyId, SubscriptionId};
use tollgate_core::time::Timestamp;

fn failed(error: crate::DbError) -> FirstKeysError {
    FirstKeysError(error.into())
}

/// Rows as written: ids that do not parse are a corrupt store.
fn first_key(row: &Row<'_>) -> rusqlite::Result<(String, String, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn parsed((key_id, subscription, created_at): (String, String, i64)) -> Result<FirstKey, FirstKeysError> {
    let corrupt = |what: &str| FirstKeysError(PortError::new(ErrorKind::Corrupt, format!("a first key's {what}")));
    Ok(FirstKey {
        key_id: KeyId::parse(&key_id).map_err(|_| corrupt("key id"))?,
        subscription: SubscriptionId::parse(&subscription).map_err(|_| corrupt("subscription"))?,
        created_at: Timestamp(created_at),
    })
}

impl Sqlite {
    /// The one row `sql` reads (or deletes) for `account`.
    async fn first_key_by(&self, sql: &'static str, account: &AccountId) -> Result<Option<FirstKey>, FirstKeysError> {
        let account = account.to_string();
        let row = self.call(move |db| db.query_row(sql, [account], first_key).optional()).await.map_err(failed)?;
        row.map(parsed).transpose()
    }
}

impl FirstKeys for Sqlite {
    async fn owe_first_key(&self, account: &AccountId, first: &FirstKey) -> Result<(), FirstKeysError> {
        let (account, first) = (account.to_string(), first.clone());
        self.call(move |db| {
            db.execute(
                "INSERT INTO first_keys (account_id, key_id, subscription_id, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account_id) DO UPDATE SET key_id = excluded.key_id,
                 subscription_id = excluded.subscription_id, created_at = excluded.created_at",
                params![account, first.key_id.as_str(), first.subscription.as_str(), first.created_at.0],
            )
            .map(drop)
        })
        .await
        .map_err(failed)
    }

    async fn first_key_waiting(&self, account: &AccountId) -> Result<Option<FirstKey>, FirstKeysError> {
        self.first_key_by("SELECT key_id, subscription_id, created_at FROM first_keys WHERE account_id = ?1", account)
            .await
    }

    async fn take_first_key(&self, account: &AccountId) -> Result<Option<FirstKey>, FirstKeysError> {
        let take = "DELETE FROM first_keys WHERE account_id = ?1 RETURNING key_id, subscription_id, created_at";
        self.first_key_by(take, account).await
    }
}
