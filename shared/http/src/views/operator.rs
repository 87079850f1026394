//! The event log, alerts, metrics, an account and its ledger, as the operator sees them.

use super::seconds;
use serde::Serialize;
use tollgate_app::metrics::{DayFigures, Metrics, PeriodRevenue, WorkflowFigures};
use tollgate_app::ports::event_log::EventRecord;
use tollgate_app::reconcile::Reconciled;
use tollgate_core::account::AccountView;
use tollgate_core::alert::Alert;
use tollgate_core::ledger::LedgerEntry;
use utoipa::ToSchema;

/// A Stripe event and where it stands.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    /// `evt_…`
    pub id: String,
    /// Stripe's event type (`invoice.paid`, …).
    #[serde(rename = "type")]
    pub event_type: String,
    /// `queued`, `applied`, `skipped` or `failed`.
    pub status: &'static str,
    /// Unix seconds it was received.
    pub received_at: i64,
    /// Why it was skipped or failed.
    pub detail: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EventList {
    /// Newest first.
    pub events: Vec<EventView>,
}

#[derive(Serialize, ToSchema)]
pub struct AlertView {
    pub id: String,
    /// `consecutive_failures`, `error_rate`, `failure_rate_5m`, `long_run`, `low_revenue`, `revenue_drop`,
    /// `quota`, `balance_low`, `revenue_check_failed`, `missed_events`, `payout_failed`, `endpoint_down`
    /// or `endpoint_recovered`.
    pub kind: &'static str,
    /// The account it is about, for quota alerts.
    pub account_id: Option<String>,
    /// What it is about: a workflow or an account.
    pub subject: String,
    pub workflow_id: Option<String>,
    pub message: String,
    /// Unix seconds it was raised.
    pub created_at: i64,
    /// `open`, `acknowledged` or `resolved`.
    pub state: &'static str,
    /// What the operator wrote when acknowledging or resolving it.
    pub note: Option<String>,
    /// Unix seconds of its last change of state; `null` while it is as raised.
    pub state_changed_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AlertList {
    /// Newest first.
    pub alerts: Vec<AlertView>,
}

/// One business day (`BUSINESS_TIMEZONE`) of revenue, by source; of workflow runs; of
/// checkouts and active accounts.
#[derive(Serialize, ToSchema)]
pub struct DayView {
    /// `YYYY-MM-DD`
    pub day: String,
    pub starts: u32,
    pub completed: u64,
    pub failed: u64,
    /// Workflow earnings, in US cents.
    pub revenue_cents: i64,
    /// Subscription invoices paid that day, less refunds, in cents.
    pub subscriptions_cents: i64,
    /// One-off sales that day, less refunds, in cents.
    pub sales_cents: i64,
    /// Checkout Sessions created that day.
    pub checkouts_started: u64,
    /// Checkout Sessions completed that day.
    pub checkouts_completed: u64,
    /// Completed per started, in basis points (1 % = 100); `null` with none started.
    pub conversion_bp: Option<u64>,
    /// Accounts with a call or a payment that day.
    pub active_accounts: u64,
}

/// All revenue of one hour or month: payments less refunds, and workflow earnings.
#[derive(Serialize, ToSchema)]
pub struct PeriodRevenueView {
    /// The hour's start (RFC 3339, UTC), or the month (`YYYY-MM`, in `BUSINESS_TIMEZONE`).
    pub period: String,
    /// In cents.
    pub revenue_cents: i64,
}

#[derive(Serialize, ToSchema)]
pub struct WorkflowFiguresView {
    pub workflow_id: String,
    pub runs: u64,
    pub completed: u64,
    pub failed: u64,
    /// Failed share of ended runs, in basis points (1 % = 100).
    pub error_rate_bp: u64,
    /// In US cents.
    pub revenue_cents: i64,
    /// Mean execution time of its runs of the last 30 days, from the workflow's acceptance
    /// of the start to its callback, in seconds; `null` without an ended run.
    pub mean_seconds: Option<i64>,
    /// The 95th percentile of the same (nearest rank), in seconds.
    pub p95_seconds: Option<i64>,
    /// A sold workflow: what its customers' runs of the last 30 days did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sold: Option<SoldFiguresView>,
}

/// A sold workflow's customers' runs of the last 30 days.
#[derive(Serialize, ToSchema)]
pub struct SoldFiguresView {
    /// Runs asked for on each of the last 7 business days, today first.
    pub runs_by_day: Vec<DayRunsView>,
    pub completed: u64,
    pub failed: u64,
    /// Completed share of ended runs, in basis points; `null` before any ended.
    pub success_rate_bp: Option<u64>,
    /// Mean execution time, start to callback, in seconds; `null` before any ended.
    pub mean_seconds: Option<i64>,
    /// Earnings its runs reported, in US cents.
    pub revenue_cents: i64,
    /// Units of its meter kept (given-back ones not counted).
    pub units_charged: u64,
    /// Each customer's runs, most first.
    pub customers: Vec<CustomerRunsView>,
    /// Accounts whose workflow subscription to it is paid.
    pub active_subscribers: u64,
}

#[derive(Serialize, ToSchema)]
pub struct DayRunsView {
    pub day: String,
    pub runs: u64,
}

#[derive(Serialize, ToSchema)]
pub struct CustomerRunsView {
    pub account_id: String,
    pub runs: u64,
    pub completed: u64,
}

#[derive(Serialize, ToSchema)]
pub struct MetricsView {
    pub currency: &'static str,
    /// Workflow starts allowed per UTC day, where this deployment runs workflows.
    pub daily_run_cap: Option<u32>,
    /// Runs allowed in flight at once, where this deployment runs workflows.
    pub concurrent_run_cap: Option<u32>,
    /// The last 30 business days, today first.
    pub revenue_by_day: Vec<DayView>,
    /// The last 48 hours, this one first.
    pub revenue_by_hour: Vec<PeriodRevenueView>,
    /// The last 12 months, this one first.
    pub revenue_by_month: Vec<PeriodRevenueView>,
    /// Accounts with a call or a payment in the last 30 business days, each once.
    pub active_accounts_30d: u64,
    pub workflows: Vec<WorkflowFiguresView>,
    pub active_subscriptions: u64,
    /// Active subscriptions per plan and membership tier.
    pub subscriptions_by_tier: Vec<TierCountView>,
    /// Monthly recurring revenue of the active subscriptions at catalog prices, in cents.
    pub mrr_cents: i64,
}

#[derive(Serialize, ToSchema)]
pub struct TierCountView {
    /// `api_plan` or `membership`.
    pub kind: &'static str,
    pub tier: String,
    pub active: u64,
}

/// An account as the operator sees it.
#[derive(Serialize, ToSchema)]
pub struct AccountDetail {
    pub account_id: String,
    /// `cus_…`, once linked by a checkout.
    pub stripe_customer_id: Option<String>,
    /// The API plan tier: `free` until a subscription grants another.
    pub plan: String,
    /// The membership tier, if any.
    pub membership: Option<String>,
    /// Stripe's status of the subscription behind the plan (else the membership).
    pub subscription_status: Option<String>,
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
    /// The referrer's account id.
    pub referred_by: Option<String>,
}

/// A ledger entry.
#[derive(Serialize, ToSchema)]
pub struct LedgerLine {
    pub id: String,
    /// `payment`, `refund`, `commission`, `commission_reversal`, `partner_earning`,
    /// `partner_earning_reversal`, `workflow_revenue` or `payout`.
    pub kind: &'static str,
    /// Minor units, positive for credits.
    pub amount_cents: i64,
    pub currency: String,
    /// What last set it: a Stripe event id or a run id.
    pub event_id: String,
    /// The payment it belongs to (a payout's transfer group).
    pub payment_ref: String,
    /// When it happened, Unix seconds.
    pub at: i64,
    /// On a payment and its refund: `subscription` or `sale`.
    pub source: Option<&'static str>,
}

#[derive(Serialize, ToSchema)]
pub struct LedgerList {
    pub entries: Vec<LedgerLine>,
}

impl From<&EventRecord> for EventView {
    fn from(event: &EventRecord) -> Self {
        EventView {
            id: event.id.to_string(),
            event_type: event.event_type.clone(),
            status: event.status.as_str(),
            received_at: seconds(event.received_at),
            detail: event.detail.clone(),
        }
    }
}

impl From<&Alert> for AlertView {
    fn from(alert: &Alert) -> Self {
        AlertView {
            id: alert.id.clone(),
            kind: alert.kind.as_str(),
            account_id: alert.account_id.as_ref().map(ToString::to_string),
            subject: alert.subject.clone(),
            workflow_id: alert.workflow_id.as_ref().map(ToString::to_string),
            message: alert.message.clone(),
            created_at: seconds(alert.created_at),
            state: alert.status.state.as_str(),
            note: alert.status.note.clone(),
            state_changed_at: alert.status.changed_at.map(seconds),
        }
    }
}

impl From<&DayFigures> for DayView {
    fn from(day: &DayFigures) -> Self {
        DayView {
            day: day.day.clone(),
            starts: day.starts,
            completed: day.completed,
            failed: day.failed,
            revenue_cents: day.revenue_cents,
            subscriptions_cents: day.subscriptions_cents,
            sales_cents: day.sales_cents,
            checkouts_started: day.checkouts_started,
            checkouts_completed: day.checkouts_completed,
            conversion_bp: day.conversion_bp,
            active_accounts: day.active_accounts,
        }
    }
}

impl From<&PeriodRevenue> for PeriodRevenueView {
    fn from(period: &PeriodRevenue) -> Self {
        PeriodRevenueView { period: period.period.clone(), revenue_cents: period.revenue_cents }
    }
}

impl From<&WorkflowFigures> for WorkflowFiguresView {
    fn from(figures: &WorkflowFigures) -> Self {
        WorkflowFiguresView {
            workflow_id: figures.workflow_id.to_string(),
            runs: figures.runs,
            completed: figures.completed,
            failed: figures.failed,
            error_rate_bp: figures.error_rate_bp,
            revenue_cents: figures.revenue_cents,
            mean_seconds: figures.durations.map(|durations| durations.mean_seconds),
            p95_seconds: figures.durations.map(|durations| durations.p95_seconds),
            sold: figures.sold.as_ref().map(|sold| SoldFiguresView {
                runs_by_day: sold
                    .runs_by_day
                    .iter()
                    .map(|(day, runs)| DayRunsView { day: day.clone(), runs: *runs })
                    .collect(),
                completed: sold.completed,
                failed: sold.failed,
                success_rate_bp: sold.success_rate_bp,
                mean_seconds: sold.durations.map(|durations| durations.mean_seconds),
                revenue_cents: sold.revenue_cents,
                units_charged: sold.units_charged,
                active_subscribers: sold.active_subscribers,
                customers: sold
                    .customers
                    .iter()
                    .map(|(account, runs, completed)| CustomerRunsView {
                        account_id: account.to_string(),
                        runs: *runs,
                        completed: *completed,
                    })
                    .collect(),
            }),
        }
    }
}

impl From<&Metrics> for MetricsView {
    fn from(metrics: &Metrics) -> Self {
        MetricsView {
            currency: metrics.currency,
            daily_run_cap: None,
            concurrent_run_cap: None,
            revenue_by_day: metrics.revenue_by_day.iter().map(DayView::from).collect(),
            revenue_by_hour: metrics.revenue_by_hour.iter().map(PeriodRevenueView::from).collect(),
            revenue_by_month: metrics.revenue_by_month.iter().map(PeriodRevenueView::from).collect(),
            active_accounts_30d: metrics.active_accounts_30d,
            workflows: metrics.workflows.iter().map(WorkflowFiguresView::from).collect(),
            active_subscriptions: metrics.active_subscriptions,
            subscriptions_by_tier: metrics
                .subscriptions_by_tier
                .iter()
                .map(|count| TierCountView { kind: count.kind, tier: count.tier.clone(), active: count.active })
                .collect(),
            mrr_cents: metrics.mrr_cents,
        }
    }
}

impl From<&AccountView> for AccountDetail {
    fn from(account: &AccountView) -> Self {
        AccountDetail {
            account_id: account.account_id.to_string(),
            stripe_customer_id: account.stripe_customer_id.as_ref().map(ToString::to_string),
            plan: account.plan.clone(),
            membership: account.membership.clone(),
            subscription_status: account.subscription_status.clone(),
            current_period_start: account.current_period_start.map(seconds),
            current_period_end: account.current_period_end.map(seconds),
            referred_by: account.referred_by.as_ref().map(ToString::to_string),
        }
    }
}

impl From<&LedgerEntry> for LedgerLine {
    fn from(entry: &LedgerEntry) -> Self {
        LedgerLine {
            id: entry.id.clone(),
            kind: entry.kind.as_str(),
            amount_cents: entry.amount.amount,
            currency: entry.amount.currency.as_str().to_owned(),
            event_id: entry.event_id.clone(),
            payment_ref: entry.payment_ref.clone(),
            at: entry.at.0,
            source: entry.source.map(|source| source.as_str()),
        }
    }
}

/// What a reconciliation found.
#[derive(Serialize, ToSchema)]
pub struct ReconcileView {
    /// Events of the handled types Stripe listed in the window.
    pub listed: u64,
    /// Events no webhook had delivered: now queued (and alerted as `missed_events`).
    pub new: u64,
    pub already_had: u64,
    /// Unix seconds the window started at.
    pub from: i64,
    /// Set when the window was cut at Stripe's 30 days: older events are out of reach.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

impl From<&Reconciled> for ReconcileView {
    fn from(found: &Reconciled) -> Self {
        ReconcileView {
            listed: found.listed,
            new: found.new,
            already_had: found.already_had,
            from: found.window.from.0,
            note: found.window.truncated.then_some(
                "Stripe keeps events for 30 days: anything older than `from` is out of reach and was not checked",
            ),
        }
    }
}

/// A replayed event.
#[derive(Serialize, ToSchema)]
pub struct ReplayView {
    /// `evt_…`
    pub id: String,
    /// `queued`
    pub status: &'static str,
}

/// One thing that happened.
#[derive(Serialize, ToSchema)]
pub struct ActivityItemView {
    /// Stable across answers: `event:<id>`, `alert:<id>`, `run:<id>:started`, `run:<id>:ended`.
    pub id: String,
    /// `event:received`, `payment:received`, `workflow:started`, `workflow:completed`,
    /// `workflow:failed` or `alert:raised`.
    pub kind: &'static str,
    /// Unix seconds.
    pub at: i64,
    pub subject: String,
    pub text: String,
}

/// `GET /admin/activity`.
#[derive(Serialize, ToSchema)]
pub struct ActivityView {
    /// Newest first.
    pub items: Vec<ActivityItemView>,
    /// The `ETag` of this answer.
    pub tag: String,
}

/// `POST /admin/stream-tickets`.
#[derive(Serialize, ToSchema)]
pub struct StreamTicket {
    /// Opens `GET /admin/stream?ticket=…` once.
    pub ticket: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl From<&tollgate_app::activity::ActivityItem> for ActivityItemView {
    fn from(item: &tollgate_app::activity::ActivityItem) -> Self {
        ActivityItemView {
            id: item.id.clone(),
            kind: item.kind,
            at: item.at.0,
            subject: item.subject.clone(),
            text: item.text.clone(),
        }
    }
}

/// `POST /admin/customers/{customer}/advance`.
#[derive(Serialize, ToSchema)]
pub struct AdvancedView {
    /// The subscriptions renewed (or ended, when cancelled at period end).
    pub renewed: Vec<String>,
    /// The invoices made for their new periods.
    pub invoices: Vec<String>,
}

/// `GET /admin/accounts/{account}/referrals`.
#[derive(Serialize, ToSchema)]
pub struct ReferralList {
    /// The accounts it referred, sorted.
    pub referred: Vec<String>,
}
