//! What the customer API answers about sold workflows and their runs.

use serde::Serialize;
use tollgate_app::sales::Offer;
use tollgate_core::delivery::Delivery;
use tollgate_core::workflow::{Run, RunStatus};
use utoipa::ToSchema;

/// A workflow the account may run.
#[derive(Serialize, ToSchema)]
pub struct OfferView {
    pub id: String,
    pub name: String,
    /// The meter a run is charged on.
    pub meter: String,
    /// Units of it one run costs.
    pub cost: u64,
    /// `on_start` or `on_success`.
    pub charge: &'static str,
    /// The JSON Schema a run's `input` must meet.
    #[schema(value_type = Object)]
    pub input_schema: serde_json::Value,
    /// The most output a run returns, in bytes.
    pub max_output_bytes: u32,
}

impl From<&Offer> for OfferView {
    fn from(offer: &Offer) -> Self {
        let spec = &offer.workflow.spec;
        let sell = spec.sell.as_ref().expect("offers are sold workflows");
        OfferView {
            id: spec.id.to_string(),
            name: spec.name.clone(),
            meter: sell.meter.to_string(),
            cost: sell.cost.get(),
            charge: sell.charge.as_str(),
            input_schema: sell.input_schema.clone(),
            max_output_bytes: sell.max_output_bytes,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OfferList {
    pub data: Vec<OfferView>,
}

/// What a run costs on its meter.
#[derive(Serialize, ToSchema)]
pub struct ChargedView {
    pub meter: String,
    /// Units kept: 0 once given back.
    pub units: u64,
}

/// A customer's run.
#[derive(Serialize, ToSchema)]
pub struct CustomerRunView {
    pub run_id: String,
    pub workflow_id: String,
    /// `queued`, `started`, `completed`, `failed` or `cancelled`.
    pub status: &'static str,
    #[schema(value_type = Object)]
    pub input: serde_json::Value,
    /// What the workflow returned (`completed` runs).
    #[schema(value_type = Option<Object>)]
    pub output: Option<serde_json::Value>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    pub charged: ChargedView,
    /// Unix seconds.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
}

impl From<&Run> for CustomerRunView {
    fn from(run: &Run) -> Self {
        let customer = run.customer.as_deref().expect("customer runs only");
        let charged = &customer.charged;
        CustomerRunView {
            run_id: run.id.to_string(),
            workflow_id: run.workflow_id.to_string(),
            status: run.status.as_str(),
            input: customer.input.clone(),
            output: customer.output.clone(),
            error: run.reason.clone().filter(|_| matches!(run.status, RunStatus::Failed | RunStatus::Cancelled)),
            charged: ChargedView {
                meter: charged.meter.to_string(),
                units: if charged.returned { 0 } else { charged.units },
            },
            created_at: run.created_at.0,
            started_at: run.started_at.map(|at| at.0),
            ended_at: run.finished_at.map(|at| at.0),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RunLinks {
    /// Where the run is read: `/v1/runs/{run_id}`.
    #[serde(rename = "self")]
    pub this: String,
}

/// A run accepted and not yet ended.
#[derive(Serialize, ToSchema)]
pub struct AcceptedRun {
    pub run_id: String,
    /// `queued` or `started`.
    pub status: &'static str,
    pub links: RunLinks,
}

impl From<&Run> for AcceptedRun {
    fn from(run: &Run) -> Self {
        AcceptedRun {
            run_id: run.id.to_string(),
            status: run.status.as_str(),
            links: RunLinks { this: format!("/v1/runs/{}", run.id) },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CustomerRunList {
    /// Newest first.
    pub data: Vec<CustomerRunView>,
    /// More runs follow the last: ask again with `starting_after` = its `run_id`.
    pub has_more: bool,
}

/// A delivery of an event to the account's endpoint or a run's `webhook_url`.
#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    /// The `webhook-id` every attempt carries.
    pub id: String,
    /// `run.completed` or `run.failed`.
    pub event: String,
    pub url: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: &'static str,
    /// Attempts made.
    pub attempts: u32,
    /// When it is tried next (Unix seconds), while pending.
    pub next_attempt_at: Option<i64>,
    /// The last attempt's answer (`HTTP 500`), or why there was none.
    pub last_response: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<&Delivery> for DeliveryView {
    fn from(delivery: &Delivery) -> Self {
        DeliveryView {
            id: delivery.id.clone(),
            event: delivery.event.clone(),
            url: delivery.url.clone(),
            status: delivery.status.as_str(),
            attempts: delivery.attempts,
            next_attempt_at: delivery.next_attempt_at.map(|at| at.0),
            last_response: delivery.last_response.clone(),
            created_at: delivery.created_at.0,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    /// The account's endpoint URL, if one is set.
    pub endpoint: Option<String>,
    /// Newest first.
    pub data: Vec<DeliveryView>,
}
