//! The `fulfillment` binary as deployed: under the Lambda Runtime API, with the environment
//! `template.yaml` gives it, on moto. The deployed catalog names no fulfillment webhook for
//! the sample product, so the purchase needs no delivery.

use tollgate_app::ports::purchases::{Delivery, Purchases};
use tollgate_core::ids::AccountId;
use tollgate_tests::runtime_api::{Answer, deployed};
use tollgate_tests::samples::{pending_sample_purchase, read};

#[tokio::test]
async fn the_binary_settles_the_sample_purchase() {
    let (mut function, store) = deployed(env!("CARGO_BIN_EXE_fulfillment"), "FulfillmentFunction", &[]).await;
    let account = AccountId::parse("user_alice").unwrap();
    let purchase = pending_sample_purchase();
    store.record_purchase(&purchase).await.unwrap();
    let batch: serde_json::Value = serde_json::from_str(&read("fulfillment.json")).unwrap();

    let Answer::Response(response) = function.invoke(&batch).await else { panic!("{}", function.log()) };
    assert_eq!(response["batchItemFailures"], serde_json::json!([]), "{}", function.log());
    let settled = store.purchase(&account, "cs_sample_template").await.unwrap().unwrap();
    assert_eq!(settled.delivery, Delivery::NotNeeded);
}
