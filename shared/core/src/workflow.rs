//! Workflows and their runs: what may start, what a start carries, and how a run
//! reports back.
//!
//! A run is started and never waited on (n8n cuts synchronous calls at about 100 s):
//! the orchestrator claims a due workflow and reserves a slot of each cap, the runner
//! POSTs the start, and the workflow calls back on a URL that carries a token only
//! tollgate can make.

use crate::cron::Schedule;
use crate::ids::{RunId, WorkflowId};
use crate::money::{AmountError, Currency, parse_major_units};
use crate::signing::{self, Purpose};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use thiserror::Error;

/// Starts per UTC day, all workflows together.
pub const DEFAULT_DAILY_STARTS: u32 = 40;
/// Runs in flight at once, all workflows together.
pub const DEFAULT_CONCURRENT_RUNS: u32 = 3;
/// How long a run may take to call back before it is failed.
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 300;
/// Longer than a day is not a run but a stuck one.
pub const MAX_TIMEOUT_SECONDS: u32 = 86_400;

/// The budget every start must fit in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Starts per UTC day.
    pub daily_starts: u32,
    /// Runs queued or running at once.
    pub concurrent: u32,
}

impl Default for Caps {
    fn default() -> Self {
        Self { daily_starts: DEFAULT_DAILY_STARTS, concurrent: DEFAULT_CONCURRENT_RUNS }
    }
}

/// An `http(s)` URL a workflow is started at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookUrl(String);

/// Why a URL was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("must be an http:// or https:// URL of at most 2048 characters, without spaces or credentials")]
pub struct InvalidUrl;

impl WebhookUrl {
    /// Checks and wraps `value`.
    pub fn parse(value: &str) -> Result<Self, InvalidUrl> {
        let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://")).ok_or(InvalidUrl)?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let plain = value.len() <= 2048 && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        // A host name or an IPv4 address, and a port: no credentials (they end up in logs;
        // a workflow authenticates by our signature instead), nothing a URL parser would
        // read otherwise.
        if valid_host(host) && plain { Ok(Self(value.to_owned())) } else { Err(InvalidUrl) }
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The JSON Schema `pattern` of a [`WebhookUrl`] (its length rule aside: 2048).
pub const WEBHOOK_URL_PATTERN: &str = r"^https?://[A-Za-z0-9._~-]+(:[0-9]{1,5})?([/?#][^\s\x00-\x1f\x7f-\x9f]*)?$";

/// A host name or IPv4 address, and a port.
fn valid_host(authority: &str) -> bool {
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let port_ok = port.is_none_or(|port| (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()));
    port_ok && !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

impl TryFrom<String> for WebhookUrl {
    type Error = InvalidUrl;
    fn try_from(value: String) -> Result<Self, InvalidUrl> {
        Self::parse(&value)
    }
}

impl From<WebhookUrl> for String {
    fn from(url: WebhookUrl) -> Self {
        url.0
    }
}

/// What an operator registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowSpec {
    /// Chosen by the operator, unique.
    pub id: WorkflowId,
    /// Shown to people.
    pub name: String,
    /// Where a run is started.
    pub webhook_url: WebhookUrl,
    /// When runs are due; a workflow sold to customers may have none (they start it).
    pub schedule: Option<Schedule>,
    /// A disabled workflow is never due (it can still be started by hand).
    pub enabled: bool,
    /// Premium workflows are opened by memberships.
    pub premium: bool,
    /// Seconds a run has to call back.
    pub timeout_s: u32,
    /// Sold to customers, who run it with their API keys; `None`: the operator's own.
    pub sell: Option<Sell>,
}

/// Output a sold workflow's callback may carry unless its `sell` says: 256 KiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: u32 = 262_144;
/// The most output any sold workflow may return: 256 KiB. A run is one DynamoDB item (at
/// most 400 KB) holding its input and output beside the rest, so more cannot be kept.
pub const MAX_OUTPUT_BYTES: u32 = 262_144;

/// How a workflow is sold: the meter a run is charged to, and who may run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sell {
    /// The plan meter a run counts on (`generations`).
    pub meter: crate::meters::MeterName,
    /// Units of that meter one run costs, at least 1.
    pub cost: std::num::NonZeroU64,
    /// Who may run it.
    pub access: Access,
    /// With [`Access::Plans`]: the plan SKUs that may (`api_pro`).
    pub plans: Vec<crate::ids::Sku>,
    /// The JSON Schema a run's `input` must meet (checked where runs are asked for).
    pub input_schema: Value,
    /// When the run is charged.
    pub charge: Charge,
    /// The most output a callback may carry, in bytes (at most [`MAX_OUTPUT_BYTES`]).
    pub max_output_bytes: u32,
}

/// Who may run a sold workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Any account whose plan has the meter.
    Public,
    /// Members: an active membership opens it.
    Premium,
    /// Accounts on one of the listed plans.
    Plans,
}

