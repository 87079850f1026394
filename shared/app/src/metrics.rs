//! The operator's figures: revenue by day (subscriptions, one-off sales and workflow
//! earnings), by hour and by month, and by workflow; runs and error rates, execution
//! times; checkouts and their conversion; active accounts; active subscriptions. Runs are
//! read from counters kept by the writes themselves, never by scanning runs; payments from
//! the ledger's entries of the window, by time; checkouts and active accounts from the
//! day's tallies.

use crate::Clock;
use crate::orchestrator::OrchestrateError;
use crate::ports::accounts::Accounts;
use crate::ports::ledger::Ledger;
use crate::ports::runs::Runs;
use crate::ports::tallies::{Tallies, Tally};
use crate::ports::workflows::Workflows;
use std::collections::HashMap;
use std::sync::Arc;
use tollgate_core::account::SubscriptionKind;
use tollgate_core::catalog::{Catalog, Interval};
use tollgate_core::ids::{AccountId, WorkflowId};
use tollgate_core::ledger::PaymentSource;
use tollgate_core::time::{BusinessZone, Timestamp};
use tollgate_core::workflow::{Caps, Durations, Run, RunStatus, durations};

/// Days of runs a workflow's execution times are taken over.
const DURATION_DAYS: i64 = 30;
/// Hours of revenue by hour.
pub const REVENUE_HOURS: usize = 48;
/// Months of revenue by month.
pub const REVENUE_MONTHS: usize = 12;
/// Business days an account counts as active for after a call or a payment.
pub const ACTIVE_DAYS: usize = 30;

#[derive(Debug)]
pub struct DayFigures {
    pub day: String,
    pub starts: u32,
    pub completed: u64,
    pub failed: u64,
    /// Workflow earnings.
    pub revenue_cents: i64,
    /// Subscription invoices paid, net of their refunds.
    pub subscriptions_cents: i64,
    /// One-off sales, net of their refunds.
    pub sales_cents: i64,
    /// Checkout Sessions created.
    pub checkouts_started: u64,
    /// Checkout Sessions completed (paid or, for a trial, started).
    pub checkouts_completed: u64,
    /// Completed per started, in basis points (exact, no floats); `None` with none started.
    pub conversion_bp: Option<u64>,
    /// Accounts with a call or a payment that day.
    pub active_accounts: u64,
}

/// All revenue of one hour or month: payments less refunds, and workflow earnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodRevenue {
    /// The hour's start (RFC 3339, UTC) or the month (`YYYY-MM`, in the business's zone).
    pub period: String,
    pub revenue_cents: i64,
}

#[derive(Debug)]
pub struct WorkflowFigures {
    pub workflow_id: WorkflowId,
    pub runs: u64,
    pub completed: u64,
    pub failed: u64,
    /// Failed share of ended runs, in basis points (1 % = 100): exact, no floats.
    pub error_rate_bp: u64,
    pub revenue_cents: i64,
    /// How long its runs of the last 30 days took, start to callback.
    pub durations: Option<Durations>,
    /// A sold workflow's customers' runs of the last 30 days.
    pub sold: Option<SoldFigures>,
}

/// What customers' runs of a sold workflow did over the last 30 days.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SoldFigures {
    /// Runs asked for on each of the last 7 business days, today first: (day, runs).
    pub runs_by_day: Vec<(String, u64)>,
    pub completed: u64,
    pub failed: u64,
    /// Completed share of ended runs, in basis points; `None` before any ended.
    pub success_rate_bp: Option<u64>,
    /// Mean execution time, start to callback, of those that ended.
    pub durations: Option<Durations>,
    /// Earnings its runs reported, in US cents.
    pub revenue_cents: i64,
    /// Units of its meter customers kept paying for (given-back ones not counted).
    pub units_charged: u64,
    /// Accounts whose workflow subscription to it is paid (`active` or `trialing`).
    pub active_subscribers: u64,
    /// Each customer's runs, most runs first: (account, runs, completed).
    pub customers: Vec<(AccountId, u64, u64)>,
}

/// Days of a sold workflow's runs counted day by day.
const SOLD_DAYS: usize = 7;

fn sold_figures(runs: &[&Run], days: &[String], zone: BusinessZone, active_subscribers: u64) -> SoldFigures {
    let count = |status| runs.iter().filter(|run| run.status == status).count() as u64;
    let (completed, failed) = (count(RunStatus::Completed), count(RunStatus::Failed));
    let mut customers: Vec<(AccountId, u64, u64)> = Vec::new();
    for run in runs {
        let Some(account) = run.account() else { continue };
        let done = u64::from(run.status == RunStatus::Completed);
        match customers.iter_mut().find(|(known, _, _)| known == account) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += done;
            }
            None => customers.push((account.clone(), 1, done)),
        }
    }
    customers.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    SoldFigures {
        runs_by_day: days
            .iter()
            .map(|day| (day.clone(), runs.iter().filter(|run| &zone.day(run.created_at) == day).count() as u64))
            .collect(),
        completed,
        failed,
        success_rate_bp: completed.saturating_mul(10_000).checked_div(completed + failed),
        durations: durations(runs.iter().copied()),
        revenue_cents: runs.iter().fold(0_i64, |total, run| total.saturating_add(run.earnings_cents)),
        units_charged: runs
            .iter()
            .filter_map(|run| run.customer.as_ref())
            .filter(|customer| !customer.charged.returned)
            .fold(0_u64, |total, customer| total.saturating_add(customer.charged.units)),
        customers,
        active_subscribers,
    }
}

