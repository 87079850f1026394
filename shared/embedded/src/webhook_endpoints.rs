use crate::Sqlite;
use rusqlite::{OptionalExtension, params};
use tollgate_app::ports::webhook_endpoints::{WebhookEndpoint, WebhookEndpoints, WebhookEndpointsError};
use tollgate_core::ids::AccountId;
use tollgate_core::standard_webhooks::EndpointSecret;
use tollgate_core::time::Timestamp;

fn failed(error: crate::DbError) -> WebhookEndpointsError {
    WebhookEndpointsError(error.into())
}

impl WebhookEndpoints for Sqlite {
    async fn put_endpoint(&self, account: &AccountId, endpoint: &WebhookEndpoint) -> Result<(), WebhookEndpointsError> {
        let (account, endpoint) = (account.to_string(), endpoint.clone());
        self.call(move |db| {
            db.execute(
                "INSERT INTO webhook_endpoints (account_id, url, secret, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account_id) DO UPDATE SET url = excluded.url, secret = excluded.secret,
                 created_at = excluded.created_at",
                params![account, endpoint.url, endpoint.secret.expose(), endpoint.created_at.0],
            )
            .map(drop)
        })
        .await
        .map_err(failed)
    }

    async fn endpoint(&self, account: &AccountId) -> Result<Option<WebhookEndpoint>, WebhookEndpointsError> {
        let account = account.to_string();
        self.call(move |db| {
            db.query_row(
                "SELECT url, secret, created_at FROM webhook_endpoints WHERE account_id = ?1",
                [account],
                |row| {
                    let secret: String = row.get(1)?;
                    let secret = EndpointSecret::parse(&secret).map_err(|error| {
                        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(error))
                    })?;
                    Ok(WebhookEndpoint { url: row.get(0)?, secret, created_at: Timestamp(row.get(2)?) })
                },
            )
            .optional()
        })
        .await
        .map_err(failed)
    }

    async fn remove_endpoint(&self, account: &AccountId) -> Result<bool, WebhookEndpointsError> {
        let account = account.to_string();
        self.call(move |db| db.execute("DELETE FROM webhook_endpoints WHERE account_id = ?1", [account]))
            .await
            .map(|removed| removed > 0)
            .map_err(failed)
    }
}
