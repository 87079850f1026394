//! The `reconciler` binary as deployed: under the Lambda Runtime API, with the environment
//! `template.yaml` gives it, on moto, against the Stripe stand-in, run by the sample tick.

use tollgate_app::ports::alerts::Alerts;
use tollgate_app::ports::event_log::{EventLog, EventStatus};
use tollgate_app::ports::queue::{QueueConsumer, QueueName};
use tollgate_core::ids::EventId;
use tollgate_tests::fake_stripe::FakeStripe;
use tollgate_tests::runtime_api::{Answer, deployed};
use tollgate_tests::samples::read;
use tollgate_tests::stack::now;
use tollgate_tests::stripe::{checkout_session, event};

#[tokio::test]
async fn the_binary_queues_an_undelivered_event_once_and_alerts() {
    let stripe = FakeStripe::start().await;
    let missed = event(
        "evt_never_delivered",
        "checkout.session.completed",
        now().0 - 60,
        checkout_session("hal", "cus_hal", None),
    );
    stripe.hold_event(serde_json::from_str(&missed).unwrap());
    let base = [("StripeApiBase", stripe.base_url.as_str())];
    let (mut function, store) = deployed(env!("CARGO_BIN_EXE_reconciler"), "ReconcilerFunction", &base).await;
    let tick: serde_json::Value = serde_json::from_str(&read("reconciler.json")).unwrap();

    let Answer::Response(found) = function.invoke(&tick).await else { panic!("{}", function.log()) };
    assert_eq!(found, serde_json::json!({"listed": 1, "new": 1, "already_had": 0}), "{}", function.log());
    let id = EventId::parse("evt_never_delivered").unwrap();
    assert_eq!(store.get(&id).await.unwrap().map(|record| record.status), Some(EventStatus::Queued));
    let queued = store.receive(QueueName::Events, 10).await.unwrap();
    assert_eq!(queued.len(), 1, "queued for the processor");
    assert!(queued[0].body.contains("evt_never_delivered"));
    let alerts = store.alerts(10).await.unwrap();
    assert_eq!(alerts.iter().filter(|alert| alert.kind.as_str() == "missed_events").count(), 1);

    let Answer::Response(again) = function.invoke(&tick).await else { panic!("{}", function.log()) };
    assert_eq!(again, serde_json::json!({"listed": 1, "new": 0, "already_had": 1}), "the next run from the cursor");
}
