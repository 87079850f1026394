use std::future::Future;
use tollgate_core::ids::AccountId;
use tollgate_core::standard_webhooks::EndpointSecret;
use tollgate_core::time::Timestamp;

crate::ports::error::port_error!(WebhookEndpointsError, "webhook endpoints");

/// Where an account's deliveries go, and the secret they are signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub url: String,
    pub secret: EndpointSecret,
    pub created_at: Timestamp,
}

/// Each account's one webhook endpoint.
pub trait WebhookEndpoints: Send + Sync {
    /// Sets the account's endpoint, replacing the one before (and so its secret).
    fn put_endpoint(
        &self,
        account: &AccountId,
        endpoint: &WebhookEndpoint,
    ) -> impl Future<Output = Result<(), WebhookEndpointsError>> + Send;
    fn endpoint(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<WebhookEndpoint>, WebhookEndpointsError>> + Send;
    /// Removes it; `false` when there was none.
    fn remove_endpoint(&self, account: &AccountId) -> impl Future<Output = Result<bool, WebhookEndpointsError>> + Send;
}
