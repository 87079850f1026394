//! The operator's figures: revenue by day (subscriptions, one-off sales and workflow
//! earnings) and by workflow, runs and error rates, active subscriptions. Runs are read
//! from counters kept by the writes themselves, never by scanning runs; payments from the
//! ledger's entries of the window, by time.

use crate::Clock;
use crate::orchestrator::OrchestrateError;
use crate::ports::accounts::Accounts;
use crate::ports::ledger::Ledger;
use crate::ports::runs::Runs;
use crate::ports::workflows::Workflows;
use std::collections::HashMap;
use std::sync::Arc;
use tollgate_core::account::SubscriptionKind;
use tollgate_core::catalog::{Catalog, Interval};
use tollgate_core::ids::WorkflowId;
use tollgate_core::ledger::PaymentSource;
use tollgate_core::time::BusinessZone;
use tollgate_core::workflow::{Caps, Durations, durations};

/// Days of runs a workflow's execution times are taken over.
const DURATION_DAYS: i64 = 30;

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
}

#[derive(Debug)]
pub struct Metrics {
    pub currency: &'static str,
    /// The last `days` UTC days, today first.
    pub revenue_by_day: Vec<DayFigures>,
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

impl<S: Workflows + Runs + Accounts + Ledger> Figures<S> {
    pub async fn metrics(&self, days: u32) -> Result<Metrics, OrchestrateError> {
        // Today and the days before it, newest first, each from its midnight in the zone.
        let mut day_starts = Vec::with_capacity(days as usize);
        let mut start = self.zone.day_span(self.clock.now()).0;
        for _ in 0..days {
            day_starts.push(start);
            start = self.zone.day_span(start.plus_seconds(-1)).0;
        }
        let from = day_starts.last().copied().unwrap_or(start);
        let payments = self.payments_by_day(from).await?;
        let mut revenue_by_day = Vec::with_capacity(days as usize);
        for start in day_starts {
            let day = self.zone.day(start);
            let totals = self.store.day_totals(&day).await?;
            let paid = |source| payments.get(&(day.clone(), source)).copied().unwrap_or(0);
            revenue_by_day.push(DayFigures {
                starts: totals.starts,
                completed: totals.completed,
                failed: totals.failed,
                revenue_cents: totals.revenue_cents,
                subscriptions_cents: paid(PaymentSource::Subscription),
                sales_cents: paid(PaymentSource::Sale),
                day,
            });
        }
        let since = self.clock.now().plus_seconds(-DURATION_DAYS * 86_400);
        let mut workflows = Vec::new();
        for workflow in self.store.workflows().await? {
            let totals = workflow.totals;
            let recent = self.store.runs_since(&workflow.spec.id, since).await?;
            workflows.push(WorkflowFigures {
                workflow_id: workflow.spec.id,
                runs: totals.runs(),
                completed: totals.completed,
                failed: totals.failed,
                error_rate_bp: totals.error_rate_bp(),
                revenue_cents: totals.revenue_cents,
                durations: durations(&recent),
            });
        }
        let active = self.store.active_subscriptions().await?;
        let mut by_tier: Vec<TierCount> = Vec::new();
        let mut mrr_cents: i64 = 0;
        for subscription in &active {
            let kind = match subscription.kind {
                SubscriptionKind::ApiPlan => "api_plan",
                SubscriptionKind::Membership => "membership",
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
            workflows,
            active_subscriptions,
            subscriptions_by_tier: by_tier,
            mrr_cents,
        })
    }
}

impl<S: Ledger> Figures<S> {
    /// Money in per business day and source since `from`: payments less refunds. A refund is a
    /// running total, counted on the day of its latest change; a payment recorded before
    /// sources were kept counts as a subscription's.
    async fn payments_by_day(
        &self,
        from: tollgate_core::time::Timestamp,
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
