//! `account-api` on `events/account-api.json`, with DynamoDB on moto.

use std::sync::Arc;
use tollgate_app::ports::event_log::{EventLog, ReceivedEvent};
use tollgate_core::ids::EventId;
use tollgate_http::Api;
use tollgate_tests::moto::fresh_store;
use tollgate_tests::samples::{app_at_sample_time, read, sample_jwt};
use tollgate_tests::stack::now;

#[tokio::test]
async fn the_sample_admin_request_lists_the_event_log() {
    let store = fresh_store().await;
    // Received today: the event log lists recent days, whatever day the test runs.
    let id = EventId::parse("evt_sample_checkout").unwrap();
    store
        .record(&ReceivedEvent { id, event_type: "checkout.session.completed".into(), received_at: now() })
        .await
        .unwrap();
    let router = Api::new(Arc::new(app_at_sample_time(store)), None, Some(sample_jwt().await)).router();

    let response =
        tollgate_lambda::answer(router.clone(), lambda_http::request::from_str(&read("account-api.json")).unwrap())
            .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(body["events"][0]["id"], "evt_sample_checkout");
    assert_eq!(body["events"][0]["status"], "queued");

    // This function serves no webhooks: it holds no webhook secret.
    let webhook = lambda_http::request::from_str(&read("webhook-ingest.json")).unwrap();
    assert_eq!(tollgate_lambda::answer(router.clone(), webhook).await.status(), 404);
}
