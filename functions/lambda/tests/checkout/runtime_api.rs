//! The `checkout` binary as deployed: under the Lambda Runtime API, with the environment
//! `template.yaml` gives it, on moto, with Stripe played locally.

use tollgate_core::catalog::Catalog;
use tollgate_stripe::StripeApi;
use tollgate_tests::fake_stripe::{FakeStripe, SECRET_KEY};
use tollgate_tests::runtime_api::{deployed, http_answer};
use tollgate_tests::samples::read;

#[tokio::test]
async fn the_binary_opens_a_checkout_for_the_sample_buyer() {
    let stripe = FakeStripe::start().await;
    let api = StripeApi::new(&SECRET_KEY.into(), &stripe.base_url).unwrap();
    tollgate_app::catalog_sync::sync_catalog(&api, &Catalog::default_catalog(), false).await.unwrap();
    let price_lists = || stripe.requests_to(&reqwest::Method::GET, "/v1/prices").len();
    let listed_by_the_sync = price_lists();
    let base = [("StripeApiBase", stripe.base_url.as_str())];
    let (mut function, _store) = deployed(env!("CARGO_BIN_EXE_checkout"), "CheckoutFunction", &base).await;
    function.init_duration().await;
    assert_eq!(price_lists(), listed_by_the_sync + 1, "init opens the Stripe connection, not the first buyer");
    let event: serde_json::Value = serde_json::from_str(&read("checkout.json")).unwrap();

    let (status, answer) = http_answer(function.invoke(&event).await);
    assert_eq!(status, 200, "{answer}\n{}", function.log());
    assert!(answer["id"].as_str().unwrap().starts_with("cs_"), "{answer}");
    assert_eq!(stripe.customers_created(), 1);
    let session = &stripe.requests_to(&reqwest::Method::POST, "/v1/checkout/sessions")[0];
    assert_eq!(
        (session.param("mode"), session.param("client_reference_id")),
        (Some("subscription"), Some("user_alice"))
    );
    assert!(session.param("success_url").is_some_and(|url| url.starts_with("https://app.example.com/thanks")));
}
