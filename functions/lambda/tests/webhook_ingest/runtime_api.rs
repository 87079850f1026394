//! The `webhook-ingest` binary as deployed: under the Lambda Runtime API, with the
//! environment `template.yaml` gives it, on moto.

use tollgate_app::ports::event_log::{EventLog, EventStatus};
use tollgate_app::ports::queue::{QueueConsumer, QueueName};
use tollgate_core::ids::EventId;
use tollgate_tests::runtime_api::{deployed, http_answer};
use tollgate_tests::samples::webhook_delivery_signed_now;

#[tokio::test]
async fn the_binary_ingests_the_sample_delivery() {
    let (mut function, store) = deployed(env!("CARGO_BIN_EXE_webhook-ingest"), "WebhookIngestFunction", &[]).await;
    let mut event = webhook_delivery_signed_now();

    let (status, answer) = http_answer(function.invoke(&event).await);
    assert_eq!(status, 200, "{answer}\n{}", function.log());
    assert_eq!((&answer["id"], &answer["duplicate"]), (&"evt_sample_checkout".into(), &false.into()));
    let record = store.get(&EventId::parse("evt_sample_checkout").unwrap()).await.unwrap().expect("recorded");
    assert_eq!(record.status, EventStatus::Queued);
    assert_eq!(store.receive(QueueName::Events, 10).await.unwrap().len(), 1, "queued for event-processor");

    // A route it does not serve, in the JSON error shape, named by API Gateway's request id.
    event["rawPath"] = "/admin/events".into();
    event["requestContext"]["http"]["path"] = "/admin/events".into();
    let (status, answer) = http_answer(function.invoke(&event).await);
    assert_eq!((status, &answer["error"]["code"]), (404, &"not_found".into()));
    assert_eq!(answer["error"]["request_id"], event["requestContext"]["requestId"]);
}
