//! Payment rate limits in the `accounts` table: `ACCOUNT#{id}` / `RATE#{window start}`
//! counts one window's requests with a conditional `ADD`; the table's TTL removes old windows.

use crate::Aws;
use crate::dynamo::{n, s, took_effect};
use tollgate_app::ports::rate_limits::{RateLimits, RateLimitsError};
use tollgate_core::ids::AccountId;
use tollgate_core::time::Timestamp;

/// Windows are kept a little while after they end, then expire.
const KEEP_SECONDS: i64 = 3_600;

impl RateLimits for Aws {
    async fn hit(&self, account: &AccountId, window: Timestamp, limit: u32) -> Result<bool, RateLimitsError> {
        let update = self
            .dynamo
            .update_item()
            .table_name(&self.resources.accounts_table)
            .key("pk", s(format!("ACCOUNT#{account}")))
            .key("sk", s(format!("RATE#{}", window.0)))
            .update_expression("SET expires_at = :expires ADD hits :one")
            .condition_expression("attribute_not_exists(hits) OR hits < :limit")
            .expression_attribute_values(":expires", n(window.0 + KEEP_SECONDS))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(i64::from(limit)))
            .send()
            .await;
        took_effect(update).map_err(RateLimitsError)
    }
}
