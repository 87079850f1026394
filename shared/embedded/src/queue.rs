//! A durable queue in SQLite with SQS's delivery rules: a received message is hidden
//! for the visibility timeout, comes back if not acknowledged, and is dead-lettered
//! once it has been received `max_receives` times.

use crate::Sqlite;
use rand::Rng;
use rusqlite::params;
use std::time::{SystemTime, UNIX_EPOCH};
use tollgate_app::ports::queue::{Delivery, Queue, QueueConsumer, QueueError, QueueName};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn random_id() -> String {
    hex::encode(rand::rng().random::<[u8; 16]>())
}

/// Puts `body` on `queue`, visible at once, inside the caller's transaction.
pub(crate) fn enqueue(db: &rusqlite::Connection, queue: QueueName, body: &str) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO queue (name, message_id, body, visible_at_ms) VALUES (?1, ?2, ?3, 0)",
        params![queue.as_str(), random_id(), body],
    )
    .map(drop)
}

/// Wakes a queue's consumer as soon as a message is committed to it, as SQS's event source
/// mapping hands a message to its function: a consumer waits here instead of polling.
#[derive(Default)]
pub(crate) struct Arrivals([tokio::sync::Notify; 5]);

impl Arrivals {
    fn of(&self, queue: QueueName) -> &tokio::sync::Notify {
        let index = match queue {
            QueueName::Events => 0,
            QueueName::Runs => 1,
            QueueName::Fulfillment => 2,
            QueueName::Usage => 3,
            QueueName::CustomerRuns => 4,
        };
        &self.0[index]
    }

    pub(crate) fn announce(&self, queue: QueueName) {
        self.of(queue).notify_one();
    }
}

fn failed(error: crate::DbError) -> QueueError {
    QueueError(error.into())
}

impl Sqlite {
    /// Resolves once a message has been committed to `queue` since the last wake-up (at
    /// once if one was, unawaited).
    pub async fn arrival(&self, queue: QueueName) {
        self.arrivals.of(queue).notified().await;
    }

    /// Makes every in-flight message visible at once. Only for a queue with a single
    /// consumer process, at its start: whatever was in flight belonged to a process that died.
    pub async fn release_in_flight(&self) -> Result<usize, QueueError> {
        self.call(|db| {
            db.execute("UPDATE queue SET visible_at_ms = 0, receipt = NULL WHERE dead = 0 AND receipt IS NOT NULL", [])
        })
        .await
        .map_err(failed)
    }
}

impl Queue for Sqlite {
    async fn send(&self, queue: QueueName, body: &str) -> Result<(), QueueError> {
        let body = body.to_owned();
        self.call(move |db| enqueue(db, queue, &body)).await.map_err(failed)?;
        self.arrivals.announce(queue);
        Ok(())
    }
}

impl QueueConsumer for Sqlite {
    async fn receive(&self, queue: QueueName, max: usize) -> Result<Vec<Delivery>, QueueError> {
        let settings = self.queue;
        self.call(move |db| {
            let now = now_ms();
            let tx = db.savepoint()?;
            // In queue order, so a backlog costs a walk of the index, never a sort.
            let due: Vec<(i64, String, String, u32)> = {
                let mut statement = tx.prepare(
                    "SELECT seq, message_id, body, receive_count FROM queue
                     WHERE name = ?1 AND dead = 0 AND visible_at_ms <= ?2 ORDER BY seq LIMIT ?3",
                )?;
                statement
                    .query_map(params![queue.as_str(), now, max as i64], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let hidden_until = now + settings.visibility_timeout.as_millis() as i64;
            let mut deliveries = Vec::with_capacity(due.len());
            for (seq, message_id, body, receive_count) in due {
                // Back after its last receive timed out: dead-lettered, as SQS does.
                if receive_count >= settings.max_receives {
                    tx.execute("UPDATE queue SET dead = 1, receipt = NULL WHERE seq = ?1", [seq])?;
                    continue;
                }
                let receipt = random_id();
                tx.execute(
                    "UPDATE queue SET visible_at_ms = ?2, receive_count = receive_count + 1, receipt = ?3 WHERE seq = ?1",
                    params![seq, hidden_until, receipt],
                )?;
                deliveries.push(Delivery { queue, message_id, receipt, body, receive_count: receive_count + 1 });
            }
            tx.commit()?;
            Ok(deliveries)
        })
        .await
        .map_err(failed)
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let (message_id, receipt) = (delivery.message_id.clone(), delivery.receipt.clone());
        // Only the latest delivery's receipt acknowledges: a stale one (the message came back) does nothing.
        self.call(move |db| {
            db.execute("DELETE FROM queue WHERE message_id = ?1 AND receipt = ?2", params![message_id, receipt])
                .map(drop)
        })
        .await
        .map_err(failed)
    }

    async fn retry_after(&self, delivery: &Delivery, seconds: u32) -> Result<(), QueueError> {
        let (message_id, receipt, max_receives) =
            (delivery.message_id.clone(), delivery.receipt.clone(), self.queue.max_receives);
        self.call(move |db| {
            db.execute(
                "UPDATE queue SET visible_at_ms = ?3, receipt = NULL, dead = (receive_count >= ?4)
                 WHERE message_id = ?1 AND receipt = ?2",
                params![message_id, receipt, now_ms() + i64::from(seconds) * 1000, max_receives],
            )
            .map(drop)
        })
        .await
        .map_err(failed)
    }

    async fn dead_letter(&self, delivery: &Delivery, _reason: &str) -> Result<(), QueueError> {
        let (message_id, receipt) = (delivery.message_id.clone(), delivery.receipt.clone());
        self.call(move |db| {
            db.execute(
                "UPDATE queue SET dead = 1, receipt = NULL WHERE message_id = ?1 AND receipt = ?2",
                params![message_id, receipt],
            )
            .map(drop)
        })
        .await
        .map_err(failed)
    }

    async fn dead_letters(&self, queue: QueueName) -> Result<Vec<String>, QueueError> {
        self.call(move |db| {
            let mut statement = db.prepare("SELECT body FROM queue WHERE name = ?1 AND dead = 1 ORDER BY seq")?;
            statement.query_map([queue.as_str()], |row| row.get(0))?.collect()
        })
        .await
        .map_err(failed)
    }
}
