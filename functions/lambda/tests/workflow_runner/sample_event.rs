//! `events/workflow-runner.json` carries run `run_sample`: the runner POSTs its start to
//! the workflow (a local HTTP server) and reports a refused start as a batch item failure.

use axum::http::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use tollgate_app::ports::queue::QueueName;
use tollgate_app::ports::runs::Runs;
use tollgate_core::workflow::{Caps, RunStatus};
use tollgate_lambda::Sources;
use tollgate_tests::samples::{SAMPLE_TIME, claimed_sample_run, orchestrator_at, read};

/// A workflow's webhook answering every start with the status in the returned cell (202 at first).
async fn workflow() -> (String, Arc<AtomicU16>) {
    let answer = Arc::new(AtomicU16::new(202));
    let server = {
        let answer = Arc::clone(&answer);
        axum::Router::new().route(
            "/start",
            axum::routing::post(move || async move { StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap() }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/start", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server).await });
    (url, answer)
}

#[tokio::test]
async fn the_sample_run_is_started_and_a_refusal_is_retried() {
    let (url, answer) = workflow().await;

    let store = tollgate_tests::moto::fresh_store().await;
    let run = claimed_sample_run(&store, &url).await;
    let orchestrator = orchestrator_at(store.clone(), SAMPLE_TIME, Caps::default(), "https://api.example.com");
    let orchestrator = &orchestrator;
    let sample = || serde_json::from_str(&read("workflow-runner.json")).unwrap();

    answer.store(500, Ordering::SeqCst);
    let refused =
        tollgate_lambda::each_message(QueueName::Runs, sample(), |d| async move { orchestrator.start_run(&d).await })
            .await;
    assert_eq!(refused.batch_item_failures.len(), 1, "a refused start is left for redelivery");
    assert_eq!(store.run(&run.id).await.unwrap().unwrap().status, RunStatus::Queued);

    answer.store(202, Ordering::SeqCst);
    let accepted =
        tollgate_lambda::each_message(QueueName::Runs, sample(), |d| async move { orchestrator.start_run(&d).await })
            .await;
    assert!(accepted.batch_item_failures.is_empty());
    assert_eq!(store.run(&run.id).await.unwrap().unwrap().status, RunStatus::Started);
}

#[tokio::test]
async fn a_record_is_settled_on_the_queue_its_source_names_and_one_from_elsewhere_is_kept() {
    let (url, _) = workflow().await;
    let store = tollgate_tests::moto::fresh_store().await;
    let run = claimed_sample_run(&store, &url).await;
    let orchestrator = orchestrator_at(store.clone(), SAMPLE_TIME, Caps::default(), "https://api.example.com");
    let orchestrator = &orchestrator;
    let sample = || serde_json::from_str(&read("workflow-runner.json")).unwrap();
    let sources = |names: [(&str, QueueName); 2]| {
        Sources::ByName(names.into_iter().map(|(name, queue)| (name.to_owned(), queue)).collect())
    };

    // The sample comes from `tollgate-runs`, which this function was not given.
    let elsewhere = sources([("tollgate-other", QueueName::Runs), ("tollgate-customer-runs", QueueName::CustomerRuns)]);
    let kept =
        tollgate_lambda::each_message(elsewhere, sample(), |d| async move { orchestrator.start_run(&d).await }).await;
    assert_eq!(kept.batch_item_failures.len(), 1, "not deleted: it comes back, then to its dead-letter queue");
    assert_eq!(store.run(&run.id).await.unwrap().unwrap().status, RunStatus::Queued, "and not started");

    let given = sources([("tollgate-runs", QueueName::Runs), ("tollgate-customer-runs", QueueName::CustomerRuns)]);
    let started =
        tollgate_lambda::each_message(given, sample(), |d| async move { orchestrator.start_run(&d).await }).await;
    assert!(started.batch_item_failures.is_empty());
    assert_eq!(store.run(&run.id).await.unwrap().unwrap().status, RunStatus::Started);
}