/// When a sold run is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Charge {
    /// When it is accepted; given back if it is cancelled or fails before it starts.
    OnStart,
    /// Only when it completes.
    OnSuccess,
}

impl Access {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Premium => "premium",
            Access::Plans => "plans",
        }
    }
}

impl Charge {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Charge::OnStart => "on_start",
            Charge::OnSuccess => "on_success",
        }
    }
}

/// Why a `sell` was refused: the field, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field} {reason}")]
pub struct InvalidSell {
    /// The field, under `sell.`.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

impl Sell {
    /// Checks what no type says: plans listed exactly when access is by plan, an object
    /// (or boolean) schema, output within [`MAX_OUTPUT_BYTES`].
    pub fn check(self) -> Result<Self, InvalidSell> {
        let invalid = |field, reason: &str| Err(InvalidSell { field, reason: reason.to_owned() });
        match (self.access, self.plans.is_empty()) {
            (Access::Plans, true) => return invalid("sell.plans", "must name at least one plan when access is plans"),
            (Access::Public | Access::Premium, false) => {
                return invalid("sell.plans", "is only for access plans");
            }
            _ => {}
        }
        if !(self.input_schema.is_object() || self.input_schema.is_boolean()) {
            return invalid("sell.input_schema", "must be a JSON Schema: an object or a boolean");
        }
        if !(1..=MAX_OUTPUT_BYTES).contains(&self.max_output_bytes) {
            return invalid("sell.max_output_bytes", "must be from 1 to 262144");
        }
        Ok(self)
    }
}

/// Whether a workflow has a run in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowState {
    /// No run in flight: may be claimed.
    Idle,
    /// A run is queued or running: never started twice at a time.
    Running,
}

impl WorkflowState {
    /// As storage and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowState::Idle => "idle",
            WorkflowState::Running => "running",
        }
    }

    /// The state written as `value`.
    pub fn parse(value: &str) -> Option<Self> {
        [Self::Idle, Self::Running].into_iter().find(|state| state.as_str() == value)
    }
}

/// Counted once per finished run, in the same write that finishes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunTotals {
    /// Runs that called back `completed`.
    pub completed: u64,
    /// Runs that failed (callback, start retries or deadline).
    pub failed: u64,
    /// Earnings reported by completed runs, in US cents.
    pub revenue_cents: i64,
}

impl RunTotals {
    /// Finished runs, completed or failed.
    pub fn runs(&self) -> u64 {
        self.completed.saturating_add(self.failed)
    }

    /// The share of finished runs that failed, in basis points (0 with no runs). Computed
    /// in `u128`, so stored totals of any size cannot overflow it.
    pub fn error_rate_bp(&self) -> u64 {
        let share = u128::from(self.failed).saturating_mul(10_000).checked_div(u128::from(self.runs())).unwrap_or(0);
        u64::try_from(share).unwrap_or(10_000)
    }
}

/// A registered workflow and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    /// What the operator registered.
    pub spec: WorkflowSpec,
    /// Idle or running.
    pub state: WorkflowState,
    /// The run in flight, when running.
    pub current_run: Option<RunId>,
    /// When it is next due (never, when disabled).
    pub next_run: Option<Timestamp>,
    /// Failures since the last completed run. (Defaults, like every counter and optional
    /// field of a stored record, so a record written without it still reads.)
    pub consecutive_failures: u32,
    /// Runs and revenue so far.
    pub totals: RunTotals,
    /// Grows with every write (spec change, claim, run end): a change made from an older read is refused.
    pub version: u64,
    /// When it was registered.
    pub created_at: Timestamp,
}

impl Workflow {
    /// A new, idle workflow; due at its first scheduled time after `now`.
    pub fn register(spec: WorkflowSpec, now: Timestamp) -> Self {
        let next_run = next_run(&spec, now);
        Self {
            spec,
            state: WorkflowState::Idle,
            current_run: None,
            next_run,
            consecutive_failures: 0,
            totals: RunTotals::default(),
            version: 1,
            created_at: now,
        }
    }

    /// The workflow with a changed spec. A new schedule (or re-enabling) counts from
    /// `now`, so a change never makes past times due.
    pub fn respecified(&self, spec: WorkflowSpec, now: Timestamp) -> Self {
        let rescheduled = spec.schedule != self.spec.schedule || (spec.enabled && !self.spec.enabled);
        let next_run = if rescheduled || !spec.enabled { next_run(&spec, now) } else { self.next_run };
        Self { spec, next_run, version: self.version.saturating_add(1), ..self.clone() }
    }

