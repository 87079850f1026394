//! Scheduled orchestration: registering workflows, the tick that starts due ones
//! under the caps, and the alerts about them.
//!
//! Every start goes through one atomic claim (the workflow, a slot of the day, a slot
//! of the concurrency cap), so overlapping ticks, a start by hand and a retried tick
//! can never start more than the caps allow nor one workflow twice at a time.

use crate::Clock;
use crate::alerting::Alerting;
use crate::ports::accounts::{Accounts, AccountsError};
use crate::ports::alerts::{Alerts, AlertsError};
use crate::ports::customer_runs::{CustomerRuns, CustomerRunsError};
use crate::ports::ledger::{Ledger, LedgerError};
use crate::ports::outbound::Outbound;
use crate::ports::premium_choices::{PremiumChoices, PremiumChoicesError};
use crate::ports::queue::{Queue, QueueConsumer, QueueError, QueueName};
use crate::ports::run_metrics::RunMetrics;
use crate::ports::runs::{Claim, ClaimGuard, Claimed, Finished, Runs, RunsError};
use crate::ports::webhook_deliveries::{WebhookDeliveries, WebhookDeliveriesError};
use crate::ports::webhook_endpoints::{WebhookEndpoints, WebhookEndpointsError};
use crate::ports::workflows::{Workflows, WorkflowsError};
use crate::redelivery::RetryPolicy;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tollgate_core::account::SubscriptionKind;
use tollgate_core::alert::{self, Alert, AlertKind};
use tollgate_core::customer_run::RunOverage;
use tollgate_core::ids::{RunId, WorkflowId};
use tollgate_core::time::{BusinessZone, Timestamp};
use tollgate_core::workflow::{Caps, Outcome, Run, RunStatus, Workflow, WorkflowSpec, next_run};

/// Due workflows read per tick. The caps stop a tick long before: the rest wait for the next.
const DUE_PAGE: usize = 25;
/// Overdue runs failed per tick; at most the concurrency cap are ever open.
const OVERDUE_PAGE: usize = 100;
const DAY_SECONDS: i64 = 86_400;

/// The key that signs starts and makes callback tokens (`WORKFLOW_SECRET`). Never shown.
#[derive(Clone)]
pub struct WorkflowSecret(Vec<u8>);

impl WorkflowSecret {
    /// `None` for an empty value: an empty key would make every token guessable.
    pub fn new(value: &str) -> Option<Self> {
        (!value.trim().is_empty()).then(|| Self(value.trim().as_bytes().to_vec()))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WorkflowSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkflowSecret(***)")
    }
}

/// Orchestration's settings, read once at start (`tollgate-settings`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub caps: Caps,
    /// Public base URL of `webhook-ingest`, where workflows call back.
    pub callback_base: String,
    pub secret: WorkflowSecret,
    /// How long a workflow's webhook has to accept a start (it reports back later).
    pub start_timeout: Duration,
    /// How starts are retried.
    pub retry: RetryPolicy,
    /// The most one run may report earning, in US cents (`RUN_EARNINGS_MAX`, in dollars).
    pub run_earnings_max_cents: i64,
    /// Where the daily cap's and the revenue's days start (`BUSINESS_TIMEZONE`).
    pub zone: BusinessZone,
    /// When a day's revenue is alerted on.
    pub revenue_alerts: RevenueAlerts,
    /// Slots of the customer pool, all accounts together (`CUSTOMER_RUN_CONCURRENCY`).
    pub customer_pool: u32,
}

/// `LOW_REVENUE_CENTS` and `REVENUE_DROP_PERCENT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevenueAlerts {
    /// A business day under this many cents, all revenue, is `low_revenue`.
    pub low_cents: i64,
    /// A business day under this share of the week before's daily average is `revenue_drop`.
    pub drop_percent: u8,
}

