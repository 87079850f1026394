//! Workflows sold as APIs: what an account may run, asking for a run (checked against the
//! workflow's input schema and the account's entitlement, charged on its meter in the same
//! write that stores it), waiting for it, reading and cancelling runs. The gateway rule of
//! the briefs holds: a run request validates, charges and queues; the work is the
//! workflow's, started from the customer pool (`Orchestrator::hand_out_slots`).

use crate::endpoints::{EndpointError, Endpoints};
use crate::input_schema::{CompiledSchemas, InputRefusal};
use crate::orchestrator::{OrchestrateError, OrchestrationStore, Orchestrator, new_run_id};
use crate::ports::customer_runs::{Cancelled, Enqueued, NewRun, PastQuota, RunFilter};
use crate::ports::purchases::Purchases;
use crate::ports::usage::{Usage, UsageError};
use crate::ports::workflow_subscriptions::WorkflowSubscriptions;
use crate::premium::is_premium;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tollgate_core::account::Subscription;
use tollgate_core::catalog::Catalog;
use tollgate_core::customer_run::{Charged, IDEMPOTENCY_SECONDS, MAX_IDEMPOTENCY_KEY, MAX_WAIT_SECONDS, Order};
use tollgate_core::delivery::Delivery;
use tollgate_core::entitlements::{Entitlements, membership_opening};
use tollgate_core::ids::{AccountId, RunId, Sku, WorkflowId};
use tollgate_core::meters::{MeterName, Overage};
use tollgate_core::money::Micros;
use tollgate_core::quota::window;
use tollgate_core::time::{BusinessZone, Timestamp};
use tollgate_core::usage::plan_terms;
use tollgate_core::workflow::{Access, Run, Workflow};

/// How often a waiting request looks at its run again.
const WAIT_POLL: Duration = Duration::from_millis(50);
/// The most runs one page lists.
pub const MAX_PAGE: usize = 100;

/// What the stores behind sales hold.
pub trait SalesStore: OrchestrationStore + Purchases + Usage + WorkflowSubscriptions {}

impl<S: OrchestrationStore + Purchases + Usage + WorkflowSubscriptions> SalesStore for S {}

/// The customer API's use cases.
pub struct Sales<S> {
    pub orchestrator: Arc<Orchestrator<S>>,
    pub catalog: Catalog,
    pub zone: BusinessZone,
    /// What a run's own `webhook_url` must be, and the account's signing secret.
    pub endpoints: Arc<Endpoints<S>>,
    pub schemas: CompiledSchemas,
}

/// A workflow an account may run.
#[derive(Debug, Clone)]
pub struct Offer {
    pub workflow: Workflow,
}

/// A run asked for.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub input: Value,
    pub webhook_url: Option<String>,
    /// `false`: refuse rather than wait when the account has its plan's runs in flight.
    pub queue: bool,
    pub idempotency_key: Option<String>,
}

/// A run, and whether it was made by an earlier request with the same `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct Ordered {
    pub run: Run,
    pub replayed: bool,
}

