//! `events/orchestrator.json` is an EventBridge scheduled event; a tick on it starts the
//! due workflow on DynamoDB and queues its run on SQS (moto).

use tollgate_app::ports::queue::{QueueConsumer, QueueName};
use tollgate_app::ports::workflows::Workflows;
use tollgate_core::cron::Schedule;
use tollgate_core::ids::WorkflowId;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{Caps, WebhookUrl, Workflow, WorkflowSpec};
use tollgate_tests::samples::{SAMPLE_TIME, orchestrator_at, read};

#[tokio::test]
async fn a_scheduled_tick_starts_the_due_workflow() {
    let tick: serde_json::Value = serde_json::from_str(&read("orchestrator.json")).unwrap();
    assert_eq!(tick["detail-type"], "Scheduled Event");
    let store = tollgate_tests::moto::fresh_store().await;
    let spec = WorkflowSpec {
        id: WorkflowId::parse("daily_shorts").unwrap(),
        name: "Daily shorts".into(),
        webhook_url: WebhookUrl::parse("http://127.0.0.1:9/start").unwrap(),
        schedule: Schedule::parse("*/5 * * * *", "UTC").unwrap(),
        enabled: true,
        premium: true,
        timeout_s: 300,
    };
    let workflow = Workflow::register(spec, SAMPLE_TIME);
    assert!(store.create(&workflow).await.unwrap());
    let due = workflow.next_run.unwrap();

    let orchestrator = orchestrator_at(store.clone(), Timestamp(due.0 + 1), Caps::default(), "https://api.example.com");
    let report = orchestrator.tick().await.unwrap();
    assert_eq!(report.started.len(), 1);
    let queued = store.receive(QueueName::Runs, 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert!(queued[0].body.contains(report.started[0].id.as_str()));
    assert!(orchestrator.tick().await.unwrap().started.is_empty(), "nothing is due twice");
}
