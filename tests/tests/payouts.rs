//! Partners' payouts on the real binary: Stripe Connect onboarding, once per account, and
//! `account.updated` from the Connect endpoint (signed with its own secret).

use reqwest::{Method, StatusCode};
use serde_json::json;
use tollgate_core::signature::{WebhookSecret, sign};
use tollgate_tests::fake_stripe::{FakeStripe, SECRET_KEY};
use tollgate_tests::join_all;
use tollgate_tests::stack::{TestStack, now, token};
use tollgate_tests::stripe::event;

const CONNECT_SECRET: &str = "whsec_connect_endpoint_of_the_tests";

async fn stack_on(stripe: &FakeStripe) -> TestStack {
    TestStack::start_with(&[
        ("STRIPE_SECRET_KEY", SECRET_KEY),
        ("STRIPE_API_BASE", stripe.base_url.as_str()),
        ("PAYOUTS_RETURN_URL", "https://app.example.com/account"),
        ("STRIPE_CONNECT_WEBHOOK_SECRET", CONNECT_SECRET),
    ])
    .await
}

/// `POST /api/me/payouts/onboarding` as partner `zoe`: its status and body.
async fn onboard(stack: &TestStack) -> (StatusCode, serde_json::Value) {
    let request = stack.http.post(stack.url("/api/me/payouts/onboarding")).bearer_auth(token("zoe", None));
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn twenty_concurrent_first_onboardings_make_one_connected_account() {
    let stripe = FakeStripe::start().await;
    let stack = std::sync::Arc::new(stack_on(&stripe).await);
    let calls = (0..20).map(|_| {
        let stack = std::sync::Arc::clone(&stack);
        tokio::spawn(async move { onboard(&stack).await })
    });
    let answers = join_all(calls).await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::OK), "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(_, body)| body["url"].as_str().unwrap().starts_with("https://connect.stripe.com/setup/e/acct_fake"))
    );
    assert_eq!(stripe.connected_accounts_created(), 1, "one connected account, whatever the race");
    let creates = stripe.requests_to(&Method::POST, "/v1/accounts");
    assert!(creates.iter().all(|create| create.param("type") == Some("express")
        && create.param("metadata[account_id]") == Some("zoe")
        && create.idempotency_key.as_deref() == Some("tollgate-connect-zoe")));
    let links = stripe.requests_to(&Method::POST, "/v1/account_links");
    assert_eq!(links.len(), 20, "a fresh link for every call");
    let link = &links[0];
    assert_eq!(link.param("type"), Some("account_onboarding"));
    assert_eq!(link.param("return_url"), Some("https://app.example.com/account"));
    assert_eq!(link.param("refresh_url"), Some("https://app.example.com/account?payouts=refresh"));
    assert_eq!(link.param("account"), Some("acct_fake1"));
}

#[tokio::test]
async fn account_updated_from_the_connect_endpoint_is_applied_once_and_in_order() {
    let stripe = FakeStripe::start().await;
    let stack = stack_on(&stripe).await;
    assert_eq!(onboard(&stack).await.0, StatusCode::OK);
    let t = now().0;
    let deliver = |id: &str, connect_account: &str, created: i64, enabled: bool, secret: &str| {
        let object = json!({"id": connect_account, "object": "account", "type": "express",
                            "payouts_enabled": enabled, "metadata": {"account_id": "zoe"}});
        let payload = event(id, "account.updated", created, object);
        let signature = sign(&WebhookSecret::parse(secret).unwrap(), now(), payload.as_bytes());
        let stack = &stack;
        async move { stack.post_webhook(&payload, Some(&signature)).await.0 }
    };
    assert_eq!(
        deliver("evt_on", "acct_fake1", t, true, CONNECT_SECRET).await,
        StatusCode::OK,
        "the Connect secret signs"
    );
    assert_eq!(stack.settled("evt_on").await["status"], "applied");
    deliver("evt_older", "acct_fake1", t - 60, false, CONNECT_SECRET).await;
    let older = stack.settled("evt_older").await;
    assert_eq!(
        (&older["status"], &older["detail"]),
        (&json!("skipped"), &json!("older than the state already applied"))
    );
    deliver("evt_other", "acct_someone_else", t + 60, true, CONNECT_SECRET).await;
    assert_eq!(stack.settled("evt_other").await["status"], "skipped", "another connected account changes nothing");
    let stranger = deliver("evt_forged", "acct_fake1", t + 90, false, "whsec_nobody_knows_this_one").await;
    assert_eq!(stranger, StatusCode::BAD_REQUEST, "a third secret is not accepted");
    assert_eq!(onboard(&stack).await.0, StatusCode::OK);
    assert_eq!(stripe.connected_accounts_created(), 1, "onboarding again goes on with the same account");
}
