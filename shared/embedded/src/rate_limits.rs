use crate::Sqlite;
use rusqlite::params;
use tollgate_app::ports::rate_limits::{RateLimits, RateLimitsError};
use tollgate_core::ids::AccountId;
use tollgate_core::time::Timestamp;

impl RateLimits for Sqlite {
    async fn hit(&self, account: &AccountId, window: Timestamp, limit: u32) -> Result<bool, RateLimitsError> {
        let account = account.clone();
        self.call(move |db| {
            // Past windows of this account are never read again.
            db.execute(
                "DELETE FROM rate_windows WHERE account_id = ?1 AND window_start < ?2",
                params![account.as_str(), window.0],
            )?;
            let counted = db.execute(
                "INSERT INTO rate_windows (account_id, window_start, hits) VALUES (?1, ?2, 1)
                 ON CONFLICT (account_id, window_start) DO UPDATE SET hits = hits + 1 WHERE hits < ?3",
                params![account.as_str(), window.0, limit],
            )?;
            Ok(counted == 1 && limit > 0)
        })
        .await
        .map_err(|error| RateLimitsError(error.into()))
    }
}
