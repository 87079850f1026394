//! Telling the operator: an alert is stored once, and posted to the alert webhook the
//! first time only. Every use case that raises alerts does it through [`Alerting`].

use crate::Clock;
use crate::ports::alerts::{Alerts, AlertsError};
use crate::ports::outbound::{Outbound, OutboundRequest};
use std::sync::Arc;
use std::time::Duration;
use tollgate_core::alert::{Alert, AlertKind, AlertState, InvalidTransition};
use tollgate_core::time::Timestamp;

/// How many of the newest alerts a cleared condition looks through for its own.
const CLEARED_LOOKBACK: usize = 100;

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
        self.post(&alert, format!(":rotating_light: tollgate: {}", alert.message)).await;
        Ok(())
    }

    /// Resolves every recent `kind` alert still open or acknowledged: its condition cleared,
    /// as `note` says.
    pub async fn resolve_cleared<S: Alerts>(
        &self,
        store: &S,
        kind: AlertKind,
        note: &str,
        now: Timestamp,
    ) -> Result<(), AlertsError> {
        for alert in store.alerts(CLEARED_LOOKBACK).await? {
            if alert.kind == kind {
                self.resolve_as_cleared(store, &alert, note, now).await?;
            }
        }
        Ok(())
    }

    /// Resolves the alert `id`, if it is still open or acknowledged: its condition cleared.
    pub async fn resolve_cleared_id<S: Alerts>(
        &self,
        store: &S,
        id: &str,
        note: &str,
        now: Timestamp,
    ) -> Result<(), AlertsError> {
        match store.alert(id).await? {
            Some(alert) => self.resolve_as_cleared(store, &alert, note, now).await,
            None => Ok(()),
        }
    }

    /// Resolves `alert` as it was read, and posts it; one resolved already stays as it is.
    async fn resolve_as_cleared<S: Alerts>(
        &self,
        store: &S,
        alert: &Alert,
        note: &str,
        now: Timestamp,
    ) -> Result<(), AlertsError> {
        let Ok(resolved) = alert.moved(AlertState::Resolved, Some(note.to_owned()), now) else { return Ok(()) };
        if resolved != *alert && store.change_state(alert, &resolved).await? {
            tracing::info!(alert_id = %resolved.id, "alert resolved: its condition cleared");
            self.post(&resolved, format!(":white_check_mark: tollgate: resolved, {note}: {}", resolved.message)).await;
        }
        Ok(())
    }

    /// Posts `alert` with `text` to the webhook, when one is set. The alert is stored and
    /// listed either way; a lost post is logged, not retried.
    async fn post(&self, alert: &Alert, text: String) {
        let Some(url) = &self.webhook else { return };
        let body = serde_json::json!({
            "text": text,
            "alert": {
                "id": alert.id,
                "kind": alert.kind.as_str(),
                "account_id": alert.account_id.as_ref().map(|id| id.as_str()),
                "subject": alert.subject,
                "workflow_id": alert.workflow_id.as_ref().map(|id| id.as_str()),
                "message": alert.message,
                "created_at": alert.created_at.0,
                "state": alert.status.state.as_str(),
                "note": alert.status.note,
            },
        });
        let request = OutboundRequest {
            url: url.clone(),
            headers: vec![("content-type", "application/json".to_owned())],
            body: serde_json::to_vec(&body).expect("an alert always serialises"),
            timeout: Duration::from_secs(5),
        };
        match self.outbound.post(request).await {
            Ok(status) if (200..300).contains(&status) => {}
            Ok(status) => tracing::error!(alert_id = %alert.id, status, "the alert webhook refused an alert"),
            Err(error) => tracing::error!(alert_id = %alert.id, %error, "the alert webhook could not be reached"),
        }
    }
}

/// Why an alert's state was not changed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("no such alert")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] InvalidTransition),
    #[error(transparent)]
    Alerts(#[from] AlertsError),
}

/// The operator's hand on alerts: acknowledging and resolving them.
pub struct AlertDesk<S> {
    pub store: S,
    pub alerting: Alerting,
    pub clock: Arc<dyn Clock>,
}

/// Tries at a change of state while other changes of the same alert land.
const CHANGE_ATTEMPTS: usize = 5;

impl<S: Alerts> AlertDesk<S> {
    /// Moves the alert `id` to `to` with `note`, and posts the change to the webhook. Asking
    /// for the state it is in changes nothing and posts nothing.
    pub async fn change(&self, id: &str, to: AlertState, note: Option<String>) -> Result<Alert, ChangeError> {
        for _ in 0..CHANGE_ATTEMPTS {
            let before = self.store.alert(id).await?.ok_or(ChangeError::NotFound)?;
            let after = before.moved(to, note.clone(), self.clock.now())?;
            if after == before {
                return Ok(after);
            }
            if self.store.change_state(&before, &after).await? {
                tracing::info!(alert_id = %after.id, state = to.as_str(), "alert state changed");
                let text = format!(":memo: tollgate: {} ({})", after.message, to.as_str());
                self.alerting.post(&after, text).await;
                return Ok(after);
            }
        }
        Err(ChangeError::Alerts(AlertsError(crate::ports::error::PortError::new(
            crate::ports::error::ErrorKind::Conflict,
            format!("alert {id} kept changing; try again"),
        ))))
    }
}