#[derive(Debug, Error)]
pub enum SaleError {
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{}", .0.reason)]
    InvalidInput(InputRefusal),
    #[error("{field} {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("webhook_url {0}")]
    WebhookUrl(String),
    /// For a premium workflow, names the membership that would open it.
    #[error("this account's plan does not include this workflow")]
    NotEntitled { membership: Option<Sku> },
    #[error("the {meter} quota of {quota} is used up")]
    QuotaExceeded { meter: MeterName, quota: u64 },
    #[error("the balance ({} micro-units left) cannot pay for this run", .left.0)]
    InsufficientBalance { left: Micros },
    #[error("the account already has its plan's {0} runs in flight")]
    ConcurrencyLimit(u32),
    #[error("this Idempotency-Key was used for a run of another workflow")]
    IdempotencyKeyReused,
    #[error("the run is {} and no longer queued", .0.status.as_str())]
    NotQueued(Box<Run>),
    #[error(transparent)]
    Orchestrate(#[from] OrchestrateError),
    #[error(transparent)]
    Usage(#[from] UsageError),
}

impl<S: SalesStore> Sales<S> {
    fn store(&self) -> &S {
        &self.orchestrator.store
    }

    fn now(&self) -> Timestamp {
        self.orchestrator.clock.now()
    }

    /// Whether the workflow's meter is one only runs count: declared, and charged by no route
    /// (a meter the edge counts too would have two authorities).
    fn sellable(&self, workflow: &Workflow) -> bool {
        let Some(sell) = &workflow.spec.sell else { return false };
        let declared = self.catalog.meter(&sell.meter).is_some();
        let routed = self.catalog.routes().iter().any(|route| route.meter == sell.meter)
            || sell.meter.as_str() == tollgate_core::meters::REQUESTS;
        if !declared || routed {
            tracing::warn!(workflow_id = %workflow.spec.id, meter = %sell.meter, "a sold workflow's meter is undeclared or charged by a route: not offered");
        }
        declared && !routed && workflow.spec.enabled
    }

    /// The sold workflows `account` may run, by id.
    pub async fn offers(&self, account: &AccountId) -> Result<Vec<Offer>, SaleError> {
        let workflows = self.store().workflows().await.map_err(OrchestrateError::from)?;
        let subscriptions = self.store().subscriptions(account).await.map_err(OrchestrateError::from)?;
        let (entitled, _) = self.entitled_to(account, &subscriptions, &workflows).await?;
        Ok(workflows
            .into_iter()
            .filter(|workflow| self.sellable(workflow) && entitled(workflow))
            .map(|workflow| Offer { workflow })
            .collect())
    }

    /// Which of `workflows` an account with `subscriptions` may run: its plan and memberships
    /// (with the premium workflows the member chose), and what it holds.
    async fn entitled_to(
        &self,
        account: &AccountId,
        subscriptions: &[Subscription],
        workflows: &[Workflow],
    ) -> Result<(impl Fn(&Workflow) -> bool + use<S>, Entitlements), SaleError> {
        let plan = plan_terms(&self.catalog, subscriptions, self.now(), self.zone).sku;
        let opened = crate::premium::opened(self.store(), &self.catalog, account, subscriptions, workflows)
            .await
            .map_err(OrchestrateError::from)?;
        let held = opened.clone();
        let entitled = move |workflow: &Workflow| {
            let Some(sell) = &workflow.spec.sell else { return false };
            let premium_open = || opened.all_premium_workflows || opened.premium_workflows.contains(&workflow.spec.id);
            match sell.access {
                Access::Public => !workflow.spec.premium || premium_open(),
                Access::Premium => premium_open(),
                Access::Plans => sell.plans.contains(&plan),
            }
        };
        Ok((entitled, held))
    }

    /// Asks for a run of `workflow_id` for `account`: checked, charged and queued, or refused
    /// with nothing charged. A repeated `Idempotency-Key` within a day answers the first run.
    #[tracing::instrument(level = "error", skip_all, fields(account_id = %account, workflow_id = %workflow_id))]
    pub async fn order(
        &self,
        account: &AccountId,
        workflow_id: &WorkflowId,
        request: RunRequest,
    ) -> Result<Ordered, SaleError> {
        if let Some(key) = &request.idempotency_key
            && (key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !key.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(SaleError::Invalid {
                field: "Idempotency-Key",
                reason: format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
            });
        }
        let webhook_url = match &request.webhook_url {
            Some(url) => {
                let url = self.endpoints.deliverable(url).await.map_err(|error| match error {
                    EndpointError::Store(error) => SaleError::Orchestrate(OrchestrateError::WebhookEndpoints(error)),
                    refused => SaleError::WebhookUrl(refused.to_string()),
                })?;
                // Deliveries are signed with the account's endpoint secret: there must be one.
                if self.store().endpoint(account).await.map_err(OrchestrateError::from)?.is_none() {
                    return Err(SaleError::WebhookUrl(
                        "needs a signing secret: set the account's endpoint first (PUT /api/me/webhook-endpoint)"
                            .into(),
                    ));
                }
                Some(url.as_str().to_owned())
            }
            None => None,
        };
        let workflow = self.store().workflow(workflow_id).await.map_err(OrchestrateError::from)?;
        let Some(workflow) = workflow.filter(|workflow| self.sellable(workflow)) else {
            return Err(SaleError::NotFound("workflow"));
        };
        let subscriptions = self.store().subscriptions(account).await.map_err(OrchestrateError::from)?;
        // A membership opens premium workflows by their rank among all of them: only a premium
        // one needs them all read.
        let ranked = if is_premium(&workflow) {
            self.store().workflows().await.map_err(OrchestrateError::from)?
        } else {
            vec![workflow.clone()]
        };
        let (entitled, held) = self.entitled_to(account, &subscriptions, &ranked).await?;
        if !entitled(&workflow) {
            let membership = if is_premium(&workflow) { membership_opening(&self.catalog, &held) } else { None };
            return Err(SaleError::NotEntitled { membership });
        }
        let sell = workflow.spec.sell.clone().expect("sellable workflows are sold");
        let schema = self
            .schemas
            .of(&workflow, &sell.input_schema)
            .map_err(|reason| SaleError::Invalid { field: "input", reason })?;
        if let Some(refusal) = schema.refusal(&request.input) {
            return Err(SaleError::InvalidInput(refusal));
        }
        let now = self.now();
        let terms = plan_terms(&self.catalog, &subscriptions, now, self.zone);
        let limit = terms.plan.on(&sell.meter).clone();
        let past_quota = match &limit.overage {
            Overage::Block => PastQuota::Refused,
            Overage::Bill(_) => PastQuota::Billed,
            Overage::Balance(price) => {
                let (granted, _) = crate::keys::balance(self.store(), &self.catalog, account).await?;
                PastQuota::Balance { price: price.micros, granted }
            }
        };
        let order = Order {
            account_id: account.clone(),
            input: request.input,
            webhook_url,
            charged: Charged {
                meter: sell.meter.clone(),
                units: sell.cost.get(),
                when: sell.charge,
                window_start: window(limit.per, self.zone, terms.period, now).start,
                overage: 0,
                paid: Micros(0),
                returned: false,
            },
            concurrent_runs: terms.plan.concurrent_runs,
            idempotency_key: request.idempotency_key,
        };
        let new = NewRun {
            run: Run::ordered(new_run_id(), &workflow, order, now),
            quota: limit.quota,
            past_quota,
            refuse_when_busy: !request.queue,
            idempotent_until: now.plus_seconds(IDEMPOTENCY_SECONDS),
        };
        let ordered = match self.store().enqueue(&new, now).await.map_err(OrchestrateError::from)? {
            Enqueued::Accepted(run) => Ordered { run, replayed: false },
            Enqueued::Replayed(run) if run.workflow_id == *workflow_id => return Ok(Ordered { run, replayed: true }),
            Enqueued::Replayed(_) => return Err(SaleError::IdempotencyKeyReused),
            Enqueued::QuotaExceeded { quota } => return Err(SaleError::QuotaExceeded { meter: sell.meter, quota }),
            Enqueued::InsufficientBalance { left } => return Err(SaleError::InsufficientBalance { left }),
            Enqueued::ConcurrencyLimit => return Err(SaleError::ConcurrencyLimit(terms.plan.concurrent_runs)),
        };
        tracing::info!(run_id = %ordered.run.id, "customer run queued");
        // Should handing out fail, the next tick hands the slot out.
        if let Err(error) = self.orchestrator.hand_out_slots().await {
            tracing::warn!(%error, "slots could not be handed out now; the next tick will");
        }
        Ok(ordered)
    }

    /// The account's endpoint URL, if set, and its deliveries, newest first.
    pub async fn deliveries(
        &self,
        account: &AccountId,
        limit: usize,
    ) -> Result<(Option<String>, Vec<Delivery>), SaleError> {
        let endpoint = self.store().endpoint(account).await.map_err(OrchestrateError::from)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let deliveries = self.store().account_deliveries(account, limit).await.map_err(OrchestrateError::from)?;
        Ok((endpoint.map(|endpoint| endpoint.url), deliveries))
    }

    /// Tries one of the account's deliveries again now, with its whole schedule of retries ahead.
    pub async fn retry_delivery(&self, account: &AccountId, id: &str) -> Result<Delivery, SaleError> {
        let store = self.store();
        let delivery = store.delivery(account, id).await.map_err(OrchestrateError::from)?;
        let delivery = delivery.ok_or(SaleError::NotFound("delivery"))?;
        let retried = delivery.retried(self.now());
        if store.update_delivery(&retried, delivery.attempts).await.map_err(OrchestrateError::from)? {
            self.orchestrator.send(&retried).await?;
        }
        let sent = store.delivery(account, id).await.map_err(OrchestrateError::from)?;
        sent.ok_or(SaleError::NotFound("delivery"))
    }

    /// The account's run.
    pub async fn run(&self, account: &AccountId, id: &RunId) -> Result<Run, SaleError> {
        let run = self.store().run(id).await.map_err(OrchestrateError::from)?;
        run.filter(|run| run.account() == Some(account)).ok_or(SaleError::NotFound("run"))
    }

    /// The run once it has ended, or as it is after `seconds` (at most [`MAX_WAIT_SECONDS`]).
    pub async fn wait(&self, account: &AccountId, id: &RunId, seconds: u32) -> Result<Run, SaleError> {
        let until = tokio::time::Instant::now() + Duration::from_secs(u64::from(seconds.min(MAX_WAIT_SECONDS)));
        loop {
            let run = self.run(account, id).await?;
            if !run.status.is_open() || tokio::time::Instant::now() >= until {
                return Ok(run);
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }

    /// The account's runs, newest first.
    pub async fn runs(&self, account: &AccountId, filter: RunFilter) -> Result<Vec<Run>, SaleError> {
        let filter = RunFilter { limit: filter.limit.clamp(1, MAX_PAGE), ..filter };
        Ok(self.store().account_runs(account, &filter).await.map_err(OrchestrateError::from)?)
    }

    /// Cancels a queued run; its charge is given back as its terms say.
    pub async fn cancel(&self, account: &AccountId, id: &RunId) -> Result<Run, SaleError> {
        match self.store().cancel(account, id, self.now()).await.map_err(OrchestrateError::from)? {
            Cancelled::Done(run) => {
                tracing::info!(run_id = %run.id, "customer run cancelled");
                // A run cancelled before its start was posted held a slot: the next may take it.
                if let Err(error) = self.orchestrator.hand_out_slots().await {
                    tracing::warn!(%error, "slots could not be handed out now; the next tick will");
                }
                Ok(run)
            }
            Cancelled::TooLate(run) => Err(SaleError::NotQueued(Box::new(run))),
            Cancelled::Unknown => Err(SaleError::NotFound("run")),
        }
    }
}
