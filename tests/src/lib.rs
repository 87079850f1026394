//! Helpers shared by tollgate's end-to-end suites and the port conformance suite:
//! start the real `tollgate` binary, start or reach `moto_server`, build Stripe events.

pub mod browser;
pub mod conformance;
pub mod edge;
pub mod emulated;
pub mod fake_stripe;
pub mod keys;
pub mod localstripe;
pub mod moto;
pub mod recorder;
pub mod runtime_api;
pub mod samples;
pub mod stack;
pub mod standard_webhooks;
pub mod stripe;

/// Polls `check` every 50 ms until it holds, for at most `patience`; whether it did.
pub async fn eventually<F: std::future::Future<Output = bool>>(
    patience: std::time::Duration,
    mut check: impl FnMut() -> F,
) -> bool {
    let deadline = std::time::Instant::now() + patience;
    while std::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// Awaits every task, in order, and returns their results; a panicked task fails the test.
pub async fn join_all<T: Send + 'static>(tasks: impl IntoIterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::new();
    for task in tasks.into_iter().collect::<Vec<_>>() {
        results.push(task.await.expect("the task completes"));
    }
    results
}

/// Runs a function binary with only `PATH` and `given` in its environment and asserts that
/// it refuses to start, naming `missing` on stderr.
pub fn assert_refuses_to_start_without(binary: &str, given: &[(&str, &str)], missing: &str) {
    assert_refuses_to_start_saying(binary, given, &format!("{missing} is not set"));
}

/// Runs a function binary with only `PATH` and `given` in its environment and asserts that
/// it refuses to start, saying `reason` on stderr.
pub fn assert_refuses_to_start_saying(binary: &str, given: &[(&str, &str)], reason: &str) {
    let output = std::process::Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(given.iter().copied())
        .output()
        .expect("the function binary runs");
    assert!(!output.status.success(), "{binary} started, though: {reason}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(reason), "{stderr}");
}

/// Every table and queue a Lambda function may read from its environment (any values: the
/// functions refuse to start before they use them); each reads only its own.
pub const LAMBDA_RESOURCES: [(&str, &str); 18] = [
    ("EVENT_LOG_TABLE", "t"),
    ("ACCOUNTS_TABLE", "t"),
    ("LEDGER_TABLE", "t"),
    ("EVENTS_QUEUE_URL", "http://127.0.0.1:1/q"),
    ("WORKFLOWS_TABLE", "t"),
    ("RUNS_TABLE", "t"),
    ("ALERTS_TABLE", "t"),
    ("RUNS_QUEUE_URL", "http://127.0.0.1:1/q"),
    ("FULFILLMENT_QUEUE_URL", "http://127.0.0.1:1/q"),
    ("API_KEYS_TABLE", "t"),
    ("USAGE_TABLE", "t"),
    ("USAGE_QUEUE_URL", "http://127.0.0.1:1/q"),
    ("EVENTS_DLQ_URL", "http://127.0.0.1:1/q"),
    ("RUNS_DLQ_URL", "http://127.0.0.1:1/q"),
    ("FULFILLMENT_DLQ_URL", "http://127.0.0.1:1/q"),
    ("USAGE_DLQ_URL", "http://127.0.0.1:1/q"),
    ("CUSTOMER_RUNS_QUEUE_URL", "http://127.0.0.1:1/q"),
    ("CUSTOMER_RUNS_DLQ_URL", "http://127.0.0.1:1/q"),
];

/// An orchestration function (`orchestrator`, `workflow-runner`) refuses to start without
/// its tables, its workflow secret or its callback URL, naming the first one missing.
pub fn assert_orchestration_function_refuses_to_start(binary: &str) {
    // Neither reads the event log: its first is the accounts table (where the endpoints that
    // customers' run results are signed for live).
    assert_refuses_to_start_without(binary, &[], "ACCOUNTS_TABLE");
    assert_refuses_to_start_without(binary, &LAMBDA_RESOURCES[..4], "WORKFLOWS_TABLE");
    let mut given = LAMBDA_RESOURCES.to_vec();
    given.push(("AWS_REGION", "us-east-1"));
    assert_refuses_to_start_without(binary, &given, "WORKFLOW_SECRET");
    given.push(("WORKFLOW_SECRET", "s"));
    assert_refuses_to_start_without(binary, &given, "CALLBACK_BASE_URL");
}
