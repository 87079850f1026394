//! Webhook deliveries as Stripe makes them: each event POSTed to the endpoint with a
//! `Stripe-Signature` made with the endpoint's secret at the time of sending; anything but a
//! 2xx is tried again later, backing off. In chaos mode every event is sent twice, and each
//! batch in reverse order first, so the receiver's dedupe and ordering rules are exercised.

use crate::{Emulator, now};
use std::sync::Arc;
use std::time::Duration;
use tollgate_core::signature::sign;
use tollgate_core::time::Timestamp;

/// How long the deliverer waits when nothing wakes it (a retry may fall due meanwhile).
const IDLE: Duration = Duration::from_millis(250);
/// Stripe backs off for up to three days; a local endpoint restarts in seconds.
const MAX_BACKOFF_SECONDS: i64 = 300;

/// The wait after `attempts` failed tries: 1 s, 2 s, 4 s… up to 5 minutes.
pub fn backoff_ms(attempts: u32) -> i64 {
    1000 * 2_i64.saturating_pow(attempts.saturating_sub(1).min(16)).min(MAX_BACKOFF_SECONDS)
}

pub async fn deliver(emulator: Arc<Emulator>) {
    loop {
        let _ = tokio::time::timeout(IDLE, emulator.owed.notified()).await;
        let due = due_now(&emulator);
        if due.is_empty() {
            continue;
        }
        let mut sends: Vec<&(String, String)> = due.iter().collect();
        if emulator.settings.chaos {
            sends = due.iter().rev().chain(due.iter()).collect();
        }
        let mut outcomes = Vec::with_capacity(sends.len());
        for (id, payload) in sends {
            let outcome = post(&emulator, payload).await;
            tracing::debug!(event = %id, accepted = outcome.is_ok(), "webhook sent");
            outcomes.push((id.clone(), outcome));
        }
        settle(&emulator, &outcomes);
    }
}

/// The events owed and due, oldest first, with their payloads.
fn due_now(emulator: &Emulator) -> Vec<(String, String)> {
    let state = emulator.lock();
    let now_ms = now() * 1000;
    state
        .deliveries
        .iter()
        .filter(|delivery| delivery.due_ms <= now_ms)
        .filter_map(|delivery| {
            let event = state.events.iter().find(|event| event["id"] == delivery.event.as_str())?;
            Some((delivery.event.clone(), event.to_string()))
        })
        .collect()
}

async fn post(emulator: &Emulator, payload: &str) -> Result<(), String> {
    let signature = sign(&emulator.settings.webhook_secret, Timestamp(now()), payload.as_bytes());
    let sent = emulator
        .http
        .post(&emulator.settings.webhook_url)
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", signature)
        .header("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
        .body(payload.to_owned())
        .send()
        .await
        .map_err(|error| error.to_string())?;
    if sent.status().is_success() { Ok(()) } else { Err(format!("status {}", sent.status())) }
}

/// A delivery is done when any send of it was accepted; otherwise it is due again later.
fn settle(emulator: &Emulator, outcomes: &[(String, Result<(), String>)]) {
    let saved = emulator.change(|state, _| {
        let now_ms = now() * 1000;
        let mut settled: Vec<&str> = Vec::new();
        for (id, outcome) in outcomes {
            if settled.contains(&id.as_str()) {
                continue;
            }
            settled.push(id);
            let accepted = outcomes.iter().any(|(other, result)| other == id && result.is_ok());
            if accepted {
                state.deliveries.retain(|delivery| delivery.event != *id);
            } else if let (Err(reason), Some(delivery)) = (outcome, state.deliveries.iter_mut().find(|d| d.event == *id)) {
                delivery.attempts += 1;
                delivery.due_ms = now_ms + backoff_ms(delivery.attempts);
                tracing::warn!(event = %id, attempts = delivery.attempts, %reason, "webhook delivery failed; trying again later");
            }
        }
    });
    if let Err(error) = saved {
        tracing::error!(%error, "the emulated Stripe could not save its deliveries");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_back_off_and_level_out() {
        let waits: Vec<i64> = (1..=12).map(super::backoff_ms).collect();
        assert_eq!(&waits[..4], &[1000, 2000, 4000, 8000]);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(waits[11], 300_000);
    }
}
