//! `event-processor` on `events/event-processor.json`, with DynamoDB on moto.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::event_log::{EventLog, EventStatus, ReceivedEvent};
use tollgate_app::ports::queue::QueueName;
use tollgate_app::process::Processor;
use tollgate_app::redelivery::DEFAULT_RETRY;
use tollgate_core::catalog::Catalog;
use tollgate_core::ids::{AccountId, EventId};
use tollgate_tests::moto::fresh_store;
use tollgate_tests::samples::{SAMPLE_TIME, read};

fn processor<S: Clone>(store: S) -> Processor<S> {
    Processor {
        keys: tollgate_tests::samples::keys_over(store.clone()),
        revoke_keys_on_cancel: false,
        store,
        catalog: Catalog::default_catalog(),
        retry: DEFAULT_RETRY,
        zone: tollgate_core::time::BusinessZone::UTC,
    }
}

/// `batch` handed to the processor as the function's `main` hands it.
async fn deliver(processor: &Processor<tollgate_aws::Aws>, batch: SqsEvent) -> SqsBatchResponse {
    tollgate_lambda::each_message(QueueName::Events, batch, |message| async move { processor.process(&message).await })
        .await
}

#[tokio::test]
async fn the_sample_batch_is_applied_and_reports_no_failure() {
    let app = processor(fresh_store().await);
    let id = EventId::parse("evt_sample_checkout").unwrap();
    let received =
        ReceivedEvent { id: id.clone(), event_type: "checkout.session.completed".into(), received_at: SAMPLE_TIME };
    app.store.record(&received).await.unwrap();
    // The referral code names an existing account: user_bob signed in before.
    app.store.link_customer(&AccountId::parse("user_bob").unwrap(), None, None).await.unwrap();
    let batch: SqsEvent = serde_json::from_str(&read("event-processor.json")).expect("an SQS event");

    let response = deliver(&app, batch.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(app.store.get(&id).await.unwrap().unwrap().status, EventStatus::Applied);
    let alice = app.store.profile(&AccountId::parse("user_alice").unwrap()).await.unwrap().expect("the account exists");
    assert_eq!(alice.stripe_customer_id.unwrap().as_str(), "cus_sample_alice");
    assert_eq!(alice.referred_by.unwrap().as_str(), "user_bob");

    // SQS redelivers: the second delivery is acknowledged and changes nothing.
    let response = deliver(&app, batch).await;
    assert!(response.batch_item_failures.is_empty());
}

#[tokio::test]
async fn a_message_that_must_wait_is_reported_as_a_batch_item_failure() {
    let app = processor(fresh_store().await);
    // The subscription names only its customer, whose checkout has not been applied yet.
    let event: serde_json::Value = serde_json::from_str(&read("stripe/customer.subscription.created.json")).unwrap();
    let mut event = event;
    event["data"]["object"]["metadata"] = serde_json::json!({});
    let id = EventId::parse("evt_sample_subscription").unwrap();
    app.store
        .record(&ReceivedEvent {
            id: id.clone(),
            event_type: "customer.subscription.created".into(),
            received_at: SAMPLE_TIME,
        })
        .await
        .unwrap();
    let mut batch: SqsEvent = serde_json::from_str(&read("event-processor.json")).unwrap();
    batch.records[0].body = Some(serde_json::json!({"source": "stripe", "event": event}).to_string());
    let message_id = batch.records[0].message_id.clone().unwrap();

    let response = deliver(&app, batch.clone()).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier, message_id);
    assert_eq!(app.store.get(&id).await.unwrap().unwrap().status, EventStatus::Queued);

    // On its last receive it is marked failed, with the reason, on its way to the dead-letter queue.
    batch.records[0].attributes.insert("ApproximateReceiveCount".into(), app.retry.max_receives.to_string());
    let response = deliver(&app, batch).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    let record = app.store.get(&id).await.unwrap().unwrap();
    assert_eq!(record.status, EventStatus::Failed);
    assert!(record.detail.unwrap().contains("not linked to an account yet"));
}
