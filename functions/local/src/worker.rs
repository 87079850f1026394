//! The in-process stand-in for SQS event source mappings: a worker per queue ([`spawn`]) takes
//! batches off the SQLite queue and hands each message to the same handler the queue's
//! Lambda function runs. A message the handler took is acknowledged; one it failed has
//! already been delayed or dead-lettered by the one retry policy, as on Lambda.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tollgate_app::ports::queue::{Delivery, QueueConsumer, QueueName};
use tollgate_embedded::Sqlite;

/// How long an idle worker waits before looking again for a message whose delay ended
/// (a new message wakes it at once).
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Messages taken at once, as an event source mapping's batch size.
const BATCH: usize = 32;

/// Works `queue` until the task is aborted, handing each message to `handler`. A batch's
/// messages run concurrently, as parallel invocations would: correctness rests on the
/// conditional writes, not on order.
pub fn spawn<H, F, E>(queue: QueueName, store: &Sqlite, handler: H) -> tokio::task::JoinHandle<()>
where
    H: Fn(Delivery) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: Display + Send,
{
    let (store, handler) = (store.clone(), Arc::new(handler));
    tokio::spawn(async move {
        loop {
            let deliveries = match store.receive(queue, BATCH).await {
                Ok(deliveries) => deliveries,
                Err(error) => {
                    tracing::error!(queue = queue.as_str(), %error, "the local queue failed; trying again shortly");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            if deliveries.is_empty() {
                let _ = tokio::time::timeout(IDLE_POLL, store.arrival(queue)).await;
                continue;
            }
            let mut batch = tokio::task::JoinSet::new();
            for delivery in deliveries {
                let (store, handler) = (store.clone(), Arc::clone(&handler));
                batch.spawn(async move {
                    match handler(delivery.clone()).await {
                        Ok(()) => {
                            if let Err(error) = store.ack(&delivery).await {
                                // Not acknowledged: it comes back after its visibility, and the
                                // handlers are idempotent.
                                tracing::error!(queue = queue.as_str(), %error, "a handled message was not acknowledged");
                            }
                        }
                        Err(error) => {
                            tracing::debug!(queue = queue.as_str(), message_id = %delivery.message_id, %error, "message left for redelivery")
                        }
                    }
                });
            }
            while let Some(done) = batch.join_next().await {
                if let Err(failed) = done {
                    std::panic::resume_unwind(failed.into_panic());
                }
            }
        }
    })
}
