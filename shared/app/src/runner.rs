//! The workflow runner: starts a queued run by POSTing to its workflow's webhook, and
//! never waits for the work itself (the workflow calls back).

use crate::orchestrator::{OrchestrateError, OrchestrationStore, Orchestrator, RunMessage};
use crate::ports::outbound::OutboundRequest;
use crate::ports::queue::Delivery;
use crate::redelivery::{Failure, Settled};
use std::time::Duration;
use thiserror::Error;
use tollgate_core::signing::{self, Purpose};
use tollgate_core::workflow::{Outcome, RunStatus, StartRequest};

/// A start to try again: the delivery is already delayed by the backoff.
#[derive(Debug, Error)]
pub enum RunnerError {
    #[error("the workflow did not accept the start ({reason}); retrying in {retry_in} s")]
    NotAccepted { reason: String, retry_in: u32 },
    #[error(transparent)]
    Orchestrate(#[from] OrchestrateError),
}

impl<S: OrchestrationStore> Orchestrator<S> {
    /// Handles one delivery of the `runs` queue; `Ok` means the queue may forget it (the
    /// run was accepted, has ended, or needs nothing more). On `Err` the delivery has been
    /// delayed by an exponential backoff with jitter; on its last receive the run is
    /// failed too, and the message goes to the dead-letter queue.
    #[tracing::instrument(level = "error", skip_all, fields(message_id = %delivery.message_id, run_id = tracing::field::Empty))]
    pub async fn start_run(&self, delivery: &Delivery) -> Result<(), RunnerError> {
        let Ok(message) = serde_json::from_str::<RunMessage>(&delivery.body) else {
            // Only the orchestrator writes to this queue: a bad message is a bug to look at, not retry.
            let (store, retry) = (&self.store, self.settings.retry);
            retry
                .settle(store, delivery, Failure::Permanent, "undecodable run message")
                .await
                .map_err(OrchestrateError::from)?;
            return Ok(());
        };
        tracing::Span::current().record("run_id", tracing::field::display(&message.run_id));
        let store = &self.store;
        let Some(run) = store.run(&message.run_id).await.map_err(OrchestrateError::from)? else {
            tracing::error!(run_id = %message.run_id, "a queued run is not stored; dropped");
            return Ok(());
        };
        if run.status != RunStatus::Queued {
            return Ok(());
        }
        let now = self.clock.now();
        if now >= run.deadline {
            self.end(&run.id, &Outcome::failed("the deadline passed before the workflow accepted the start", now))
                .await?;
            return Ok(());
        }
        let Some(workflow) = store.workflow(&run.workflow_id).await.map_err(OrchestrateError::from)? else {
            self.end(&run.id, &Outcome::failed("the workflow was removed", now)).await?;
            return Ok(());
        };
        let secret = self.settings.secret.bytes();
        let body = serde_json::to_vec(&StartRequest::new(&run, &self.settings.callback_base, secret))
            .expect("a start request always serialises");
        let left = Duration::from_secs(u64::try_from(run.deadline.seconds_since(now)).unwrap_or(0));
        let request = OutboundRequest {
            url: workflow.spec.webhook_url.as_str().to_owned(),
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("tollgate-signature", signing::sign(secret, Purpose::WorkflowStart, now, &[&body])),
            ],
            body,
            timeout: self.settings.start_timeout.min(left),
        };
        let reason = match self.outbound.post(request).await {
            Ok(status) if (200..300).contains(&status) => {
                store.mark_started(&run.id, now).await.map_err(OrchestrateError::from)?;
                tracing::info!(run_id = %run.id, workflow_id = %run.workflow_id, "run started");
                return Ok(());
            }
            Ok(status) => format!("the webhook answered {status}"),
            Err(error) => error.to_string(),
        };
        let retry = self.settings.retry;
        let reason = if delivery.receive_count >= retry.max_receives {
            let reason = format!("{reason}, on the last of {} attempts", retry.max_receives);
            self.end(&run.id, &Outcome::failed(reason.clone(), now)).await?;
            reason
        } else {
            reason
        };
        tracing::warn!(run_id = %run.id, attempt = delivery.receive_count, %reason, "start not accepted");
        let settled =
            retry.settle(store, delivery, Failure::Transient, &reason).await.map_err(OrchestrateError::from)?;
        let retry_in = match settled {
            Settled::RetryIn(seconds) => seconds,
            Settled::DeadLettered => 0,
        };
        Err(RunnerError::NotAccepted { reason, retry_in })
    }
}
