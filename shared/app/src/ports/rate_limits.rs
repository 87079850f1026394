use std::future::Future;
use tollgate_core::ids::AccountId;
use tollgate_core::time::Timestamp;

crate::ports::error::port_error!(RateLimitsError, "rate limits");

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
