//! API keys, the native gateway and the usage meter end to end: the real `tollgate dev`
//! with a real local upstream, an alert webhook, and a local Stripe stand-in for meter
//! events. The Worker's own suite is `edge_worker.rs`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::eventually;
use tollgate_tests::fake_stripe::{FakeStripe, SECRET_KEY};
use tollgate_tests::keys::{Answer, assert_rate_limited_beyond, call, call_at_once, catalog_with, create_key, me};
use tollgate_tests::recorder::Recorder;
use tollgate_tests::stack::{TestStack, now, token};
use tollgate_tests::stripe::{checkout_session, event, product_checkout_session, subscription};

const PATIENCE: Duration = Duration::from_secs(20);

fn count(answers: &[Answer], status: StatusCode, code: Option<&str>) -> usize {
    answers.iter().filter(|a| a.status == status && a.code() == code).count()
}

async fn used(stack: &TestStack, account: &str) -> u64 {
    me(stack, account).await["used"].as_u64().unwrap()
}

async fn quota_alerts(stack: &TestStack, account: &str) -> Vec<String> {
    let (_, body) = stack.admin_get("/admin/alerts").await;
    let mut ids: Vec<String> = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "quota" && a["account_id"] == account)
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Links `customer` to `account` and subscribes it to `lookup_key` from `period_start`, by webhook.
async fn subscribe(stack: &TestStack, account: &str, customer: &str, lookup_key: &str, period_start: i64) {
    let created = now().0;
    let linked = event(
        &format!("evt_link_{account}"),
        "checkout.session.completed",
        created,
        checkout_session(account, customer, None),
    );
    let sub = subscription(&format!("sub_{account}"), customer, lookup_key, "active", period_start);
    let subscribed = event(&format!("evt_sub_{account}"), "customer.subscription.created", created, sub);
    for payload in [linked, subscribed] {
        let (status, body) = stack.deliver(&payload).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        stack.settled(body["id"].as_str().unwrap()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_are_shown_once_checked_on_every_call_and_revoked_at_once() {
    let upstream = Recorder::start().await;
    let stack = TestStack::start_with(&[("UPSTREAM_URL", upstream.url.as_str())]).await;
    let created = create_key(&stack, "ann").await;
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("tg_live_") && key.len() >= 40, "{created}");
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));
    let test_key = stack
        .http
        .post(stack.url("/api/keys"))
        .bearer_auth(token("ann", None))
        .json(&serde_json::json!({"mode": "test"}))
        .send()
        .await
        .unwrap();
    let test_key: Value = test_key.json().await.unwrap();
    assert!(test_key["key"].as_str().unwrap().starts_with("tg_test_"));

    // Listed without the key; the account exists from its first call, on the free plan.
    let listed = stack.http.get(stack.url("/api/keys")).bearer_auth(token("ann", None)).send().await.unwrap();
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains(&key[8..]), "{listed}");
    let ids: Vec<&Value> = listed["keys"].as_array().unwrap().iter().map(|k| &k["id"]).collect();
    assert!(ids.contains(&&created["id"]) && ids.contains(&&test_key["id"]));
    let standing = me(&stack, "ann").await;
    assert_eq!((standing["plan"].as_str(), standing["limits"]["monthly_requests"].as_u64()), (Some("free"), Some(100)));
    assert_eq!(
        (standing["used"].as_u64(), standing["remaining"].as_u64(), standing["credits"].as_u64()),
        (Some(0), Some(100), Some(0))
    );
    let anonymous = stack.http.get(stack.url("/api/keys")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // A call is forwarded with the account, never the key.
    let answer = call(&stack.http, &stack.base_url, key, "/v1/reports?month=11").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        (answer.body["target"].as_str(), answer.body["account"].as_str()),
        (Some("/v1/reports?month=11"), Some("ann"))
    );
    assert_eq!((answer.header("x-ratelimit-limit"), answer.header("x-ratelimit-remaining")), (Some("100"), Some("99")));
    let forwarded = &upstream.seen()[0];
    assert!(forwarded.headers.get("authorization").is_none());
    assert_eq!(forwarded.headers.get("x-tollgate-key").unwrap(), created["id"].as_str().unwrap());

    // Unknown, malformed and revoked keys: 401 with the rate-limit headers, nothing forwarded.
    let unknown = format!("tg_live_{}", "A".repeat(33));
    for bad in [unknown.as_str(), "not-a-key"] {
        let answer = call(&stack.http, &stack.base_url, bad, "/v1/reports").await;
        assert_eq!((answer.status, answer.code()), (StatusCode::UNAUTHORIZED, Some("invalid_key")));
        assert!(answer.header("x-ratelimit-limit").is_some() && answer.header("x-ratelimit-reset").is_some());
    }
    let id = created["id"].as_str().unwrap();
    let stranger =
        stack.http.delete(stack.url(&format!("/api/keys/{id}"))).bearer_auth(token("bob", None)).send().await.unwrap();
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND, "bob cannot revoke ann's key");
    let revoked =
        stack.http.delete(stack.url(&format!("/api/keys/{id}"))).bearer_auth(token("ann", None)).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let answer = call(&stack.http, &stack.base_url, key, "/v1/reports").await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNAUTHORIZED, Some("invalid_key")));
    let other = call(&stack.http, &stack.base_url, test_key["key"].as_str().unwrap(), "/v1/reports").await;
    assert_eq!(other.status, StatusCode::OK, "the account's other key still works");
    assert_eq!(upstream.seen().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_account_holds_at_most_its_plans_keys_and_a_revoked_key_frees_a_place() {
    let catalog = catalog_with(&[("tier = \"free\"\n", "tier = \"free\"\nmax_keys = 3\n")]);
    let stack = TestStack::start_with(&[("CATALOG_PATH", catalog.to_str().unwrap())]).await;
    let first = create_key(&stack, "kim").await;
    for _ in 0..2 {
        create_key(&stack, "kim").await;
    }
    let post = || stack.http.post(stack.url("/api/keys")).bearer_auth(token("kim", None)).send();
    let refused = post().await.unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "key_limit_reached", "{body}");
    let listed = stack.get_as("kim", "/api/keys").await;
    assert_eq!(listed["keys"].as_array().unwrap().len(), 3, "the refused key was not stored");
    let id = first["id"].as_str().unwrap();
    let revoked = stack.http.delete(stack.url(&format!("/api/keys/{id}"))).bearer_auth(token("kim", None)).send();
    assert_eq!(revoked.await.unwrap().status(), StatusCode::OK);
    assert_eq!(post().await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(post().await.unwrap().status(), StatusCode::CONFLICT);
    // A plan that says nothing allows 25.
    let stack = TestStack::start().await;
    for _ in 0..25 {
        create_key(&stack, "lee").await;
    }
    assert_eq!(
        stack.http.post(stack.url("/api/keys")).bearer_auth(token("lee", None)).send().await.unwrap().status(),
        StatusCode::CONFLICT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_calls_with_a_hundred_left_allow_exactly_a_hundred() {
    let catalog = catalog_with(&[(
        "requests_per_minute = 100\n\n[sku.limits.requests]\nquota = 100\n",
        "requests_per_minute = 1000\n\n[sku.limits.requests]\nquota = 150\n",
    )]);
    let stack = TestStack::start_with(&[("CATALOG_PATH", catalog.to_str().unwrap())]).await;
    let key = create_key(&stack, "cat").await["key"].as_str().unwrap().to_owned();
    for _ in 0..50 {
        assert_eq!(call(&stack.http, &stack.base_url, &key, "/v1/warm-up").await.status, StatusCode::OK);
    }
    let answers = call_at_once(&stack.http, &stack.base_url, &key, 200).await;
    assert_eq!(count(&answers, StatusCode::OK, None), 100);
    assert_eq!(count(&answers, StatusCode::PAYMENT_REQUIRED, Some("quota_exceeded")), 100);
    assert!(answers.iter().all(|a| a.header("x-ratelimit-limit") == Some("1000")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rate_limit_holds_under_concurrency_and_says_when_to_retry() {
    let catalog = catalog_with(&[("quota = 100\n", "")]);
    let stack = TestStack::start_with(&[("CATALOG_PATH", catalog.to_str().unwrap())]).await;
    let key = create_key(&stack, "dan").await["key"].as_str().unwrap().to_owned();
    let answers = call_at_once(&stack.http, &stack.base_url, &key, 200).await;
    assert_rate_limited_beyond(&answers, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn usage_reaches_the_account_and_each_quota_threshold_alerts_once() {
    let webhook = Recorder::start().await;
    let catalog = catalog_with(&[(
        "requests_per_minute = 100\n\n[sku.limits.requests]\nquota = 100\n",
        "requests_per_minute = 1000\n\n[sku.limits.requests]\nquota = 100\n",
    )]);
    let stack = TestStack::start_with(&[
        ("CATALOG_PATH", catalog.to_str().unwrap()),
        ("USAGE_FLUSH_SECONDS", "1"),
        ("ALERT_WEBHOOK_URL", webhook.url.as_str()),
    ])
    .await;
    let key = create_key(&stack, "eve").await["key"].as_str().unwrap().to_owned();
    let first = call(&stack.http, &stack.base_url, &key, "/v1/a").await;
    let period_end = me(&stack, "eve").await["billing_period"]["end"].as_i64().unwrap();
    assert_eq!(first.header("x-quota-remaining"), Some("99"), "the route's meter: requests");
    let reset: i64 = first.header("x-quota-reset").unwrap().parse().unwrap();
    assert!((period_end - now().0 - reset).abs() <= 2, "seconds until the period ends: {reset}");
    for _ in 0..68 {
        assert_eq!(call(&stack.http, &stack.base_url, &key, "/v1/a").await.status, StatusCode::OK);
    }
    assert!(eventually(PATIENCE, || async { used(&stack, "eve").await == 69 }).await);
    assert!(quota_alerts(&stack, "eve").await.is_empty());
    assert_eq!(call(&stack.http, &stack.base_url, &key, "/v1/a").await.status, StatusCode::OK);
    assert!(eventually(PATIENCE, || async { quota_alerts(&stack, "eve").await.len() == 1 }).await);
    for _ in 0..30 {
        assert_eq!(call(&stack.http, &stack.base_url, &key, "/v1/a").await.status, StatusCode::OK);
    }
    let refused = call(&stack.http, &stack.base_url, &key, "/v1/a").await;
    assert_eq!((refused.status, refused.code()), (StatusCode::PAYMENT_REQUIRED, Some("quota_exceeded")));
    assert!(eventually(PATIENCE, || async { used(&stack, "eve").await == 100 }).await);
    let period = me(&stack, "eve").await["billing_period"]["start"].as_i64().unwrap();
    let expected: Vec<String> = [70, 85, 95].iter().map(|p| format!("quota:eve:{period}:{p}")).collect();
    assert!(eventually(PATIENCE, || async { quota_alerts(&stack, "eve").await.len() == 3 }).await);
    assert_eq!(quota_alerts(&stack, "eve").await, expected);
    let standing = me(&stack, "eve").await;
    assert_eq!(standing["remaining"], 0);
    assert_eq!(
        standing["meters"][0],
        serde_json::json!({"meter": "requests", "unit": "request", "used": 100, "quota": 100, "per": "period",
                           "resets_at": period_end, "remaining": 0, "overage": "block"})
    );
    // The runs of sold workflows count on a meter of their own, untouched by calls.
    let generations = &standing["meters"][1];
    assert_eq!(
        (&generations["meter"], &generations["used"], &generations["remaining"]),
        (&"generations".into(), &0.into(), &5.into())
    );
    assert_eq!(standing["balance"], serde_json::json!({"amount": 0, "amount_micros": 0, "currency": "usd"}));
    let limits = stack.get_as("eve", "/api/me/limits").await;
    assert_eq!(limits["can_use"], serde_json::json!({"requests": false, "generations": true}), "{limits}");
    assert_eq!(limits["meters"]["requests"]["remaining"], 0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(quota_alerts(&stack, "eve").await.len(), 3, "no threshold alerts twice");
    let posted: Vec<Value> = webhook.seen().iter().map(|s| serde_json::from_str(&s.body).unwrap()).collect();
    assert_eq!(posted.len(), 3, "each alert is posted once");
    assert!(posted.iter().all(|p| p["alert"]["kind"] == "quota" && p["text"].as_str().unwrap().contains("eve")));
    let (_, metrics) = stack.admin_get("/admin/metrics").await;
    assert_eq!(
        (&metrics["revenue_by_day"][0]["active_accounts"], &metrics["active_accounts_30d"]),
        (&serde_json::json!(1), &serde_json::json!(1)),
        "eve made calls today, counted once whatever the batches"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upgrade_by_webhook_raises_the_limits_of_existing_keys_from_a_fresh_period() {
    // Rate limits out of the way: this is about the quota.
    let catalog = catalog_with(&[
        (
            "requests_per_minute = 100\n\n[sku.limits.requests]\nquota = 100\n",
            "requests_per_minute = 1000\n\n[sku.limits.requests]\nquota = 100\n",
        ),
        (
            "requests_per_minute = 100\nconcurrent_runs = 3\n\n[sku.limits.requests]\nquota = 10000\n",
            "requests_per_minute = 1000\nconcurrent_runs = 3\n\n[sku.limits.requests]\nquota = 10000\n",
        ),
    ]);
    let stack =
        TestStack::start_with(&[("CATALOG_PATH", catalog.to_str().unwrap()), ("USAGE_FLUSH_SECONDS", "1")]).await;
    let key = create_key(&stack, "fay").await["key"].as_str().unwrap().to_owned();
    let answers = call_at_once(&stack.http, &stack.base_url, &key, 100).await;
    assert_eq!(count(&answers, StatusCode::OK, None), 100);
    let refused = call(&stack.http, &stack.base_url, &key, "/v1/b").await;
    assert_eq!(refused.code(), Some("quota_exceeded"));
    assert!(eventually(PATIENCE, || async { used(&stack, "fay").await == 100 }).await);

    // Stripe's period for the new plan began a minute ago: its quota counts from there.
    let period_start = now().0 - 60;
    subscribe(&stack, "fay", "cus_fay", "api_pro_monthly", period_start).await;
    let standing = me(&stack, "fay").await;
    assert_eq!(
        (standing["plan"].as_str(), standing["billing_period"]["start"].as_i64()),
        (Some("pro"), Some(period_start))
    );
    assert_eq!((standing["used"].as_u64(), standing["remaining"].as_u64()), (Some(0), Some(10_000)));
    let answer = call(&stack.http, &stack.base_url, &key, "/v1/b").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(eventually(PATIENCE, || async { used(&stack, "fay").await == 1 }).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overage_is_billed_once_per_batch_with_identifiers_stable_across_retries() {
    let stripe = FakeStripe::start().await;
    let catalog = catalog_with(&[("quota = 10000\n", "quota = 5\n")]);
    let stack = TestStack::start_with(&[
        ("CATALOG_PATH", catalog.to_str().unwrap()),
        ("USAGE_FLUSH_SECONDS", "1"),
        ("STRIPE_SECRET_KEY", SECRET_KEY),
        ("STRIPE_API_BASE", stripe.base_url.as_str()),
        ("CHECKOUT_SUCCESS_URL", "https://app.example.com/thanks"),
        ("CHECKOUT_CANCEL_URL", "https://app.example.com/pricing"),
        ("PORTAL_RETURN_URL", "https://app.example.com/account"),
    ])
    .await;
    subscribe(&stack, "gus", "cus_gus", "api_pro_monthly", now().0 - 60).await;
    let created = create_key(&stack, "gus").await;
    let (key, key_id) = (created["key"].as_str().unwrap(), created["id"].as_str().unwrap());
    // Stripe fails twice: the usage meter retries the same batch with the same identifier.
    stripe.fail_meter_events(2);
    for _ in 0..8 {
        assert_eq!(call(&stack.http, &stack.base_url, key, "/v1/c").await.status, StatusCode::OK, "pro allows overage");
    }
    // The calls may straddle a flush: what is exact is the overage billed, once, whatever the batches.
    let billed = || stripe.meter_events().iter().map(|(_, _, value)| value.parse::<u64>().unwrap()).sum::<u64>();
    assert!(eventually(Duration::from_secs(30), || async { billed() == 3 }).await);
    let batch_prefix = format!("tollgate-usage-{key_id}.");
    let check_attempts = || {
        let attempts = stripe.requests_to(&Method::POST, "/v1/billing/meter_events");
        let events = stripe.meter_events();
        assert!(events.iter().all(|(id, customer, _)| id.starts_with(&batch_prefix) && customer == "cus_gus"));
        for attempt in &attempts {
            assert_eq!(attempt.param("event_name"), Some("api_requests"));
            let identifier = attempt.param("identifier").unwrap();
            assert!(events.iter().any(|(id, _, _)| id == identifier), "a retry names a batch that was billed");
        }
        // Each batch's event was sent until Stripe took it, then never again.
        assert_eq!(attempts.len(), events.len() + 2, "two failures, then one accepted request per batch");
    };
    check_attempts();

    for _ in 0..2 {
        call(&stack.http, &stack.base_url, key, "/v1/c").await;
    }
    assert!(eventually(PATIENCE, || async { billed() == 5 }).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    check_attempts();
    assert_eq!(used(&stack, "gus").await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credits_extend_the_quota_then_run_out_with_their_balance() {
    let catalog = catalog_with(&[("quota = 100\n", "quota = 3\n"), ("credits = 1000", "credits = 4")]);
    let stack =
        TestStack::start_with(&[("CATALOG_PATH", catalog.to_str().unwrap()), ("USAGE_FLUSH_SECONDS", "1")]).await;
    let key = create_key(&stack, "hal").await["key"].as_str().unwrap().to_owned();
    let session = product_checkout_session("cs_credits_hal", "hal", "cus_hal", "credits_1000", "pi_credits_hal");
    let (status, body) = stack.deliver(&event("evt_credits_hal", "checkout.session.completed", now().0, session)).await;
    assert_eq!(status, StatusCode::OK);
    stack.settled(body["id"].as_str().unwrap()).await;
    assert_eq!(me(&stack, "hal").await["credits"], 4);
    let outcomes: Vec<StatusCode> = {
        let mut outcomes = Vec::new();
        for _ in 0..7 {
            outcomes.push(call(&stack.http, &stack.base_url, &key, "/v1/d").await.status);
        }
        outcomes
    };
    assert_eq!(outcomes, [StatusCode::OK; 7], "3 in the quota, 4 on credits");
    let refused = call(&stack.http, &stack.base_url, &key, "/v1/d").await;
    assert_eq!((refused.status, refused.code()), (StatusCode::PAYMENT_REQUIRED, Some("INSUFFICIENT_CREDITS")));
    assert_eq!(refused.body["error"]["balance"], 0);
    assert!(eventually(PATIENCE, || async { me(&stack, "hal").await["credits"] == 0 }).await);
    assert_eq!(used(&stack, "hal").await, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_key_is_kept_or_logged_in_plaintext() {
    let stack = TestStack::start_logged(&[("USAGE_FLUSH_SECONDS", "1"), ("RUST_LOG", "debug")]).await;
    let mut keys = Vec::new();
    for account in ["ivy", "jon"] {
        let created = create_key(&stack, account).await;
        keys.push(created["key"].as_str().unwrap().to_owned());
        call(&stack.http, &stack.base_url, &keys[keys.len() - 1], "/v1/e").await;
        let id = created["id"].as_str().unwrap();
        stack
            .http
            .delete(stack.url(&format!("/api/keys/{id}")))
            .bearer_auth(token(account, None))
            .send()
            .await
            .unwrap();
        call(&stack.http, &stack.base_url, &keys[keys.len() - 1], "/v1/e").await;
    }
    assert!(eventually(PATIENCE, || async { used(&stack, "jon").await == 1 }).await);
    let log = stack.log();
    assert!(log.contains("API key created") && log.contains("API key revoked"), "the log is being captured");
    let mut stored = Vec::new();
    for file in std::fs::read_dir(stack.data_dir()).unwrap() {
        let path = file.unwrap().path();
        if path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("tollgate.sqlite3")) {
            stored.extend(std::fs::read(path).unwrap());
        }
    }
    assert!(!stored.is_empty());
    let stored = String::from_utf8_lossy(&stored);
    for key in &keys {
        // The whole key, and its secret part past the visible prefix.
        for needle in [key.as_str(), &key[14..]] {
            assert!(!stored.contains(needle), "a key is stored in plaintext");
            assert!(!log.contains(needle), "a key is in the log");
        }
        let hash = tollgate_core::api_key::ApiKey::parse(key).unwrap().hash();
        assert!(stored.contains(hash.as_str()), "keys are stored by hash");
    }
}

/// `POST path` as `account`'s signed-in user: status and JSON body.
async fn post_json(stack: &TestStack, account: &str, path: &str) -> (StatusCode, Value) {
    let response = stack.http.post(stack.url(path)).bearer_auth(token(account, None)).send().await.unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

/// Stripe deletes `account`'s Pro subscription: the plan's limits go, as its keys may.
async fn cancel_pro(stack: &TestStack, account: &str, customer: &str, period_start: i64) {
    let sub = subscription(&format!("sub_{account}"), customer, "api_pro_monthly", "canceled", period_start);
    let deleted = event(&format!("evt_del_{account}"), "customer.subscription.deleted", now().0 + 5, sub);
    let (status, body) = stack.deliver(&deleted).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    stack.settled(body["id"].as_str().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_api_plan_bought_gives_its_first_key_once_and_its_end_revokes_the_keys_when_asked() {
    let stack = TestStack::start_with(&[("REVOKE_KEYS_ON_CANCEL", "true")]).await;
    let period_start = now().0 - 60;
    subscribe(&stack, "ivy", "cus_ivy", "api_pro_monthly", period_start).await;
    let listed = stack.get_as("ivy", "/api/keys").await;
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(1), "the plan made a key: {listed}");
    assert_eq!(listed["first_key_waiting"], true);

    let (status, first) = post_json(&stack, "ivy", "/api/keys/first").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let key = first["key"].as_str().unwrap().to_owned();
    assert_eq!(first["id"], listed["keys"][0]["id"]);
    assert_eq!(call(&stack.http, &stack.base_url, &key, "/v1/c").await.status, StatusCode::OK, "the key works");
    let (status, again) = post_json(&stack, "ivy", "/api/keys/first").await;
    assert_eq!((status, again["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_first_key")), "shown once");
    assert_eq!(stack.get_as("ivy", "/api/keys").await["first_key_waiting"], false);

    // Stripe redelivers the subscription's creation: no second key.
    subscribe(&stack, "ivy", "cus_ivy", "api_pro_monthly", period_start).await;
    assert_eq!(stack.get_as("ivy", "/api/keys").await["keys"].as_array().map(Vec::len), Some(1));

    // A creation Stripe delivers after the deletion it preceded makes no key.
    let sub = subscription("sub_kai", "cus_kai", "api_pro_monthly", "canceled", period_start);
    let mut deleted =
        serde_json::from_str::<Value>(&event("evt_kai_del", "customer.subscription.deleted", now().0 + 9, sub))
            .unwrap();
    deleted["data"]["object"]["metadata"] = json!({"account_id": "kai"});
    let sub = subscription("sub_kai", "cus_kai", "api_pro_monthly", "active", period_start);
    let mut created =
        serde_json::from_str::<Value>(&event("evt_kai_new", "customer.subscription.created", now().0, sub)).unwrap();
    created["data"]["object"]["metadata"] = json!({"account_id": "kai"});
    for payload in [deleted, created] {
        let (status, body) = stack.deliver(&payload.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        stack.settled(body["id"].as_str().unwrap()).await;
    }
    assert_eq!(stack.get_as("kai", "/api/keys").await["keys"], json!([]), "a stale creation makes no key");

    cancel_pro(&stack, "ivy", "cus_ivy", period_start).await;
    let keys = stack.get_as("ivy", "/api/keys").await;
    assert!(keys["keys"][0]["revoked_at"].is_i64(), "REVOKE_KEYS_ON_CANCEL: revoked with the plan: {keys}");
    assert_eq!(call(&stack.http, &stack.base_url, &key, "/v1/c").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_revoke_keys_on_cancel_the_keys_outlive_the_plan_on_the_free_limits() {
    let stack = TestStack::start().await;
    let period_start = now().0 - 60;
    let own = create_key(&stack, "joy").await["key"].as_str().unwrap().to_owned();
    subscribe(&stack, "joy", "cus_joy", "api_pro_monthly", period_start).await;
    let listed = stack.get_as("joy", "/api/keys").await;
    assert_eq!(
        (listed["keys"].as_array().map(Vec::len), &listed["first_key_waiting"]),
        (Some(1), &json!(false)),
        "an account that holds a key gets no other: {listed}"
    );
    cancel_pro(&stack, "joy", "cus_joy", period_start).await;
    assert_eq!(me(&stack, "joy").await["plan"], "free", "the plan's limits are gone");
    assert_eq!(call(&stack.http, &stack.base_url, &own, "/v1/c").await.status, StatusCode::OK, "the key stays");
}
