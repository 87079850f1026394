//! Reconciliation: Stripe's list of events against what webhooks delivered. Each event
//! Stripe holds goes through the same intake as a delivery, so one tollgate already has
//! changes nothing and one it never received is queued and applied like any other.

use crate::Clock;
use crate::alerting::Alerting;
use crate::ports::alerts::{Alerts, AlertsError};
use crate::ports::checkouts::PaymentsError;
use crate::ports::cursors::{Cursors, CursorsError};
use crate::ports::event_log::{ReceivedEvent, Recorded};
use crate::ports::intake::{Intake, IntakeError};
use crate::ports::stripe_events::{ListedEvent, StripeEvents};
use crate::queued::QueuedEvent;
use std::sync::Arc;
use thiserror::Error;
use tollgate_core::change::HANDLED_EVENT_TYPES;
use tollgate_core::reconcile::{self, Window};
use tollgate_core::stripe::{Event, PayloadError};
use tollgate_core::time::Timestamp;

/// The cursor reconciliation resumes from.
pub const CURSOR: &str = "reconcile";

/// A span back from now (`72h`, `30m`, `7d`), as the CLI and `POST /admin/reconcile` take it.
pub fn parse_since(text: &str) -> Result<i64, String> {
    let span = humantime::parse_duration(text.trim()).map_err(|e| format!("must be a span like 72h or 30m: {e}"))?;
    i64::try_from(span.as_secs()).map_err(|_| "is too long a span".to_owned())
}

/// What one run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Events Stripe listed in the window.
    pub listed: u64,
    /// Of those, events tollgate had never received: now queued.
    pub new: u64,
    pub already_had: u64,
    /// Where the run listed from.
    pub window: Window,
}

#[derive(Debug, Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Stripe(#[from] PaymentsError),
    /// Stripe listed something that is not an event: nothing after it was taken in.
    #[error("Stripe listed an unreadable event: {0}")]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error(transparent)]
    Cursors(#[from] CursorsError),
    #[error(transparent)]
    Alerts(#[from] AlertsError),
}

/// Reconciliation against Stripe's event list; a missed-events alert goes to the operator.
pub struct Reconciler<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
    pub stripe: Arc<dyn StripeEvents>,
    pub alerting: Alerting,
}

impl<S: Intake + Cursors + Alerts> Reconciler<S> {
    /// Lists the events of the handled types from `since_seconds` ago (default: the stored
    /// cursor less an overlap), takes in those never received, oldest first, and raises a
    /// `missed_events` alert when there were any. The cursor moves only after every listed
    /// event is taken in, so a failed run is repeated whole.
    pub async fn reconcile(&self, since_seconds: Option<i64>) -> Result<Reconciled, ReconcileError> {
        let now = self.clock.now();
        let cursor = self.store.cursor(CURSOR).await?;
        let window = reconcile::window(since_seconds, cursor, now);
        let listed = list_all(self.stripe.as_ref(), window.from).await?;
        let (mut new, mut first_new) = (0_u64, None);
        // Stripe lists newest first; taking in oldest first keeps the queue in Stripe's order.
        for listed_event in listed.iter().rev() {
            let event = Event::parse(listed_event.payload.as_bytes())?;
            let received =
                ReceivedEvent { id: event.id.clone(), event_type: event.event_type.clone(), received_at: now };
            let message = QueuedEvent::stripe(listed_event.payload.as_bytes()).map_err(|_| PayloadError::NotJson)?;
            if self.store.take_in(&received, &message).await? == Recorded::New {
                new += 1;
                first_new.get_or_insert_with(|| event.id.to_string());
                tracing::warn!(event_id = %event.id, event_type = %event.event_type, "reconciliation found an undelivered event");
            }
        }
        let newest = listed.iter().map(|event| event.created).max();
        self.store.advance_cursor(CURSOR, reconcile::next_cursor(cursor, newest, window.from)).await?;
        if let Some(alert) = first_new.and_then(|first| tollgate_core::alert::missed_events(new, &first, now)) {
            self.alerting.raise(&self.store, alert).await?;
        }
        let listed = u64::try_from(listed.len()).unwrap_or(u64::MAX);
        Ok(Reconciled { listed, new, already_had: listed.saturating_sub(new), window })
    }
}

/// Every page of the window.
async fn list_all(stripe: &dyn StripeEvents, from: Timestamp) -> Result<Vec<ListedEvent>, PaymentsError> {
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = stripe.events(&HANDLED_EVENT_TYPES, from, after.as_deref()).await?;
        listed.extend(page.events);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(listed),
        }
    }
}
