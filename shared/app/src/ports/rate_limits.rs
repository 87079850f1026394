use std::future::Future;
use thiserror::Error;
use tollgate_core::ids::AccountId;
use tollgate_core::time::Timestamp;

#[derive(Debug, Error)]
#[error("rate limits: {0}")]
pub struct RateLimitsError(pub String);

/// Per-account counters of requests per window, shared by every instance.
pub trait RateLimits: Send + Sync {
    /// Counts one request of `account` in `window` (named by its start) unless `limit`
    /// are already counted; `false` when the limit is reached (nothing counted).
    fn hit(
        &self,
        account: &AccountId,
        window: Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<bool, RateLimitsError>> + Send;
}
