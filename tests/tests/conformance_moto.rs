//! The port conformance suite on the DynamoDB and SQS adapters, against moto_server
//! with the real aws-sdk clients.

use tollgate_tests::conformance_suite;
use tollgate_tests::moto::fresh_store;

conformance_suite!(fresh_store());

/// A port error keeps its kind and its cause: a table that does not exist is `NotFound`
/// (a deployment fault, not a reason to retry), and the SDK's error is its source.
#[tokio::test]
async fn a_missing_table_is_a_not_found_port_error_with_its_cause() {
    use tollgate_app::ports::error::ErrorKind;
    use tollgate_app::ports::event_log::EventLog;
    let (dynamo, sqs, mut resources) = tollgate_tests::moto::fresh_resources().await;
    resources.event_log_table = "no-such-table".into();
    let store = tollgate_aws::Aws::with_clients(dynamo, sqs, resources);
    let error = store.get(&tollgate_core::ids::EventId::parse("evt_missing").unwrap()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    let cause = std::error::Error::source(&error.0).expect("the SDK error is kept");
    assert!(
        cause.to_string().contains("ResourceNotFound") || error.to_string().contains("ResourceNotFound"),
        "{error}"
    );
}
