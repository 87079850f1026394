//! An account's webhook endpoint is an item of its partition in the `accounts` table:
//! `ACCOUNT#{id}` / `WEBHOOK_ENDPOINT`, with the URL, the signing secret and when it was set.

use crate::Aws;
use crate::accounts::account_key;
use crate::dynamo::{get, n, s, sdk};
use serde::Deserialize;
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::webhook_endpoints::{WebhookEndpoint, WebhookEndpoints, WebhookEndpointsError};
use tollgate_core::ids::AccountId;
use tollgate_core::standard_webhooks::EndpointSecret;
use tollgate_core::time::Timestamp;

const SORT_KEY: &str = "WEBHOOK_ENDPOINT";

#[derive(Deserialize)]
struct EndpointItem {
    url: String,
    secret: String,
    created_at: i64,
}

fn failed(error: PortError) -> WebhookEndpointsError {
    WebhookEndpointsError(error)
}

impl WebhookEndpoints for Aws {
    async fn put_endpoint(&self, account: &AccountId, endpoint: &WebhookEndpoint) -> Result<(), WebhookEndpointsError> {
        self.dynamo
            .put_item()
            .table_name(&self.resources.accounts_table)
            .item("pk", account_key(account))
            .item("sk", s(SORT_KEY))
            .item("url", s(&endpoint.url))
            .item("secret", s(endpoint.secret.expose()))
            .item("created_at", n(endpoint.created_at.0))
            .send()
            .await
            .map(drop)
            .map_err(|e| failed(sdk(e)))
    }

    async fn endpoint(&self, account: &AccountId) -> Result<Option<WebhookEndpoint>, WebhookEndpointsError> {
        let key = [("pk", account_key(account)), ("sk", s(SORT_KEY))];
        let Some(item) =
            get::<EndpointItem>(&self.dynamo, &self.resources.accounts_table, &key).await.map_err(failed)?
        else {
            return Ok(None);
        };
        let secret = EndpointSecret::parse(&item.secret).map_err(|error| {
            failed(PortError::caused_by(ErrorKind::Corrupt, format!("the endpoint secret of {account}"), error))
        })?;
        Ok(Some(WebhookEndpoint { url: item.url, secret, created_at: Timestamp(item.created_at) }))
    }

    async fn remove_endpoint(&self, account: &AccountId) -> Result<bool, WebhookEndpointsError> {
        let deleted = self
            .dynamo
            .delete_item()
            .table_name(&self.resources.accounts_table)
            .key("pk", account_key(account))
            .key("sk", s(SORT_KEY))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| failed(sdk(e)))?;
        Ok(deleted.attributes.is_some_and(|old| !old.is_empty()))
    }
}