#[derive(Debug)]
pub struct Metrics {
    pub currency: &'static str,
    /// The last `days` business days, today first.
    pub revenue_by_day: Vec<DayFigures>,
    /// The last 48 hours, this one first.
    pub revenue_by_hour: Vec<PeriodRevenue>,
    /// The last 12 months in the business's zone, this one first.
    pub revenue_by_month: Vec<PeriodRevenue>,
    /// Accounts with a call or a payment in the last 30 business days, each once.
    pub active_accounts_30d: u64,
    pub workflows: Vec<WorkflowFigures>,
    pub active_subscriptions: u64,
    /// Active subscriptions per plan and membership tier.
    pub subscriptions_by_tier: Vec<TierCount>,
    /// Monthly recurring revenue: each active subscription's catalog price per month (a
    /// yearly price counts a twelfth, rounded down), in cents.
    pub mrr_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierCount {
    /// `api_plan` or `membership`.
    pub kind: &'static str,
    pub tier: String,
    pub active: u64,
}

/// The operator's figures, and the caps they are read against.
pub struct Figures<S> {
    pub store: S,
    pub catalog: Catalog,
    pub clock: Arc<dyn Clock>,
    pub caps: Caps,
    /// Where the business's days start.
    pub zone: BusinessZone,
}

impl<S: Workflows + Runs + Accounts + Ledger + Tallies> Figures<S> {
    pub async fn metrics(&self, days: u32) -> Result<Metrics, OrchestrateError> {
        let now = self.clock.now();
        // Today and the days before it, newest first, each from its midnight in the zone.
        let days = days as usize;
        let day_starts = self.zone.day_starts(now, days.max(ACTIVE_DAYS));
        let names: Vec<String> = day_starts.iter().map(|&start| self.zone.day(start)).collect();
        let shown = &names[..days];
        let from = day_starts[days.saturating_sub(1)];
        let payments = self.payments_by_day(from).await?;
        let started = self.store.tally_counts(Tally::CheckoutStarted, shown).await?;
        let completed = self.store.tally_counts(Tally::CheckoutCompleted, shown).await?;
        let active = self.store.tally_counts(Tally::ActiveAccount, shown).await?;
        let mut revenue_by_day = Vec::with_capacity(days);
        for (n, day) in shown.iter().enumerate() {
            let totals = self.store.day_totals(day).await?;
            let paid = |source| payments.get(&(day.clone(), source)).copied().unwrap_or(0);
            revenue_by_day.push(DayFigures {
                starts: totals.starts,
                completed: totals.completed,
                failed: totals.failed,
                revenue_cents: totals.revenue_cents,
                subscriptions_cents: paid(PaymentSource::Subscription),
                sales_cents: paid(PaymentSource::Sale),
                checkouts_started: count(&started, n),
                checkouts_completed: count(&completed, n),
                conversion_bp: count(&completed, n).saturating_mul(10_000).checked_div(count(&started, n)),
                active_accounts: count(&active, n),
                day: day.clone(),
            });
        }
        let active_accounts_30d = self.store.tally_distinct(Tally::ActiveAccount, &names[..ACTIVE_DAYS]).await?;
        let (revenue_by_hour, revenue_by_month) = self.revenue_by_hour_and_month(now).await?;
        let since = now.plus_seconds(-DURATION_DAYS * 86_400);
        let mut workflows = Vec::new();
        let sold_days: Vec<String> = names.iter().take(SOLD_DAYS).cloned().collect();
        let active = self.store.active_subscriptions().await?;
        for workflow in self.store.workflows().await? {
            let totals = workflow.totals;
            let recent = self.store.runs_since(&workflow.spec.id, since).await?;
            let sold = workflow.spec.sell.is_some().then(|| {
                let customers: Vec<&Run> = recent.iter().filter(|run| run.customer.is_some()).collect();
                let subscribed = active.iter().filter(|subscription| {
                    subscription.kind == SubscriptionKind::WorkflowSubscription
                        && subscription.tier == workflow.spec.id.as_str()
                        && matches!(subscription.status.0.as_str(), "active" | "trialing")
                });
                let active_subscribers = u64::try_from(subscribed.count()).unwrap_or(u64::MAX);
                sold_figures(&customers, &sold_days, self.zone, active_subscribers)
            });
            workflows.push(WorkflowFigures {
                workflow_id: workflow.spec.id,
                runs: totals.runs(),
                completed: totals.completed,
                failed: totals.failed,
                error_rate_bp: totals.error_rate_bp(),
                revenue_cents: totals.revenue_cents,
                durations: durations(&recent),
                sold,
            });
        }
        let mut by_tier: Vec<TierCount> = Vec::new();
        let mut mrr_cents: i64 = 0;
        for subscription in &active {
            let kind = match subscription.kind {
                SubscriptionKind::ApiPlan => "api_plan",
                SubscriptionKind::Membership => "membership",
                SubscriptionKind::WorkflowSubscription => "workflow_subscription",
            };
            match by_tier.iter_mut().find(|count| count.kind == kind && count.tier == subscription.tier) {
                Some(count) => count.active = count.active.saturating_add(1),
                None => by_tier.push(TierCount { kind, tier: subscription.tier.clone(), active: 1 }),
            }
            mrr_cents = mrr_cents.saturating_add(self.monthly_cents(&subscription.sku));
        }
        by_tier.sort_by(|a, b| (a.kind, &a.tier).cmp(&(b.kind, &b.tier)));
        let active_subscriptions = u64::try_from(active.len()).unwrap_or(u64::MAX);
        Ok(Metrics {
            currency: "usd",
            revenue_by_day,
            revenue_by_hour,
            revenue_by_month,
            active_accounts_30d,
            workflows,
            active_subscriptions,
            subscriptions_by_tier: by_tier,
            mrr_cents,
        })
    }
}

/// Day `n`'s count, as the tallies answered them.
fn count(counts: &[u64], n: usize) -> u64 {
    counts.get(n).copied().unwrap_or(0)
}

impl<S: Ledger> Figures<S> {
    /// All revenue (payments less refunds, workflow earnings) in each of the last
    /// [`REVENUE_HOURS`] hours and [`REVENUE_MONTHS`] months of the zone, newest first,
    /// from one read of the ledger.
    async fn revenue_by_hour_and_month(
        &self,
        now: Timestamp,
    ) -> Result<(Vec<PeriodRevenue>, Vec<PeriodRevenue>), OrchestrateError> {
        let this_hour = Timestamp(now.0.div_euclid(3_600).saturating_mul(3_600));
        let hours: Vec<Timestamp> =
            (0..REVENUE_HOURS as i64).map(|n| this_hour.plus_seconds(n.saturating_mul(-3_600))).collect();
        let months = self.zone.month_starts(now, REVENUE_MONTHS);
        let from = months.last().copied().unwrap_or(now).min(hours.last().copied().unwrap_or(now));
        let mut by_hour = vec![0_i64; hours.len()];
        let mut by_month = vec![0_i64; months.len()];
        for entry in self.store.entries_since(&tollgate_core::ledger::REVENUE, from).await? {
            // Newest first: the first period that started at or before the entry holds it.
            let amount = entry.amount.amount;
            if let Some(n) = hours.iter().position(|&start| start <= entry.at && entry.at <= now) {
                by_hour[n] = by_hour[n].saturating_add(amount);
            }
            if let Some(n) = months.iter().position(|&start| start <= entry.at && entry.at <= now) {
                by_month[n] = by_month[n].saturating_add(amount);
            }
        }
        let hourly = hours
            .iter()
            .zip(by_hour)
            .map(|(start, revenue_cents)| PeriodRevenue { period: start.rfc3339(), revenue_cents });
        let monthly = months.iter().zip(by_month).map(|(&start, revenue_cents)| PeriodRevenue {
            period: self.zone.day(start)[..7].to_owned(),
            revenue_cents,
        });
        Ok((hourly.collect(), monthly.collect()))
    }

    /// Money in per business day and source since `from`: payments less refunds. A refund is a
    /// running total, counted on the day of its latest change; a payment recorded before
    /// sources were kept counts as a subscription's.
    async fn payments_by_day(
        &self,
        from: Timestamp,
    ) -> Result<HashMap<(String, PaymentSource), i64>, OrchestrateError> {
        let mut by_day: HashMap<(String, PaymentSource), i64> = HashMap::new();
        for entry in self.store.entries_since(&tollgate_core::ledger::MONEY_IN, from).await? {
            let source = entry.source.unwrap_or(PaymentSource::Subscription);
            let total = by_day.entry((self.zone.day(entry.at), source)).or_insert(0);
            *total = total.saturating_add(entry.amount.amount);
        }
        Ok(by_day)
    }
}

impl<S> Figures<S> {
    /// What `sku` brings in a month at its catalog price; nothing for an unknown SKU.
    fn monthly_cents(&self, sku: &tollgate_core::ids::Sku) -> i64 {
        match self.catalog.by_sku(sku) {
            Some(item) => match item.interval {
                Some(Interval::Year) => item.price_cents.div_euclid(12),
                Some(Interval::Month) => item.price_cents,
                None => 0,
            },
            None => 0,
        }
    }
}
