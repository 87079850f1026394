//! Replay: an event fetched again from Stripe and queued again, so one that `failed` (a
//! missing setting, a bug since fixed) is applied once its cause is gone.

use crate::Clock;
use crate::ports::checkouts::PaymentsError;
use crate::ports::event_log::{EventLog, EventLogError, EventStatus, ReceivedEvent};
use crate::ports::intake::{Intake, IntakeError};
use crate::ports::queue::{Queue, QueueError, QueueName};
use crate::ports::stripe_events::StripeEvents;
use crate::queued::QueuedEvent;
use std::sync::Arc;
use thiserror::Error;
use tollgate_core::ids::EventId;
use tollgate_core::stripe::{Event, PayloadError};

#[derive(Debug, Error)]
pub enum ReplayError {
    /// Stripe does not know the event (or it is older than its 30 days).
    #[error("Stripe has no event {0}")]
    Unknown(EventId),
    #[error(transparent)]
    Stripe(#[from] PaymentsError),
    #[error("Stripe served an unreadable event: {0}")]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    EventLog(#[from] EventLogError),
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Stripe's copy of one event, taken in again.
pub struct Replay<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
    pub stripe: Arc<dyn StripeEvents>,
}

impl<S: EventLog + Intake + Queue> Replay<S> {
    /// Queues event `id` again as Stripe holds it, whatever its status. A `failed` event is
    /// set back to `queued` first, so the processor applies it; an applied or skipped one
    /// stays final, and the processor passes over it: replaying it changes nothing.
    pub async fn replay(&self, id: &EventId) -> Result<(), ReplayError> {
        let payload = self.stripe.event(id).await?.ok_or_else(|| ReplayError::Unknown(id.clone()))?;
        let event = Event::parse(payload.as_bytes())?;
        if event.id != *id {
            return Err(PayloadError::NotAnEvent("the id asked for").into());
        }
        let message = QueuedEvent::stripe(payload.as_bytes()).map_err(|_| PayloadError::NotJson)?;
        let received =
            ReceivedEvent { id: event.id.clone(), event_type: event.event_type, received_at: self.clock.now() };
        // Never received before: taking it in queues it, as a late delivery would.
        if self.store.take_in(&received, &message).await? == crate::ports::event_log::Recorded::New {
            tracing::info!(event_id = %id, "replayed an event never received");
            return Ok(());
        }
        if self.store.get(id).await?.is_some_and(|record| record.status == EventStatus::Failed) {
            self.store.mark(id, EventStatus::Queued, None).await?;
        }
        self.store.send(QueueName::Events, &message).await?;
        tracing::info!(event_id = %id, "event replayed");
        Ok(())
    }
}
