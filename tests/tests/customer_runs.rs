//! Workflows sold as APIs, end to end on `tollgate dev`: a customer runs a sold workflow
//! through the native gateway with an API key (and from the account page with a JWT),
//! gets the result by `?wait` and by polling, is charged exactly once, and is refused with
//! the right codes; the customer pool is fair across accounts.

use axum::extract::{Path, State};
use axum::http::StatusCode as AxumStatus;
use axum::routing::post;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tollgate_tests::eventually;
use tollgate_tests::keys::{catalog_with, create_key, me};
use tollgate_tests::stack::{TestStack, token};

const PATIENCE: Duration = Duration::from_secs(20);

/// Every start the workflow server took, in order: (behaviour, body).
type Starts = Arc<Mutex<Vec<(String, Value)>>>;

/// Plays the sold workflows: accepts each start at once and calls back later with an
/// output, as an n8n flow with a Webhook trigger answering immediately does.
async fn start(State(starts): State<Starts>, Path(behaviour): Path<String>, body: String) -> AxumStatus {
    let start: Value = serde_json::from_str(&body).expect("a JSON start");
    starts.lock().unwrap().push((behaviour.clone(), start.clone()));
    let (status, delay, output) = match behaviour.as_str() {
        "fail" => ("failed", 50, Value::Null),
        "slow" => ("completed", 400, json!({"done": true})),
        "big" => ("completed", 50, json!({"blob": "x".repeat(300)})),
        _ => ("completed", 50, json!({"echo": start["input"], "account": start["accountId"]})),
    };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let body = json!({"workflowId": start["workflowId"], "status": status, "output": output,
            "metadata": {"message": "done"}});
        let url = start["callbackUrl"].as_str().unwrap();
        reqwest::Client::new().post(url).json(&body).send().await.expect("tollgate answers the callback");
    });
    AxumStatus::ACCEPTED
}

async fn workflow_server() -> (String, Starts) {
    let starts = Starts::default();
    let app = axum::Router::new().route("/start/{behaviour}", post(start)).with_state(Arc::clone(&starts));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, starts)
}

