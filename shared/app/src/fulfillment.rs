//! Fulfillment of one-off products: a signed POST to the product's fulfillment webhook
//! (e.g. an n8n flow that emails the download link), retried with backoff, once per purchase.

use crate::Clock;
use crate::orchestrator::WorkflowSecret;
use crate::ports::outbound::{Outbound, OutboundRequest};
use crate::ports::purchases::{Delivery, Purchases, PurchasesError};
use crate::ports::queue::{self, QueueConsumer, QueueError};
use crate::process::FulfillmentMessage;
use crate::redelivery::{Failure, RetryPolicy, Settled};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tollgate_core::catalog::{Catalog, Grant};
use tollgate_core::signing::{self, Purpose};

/// How long a fulfillment webhook has to answer.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// The fulfiller: the purchases, and what it signs and sends with.
pub struct Fulfiller<S> {
    pub store: S,
    pub catalog: Catalog,
    pub clock: Arc<dyn Clock>,
    pub outbound: Arc<dyn Outbound>,
    /// Signs the POST (`Tollgate-Signature`), as workflow starts are.
    pub secret: WorkflowSecret,
    pub retry: RetryPolicy,
}

#[derive(Debug, Error)]
pub enum FulfillError {
    #[error("the fulfillment webhook did not take the purchase ({reason}); retrying in {retry_in} s")]
    NotTaken { reason: String, retry_in: u32 },
    #[error(transparent)]
    Purchases(#[from] PurchasesError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl<S: Purchases + QueueConsumer> Fulfiller<S> {
    /// Handles one delivery of the `fulfillment` queue; `Ok` means it may be forgotten.
    /// On `Err` the delivery has been delayed by a backoff; after the last attempt the
    /// purchase is marked `failed` and the message dead-lettered.
    #[tracing::instrument(level = "error", skip_all, fields(message_id = %delivery.message_id, account_id = tracing::field::Empty, purchase_id = tracing::field::Empty))]
    pub async fn fulfill(&self, delivery: &queue::Delivery) -> Result<(), FulfillError> {
        let Ok(message) = serde_json::from_str::<FulfillmentMessage>(&delivery.body) else {
            let reason = "undecodable fulfillment message";
            self.retry.settle(&self.store, delivery, Failure::Permanent, reason).await?;
            return Ok(());
        };
        let span = tracing::Span::current();
        span.record("account_id", tracing::field::display(&message.account_id))
            .record("purchase_id", tracing::field::display(&message.purchase_id));
        let store = &self.store;
        let Some(purchase) = store.purchase(&message.account_id, &message.purchase_id).await? else {
            tracing::error!(purchase_id = %message.purchase_id, "a queued purchase is not stored; dropped");
            return Ok(());
        };
        if purchase.revoked || purchase.delivery != Delivery::Pending {
            return Ok(());
        }
        let url = match self.catalog.by_sku(&purchase.sku).map(|item| &item.grant) {
            Some(Grant::Product { fulfillment_url: Some(url) }) => url.as_str().to_owned(),
            _ => {
                store.set_delivery(&purchase.account_id, &purchase.id, Delivery::NotNeeded).await?;
                return Ok(());
            }
        };
        let body = json!({
            "purchaseId": purchase.id,
            "accountId": purchase.account_id,
            "sku": purchase.sku,
            "quantity": purchase.quantity,
            "email": message.email,
        })
        .to_string()
        .into_bytes();
        let signature = signing::sign(self.secret.bytes(), Purpose::FulfillmentPost, self.clock.now(), &[&body]);
        let request = OutboundRequest {
            url,
            headers: vec![("content-type", "application/json".to_owned()), ("tollgate-signature", signature)],
            body,
            timeout: POST_TIMEOUT,
        };
        let reason = match self.outbound.post_reading(request).await {
            Ok(reply) if (200..300).contains(&reply.status) => {
                if let Some(url) = download_url(&reply.body) {
                    store.set_download_url(&purchase.account_id, &purchase.id, &url).await?;
                }
                store.set_delivery(&purchase.account_id, &purchase.id, Delivery::Delivered).await?;
                tracing::info!(purchase_id = %purchase.id, sku = %purchase.sku, "purchase fulfilled");
                return Ok(());
            }
            Ok(reply) => format!("it answered {}", reply.status),
            Err(error) => error.to_string(),
        };
        if delivery.receive_count >= self.retry.max_receives {
            tracing::error!(purchase_id = %purchase.id, %reason, "fulfillment failed on its last attempt");
            store.set_delivery(&purchase.account_id, &purchase.id, Delivery::Failed).await?;
        }
        let retry_in = match self.retry.settle(store, delivery, Failure::Transient, &reason).await? {
            Settled::RetryIn(seconds) => seconds,
            Settled::DeadLettered => 0,
        };
        Err(FulfillError::NotTaken { reason, retry_in })
    }
}

/// The longest download link kept.
const MAX_DOWNLOAD_URL: usize = 2_048;

/// The `download_url` a fulfillment webhook may answer with (`{"download_url": "https://…"}`),
/// when it is an `http(s)` link the account page can show; anything else is no link.
fn download_url(body: &[u8]) -> Option<String> {
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    let url = answer.get("download_url")?.as_str()?;
    let web = url.starts_with("https://") || url.starts_with("http://");
    let clean = url.len() <= MAX_DOWNLOAD_URL && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    (web && clean).then(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::download_url;

    #[test]
    fn only_a_web_link_is_kept_as_the_download_url() {
        let link = br#"{"download_url": "https://files.example.com/t.zip?sig=1"}"#;
        assert_eq!(download_url(link).as_deref(), Some("https://files.example.com/t.zip?sig=1"));
        assert_eq!(download_url(br#"{"download_url": "javascript:alert(1)"}"#), None);
        assert_eq!(download_url(br#"{"download_url": "https://a.example/x y"}"#), None);
        assert_eq!(download_url(br#"{"download_url": 7}"#), None);
        assert_eq!(download_url(b"accepted"), None, "an answer that is not JSON names no link");
        let long = format!(r#"{{"download_url": "https://a.example/{}"}}"#, "x".repeat(3_000));
        assert_eq!(download_url(long.as_bytes()), None);
    }
}
