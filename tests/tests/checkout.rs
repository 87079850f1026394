//! Checkout, billing portal, catalog sync and product fulfillment end to end: the real
//! `tollgate` binary on its emulated Stripe, whose request log shows the exact form
//! parameters and headers tollgate sends, or, where Stripe must misbehave (several
//! customers for one idempotency key), against `FakeStripe`, which can.

use axum::http::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollgate_core::catalog::Catalog;
use tollgate_core::signing::{self, Purpose};
use tollgate_core::time::Timestamp;
use tollgate_stripe::StripeApi;
use tollgate_tests::emulated::{Emulated, param};
use tollgate_tests::fake_stripe::{FakeStripe, SECRET_KEY};
use tollgate_tests::join_all;
use tollgate_tests::stack::{TestStack, WORKFLOW_SECRET, binary, now, token};
use tollgate_tests::stripe::{
    charge_refunded, event, payment_intent_succeeded, product_checkout_session, subscription,
};

async fn synced_stripe() -> FakeStripe {
    let stripe = FakeStripe::start().await;
    let api = StripeApi::new(&SECRET_KEY.into(), &stripe.base_url).unwrap();
    tollgate_app::catalog_sync::sync_catalog(&api, &Catalog::default_catalog(), false).await.unwrap();
    stripe
}

async fn stack(stripe: &FakeStripe, settings: &[(&str, &str)]) -> TestStack {
    let mut all = vec![
        ("STRIPE_SECRET_KEY", SECRET_KEY),
        ("STRIPE_API_BASE", stripe.base_url.as_str()),
        ("CHECKOUT_SUCCESS_URL", "https://app.example.com/thanks"),
        ("CHECKOUT_CANCEL_URL", "https://app.example.com/pricing"),
        ("PORTAL_RETURN_URL", "https://app.example.com/account"),
    ];
    all.extend_from_slice(settings);
    TestStack::start_with(&all).await
}

async fn post_as(stack: &TestStack, account: &str, path: &str, body: &Value) -> (StatusCode, Value, HeaderMap) {
    let response = stack.http.post(stack.url(path)).bearer_auth(token(account, None)).json(body).send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, response.json().await.unwrap_or(Value::Null), headers)
}

