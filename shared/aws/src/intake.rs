//! Taking an event in with two calls: the event log's conditional put, then the queue's
//! send. DynamoDB and SQS share no transaction, so a delivery that dies between the two
//! leaves the event recorded as `queued` but not sent; the redelivery Stripe makes then
//! finds it not final and sends it. The same rule sends a second message when Stripe
//! redelivers an event still being processed; the processor applies an event once, however
//! many messages carry it.

use crate::Aws;
use tollgate_app::ports::event_log::{ReceivedEvent, Recorded};
use tollgate_app::ports::intake::{Intake, IntakeError};
use tollgate_app::ports::queue::{Queue, QueueName};

impl Intake for Aws {
    async fn take_in(&self, event: &ReceivedEvent, message: &str) -> Result<Recorded, IntakeError> {
        let existing = self.put_event(event).await.map_err(|error| IntakeError(error.0))?;
        if existing.as_ref().is_none_or(|existing| !existing.status.is_final()) {
            self.send(QueueName::Events, message).await.map_err(|error| IntakeError(error.0))?;
        }
        Ok(existing.map_or(Recorded::New, Recorded::Duplicate))
    }
}
