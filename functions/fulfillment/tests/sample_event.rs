//! `fulfillment` on `events/fulfillment.json`: the sample purchase is announced, signed, to
//! its product's fulfillment webhook (a local HTTP server), once; DynamoDB on moto.

use std::sync::{Arc, Mutex};
use tollgate_app::fulfillment::Fulfiller;
use tollgate_app::orchestrator::{Retry, WorkflowSecret};
use tollgate_app::ports::purchases::{Delivery, Purchase, Purchases};
use tollgate_app::ports::queue::QueueName;
use tollgate_core::catalog::Catalog;
use tollgate_core::ids::{AccountId, Sku};
use tollgate_tests::samples::{SAMPLE_TIME, SAMPLE_WORKFLOW_SECRET, app_at_sample_time, read};

#[tokio::test]
async fn the_sample_purchase_is_delivered_once() {
    let posts = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&posts);
    let server = axum::Router::new().route(
        "/deliver",
        axum::routing::post(move |body: String| async move {
            seen.lock().unwrap().push(body);
            axum::http::StatusCode::OK
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/deliver", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server).await });

    let text = std::fs::read_to_string(format!("{}/../../catalog.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let text = text.replacen("kind = \"product\"\n", &format!("kind = \"product\"\nfulfillment_url = \"{url}\"\n"), 1);
    let store = tollgate_tests::moto::fresh_store().await;
    let account = AccountId::parse("user_alice").unwrap();
    let purchase = Purchase {
        id: "cs_sample_template".into(),
        account_id: account.clone(),
        sku: Sku::parse("template_budget_tracker").unwrap(),
        quantity: 1,
        payment_ref: "pi_sample_template".into(),
        delivery: Delivery::Pending,
        revoked: false,
        created_at: SAMPLE_TIME,
    };
    store.record_purchase(&purchase).await.unwrap();
    let app = tollgate_app::App { catalog: Catalog::parse(&text).unwrap(), ..app_at_sample_time(store.clone()) };
    let fulfiller = Fulfiller {
        app: Arc::new(app),
        outbound: Arc::new(tollgate_outbound::HttpClient::new().unwrap()),
        secret: WorkflowSecret::new(SAMPLE_WORKFLOW_SECRET).unwrap(),
        retry: Retry { base_seconds: 1, cap_seconds: 1, max_receives: 3 },
    };
    let fulfiller = &fulfiller;
    for _ in 0..2 {
        let batch = serde_json::from_str(&read("fulfillment.json")).unwrap();
        let response =
            tollgate_lambda::each_message(
                QueueName::Fulfillment,
                batch,
                |d| async move { fulfiller.fulfill(&d).await },
            )
            .await;
        assert!(response.batch_item_failures.is_empty());
    }
    assert_eq!(posts.lock().unwrap().len(), 1, "a redelivered message announces nothing twice");
    assert_eq!(store.purchase(&account, "cs_sample_template").await.unwrap().unwrap().delivery, Delivery::Delivered);
}
