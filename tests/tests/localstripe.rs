//! The Stripe adapter's customer creation against `localstripe`, a stateful Stripe
//! stand-in: the customer it creates is stored there, named after the account.

use tollgate_app::ports::checkouts::Checkouts;
use tollgate_core::checkout::customer_key;
use tollgate_core::ids::AccountId;
use tollgate_stripe::StripeApi;

#[tokio::test]
async fn a_customer_is_created_with_the_account_in_its_metadata() {
    let url = tollgate_tests::localstripe::url();
    let stripe = StripeApi::new(&"sk_test_localstripe".into(), url).unwrap();
    let account = AccountId::parse("user_localstripe").unwrap();
    let customer = stripe.create_customer(&account, &customer_key(&account)).await.unwrap();
    assert!(customer.as_str().starts_with("cus_"));

    let stored: serde_json::Value = reqwest::Client::new()
        .get(format!("{url}/v1/customers/{customer}"))
        .basic_auth("sk_test_localstripe", Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&stored["id"], &stored["metadata"]["account_id"]),
        (&customer.as_str().into(), &"user_localstripe".into())
    );
}
