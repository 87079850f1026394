//! The `workflow-runner` binary as deployed: under the Lambda Runtime API, with the
//! environment `template.yaml` gives it, on moto, starting a workflow served locally.

use axum::http::StatusCode;
use tollgate_app::ports::runs::{Claim, ClaimGuard, Claimed, Runs};
use tollgate_app::ports::workflows::Workflows;
use tollgate_core::cron::Schedule;
use tollgate_core::ids::{RunId, WorkflowId};
use tollgate_core::workflow::{Caps, Run, RunStatus, WebhookUrl, Workflow, WorkflowSpec};
use tollgate_tests::runtime_api::{Answer, deployed};
use tollgate_tests::samples::read;
use tollgate_tests::stack::now;

#[tokio::test]
async fn the_binary_starts_the_sample_run() {
    let server = axum::Router::new().route("/start", axum::routing::post(|| async { StatusCode::ACCEPTED }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/start", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server).await });
    let (mut function, store) = deployed(env!("CARGO_BIN_EXE_workflow-runner"), "WorkflowRunnerFunction", &[]).await;
    let spec = WorkflowSpec {
        id: WorkflowId::parse("daily_shorts").unwrap(),
        name: "Daily shorts".into(),
        webhook_url: WebhookUrl::parse(&url).unwrap(),
        schedule: Schedule::parse("0 9 * * *", "UTC").unwrap(),
        enabled: true,
        premium: false,
        timeout_s: 300,
    };
    // Claimed now, so its deadline is still ahead (the sample names `run_sample`).
    let workflow = Workflow::register(spec, now());
    assert!(store.create(&workflow).await.unwrap());
    let run = Run::claimed(RunId::parse("run_sample").unwrap(), &workflow, now());
    let claim = Claim { run: run.clone(), guard: ClaimGuard::Now, caps: Caps::default() };
    assert_eq!(store.claim(&claim).await.unwrap(), Claimed::Started);
    let batch: serde_json::Value = serde_json::from_str(&read("workflow-runner.json")).unwrap();

    let Answer::Response(response) = function.invoke(&batch).await else { panic!("{}", function.log()) };
    assert_eq!(response["batchItemFailures"], serde_json::json!([]), "{}", function.log());
    assert_eq!(store.run(&run.id).await.unwrap().unwrap().status, RunStatus::Started);
}
