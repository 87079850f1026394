use crate::Sqlite;
use crate::records::{from_json, to_json};
use rusqlite::{OptionalExtension, params};
use tollgate_app::ports::alerts::{Alerts, AlertsError};
use tollgate_core::alert::Alert;

fn failed(error: crate::DbError) -> AlertsError {
    AlertsError(error.into())
}

impl Alerts for Sqlite {
    async fn raise(&self, alert: &Alert) -> Result<bool, AlertsError> {
        let alert = alert.clone();
        self.call(move |db| {
            db.execute(
                "INSERT INTO alerts (id, data) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
                params![alert.id, to_json(&alert)?],
            )
            .map(|inserted| inserted == 1)
        })
        .await
        .map_err(failed)
    }

    async fn alert(&self, id: &str) -> Result<Option<Alert>, AlertsError> {
        let id = id.to_owned();
        self.call(move |db| db.query_row("SELECT data FROM alerts WHERE id = ?1", [id], from_json).optional())
            .await
            .map_err(failed)
    }

    async fn change_state(&self, before: &Alert, after: &Alert) -> Result<bool, AlertsError> {
        let (before, after) = (before.clone(), after.clone());
        // One connection: the read and the write cannot be split by another change.
        self.call(move |db| {
            let stored: Option<Alert> =
                db.query_row("SELECT data FROM alerts WHERE id = ?1", [&before.id], from_json).optional()?;
            if stored.is_none_or(|stored| stored.status.state != before.status.state) {
                return Ok(false);
            }
            db.execute("UPDATE alerts SET data = ?1 WHERE id = ?2", params![to_json(&after)?, after.id]).map(|_| true)
        })
        .await
        .map_err(failed)
    }

    async fn alerts(&self, limit: usize) -> Result<Vec<Alert>, AlertsError> {
        self.call(move |db| {
            let mut statement = db.prepare("SELECT data FROM alerts ORDER BY seq DESC LIMIT ?1")?;
            statement.query_map([limit as i64], from_json)?.collect()
        })
        .await
        .map_err(failed)
    }
}
