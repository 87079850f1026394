//! The sample events in `events/`, and use cases set up the way they expect: its clock
//! held at the time they were signed, with the secrets that signed them.

use std::path::PathBuf;
use std::sync::Arc;
use tollgate_app::Clock;
use tollgate_app::alerting::Alerting;
use tollgate_app::orchestrator::{Orchestrator, Settings, WorkflowSecret};
use tollgate_app::ports::run_metrics::LoggedMetrics;
use tollgate_app::ports::runs::{Claim, ClaimGuard, Claimed, Runs};
use tollgate_app::ports::workflows::Workflows;
use tollgate_core::cron::Schedule;
use tollgate_core::ids::{RunId, WorkflowId};
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{Caps, Run, WebhookUrl, Workflow, WorkflowSpec};

pub const SAMPLE_TIME: Timestamp = Timestamp(1_795_500_000);
pub const SAMPLE_WEBHOOK_SECRET: &str = "whsec_sample_events_only";
pub const SAMPLE_JWT_SECRET: &str = "jwt-sample-events-only-32-bytes-long";
pub const SAMPLE_WORKFLOW_SECRET: &str = "workflow-sample-events-only";

/// The JWT verifier the sample requests were signed for.
pub async fn sample_jwt() -> tollgate_http::jwt::Verifier {
    let settings = tollgate_http::jwt::Settings::hs256(SAMPLE_JWT_SECRET).expect("a long enough secret");
    tollgate_http::jwt::Verifier::new(settings).await.expect("an HS256 verifier")
}

/// The text of `events/{name}`.
pub fn read(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("events").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `webhook-ingest` sample delivery (an API Gateway event), signed now with the sample
/// secret: its own signature is years old by the time a test runs.
pub fn webhook_delivery_signed_now() -> serde_json::Value {
    let mut event: serde_json::Value = serde_json::from_str(&read("webhook-ingest.json")).expect("the sample delivery");
    let body = event["body"].as_str().expect("a body").to_owned();
    let secret = tollgate_core::signature::WebhookSecret::parse(SAMPLE_WEBHOOK_SECRET).expect("the sample secret");
    event["headers"]["stripe-signature"] =
        tollgate_core::signature::sign(&secret, crate::stack::now(), body.as_bytes()).into();
    event
}

/// A clock that never moves.
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// The orchestrator over `store` with its clock held at `now`, the given caps, and
/// callbacks addressed to `callback_base`.
pub fn orchestrator_at<S>(store: S, now: Timestamp, caps: Caps, callback_base: &str) -> Orchestrator<S> {
    let secret = WorkflowSecret::new(SAMPLE_WORKFLOW_SECRET).expect("a secret");
    let mut settings = Settings::defaults(secret, callback_base.to_owned());
    settings.caps = caps;
    let outbound = Arc::new(tollgate_outbound::HttpClient::new().expect("an HTTP client"));
    Orchestrator {
        store,
        clock: Arc::new(FixedClock(now)),
        settings,
        outbound: outbound.clone(),
        // Tests deliver to endpoints on loopback, as `tollgate dev` does.
        deliveries: outbound.clone(),
        metrics: Arc::new(LoggedMetrics),
        alerting: Alerting { outbound, webhook: None },
        revenue_checked: Default::default(),
    }
}

/// `run_sample` of `daily_shorts` (its webhook at `webhook_url`), claimed at the sample time:
/// the run the runner and callback samples name.
pub async fn claimed_sample_run<S: Workflows + Runs>(store: &S, webhook_url: &str) -> Run {
    claimed_sample_run_at(store, webhook_url, SAMPLE_TIME).await
}

/// [`claimed_sample_run`], registered and claimed at `at` (a binary on the real clock needs
/// its deadline still ahead).
pub async fn claimed_sample_run_at<S: Workflows + Runs>(store: &S, webhook_url: &str, at: Timestamp) -> Run {
    let spec = WorkflowSpec {
        id: WorkflowId::parse("daily_shorts").expect("an id"),
        name: "Daily shorts".into(),
        webhook_url: WebhookUrl::parse(webhook_url).expect("a webhook URL"),
        schedule: Some(Schedule::parse("0 9 * * *", "UTC").expect("a schedule")),
        enabled: true,
        premium: false,
        timeout_s: 300,
        sell: None,
    };
    let workflow = Workflow::register(spec, at);
    assert!(store.create(&workflow).await.expect("stored"));
    let run = Run::claimed(RunId::parse("run_sample").expect("an id"), &workflow, at);
    let claim = Claim { run: run.clone(), guard: ClaimGuard::Now, caps: Caps::default(), day: at.utc_day() };
    assert_eq!(store.claim(&claim).await.expect("claimed"), Claimed::Started);
    run
}

/// The clock the sample events were signed by.
pub fn sample_clock() -> Arc<dyn Clock> {
    Arc::new(FixedClock(SAMPLE_TIME))
}

/// `cs_sample_template`: a one-off product `user_alice` bought at the sample time, not yet
/// delivered — the purchase `events/fulfillment.json` names.
pub fn pending_sample_purchase() -> tollgate_app::ports::purchases::Purchase {
    use tollgate_app::ports::purchases::{Delivery, Purchase};
    Purchase {
        id: "cs_sample_template".into(),
        account_id: tollgate_core::ids::AccountId::parse("user_alice").expect("an id"),
        sku: tollgate_core::ids::Sku::parse("template_budget_tracker").expect("a sku"),
        quantity: 1,
        payment_ref: "pi_sample_template".into(),
        delivery: Delivery::Pending,
        revoked: false,
        created_at: SAMPLE_TIME,
        download_url: None,
    }
}

/// The key use case over `store` as the functions build it, with an edge that is not told of
/// revocations (it learns at its next refresh): for processors and tests that make or revoke keys.
pub fn keys_over<S>(store: S) -> std::sync::Arc<tollgate_app::keys::Keys<S>> {
    let outbound = std::sync::Arc::new(tollgate_outbound::HttpClient::new().expect("an HTTP client"));
    std::sync::Arc::new(tollgate_app::keys::Keys {
        store,
        catalog: tollgate_core::catalog::Catalog::default_catalog(),
        zone: tollgate_core::time::BusinessZone::UTC,
        clock: sample_clock(),
        edge: std::sync::Arc::new(tollgate_app::keys::EdgeLink {
            secret: tollgate_core::edge::EdgeSecret::new("edge-sample-events-only").expect("a secret"),
            url: None,
            outbound,
        }),
    })
}