    /// Whether the orchestrator should claim it now.
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.state == WorkflowState::Idle && self.spec.enabled && self.next_run.is_some_and(|at| at <= now)
    }

    /// Takes the workflow for `run` when `guard` holds of it as stored; `false` (and
    /// nothing changed) when it is running, or changed since the claimer read it.
    pub fn claim(&mut self, run: &RunId, guard: ClaimGuard) -> bool {
        if self.state != WorkflowState::Idle {
            return false;
        }
        if let ClaimGuard::Due { expected, next } = guard {
            if self.next_run != Some(expected) || !self.spec.enabled {
                return false;
            }
            self.next_run = next;
        }
        self.state = WorkflowState::Running;
        self.current_run = Some(run.clone());
        self.version = self.version.saturating_add(1);
        true
    }

    /// Back to idle once `run` has ended, counted in the totals; the failures in a row
    /// since. `None` (nothing changed) when `run` is not the one in flight.
    pub fn release(&mut self, run: &Run) -> Option<u32> {
        if self.current_run.as_ref() != Some(&run.id) {
            return None;
        }
        let streak = streak_after(self.consecutive_failures, run.status);
        self.state = WorkflowState::Idle;
        self.current_run = None;
        self.consecutive_failures = streak;
        match run.status {
            RunStatus::Completed => self.totals.completed = self.totals.completed.saturating_add(1),
            _ => self.totals.failed = self.totals.failed.saturating_add(1),
        }
        // Earnings are bounded at the input (`RUN_EARNINGS_MAX`); saturation only guards the impossible.
        self.totals.revenue_cents = self.totals.revenue_cents.saturating_add(run.earnings_cents);
        self.version = self.version.saturating_add(1);
        Some(streak)
    }
}

/// What a claim expects of the workflow it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimGuard {
    /// A scheduled start: the workflow is idle and still due at the time that was read
    /// (`expected`); it is next due at `next`. A tick that read it before another tick's
    /// claim (and that run's end) claims nothing.
    Due {
        /// The next run as the claimer read it.
        expected: Timestamp,
        /// The next run after this one.
        next: Option<Timestamp>,
    },
    /// A start by hand: the workflow is idle; its schedule is left as it is.
    Now,
}

/// The next due time of a workflow claimed (or changed) at `now`. Counted from now,
/// not from the start it was due for: after an outage, missed starts collapse into
/// the one catch-up run being claimed, instead of a flood.
pub fn next_run(spec: &WorkflowSpec, now: Timestamp) -> Option<Timestamp> {
    spec.schedule.as_ref().filter(|_| spec.enabled).and_then(|schedule| schedule.next_after(now))
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Claimed and queued for the runner.
    Queued,
    /// The workflow accepted the start; waiting for its callback.
    Started,
    /// Called back `completed`.
    Completed,
    /// Called back `failed`, could not be started, or passed its deadline.
    Failed,
    /// A customer's run, cancelled while it was queued.
    Cancelled,
}

impl RunStatus {
    /// As storage and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Started => "started",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// The status written as `value`.
    pub fn parse(value: &str) -> Option<Self> {
        [Self::Queued, Self::Started, Self::Completed, Self::Failed, Self::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == value)
    }

    /// Holding a slot of the concurrency cap.
    pub fn is_open(self) -> bool {
        matches!(self, RunStatus::Queued | RunStatus::Started)
    }
}

/// One run of a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Its id.
    pub id: RunId,
    /// The workflow it runs.
    pub workflow_id: WorkflowId,
    /// Where it is.
    pub status: RunStatus,
    /// When it was claimed.
    pub created_at: Timestamp,
    /// When it fails if it has not called back.
    pub deadline: Timestamp,
    /// When the workflow accepted the start.
    pub started_at: Option<Timestamp>,
    /// When it completed or failed.
    pub finished_at: Option<Timestamp>,
    /// Reported by a completed run, in US cents.
    pub earnings_cents: i64,
    /// Why it failed, or the workflow's own note.
    pub reason: Option<String>,
    /// A customer's run: whose, with what input and charge; `None` for the operator's.
    pub customer: Option<Box<crate::customer_run::CustomerRun>>,
}

impl Run {
    /// A run claimed at `now`.
    pub fn claimed(id: RunId, workflow: &Workflow, now: Timestamp) -> Self {
        Self {
            id,
            workflow_id: workflow.spec.id.clone(),
            status: RunStatus::Queued,
            created_at: now,
            deadline: now.plus_seconds(i64::from(workflow.spec.timeout_s)),
            started_at: None,
            finished_at: None,
            earnings_cents: 0,
            reason: None,
            customer: None,
        }
    }
}