fn sync(stripe: &FakeStripe, catalog: Option<&std::path::Path>, dry_run: bool) -> String {
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(binary());
    command.args(["catalog", "sync", "--data-dir"]).arg(data_dir.path());
    if dry_run {
        command.arg("--dry-run");
    }
    match catalog {
        Some(path) => command.env("CATALOG_PATH", path),
        None => command.env_remove("CATALOG_PATH"),
    };
    let output = command
        .env("STRIPE_SECRET_KEY", SECRET_KEY)
        .env("STRIPE_API_BASE", &stripe.base_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("tollgate catalog sync runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn catalog_sync_creates_once_and_a_second_run_changes_nothing() {
    let stripe = FakeStripe::start().await;
    let planned = sync(&stripe, None, true);
    assert_eq!(stripe.changes(), 0, "a dry run changes nothing");
    let sold = Catalog::default_catalog().items().iter().filter(|item| item.lookup_key.is_some()).count();
    // And the Pro plan's overage: a Billing Meter and a metered price.
    assert_eq!(planned.lines().filter(|line| line.starts_with("would: create")).count(), sold + 2, "{planned}");

    let first = sync(&stripe, None, false);
    assert_eq!(first.lines().count(), sold + 2, "{first}");
    assert_eq!(stripe.changes() as usize, 2 * sold + 2, "a product and a price per SKU, a meter, a metered price");
    assert_eq!(stripe.active_price("api_pro_monthly").map(|p| p.1), Some(2999));
    let created = stripe.requests_to(&Method::POST, "/v1/prices");
    let pro = created.iter().find(|r| r.param("lookup_key") == Some("api_pro_monthly")).unwrap();
    for (name, value) in [
        ("unit_amount", "2999"),
        ("currency", "usd"),
        ("recurring[interval]", "month"),
        ("transfer_lookup_key", "true"),
    ] {
        assert_eq!(pro.param(name), Some(value), "{name}");
    }
    assert!(pro.idempotency_key.as_deref().is_some_and(|key| key.starts_with("tollgate-sync-api_pro-")));

    let second = sync(&stripe, None, false);
    assert!(second.contains("nothing to change"), "{second}");
    assert_eq!(stripe.changes() as usize, 2 * sold + 2, "a second run changes nothing");

    // A new price and a new name: a new price takes the lookup key, the old one is archived.
    let text = std::fs::read_to_string(format!("{}/../catalog.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let text = text
        .replacen(
            "price_cents = 2999\ncurrency = \"usd\"\ninterval = \"month\"\nrequests_per_minute",
            "price_cents = 3499\ncurrency = \"usd\"\ninterval = \"month\"\nrequests_per_minute",
            1,
        )
        .replacen("name = \"API Pro\"", "name = \"API Pro (2027)\"", 1);
    assert!(text.contains("3499") && text.contains("API Pro (2027)"), "the catalog was edited");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.toml");
    std::fs::write(&path, text).unwrap();
    let old = stripe.active_price("api_pro_monthly").unwrap().0;
    let third = sync(&stripe, Some(&path), false);
    assert_eq!(third.lines().count(), 2, "{third}");
    let (new, amount, name) = stripe.active_price("api_pro_monthly").unwrap();
    assert_eq!((amount, name.as_str()), (3499, "API Pro (2027)"));
    assert_ne!(new, old);
    assert_eq!(stripe.requests_to(&Method::POST, &format!("/v1/prices/{old}"))[0].param("active"), Some("false"));
    assert!(sync(&stripe, Some(&path), false).contains("nothing to change"));
}

/// On the emulated Stripe, whose request log shows exactly what tollgate asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_first_checkouts_make_one_customer_and_one_session() {
    let emulated = Emulated::start(&[
        ("PAYMENT_RATE_LIMIT_PER_MINUTE", "100"),
        ("CHECKOUT_SUCCESS_URL", "https://app.example.com/thanks"),
        ("CHECKOUT_CANCEL_URL", "https://app.example.com/pricing"),
        ("PORTAL_RETURN_URL", "https://app.example.com/account"),
    ])
    .await;
    let emulated = Arc::new(emulated);
    let stack = &emulated.stack;
    stack.sign_in("user_bob").await;
    let body = json!({"sku": "template_budget_tracker", "referral_code": "user_bob"});
    let answers = join_all((0..20).map(|_| {
        let (emulated, body) = (Arc::clone(&emulated), body.clone());
        tokio::spawn(async move { post_as(&emulated.stack, "user_alice", "/api/checkout", &body).await })
    }))
    .await;
    let ids: std::collections::HashSet<_> = answers
        .iter()
        .map(|(status, body, _)| {
            assert_eq!(*status, StatusCode::OK, "{body}");
            body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every retry of one request gets the same session");
    assert!(answers[0].1["url"].as_str().unwrap().starts_with(&stack.url("/stripe/checkout/cs_test_")));
    let customers_created = emulated.events().await.iter().filter(|e| e["type"] == "customer.created").count();
    assert_eq!(customers_created, 1, "one Stripe customer");

    let customers = emulated.requests(&Method::POST, "/v1/customers").await;
    let keys: std::collections::HashSet<_> = customers.iter().map(|r| r["idempotency_key"].clone()).collect();
    assert_eq!(keys.len(), 1, "all asked under the account's one key: {keys:?}");
    assert_eq!(param(&customers[0], "metadata[account_id]"), Some("user_alice"));
    let profile = stack.account("user_alice").await;
    let customer = profile["stripe_customer_id"].as_str().unwrap().to_owned();

    let sessions = emulated.requests(&Method::POST, "/v1/checkout/sessions").await;
    let session_keys: std::collections::HashSet<_> = sessions.iter().map(|r| r["idempotency_key"].clone()).collect();
    assert_eq!(session_keys.len(), 1, "one session asked for, under one key");
    let (_, prices) = emulated.stripe(Method::GET, "/v1/prices?lookup_keys[]=template_budget_tracker", &[], None).await;
    let price = prices["data"][0]["id"].as_str().unwrap().to_owned();
    for (name, value) in [
        ("mode", "payment"),
        ("customer", customer.as_str()),
        ("client_reference_id", "user_alice"),
        ("line_items[0][price]", price.as_str()),
        ("line_items[0][quantity]", "1"),
        ("metadata[account_id]", "user_alice"),
        ("metadata[sku]", "template_budget_tracker"),
        ("metadata[referral_code]", "user_bob"),
        ("metadata[quantity]", "1"),
        ("payment_intent_data[metadata][account_id]", "user_alice"),
        ("payment_intent_data[metadata][sku]", "template_budget_tracker"),
        ("success_url", "https://app.example.com/thanks"),
        ("cancel_url", "https://app.example.com/pricing"),
    ] {
        assert_eq!(param(&sessions[0], name), Some(value), "{name}: {}", sessions[0]["params"]);
    }
    assert!(param(&sessions[0], "subscription_data[metadata][account_id]").is_none());
    assert!(sessions[0]["idempotency_key"].as_str().is_some_and(|k| k.starts_with("tollgate-checkout-")));
    let version = json!(tollgate_core::STRIPE_API_VERSION);
    assert!(sessions.iter().chain(&customers).all(|r| r["stripe_version"] == version));
    let anonymous = stack.http.get(stack.url("/stripe/emulator/requests")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "the log is the account's, behind its key");

    // A plan is a subscription-mode session whose subscription carries the metadata.
    let plan_body = json!({"sku": "api_pro", "success_url": "https://app.example.com/welcome"});
    let (status, plan, _) = post_as(stack, "user_alice", "/api/checkout", &plan_body).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    let sessions = emulated.requests(&Method::POST, "/v1/checkout/sessions").await;
    let plan_request = sessions.iter().find(|r| param(r, "mode") == Some("subscription")).unwrap();
    assert_eq!(param(plan_request, "subscription_data[metadata][account_id]"), Some("user_alice"));
    assert_eq!(param(plan_request, "success_url"), Some("https://app.example.com/welcome"));
    let asked = emulated.requests(&Method::POST, "/v1/customers").await.len();
    assert_eq!(asked, customers.len(), "the stored customer is reused, Stripe not asked again");
    // Asked again (a retry): the same session; asked for more: a new one.
    let (_, again, _) = post_as(stack, "user_alice", "/api/checkout", &plan_body).await;
    assert_eq!(again["id"], plan["id"]);
    let (_, two, _) =
        post_as(stack, "user_alice", "/api/checkout", &json!({"sku": "template_budget_tracker", "quantity": 2})).await;
    assert_ne!(two["id"], answers[0].1["id"]);

    let (status, portal, _) = post_as(stack, "user_alice", "/api/portal", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{portal}");
    let portal_request = &emulated.requests(&Method::POST, "/v1/billing_portal/sessions").await[0];
    assert_eq!(param(portal_request, "customer"), Some(customer.as_str()));
    assert_eq!(param(portal_request, "return_url"), Some("https://app.example.com/account"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_checkouts_keep_one_customer_even_when_stripe_makes_several() {
    let stripe = synced_stripe().await;
    stripe.ignore_idempotency();
    let stack = Arc::new(stack(&stripe, &[("PAYMENT_RATE_LIMIT_PER_MINUTE", "100")]).await);
    let answers = join_all((0..20).map(|quantity| {
        let stack = Arc::clone(&stack);
        let body = json!({"sku": "template_budget_tracker", "quantity": quantity + 1});
        tokio::spawn(async move { post_as(&stack, "user_erin", "/api/checkout", &body).await })
    }))
    .await;
    assert!(answers.iter().all(|(status, _, _)| *status == StatusCode::OK), "{answers:?}");
    assert!(stripe.customers_created() > 1, "Stripe made several customers: {}", stripe.customers_created());
    let stored = stack.account("user_erin").await["stripe_customer_id"].as_str().unwrap().to_owned();
    let sessions = stripe.requests_to(&Method::POST, "/v1/checkout/sessions");
    assert_eq!(sessions.len(), 20);
    assert!(
        sessions.iter().all(|session| session.param("customer") == Some(stored.as_str())),
        "every session is for the one stored customer ({stored}), however many Stripe made ({})",
        stripe.customers_created()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_refusal_has_its_status_and_code() {
    let stripe = synced_stripe().await;
    let stack = stack(&stripe, &[("PAYMENT_RATE_LIMIT_PER_MINUTE", "5")]).await;
    let unauthenticated =
        stack.http.post(stack.url("/api/checkout")).json(&json!({"sku": "api_pro"})).send().await.unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    let code = |answer: &(StatusCode, Value, HeaderMap)| {
        (
            answer.0,
            answer.1["error"]["code"].as_str().unwrap_or_default().to_owned(),
            answer.1["error"]["field"].as_str().map(str::to_owned),
        )
    };
    let cases = [
        (json!({"quantity": 1}), StatusCode::BAD_REQUEST, "invalid_request", Some("sku")),
        (json!({"sku": "no_such_thing"}), StatusCode::NOT_FOUND, "unknown_sku", None),
        (json!({"sku": "api_pro", "quantity": 3}), StatusCode::BAD_REQUEST, "invalid_request", Some("quantity")),
        (
            json!({"sku": "api_pro", "success_url": "https://evil.example.net/"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("success_url"),
        ),
        (json!({"sku": "api_free"}), StatusCode::BAD_REQUEST, "invalid_request", Some("sku")),
    ];
    for (body, status, expected, field) in cases {
        let answer = post_as(&stack, "user_errors", "/api/checkout", &body).await;
        assert_eq!(code(&answer), (status, expected.to_owned(), field.map(str::to_owned)), "{body}");
    }
    assert_eq!(stripe.sessions_created(), 0, "nothing refused reached Stripe");

    let portal = post_as(&stack, "user_new", "/api/portal", &json!({})).await;
    assert_eq!(code(&portal), (StatusCode::NOT_FOUND, "no_customer".to_owned(), None));

    // An active Pro subscription, by webhook: the same plan again is a conflict.
    let created = now().0;
    let checkout = tollgate_tests::stripe::checkout_session("user_pro", "cus_pro", None);
    stack.deliver(&event("evt_pro_checkout", "checkout.session.completed", created, checkout)).await;
    stack
        .deliver(&event(
            "evt_pro_sub",
            "customer.subscription.created",
            created,
            subscription("sub_pro", "cus_pro", "api_pro_monthly", "active", created),
        ))
        .await;
    stack.settled("evt_pro_sub").await;
    let again = post_as(&stack, "user_pro", "/api/checkout", &json!({"sku": "api_pro"})).await;
    assert_eq!(code(&again), (StatusCode::CONFLICT, "already_subscribed".to_owned(), None));

    // The sixth payment request of a minute (five above were user_errors'; these are user_rate's).
    for _ in 0..5 {
        let counted = post_as(&stack, "user_rate", "/api/portal", &json!({})).await;
        assert_eq!(code(&counted), (StatusCode::NOT_FOUND, "no_customer".to_owned(), None), "counted, not limited");
    }
    let limited = post_as(&stack, "user_rate", "/api/portal", &json!({})).await;
    assert_eq!(code(&limited), (StatusCode::TOO_MANY_REQUESTS, "rate_limited".to_owned(), None));
    let retry_after: u32 = limited.2.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
}

/// What the product's fulfillment webhook received: (body, signature header).
type Posts = Arc<Mutex<Vec<(String, String)>>>;

async fn fulfillment_server() -> (String, Posts) {
    let posts = Posts::default();
    let recorded = Arc::clone(&posts);
    let app = axum::Router::new().route(
        "/deliver",
        axum::routing::post(move |headers: HeaderMap, body: String| async move {
            let signature = headers.get("tollgate-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
            recorded.lock().unwrap().push((body, signature.to_owned()));
            // As an n8n flow that made the file answers: where the buyer downloads it.
            axum::Json(json!({"download_url": "https://files.example.com/budget.xlsx?sig=abc"}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/deliver", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, posts)
}

async fn purchases(stack: &TestStack, account: &str) -> Vec<Value> {
    stack.get_as(account, "/api/me/purchases").await["purchases"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_product_is_granted_fulfilled_once_and_revoked_by_a_full_refund() {
    let (url, posts) = fulfillment_server().await;
    let text = std::fs::read_to_string(format!("{}/../catalog.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let text = text.replacen("kind = \"product\"\n", &format!("kind = \"product\"\nfulfillment_url = \"{url}\"\n"), 1);
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(&catalog, text).unwrap();
    let stripe = FakeStripe::start().await;
    let stack = stack(&stripe, &[("CATALOG_PATH", catalog.to_str().unwrap())]).await;

    let created = now().0;
    let session =
        product_checkout_session("cs_buy_1", "user_carol", "cus_carol", "template_budget_tracker", "pi_buy_1");
    let completed = event("evt_buy_checkout", "checkout.session.completed", created, session);
    stack.deliver(&completed).await;
    stack.deliver(&completed).await; // Stripe redelivers: still one purchase, one fulfillment
    stack
        .deliver(&event(
            "evt_buy_paid",
            "payment_intent.succeeded",
            created,
            payment_intent_succeeded("pi_buy_1", "user_carol", "cus_carol", 999),
        ))
        .await;
    let delivered = async {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let bought = purchases(&stack, "user_carol").await;
            if bought.first().is_some_and(|p| p["delivery"] == "delivered") {
                return bought;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never delivered: {:?}", purchases(&stack, "user_carol").await);
    }
    .await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        (&delivered[0]["id"], &delivered[0]["sku"], &delivered[0]["revoked"]),
        (&json!("cs_buy_1"), &json!("template_budget_tracker"), &json!(false))
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posts = posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "fulfilled once");
    let (body, signature) = &posts[0];
    let timestamp: i64 = signature.trim_start_matches("t=").split(',').next().unwrap().parse().unwrap();
    let expected =
        signing::sign(WORKFLOW_SECRET.as_bytes(), Purpose::FulfillmentPost, Timestamp(timestamp), &[body.as_bytes()]);
    assert_eq!(signature, &expected);
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!((&body["purchaseId"], &body["accountId"]), (&json!("cs_buy_1"), &json!("user_carol")));
    assert_eq!(body["email"], "user_carol@example.com", "the buyer's email, from the session's customer details");
    assert_eq!(delivered[0]["download_url"], "https://files.example.com/budget.xlsx?sig=abc");

    // A partial refund keeps the product; a full one takes it back.
    stack
        .deliver(&event(
            "evt_buy_refund_part",
            "charge.refunded",
            created + 1,
            charge_refunded("ch_buy_1", "cus_carol", 999, 300, "pi_buy_1"),
        ))
        .await;
    stack.settled("evt_buy_refund_part").await;
    assert_eq!(purchases(&stack, "user_carol").await[0]["revoked"], false);
    stack
        .deliver(&event(
            "evt_buy_refund_full",
            "charge.refunded",
            created + 2,
            charge_refunded("ch_buy_1", "cus_carol", 999, 999, "pi_buy_1"),
        ))
        .await;
    stack.settled("evt_buy_refund_full").await;
    let refunded = purchases(&stack, "user_carol").await;
    assert_eq!(refunded[0]["revoked"], true);
    assert_eq!(refunded[0].get("download_url"), None, "a refunded product's link is no longer shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn entitlements_follow_the_membership() {
    let stripe = FakeStripe::start().await;
    let stack = stack(&stripe, &[]).await;
    for (index, id) in ["videos", "images", "loops", "newsletter"].iter().enumerate() {
        let body = json!({"id": id, "name": id, "webhook_url": "http://127.0.0.1:9/start", "schedule": "0 0 1 1 *", "premium": index < 4});
        assert_eq!(stack.admin_send(Method::POST, "/admin/workflows", &body).await.0, StatusCode::CREATED);
        tokio::time::sleep(Duration::from_millis(1100)).await; // registration order is by second
    }
    let none = stack.get_as("user_dave", "/api/me/entitlements").await;
    assert_eq!((&none["membership"], &none["premium_workflows"]), (&Value::Null, &json!([])));

    let created = now().0;
    let checkout = json!({"id": "cs_dave", "client_reference_id": "user_dave", "customer": "cus_dave", "mode": "subscription", "metadata": {"account_id": "user_dave", "sku": "member_basic"}});
    stack.deliver(&event("evt_dave_checkout", "checkout.session.completed", created, checkout)).await;
    stack
        .deliver(&event(
            "evt_dave_sub",
            "customer.subscription.created",
            created,
            subscription("sub_dave", "cus_dave", "member_basic_monthly", "active", created),
        ))
        .await;
    stack.settled("evt_dave_sub").await;
    let basic = stack.get_as("user_dave", "/api/me/entitlements").await;
    assert_eq!(
        (&basic["membership"], &basic["premium_workflows"]),
        (&json!("basic"), &json!(["videos", "images", "loops"]))
    );

    stack
        .deliver(&event(
            "evt_dave_up",
            "customer.subscription.updated",
            created + 1,
            subscription("sub_dave", "cus_dave", "member_elite_monthly", "active", created),
        ))
        .await;
    stack.settled("evt_dave_up").await;
    let elite = stack.get_as("user_dave", "/api/me/entitlements").await;
    assert_eq!(
        (&elite["membership"], &elite["all_premium_workflows"], &elite["priority_support"], &elite["api_plan"]),
        (&json!("elite"), &json!(true), &json!(true), &json!("api_pro"))
    );
    assert_eq!(elite["premium_workflows"].as_array().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referral_code_that_names_no_account_or_the_buyer_is_left_out_and_the_checkout_proceeds() {
    let stripe = synced_stripe().await;
    let stack = stack(&stripe, &[("PAYMENT_RATE_LIMIT_PER_MINUTE", "100")]).await;
    for (n, code) in ["user_nobody", "user_erin"].into_iter().enumerate() {
        let body = json!({"sku": "template_budget_tracker", "quantity": n + 1, "referral_code": code});
        let (status, answer, _) = post_as(&stack, "user_erin", "/api/checkout", &body).await;
        assert_eq!(status, StatusCode::OK, "{code}: {answer}");
    }
    let sessions = stripe.requests_to(&Method::POST, "/v1/checkout/sessions");
    assert_eq!(sessions.len(), 2);
    for session in &sessions {
        assert_eq!(session.param("metadata[account_id]"), Some("user_erin"));
        assert_eq!(session.param("metadata[referral_code]"), None, "{:?}", session.params);
    }
    let (status, refused, _) =
        post_as(&stack, "user_erin", "/api/checkout", &json!({"sku": "api_pro", "referral_code": "workflow:daily"}))
            .await;
    assert_eq!((status, &refused["error"]["field"]), (StatusCode::BAD_REQUEST, &json!("referral_code")));
}
