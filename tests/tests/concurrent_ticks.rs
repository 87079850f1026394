//! Overlapping ticks on one store (SQLite, and DynamoDB + SQS on moto): every due
//! workflow starts at most once, and neither cap is ever exceeded.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tollgate_app::ports::queue::{Queue, QueueConsumer, QueueName};
use tollgate_app::ports::runs::Runs;
use tollgate_app::ports::workflows::Workflows;
use tollgate_app::ports::{accounts::Accounts, alerts::Alerts, ledger::Ledger};
use tollgate_core::cron::Schedule;
use tollgate_core::ids::WorkflowId;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{Caps, WebhookUrl, Workflow, WorkflowSpec};
use tollgate_embedded::{QueueSettings, Sqlite};
use tollgate_tests::join_all;
use tollgate_tests::samples::orchestrator_at;

const REGISTERED: Timestamp = Timestamp(1_795_510_800);

async fn overlapping_ticks_hold_the_caps<S>(store: S)
where
    S: Workflows + Runs + Alerts + Queue + QueueConsumer + Ledger + Accounts + Clone + 'static,
{
    let mut due_at = None;
    for index in 0..10 {
        let spec = WorkflowSpec {
            id: WorkflowId::parse(&format!("w{index}")).unwrap(),
            name: format!("w{index}"),
            webhook_url: WebhookUrl::parse("http://127.0.0.1:9/start").unwrap(),
            schedule: Schedule::parse("*/5 * * * *", "UTC").unwrap(),
            enabled: true,
            premium: false,
            timeout_s: 300,
        };
        let workflow = Workflow::register(spec, REGISTERED);
        due_at = workflow.next_run;
        assert!(store.create(&workflow).await.unwrap());
    }
    let now = Timestamp(due_at.unwrap().0 + 30);
    let ticks = |caps: Caps| {
        let orchestrator = Arc::new(orchestrator_at(store.clone(), now, caps, "http://127.0.0.1:8080"));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let orchestrator = Arc::clone(&orchestrator);
                tokio::spawn(async move { orchestrator.tick().await.unwrap().started })
            })
            .collect();
        join_all(handles)
    };
    let first: Vec<_> = ticks(Caps { daily_starts: 40, concurrent: 3 }).await.into_iter().flatten().collect();
    assert_eq!(first.len(), 3, "the concurrency cap holds across ticks: {first:?}");
    // The concurrency cap is raised: now the daily cap (5) is what binds.
    let second: Vec<_> = ticks(Caps { daily_starts: 5, concurrent: 40 }).await.into_iter().flatten().collect();
    assert_eq!(second.len(), 2, "the daily cap holds across ticks: {second:?}");
    let started: Vec<_> = first.iter().chain(&second).map(|run| run.workflow_id.clone()).collect();
    assert_eq!(started.iter().collect::<HashSet<_>>().len(), 5, "no workflow started twice: {started:?}");
    assert_eq!(store.day_totals(&now.utc_day()).await.unwrap().starts, 5);

    let mut queued = Vec::new();
    for _ in 0..50 {
        queued.extend(store.receive(QueueName::Runs, 10).await.unwrap());
        if queued.len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(queued.len(), 5, "each start queued once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_ticks_hold_the_caps_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Sqlite::open(&dir.path().join("ticks.sqlite3"), QueueSettings::default()).unwrap();
    overlapping_ticks_hold_the_caps(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_ticks_hold_the_caps_on_dynamodb() {
    overlapping_ticks_hold_the_caps(tollgate_tests::moto::fresh_store().await).await;
}
