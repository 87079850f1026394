use std::future::Future;
use tollgate_core::ids::EventId;
use tollgate_core::time::Timestamp;

/// Where an event stands. `Queued` until the processor applies, skips or fails it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    Queued,
    Applied,
    Skipped,
    Failed,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Queued => "queued",
            EventStatus::Applied => "applied",
            EventStatus::Skipped => "skipped",
            EventStatus::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Queued, Self::Applied, Self::Skipped, Self::Failed].into_iter().find(|s| s.as_str() == value)
    }

    /// Whether the processor is done with the event.
    pub fn is_final(self) -> bool {
        self != EventStatus::Queued
    }
}

/// An event as it arrives, before anything is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEvent {
    pub id: EventId,
    pub event_type: String,
    pub received_at: Timestamp,
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: EventId,
    pub event_type: String,
    pub status: EventStatus,
    pub received_at: Timestamp,
    /// Why it was skipped or failed.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    New,
    Duplicate(EventRecord),
}

crate::ports::error::port_error!(EventLogError, "event log");

/// The record of every event received: deduplication, and where each one stands.
pub trait EventLog: Send + Sync {
    /// Records the event once, without queueing it (`Intake` records and queues);
    /// `Recorded::Duplicate` when it was already there.
    fn record(&self, event: &ReceivedEvent) -> impl Future<Output = Result<Recorded, EventLogError>> + Send;
    fn mark(
        &self,
        id: &EventId,
        status: EventStatus,
        detail: Option<&str>,
    ) -> impl Future<Output = Result<(), EventLogError>> + Send;
    fn get(&self, id: &EventId) -> impl Future<Output = Result<Option<EventRecord>, EventLogError>> + Send;
    /// The newest events first.
    fn recent(&self, limit: usize) -> impl Future<Output = Result<Vec<EventRecord>, EventLogError>> + Send;
}
