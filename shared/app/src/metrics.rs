//! The operator's figures: revenue by day and by workflow, runs and error rates,
//! active subscriptions. Read from counters kept by the writes themselves, never by
//! scanning runs.

use crate::App;
use crate::orchestrator::OrchestrateError;
use crate::ports::accounts::Accounts;
use crate::ports::runs::Runs;
use crate::ports::workflows::Workflows;
use tollgate_core::ids::WorkflowId;

#[derive(Debug)]
pub struct DayFigures {
    pub day: String,
    pub starts: u32,
    pub completed: u64,
    pub failed: u64,
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
}

#[derive(Debug)]
pub struct Metrics {
    pub currency: &'static str,
    /// The last `days` UTC days, today first.
    pub revenue_by_day: Vec<DayFigures>,
    pub workflows: Vec<WorkflowFigures>,
    pub active_subscriptions: u64,
}

impl<S: Workflows + Runs + Accounts> App<S> {
    pub async fn metrics(&self, days: u32) -> Result<Metrics, OrchestrateError> {
        let now = self.clock.now();
        let mut revenue_by_day = Vec::with_capacity(days as usize);
        for back in 0..i64::from(days) {
            let day = now.plus_seconds(back.saturating_mul(-86_400)).utc_day();
            let totals = self.store.day_totals(&day).await?;
            revenue_by_day.push(DayFigures {
                day,
                starts: totals.starts,
                completed: totals.completed,
                failed: totals.failed,
                revenue_cents: totals.revenue_cents,
            });
        }
        let workflows = self
            .store
            .workflows()
            .await?
            .into_iter()
            .map(|workflow| {
                let totals = workflow.totals;
                WorkflowFigures {
                    workflow_id: workflow.spec.id,
                    runs: totals.runs(),
                    completed: totals.completed,
                    failed: totals.failed,
                    error_rate_bp: totals.error_rate_bp(),
                    revenue_cents: totals.revenue_cents,
                }
            })
            .collect();
        let active_subscriptions = self.store.count_active_subscriptions().await?;
        Ok(Metrics { currency: "usd", revenue_by_day, workflows, active_subscriptions })
    }
}
