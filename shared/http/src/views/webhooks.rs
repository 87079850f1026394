//! Answers to Stripe's deliveries and to a run's callback.

use serde::Serialize;
use tollgate_app::callback::CallbackAnswer;
use tollgate_app::ingest::Ingested;
use tollgate_app::ports::webhook_endpoints::WebhookEndpoint;
use utoipa::ToSchema;

/// A delivery accepted: recorded and queued.
#[derive(Serialize, ToSchema)]
pub struct StripeReceipt {
    pub received: bool,
    /// The event id.
    pub id: String,
    /// Already received before: nothing new was queued.
    pub duplicate: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CallbackView {
    pub run_id: String,
    /// The run's status after the callback.
    pub status: &'static str,
    /// `false` for a duplicate or late callback: nothing changed.
    pub applied: bool,
}

impl From<&Ingested> for StripeReceipt {
    fn from(ingested: &Ingested) -> Self {
        StripeReceipt { received: true, id: ingested.event_id.to_string(), duplicate: ingested.duplicate }
    }
}

impl From<&CallbackAnswer> for CallbackView {
    fn from(answer: &CallbackAnswer) -> Self {
        CallbackView { run_id: answer.run_id.to_string(), status: answer.status.as_str(), applied: answer.applied }
    }
}

/// An account's webhook endpoint, as set: its secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct NewWebhookEndpointView {
    pub url: String,
    /// `whsec_…`: verifies the `webhook-signature` of each delivery (Standard Webhooks).
    pub secret: String,
    /// Unix seconds it was set.
    pub created_at: i64,
}

/// An account's webhook endpoint.
#[derive(Serialize, ToSchema)]
pub struct WebhookEndpointView {
    pub url: String,
    /// Unix seconds it was set.
    pub created_at: i64,
}

impl From<&WebhookEndpoint> for NewWebhookEndpointView {
    fn from(endpoint: &WebhookEndpoint) -> Self {
        NewWebhookEndpointView {
            url: endpoint.url.clone(),
            secret: endpoint.secret.expose(),
            created_at: endpoint.created_at.0,
        }
    }
}

impl From<&WebhookEndpoint> for WebhookEndpointView {
    fn from(endpoint: &WebhookEndpoint) -> Self {
        WebhookEndpointView { url: endpoint.url.clone(), created_at: endpoint.created_at.0 }
    }
}
