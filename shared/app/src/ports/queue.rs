use std::future::Future;

/// The queues between functions: Stripe events for the processor, the operator's runs and
/// customers' runs for the runner (each with its own concurrency), purchases for the
/// fulfiller, the edge's usage batches and ended runs' overage for the usage meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueName {
    Events,
    Runs,
    CustomerRuns,
    Fulfillment,
    Usage,
}

impl QueueName {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Events => "events",
            QueueName::Runs => "runs",
            QueueName::CustomerRuns => "customer-runs",
            QueueName::Fulfillment => "fulfillment",
            QueueName::Usage => "usage",
        }
    }
}

/// One delivery of a queued message. A message not acknowledged comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub queue: QueueName,
    pub message_id: String,
    /// Names this delivery (SQS receipt handle) for acknowledging or delaying it.
    pub receipt: String,
    pub body: String,
    /// 1 on the first delivery.
    pub receive_count: u32,
}

crate::ports::error::port_error!(QueueError, "queue");

/// Sends messages durably: once `send` returns, the message will be delivered.
pub trait Queue: Send + Sync {
    fn send(&self, queue: QueueName, body: &str) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Takes messages off a queue. On Lambda the event source mapping receives them; the
/// local stack and the conformance suite receive directly. Delaying a delivery is how
/// both back off before a retry.
pub trait QueueConsumer: Send + Sync {
    /// Up to `max` messages, each hidden from other receivers until acknowledged or its visibility ends.
    fn receive(&self, queue: QueueName, max: usize) -> impl Future<Output = Result<Vec<Delivery>, QueueError>> + Send;
    fn ack(&self, delivery: &Delivery) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Makes the message visible again after `seconds`; past the receive limit it is dead-lettered.
    fn retry_after(&self, delivery: &Delivery, seconds: u32) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Moves the message to the dead-letter queue now: it failed for good.
    fn dead_letter(&self, delivery: &Delivery, reason: &str) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Messages that ran out of receives.
    fn dead_letters(&self, queue: QueueName) -> impl Future<Output = Result<Vec<String>, QueueError>> + Send;
}
