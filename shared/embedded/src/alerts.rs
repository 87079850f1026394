use crate::Sqlite;
use crate::records::{from_json, to_json};
use rusqlite::params;
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

    async fn alerts(&self, limit: usize) -> Result<Vec<Alert>, AlertsError> {
        self.call(move |db| {
            let mut statement = db.prepare("SELECT data FROM alerts ORDER BY seq DESC LIMIT ?1")?;
            statement.query_map([limit as i64], from_json)?.collect()
        })
        .await
        .map_err(failed)
    }
}
