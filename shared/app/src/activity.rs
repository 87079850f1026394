//! The activity feed: what just happened, newest first, in the names the console speaks
//! (`event:received`, `payment:received`, `workflow:started`, `workflow:completed`,
//! `workflow:failed`, `alert:raised`). Read from the event log, the alerts and the last day's
//! runs; an item's `id` stays while what it says (`text`) may change, as an event goes from
//! `queued` to `applied`.

use crate::Clock;
use crate::ports::alerts::{Alerts, AlertsError};
use crate::ports::event_log::{EventLog, EventLogError};
use crate::ports::runs::{Runs, RunsError};
use crate::ports::workflows::{Workflows, WorkflowsError};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use thiserror::Error;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::RunStatus;

/// How far back the feed reads runs.
const RUN_WINDOW_SECONDS: i64 = 24 * 60 * 60;
/// Event types that are money coming in.
const PAYMENT_TYPES: [&str; 2] = ["invoice.paid", "payment_intent.succeeded"];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActivityItem {
    /// Stable: `event:<id>`, `alert:<id>`, `run:<id>:started`, `run:<id>:ended`.
    pub id: String,
    pub kind: &'static str,
    pub at: Timestamp,
    /// What it is about: the event type, the workflow, the alert's subject.
    pub subject: String,
    /// One line for people.
    pub text: String,
}

#[derive(Debug, Error)]
pub enum ActivityError {
    #[error(transparent)]
    EventLog(#[from] EventLogError),
    #[error(transparent)]
    Alerts(#[from] AlertsError),
    #[error(transparent)]
    Workflows(#[from] WorkflowsError),
    #[error(transparent)]
    Runs(#[from] RunsError),
}

/// A tag for the feed as it stands: the same items saying the same things give the same
/// tag, so a poller is answered `304 Not Modified` until something happens.
pub fn tag(items: &[ActivityItem]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    items.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

/// The activity feed, read from the event log, the alerts and the last day's runs.
pub struct Activity<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
}

impl<S: EventLog + Alerts + Workflows + Runs> Activity<S> {
    /// The newest `limit` things that happened.
    pub async fn activity(&self, limit: usize) -> Result<Vec<ActivityItem>, ActivityError> {
        let mut items: Vec<ActivityItem> = Vec::new();
        for event in self.store.recent(limit).await? {
            let kind =
                if PAYMENT_TYPES.contains(&event.event_type.as_str()) { "payment:received" } else { "event:received" };
            items.push(ActivityItem {
                id: format!("event:{}", event.id),
                kind,
                at: event.received_at,
                text: format!("{} {} ({})", event.event_type, event.id, event.status.as_str()),
                subject: event.event_type,
            });
        }
        for alert in self.store.alerts(limit).await? {
            items.push(ActivityItem {
                id: format!("alert:{}", alert.id),
                kind: "alert:raised",
                at: alert.created_at,
                text: format!("{}: {}", alert.kind.as_str(), alert.message),
                subject: alert.subject,
            });
        }
        let since = self.clock.now().plus_seconds(-RUN_WINDOW_SECONDS);
        for workflow in self.store.workflows().await? {
            for run in self.store.runs_since(&workflow.spec.id, since).await? {
                let subject = workflow.spec.id.to_string();
                if let Some(started) = run.started_at {
                    items.push(ActivityItem {
                        id: format!("run:{}:started", run.id),
                        kind: "workflow:started",
                        at: started,
                        text: format!("{subject} started run {}", run.id),
                        subject: subject.clone(),
                    });
                }
                if let Some(finished) = run.finished_at {
                    let (kind, verb) = match run.status {
                        RunStatus::Failed => ("workflow:failed", "failed"),
                        _ => ("workflow:completed", "completed"),
                    };
                    let earned = if run.earnings_cents > 0 {
                        format!(", earned {} cents", run.earnings_cents)
                    } else {
                        String::new()
                    };
                    let why = run.reason.as_deref().map(|reason| format!(": {reason}")).unwrap_or_default();
                    items.push(ActivityItem {
                        id: format!("run:{}:ended", run.id),
                        kind,
                        at: finished,
                        text: format!("{subject} {verb} run {}{earned}{why}", run.id),
                        subject,
                    });
                }
            }
        }
        items.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.id.cmp(&b.id)));
        items.truncate(limit);
        Ok(items)
    }
}
