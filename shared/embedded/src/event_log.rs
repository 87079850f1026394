use crate::Sqlite;
use rusqlite::{OptionalExtension, Row, params};
use tollgate_app::ports::event_log::{EventLog, EventLogError, EventRecord, EventStatus, ReceivedEvent, Recorded};
use tollgate_core::ids::EventId;
use tollgate_core::time::Timestamp;

pub(crate) const COLUMNS: &str = "id, event_type, status, received_at, detail";

pub(crate) fn to_record(row: &Row<'_>) -> rusqlite::Result<EventRecord> {
    let invalid = |index, message: String| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, message.into())
    };
    let id: String = row.get(0)?;
    let status: String = row.get(2)?;
    Ok(EventRecord {
        id: EventId::parse(&id).map_err(|e| invalid(0, e.to_string()))?,
        event_type: row.get(1)?,
        status: EventStatus::parse(&status).ok_or_else(|| invalid(2, status.clone()))?,
        received_at: Timestamp(row.get(3)?),
        detail: row.get(4)?,
    })
}

fn failed(error: crate::DbError) -> EventLogError {
    EventLogError(error.into())
}

impl EventLog for Sqlite {
    async fn record(&self, event: &ReceivedEvent) -> Result<Recorded, EventLogError> {
        let event = event.clone();
        self.call(move |db| {
            let inserted = db.execute(
                "INSERT INTO event_log (id, event_type, status, received_at) VALUES (?1, ?2, 'queued', ?3)
                 ON CONFLICT (id) DO NOTHING",
                params![event.id.as_str(), event.event_type, event.received_at.0],
            )?;
            if inserted == 1 {
                return Ok(Recorded::New);
            }
            let sql = format!("SELECT {COLUMNS} FROM event_log WHERE id = ?1");
            db.query_row(&sql, [event.id.as_str()], to_record).map(Recorded::Duplicate)
        })
        .await
        .map_err(failed)
    }

    async fn mark(&self, id: &EventId, status: EventStatus, detail: Option<&str>) -> Result<(), EventLogError> {
        let (id, detail) = (id.clone(), detail.map(str::to_owned));
        self.call(move |db| {
            db.execute(
                "UPDATE event_log SET status = ?2, detail = ?3 WHERE id = ?1",
                params![id.as_str(), status.as_str(), detail],
            )
            .map(drop)
        })
        .await
        .map_err(failed)
    }

    async fn get(&self, id: &EventId) -> Result<Option<EventRecord>, EventLogError> {
        let id = id.clone();
        self.call(move |db| {
            let sql = format!("SELECT {COLUMNS} FROM event_log WHERE id = ?1");
            db.query_row(&sql, [id.as_str()], to_record).optional()
        })
        .await
        .map_err(failed)
    }

    async fn recent(&self, limit: usize) -> Result<Vec<EventRecord>, EventLogError> {
        self.call(move |db| {
            let sql = format!("SELECT {COLUMNS} FROM event_log ORDER BY received_at DESC, rowid DESC LIMIT ?1");
            let mut statement = db.prepare(&sql)?;
            statement.query_map([limit as i64], to_record)?.collect()
        })
        .await
        .map_err(failed)
    }
}