async fn sell(stack: &TestStack, server: &str, id: &str, behaviour: &str, sell: Value) {
    let body = json!({"id": id, "name": id, "webhook_url": format!("{server}/start/{behaviour}"), "sell": sell});
    let (status, body) = stack.admin_send(Method::POST, "/admin/workflows", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn prompt_schema() -> Value {
    json!({"type": "object", "required": ["prompt"], "properties": {"prompt": {"type": "string", "minLength": 1}}})
}

/// `method path` through the gateway with the API key; status, headers and JSON body.
async fn with_key(
    stack: &TestStack,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    idempotency: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = stack.http.request(method, stack.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(idempotency) = idempotency {
        request = request.header("idempotency-key", idempotency);
    }
    let response = request.send().await.expect("the gateway answers");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

fn generations_used(standing: &Value) -> u64 {
    let meters = standing["meters"].as_array().expect("meters");
    let meter = meters.iter().find(|meter| meter["meter"] == "generations").expect("the generations meter");
    meter["used"].as_u64().expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_customer_runs_a_sold_workflow_with_a_key_and_gets_its_result_charged_once() {
    let (server, starts) = workflow_server().await;
    let stack = TestStack::start_with(&[("TOLLGATE_TICK_SECONDS", "1")]).await;
    sell(&stack, &server, "images", "ok", json!({"meter": "generations", "input_schema": prompt_schema()})).await;
    sell(&stack, &server, "pro_images", "ok", json!({"meter": "generations", "access": "plans", "plans": ["api_pro"]}))
        .await;
    let key = create_key(&stack, "ann").await["key"].as_str().unwrap().to_owned();

    let (status, _, offers) = with_key(&stack, &key, Method::GET, "/v1/workflows", None, None).await;
    assert_eq!(status, StatusCode::OK, "{offers}");
    let ids: Vec<&str> = offers["data"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["images"], "a free account is not offered a workflow sold to pro plans");
    assert_eq!(offers["data"][0]["meter"], "generations");
    assert_eq!(offers["data"][0]["input_schema"], prompt_schema());

    // By ?wait: the finished run in the answer.
    let input = json!({"input": {"prompt": "a cat"}});
    let runs = "/v1/workflows/images/runs";
    let (status, _, waited) =
        with_key(&stack, &key, Method::POST, &format!("{runs}?wait=10"), Some(input.clone()), None).await;
    assert_eq!(status, StatusCode::OK, "{waited}");
    assert_eq!(waited["status"], "completed");
    assert_eq!(waited["output"], json!({"echo": {"prompt": "a cat"}, "account": "ann"}));
    assert_eq!(waited["charged"], json!({"meter": "generations", "units": 1}));
    let (_, started) = starts.lock().unwrap()[0].clone();
    assert_eq!((started["accountId"].as_str(), &started["input"]), (Some("ann"), &json!({"prompt": "a cat"})));

    // By polling: 202 with where to look.
    let (status, _, accepted) = with_key(&stack, &key, Method::POST, runs, Some(input.clone()), Some("order-7")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["links"]["self"], format!("/v1/runs/{run_id}"));
    let polled = eventually(PATIENCE, || {
        let (stack, key, run_id) = (&stack, &key, &run_id);
        async move {
            let (_, _, run) = with_key(stack, key, Method::GET, &format!("/v1/runs/{run_id}"), None, None).await;
            run["status"] == "completed"
        }
    })
    .await;
    assert!(polled, "the polled run completes");

    // The same Idempotency-Key: the same run, not charged again.
    let (status, headers, again) =
        with_key(&stack, &key, Method::POST, runs, Some(input.clone()), Some("order-7")).await;
    assert_eq!((status, again["run_id"].as_str()), (StatusCode::OK, Some(run_id.as_str())), "{again}");
    assert_eq!(headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(generations_used(&me(&stack, "ann").await), 2, "two runs, each charged once");

    // Refusals, none charged.
    let bad = json!({"input": {"prompt": 7}});
    let (status, _, refused) = with_key(&stack, &key, Method::POST, runs, Some(bad), None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_input")));
    assert_eq!(refused["error"]["field"], "/prompt");
    let (status, _, refused) =
        with_key(&stack, &key, Method::POST, "/v1/workflows/pro_images/runs", Some(input.clone()), None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_entitled")));
    let (status, _, _) =
        with_key(&stack, &key, Method::POST, "/v1/workflows/nothing_here/runs", Some(input.clone()), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(generations_used(&me(&stack, "ann").await), 2, "refused runs cost nothing");

    // The free plan's 5 a day: three more pass, the next is refused.
    for _ in 0..3 {
        let (status, _, body) = with_key(&stack, &key, Method::POST, runs, Some(input.clone()), None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let (status, _, refused) = with_key(&stack, &key, Method::POST, runs, Some(input.clone()), None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::PAYMENT_REQUIRED, Some("quota_exceeded")));
    assert_eq!(generations_used(&me(&stack, "ann").await), 5);

    // Ann buys Pro: 1,000 generations a month, and the workflow sold to Pro plans.
    stack.subscribe("ann", "api_pro_monthly").await;
    let pro_run = "/v1/workflows/pro_images/runs?wait=10";
    let (status, _, run) = with_key(&stack, &key, Method::POST, pro_run, Some(input.clone()), None).await;
    assert_eq!((status, run["status"].as_str()), (StatusCode::OK, Some("completed")), "{run}");
    let (status, _, body) = with_key(&stack, &key, Method::POST, runs, Some(input.clone()), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "past the free plan's day, within Pro's month: {body}");
    let standing = me(&stack, "ann").await;
    // Pro counts generations per month: a window of its own, which the free plan's days never counted in.
    assert_eq!((standing["plan"].as_str(), generations_used(&standing)), (Some("pro"), 2), "{standing}");

    // From the account page, with the user's JWT: the same runs, newest first.
    let listed = stack
        .http
        .get(stack.url("/v1/runs?limit=2&workflow=images"))
        .bearer_auth(token("ann", None))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    assert_eq!(listed["has_more"], true);
    let (_, _, other) = with_key(
        &stack,
        create_key(&stack, "bob").await["key"].as_str().unwrap(),
        Method::GET,
        &format!("/v1/runs/{run_id}"),
        None,
        None,
    )
    .await;
    assert_eq!(other["error"]["code"], "not_found", "another account's run is not found");

    // The operator's figures for the sold workflow: today's runs, the success rate, the customers.
    let all_ended = eventually(PATIENCE, || async {
        let (_, metrics) = stack.admin_get("/admin/metrics").await;
        let images = metrics["workflows"].as_array().unwrap().iter().find(|w| w["workflow_id"] == "images").cloned();
        images.is_some_and(|images| images["sold"]["completed"] == 6)
    })
    .await;
    assert!(all_ended, "the six runs complete");
    let (_, metrics) = stack.admin_get("/admin/metrics").await;
    let images = metrics["workflows"].as_array().unwrap().iter().find(|w| w["workflow_id"] == "images").unwrap();
    let sold = &images["sold"];
    assert_eq!(sold["runs_by_day"][0]["runs"], 6, "{sold}");
    assert_eq!((sold["success_rate_bp"].as_u64(), sold["units_charged"].as_u64()), (Some(10_000), Some(6)));
    assert!(sold["mean_seconds"].is_i64(), "{sold}");
    assert_eq!(sold["customers"], json!([{"account_id": "ann", "runs": 6, "completed": 6}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unearned_charge_comes_back_and_oversized_output_fails_the_run() {
    let (server, _) = workflow_server().await;
    let catalog = catalog_with(&[("quota = 5\nper = \"day\"", "quota = 2\nper = \"day\"")]);
    let stack =
        TestStack::start_with(&[("TOLLGATE_TICK_SECONDS", "1"), ("CATALOG_PATH", catalog.to_str().unwrap())]).await;
    let on_success = json!({"meter": "generations", "charge": "on_success"});
    sell(&stack, &server, "flaky", "fail", on_success.clone()).await;
    let small = json!({"meter": "generations", "max_output_bytes": 100});
    sell(&stack, &server, "chatty", "big", small).await;
    let key = create_key(&stack, "cy").await["key"].as_str().unwrap().to_owned();
    let input = json!({"input": {}});

    let (status, _, failed) =
        with_key(&stack, &key, Method::POST, "/v1/workflows/flaky/runs?wait=10", Some(input.clone()), None).await;
    assert_eq!((status, failed["status"].as_str()), (StatusCode::OK, Some("failed")), "{failed}");
    assert_eq!(failed["charged"]["units"], 0, "charged on success: a failure costs nothing");
    assert_eq!(generations_used(&me(&stack, "cy").await), 0);

    let (status, _, failed) =
        with_key(&stack, &key, Method::POST, "/v1/workflows/chatty/runs?wait=10", Some(input.clone()), None).await;
    assert_eq!((status, failed["status"].as_str()), (StatusCode::OK, Some("failed")), "{failed}");
    assert!(failed["error"].as_str().unwrap().starts_with("output_too_large"), "{failed}");
    assert_eq!(failed["output"], Value::Null);
    assert_eq!(failed["charged"]["units"], 1, "charged on start, and it started: kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_account_queueing_many_runs_delays_another_single_run_by_at_most_one_slot() {
    let (server, starts) = workflow_server().await;
    // A pool of 2; every free account may hold both slots, and runs 1000 a day.
    let free = "tier = \"free\"\nprice_cents = 0\ncurrency = \"usd\"\nrequests_per_minute = 100\n";
    let catalog = catalog_with(&[
        (free, &format!("{free}concurrent_runs = 2\n")),
        ("quota = 5\nper = \"day\"", "quota = 1000\nper = \"day\""),
    ]);
    let stack = TestStack::start_with(&[
        ("TOLLGATE_TICK_SECONDS", "1"),
        ("CUSTOMER_RUN_CONCURRENCY", "2"),
        ("CATALOG_PATH", catalog.to_str().unwrap()),
    ])
    .await;
    sell(&stack, &server, "render", "slow", json!({"meter": "generations"})).await;
    let busy = create_key(&stack, "busy").await["key"].as_str().unwrap().to_owned();
    let lone = create_key(&stack, "lone").await["key"].as_str().unwrap().to_owned();
    let input = json!({"input": {"frames": 1}});
    for _ in 0..20 {
        let (status, _, body) =
            with_key(&stack, &busy, Method::POST, "/v1/workflows/render/runs", Some(input.clone()), None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let busy_before = starts.lock().unwrap().len();
    let (status, _, body) =
        with_key(&stack, &lone, Method::POST, "/v1/workflows/render/runs", Some(input.clone()), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let started = eventually(PATIENCE, || {
        let starts = Arc::clone(&starts);
        async move { starts.lock().unwrap().iter().any(|(_, start)| start["accountId"] == "lone") }
    })
    .await;
    assert!(started, "the lone run starts");
    let order: Vec<String> =
        starts.lock().unwrap().iter().map(|(_, s)| s["accountId"].as_str().unwrap().into()).collect();
    let lone_at = order.iter().position(|account| account == "lone").unwrap();
    assert!(
        lone_at <= busy_before,
        "the lone run took the first slot freed after it was asked for: {lone_at} starts before it, {busy_before} had started then"
    );
    assert!(busy_before <= 2, "the pool holds 2 at once: {busy_before} had started");

    // With the pool full, a run that must not wait is refused.
    let (status, _, refused) = with_key(
        &stack,
        &busy,
        Method::POST,
        "/v1/workflows/render/runs",
        Some(json!({"input": {}, "queue": false})),
        None,
    )
    .await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("concurrency_limit")));

    // A queued run is cancelled, and given back; a started one is not cancelled.
    let (_, _, listed) = with_key(&stack, &busy, Method::GET, "/v1/runs?status=queued&limit=1", None, None).await;
    let queued = listed["data"][0]["run_id"].as_str().expect("a queued run").to_owned();
    let used = generations_used(&me(&stack, "busy").await);
    let (status, _, cancelled) =
        with_key(&stack, &busy, Method::POST, &format!("/v1/runs/{queued}/cancel"), None, None).await;
    assert_eq!((status, cancelled["status"].as_str()), (StatusCode::OK, Some("cancelled")), "{cancelled}");
    assert_eq!(generations_used(&me(&stack, "busy").await), used - 1);
    let (status, _, again) =
        with_key(&stack, &busy, Method::POST, &format!("/v1/runs/{queued}/cancel"), None, None).await;
    assert_eq!((status, again["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("run_not_queued")));
    // Every other run ends.
    let all_done = eventually(Duration::from_secs(30), || {
        let (stack, busy) = (&stack, &busy);
        async move {
            let (_, _, page) =
                with_key(stack, busy, Method::GET, "/v1/runs?status=completed&limit=100", None, None).await;
            page["data"].as_array().is_some_and(|runs| runs.len() == 19)
        }
    })
    .await;
    assert!(all_done, "19 of busy's runs complete");
}

/// What an endpoint received: (path, headers by name, body).
type Received = Arc<Mutex<Vec<(String, serde_json::Map<String, Value>, String)>>>;

/// A customer's endpoint: `/ok` answers 204; `/flaky` answers 500 the first time.
async fn endpoint() -> (String, Received) {
    async fn receive(
        State(received): State<Received>,
        Path(path): Path<String>,
        headers: axum::http::HeaderMap,
        body: String,
    ) -> AxumStatus {
        let named = ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), Value::from(headers.get(*name)?.to_str().ok()?))))
            .collect();
        let mut received = received.lock().unwrap();
        let first_to_flaky = path == "flaky" && !received.iter().any(|(seen, _, _)| seen == "flaky");
        received.push((path, named, body));
        if first_to_flaky { AxumStatus::INTERNAL_SERVER_ERROR } else { AxumStatus::NO_CONTENT }
    }
    let received = Received::default();
    let app = axum::Router::new().route("/{path}", post(receive)).with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_runs_result_is_delivered_signed_to_the_account_endpoint_and_the_runs_own_url() {
    let (server, _) = workflow_server().await;
    let (hooks, received) = endpoint().await;
    let stack = TestStack::start_with(&[("TOLLGATE_TICK_SECONDS", "1")]).await;
    sell(&stack, &server, "images", "ok", json!({"meter": "generations"})).await;
    let key = create_key(&stack, "dee").await["key"].as_str().unwrap().to_owned();
    let runs = "/v1/workflows/images/runs";
    let own_url = json!({"input": {"prompt": "x"}, "webhook_url": format!("{hooks}/flaky")});
    let (status, _, refused) = with_key(&stack, &key, Method::POST, runs, Some(own_url.clone()), None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_webhook_url")));
    assert_eq!(refused["error"]["field"], "webhook_url", "no endpoint secret to sign with yet: {refused}");

    let set = stack
        .http
        .put(stack.url("/api/me/webhook-endpoint"))
        .bearer_auth(token("dee", None))
        .json(&json!({"url": format!("{hooks}/ok")}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let secret = set.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
    let (status, _, run) = with_key(&stack, &key, Method::POST, &format!("{runs}?wait=10"), Some(own_url), None).await;
    assert_eq!((status, run["status"].as_str()), (StatusCode::OK, Some("completed")), "{run}");

    let delivered = eventually(PATIENCE, || {
        let received = Arc::clone(&received);
        async move { received.lock().unwrap().len() >= 2 }
    })
    .await;
    assert!(delivered, "delivered to both");
    let seen = received.lock().unwrap().clone();
    let deliveries: Vec<Value> =
        seen.iter().map(|(_, headers, body)| json!({"secret": secret, "headers": headers, "body": body})).collect();
    let verified = tollgate_tests::standard_webhooks::verify(Value::Array(deliveries)).await;
    for result in verified["results"].as_array().unwrap() {
        assert_eq!(result["verified"]["type"], "run.completed", "{verified}");
        assert_eq!(result["verified"]["data"]["run_id"], run["run_id"]);
        assert_eq!(result["verified"]["data"]["output"], run["output"]);
    }

    // The run's own URL answered 500: pending, tried again 5 s later, or now on request.
    let listed = stack.get_as("dee", "/api/me/webhook-deliveries").await;
    let flaky = listed["data"].as_array().unwrap().iter().find(|d| d["url"].as_str().unwrap().ends_with("/flaky"));
    let flaky = flaky.expect("the run's own delivery").clone();
    if flaky["status"] == "pending" {
        assert_eq!((flaky["attempts"].as_u64(), flaky["last_response"].as_str()), (Some(1), Some("HTTP 500")));
    }
    let retried = stack
        .http
        .post(stack.url(&format!("/api/me/webhook-deliveries/{}/retry", flaky["id"].as_str().unwrap())))
        .bearer_auth(token("dee", None))
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), StatusCode::OK);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!((retried["status"].as_str(), retried["last_response"].as_str()), (Some("succeeded"), Some("HTTP 204")));
    let same_id = received
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, _, _)| path == "flaky")
        .map(|(_, h, _)| h["webhook-id"].clone())
        .collect::<Vec<_>>();
    assert!(
        same_id.len() >= 2 && same_id.iter().all(|id| *id == same_id[0]),
        "every attempt carries one webhook-id: {same_id:?}"
    );
    let other = stack.http.get(stack.url("/api/me/webhook-deliveries")).bearer_auth(token("eve", None)).send();
    let other: Value = other.await.unwrap().json().await.unwrap();
    assert_eq!(other["data"], json!([]), "another account sees none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crossing_a_quota_threshold_is_delivered_to_the_account_endpoint() {
    let (hooks, received) = endpoint().await;
    let stack = TestStack::start_with(&[("TOLLGATE_TICK_SECONDS", "1"), ("USAGE_FLUSH_SECONDS", "1")]).await;
    let set = stack
        .http
        .put(stack.url("/api/me/webhook-endpoint"))
        .bearer_auth(token("uma", None))
        .json(&json!({"url": format!("{hooks}/ok")}))
        .send()
        .await
        .unwrap();
    let secret = set.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
    let key = create_key(&stack, "uma").await["key"].as_str().unwrap().to_owned();
    // The free plan's 100 requests a period: the 70th call crosses 70%.
    for _ in 0..70 {
        let (status, _, _) = with_key(&stack, &key, Method::GET, "/v1/anything", None, None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let delivered = eventually(PATIENCE, || {
        let received = Arc::clone(&received);
        async move { !received.lock().unwrap().is_empty() }
    })
    .await;
    assert!(delivered, "the threshold reached the endpoint");
    let seen = received.lock().unwrap().clone();
    let deliveries: Vec<Value> =
        seen.iter().map(|(_, headers, body)| json!({"secret": secret, "headers": headers, "body": body})).collect();
    let verified = tollgate_tests::standard_webhooks::verify(Value::Array(deliveries)).await;
    let event = &verified["results"][0]["verified"];
    assert_eq!(event["type"], "usage.threshold_reached", "{verified}");
    assert_eq!(
        (&event["data"]["meter"], &event["data"]["percent"], &event["data"]["quota"]),
        (&json!("requests"), &json!(70), &json!(100))
    );
    assert_eq!(seen.len(), 1, "one threshold crossed, told once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overage_past_a_billed_quota_is_invoiced_once_for_each_run_that_kept_its_charge() {
    use tollgate_tests::fake_stripe::{FakeStripe, SECRET_KEY};
    let stripe = FakeStripe::start().await;
    let billed = "quota = 2\nper = \"month\"\noverage = \"bill\"\nunit_amount_decimal = \"50\"";
    let catalog = catalog_with(&[("quota = 1000\nper = \"month\"\noverage = \"block\"", billed)]);
    let (server, starts) = workflow_server().await;
    let stack = TestStack::start_with(&[
        ("CATALOG_PATH", catalog.to_str().unwrap()),
        ("TOLLGATE_TICK_SECONDS", "1"),
        ("STRIPE_SECRET_KEY", SECRET_KEY),
        ("STRIPE_API_BASE", stripe.base_url.as_str()),
        ("CHECKOUT_SUCCESS_URL", "https://app.example.com/thanks"),
        ("CHECKOUT_CANCEL_URL", "https://app.example.com/pricing"),
        ("PORTAL_RETURN_URL", "https://app.example.com/account"),
    ])
    .await;
    let on_success = json!({"meter": "generations", "charge": "on_success"});
    sell(&stack, &server, "images", "ok", on_success.clone()).await;
    sell(&stack, &server, "flaky", "fail", on_success).await;
    sell(&stack, &server, "risky", "fail", json!({"meter": "generations", "charge": "on_start"})).await;
    stack.subscribe("vic", "api_pro_monthly").await;
    let key = create_key(&stack, "vic").await["key"].as_str().unwrap().to_owned();
    // Stripe refuses the first report: the usage queue brings it back.
    stripe.fail_meter_events(1);
    let mut ended = Vec::new();
    for workflow in ["images", "images", "images", "flaky", "risky"] {
        let path = format!("/v1/workflows/{workflow}/runs?wait=10");
        let (status, _, run) = with_key(&stack, &key, Method::POST, &path, Some(json!({"input": {}})), None).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        ended.push((run["status"].as_str().unwrap().to_owned(), run["run_id"].as_str().unwrap().to_owned()));
    }
    let statuses: Vec<&str> = ended.iter().map(|(status, _)| status.as_str()).collect();
    assert_eq!(statuses, ["completed", "completed", "completed", "failed", "failed"]);
    // Two runs within Pro's 2 a month; the third completed past it; the failed on_success run
    // gave its unit back; the on_start run failed after it started, so it kept its charge.
    let expected: std::collections::BTreeSet<String> =
        [&ended[2].1, &ended[4].1].iter().map(|run| format!("tollgate-run-{run}")).collect();
    let counted = || stripe.meter_events().into_iter().map(|(id, _, _)| id).collect::<std::collections::BTreeSet<_>>();
    assert!(eventually(PATIENCE, || async { counted() == expected }).await, "billed: {:?}", stripe.meter_events());
    for (_, customer, value) in stripe.meter_events() {
        assert_eq!((customer.as_str(), value.as_str()), ("cus_vic", "1"));
    }
    let attempts = stripe.requests_to(&Method::POST, "/v1/billing/meter_events");
    assert!(attempts.iter().all(|attempt| attempt.param("event_name") == Some("tollgate_generations")));
    assert_eq!(attempts.len(), 3, "one refused, then one per billed run");
    assert_eq!(generations_used(&me(&stack, "vic").await), 4, "the failed on_success run cost nothing");

    // The workflow calls back again for the third run: its overage is reported again under
    // the same identifier, and Stripe counts it once.
    let third = &ended[2].1;
    let callback = {
        let starts = starts.lock().unwrap();
        let (_, start) = starts.iter().find(|(_, start)| start["runId"] == third.as_str()).unwrap();
        start["callbackUrl"].as_str().unwrap().to_owned()
    };
    let again = json!({"workflowId": "images", "status": "completed", "output": {"again": true}});
    let answer = stack.http.post(&callback).json(&again).send().await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    let reported_again = || stripe.requests_to(&Method::POST, "/v1/billing/meter_events").len() == 4;
    assert!(eventually(PATIENCE, || async { reported_again() }).await, "the repeat is reported");
    assert_eq!(counted(), expected, "and counted once");
}

/// `account` holds `lookup_key`'s subscription as `status`, delivered signed and applied.
async fn subscribe_as(stack: &TestStack, account: &str, lookup_key: &str, status: &str, n: u32) {
    use tollgate_tests::stripe::{checkout_session, event, subscription};
    let created = tollgate_tests::stack::now().0 + i64::from(n);
    let customer = format!("cus_{account}");
    let linked = event(
        &format!("evt_link_{account}_{n}"),
        "checkout.session.completed",
        created,
        checkout_session(account, &customer, None),
    );
    let sub = subscription(&format!("sub_{account}_{lookup_key}"), &customer, lookup_key, status, created - 60);
    let kind = if n == 0 { "customer.subscription.created" } else { "customer.subscription.updated" };
    let changed = event(&format!("evt_sub_{account}_{n}"), kind, created, sub);
    for payload in [linked, changed] {
        let (status, body) = stack.deliver(&payload).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        stack.settled(body["id"].as_str().unwrap()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_basic_member_runs_the_three_premium_workflows_chosen_and_is_refused_a_fourth() {
    let (server, _) = workflow_server().await;
    let stack = TestStack::start_with(&[("TOLLGATE_TICK_SECONDS", "1")]).await;
    for id in ["p1", "p2", "p3", "p4"] {
        sell(&stack, &server, id, "ok", json!({"meter": "generations", "access": "premium"})).await;
    }
    let key = create_key(&stack, "pam").await["key"].as_str().unwrap().to_owned();
    let choose = |workflows: Value| {
        let request = stack.http.put(stack.url("/api/me/premium-workflows")).bearer_auth(token("pam", None));
        async move {
            let response = request.json(&json!({"workflows": workflows})).send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let run = |workflow: &'static str| {
        let (stack, key) = (&stack, &key);
        async move {
            let path = format!("/v1/workflows/{workflow}/runs?wait=10");
            let (status, _, body) = with_key(stack, key, Method::POST, &path, Some(json!({"input": {}})), None).await;
            (status, body)
        }
    };

    // No membership: nothing premium, and the refusal names the membership that opens it.
    let (status, refused) = choose(json!(["p1"])).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_entitled")));
    assert_eq!(refused["error"]["membership"], "member_basic", "{refused}");
    let (status, refused) = run("p1").await;
    assert_eq!((status, &refused["error"]["membership"]), (StatusCode::FORBIDDEN, &json!("member_basic")));

    subscribe_as(&stack, "pam", "member_basic_monthly", "active", 0).await;
    let standing = stack
        .http
        .get(stack.url("/api/me/premium-workflows"))
        .bearer_auth(token("pam", None))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let open = |view: &Value| -> Vec<String> {
        let workflows = view["workflows"].as_array().unwrap();
        workflows.iter().filter(|w| w["open"] == true).map(|w| w["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!((standing["membership"].as_str(), &standing["limit"]), (Some("basic"), &json!(3)), "{standing}");
    assert_eq!(open(&standing), ["p1", "p2", "p3"], "until a choice, the first three registered");

    let (status, refused) = choose(json!(["p1", "p2", "p3", "p4"])).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("too_many")));
    let (status, refused) = choose(json!(["p4", "nope"])).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, refused) = choose(json!(["p4", "p4"])).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("workflows[1]")));
    let (status, chosen) = choose(json!(["p4", "p2", "p1"])).await;
    assert_eq!(status, StatusCode::OK, "{chosen}");
    assert_eq!(open(&chosen), ["p1", "p2", "p4"]);

    // The choice counts at once: the three chosen run, the fourth is refused.
    for workflow in ["p4", "p2", "p1"] {
        let (status, ran) = run(workflow).await;
        assert_eq!((status, ran["status"].as_str()), (StatusCode::OK, Some("completed")), "{workflow}: {ran}");
    }
    let (status, refused) = run("p3").await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_entitled")));
    assert_eq!(refused["error"]["membership"], "member_pro", "an unlimited membership would open it");
    let (_, _, offers) = with_key(&stack, &key, Method::GET, "/v1/workflows", None, None).await;
    let offered: Vec<&str> = offers["data"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(offered, ["p1", "p2", "p4"], "only the chosen are offered");

    // The membership lapses: premium runs stop.
    subscribe_as(&stack, "pam", "member_basic_monthly", "canceled", 1).await;
    let (status, refused) = run("p1").await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_entitled")));
}