impl Default for RevenueAlerts {
    fn default() -> Self {
        Self { low_cents: alert::LOW_REVENUE_CENTS, drop_percent: alert::REVENUE_DROP_PERCENT }
    }
}

/// Retries of a start wait 15–30 s, then 30–60 s, 60–120 s…: a workflow host that is
/// restarting gets minutes, not a burst.
pub const DEFAULT_RETRY_BASE_SECONDS: u32 = 30;
pub const DEFAULT_RETRY_CAP_SECONDS: u32 = 600;
pub const DEFAULT_START_TIMEOUT_SECONDS: u64 = 10;

impl Settings {
    /// The defaults, with the given secret and callback address: for tests and benchmarks
    /// (a deployment reads its settings through `tollgate-settings`).
    pub fn defaults(secret: WorkflowSecret, callback_base: String) -> Self {
        Self {
            caps: Caps::default(),
            callback_base,
            secret,
            start_timeout: Duration::from_secs(DEFAULT_START_TIMEOUT_SECONDS),
            retry: RetryPolicy {
                base_seconds: DEFAULT_RETRY_BASE_SECONDS,
                cap_seconds: DEFAULT_RETRY_CAP_SECONDS,
                max_receives: crate::DEFAULT_MAX_RECEIVES,
            },
            run_earnings_max_cents: tollgate_core::workflow::DEFAULT_RUN_EARNINGS_MAX_CENTS,
            zone: BusinessZone::UTC,
            revenue_alerts: RevenueAlerts::default(),
            customer_pool: tollgate_core::customer_run::DEFAULT_CUSTOMER_RUN_CONCURRENCY,
        }
    }
}

/// The ports orchestration reads and writes.
pub trait OrchestrationStore:
    Workflows
    + Runs
    + CustomerRuns
    + Alerts
    + Queue
    + QueueConsumer
    + Ledger
    + Accounts
    + WebhookEndpoints
    + WebhookDeliveries
    + PremiumChoices
{
}

impl<S> OrchestrationStore for S where
    S: Workflows
        + Runs
        + CustomerRuns
        + Alerts
        + Queue
        + QueueConsumer
        + Ledger
        + Accounts
        + WebhookEndpoints
        + WebhookDeliveries
        + PremiumChoices
{
}

/// Paid workflows: their registration, the scheduled tick, starting queued runs
/// (`runner.rs`) and their callbacks (`callback.rs`).
pub struct Orchestrator<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// Workflow starts: to webhooks the operator registered, on any network.
    pub outbound: Arc<dyn Outbound>,
    /// Customers' webhook deliveries: in the cloud, to public addresses only.
    pub deliveries: Arc<dyn Outbound>,
    pub metrics: Arc<dyn RunMetrics>,
    pub alerting: Alerting,
    /// When this instance last checked the revenue: a tick a minute need not read eight
    /// days of totals each time.
    pub revenue_checked: RevenueChecked,
}

/// Seconds between two revenue checks of one orchestrator within a business day: a late
/// payment or refund of yesterday is still seen within the hour, and a tick a minute reads
/// the week once an hour, not sixty times. A new day is checked at its first tick.
const REVENUE_CHECK_SECONDS: i64 = 3_600;

/// When the revenue was last checked, if it was; `Default` has never checked.
#[derive(Debug, Default)]
pub struct RevenueChecked(std::sync::Mutex<Option<Timestamp>>);

impl RevenueChecked {
    /// Whether a check is due at `now`, days starting in `zone`.
    fn due(&self, now: Timestamp, zone: BusinessZone) -> bool {
        let last = *self.0.lock().expect("never poisoned: nothing panics while it is held");
        last.is_none_or(|last| {
            now.seconds_since(last) >= REVENUE_CHECK_SECONDS || now < last || zone.day(now) != zone.day(last)
        })
    }

    fn done(&self, now: Timestamp) {
        *self.0.lock().expect("never poisoned: nothing panics while it is held") = Some(now);
    }
}

