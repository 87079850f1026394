//! Workflows and runs, as the operator's API shows them.

use serde::Serialize;
use tollgate_core::workflow::{Run, RunTotals, Sell, Workflow};
use utoipa::ToSchema;

/// A registered workflow and where it stands.
#[derive(Serialize, ToSchema)]
pub struct WorkflowView {
    pub id: String,
    pub name: String,
    pub webhook_url: String,
    /// `null` for a sold workflow only its customers start.
    pub schedule: Option<ScheduleView>,
    pub enabled: bool,
    pub premium: bool,
    /// Seconds a run has to call back.
    pub timeout_s: u32,
    /// `idle` or `running`.
    pub state: &'static str,
    /// The run in flight, when running.
    pub current_run: Option<String>,
    /// Unix seconds it is next due; `null` when disabled.
    pub next_run: Option<i64>,
    /// Failures since the last completed run.
    pub consecutive_failures: u32,
    pub totals: TotalsView,
    /// Grows with every change.
    pub version: u64,
    /// Unix seconds it was registered.
    pub created_at: i64,
    /// How it is sold; absent for the operator's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sell: Option<SellView>,
    /// Subscribers whose workflow subscription to it is paid (`active` or `trialing` in
    /// Stripe): a strategist's count. Only on `GET /admin/workflows/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_subscribers: Option<u64>,
}

/// How a workflow is sold.
#[derive(Serialize, ToSchema)]
pub struct SellView {
    pub meter: String,
    /// Units of the meter one run costs.
    pub cost: u64,
    /// `public`, `premium` or `plans`.
    pub access: &'static str,
    /// With `access: plans`: the plan SKUs that may run it.
    pub plans: Vec<String>,
    /// The JSON Schema a run's `input` must meet.
    #[schema(value_type = Object)]
    pub input_schema: serde_json::Value,
    /// `on_start` or `on_success`.
    pub charge: &'static str,
    pub max_output_bytes: u32,
}

