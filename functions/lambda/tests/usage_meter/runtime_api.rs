//! The `usage-meter` binary as deployed: under the Lambda Runtime API, with the environment
//! `template.yaml` gives it, on moto, with Stripe played locally.

use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::usage::Usage;
use tollgate_core::ids::{AccountId, CustomerId, KeyId};
use tollgate_core::time::Timestamp;
use tollgate_tests::fake_stripe::FakeStripe;
use tollgate_tests::runtime_api::{Answer, deployed};
use tollgate_tests::samples::read;

const PERIOD_START: Timestamp = Timestamp(1_793_491_200); // as in the sample

#[tokio::test]
async fn the_binary_counts_the_sample_batch_once() {
    let stripe = FakeStripe::start().await;
    let base = [("StripeApiBase", stripe.base_url.as_str())];
    let (mut function, store) = deployed(env!("CARGO_BIN_EXE_usage-meter"), "UsageMeterFunction", &base).await;
    let alice = AccountId::parse("user_alice").unwrap();
    store.link_customer(&alice, Some(&CustomerId::parse("cus_sample_alice").unwrap()), None).await.unwrap();
    let batch: serde_json::Value = serde_json::from_str(&read("usage-meter.json")).unwrap();

    for delivery in 1..=2 {
        let Answer::Response(response) = function.invoke(&batch).await else { panic!("{}", function.log()) };
        assert_eq!(response["batchItemFailures"], serde_json::json!([]), "delivery {delivery}: {}", function.log());
    }
    let key = KeyId::parse("key_sample01").unwrap();
    let usage = store.key_usage(&alice, Some(&key), PERIOD_START).await.unwrap();
    assert_eq!((usage.account_calls, usage.key_calls), (600, 600), "delivered twice, counted once");
}
