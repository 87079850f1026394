//! Events to customers: when a customer's run ends, `run.completed` or `run.failed` goes to
//! the account's webhook endpoint and to the run's own `webhook_url`; `usage.threshold_reached`
//! and `balance.low` (recorded by the usage meter) go to the endpoint. Each is signed as
//! Standard Webhooks says with the endpoint's secret, and tried again on its schedule
//! (`tollgate_core::delivery`) by every tick until it is answered with a 2xx.

use crate::orchestrator::{OrchestrateError, OrchestrationStore, Orchestrator};
use crate::ports::outbound::OutboundRequest;
use crate::ports::webhook_deliveries::{WebhookDeliveries, WebhookDeliveriesError};
use crate::ports::webhook_endpoints::{WebhookEndpoint, WebhookEndpoints, WebhookEndpointsError};
use serde::Serialize;
use std::time::Duration;
use tollgate_core::delivery::{ATTEMPT_TIMEOUT_SECONDS, Delivery};
use tollgate_core::ids::AccountId;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{Run, RunStatus};

/// Deliveries sent per tick; the rest wait for the next.
const DUE_PAGE: usize = 50;

/// What a run event carries: the run as `GET /v1/runs/{run_id}` shows it.
#[derive(Serialize)]
struct RunEvent<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: String,
    data: RunData<'a>,
}

#[derive(Serialize)]
struct RunData<'a> {
    run_id: &'a str,
    workflow_id: &'a str,
    status: &'a str,
    input: &'a serde_json::Value,
    output: &'a Option<serde_json::Value>,
    error: Option<&'a str>,
    charged: Charged<'a>,
    created_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
}

#[derive(Serialize)]
struct Charged<'a> {
    meter: &'a str,
    units: u64,
}

/// The event a run's end is, and its body.
fn run_event(run: &Run) -> Option<(&'static str, String)> {
    let customer = run.customer.as_deref()?;
    let kind = match run.status {
        RunStatus::Completed => "run.completed",
        RunStatus::Failed => "run.failed",
        _ => return None,
    };
    let charged = &customer.charged;
    let event = RunEvent {
        kind,
        timestamp: run.finished_at.unwrap_or(run.created_at).rfc3339(),
        data: RunData {
            run_id: run.id.as_str(),
            workflow_id: run.workflow_id.as_str(),
            status: run.status.as_str(),
            input: &customer.input,
            output: &customer.output,
            error: run.reason.as_deref().filter(|_| run.status == RunStatus::Failed),
            charged: Charged { meter: charged.meter.as_str(), units: if charged.returned { 0 } else { charged.units } },
            created_at: run.created_at.0,
            started_at: run.started_at.map(|at| at.0),
            ended_at: run.finished_at.map(|at| at.0),
        },
    };
    Some((kind, serde_json::to_string(&event).expect("a run event always serialises")))
}

/// An event about an account (`usage.threshold_reached`, `balance.low`), for its endpoint.
#[derive(Serialize)]
struct AccountEvent<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: String,
    data: serde_json::Value,
}

/// Records `kind` with `data` for the account's endpoint, if it has one, as delivery `id`
/// (named by the event, so a redelivered batch records it once); the ticks send it.
pub async fn notify_account<S, E>(
    store: &S,
    account: &AccountId,
    id: String,
    kind: &str,
    data: serde_json::Value,
    now: Timestamp,
) -> Result<(), E>
where
    S: WebhookEndpoints + WebhookDeliveries,
    E: From<WebhookEndpointsError> + From<WebhookDeliveriesError>,
{
    let Some(endpoint) = store.endpoint(account).await? else { return Ok(()) };
    let payload = AccountEvent { kind, timestamp: now.rfc3339(), data };
    let payload = serde_json::to_string(&payload).expect("an account event always serialises");
    store.record_delivery(&Delivery::new(id, account.clone(), kind, endpoint.url, payload, now)).await?;
    Ok(())
}

impl<S: OrchestrationStore> Orchestrator<S> {
    /// Records the deliveries of a customer run's end (to the account's endpoint, and to the
    /// run's own URL) and sends them. Ids are the run's, so recording twice records once.
    pub(crate) async fn deliver_end(&self, run: &Run) -> Result<(), OrchestrateError> {
        let Some((kind, payload)) = run_event(run) else { return Ok(()) };
        let customer = run.customer.as_deref().expect("run events are of customer runs");
        let account = &customer.account_id;
        let now = self.clock.now();
        let endpoint = self.store.endpoint(account).await?;
        let own = customer.webhook_url.clone();
        let targets = [("account", endpoint.as_ref().map(|endpoint| endpoint.url.clone())), ("run", own)];
        for (target, url) in targets {
            let Some(url) = url else { continue };
            let id = format!("msg_{}_{target}", run.id.as_str().trim_start_matches("run_"));
            let delivery = Delivery::new(id, account.clone(), kind, url, payload.clone(), now);
            if self.store.record_delivery(&delivery).await? {
                self.attempt(&delivery, endpoint.as_ref()).await?;
            }
        }
        Ok(())
    }

    /// Sends every delivery due now (a tick's part).
    pub async fn send_due_deliveries(&self) -> Result<usize, OrchestrateError> {
        let due = self.store.due_deliveries(self.clock.now(), DUE_PAGE).await?;
        for delivery in &due {
            self.send(delivery).await?;
        }
        Ok(due.len())
    }

    /// One attempt at `delivery`, taken from other senders first; its answer stored.
    pub(crate) async fn send(&self, delivery: &Delivery) -> Result<(), OrchestrateError> {
        let endpoint = self.store.endpoint(&delivery.account_id).await?;
        self.attempt(delivery, endpoint.as_ref()).await
    }

    /// [`Self::send`], signed with the account's `endpoint` as already read.
    async fn attempt(&self, delivery: &Delivery, endpoint: Option<&WebhookEndpoint>) -> Result<(), OrchestrateError> {
        let now = self.clock.now();
        let begun = delivery.begin(now);
        if !self.store.update_delivery(&begun, delivery.attempts).await? {
            return Ok(());
        }
        let (ok, response) = match endpoint {
            None => (false, "no signing secret: the account has no webhook endpoint".to_owned()),
            Some(endpoint) => {
                let body = delivery.payload.as_bytes();
                let mut headers = vec![("content-type", "application/json".to_owned())];
                headers.extend(endpoint.secret.headers(&delivery.id, now, body));
                let request = OutboundRequest {
                    url: delivery.url.clone(),
                    headers,
                    body: body.to_vec(),
                    timeout: Duration::from_secs(ATTEMPT_TIMEOUT_SECONDS),
                };
                match self.deliveries.post(request).await {
                    Ok(status) => ((200..300).contains(&status), format!("HTTP {status}")),
                    Err(error) => (false, error.to_string()),
                }
            }
        };
        let answered = begun.answered(ok, response, self.clock.now());
        tracing::info!(delivery_id = %delivery.id, event = %delivery.event, status = answered.status.as_str(), attempts = answered.attempts, "webhook delivery attempted");
        self.store.update_delivery(&answered, begun.attempts).await?;
        Ok(())
    }
}
