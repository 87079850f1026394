//! `webhook-ingest` on `events/webhook-ingest.json`, with DynamoDB and SQS on moto.

use std::sync::Arc;
use tollgate_app::ingest::{Ingest, Webhooks};
use tollgate_app::ports::event_log::{EventLog, EventStatus};
use tollgate_app::ports::queue::QueueConsumer;
use tollgate_core::ids::EventId;
use tollgate_core::signature::{DEFAULT_TOLERANCE_SECONDS, Verifier, WebhookSecret};
use tollgate_http::{deployment, webhooks};
use tollgate_tests::moto::fresh_store;
use tollgate_tests::samples::{SAMPLE_WEBHOOK_SECRET, read, sample_clock};

#[tokio::test]
async fn the_sample_delivery_is_verified_recorded_and_queued_before_the_200() {
    let store = fresh_store().await;
    let secrets = vec![WebhookSecret::parse(SAMPLE_WEBHOOK_SECRET).unwrap()];
    let webhooks = Webhooks { verifier: Verifier::new(secrets, DEFAULT_TOLERANCE_SECONDS), livemode: false };
    let ingest = Ingest { store: store.clone(), clock: sample_clock(), webhooks };
    let router = deployment([webhooks::stripe_router(Arc::new(ingest))]);
    let request = lambda_http::request::from_str(&read("webhook-ingest.json")).expect("an API Gateway request");

    let response = tollgate_lambda::answer(router.clone(), request).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!((&body["id"], &body["duplicate"]), (&"evt_sample_checkout".into(), &false.into()));

    let id = EventId::parse("evt_sample_checkout").unwrap();
    let record = store.get(&id).await.unwrap().expect("recorded");
    assert_eq!(record.status, EventStatus::Queued);
    let queued = store.receive(tollgate_app::ports::queue::QueueName::Events, 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert!(queued[0].body.contains("\"evt_sample_checkout\""));

    let again = lambda_http::request::from_str(&read("webhook-ingest.json")).unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(tollgate_lambda::answer(router.clone(), again).await.body().as_ref()).unwrap();
    assert_eq!(body["duplicate"], true);
}

/// `events/workflow-callback.json`: the seed's n8n payload, `"earnings": 2.50`, ends run
/// `run_sample` with 250 cents, in the run, the workflow's totals and the ledger.
#[tokio::test]
async fn the_sample_callback_reports_earnings_in_dollars() {
    use tollgate_app::ports::ledger::Ledger;
    use tollgate_app::ports::runs::Runs;
    use tollgate_core::ids::AccountId;
    use tollgate_core::workflow::{Caps, RunStatus};
    use tollgate_tests::samples::{SAMPLE_TIME, claimed_sample_run, orchestrator_at};

    let store = fresh_store().await;
    let claimed = claimed_sample_run(&store, "https://n8n.example.com/webhook/shorts").await;
    let orchestrator = orchestrator_at(store.clone(), SAMPLE_TIME, Caps::default(), "https://api.example.com");
    let router = deployment([webhooks::callback_router(Arc::new(orchestrator))]);

    let request = lambda_http::request::from_str(&read("workflow-callback.json")).expect("an API Gateway request");
    let response = tollgate_lambda::answer(router.clone(), request).await;
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!((&body["status"], &body["applied"]), (&"completed".into(), &true.into()));
    let run = store.run(&claimed.id).await.unwrap().unwrap();
    assert_eq!((run.status, run.earnings_cents), (RunStatus::Completed, 250));
    let ledger = store.for_account(&AccountId::parse("workflow:daily_shorts").unwrap()).await.unwrap();
    assert_eq!(ledger.iter().map(|entry| entry.amount.amount).collect::<Vec<_>>(), [250]);
}