/// How a run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `Completed` or `Failed`.
    pub status: RunStatus,
    /// US cents; 0 for a failure.
    pub earnings_cents: i64,
    /// Why, for failures; the workflow's note otherwise.
    pub reason: Option<String>,
    /// What a customer's run called back with.
    pub output: Option<Value>,
    /// When it ended.
    pub at: Timestamp,
}

impl Run {
    /// The run ended as `outcome` says.
    pub fn end(&mut self, outcome: &Outcome) {
        self.status = outcome.status;
        self.finished_at = Some(outcome.at);
        self.earnings_cents = outcome.earnings_cents;
        self.reason = outcome.reason.clone();
        if let Some(customer) = self.customer.as_deref_mut() {
            customer.pool = crate::customer_run::Pool::Left;
            customer.output = outcome.output.clone();
        }
    }
}

impl Outcome {
    /// A failure decided by tollgate (deadline, start retries exhausted).
    pub fn failed(reason: impl Into<String>, at: Timestamp) -> Self {
        Self { status: RunStatus::Failed, earnings_cents: 0, reason: Some(reason.into()), output: None, at }
    }
}

/// Failures in a row after a run ends: reset by a completed run.
fn streak_after(previous: u32, status: RunStatus) -> u32 {
    if status == RunStatus::Failed { previous.saturating_add(1) } else { 0 }
}

/// What a workflow posts back to its callback URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// Must name the run's own workflow.
    pub workflow_id: WorkflowId,
    /// How the run ended.
    pub outcome_status: RunStatus,
    /// US cents earned.
    pub earnings_cents: i64,
    /// The workflow's own note (`metadata.reason` or `metadata.message`), if any.
    pub note: Option<String>,
    /// A customer run's result, any JSON; with its size as sent, in bytes.
    pub output: Option<(Value, usize)>,
}

/// Why a callback body was refused, naming the field.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{field} {reason}")]
pub struct CallbackError {
    /// The JSON field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallbackBody<'a> {
    workflow_id: Option<String>,
    status: Option<String>,
    /// Kept as its JSON text, so `2.50` is read exactly and never through a float.
    #[serde(borrow, default)]
    earnings: Option<&'a RawValue>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    timestamp: Value,
    #[serde(default)]
    metadata: Value,
    #[serde(borrow, default)]
    output: Option<&'a RawValue>,
}

/// The longest note kept from a callback's metadata.
const MAX_NOTE: usize = 500;

/// The default of `RUN_EARNINGS_MAX`: no single run reports more than $100,000.00.
pub const DEFAULT_RUN_EARNINGS_MAX_CENTS: i64 = 10_000_000;

/// The only currency workflow revenue is kept in: run totals and the day's revenue add up
/// runs, so they must share one.
const EARNINGS_CURRENCY: &str = "usd";

impl Callback {
    /// Reads the seed's payload, `{"workflowId","status":"completed|failed","earnings","timestamp","metadata"}`.
    /// `earnings` is in major units (`2.50` is $2.50), a JSON number or a decimal string, read
    /// exactly from its text, with at most the currency's decimal places (`currency` is
    /// optional, `usd` by default), from 0 to `max_cents`. `timestamp` (RFC 3339 or Unix
    /// seconds) is optional and range-checked.
    pub fn parse(body: &[u8], max_cents: i64) -> Result<Self, CallbackError> {
        let body: CallbackBody<'_> = serde_json::from_slice(body)
            .map_err(|_| CallbackError { field: "body", reason: "is not a JSON object of the callback's fields" })?;
        let missing = |field| CallbackError { field, reason: "is required" };
        let workflow_id = WorkflowId::parse(&body.workflow_id.ok_or(missing("workflowId"))?)
            .map_err(|_| CallbackError { field: "workflowId", reason: "is not a workflow id" })?;
        let outcome_status = match body.status.ok_or(missing("status"))?.as_str() {
            "completed" => RunStatus::Completed,
            "failed" => RunStatus::Failed,
            _ => return Err(CallbackError { field: "status", reason: "must be completed or failed" }),
        };
        let currency = currency(body.currency.as_deref())?;
        let earnings_cents = earnings(body.earnings, &currency, max_cents)?;
        reported_at(&body.timestamp)?;
        let note = ["reason", "message", "error"]
            .iter()
            .find_map(|key| body.metadata.get(key).and_then(Value::as_str))
            .map(|note| note.chars().take(MAX_NOTE).collect());
        let output = match body.output {
            Some(raw) if raw.get() != "null" => {
                let value = serde_json::from_str(raw.get())
                    .map_err(|_| CallbackError { field: "output", reason: "is not JSON" })?;
                Some((value, raw.get().len()))
            }
            _ => None,
        };
        Ok(Self { workflow_id, outcome_status, earnings_cents, note, output })
    }

