//! One retry policy for every queue, on both stacks. A delivery that failed for a reason
//! that can pass comes back after a backoff with jitter — on SQS its visibility is
//! changed to the delay, on SQLite its visible time moved — and one that cannot pass, or
//! that failed on its last allowed delivery, goes to the dead-letter queue at once, with
//! its reason in the log. Nothing is redelivered five times to learn what the first try knew.

use crate::ports::error::PortError;
use crate::ports::queue::{Delivery, QueueConsumer, QueueError};
use rand::Rng;
use tollgate_core::retry::backoff_seconds;

/// How a failed delivery is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_seconds: u32,
    pub cap_seconds: u32,
    /// Deliveries of one message before it is dead-lettered.
    pub max_receives: u32,
}

/// Waits of 1–2 s, 2–4 s, 4–8 s and 8–16 s before the last of five deliveries: about half
/// a minute for an event waiting for another one, like a few SQS visibility timeouts.
pub const DEFAULT_RETRY: RetryPolicy =
    RetryPolicy { base_seconds: 2, cap_seconds: 120, max_receives: crate::DEFAULT_MAX_RECEIVES };

/// Whether waiting can cure a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Storage or a peer was unavailable; a later delivery can succeed.
    Transient,
    /// The message can never be applied as it is (a bug or a missing setting to look at).
    Permanent,
}

impl Failure {
    /// A failure in a port, by the port error's kind, the one place kinds become retries:
    /// data that does not read back, a missing table or a request an outside service
    /// refused waits in the dead-letter queue for a fix, not in five redeliveries.
    pub fn of(error: &(dyn std::error::Error + 'static)) -> Failure {
        match PortError::kind_in(error) {
            Some(kind) if !kind.is_transient() => Failure::Permanent,
            _ => Failure::Transient,
        }
    }
}

/// What became of a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// It comes back after this many seconds.
    RetryIn(u32),
    DeadLettered,
}

impl RetryPolicy {
    /// The wait before delivery `receive_count + 1`, with jitter.
    pub fn delay(&self, receive_count: u32) -> u32 {
        backoff_seconds(receive_count, self.base_seconds, self.cap_seconds, rand::rng().random())
    }

    /// Settles a delivery that failed with `reason`.
    pub async fn settle<Q: QueueConsumer>(
        &self,
        queue: &Q,
        delivery: &Delivery,
        failure: Failure,
        reason: &str,
    ) -> Result<Settled, QueueError> {
        let last = delivery.receive_count >= self.max_receives;
        if failure == Failure::Permanent || last {
            tracing::error!(
                queue = delivery.queue.as_str(),
                message_id = %delivery.message_id,
                attempt = delivery.receive_count,
                ?failure,
                reason,
                "message dead-lettered"
            );
            queue.dead_letter(delivery, reason).await?;
            return Ok(Settled::DeadLettered);
        }
        let delay = self.delay(delivery.receive_count);
        tracing::warn!(
            queue = delivery.queue.as_str(),
            message_id = %delivery.message_id,
            attempt = delivery.receive_count,
            retry_in = delay,
            reason,
            "message will be retried"
        );
        queue.retry_after(delivery, delay).await?;
        Ok(Settled::RetryIn(delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::checkouts::PaymentsError;
    use crate::ports::meter_events::MeterEventsError;
    use crate::ports::outbound::OutboundError;

    #[test]
    fn outside_services_are_retried_by_the_kind_of_their_failure() {
        assert_eq!(Failure::of(&PaymentsError::unavailable("5xx")), Failure::Transient);
        assert_eq!(Failure::of(&PaymentsError::refused("No such customer")), Failure::Permanent);
        let refused = MeterEventsError(PortError::new(crate::ports::error::ErrorKind::Refused, "unknown meter"));
        assert_eq!(Failure::of(&refused), Failure::Permanent);
        assert_eq!(Failure::of(&OutboundError::timed_out(std::time::Duration::from_secs(5))), Failure::Transient);
        let unreachable = OutboundError::unreachable(std::io::Error::other("connection refused"));
        assert_eq!(Failure::of(&unreachable), Failure::Transient);
        let cause = std::error::Error::source(&unreachable).and_then(std::error::Error::source);
        assert_eq!(cause.map(ToString::to_string).as_deref(), Some("connection refused"), "the cause is kept");
    }
}
