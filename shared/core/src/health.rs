//! Health checks: when an endpoint is down, and when it is back.
//!
//! One failed probe is a blip; [`FAILURES_TO_DOWN`] in a row are an incident. The
//! incident is named by when its first failure was seen, so the monitor telling it
//! twice (a retried tick) tells nobody twice, and its recovery finds it.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Failed probes in a row that make an endpoint down.
pub const FAILURES_TO_DOWN: u32 = 2;
/// Seconds between two probes of an endpoint, unless `HEALTH_CHECK_INTERVAL_SECONDS` says.
pub const DEFAULT_INTERVAL_SECONDS: u64 = 300;
/// Seconds a probe waits for an answer.
pub const PROBE_TIMEOUT_SECONDS: u64 = 5;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A 2xx answer.
    Up,
    /// Anything else: the status, or why there was none ("timed out after 5 s").
    Failed(String),
}

/// What is known of an endpoint between probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    /// Failed probes since the last success.
    pub failures: u32,
    /// When the first of those failures was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<Timestamp>,
    /// Whether the endpoint has been told down (and not yet recovered).
    #[serde(default)]
    pub down: bool,
    /// When it was last probed.
    pub probed_at: Timestamp,
}

/// A change worth telling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthChange {
    /// The endpoint failed [`FAILURES_TO_DOWN`] probes in a row, the first at `since`.
    Down {
        /// When its first failure was seen: the incident's name.
        since: Timestamp,
        /// What the last probe found.
        reason: String,
    },
    /// It answered again after being down since `since`.
    Recovered {
        /// The incident that is over.
        since: Timestamp,
    },
}

impl ProbeRecord {
    /// The record after `probe` at `now`, and what changed. A failure keeps counting
    /// while down (nothing new is told); a success clears the record.
    pub fn after(previous: Option<&ProbeRecord>, probe: &Probe, now: Timestamp) -> (ProbeRecord, Option<HealthChange>) {
        let healthy = ProbeRecord { failures: 0, failing_since: None, down: false, probed_at: now };
        let previous = previous.unwrap_or(&healthy);
        match probe {
            Probe::Up => {
                let change = previous
                    .down
                    .then(|| HealthChange::Recovered { since: previous.failing_since.unwrap_or(previous.probed_at) });
                (healthy, change)
            }
            Probe::Failed(reason) => {
                let failures = previous.failures.saturating_add(1);
                let since = previous.failing_since.unwrap_or(now);
                let now_down = failures >= FAILURES_TO_DOWN;
                let change = (now_down && !previous.down).then(|| HealthChange::Down { since, reason: reason.clone() });
                (ProbeRecord { failures, failing_since: Some(since), down: now_down, probed_at: now }, change)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(probes: &[bool]) -> Vec<Option<HealthChange>> {
        let mut record: Option<ProbeRecord> = None;
        probes
            .iter()
            .enumerate()
            .map(|(n, &up)| {
                let probe = if up { Probe::Up } else { Probe::Failed(format!("status 503 at {n}")) };
                let (next, change) = ProbeRecord::after(record.as_ref(), &probe, Timestamp(n as i64 * 300));
                record = Some(next);
                change
            })
            .collect()
    }

    #[test]
    fn two_failures_in_a_row_are_down_and_the_first_success_after_is_recovered() {
        let changes = run(&[true, false, true, false, false, false, true, true]);
        assert_eq!(changes[..3], [None, None, None], "one failure is a blip");
        assert_eq!(changes[3], None);
        assert_eq!(changes[4], Some(HealthChange::Down { since: Timestamp(900), reason: "status 503 at 4".into() }));
        assert_eq!(changes[5], None, "still down: told once");
        assert_eq!(changes[6], Some(HealthChange::Recovered { since: Timestamp(900) }));
        assert_eq!(changes[7], None);
    }

    #[test]
    fn a_record_survives_storage() {
        let (record, _) = ProbeRecord::after(None, &Probe::Failed("timed out".into()), Timestamp(5));
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<ProbeRecord>(&json).unwrap(), record);
    }

    proptest! {
        /// Every incident is told down once and recovered at most once, in that order.
        #[test]
        fn downs_and_recoveries_alternate(probes in proptest::collection::vec(any::<bool>(), 0..60)) {
            let mut down = false;
            for (n, change) in run(&probes).into_iter().enumerate() {
                match change {
                    Some(HealthChange::Down { .. }) => {
                        prop_assert!(!down);
                        prop_assert!(n >= 1 && !probes[n] && !probes[n - 1]);
                        down = true;
                    }
                    Some(HealthChange::Recovered { .. }) => {
                        prop_assert!(down && probes[n]);
                        down = false;
                    }
                    None => {}
                }
            }
        }
    }
}