impl From<&Sell> for SellView {
    fn from(sell: &Sell) -> Self {
        SellView {
            meter: sell.meter.to_string(),
            cost: sell.cost.get(),
            access: sell.access.as_str(),
            plans: sell.plans.iter().map(ToString::to_string).collect(),
            input_schema: sell.input_schema.clone(),
            charge: sell.charge.as_str(),
            max_output_bytes: sell.max_output_bytes,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleView {
    /// Five fields: minute hour day-of-month month day-of-week.
    pub cron: String,
    /// IANA zone name.
    pub timezone: String,
}

#[derive(Serialize, ToSchema)]
pub struct TotalsView {
    pub completed: u64,
    pub failed: u64,
    /// Earnings reported by completed runs, in US cents.
    pub revenue_cents: i64,
}

/// One run of a workflow.
#[derive(Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub workflow_id: String,
    /// `queued`, `started`, `completed`, `failed`, or (a customer's run) `cancelled`.
    pub status: &'static str,
    /// Unix seconds it was claimed.
    pub created_at: i64,
    /// Unix seconds it fails at without a callback.
    pub deadline: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Reported by a completed run, in US cents.
    pub earnings_cents: i64,
    /// Why it failed, or the workflow's own note.
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WorkflowList {
    pub workflows: Vec<WorkflowView>,
}

#[derive(Serialize, ToSchema)]
pub struct RunList {
    /// The last 7 days, newest first.
    pub runs: Vec<RunView>,
}

impl From<&RunTotals> for TotalsView {
    fn from(totals: &RunTotals) -> Self {
        TotalsView { completed: totals.completed, failed: totals.failed, revenue_cents: totals.revenue_cents }
    }
}

impl From<&Workflow> for WorkflowView {
    fn from(workflow: &Workflow) -> Self {
        let spec = &workflow.spec;
        WorkflowView {
            id: spec.id.to_string(),
            name: spec.name.clone(),
            webhook_url: spec.webhook_url.as_str().to_owned(),
            schedule: spec.schedule.as_ref().map(|schedule| {
                let schedule = schedule.spec();
                ScheduleView { cron: schedule.cron.clone(), timezone: schedule.timezone.clone() }
            }),
            enabled: spec.enabled,
            premium: spec.premium,
            timeout_s: spec.timeout_s,
            state: workflow.state.as_str(),
            current_run: workflow.current_run.as_ref().map(ToString::to_string),
            next_run: workflow.next_run.map(|at| at.0),
            consecutive_failures: workflow.consecutive_failures,
            totals: TotalsView::from(&workflow.totals),
            version: workflow.version,
            created_at: workflow.created_at.0,
            sell: spec.sell.as_ref().map(SellView::from),
            active_subscribers: None,
        }
    }
}

impl From<&Run> for RunView {
    fn from(run: &Run) -> Self {
        RunView {
            id: run.id.to_string(),
            workflow_id: run.workflow_id.to_string(),
            status: run.status.as_str(),
            created_at: run.created_at.0,
            deadline: run.deadline.0,
            started_at: run.started_at.map(|at| at.0),
            finished_at: run.finished_at.map(|at| at.0),
            earnings_cents: run.earnings_cents,
            reason: run.reason.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tollgate_core::cron::Schedule;
    use tollgate_core::ids::{RunId, WorkflowId};
    use tollgate_core::time::Timestamp;
    use tollgate_core::workflow::{WebhookUrl, WorkflowSpec};

    /// Field for field, what the API has answered since it serialized the domain's structs:
    /// a change here is a change of the API, made on purpose.
    #[test]
    fn the_views_answer_what_the_api_always_answered() {
        let spec = WorkflowSpec {
            id: WorkflowId::parse("daily_shorts").unwrap(),
            name: "Daily shorts".into(),
            webhook_url: WebhookUrl::parse("https://n8n.example.com/webhook/shorts").unwrap(),
            schedule: Some(Schedule::parse("0 9 * * 1-5", "Europe/Paris").unwrap()),
            enabled: true,
            premium: true,
            timeout_s: 120,
            sell: None,
        };
        let mut workflow = Workflow::register(spec, Timestamp(1_795_500_000));
        let mut run = Run::claimed(RunId::parse("run_1").unwrap(), &workflow, Timestamp(1_795_500_060));
        workflow.current_run = Some(run.id.clone());
        workflow.totals = RunTotals { completed: 3, failed: 1, revenue_cents: 1_250 };
        (run.started_at, run.earnings_cents, run.reason) = (Some(Timestamp(1_795_500_061)), 250, Some("ok".into()));
        assert_eq!(
            serde_json::to_value(WorkflowView::from(&workflow)).unwrap(),
            json!({"id": "daily_shorts", "name": "Daily shorts", "webhook_url": "https://n8n.example.com/webhook/shorts",
                   "schedule": {"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}, "enabled": true, "premium": true,
                   "timeout_s": 120, "state": "idle", "current_run": "run_1", "next_run": workflow.next_run.map(|at| at.0),
                   "consecutive_failures": 0, "totals": {"completed": 3, "failed": 1, "revenue_cents": 1_250},
                   "version": workflow.version, "created_at": 1_795_500_000})
        );
        assert_eq!(
            serde_json::to_value(RunView::from(&run)).unwrap(),
            json!({"id": "run_1", "workflow_id": "daily_shorts", "status": "queued", "created_at": 1_795_500_060,
                   "deadline": run.deadline.0, "started_at": 1_795_500_061, "finished_at": null, "earnings_cents": 250,
                   "reason": "ok"})
        );
    }

    #[test]
    fn a_sold_workflow_shows_how_it_is_sold_and_may_have_no_schedule() {
        let sell = Sell {
            meter: tollgate_core::meters::MeterName::parse("generations").unwrap(),
            cost: std::num::NonZeroU64::new(2).unwrap(),
            access: tollgate_core::workflow::Access::Plans,
            plans: vec![tollgate_core::ids::Sku::parse("api_pro").unwrap()],
            input_schema: json!({"type": "object", "required": ["prompt"]}),
            charge: tollgate_core::workflow::Charge::OnSuccess,
            max_output_bytes: 1_024,
        };
        let spec = WorkflowSpec {
            id: WorkflowId::parse("image_generator").unwrap(),
            name: "Image generator".into(),
            webhook_url: WebhookUrl::parse("https://n8n.example.com/webhook/images").unwrap(),
            schedule: None,
            enabled: true,
            premium: false,
            timeout_s: 120,
            sell: Some(sell),
        };
        let view =
            serde_json::to_value(WorkflowView::from(&Workflow::register(spec, Timestamp(1_795_500_000)))).unwrap();
        assert_eq!((&view["schedule"], &view["next_run"]), (&json!(null), &json!(null)), "never due on its own");
        assert_eq!(
            view["sell"],
            json!({"meter": "generations", "cost": 2, "access": "plans", "plans": ["api_pro"],
                   "input_schema": {"type": "object", "required": ["prompt"]}, "charge": "on_success", "max_output_bytes": 1_024})
        );
    }
}
