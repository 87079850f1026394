use crate::ports::event_log::{ReceivedEvent, Recorded};
use std::future::Future;

crate::ports::error::port_error!(IntakeError, "intake");

/// Taking a verified webhook event in: recorded in the event log and put on the events
/// queue as one durable step (a transactional outbox), so a delivery is acknowledged after
/// a single commit and an acknowledged event is never lost.
pub trait Intake: Send + Sync {
    /// Records `event` and queues `message` for it. When the log already holds the event,
    /// answers `Recorded::Duplicate` and queues it again only if it may not have reached
    /// the queue (a delivery that died between the two) and the processor is not done with
    /// it. After `Ok`, the event is on the events queue or already final.
    fn take_in(
        &self,
        event: &ReceivedEvent,
        message: &str,
    ) -> impl Future<Output = Result<Recorded, IntakeError>> + Send;
}
