//! SIGKILL the local stack while events are in flight: every event that got a 2xx is
//! applied exactly once after a restart, and Stripe's retries of the others are too.

use reqwest::StatusCode;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tollgate_tests::stack::{TestStack, now};
use tollgate_tests::stripe::{checkout_session, event, invoice_paid};

const EVENTS: usize = 150;
const KILL_AFTER_ACKS: usize = 40;
/// Deliveries in flight at once, as Stripe's own: the kill always finds some in flight
/// and many not yet sent, however fast the stack answers.
const IN_FLIGHT: usize = 16;

fn payload(n: usize, created: i64) -> String {
    event(
        &format!("evt_crash_{n}"),
        "invoice.paid",
        created,
        invoice_paid(&format!("in_{n}"), "cus_crash", "sub_crash", 100 + n as i64, &format!("pi_crash_{n}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_acknowledged_before_a_sigkill_are_applied_once_after_restart() {
    let stack = TestStack::start().await;
    let link =
        event("evt_crash_link", "checkout.session.completed", now().0, checkout_session("crash", "cus_crash", None));
    assert_eq!(stack.deliver(&link).await.0, StatusCode::OK);
    stack.settled("evt_crash_link").await;

    let created = now().0;
    let shared = Arc::new(stack);
    let acks = Arc::new(AtomicUsize::new(0));
    let pid = shared.pid();
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let deliveries: Vec<_> = (0..EVENTS)
        .map(|n| {
            let (stack, acks, slots) = (Arc::clone(&shared), Arc::clone(&acks), Arc::clone(&slots));
            tokio::spawn(async move {
                let _slot = slots.acquire_owned().await.expect("the semaphore stays open");
                let delivered = stack.http.post(stack.url("/webhooks/stripe")).body(payload(n, created));
                let signed = delivered.header("Stripe-Signature", signature(&payload(n, created)));
                let ok = matches!(signed.send().await, Ok(response) if response.status() == StatusCode::OK);
                if ok && acks.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER_ACKS {
                    std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill -9");
                }
                (n, ok)
            })
        })
        .collect();
    let mut acknowledged = BTreeSet::new();
    for delivery in deliveries {
        let (n, ok) = delivery.await.unwrap();
        if ok {
            acknowledged.insert(n);
        }
    }
    assert!(
        acknowledged.len() >= KILL_AFTER_ACKS && acknowledged.len() < EVENTS,
        "the kill landed mid-stream: {} acked",
        acknowledged.len()
    );

    let mut stack = Arc::into_inner(shared).expect("all deliveries are done");
    stack.kill_and_restart().await;
    let expected = |n: usize| 100 + n as i64;
    let payments = |entries: Vec<serde_json::Value>| -> Vec<i64> {
        let mut amounts: Vec<i64> =
            entries.iter().filter(|e| e["kind"] == "payment").map(|e| e["amount_cents"].as_i64().unwrap()).collect();
        amounts.sort();
        amounts
    };
    for n in &acknowledged {
        assert_eq!(stack.settled(&format!("evt_crash_{n}")).await["status"], "applied");
    }
    let applied = payments(stack.ledger("crash").await);
    let acked_amounts: Vec<i64> = acknowledged.iter().map(|n| expected(*n)).collect();
    assert!(acked_amounts.iter().all(|a| applied.contains(a)), "every acknowledged event is applied");
    assert_eq!(applied.iter().collect::<BTreeSet<_>>().len(), applied.len(), "none is applied twice");

    // Stripe retries every delivery that got no 2xx (and some that did, as it may).
    for n in 0..EVENTS {
        let (status, _) = stack.deliver(&payload(n, created)).await;
        assert_eq!(status, StatusCode::OK);
    }
    for n in 0..EVENTS {
        stack.settled(&format!("evt_crash_{n}")).await;
    }
    assert_eq!(
        payments(stack.ledger("crash").await),
        (0..EVENTS).map(expected).collect::<Vec<_>>(),
        "each event applied exactly once"
    );
}

fn signature(payload: &str) -> String {
    let secret = tollgate_core::signature::WebhookSecret::parse(tollgate_tests::stack::WEBHOOK_SECRET).unwrap();
    tollgate_core::signature::sign(&secret, now(), payload.as_bytes())
}
