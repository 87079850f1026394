//! The `orchestrator` binary as deployed: under the Lambda Runtime API, with the
//! environment `template.yaml` gives it, on moto, ticked by the sample schedule event.

use tollgate_app::ports::queue::{QueueConsumer, QueueName};
use tollgate_app::ports::workflows::Workflows;
use tollgate_core::cron::Schedule;
use tollgate_core::ids::WorkflowId;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{WebhookUrl, Workflow, WorkflowSpec};
use tollgate_tests::runtime_api::{Answer, deployed};
use tollgate_tests::samples::read;
use tollgate_tests::stack::now;

#[tokio::test]
async fn the_binary_starts_the_due_workflow_on_the_sample_tick() {
    let (mut function, store) = deployed(env!("CARGO_BIN_EXE_orchestrator"), "OrchestratorFunction", &[]).await;
    let spec = WorkflowSpec {
        id: WorkflowId::parse("daily_shorts").unwrap(),
        name: "Daily shorts".into(),
        webhook_url: WebhookUrl::parse("http://127.0.0.1:9/start").unwrap(),
        schedule: Some(Schedule::parse("* * * * *", "UTC").unwrap()),
        enabled: true,
        premium: false,
        timeout_s: 300,
        sell: None,
    };
    // Registered two minutes ago: due since a minute ago.
    assert!(store.create(&Workflow::register(spec, Timestamp(now().0 - 120))).await.unwrap());
    let tick: serde_json::Value = serde_json::from_str(&read("orchestrator.json")).unwrap();

    let Answer::Response(report) = function.invoke(&tick).await else { panic!("{}", function.log()) };
    assert_eq!(report["started"], 1, "{}", function.log());
    let queued = store.receive(QueueName::Runs, 10).await.unwrap();
    assert_eq!(queued.len(), 1, "the run is queued for workflow-runner");
    assert!(queued[0].body.contains("run_"));
    let Answer::Response(again) = function.invoke(&tick).await else { panic!("{}", function.log()) };
    assert_eq!(again["started"], 0, "nothing is due twice: {}", function.log());
}
