use std::future::Future;
use tollgate_core::health::ProbeRecord;

crate::ports::error::port_error!(ProbesError, "health probes");

/// What the monitor knows of each endpoint between its ticks.
pub trait Probes: Send + Sync {
    /// The record of `url`, if it was ever probed.
    fn probe_record(&self, url: &str) -> impl Future<Output = Result<Option<ProbeRecord>, ProbesError>> + Send;
    /// Stores `after` only if the stored record is still `before` (`None`: none stored);
    /// `false` when another tick came first, so a probe is never counted twice.
    fn swap_probe_record(
        &self,
        url: &str,
        before: Option<&ProbeRecord>,
        after: &ProbeRecord,
    ) -> impl Future<Output = Result<bool, ProbesError>> + Send;
}
