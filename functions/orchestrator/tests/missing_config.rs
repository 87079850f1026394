//! A deployed function without its configuration refuses to start, naming what is missing.

const RESOURCES: [(&str, &str); 9] = [
    ("EVENT_LOG_TABLE", "t"),
    ("ACCOUNTS_TABLE", "t"),
    ("LEDGER_TABLE", "t"),
    ("EVENTS_QUEUE_URL", "http://127.0.0.1:1/q"),
    ("WORKFLOWS_TABLE", "t"),
    ("RUNS_TABLE", "t"),
    ("ALERTS_TABLE", "t"),
    ("RUNS_QUEUE_URL", "http://127.0.0.1:1/q"),
    ("FULFILLMENT_QUEUE_URL", "http://127.0.0.1:1/q"),
];

#[test]
fn it_refuses_to_start_and_names_the_missing_setting() {
    let binary = env!("CARGO_BIN_EXE_orchestrator");
    tollgate_tests::assert_refuses_to_start_without(binary, &[], "EVENT_LOG_TABLE");
    tollgate_tests::assert_refuses_to_start_without(binary, &RESOURCES[..4], "WORKFLOWS_TABLE");
    let mut given = RESOURCES.to_vec();
    given.push(("AWS_REGION", "us-east-1"));
    tollgate_tests::assert_refuses_to_start_without(binary, &given, "WORKFLOW_SECRET");
    given.push(("WORKFLOW_SECRET", "s"));
    tollgate_tests::assert_refuses_to_start_without(binary, &given, "CALLBACK_BASE_URL");
}
