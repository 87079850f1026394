//! The transactional outbox: an event taken in is on the events queue (or final), however
//! its deliveries interleave or die.

use crate::conformance::queue::receive_some;
use std::time::Duration;
use tollgate_app::ports::event_log::{EventLog, EventStatus, ReceivedEvent, Recorded};
use tollgate_app::ports::intake::Intake;
use tollgate_app::ports::queue::{QueueConsumer, QueueName};
use tollgate_core::ids::EventId;

fn arriving(name: &str) -> ReceivedEvent {
    let id = EventId::parse(&format!("evt_{name}_{}", rand::random::<u32>())).unwrap();
    ReceivedEvent { id, event_type: "invoice.paid".into(), received_at: crate::stack::now() }
}

/// Receives up to `want` messages within `patience`, acknowledging each.
async fn bodies(store: &impl QueueConsumer, want: usize, patience: Duration) -> Vec<String> {
    let deliveries = receive_some(store, QueueName::Events, want, patience).await;
    for delivery in &deliveries {
        store.ack(delivery).await.unwrap();
    }
    deliveries.into_iter().map(|delivery| delivery.body).collect()
}

pub async fn takes_a_new_event_in_with_its_message(store: &(impl Intake + EventLog + QueueConsumer)) {
    let event = arriving("new");
    assert_eq!(store.take_in(&event, "the message").await.unwrap(), Recorded::New);
    assert_eq!(store.get(&event.id).await.unwrap().unwrap().status, EventStatus::Queued);
    assert_eq!(bodies(store, 1, Duration::from_secs(5)).await, ["the message"]);
    assert!(bodies(store, 1, Duration::from_secs(2)).await.is_empty(), "queued once");
}

/// A delivery that died after recording the event and before queueing it: the
/// redelivery queues it; once the processor is done with it, nothing is queued again.
pub async fn queues_a_recorded_event_again_until_it_is_final(store: &(impl Intake + EventLog + QueueConsumer)) {
    let event = arriving("died");
    assert_eq!(store.record(&event).await.unwrap(), Recorded::New);
    let Recorded::Duplicate(existing) = store.take_in(&event, "redelivered").await.unwrap() else {
        panic!("the event was recorded already")
    };
    assert_eq!(existing.status, EventStatus::Queued);
    assert_eq!(bodies(store, 1, Duration::from_secs(5)).await, ["redelivered"]);

    store.mark(&event.id, EventStatus::Applied, None).await.unwrap();
    assert!(matches!(store.take_in(&event, "too late").await.unwrap(), Recorded::Duplicate(_)));
    assert!(bodies(store, 1, Duration::from_secs(2)).await.is_empty(), "an applied event is never queued again");
}

pub async fn concurrent_deliveries_take_one_in(store: &(impl Intake + QueueConsumer + Clone + 'static)) {
    let event = arriving("race");
    let attempts = (0..25).map(|_| {
        let (store, event) = (store.clone(), event.clone());
        tokio::spawn(async move { store.take_in(&event, "raced").await.unwrap() })
    });
    let outcomes: Vec<Recorded> = crate::join_all(attempts).await;
    assert_eq!(outcomes.iter().filter(|outcome| **outcome == Recorded::New).count(), 1);
    let queued = bodies(store, 1, Duration::from_secs(5)).await;
    assert!(!queued.is_empty() && queued.iter().all(|body| body == "raced"), "{queued:?}");
}
