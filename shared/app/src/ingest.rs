//! Webhook ingestion: verify, record, queue, and only then acknowledge.

use crate::Clock;
use crate::ports::error::{ErrorKind, PortError};
use crate::ports::event_log::{EventLog, EventLogError, EventStatus, ReceivedEvent, Recorded};
use crate::ports::intake::{Intake, IntakeError};
use crate::queued::QueuedEvent;
use std::sync::Arc;
use thiserror::Error;
use tollgate_core::ids::EventId;
use tollgate_core::signature::{SignatureError, Verifier};
use tollgate_core::stripe::{Event, PayloadError, mode_mismatch};

/// A Stripe webhook endpoint: its signing secrets, and the mode of the stack behind it.
#[derive(Debug, Clone)]
pub struct Webhooks {
    pub verifier: Verifier,
    /// `true` on a live-mode stack; events of the other mode are recorded `skipped`.
    pub livemode: bool,
}

/// The answer to an accepted delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub event_id: EventId,
    pub duplicate: bool,
}

#[derive(Debug, Error)]
pub enum IngestError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    EventLog(#[from] EventLogError),
    #[error(transparent)]
    Intake(#[from] IntakeError),
}

/// Takes Stripe's deliveries in at one endpoint.
pub struct Ingest<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
    pub webhooks: Webhooks,
}

impl<S: EventLog + Intake> Ingest<S> {
    /// Accepts a Stripe delivery. `Ok` means the event is durably queued (or was before):
    /// only then may the caller answer 2xx, since Stripe stops retrying on a 2xx. A new
    /// event costs one durable commit locally and two calls (a put, a send) on AWS.
    #[tracing::instrument(level = "error", name = "ingest", skip_all, fields(event_id = tracing::field::Empty))]
    pub async fn ingest_stripe(&self, signature: Option<&str>, payload: &[u8]) -> Result<Ingested, IngestError> {
        let now = self.clock.now();
        self.webhooks.verifier.verify(signature, payload, now)?;
        let event = Event::parse(payload)?;
        tracing::Span::current().record("event_id", tracing::field::display(&event.id));
        let received = ReceivedEvent { id: event.id.clone(), event_type: event.event_type.clone(), received_at: now };
        if let Some(reason) = mode_mismatch(event.livemode, self.webhooks.livemode) {
            // Acknowledged, so Stripe stops sending it, and recorded, so an operator sees why
            // nothing changed. It is never queued, so only a mark may be missing.
            let recorded = self.store.record(&received).await?;
            let duplicate = matches!(recorded, Recorded::Duplicate(_));
            if !matches!(recorded, Recorded::Duplicate(existing) if existing.status.is_final()) {
                self.store.mark(&event.id, EventStatus::Skipped, Some(reason)).await?;
            }
            tracing::warn!(event_id = %event.id, reason, "event of the other Stripe mode skipped");
            return Ok(Ingested { event_id: event.id, duplicate });
        }
        let message = QueuedEvent::stripe(payload)
            .map_err(|e| IntakeError(PortError::caused_by(ErrorKind::Invalid, "encoding the message", e)))?;
        let duplicate = matches!(self.store.take_in(&received, &message).await?, Recorded::Duplicate(_));
        tracing::info!(event_id = %event.id, event_type = %event.event_type, "event queued");
        Ok(Ingested { event_id: event.id, duplicate })
    }
}
