//! The `workflow-runner` binary as deployed: under the Lambda Runtime API, with the
//! environment `template.yaml` gives it, on moto, starting a workflow served locally.

use axum::http::StatusCode;
use tollgate_app::ports::queue::QueueName;
use tollgate_app::ports::runs::Runs;
use tollgate_core::workflow::RunStatus;
use tollgate_tests::runtime_api::{Answer, deployed};
use tollgate_tests::samples::{claimed_sample_run_at, read};
use tollgate_tests::stack::now;

#[tokio::test]
async fn the_binary_starts_the_sample_run() {
    let server = axum::Router::new().route("/start", axum::routing::post(|| async { StatusCode::ACCEPTED }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/start", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server).await });
    let (mut function, store) = deployed(env!("CARGO_BIN_EXE_workflow-runner"), "WorkflowRunnerFunction", &[]).await;
    // Claimed now, so its deadline is still ahead (the sample names `run_sample`).
    let run = claimed_sample_run_at(&store, &url, now()).await;
    let mut batch: serde_json::Value = serde_json::from_str(&read("workflow-runner.json")).unwrap();
    // The record names the queue it came from, as SQS names the stack's `runs` queue.
    let (runs, _) = store.queue_names(&[QueueName::Runs]).remove(0);
    batch["Records"][0]["eventSourceARN"] = format!("arn:aws:sqs:us-east-1:123456789012:{runs}").into();

    let Answer::Response(response) = function.invoke(&batch).await else { panic!("{}", function.log()) };
    assert_eq!(response["batchItemFailures"], serde_json::json!([]), "{}", function.log());
    assert_eq!(store.run(&run.id).await.unwrap().unwrap().status, RunStatus::Started);
}
