//! Deliveries to customers' endpoints on SQLite: `webhook_deliveries`, indexed by when a
//! pending one is due and by account.

use crate::Sqlite;
use crate::records::{from_json, to_json};
use rusqlite::{Connection, OptionalExtension, params};
use tollgate_app::ports::webhook_deliveries::{WebhookDeliveries, WebhookDeliveriesError};
use tollgate_core::delivery::Delivery;
use tollgate_core::ids::AccountId;
use tollgate_core::time::Timestamp;

fn failed(error: crate::DbError) -> WebhookDeliveriesError {
    WebhookDeliveriesError(error.into())
}

fn deliveries_where(
    db: &Connection,
    condition: &str,
    values: impl rusqlite::Params,
) -> rusqlite::Result<Vec<Delivery>> {
    let mut statement = db.prepare(&format!("SELECT data FROM webhook_deliveries WHERE {condition}"))?;
    statement.query_map(values, from_json)?.collect()
}

impl WebhookDeliveries for Sqlite {
    async fn record_delivery(&self, delivery: &Delivery) -> Result<bool, WebhookDeliveriesError> {
        let delivery = delivery.clone();
        self.call(move |db| {
            db.execute(
                "INSERT INTO webhook_deliveries (id, account_id, status, next_attempt_at, attempts, created_at, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
                params![
                    delivery.id,
                    delivery.account_id.as_str(),
                    delivery.status.as_str(),
                    delivery.next_attempt_at.map(|at| at.0),
                    delivery.attempts,
                    delivery.created_at.0,
                    to_json(&delivery)?
                ],
            )
            .map(|inserted| inserted > 0)
        })
        .await
        .map_err(failed)
    }

    async fn due_deliveries(&self, now: Timestamp, limit: usize) -> Result<Vec<Delivery>, WebhookDeliveriesError> {
        self.call(move |db| {
            deliveries_where(
                db,
                "status = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2",
                params![now.0, i64::try_from(limit).unwrap_or(i64::MAX)],
            )
        })
        .await
        .map_err(failed)
    }

    async fn update_delivery(
        &self,
        delivery: &Delivery,
        expected_attempts: u32,
    ) -> Result<bool, WebhookDeliveriesError> {
        let delivery = delivery.clone();
        self.call(move |db| {
            db.execute(
                "UPDATE webhook_deliveries SET status = ?2, next_attempt_at = ?3, attempts = ?4, data = ?5
                 WHERE id = ?1 AND attempts = ?6",
                params![
                    delivery.id,
                    delivery.status.as_str(),
                    delivery.next_attempt_at.map(|at| at.0),
                    delivery.attempts,
                    to_json(&delivery)?,
                    expected_attempts
                ],
            )
            .map(|updated| updated > 0)
        })
        .await
        .map_err(failed)
    }

    async fn account_deliveries(
        &self,
        account: &AccountId,
        limit: usize,
    ) -> Result<Vec<Delivery>, WebhookDeliveriesError> {
        let account = account.to_string();
        self.call(move |db| {
            deliveries_where(
                db,
                "account_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
                params![account, i64::try_from(limit).unwrap_or(i64::MAX)],
            )
        })
        .await
        .map_err(failed)
    }

    async fn delivery(&self, account: &AccountId, id: &str) -> Result<Option<Delivery>, WebhookDeliveriesError> {
        let (account, id) = (account.to_string(), id.to_owned());
        self.call(move |db| {
            db.query_row(
                "SELECT data FROM webhook_deliveries WHERE id = ?1 AND account_id = ?2",
                params![id, account],
                from_json,
            )
            .optional()
        })
        .await
        .map_err(failed)
    }
}