#[derive(Debug, Error)]
pub enum OrchestrateError {
    #[error("{field} {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("a workflow with this id already exists")]
    AlreadyExists,
    #[error("the workflow is already running")]
    AlreadyRunning,
    #[error("today's cap of {0} starts is reached")]
    DailyCapReached(u32),
    #[error("{0} runs are already in flight, the most allowed at once")]
    ConcurrencyCapReached(u32),
    #[error("the callback token does not open this run")]
    InvalidToken,
    #[error(transparent)]
    Workflows(#[from] WorkflowsError),
    #[error(transparent)]
    Runs(#[from] RunsError),
    #[error(transparent)]
    Alerts(#[from] AlertsError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error(transparent)]
    Tallies(#[from] crate::ports::tallies::TalliesError),
    #[error(transparent)]
    CustomerRuns(#[from] CustomerRunsError),
    #[error(transparent)]
    WebhookEndpoints(#[from] WebhookEndpointsError),
    #[error(transparent)]
    WebhookDeliveries(#[from] WebhookDeliveriesError),
    #[error(transparent)]
    PremiumChoices(#[from] PremiumChoicesError),
    #[error("the output is {size} bytes, more than the {max} this workflow may return")]
    OutputTooLarge { size: usize, max: u32 },
}

/// The message on the `runs` queue.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunMessage {
    pub run_id: RunId,
}

/// What one tick did.
#[derive(Debug, Default)]
pub struct TickReport {
    pub started: Vec<Run>,
    /// Customer runs given a slot of their pool.
    pub customer_started: Vec<Run>,
    pub failed_overdue: Vec<Run>,
    /// Set when a cap stopped the tick.
    pub stopped_by: Option<OrchestrateError>,
}

/// A change to a workflow: every field optional (`PATCH`).
#[derive(Debug, Default)]
pub struct WorkflowPatch {
    pub name: Option<String>,
    pub webhook_url: Option<tollgate_core::workflow::WebhookUrl>,
    pub schedule: Option<tollgate_core::cron::Schedule>,
    pub enabled: Option<bool>,
    pub premium: Option<bool>,
    pub timeout_s: Option<u32>,
    /// Sells it, or changes how: a `sell` replaces the one before.
    pub sell: Option<tollgate_core::workflow::Sell>,
}

/// The longest workflow name.
pub const MAX_NAME_CHARS: usize = 200;

fn check_spec(spec: &WorkflowSpec) -> Result<(), OrchestrateError> {
    use tollgate_core::workflow::MAX_TIMEOUT_SECONDS;
    if spec.name.trim().is_empty() || spec.name.chars().count() > MAX_NAME_CHARS {
        return Err(OrchestrateError::Invalid {
            field: "name",
            reason: format!("must be 1 to {MAX_NAME_CHARS} characters, not all spaces"),
        });
    }
    if spec.timeout_s == 0 || spec.timeout_s > MAX_TIMEOUT_SECONDS {
        return Err(OrchestrateError::Invalid {
            field: "timeout_s",
            reason: format!("must be between 1 and {MAX_TIMEOUT_SECONDS} seconds"),
        });
    }
    if spec.schedule.is_none() && spec.sell.is_none() {
        return Err(OrchestrateError::Invalid {
            field: "schedule",
            reason: "is required unless the workflow is sold".into(),
        });
    }
    if let Some(sell) = &spec.sell {
        crate::input_schema::InputSchema::compile(&sell.input_schema)
            .map_err(|reason| OrchestrateError::Invalid { field: "sell.input_schema", reason })?;
    }
    Ok(())
}

pub fn new_run_id() -> RunId {
    let id = format!("run_{}", hex_id());
    RunId::parse(&id).expect("run_ and hex digits make a run id")
}

fn hex_id() -> String {
    rand::rng().random::<[u8; 16]>().iter().map(|byte| format!("{byte:02x}")).collect()
}

impl<S: OrchestrationStore> Orchestrator<S> {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub async fn register(&self, spec: WorkflowSpec) -> Result<Workflow, OrchestrateError> {
        check_spec(&spec)?;
        let workflow = Workflow::register(spec, self.now());
        if self.store.create(&workflow).await? { Ok(workflow) } else { Err(OrchestrateError::AlreadyExists) }
    }

    pub async fn workflow(&self, id: &WorkflowId) -> Result<Workflow, OrchestrateError> {
        self.store.workflow(id).await?.ok_or(OrchestrateError::NotFound("workflow"))
    }

    /// Accounts whose workflow subscription to `id` is paid (`active` or `trialing`): read
    /// from the subscriptions as Stripe's events left them, so concurrent purchases and
    /// cancellations count as they were applied.
    pub async fn active_subscribers(&self, id: &WorkflowId) -> Result<u64, OrchestrateError> {
        let active = self.store.active_subscriptions().await?;
        let subscribed = active.iter().filter(|subscription| {
            subscription.kind == SubscriptionKind::WorkflowSubscription
                && subscription.tier == id.as_str()
                && matches!(subscription.status.0.as_str(), "active" | "trialing")
        });
        Ok(u64::try_from(subscribed.count()).unwrap_or(u64::MAX))
    }

    pub async fn workflows(&self) -> Result<Vec<Workflow>, OrchestrateError> {
        Ok(self.store.workflows().await?)
    }

    /// The workflow's runs of the last seven days, newest first.
    pub async fn recent_runs(&self, id: &WorkflowId) -> Result<Vec<Run>, OrchestrateError> {
        self.workflow(id).await?;
        let mut runs = self.store.runs_since(id, Timestamp(self.now().0 - 7 * DAY_SECONDS)).await?;
        runs.reverse();
        Ok(runs)
    }

    /// Applies a patch, reading again when a concurrent change or run end won the race.
    pub async fn change(&self, id: &WorkflowId, patch: &WorkflowPatch) -> Result<Workflow, OrchestrateError> {
        loop {
            let current = self.workflow(id).await?;
            let spec = WorkflowSpec {
                id: current.spec.id.clone(),
                name: patch.name.clone().unwrap_or_else(|| current.spec.name.clone()),
                webhook_url: patch.webhook_url.clone().unwrap_or_else(|| current.spec.webhook_url.clone()),
                schedule: patch.schedule.clone().or_else(|| current.spec.schedule.clone()),
                enabled: patch.enabled.unwrap_or(current.spec.enabled),
                premium: patch.premium.unwrap_or(current.spec.premium),
                timeout_s: patch.timeout_s.unwrap_or(current.spec.timeout_s),
                sell: patch.sell.clone().or_else(|| current.spec.sell.clone()),
            };
            check_spec(&spec)?;
            let changed = current.respecified(spec, self.now());
            if self.store.respecify(&changed, current.version).await? {
                return Ok(changed);
            }
        }
    }

    /// Starts a workflow now, outside its schedule but under the same caps.
    pub async fn start_now(&self, id: &WorkflowId) -> Result<Run, OrchestrateError> {
        let workflow = self.workflow(id).await?;
        let now = self.now();
        let claim = Claim {
            run: Run::claimed(new_run_id(), &workflow, now),
            guard: ClaimGuard::Now,
            caps: self.settings.caps,
            day: self.settings.zone.day(now),
        };
        self.start(claim).await
    }

    /// Queues `run` for the runner: a customer's on its own queue, so that its starts in
    /// flight are bounded apart from the operator's. Should this fail, the run stays queued
    /// and the deadline sweep frees its slots.
    async fn queue_start(&self, run: &Run) -> Result<(), OrchestrateError> {
        let message =
            serde_json::to_string(&RunMessage { run_id: run.id.clone() }).expect("a run id always serialises");
        let queue = if run.customer.is_some() { QueueName::CustomerRuns } else { QueueName::Runs };
        self.store.send(queue, &message).await?;
        Ok(())
    }

    /// Hands every free slot of the customer pool to the account whose turn it is, and
    /// queues the run that takes it. Called when a run is asked for or ends, and each tick.
    pub async fn hand_out_slots(&self) -> Result<Vec<Run>, OrchestrateError> {
        let mut started = Vec::new();
        while let Some(run) = self.store.take_turn(self.settings.customer_pool, self.now()).await? {
            self.queue_start(&run).await?;
            tracing::info!(run_id = %run.id, workflow_id = %run.workflow_id, "customer run given a slot");
            self.metrics.run_queued(&run);
            started.push(run);
        }
        Ok(started)
    }

    async fn start(&self, claim: Claim) -> Result<Run, OrchestrateError> {
        match self.store.claim(&claim).await? {
            Claimed::Started => {
                self.queue_start(&claim.run).await?;
                tracing::info!(run_id = %claim.run.id, workflow_id = %claim.run.workflow_id, "run queued");
                self.metrics.run_queued(&claim.run);
                Ok(claim.run)
            }
            Claimed::NotIdle => Err(OrchestrateError::AlreadyRunning),
            Claimed::DailyCapReached => Err(OrchestrateError::DailyCapReached(claim.caps.daily_starts)),
            Claimed::ConcurrencyCapReached => Err(OrchestrateError::ConcurrencyCapReached(claim.caps.concurrent)),
        }
    }

    /// One tick: fail runs past their deadline (freeing their slots), alert on long runs
    /// and on yesterday's revenue, then start due workflows until a cap says stop.
    #[tracing::instrument(level = "error", skip_all)]
    pub async fn tick(&self) -> Result<TickReport, OrchestrateError> {
        let now = self.now();
        let mut report = TickReport::default();
        for run in self.store.overdue(now, OVERDUE_PAGE).await? {
            let outcome = Outcome::failed("no result by the deadline", now);
            if let Some(ended) = self.end(&run.id, &outcome).await? {
                report.failed_overdue.push(ended);
            }
        }
        for run in self.store.open_runs().await?.into_iter().filter(Run::holds_slot) {
            if let Some(alert) = alert::long_run(&run.workflow_id, &run.id, run.created_at, now) {
                self.raise(alert).await?;
            }
        }
        if self.revenue_checked.due(now, self.settings.zone) {
            match self.check_revenue(now).await {
                Ok(()) => self.revenue_checked.done(now),
                Err(error) => {
                    // Money bookkeeping must never stop paid work from starting.
                    tracing::error!(%error, "the revenue check failed; due workflows start anyway");
                    let day = self.yesterday(now);
                    if let Err(error) = self.raise(alert::revenue_check_failed(&day, now)).await {
                        tracing::error!(%error, "the failed revenue check could not be alerted");
                    }
                }
            }
        }
        match self.hand_out_slots().await {
            Ok(started) => report.customer_started = started,
            // The operator's due workflows start anyway; the next tick hands the slots out.
            Err(error) => tracing::error!(%error, "the customer pool's slots could not be handed out"),
        }
        if let Err(error) = self.send_due_deliveries().await {
            // Deliveries wait for the next tick; paid work must start anyway.
            tracing::error!(%error, "due webhook deliveries could not be sent");
        }
        for workflow in self.store.due(now, DUE_PAGE).await? {
            let Some(expected) = workflow.next_run.filter(|_| workflow.is_due(now)) else { continue };
            let guard = ClaimGuard::Due { expected, next: next_run(&workflow.spec, now) };
            let claim = Claim {
                run: Run::claimed(new_run_id(), &workflow, now),
                guard,
                caps: self.settings.caps,
                day: self.settings.zone.day(now),
            };
            match self.start(claim).await {
                Ok(run) => report.started.push(run),
                // Another tick (or a start by hand) took it first.
                Err(OrchestrateError::AlreadyRunning) => {}
                Err(cap @ (OrchestrateError::DailyCapReached(_) | OrchestrateError::ConcurrencyCapReached(_))) => {
                    report.stopped_by = Some(cap);
                    break;
                }
                Err(other) => return Err(other),
            }
        }
        Ok(report)
    }

    /// The business day before the one `now` falls in.
    fn yesterday(&self, now: Timestamp) -> String {
        let zone = self.settings.zone;
        zone.day(zone.day_span(now).0.plus_seconds(-1))
    }

    /// Yesterday's revenue, final since midnight in the business's zone: all of it
    /// (subscriptions, sales and workflow earnings, net of refunds), checked every day once
    /// the business is live (any revenue or start in the last eight days).
    /// Under `LOW_REVENUE_CENTS` is `low_revenue`; under `REVENUE_DROP_PERCENT` of the seven
    /// days before it, on average, is `revenue_drop`, once those seven days are history (the
    /// oldest of them had revenue or starts). Each alert's id is the day, so every later
    /// tick's check changes nothing. A day back above a line resolves that line's open alerts.
    async fn check_revenue(&self, now: Timestamp) -> Result<(), OrchestrateError> {
        let zone = self.settings.zone;
        // Yesterday first, then the seven days before it, each from its midnight.
        let mut starts = zone.day_starts(now, alert::REVENUE_DROP_DAYS + 2);
        let until = starts.remove(0);
        let start = starts.last().copied().unwrap_or(until);
        let mut paid: HashMap<String, i64> = HashMap::new();
        for entry in self
            .store
            .entries_since(&tollgate_core::ledger::MONEY_IN, start)
            .await?
            .into_iter()
            .filter(|entry| entry.at < until)
        {
            let total = paid.entry(zone.day(entry.at)).or_insert(0);
            *total = total.saturating_add(entry.amount.amount);
        }
        let mut days = Vec::with_capacity(starts.len());
        for start in &starts {
            let day = zone.day(*start);
            let runs = self.store.day_totals(&day).await?;
            let money = paid.get(&day).copied();
            let active = runs.starts > 0 || money.is_some();
            days.push((day, runs.revenue_cents.saturating_add(money.unwrap_or(0)), active));
        }
        let rules = self.settings.revenue_alerts;
        let (yesterday, revenue, _) = &days[0];
        // A stack that has never earned or started anything in the window has no business
        // day to alert on yet.
        let live = days.iter().any(|(_, _, active)| *active);
        let cleared = format!("revenue on {yesterday} is back above the line");
        match alert::low_revenue(yesterday, *revenue, rules.low_cents, now) {
            Some(alert) if live => self.raise(alert).await?,
            Some(_) => {}
            None => self.alerting.resolve_cleared(&self.store, AlertKind::LowRevenue, &cleared, now).await?,
        }
        let week: [i64; alert::REVENUE_DROP_DAYS] = std::array::from_fn(|index| days[index + 1].1);
        let history = days.last().is_some_and(|(_, _, active)| *active);
        match alert::revenue_drop(yesterday, *revenue, &week, rules.drop_percent, now) {
            Some(alert) if history => self.raise(alert).await?,
            Some(_) => {}
            None => self.alerting.resolve_cleared(&self.store, AlertKind::RevenueDrop, &cleared, now).await?,
        }
        Ok(())
    }

    /// Ends a run and raises what its end calls for. `Some(run)` when this call ended it.
    pub(crate) async fn end(&self, id: &RunId, outcome: &Outcome) -> Result<Option<Run>, OrchestrateError> {
        match self.store.finish(id, outcome, &self.settings.zone.day(outcome.at)).await? {
            Finished::Ended { run, streak } => {
                tracing::info!(run_id = %run.id, workflow_id = %run.workflow_id, status = run.status.as_str(), reason = run.reason.as_deref().unwrap_or(""), "run ended");
                self.metrics.run_ended(&run);
                self.record_revenue(&run).await?;
                if run.customer.is_some() {
                    // The run has ended whatever follows: a slot not handed out now is at the next tick.
                    if let Err(error) = self.hand_out_slots().await {
                        tracing::error!(%error, "the freed slot could not be handed out now");
                    }
                    self.bill_overage_or_log(&run).await;
                    self.deliver_end_or_log(&run).await;
                }
                if run.status == RunStatus::Failed {
                    self.after_failure(&run, streak, outcome.at).await?;
                }
                Ok(Some(run))
            }
            Finished::AlreadyEnded(run) => {
                // A crash may have come between ending the run and its ledger entry or its
                // deliveries: posting and recording again are harmless.
                self.record_revenue(&run).await?;
                self.bill_overage_or_log(&run).await;
                self.deliver_end_or_log(&run).await;
                Ok(None)
            }
            Finished::Unknown => Err(OrchestrateError::NotFound("run")),
        }
    }

    /// Asks the usage meter to bill what the ended run used past its quota. The meter reads
    /// the run again and Stripe counts its identifier once, so asking twice bills once; what
    /// could not be asked now is asked when the workflow calls back again.
    async fn bill_overage_or_log(&self, run: &Run) {
        if run.overage_to_bill().is_none() {
            return;
        }
        let message =
            serde_json::to_string(&RunOverage { run_overage: run.id.clone() }).expect("a run id always serialises");
        if let Err(error) = self.store.send(QueueName::Usage, &message).await {
            tracing::error!(run_id = %run.id, %error, "the run's overage could not be queued for billing");
        }
    }

    /// A run's end is final whatever becomes of its deliveries: what could not be recorded
    /// now is recorded when the workflow calls back again, and what was recorded is sent by
    /// the ticks.
    async fn deliver_end_or_log(&self, run: &Run) {
        if let Err(error) = self.deliver_end(run).await {
            tracing::error!(run_id = %run.id, %error, "the run's result could not be delivered now");
        }
    }

    async fn record_revenue(&self, run: &Run) -> Result<(), OrchestrateError> {
        if run.status != RunStatus::Completed || run.earnings_cents == 0 {
            return Ok(());
        }
        let entry = tollgate_core::ledger::workflow_revenue(run);
        self.store.post(&entry).await?;
        Ok(())
    }

    async fn after_failure(&self, run: &Run, streak: u32, now: Timestamp) -> Result<(), OrchestrateError> {
        if let Some(alert) = alert::failure_streak(&run.workflow_id, &run.id, streak, now) {
            self.raise(alert).await?;
        }
        let recent = self.store.runs_since(&run.workflow_id, Timestamp(now.0 - DAY_SECONDS)).await?;
        let ended = recent.iter().filter(|run| !run.status.is_open()).count() as u64;
        let failed = recent.iter().filter(|run| run.status == RunStatus::Failed).count() as u64;
        if let Some(alert) = alert::error_rate(&run.workflow_id, ended, failed, now) {
            self.raise(alert).await?;
        }
        let window = Timestamp(now.0.saturating_sub(alert::FAST_FAILURE_SECONDS));
        let lately: Vec<&Run> = recent.iter().filter(|run| run.finished_at.is_some_and(|at| at >= window)).collect();
        let failed_lately = lately.iter().filter(|run| run.status == RunStatus::Failed).count() as u64;
        if let Some(alert) = alert::failure_rate_5m(&run.workflow_id, lately.len() as u64, failed_lately, now) {
            self.raise(alert).await?;
        }
        Ok(())
    }

    /// Stores the alert and, the first time only, posts it to the alert webhook.
    pub async fn raise(&self, alert: Alert) -> Result<(), OrchestrateError> {
        self.alerting.raise(&self.store, alert).await?;
        Ok(())
    }
}
