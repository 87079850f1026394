//! Deliveries of events to customers' endpoints (Standard Webhooks): when each is tried
//! again, and what one carries. A delivery is tried at once, then after 5 s, 5 min, 30 min,
//! 2 h, 5 h, 10 h and 10 h (the schedule of Standard Webhooks' reference senders); after
//! the last it has failed, until its owner asks for it again.

use crate::ids::AccountId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Seconds before each retry, in order.
pub const RETRY_DELAYS: [i64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
/// How long a delivery being sent is kept from another sender, in seconds: a sender that
/// stops midway leaves it to be tried again after this.
pub const SENDING_LEASE_SECONDS: i64 = 60;
/// How long a delivery's endpoint has to answer.
pub const ATTEMPT_TIMEOUT_SECONDS: u64 = 10;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet answered with a 2xx: tried again at `next_attempt_at`.
    Pending,
    /// An attempt was answered with a 2xx.
    Succeeded,
    /// Every attempt failed.
    Failed,
}

impl DeliveryStatus {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// One event to deliver to one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The `webhook-id`: the same for every attempt, so a receiver can drop repeats.
    pub id: String,
    /// Whose endpoint.
    pub account_id: AccountId,
    /// `run.completed`, `run.failed`…
    pub event: String,
    /// Where it goes.
    pub url: String,
    /// The JSON body, as signed.
    pub payload: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts begun so far.
    pub attempts: u32,
    /// When it is tried next (pending only).
    pub next_attempt_at: Option<Timestamp>,
    /// The last attempt's answer: `HTTP 500`, or why there was none.
    pub last_response: Option<String>,
    /// When the event happened.
    pub created_at: Timestamp,
}

impl Delivery {
    /// A new delivery, due at once.
    pub fn new(id: String, account_id: AccountId, event: &str, url: String, payload: String, now: Timestamp) -> Self {
        Self {
            id,
            account_id,
            event: event.to_owned(),
            url,
            payload,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(now),
            last_response: None,
            created_at: now,
        }
    }

    /// Begins an attempt at `now`: counted, and held from other senders for a while.
    pub fn begin(&self, now: Timestamp) -> Self {
        Self {
            attempts: self.attempts.saturating_add(1),
            next_attempt_at: Some(now.plus_seconds(SENDING_LEASE_SECONDS)),
            ..self.clone()
        }
    }

    /// The attempt begun ended at `now`, answered `status` (or not at all, `None`), as `response` says.
    pub fn answered(&self, ok: bool, response: String, now: Timestamp) -> Self {
        let (status, next_attempt_at) = match (ok, RETRY_DELAYS.get(self.attempts.saturating_sub(1) as usize)) {
            (true, _) => (DeliveryStatus::Succeeded, None),
            (false, Some(delay)) => (DeliveryStatus::Pending, Some(now.plus_seconds(*delay))),
            (false, None) => (DeliveryStatus::Failed, None),
        };
        Self { status, next_attempt_at, last_response: Some(response), ..self.clone() }
    }

    /// Asked for again by its owner: due at once, with the full schedule of retries ahead.
    pub fn retried(&self, now: Timestamp) -> Self {
        Self { status: DeliveryStatus::Pending, attempts: 0, next_attempt_at: Some(now), ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_tried_eight_times_on_the_schedule_then_fails() {
        let now = Timestamp(1_795_510_800);
        let mut delivery = Delivery::new(
            "msg_1".into(),
            AccountId::parse("ann").unwrap(),
            "run.completed",
            "u".into(),
            "{}".into(),
            now,
        );
        let mut waits = Vec::new();
        let mut at = now;
        for _ in 0..8 {
            assert_eq!(delivery.status, DeliveryStatus::Pending);
            let begun = delivery.begin(at);
            assert_eq!(begun.next_attempt_at, Some(at.plus_seconds(SENDING_LEASE_SECONDS)), "held while it is sent");
            delivery = begun.answered(false, "HTTP 500".into(), at);
            if let Some(next) = delivery.next_attempt_at {
                waits.push(next.0 - at.0);
                at = next;
            }
        }
        assert_eq!(waits, RETRY_DELAYS);
        assert_eq!((delivery.status, delivery.attempts, delivery.next_attempt_at), (DeliveryStatus::Failed, 8, None));
        let again = delivery.retried(at);
        assert_eq!((again.status, again.attempts, again.next_attempt_at), (DeliveryStatus::Pending, 0, Some(at)));
        let done = again.begin(at).answered(true, "HTTP 204".into(), at);
        assert_eq!((done.status, done.next_attempt_at), (DeliveryStatus::Succeeded, None));
    }
}
