//! What a Stripe delivery costs on AWS before its 2xx, counted at the SDK on moto: a new
//! event is one conditional put and one send; a redelivery of an event the processor is done
//! with is the put alone (the failed condition returns the item, so no second read).

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_sqs::operation::send_message::SendMessageInput;
use std::sync::{Arc, Mutex};
use tollgate_app::ingest::{Ingest, Webhooks};
use tollgate_app::ports::event_log::{EventLog, EventStatus};
use tollgate_core::ids::EventId;
use tollgate_core::signature::{DEFAULT_TOLERANCE_SECONDS, Verifier, WebhookSecret};
use tollgate_tests::samples::{SAMPLE_WEBHOOK_SECRET, read, sample_clock};

/// The name of every operation the SDK clients start, in order.
#[derive(Debug, Clone, Default)]
struct Calls(Arc<Mutex<Vec<String>>>);

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "calls"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let input = context.input();
        let operation = if input.downcast_ref::<PutItemInput>().is_some() {
            "PutItem"
        } else if input.downcast_ref::<GetItemInput>().is_some() {
            "GetItem"
        } else if input.downcast_ref::<UpdateItemInput>().is_some() {
            "UpdateItem"
        } else if input.downcast_ref::<SendMessageInput>().is_some() {
            "SendMessage"
        } else {
            "another operation"
        };
        self.0.lock().unwrap().push(operation.to_owned());
        Ok(())
    }
}

impl Calls {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[tokio::test]
async fn a_new_event_costs_two_calls_and_a_redelivery_of_a_final_one_costs_one() {
    let (dynamo, sqs, resources) = tollgate_tests::moto::fresh_resources().await;
    let calls = Calls::default();
    let dynamo = aws_sdk_dynamodb::Client::from_conf(dynamo.config().to_builder().interceptor(calls.clone()).build());
    let sqs = aws_sdk_sqs::Client::from_conf(sqs.config().to_builder().interceptor(calls.clone()).build());
    let store = tollgate_aws::Aws::with_clients(dynamo, sqs, resources);
    let secrets = vec![WebhookSecret::parse(SAMPLE_WEBHOOK_SECRET).unwrap()];
    let webhooks = Webhooks { verifier: Verifier::new(secrets, DEFAULT_TOLERANCE_SECONDS), livemode: false };
    let ingest = Ingest { store: store.clone(), clock: sample_clock(), webhooks };
    let sample: serde_json::Value = serde_json::from_str(&read("webhook-ingest.json")).unwrap();
    let (signature, body) = (sample["headers"]["stripe-signature"].as_str(), sample["body"].as_str().unwrap());

    let ingested = ingest.ingest_stripe(signature, body.as_bytes()).await.unwrap();
    assert!(!ingested.duplicate);
    assert_eq!(calls.take(), ["PutItem", "SendMessage"]);

    // Not final yet: it may never have been sent, so a redelivery sends it (again).
    assert!(ingest.ingest_stripe(signature, body.as_bytes()).await.unwrap().duplicate);
    assert_eq!(calls.take(), ["PutItem", "SendMessage"]);

    let id = EventId::parse("evt_sample_checkout").unwrap();
    store.mark(&id, EventStatus::Applied, None).await.unwrap();
    calls.take();
    assert!(ingest.ingest_stripe(signature, body.as_bytes()).await.unwrap().duplicate);
    assert_eq!(calls.take(), ["PutItem"], "the put's failed condition answers the stored item");
}
