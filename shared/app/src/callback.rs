//! Workflow callbacks: a run reports how it ended, once.

use crate::orchestrator::{OrchestrateError, OrchestrationStore, Orchestrator};
use tollgate_core::ids::RunId;
use tollgate_core::workflow::{Callback, Outcome, RunStatus, token_opens};

/// The answer to a callback.
#[derive(Debug)]
pub struct CallbackAnswer {
    pub run_id: RunId,
    /// The run's status after the callback.
    pub status: RunStatus,
    /// `false` for a duplicate or late callback: nothing changed.
    pub applied: bool,
}

impl<S: OrchestrationStore> Orchestrator<S> {
    /// Ends a run as its workflow reports. The token is checked before anything is read,
    /// so a caller without it learns nothing, not even whether the run exists.
    #[tracing::instrument(level = "error", skip_all, fields(run_id = %run_id))]
    pub async fn callback(
        &self,
        run_id: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> Result<CallbackAnswer, OrchestrateError> {
        let run_id = RunId::parse(run_id).map_err(|_| OrchestrateError::InvalidToken)?;
        if !token.is_some_and(|token| token_opens(self.settings.secret.bytes(), &run_id, token)) {
            return Err(OrchestrateError::InvalidToken);
        }
        let callback = Callback::parse(body, self.settings.run_earnings_max_cents)
            .map_err(|error| OrchestrateError::Invalid { field: error.field, reason: error.reason.to_owned() })?;
        let run = self.store.run(&run_id).await?.ok_or(OrchestrateError::NotFound("run"))?;
        if run.workflow_id != callback.workflow_id {
            return Err(OrchestrateError::Invalid { field: "workflowId", reason: "is not this run's workflow".into() });
        }
        let now = self.clock.now();
        if run.customer.is_some()
            && let Some((_, size)) = &callback.output
        {
            let max = self
                .store
                .workflow(&run.workflow_id)
                .await?
                .and_then(|workflow| workflow.spec.sell)
                .map_or(tollgate_core::workflow::DEFAULT_MAX_OUTPUT_BYTES, |sell| sell.max_output_bytes);
            if *size > max as usize {
                let reason = format!("output_too_large: {size} bytes, more than the {max} allowed");
                self.end(&run_id, &Outcome::failed(reason, now)).await?;
                return Err(OrchestrateError::OutputTooLarge { size: *size, max });
            }
        }
        // Late: the result no longer counts, whether or not the sweep has failed the run yet.
        let late = now > run.deadline;
        let outcome = if late { Outcome::failed("no result by the deadline", now) } else { callback.outcome(now) };
        let ended = self.end(&run_id, &outcome).await?;
        let applied = ended.is_some() && !late;
        let status = match ended {
            Some(run) => run.status,
            None => self.store.run(&run_id).await?.map_or(outcome.status, |run| run.status),
        };
        if !applied {
            tracing::info!(run_id = %run_id, late, "callback changed nothing");
        }
        Ok(CallbackAnswer { run_id, status, applied })
    }
}
