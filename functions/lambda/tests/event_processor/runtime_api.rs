//! The `event-processor` binary as deployed: under the Lambda Runtime API, with the
//! environment `template.yaml` gives it, on moto.

use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::event_log::{EventLog, EventStatus, ReceivedEvent};
use tollgate_core::ids::{AccountId, EventId};
use tollgate_tests::runtime_api::{Answer, deployed};
use tollgate_tests::samples::{SAMPLE_TIME, read};

#[tokio::test]
async fn the_binary_applies_the_sample_batch() {
    let (mut function, store) = deployed(env!("CARGO_BIN_EXE_event-processor"), "EventProcessorFunction", &[]).await;
    let id = EventId::parse("evt_sample_checkout").unwrap();
    let received =
        ReceivedEvent { id: id.clone(), event_type: "checkout.session.completed".into(), received_at: SAMPLE_TIME };
    store.record(&received).await.unwrap();
    store.link_customer(&AccountId::parse("user_bob").unwrap(), None, None).await.unwrap();
    let batch: serde_json::Value = serde_json::from_str(&read("event-processor.json")).unwrap();

    let Answer::Response(response) = function.invoke(&batch).await else { panic!("{}", function.log()) };
    assert_eq!(response["batchItemFailures"], serde_json::json!([]), "{}", function.log());
    assert_eq!(store.get(&id).await.unwrap().unwrap().status, EventStatus::Applied);
    let alice = store.profile(&AccountId::parse("user_alice").unwrap()).await.unwrap().expect("linked");
    assert_eq!(alice.stripe_customer_id.unwrap().as_str(), "cus_sample_alice");
}