    /// How the run ends, at `now`.
    pub fn outcome(&self, now: Timestamp) -> Outcome {
        let earnings_cents = if self.outcome_status == RunStatus::Completed { self.earnings_cents } else { 0 };
        let output = self.output.as_ref().map(|(value, _)| value.clone());
        Outcome { status: self.outcome_status, earnings_cents, reason: self.note.clone(), output, at: now }
    }
}

fn currency(code: Option<&str>) -> Result<Currency, CallbackError> {
    let invalid = |reason| CallbackError { field: "currency", reason };
    let currency = Currency::parse(code.unwrap_or(EARNINGS_CURRENCY)).map_err(|_| invalid("is not a currency code"))?;
    if currency.as_str() == EARNINGS_CURRENCY { Ok(currency) } else { Err(invalid("must be usd")) }
}

fn earnings(raw: Option<&RawValue>, currency: &Currency, max_cents: i64) -> Result<i64, CallbackError> {
    let invalid = |reason| CallbackError { field: "earnings", reason };
    let Some(raw) = raw else { return Ok(0) };
    let text = raw.get();
    let decimal = match text.as_bytes().first() {
        Some(b'"') => {
            serde_json::from_str::<&str>(text).map_err(|_| invalid("must be a decimal amount such as 2.50"))?
        }
        Some(b'0'..=b'9' | b'-') => text,
        _ if text == "null" => return Ok(0),
        _ => return Err(invalid("must be a decimal amount in dollars, such as 2.50")),
    };
    let cents = parse_major_units(decimal, currency).map_err(|error| match error {
        AmountError::NotDecimal => invalid("must be a non-negative decimal amount in dollars, such as 2.50"),
        AmountError::TooPrecise => invalid("has more decimal places than the currency has"),
        AmountError::TooLarge => invalid("is more than a run may earn (RUN_EARNINGS_MAX)"),
    })?;
    if cents > max_cents { Err(invalid("is more than a run may earn (RUN_EARNINGS_MAX)")) } else { Ok(cents) }
}

/// When the workflow says it finished; only checked, since tollgate times runs by its own clock.
fn reported_at(value: &Value) -> Result<Option<Timestamp>, CallbackError> {
    let invalid =
        CallbackError { field: "timestamp", reason: "must be an RFC 3339 time or Unix seconds from 1970 to 9999" };
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Timestamp::parse_rfc3339(text).map(Some).map_err(|_| invalid),
        Value::Number(number) => {
            number.as_i64().and_then(|seconds| Timestamp::from_untrusted(seconds).ok()).map(Some).ok_or(invalid)
        }
        _ => Err(invalid),
    }
}

/// The token in a run's callback URL ([`Purpose::CallbackToken`]): nothing secret is
/// stored or queued, and a token for one run opens no other.
pub fn callback_token(secret: &[u8], run: &RunId) -> String {
    signing::token(secret, Purpose::CallbackToken, run.as_str())
}

/// Whether `token` opens `run`'s callback, compared in constant time.
pub fn token_opens(secret: &[u8], run: &RunId, token: &str) -> bool {
    signing::token_opens(secret, Purpose::CallbackToken, run.as_str(), token)
}

/// The body POSTed to a workflow's webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartRequest {
    /// The run.
    pub run_id: RunId,
    /// The workflow.
    pub workflow_id: WorkflowId,
    /// RFC 3339: after this the run is failed and its callback refused.
    pub deadline: String,
    /// Where to post the result (carries the run's token).
    pub callback_url: String,
    /// A customer's run: whose it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<crate::ids::AccountId>,
    /// A customer's run: what they asked the workflow to work on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
}

impl StartRequest {
    /// The start of `run`, calling back under `callback_base` (e.g. `https://api.example.com`).
    pub fn new(run: &Run, callback_base: &str, secret: &[u8]) -> Self {
        let callback_url = format!(
            "{}/webhooks/workflows/{}?token={}",
            callback_base.trim_end_matches('/'),
            run.id,
            callback_token(secret, &run.id)
        );
        Self {
            run_id: run.id.clone(),
            workflow_id: run.workflow_id.clone(),
            deadline: run.deadline.rfc3339(),
            callback_url,
            account_id: run.account().cloned(),
            input: run.customer.as_ref().map(|customer| customer.input.clone()),
        }
    }
}

