use crate::conformance::{TEST_MAX_RECEIVES, TEST_VISIBILITY_SECONDS};
use std::time::{Duration, Instant};
use tollgate_app::ports::queue::{Delivery, Queue, QueueConsumer, QueueName};
use tollgate_app::redelivery::{Failure, RetryPolicy, Settled};

const EVENTS: QueueName = QueueName::Events;

/// Receives until `want` messages arrived or `patience` ran out.
pub(crate) async fn receive_some(
    queue: &impl QueueConsumer,
    name: QueueName,
    want: usize,
    patience: Duration,
) -> Vec<Delivery> {
    let deadline = Instant::now() + patience;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        got.extend(queue.receive(name, 10).await.unwrap());
        if got.len() < want {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    got
}

fn visibility() -> Duration {
    Duration::from_secs(u64::from(TEST_VISIBILITY_SECONDS))
}

pub async fn delivers_what_was_sent_until_acknowledged(queue: &(impl Queue + QueueConsumer)) {
    queue.send(EVENTS, "first").await.unwrap();
    queue.send(EVENTS, "second").await.unwrap();
    let mut bodies: Vec<String> =
        receive_some(queue, EVENTS, 2, Duration::from_secs(5)).await.into_iter().map(|d| d.body).collect();
    bodies.sort();
    assert_eq!(bodies, ["first", "second"]);
    // Hidden while in flight: nothing else to receive right now.
    assert!(queue.receive(EVENTS, 10).await.unwrap().is_empty());

    queue.send(EVENTS, "acked").await.unwrap();
    let delivery = receive_some(queue, EVENTS, 1, Duration::from_secs(5)).await.pop().expect("a delivery");
    assert_eq!((delivery.body.as_str(), delivery.receive_count), ("acked", 1));
    queue.ack(&delivery).await.unwrap();
    tokio::time::sleep(visibility() * 2).await;
    let again: Vec<String> = receive_some(queue, EVENTS, 3, visibility()).await.into_iter().map(|d| d.body).collect();
    assert!(!again.contains(&"acked".to_owned()), "an acknowledged message never returns: {again:?}");
}

pub async fn redelivers_what_was_not_acknowledged(queue: &(impl Queue + QueueConsumer)) {
    queue.send(EVENTS, "retry me").await.unwrap();
    let first = receive_some(queue, EVENTS, 1, Duration::from_secs(5)).await.pop().expect("a delivery");
    queue.retry_after(&first, 0).await.unwrap();
    let second =
        receive_some(queue, EVENTS, 1, Duration::from_secs(5)).await.pop().expect("redelivered after retry_after");
    assert_eq!((second.body.as_str(), second.receive_count), ("retry me", 2));
    // Not acknowledged and not retried: back once the visibility timeout ends.
    let third =
        receive_some(queue, EVENTS, 1, visibility() * 5).await.pop().expect("redelivered after the visibility timeout");
    assert_eq!(third.receive_count, 3);
    assert_ne!(third.receipt, second.receipt, "each delivery has its own receipt");
}

pub async fn dead_letters_after_the_last_receive(queue: &(impl Queue + QueueConsumer)) {
    queue.send(EVENTS, "poison").await.unwrap();
    for attempt in 1..=TEST_MAX_RECEIVES {
        let delivery = receive_some(queue, EVENTS, 1, Duration::from_secs(5)).await.pop().expect("a delivery");
        assert_eq!(delivery.receive_count, attempt);
        queue.retry_after(&delivery, 0).await.unwrap();
    }
    assert!(receive_some(queue, EVENTS, 1, visibility() * 2).await.is_empty(), "no delivery past the last receive");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let dead = queue.dead_letters(EVENTS).await.unwrap();
        if dead.contains(&"poison".to_owned()) {
            break;
        }
        assert!(Instant::now() < deadline, "the message reaches the dead letters: {dead:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn keeps_each_queue_to_itself(queue: &(impl Queue + QueueConsumer)) {
    queue.send(QueueName::Runs, "a run").await.unwrap();
    queue.send(QueueName::CustomerRuns, "a customer's run").await.unwrap();
    queue.send(EVENTS, "an event").await.unwrap();
    let runs = receive_some(queue, QueueName::Runs, 1, Duration::from_secs(5)).await;
    assert_eq!(runs.iter().map(|d| (d.body.as_str(), d.queue)).collect::<Vec<_>>(), [("a run", QueueName::Runs)]);
    let customers = receive_some(queue, QueueName::CustomerRuns, 1, Duration::from_secs(5)).await;
    let received: Vec<_> = customers.iter().map(|d| (d.body.as_str(), d.queue)).collect();
    assert_eq!(received, [("a customer's run", QueueName::CustomerRuns)]);
    let events = receive_some(queue, EVENTS, 1, Duration::from_secs(5)).await;
    assert_eq!(events.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(), ["an event"]);
    queue.ack(&runs[0]).await.unwrap();
    tokio::time::sleep(visibility() * 2).await;
    assert!(receive_some(queue, QueueName::Runs, 1, visibility()).await.is_empty(), "the acknowledged run is gone");
}

/// The one retry policy: a transient failure comes back after its backoff — not before,
/// and not a visibility timeout later — with the delay the policy chose.
pub async fn a_transient_failure_comes_back_after_its_backoff(queue: &(impl Queue + QueueConsumer)) {
    // Ceiling 4 s on the first retry: a delay of 2 to 4 s, longer than the visibility timeout.
    let policy = RetryPolicy { base_seconds: 4, cap_seconds: 4, max_receives: TEST_MAX_RECEIVES };
    queue.send(EVENTS, "wait for me").await.unwrap();
    let first = receive_some(queue, EVENTS, 1, Duration::from_secs(5)).await.pop().expect("a delivery");
    let failed_at = Instant::now();
    let settled = policy.settle(queue, &first, Failure::Transient, "storage was busy").await.unwrap();
    let Settled::RetryIn(delay) = settled else { panic!("a first failure is retried: {settled:?}") };
    assert!((2..=4).contains(&delay), "{delay}");
    let delay = Duration::from_secs(u64::from(delay));

    let early = receive_some(queue, EVENTS, 1, delay.saturating_sub(Duration::from_millis(800))).await;
    assert!(early.is_empty(), "back before its backoff ({delay:?}): {early:?}");
    let again = receive_some(queue, EVENTS, 1, Duration::from_secs(5)).await.pop().expect("back after the backoff");
    let waited = failed_at.elapsed();
    assert_eq!((again.body.as_str(), again.receive_count), ("wait for me", 2));
    assert!(waited >= delay.saturating_sub(Duration::from_millis(500)), "{waited:?} < {delay:?}");
    assert!(waited < delay + Duration::from_secs(3), "{waited:?}: not the delay the policy chose ({delay:?})");
}

/// A permanent failure goes to the dead-letter queue on its first delivery.
pub async fn a_permanent_failure_is_dead_lettered_at_once(queue: &(impl Queue + QueueConsumer)) {
    let policy = RetryPolicy { base_seconds: 1, cap_seconds: 1, max_receives: TEST_MAX_RECEIVES };
    queue.send(EVENTS, "never applicable").await.unwrap();
    let first = receive_some(queue, EVENTS, 1, Duration::from_secs(5)).await.pop().expect("a delivery");
    let settled = policy.settle(queue, &first, Failure::Permanent, "no customer to bill").await.unwrap();
    assert_eq!(settled, Settled::DeadLettered);
    assert!(receive_some(queue, EVENTS, 1, visibility() * 3).await.is_empty(), "never delivered again");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !queue.dead_letters(EVENTS).await.unwrap().contains(&"never applicable".to_owned()) {
        assert!(Instant::now() < deadline, "the message reaches the dead letters");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
