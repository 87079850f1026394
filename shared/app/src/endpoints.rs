//! An account's webhook endpoint: where its deliveries (run results, usage thresholds, a
//! low balance) go, signed as Standard Webhooks with the endpoint's own secret. The secret
//! is made here and shown once, when the endpoint is set; setting it again makes a new one.

use crate::Clock;
use crate::ports::resolve::{Resolve, ResolveError};
use crate::ports::webhook_endpoints::{WebhookEndpoint, WebhookEndpoints, WebhookEndpointsError};
use std::sync::Arc;
use thiserror::Error;
use tollgate_core::ids::AccountId;
use tollgate_core::standard_webhooks::{EndpointSecret, EndpointUrl, InvalidEndpoint, SECRET_BYTES, is_public};

#[derive(Debug, Error)]
pub enum EndpointError {
    /// The URL cannot take deliveries (`400 invalid_webhook_url`).
    #[error("url {0}")]
    Invalid(#[from] InvalidEndpoint),
    /// Its host resolves to an address deliveries must never reach.
    #[error("url resolves to {0}, a loopback, private or link-local address")]
    NotPublic(std::net::IpAddr),
    #[error("url's host does not resolve: {0}")]
    Unresolved(#[source] ResolveError),
    #[error(transparent)]
    Store(#[from] WebhookEndpointsError),
}

/// The endpoints of accounts, and what a URL must be.
pub struct Endpoints<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
    pub resolver: Arc<dyn Resolve>,
    /// Plain `http://` to loopback allowed, and no name resolution (`tollgate dev`).
    pub local: bool,
}

impl<S: WebhookEndpoints> Endpoints<S> {
    /// Sets `account`'s endpoint to `url` with a new secret: the endpoint, secret included,
    /// for the owner to see once.
    pub async fn set(&self, account: &AccountId, url: &str) -> Result<WebhookEndpoint, EndpointError> {
        let url = self.deliverable(url).await?;
        let endpoint = WebhookEndpoint {
            url: url.as_str().to_owned(),
            secret: EndpointSecret::from_bytes(rand::random::<[u8; SECRET_BYTES]>()),
            created_at: self.clock.now(),
        };
        self.store.put_endpoint(account, &endpoint).await?;
        tracing::info!(account_id = %account, "webhook endpoint set");
        Ok(endpoint)
    }

    /// `url` if deliveries may go there: `https` (plain `http` to loopback only locally), and
    /// in the cloud resolving to public addresses only.
    pub async fn deliverable(&self, url: &str) -> Result<EndpointUrl, EndpointError> {
        let url = EndpointUrl::parse(url, self.local)?;
        if !self.local {
            let (host, port) = url.host_and_port();
            let addresses = self.resolver.resolve(host, port).await.map_err(EndpointError::Unresolved)?;
            if let Some(private) = addresses.into_iter().find(|&ip| !is_public(ip)) {
                return Err(EndpointError::NotPublic(private));
            }
        }
        Ok(url)
    }

    pub async fn get(&self, account: &AccountId) -> Result<Option<WebhookEndpoint>, EndpointError> {
        Ok(self.store.endpoint(account).await?)
    }

    /// Removes it; `false` when there was none.
    pub async fn remove(&self, account: &AccountId) -> Result<bool, EndpointError> {
        Ok(self.store.remove_endpoint(account).await?)
    }
}