/// How long ended runs took, from the workflow's acceptance of the start to its callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durations {
    /// The mean, in whole seconds, rounded down.
    pub mean_seconds: i64,
    /// The 95th percentile by nearest rank: no more than 5% of the runs took longer.
    pub p95_seconds: i64,
}

/// The durations of the `runs` that started and ended; `None` when none did.
pub fn durations<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Option<Durations> {
    let mut seconds: Vec<i64> =
        runs.into_iter().filter_map(|run| Some(run.finished_at?.seconds_since(run.started_at?).max(0))).collect();
    if seconds.is_empty() {
        return None;
    }
    seconds.sort_unstable();
    let count = seconds.len();
    let total = seconds.iter().fold(0_i64, |total, &run| total.saturating_add(run));
    let mean_seconds = total.checked_div(i64::try_from(count).unwrap_or(i64::MAX)).unwrap_or(0);
    // Nearest rank: the ceil(0.95 × n)-th smallest, counted from one.
    let rank = count.saturating_mul(95).div_ceil(100).max(1);
    let p95_seconds = seconds.get(rank.saturating_sub(1)).copied().unwrap_or(0);
    Some(Durations { mean_seconds, p95_seconds })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cron::Schedule;

    const NOW: Timestamp = Timestamp(1_795_500_000);

    fn spec(enabled: bool) -> WorkflowSpec {
        WorkflowSpec {
            id: WorkflowId::parse("daily_shorts").unwrap(),
            name: "Daily shorts".into(),
            webhook_url: WebhookUrl::parse("https://n8n.example.com/webhook/shorts").unwrap(),
            schedule: Some(Schedule::parse("*/10 * * * *", "UTC").unwrap()),
            enabled,
            premium: false,
            timeout_s: DEFAULT_TIMEOUT_SECONDS,
            sell: None,
        }
    }

    #[test]
    fn urls_are_http_without_credentials() {
        assert!(WebhookUrl::parse("http://127.0.0.1:5678/webhook/x?a=1").is_ok());
        assert!(WebhookUrl::parse("ftp://example.com").is_err());
        assert!(WebhookUrl::parse("https://user:pw@example.com/").is_err());
        assert!(WebhookUrl::parse("https:///path").is_err());
        assert!(WebhookUrl::parse("https://example.com/a b").is_err());
        for junk in ["http://[", "http://[::1]/", "http://a:b", "http://a:123456/", "http://a b/", "http://\u{1}/"] {
            assert!(WebhookUrl::parse(junk).is_err(), "{junk:?}");
        }
    }

    proptest::proptest! {
        /// The documented pattern and the parser agree (URLs of any length up to the limit).
        #[test]
        fn the_documented_url_pattern_is_exactly_what_parses(url in "(https?|ftp)://[a-z0-9\\[\\]:@. /?#_~-]{0,16}") {
            let pattern = regex::Regex::new(WEBHOOK_URL_PATTERN).unwrap();
            proptest::prop_assert_eq!(pattern.is_match(&url), WebhookUrl::parse(&url).is_ok(), "{:?}", url);
        }
    }

    #[test]
    fn durations_are_the_mean_and_the_nearest_rank_95th_percentile() {
        let workflow = Workflow::register(spec(true), Timestamp(0));
        let run = |index: u32, started: Option<i64>, took: i64| Run {
            started_at: started.map(Timestamp),
            finished_at: started.map(|at| Timestamp(at + took)),
            ..Run::claimed(RunId::parse(&format!("run_{index}")).unwrap(), &workflow, Timestamp(0))
        };
        // 1..=20 seconds: the mean is 10 (10.5 rounded down), the 95th percentile the 19th.
        let runs: Vec<Run> = (1..=20).map(|took| run(took as u32, Some(100), took)).collect();
        assert_eq!(durations(&runs), Some(Durations { mean_seconds: 10, p95_seconds: 19 }));
        let one = [run(1, Some(100), 7), run(2, None, 0)];
        assert_eq!(
            durations(&one),
            Some(Durations { mean_seconds: 7, p95_seconds: 7 }),
            "a run never started is left out"
        );
        assert_eq!(durations(&[run(3, None, 0)]), None);
    }

    #[test]
    fn a_disabled_workflow_is_never_due() {
        let workflow = Workflow::register(spec(false), NOW);
        assert_eq!(workflow.next_run, None);
        assert!(!workflow.is_due(Timestamp(NOW.0 + 86_400)));
    }

    #[test]
    fn a_workflow_is_due_at_its_next_run_and_only_when_idle() {
        let mut workflow = Workflow::register(spec(true), NOW);
        let at = workflow.next_run.unwrap();
        assert!(at > NOW && !workflow.is_due(NOW) && workflow.is_due(at));
        workflow.state = WorkflowState::Running;
        assert!(!workflow.is_due(at));
    }

    #[test]
    fn missed_starts_collapse_into_one_catch_up() {
        // Down for a day: the claim at `late` is the catch-up, and the next one is after `late`.
        let late = Timestamp(NOW.0 + 86_400 + 7);
        let next = next_run(&spec(true), late).unwrap();
        assert!(next > late && next.0 - late.0 <= 600);
    }

    #[test]
    fn changing_the_schedule_counts_from_now_and_bumps_the_version() {
        let workflow = Workflow::register(spec(true), NOW);
        let mut changed = spec(true);
        changed.schedule = Some(Schedule::parse("0 0 * * *", "UTC").unwrap());
        let later = Timestamp(NOW.0 + 3 * 86_400);
        let respecified = workflow.respecified(changed, later);
        assert!(respecified.next_run.unwrap() > later);
        assert_eq!(respecified.version, workflow.version + 1);
        assert_eq!(workflow.respecified(spec(false), later).next_run, None);
    }

    #[test]
    fn a_claim_holds_only_for_an_idle_workflow_still_due_as_read() {
        let mut workflow = Workflow::register(spec(true), NOW);
        let due = workflow.next_run.unwrap();
        let run = RunId::parse("run_1").unwrap();
        let stale = ClaimGuard::Due { expected: Timestamp(due.0 - 600), next: None };
        assert!(!workflow.clone().claim(&run, stale));
        let guard = ClaimGuard::Due { expected: due, next: Some(Timestamp(due.0 + 600)) };
        assert!(workflow.claim(&run, guard));
        assert_eq!(
            (workflow.state, workflow.next_run, workflow.version),
            (WorkflowState::Running, Some(Timestamp(due.0 + 600)), 2)
        );
        assert!(!workflow.claim(&RunId::parse("run_2").unwrap(), ClaimGuard::Now), "never twice at a time");
    }

    #[test]
    fn a_release_counts_the_run_that_was_in_flight_only() {
        let mut workflow = Workflow::register(spec(true), NOW);
        let mut run = Run::claimed(RunId::parse("run_1").unwrap(), &workflow, NOW);
        assert!(workflow.claim(&run.id, ClaimGuard::Now));
        run.end(&Outcome { status: RunStatus::Completed, earnings_cents: 1250, reason: None, output: None, at: NOW });
        let other = Run::claimed(RunId::parse("run_2").unwrap(), &workflow, NOW);
        assert_eq!(workflow.clone().release(&other), None);
        assert_eq!(workflow.release(&run), Some(0));
        assert_eq!(
            (workflow.state, workflow.current_run, workflow.totals.revenue_cents),
            (WorkflowState::Idle, None, 1250)
        );
    }

    #[test]
    fn the_error_rate_is_in_basis_points_whatever_the_totals() {
        let totals = |completed, failed| RunTotals { completed, failed, revenue_cents: 0 };
        assert_eq!(totals(0, 0).error_rate_bp(), 0);
        assert_eq!(totals(19, 1).error_rate_bp(), 500);
        assert_eq!(totals(0, u64::MAX).error_rate_bp(), 10_000);
        assert_eq!(totals(u64::MAX, u64::MAX).runs(), u64::MAX);
    }

    #[test]
    fn a_streak_grows_with_failures_and_a_completion_resets_it() {
        assert_eq!(streak_after(2, RunStatus::Failed), 3);
        assert_eq!(streak_after(2, RunStatus::Completed), 0);
    }

    const MAX: i64 = DEFAULT_RUN_EARNINGS_MAX_CENTS;

    fn earned(body: &str) -> Result<i64, CallbackError> {
        Callback::parse(body.as_bytes(), MAX).map(|callback| callback.earnings_cents)
    }

    #[test]
    fn the_seeds_payload_is_read_with_earnings_in_dollars() {
        let seed = br#"{"workflowId":"01_AMZ_Influencer","status":"completed","earnings":2.50,"timestamp":"2025-11-13T22:45:00Z","metadata":{"asin":"B0123456789","views":150,"clicks":12}}"#;
        let ok = Callback::parse(seed, MAX).unwrap();
        assert_eq!((ok.outcome_status, ok.earnings_cents, ok.note), (RunStatus::Completed, 250, None));
        let noted = Callback::parse(
            br#"{"workflowId":"daily_shorts","status":"completed","earnings":"12.5","metadata":{"message":"3 videos"}}"#,
            MAX,
        )
        .unwrap();
        assert_eq!((noted.earnings_cents, noted.note.as_deref()), (1250, Some("3 videos")));
        assert_eq!(earned(r#"{"workflowId":"w","status":"completed","earnings":0.1,"currency":"USD"}"#), Ok(10));
        assert_eq!(earned(r#"{"workflowId":"w","status":"completed","earnings":100000.00}"#), Ok(MAX));
        assert_eq!(earned(r#"{"workflowId":"w","status":"completed","earnings":null}"#), Ok(0));
        assert_eq!(earned(r#"{"workflowId":"w","status":"completed"}"#), Ok(0));
    }

    #[test]
    fn callbacks_are_read_strictly() {
        let field = |body: &str| Callback::parse(body.as_bytes(), MAX).unwrap_err().field;
        assert_eq!(field("[1]"), "body");
        assert_eq!(field(r#"{"status":"completed"}"#), "workflowId");
        assert_eq!(field(r#"{"workflowId":"w","status":"done"}"#), "status");
        for earnings in [
            "9223372036854775807",
            "100000.01",
            "2.505",
            "-1",
            "-0.5",
            "1e3",
            "true",
            "{\"amount\":1}",
            "[1]",
            "\"2,50\"",
            "\"\"",
            "123456789012345678901234567890",
        ] {
            let body = format!(r#"{{"workflowId":"w","status":"completed","earnings":{earnings}}}"#);
            assert_eq!(field(&body), "earnings", "{earnings}");
        }
        assert_eq!(field(r#"{"workflowId":"w","status":"completed","earnings":1,"currency":"eur"}"#), "currency");
        assert_eq!(field(r#"{"workflowId":"w","status":"completed","earnings":1,"currency":"dollars"}"#), "currency");
        for timestamp in
            ["-9223372036854775808", "9223372036854775807", "\"tomorrow\"", "\"99999-01-01T00:00:00Z\"", "[]"]
        {
            let body = format!(r#"{{"workflowId":"w","status":"completed","timestamp":{timestamp}}}"#);
            assert_eq!(field(&body), "timestamp", "{timestamp}");
        }
    }

    #[test]
    fn a_smaller_ceiling_is_enforced() {
        let body = br#"{"workflowId":"w","status":"completed","earnings":"10.01"}"#;
        assert_eq!(Callback::parse(body, 1000).unwrap_err().field, "earnings");
        assert_eq!(Callback::parse(body, 1001).unwrap().earnings_cents, 1001);
    }

    #[test]
    fn a_failed_callback_earns_nothing() {
        let failed = Callback::parse(br#"{"workflowId":"w","status":"failed","earnings":5}"#, MAX).unwrap();
        assert_eq!(failed.outcome(NOW).earnings_cents, 0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        #[test]
        fn any_callback_body_is_read_or_refused_without_panicking(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            if let Ok(callback) = Callback::parse(&body, MAX) {
                proptest::prop_assert!((0..=MAX).contains(&callback.earnings_cents));
            }
        }

        #[test]
        fn any_earnings_text_is_read_or_refused_without_panicking(earnings in "[-+0-9.eE\"a-z]{0,30}") {
            let body = format!(r#"{{"workflowId":"w","status":"completed","earnings":{earnings}}}"#);
            if let Ok(callback) = Callback::parse(body.as_bytes(), MAX) {
                proptest::prop_assert!((0..=MAX).contains(&callback.earnings_cents));
            }
        }
    }

    #[test]
    fn a_token_opens_its_own_run_only() {
        let (run, other) = (RunId::parse("run_a").unwrap(), RunId::parse("run_b").unwrap());
        let token = callback_token(b"secret", &run);
        assert!(token_opens(b"secret", &run, &token));
        assert!(!token_opens(b"secret", &other, &token));
        assert!(!token_opens(b"other secret", &run, &token));
        assert!(!token_opens(b"secret", &run, ""));
    }

    #[test]
    fn a_start_names_its_deadline_and_a_callback_with_the_token() {
        let workflow = Workflow::register(spec(true), NOW);
        let run = Run::claimed(RunId::parse("run_1").unwrap(), &workflow, NOW);
        let start = StartRequest::new(&run, "http://127.0.0.1:8080/", b"k");
        assert_eq!(start.deadline, Timestamp(NOW.0 + 300).rfc3339());
        let token = callback_token(b"k", &run.id);
        assert_eq!(start.callback_url, format!("http://127.0.0.1:8080/webhooks/workflows/run_1?token={token}"));
        let json = serde_json::to_value(&start).unwrap();
        assert!(json.get("runId").is_some() && json.get("callbackUrl").is_some());
    }
}
