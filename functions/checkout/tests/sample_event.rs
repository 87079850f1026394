//! `checkout` on `events/checkout.json`, with DynamoDB on moto and Stripe played locally.

use std::sync::Arc;
use tollgate_app::checkout::{Checkout, CheckoutSettings};
use tollgate_core::catalog::Catalog;
use tollgate_http::Api;
use tollgate_stripe::StripeApi;
use tollgate_tests::fake_stripe::{FakeStripe, SECRET_KEY};
use tollgate_tests::moto::fresh_store;
use tollgate_tests::samples::{app_at_sample_time, read, sample_jwt};

#[tokio::test]
async fn the_sample_request_gets_a_subscription_checkout() {
    let stripe = FakeStripe::start().await;
    let api = StripeApi::new(&SECRET_KEY.into(), &stripe.base_url).unwrap();
    tollgate_app::catalog_sync::sync_catalog(&api, &Catalog::default_catalog(), false).await.unwrap();
    let app = Arc::new(app_at_sample_time(fresh_store().await));
    let settings = CheckoutSettings::read(|_| None, Some("https://app.example.com")).unwrap();
    let checkout = Checkout { app: Arc::clone(&app), stripe: Arc::new(api), settings };
    let router = Api::new(app, None, Some(sample_jwt().await)).with_checkout(Arc::new(checkout)).router();

    let request = lambda_http::request::from_str(&read("checkout.json")).unwrap();
    let response = tollgate_lambda::answer(router.clone(), request).await;
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(response.status(), 200, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("cs_"));
    assert_eq!(stripe.customers_created(), 1);
    let session = &stripe.requests_to(&reqwest::Method::POST, "/v1/checkout/sessions")[0];
    assert_eq!(
        (session.param("mode"), session.param("client_reference_id")),
        (Some("subscription"), Some("user_alice"))
    );
}
