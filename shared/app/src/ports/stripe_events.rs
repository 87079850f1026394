use crate::ports::checkouts::Paid;
use tollgate_core::ids::EventId;
use tollgate_core::time::Timestamp;

/// One event as Stripe lists it: its JSON exactly as a webhook would carry it, and its `created`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEvent {
    pub payload: String,
    pub created: Timestamp,
}

/// One page of Stripe's event list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<ListedEvent>,
    /// The id to list after for the next (older) page, when there is one.
    pub next: Option<String>,
}

/// Stripe's own record of events, for reconciliation and replay. Object-safe, so one client
/// serves whatever the store.
pub trait StripeEvents: Send + Sync {
    /// The event, as Stripe serves it; `None` when Stripe does not know it (or it is older than 30 days).
    fn event<'a>(&'a self, id: &'a EventId) -> Paid<'a, Option<String>>;
    /// A page of events of `types` created at or after `from`, after the event `after`.
    fn events<'a>(&'a self, types: &'a [&'a str], from: Timestamp, after: Option<&'a str>) -> Paid<'a, EventPage>;
}
