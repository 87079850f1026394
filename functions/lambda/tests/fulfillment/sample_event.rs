//! `fulfillment` on `events/fulfillment.json`: the sample purchase is announced, signed, to
//! its product's fulfillment webhook (a local HTTP server); a refusal is left for redelivery,
//! and once delivered it is never announced again. DynamoDB on moto.

use std::sync::{Arc, Mutex};
use tollgate_app::fulfillment::Fulfiller;
use tollgate_app::orchestrator::WorkflowSecret;
use tollgate_app::ports::purchases::{Delivery, Purchases};
use tollgate_app::ports::queue::QueueName;
use tollgate_app::redelivery::RetryPolicy;
use tollgate_core::catalog::Catalog;
use tollgate_core::ids::AccountId;
use tollgate_tests::samples::{SAMPLE_WORKFLOW_SECRET, pending_sample_purchase, read, sample_clock};

#[tokio::test]
async fn the_sample_purchase_is_delivered_once() {
    let posts = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&posts);
    // The first post is refused, as a webhook that is briefly down would.
    let server = axum::Router::new().route(
        "/deliver",
        axum::routing::post(move |body: String| async move {
            let mut seen = seen.lock().unwrap();
            seen.push(body);
            if seen.len() == 1 { axum::http::StatusCode::SERVICE_UNAVAILABLE } else { axum::http::StatusCode::OK }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/deliver", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server).await });

    let text = std::fs::read_to_string(format!("{}/../../catalog.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let text = text.replacen("kind = \"product\"\n", &format!("kind = \"product\"\nfulfillment_url = \"{url}\"\n"), 1);
    let store = tollgate_tests::moto::fresh_store().await;
    let account = AccountId::parse("user_alice").unwrap();
    let purchase = pending_sample_purchase();
    store.record_purchase(&purchase).await.unwrap();
    let fulfiller = Fulfiller {
        store: store.clone(),
        catalog: Catalog::parse(&text).unwrap(),
        clock: sample_clock(),
        outbound: Arc::new(tollgate_outbound::HttpClient::new().unwrap()),
        secret: WorkflowSecret::new(SAMPLE_WORKFLOW_SECRET).unwrap(),
        retry: RetryPolicy { base_seconds: 1, cap_seconds: 1, max_receives: 3 },
    };
    let fulfiller = &fulfiller;
    let deliver = || async {
        let batch = serde_json::from_str(&read("fulfillment.json")).unwrap();
        let each = |d| async move { fulfiller.fulfill(&d).await };
        tollgate_lambda::each_message(QueueName::Fulfillment, batch, each).await.batch_item_failures.len()
    };
    assert_eq!(deliver().await, 1, "a refused post is left for redelivery");
    assert_eq!(store.purchase(&account, "cs_sample_template").await.unwrap().unwrap().delivery, Delivery::Pending);
    assert_eq!(deliver().await, 0);
    assert_eq!(deliver().await, 0);
    assert_eq!(posts.lock().unwrap().len(), 2, "once delivered, a redelivered message announces nothing");
    assert_eq!(store.purchase(&account, "cs_sample_template").await.unwrap().unwrap().delivery, Delivery::Delivered);
}
