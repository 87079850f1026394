//! The transactional outbox: the event's row and its queue message are written in one
//! transaction, so a delivery waits for one group commit and the two never disagree.

use crate::Sqlite;
use crate::event_log::{COLUMNS, to_record};
use crate::queue::enqueue;
use rusqlite::params;
use tollgate_app::ports::event_log::{ReceivedEvent, Recorded};
use tollgate_app::ports::intake::{Intake, IntakeError};
use tollgate_app::ports::queue::QueueName;

impl Intake for Sqlite {
    async fn take_in(&self, event: &ReceivedEvent, message: &str) -> Result<Recorded, IntakeError> {
        let (event, message) = (event.clone(), message.to_owned());
        let recorded = self
            .call(move |db| {
                let inserted = db.execute(
                "INSERT INTO event_log (id, event_type, status, received_at, enqueued) VALUES (?1, ?2, 'queued', ?3, 1)
                 ON CONFLICT (id) DO NOTHING",
                params![event.id.as_str(), event.event_type, event.received_at.0],
            )?;
                if inserted == 1 {
                    enqueue(db, QueueName::Events, &message)?;
                    return Ok(Recorded::New);
                }
                let sql = format!("SELECT {COLUMNS}, enqueued FROM event_log WHERE id = ?1");
                let (existing, enqueued) =
                    db.query_row(&sql, [event.id.as_str()], |row| Ok((to_record(row)?, row.get::<_, bool>(5)?)))?;
                // Only a row an earlier release recorded before queueing can be unqueued.
                if !enqueued && !existing.status.is_final() {
                    enqueue(db, QueueName::Events, &message)?;
                    db.execute("UPDATE event_log SET enqueued = 1 WHERE id = ?1", [event.id.as_str()])?;
                }
                Ok(Recorded::Duplicate(existing))
            })
            .await
            .map_err(|error| IntakeError(error.into()))?;
        self.arrivals.announce(QueueName::Events);
        Ok(recorded)
    }
}
