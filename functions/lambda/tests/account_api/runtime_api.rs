//! The `account-api` binary as deployed: under the Lambda Runtime API, with the environment
//! `template.yaml` gives it, on moto, with its `events/` samples.

use tollgate_app::ports::event_log::{EventLog, ReceivedEvent};
use tollgate_core::ids::EventId;
use tollgate_tests::runtime_api::{deployed, http_answer};
use tollgate_tests::samples::read;
use tollgate_tests::stack::now;

#[tokio::test]
async fn the_binary_lists_the_event_log_for_the_sample_admin() {
    let (mut function, store) = deployed(env!("CARGO_BIN_EXE_account-api"), "AccountApiFunction", &[]).await;
    let id = EventId::parse("evt_sample_checkout").unwrap();
    let received = ReceivedEvent { id, event_type: "checkout.session.completed".into(), received_at: now() };
    store.record(&received).await.unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&read("account-api.json")).unwrap();

    let (status, answer) = http_answer(function.invoke(&event).await);
    assert_eq!(status, 200, "{answer}\n{}", function.log());
    assert_eq!((&answer["events"][0]["id"], &answer["events"][0]["status"]), (&id_text(), &"queued".into()));

    // Another method on the same route: 405 with `Allow`.
    event["requestContext"]["http"]["method"] = "DELETE".into();
    let (status, answer) = http_answer(function.invoke(&event).await);
    assert_eq!((status, &answer["error"]["code"]), (405, &"method_not_allowed".into()));

    // This function serves no webhooks: it holds no webhook secret.
    let webhook: serde_json::Value = serde_json::from_str(&read("webhook-ingest.json")).unwrap();
    let (status, _) = http_answer(function.invoke(&webhook).await);
    assert_eq!(status, 404);
}

fn id_text() -> serde_json::Value {
    "evt_sample_checkout".into()
}
