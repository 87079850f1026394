//! The monitor: health checks of the stack's own endpoints. Each is probed every
//! interval; two failures in a row raise `endpoint_down`, the first success after it
//! raises `endpoint_recovered` and resolves the incident.

use crate::Clock;
use crate::alerting::Alerting;
use crate::ports::alerts::{Alerts, AlertsError};
use crate::ports::outbound::Outbound;
use crate::ports::probes::{Probes, ProbesError};
use std::sync::Arc;
use std::time::Duration;
use tollgate_core::alert;
use tollgate_core::health::{HealthChange, PROBE_TIMEOUT_SECONDS, Probe, ProbeRecord};

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Probes(#[from] ProbesError),
    #[error(transparent)]
    Alerts(#[from] AlertsError),
}

/// What one check found of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub url: String,
    pub probe: Probe,
    pub change: Option<HealthChange>,
}

/// The endpoints to check (`HEALTH_CHECK_URLS`) and how.
pub struct Monitor<S> {
    pub store: S,
    pub outbound: Arc<dyn Outbound>,
    pub alerting: Alerting,
    pub clock: Arc<dyn Clock>,
    pub urls: Vec<String>,
}

impl<S: Probes + Alerts> Monitor<S> {
    /// Probes every endpoint at once, then records each and tells what changed. One
    /// endpoint's failure to record never keeps the others from theirs.
    pub async fn check(&self) -> Result<Vec<Checked>, MonitorError> {
        let timeout = Duration::from_secs(PROBE_TIMEOUT_SECONDS);
        let probes = futures_util::future::join_all(self.urls.iter().map(|url| async move {
            match self.outbound.probe(url, timeout).await {
                Ok(status) if (200..300).contains(&status) => Probe::Up,
                Ok(status) => Probe::Failed(format!("status {status}")),
                Err(error) => Probe::Failed(error.to_string()),
            }
        }))
        .await;
        let mut checked = Vec::with_capacity(probes.len());
        let mut first_error = None;
        for (url, probe) in self.urls.iter().zip(probes) {
            match self.record(url, &probe).await {
                Ok(change) => checked.push(Checked { url: url.to_owned(), probe, change }),
                Err(error) => {
                    tracing::error!(url, %error, "a health check could not be recorded");
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(checked), Err)
    }

    /// Applies `probe` to what was known of `url`. The alert is raised before the record
    /// moves (raising is idempotent), so a crash between them loses nothing; a tick that
    /// read the record before another's write counts nothing.
    async fn record(&self, url: &str, probe: &Probe) -> Result<Option<HealthChange>, MonitorError> {
        let now = self.clock.now();
        let before = self.store.probe_record(url).await?;
        let (after, change) = ProbeRecord::after(before.as_ref(), probe, now);
        match &change {
            Some(HealthChange::Down { since, reason }) => {
                tracing::warn!(url, %reason, "endpoint down");
                self.alerting.raise(&self.store, alert::endpoint_down(url, *since, reason, now)).await?;
            }
            Some(HealthChange::Recovered { since }) => {
                tracing::info!(url, "endpoint recovered");
                self.alerting.raise(&self.store, alert::endpoint_recovered(url, *since, now)).await?;
                let id = alert::endpoint_down_id(url, *since);
                self.alerting.resolve_cleared_id(&self.store, &id, "the endpoint answers again", now).await?;
            }
            None => {}
        }
        if !self.store.swap_probe_record(url, before.as_ref(), &after).await? {
            tracing::info!(url, "another check recorded this endpoint first");
            return Ok(None);
        }
        Ok(change)
    }
}
