//! Workflow subscriptions after checkout: each instance runs its sold workflow on its
//! schedule with its subscriber's parameters, as a customer run (charged on the workflow's
//! meter under the subscriber's plan, in the customer pool, results delivered the same way).
//! Its state follows its Stripe subscription; the subscriber may pause it and change its
//! parameters.

use crate::input_schema::{InputRefusal, InputSchema};
use crate::orchestrator::OrchestrateError;
use crate::ports::workflow_subscriptions::WorkflowSubscriptionsError;
use crate::sales::{RunRequest, SaleError, Sales, SalesStore};
use serde_json::Value;
use std::sync::Arc;
use thiserror::Error;
use tollgate_core::catalog::Grant;
use tollgate_core::cron::Schedule;
use tollgate_core::ids::{AccountId, SubscriptionId};
use tollgate_core::instance::{Instance, InstanceStatus};
use tollgate_core::time::Timestamp;

/// The most due instances one tick starts.
const DUE_PAGE: usize = 100;

#[derive(Debug, Error)]
pub enum InstanceError {
    #[error("no such workflow subscription")]
    NotFound,
    #[error("params are invalid: {}", .0.reason)]
    InvalidParams(InputRefusal),
    #[error("the workflow subscription has ended")]
    Stopped,
    #[error("the workflow subscription changed meanwhile; read it again")]
    Changed,
    #[error(transparent)]
    Store(#[from] WorkflowSubscriptionsError),
    #[error(transparent)]
    Sale(#[from] SaleError),
}

impl From<OrchestrateError> for InstanceError {
    fn from(error: OrchestrateError) -> Self {
        InstanceError::Sale(error.into())
    }
}

/// An instance as its subscriber sees it.
#[derive(Debug, Clone)]
pub struct InstanceView {
    pub instance: Instance,
    pub status: InstanceStatus,
    pub schedule: Option<Schedule>,
}

/// What a subscriber changes.
#[derive(Debug, Clone, Default)]
pub struct InstanceChange {
    pub params: Option<Value>,
    pub paused: Option<bool>,
}

/// Workflow subscriptions' instances: run when due, read and changed by their subscribers.
pub struct Instances<S> {
    pub sales: Arc<Sales<S>>,
}

impl<S: SalesStore> Instances<S> {
    fn store(&self) -> &S {
        &self.sales.orchestrator.store
    }

    fn now(&self) -> Timestamp {
        self.sales.orchestrator.clock.now()
    }

    /// When the instance runs: its catalog entry's schedule, else its workflow's.
    async fn schedule(&self, instance: &Instance) -> Result<Option<Schedule>, InstanceError> {
        if let Some(Grant::WorkflowSubscription { schedule: Some(schedule), .. }) =
            self.sales.catalog.by_sku(&instance.sku).map(|item| &item.grant)
        {
            return Ok(Some(schedule.clone()));
        }
        let workflow = self.store().workflow(&instance.workflow_id).await.map_err(OrchestrateError::from)?;
        Ok(workflow.and_then(|workflow| workflow.spec.schedule))
    }

    /// Where the instance stands: its own flags, its Stripe subscription's status, and
    /// whether its subscriber may run its workflow (a premium one needs the membership).
    async fn status(&self, instance: &Instance) -> Result<InstanceStatus, InstanceError> {
        let subscriptions = self.store().subscriptions(&instance.account_id).await.map_err(OrchestrateError::from)?;
        let paid = subscriptions.iter().find(|subscription| subscription.id == instance.id).map(|s| &s.status);
        let offered = self.sales.offers(&instance.account_id).await?;
        let entitled = offered.iter().any(|offer| offer.workflow.spec.id == instance.workflow_id);
        Ok(instance.status(paid, entitled))
    }

    /// Runs every due instance once for its due time, and moves it to its next one. A paused
    /// instance skips the time; a stopped one is never due again. Each instance is moved in
    /// one write over the version read, so of two ticks only one starts it.
    #[tracing::instrument(level = "error", skip_all)]
    pub async fn run_due(&self) -> Result<usize, InstanceError> {
        let now = self.now();
        let mut started = 0;
        for instance in self.store().due_instances(now, DUE_PAGE).await? {
            let status = self.status(&instance).await?;
            let due_at = instance.next_run.unwrap_or(now);
            let next_run = self.schedule(&instance).await?.and_then(|schedule| schedule.next_after(now));
            let moved = match status {
                InstanceStatus::Stopped => Instance { stopped: true, next_run: None, ..instance.clone() },
                InstanceStatus::Paused => Instance { next_run, ..instance.clone() },
                InstanceStatus::Active => Instance { next_run, last_run_at: Some(now), ..instance.clone() },
            };
            if !self.store().update_instance(&moved, instance.version).await? {
                continue;
            }
            if status != InstanceStatus::Active {
                tracing::info!(instance = %instance.id, status = status.as_str(), "a due instance did not run");
                continue;
            }
            let request = RunRequest {
                input: instance.params.clone(),
                webhook_url: None,
                queue: true,
                idempotency_key: Some(format!("instance-{}-{}", instance.id, due_at.0)),
            };
            match self.sales.order(&instance.account_id, &instance.workflow_id, request).await {
                Ok(ordered) => {
                    started += 1;
                    let ran = Instance { last_run: Some(ordered.run.id.clone()), ..moved.clone() };
                    // Only its last run is recorded here; a change in between keeps its own.
                    self.store().update_instance(&ran, moved.version.saturating_add(1)).await?;
                    tracing::info!(instance = %instance.id, run_id = %ordered.run.id, "instance run asked for");
                }
                Err(error) => tracing::warn!(instance = %instance.id, %error, "an instance's run was refused"),
            }
        }
        Ok(started)
    }

    /// The account's instances, oldest first.
    pub async fn list(&self, account: &AccountId) -> Result<Vec<InstanceView>, InstanceError> {
        let mut views = Vec::new();
        for instance in self.store().account_instances(account).await? {
            views.push(self.view(instance).await?);
        }
        Ok(views)
    }

    async fn view(&self, instance: Instance) -> Result<InstanceView, InstanceError> {
        let status = self.status(&instance).await?;
        let schedule = self.schedule(&instance).await?;
        Ok(InstanceView { instance, status, schedule })
    }

    /// Changes the subscriber's parameters (checked against the entry's schema) or pauses or
    /// resumes it, without a new checkout. A resumed instance runs at its next scheduled time.
    pub async fn change(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
        change: InstanceChange,
    ) -> Result<InstanceView, InstanceError> {
        let instance = self.store().instance(account, id).await?.ok_or(InstanceError::NotFound)?;
        if self.status(&instance).await? == InstanceStatus::Stopped {
            return Err(InstanceError::Stopped);
        }
        let mut changed = instance.clone();
        if let Some(params) = change.params {
            let Some(Grant::WorkflowSubscription { params_schema, .. }) =
                self.sales.catalog.by_sku(&instance.sku).map(|item| &item.grant)
            else {
                return Err(InstanceError::NotFound);
            };
            let schema = InputSchema::compile(params_schema)
                .map_err(|reason| InstanceError::InvalidParams(InputRefusal { pointer: String::new(), reason }))?;
            if let Some(refusal) = schema.refusal(&params) {
                return Err(InstanceError::InvalidParams(refusal));
            }
            changed.params = params;
        }
        if let Some(paused) = change.paused {
            changed.paused = paused;
            if !paused && changed.next_run.is_none() {
                changed.next_run = self.schedule(&instance).await?.and_then(|schedule| schedule.next_after(self.now()));
            }
        }
        if !self.store().update_instance(&changed, instance.version).await? {
            return Err(InstanceError::Changed);
        }
        let stored = self.store().instance(account, id).await?.ok_or(InstanceError::NotFound)?;
        tracing::info!(instance = %id, paused = stored.paused, "workflow subscription changed by its subscriber");
        self.view(stored).await
    }
}
