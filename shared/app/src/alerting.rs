//! Telling the operator: an alert is stored once, and posted to the alert webhook the
//! first time only. Every use case that raises alerts does it through [`Alerting`].

use crate::ports::alerts::{Alerts, AlertsError};
use crate::ports::outbound::{Outbound, OutboundRequest};
use std::sync::Arc;
use std::time::Duration;
use tollgate_core::alert::Alert;

/// Where alerts go besides the alerts table: `ALERT_WEBHOOK_URL`, when set.
#[derive(Clone)]
pub struct Alerting {
    pub outbound: Arc<dyn Outbound>,
    pub webhook: Option<String>,
}

impl Alerting {
    /// Stores `alert` and, when its incident is new, posts it to the webhook (Slack-compatible).
    pub async fn raise<S: Alerts>(&self, store: &S, alert: Alert) -> Result<(), AlertsError> {
        if !store.raise(&alert).await? {
            return Ok(());
        }
        tracing::warn!(alert_id = %alert.id, kind = alert.kind.as_str(), message = %alert.message, "alert raised");
        if let Some(url) = &self.webhook {
            let body = serde_json::json!({
                "text": format!(":rotating_light: tollgate: {}", alert.message),
                "alert": {
                    "id": alert.id,
                    "kind": alert.kind.as_str(),
                    "account_id": alert.account_id.as_ref().map(|id| id.as_str()),
                    "subject": alert.subject,
                    "workflow_id": alert.workflow_id.as_ref().map(|id| id.as_str()),
                    "message": alert.message,
                    "created_at": alert.created_at.0,
                },
            });
            let request = OutboundRequest {
                url: url.clone(),
                headers: vec![("content-type", "application/json".to_owned())],
                body: serde_json::to_vec(&body).expect("an alert always serialises"),
                timeout: Duration::from_secs(5),
            };
            // The alert is stored and listed either way; a lost post is logged, not retried.
            match self.outbound.post(request).await {
                Ok(status) if (200..300).contains(&status) => {}
                Ok(status) => tracing::error!(alert_id = %alert.id, status, "the alert webhook refused an alert"),
                Err(error) => tracing::error!(alert_id = %alert.id, %error, "the alert webhook could not be reached"),
            }
        }
        Ok(())
    }
}
