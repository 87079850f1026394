//! The edge gateway Worker built to wasm and driven on workerd (Miniflare), with the real
//! `tollgate dev` as its origin and a real local upstream: the 401 / 402 / 429 paths and
//! their headers, forwarding, revocation on the very next call, exactness under
//! concurrency, usage reaching the origin in batches, and the origin going down.

use reqwest::StatusCode;
use std::time::Duration;
use tollgate_core::api_key::{ApiKey, KEY_BYTES, KeyMode};
use tollgate_core::edge::{EdgeSecret, sign};
use tollgate_core::signing::Purpose;
use tollgate_tests::edge::{EdgeWorker, free_port};
use tollgate_tests::eventually;
use tollgate_tests::keys::{
    Answer, assert_rate_limited_beyond, call, call_at_once, call_keys_at_once, catalog_from, catalog_with, create_key,
    me,
};
use tollgate_tests::recorder::Recorder;
use tollgate_tests::stack::{TestStack, now, token};
use tollgate_tests::stripe::{checkout_session, event, subscription};

const EDGE_SECRET: &str = "edge-secret-for-e2e-tests";
const PATIENCE: Duration = Duration::from_secs(20);

struct Edge {
    origin: TestStack,
    worker: EdgeWorker,
    upstream: Recorder,
}

/// The origin, the Worker pointed at it (and it at the Worker), and an upstream. The
/// Worker's port is chosen before the origin starts; if something takes it meanwhile, both
/// start again on another.
async fn edge(origin_settings: &[(&str, &str)], worker_settings: &[(&str, &str)]) -> Edge {
    let upstream = Recorder::start().await;
    for _ in 0..5 {
        let port = free_port();
        let edge_url = format!("http://127.0.0.1:{port}");
        let mut settings = vec![("EDGE_SECRET", EDGE_SECRET), ("EDGE_URL", edge_url.as_str())];
        settings.extend_from_slice(origin_settings);
        let origin = TestStack::start_with(&settings).await;
        let mut worker_env = vec![
            ("ORIGIN_URL", origin.base_url.as_str()),
            ("UPSTREAM_URL", upstream.url.as_str()),
            ("EDGE_SECRET", EDGE_SECRET),
            ("USAGE_FLUSH_SECONDS", "1"),
        ];
        worker_env.extend_from_slice(worker_settings);
        if let Some(worker) = EdgeWorker::start(port, &worker_env) {
            return Edge { origin, worker, upstream };
        }
    }
    panic!("the Worker never started on a free port");
}

/// The signed counters of the key's Durable Object.
async fn stats(origin: &TestStack, worker: &EdgeWorker, key: &str) -> serde_json::Value {
    let hash = ApiKey::parse(key).unwrap().hash();
    let path = format!("/internal/stats/{hash}");
    let signature = sign(&EdgeSecret::new(EDGE_SECRET).unwrap(), Purpose::EdgeStats, now(), "GET", &path, b"");
    let answer = origin.http.get(format!("{}{path}", worker.url)).header("tollgate-signature", signature).send();
    answer.await.unwrap().json().await.unwrap()
}

fn count(answers: &[Answer], status: StatusCode, code: Option<&str>) -> usize {
    answers.iter().filter(|a| a.status == status && a.code() == code).count()
}

async fn used(origin: &TestStack, account: &str) -> u64 {
    me(origin, account).await["used"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_forwards_allowed_calls_and_refuses_a_revoked_key_on_the_very_next_call() {
    let Edge { origin, worker, upstream } = edge(&[], &[]).await;
    let created = create_key(&origin, "ann").await;
    let key = created["key"].as_str().unwrap();
    let http = &origin.http;

    let answer = call(http, &worker.url, key, "/v1/reports?month=11").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        (answer.body["target"].as_str(), answer.body["account"].as_str()),
        (Some("/v1/reports?month=11"), Some("ann"))
    );
    assert_eq!((answer.header("x-ratelimit-limit"), answer.header("x-ratelimit-remaining")), (Some("100"), Some("99")));
    assert!(answer.header("x-ratelimit-reset").is_some());
    let forwarded = &upstream.seen()[0];
    assert!(forwarded.headers.get("authorization").is_none(), "the key never reaches the upstream");
    assert_eq!(forwarded.headers.get("x-tollgate-key").unwrap(), created["id"].as_str().unwrap());

    let unknown = ApiKey::generate(KeyMode::Live, [3; KEY_BYTES]);
    for bad in [unknown.expose(), "not-a-key"] {
        let answer = call(http, &worker.url, bad, "/v1/reports").await;
        assert_eq!((answer.status, answer.code()), (StatusCode::UNAUTHORIZED, Some("invalid_key")));
        assert_eq!(answer.header("x-ratelimit-limit"), Some("0"));
    }

    let id = created["id"].as_str().unwrap();
    let revoked =
        http.delete(origin.url(&format!("/api/keys/{id}"))).bearer_auth(token("ann", None)).send().await.unwrap();
    let revoked: serde_json::Value = revoked.json().await.unwrap();
    assert_eq!(revoked["edge_notified"], true, "{revoked}");
    let answer = call(http, &worker.url, key, "/v1/reports").await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNAUTHORIZED, Some("invalid_key")));
    assert_eq!(upstream.seen().len(), 1);

    // A revocation not signed with EDGE_SECRET is refused.
    let forged = http
        .post(format!("{}/internal/revoke", worker.url))
        .header(
            "tollgate-signature",
            sign(&EdgeSecret::new("wrong").unwrap(), Purpose::Revocation, now(), "POST", "/internal/revoke", b"{}"),
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_calls_on_the_worker_with_a_hundred_left_allow_exactly_a_hundred() {
    let catalog = catalog_with(&[(
        "requests_per_minute = 100\n\n[sku.limits.requests]\nquota = 100\n",
        "requests_per_minute = 1000\n\n[sku.limits.requests]\nquota = 150\n",
    )]);
    let Edge { origin, worker, .. } = edge(&[("CATALOG_PATH", catalog.to_str().unwrap())], &[]).await;
    let key = create_key(&origin, "cat").await["key"].as_str().unwrap().to_owned();
    for left in (100..150).rev() {
        let answer = call(&origin.http, &worker.url, &key, "/v1/warm-up").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.header("x-quota-remaining"), Some(left.to_string().as_str()), "the route's meter, requests");
        assert!(answer.header("x-quota-reset").is_some_and(|reset| reset.parse::<u64>().is_ok()));
    }
    let answers = call_at_once(&origin.http, &worker.url, &key, 200).await;
    assert_eq!(count(&answers, StatusCode::OK, None), 100);
    assert_eq!(count(&answers, StatusCode::PAYMENT_REQUIRED, Some("quota_exceeded")), 100);
    assert!(answers.iter().all(|a| a.header("x-ratelimit-limit") == Some("1000")));
    // Counted at the edge, flushed in batches: the origin ends with exactly what was allowed.
    assert!(eventually(PATIENCE, || async { used(&origin, "cat").await == 150 }).await);

    // Few storage writes for 150 calls: one per flush, not one per call.
    let stats = stats(&origin, &worker, &key).await;
    let writes = stats["storage_writes"].as_u64().unwrap();
    assert!((1..=20).contains(&writes), "{stats}");
    assert_eq!(stats["pending_calls"], 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_accounts_keys_share_its_quota_exactly_on_the_worker() {
    let catalog = catalog_with(&[(
        "requests_per_minute = 100\n\n[sku.limits.requests]\nquota = 100\n",
        "requests_per_minute = 1000\n\n[sku.limits.requests]\nquota = 150\n",
    )]);
    let Edge { origin, worker, .. } = edge(&[("CATALOG_PATH", catalog.to_str().unwrap())], &[]).await;
    let mut keys = Vec::new();
    for _ in 0..4 {
        keys.push(create_key(&origin, "amy").await["key"].as_str().unwrap().to_owned());
    }
    for i in 0..50 {
        assert_eq!(call(&origin.http, &worker.url, &keys[i % 4], "/v1/warm-up").await.status, StatusCode::OK);
    }
    // 100 left: 200 calls at once, spread over the four keys, get exactly 100.
    let answers = call_keys_at_once(&origin.http, &worker.url, &keys, "/v1/things", 200).await;
    assert_eq!(count(&answers, StatusCode::OK, None), 100);
    assert_eq!(count(&answers, StatusCode::PAYMENT_REQUIRED, Some("quota_exceeded")), 100);
    assert!(eventually(PATIENCE, || async { used(&origin, "amy").await == 150 }).await);
    // One Durable Object meters the account: every key's stats are its.
    let (first, last) = (stats(&origin, &worker, &keys[0]).await, stats(&origin, &worker, &keys[3]).await);
    assert_eq!(first["requests"], last["requests"], "{first} {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn routes_charge_their_meters_on_the_worker_and_leases_never_cover_them() {
    let agency =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/catalogs/agency.toml")).unwrap();
    let catalog = catalog_from(&agency, &[("requests_per_minute = 60\n", "requests_per_minute = 100000\n")]);
    let Edge { origin, worker, .. } = edge(&[("CATALOG_PATH", catalog.to_str().unwrap())], &[]).await;
    let keys = [create_key(&origin, "kai").await, create_key(&origin, "kai").await]
        .map(|created| created["key"].as_str().unwrap().to_owned());
    // A hot stream of free calls brings the isolate leases of `requests`...
    let free = call_keys_at_once(&origin.http, &worker.url, &keys, "/v1/contacts", 600).await;
    assert_eq!(count(&free, StatusCode::OK, None), 600);
    // ...which never decide a message or an AI run: 50 messages, then the balance is empty.
    let mut statuses = Vec::new();
    for i in 0..51 {
        statuses.push(call(&origin.http, &worker.url, &keys[i % 2], "/v1/messages").await);
    }
    assert_eq!(count(&statuses, StatusCode::OK, None), 50);
    assert_eq!(statuses[50].code(), Some("insufficient_balance"));
    assert_eq!(statuses[49].header("x-quota-remaining"), Some("0"));
    assert_eq!(call(&origin.http, &worker.url, &keys[0], "/v1/agents").await.status, StatusCode::OK);
    let refused = call(&origin.http, &worker.url, &keys[1], "/v1/agents/run").await;
    assert_eq!((refused.code(), refused.body["error"]["meter"].as_str()), (Some("quota_exceeded"), Some("ai_runs")));
    assert!(
        eventually(PATIENCE, || async {
            let standing = me(&origin, "kai").await;
            let used = |name: &str| {
                standing["meters"].as_array().unwrap().iter().find(|m| m["meter"] == name).unwrap()["used"].clone()
            };
            used("messages") == 50 && used("ai_runs") == 1 && used("requests") == 600
        })
        .await,
        "{}",
        me(&origin, "kai").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_key_is_decided_from_leases_counted_once_and_revoked_on_the_next_call() {
    let catalog = catalog_with(&[(
        "requests_per_minute = 100\n\n[sku.limits.requests]\nquota = 100\n",
        "requests_per_minute = 100000\n\n[sku.limits.requests]\nquota = 100000\n",
    )]);
    let Edge { origin, worker, upstream } = edge(&[("CATALOG_PATH", catalog.to_str().unwrap())], &[]).await;
    let created = create_key(&origin, "hal").await;
    let key = created["key"].as_str().unwrap().to_owned();
    // Sixteen clients, each calling again as soon as it has its answer.
    let clients = (0..16).map(|_| {
        let (http, url, key) = (origin.http.clone(), worker.url.clone(), key.clone());
        tokio::spawn(async move {
            let mut allowed = 0;
            for i in 0..125 {
                allowed += usize::from(call(&http, &url, &key, &format!("/v1/hot/{i}")).await.status == StatusCode::OK);
            }
            allowed
        })
    });
    assert_eq!(tollgate_tests::join_all(clients).await.iter().sum::<usize>(), 2_000);
    // Leases settle within a second of their end; the origin then has every call, once.
    assert!(eventually(PATIENCE, || async { used(&origin, "hal").await == 2_000 }).await);
    let stats = stats(&origin, &worker, &key).await;
    let requests = stats["requests"].as_u64().unwrap();
    assert!(requests * 10 <= 2_000, "at least ten calls per Durable Object request: {stats}");
    assert_eq!((stats["leased_calls"].as_u64(), stats["pending_calls"].as_u64()), (Some(0), Some(0)), "{stats}");

    // The isolate that receives the revocation drops its leases at once.
    call(&origin.http, &worker.url, &key, "/v1/lease-me").await;
    let id = created["id"].as_str().unwrap();
    let revoked = origin.http.delete(origin.url(&format!("/api/keys/{id}"))).bearer_auth(token("hal", None)).send();
    assert_eq!(revoked.await.unwrap().status(), StatusCode::OK);
    let forwarded = upstream.seen().len();
    let answer = call(&origin.http, &worker.url, &key, "/v1/after-revocation").await;
    assert_eq!((answer.status, answer.code()), (StatusCode::UNAUTHORIZED, Some("invalid_key")));
    assert_eq!(upstream.seen().len(), forwarded);
    assert!(eventually(PATIENCE, || async { used(&origin, "hal").await == 2_001 }).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_rate_limits_with_retry_after() {
    let catalog = catalog_with(&[("quota = 100\n", "")]);
    let Edge { origin, worker, .. } = edge(&[("CATALOG_PATH", catalog.to_str().unwrap())], &[]).await;
    let key = create_key(&origin, "dan").await["key"].as_str().unwrap().to_owned();
    let answers = call_at_once(&origin.http, &worker.url, &key, 200).await;
    assert_rate_limited_beyond(&answers, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upgrade_reaches_the_worker_at_its_next_record_refresh() {
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
    let Edge { origin, worker, .. } =
        edge(&[("CATALOG_PATH", catalog.to_str().unwrap())], &[("RECORD_REFRESH_SECONDS", "1")]).await;
    let key = create_key(&origin, "fay").await["key"].as_str().unwrap().to_owned();
    let answers = call_at_once(&origin.http, &worker.url, &key, 101).await;
    assert_eq!(count(&answers, StatusCode::PAYMENT_REQUIRED, Some("quota_exceeded")), 1);

    let created = now().0;
    let linked = event("evt_link_fay", "checkout.session.completed", created, checkout_session("fay", "cus_fay", None));
    let upgraded = event(
        "evt_sub_fay",
        "customer.subscription.created",
        created,
        subscription("sub_fay", "cus_fay", "api_pro_monthly", "active", created - 60),
    );
    for payload in [linked, upgraded] {
        let (status, body) = origin.deliver(&payload).await;
        assert_eq!(status, StatusCode::OK);
        origin.settled(body["id"].as_str().unwrap()).await;
    }
    let reached = eventually(PATIENCE, || async {
        call(&origin.http, &worker.url, &key, "/v1/x").await.status == StatusCode::OK
    })
    .await;
    assert!(reached, "the pro quota applies at the edge without any call from the operator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_origin_down_a_known_key_keeps_working_and_an_unknown_one_is_refused() {
    let Edge { origin, worker, upstream } = edge(&[], &[("RECORD_REFRESH_SECONDS", "1")]).await;
    let key = create_key(&origin, "gus").await["key"].as_str().unwrap().to_owned();
    let second = create_key(&origin, "gus").await["key"].as_str().unwrap().to_owned();
    assert_eq!(call(&origin.http, &worker.url, &key, "/v1/x").await.status, StatusCode::OK);
    let http = origin.http.clone();
    drop(origin);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for _ in 0..3 {
        let answer = call(&http, &worker.url, &key, "/v1/x").await;
        assert_eq!(answer.status, StatusCode::OK, "a known key works on its last record: {}", answer.body);
    }
    // Never seen at the edge: it cannot be checked, so it is refused.
    let answer = call(&http, &worker.url, &second, "/v1/x").await;
    assert_eq!((answer.status, answer.code()), (StatusCode::SERVICE_UNAVAILABLE, Some("origin_unavailable")));
    assert_eq!(upstream.seen().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_forwards_only_authorized_paths_and_only_its_own_account_header() {
    let Edge { origin, worker, upstream } = edge(&[], &[]).await;
    let key = create_key(&origin, "eve").await["key"].as_str().unwrap().to_owned();
    for path in ["/v1/a%2fb", "/v1/a%5c..%5cadmin", "/v1/%2e%2e/internal/x", "/v1/..%2f..%2finternal/x"] {
        let request = tollgate_tests::stack::raw_get_with_key(path, &key);
        let (status, answer) = tollgate_tests::stack::raw_request(&worker.url, request.as_bytes()).await.unwrap();
        if path == "/v1/%2e%2e/internal/x" {
            // workerd resolves a plain `%2e%2e` itself: the path leaves /v1 and no route has it.
            assert!(status == 404 && answer.contains("not_found"), "{path}: {answer}");
        } else {
            assert!(status == 400 && answer.contains("invalid_path"), "{path}: {answer}");
        }
    }
    assert!(upstream.seen().is_empty(), "nothing reached the upstream");

    let answer = origin
        .http
        .get(format!("{}/v1/reports", worker.url))
        .bearer_auth(&key)
        .header("X_Tollgate_Account", "victim")
        .header("x-tollgate-account", "victim")
        .header("cookie", "session=stolen")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let forwarded = &upstream.seen()[0];
    assert_eq!(forwarded.headers.get_all("x-tollgate-account").iter().collect::<Vec<_>>(), ["eve"]);
    assert!(forwarded.headers.keys().all(|name| !name.as_str().starts_with("x_tollgate")), "{:?}", forwarded.headers);
    assert!(forwarded.headers.get("cookie").is_none());
}

/// A sold workflow's webhook: accepts the start and calls back with the input echoed.
async fn echo_workflow() -> String {
    async fn start(body: String) -> axum::http::StatusCode {
        let start: serde_json::Value = serde_json::from_str(&body).expect("a JSON start");
        tokio::spawn(async move {
            let body = serde_json::json!({"workflowId": start["workflowId"], "status": "completed",
                "output": {"echo": start["input"], "account": start["accountId"]}});
            let url = start["callbackUrl"].as_str().unwrap();
            reqwest::Client::new().post(url).json(&body).send().await.expect("tollgate answers the callback");
        });
        axum::http::StatusCode::ACCEPTED
    }
    let app = axum::Router::new().route("/start", axum::routing::post(start));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/start", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sold_workflow_runs_through_the_worker_charged_once_on_its_meter() {
    let Edge { origin, worker, upstream } = edge(&[("TOLLGATE_TICK_SECONDS", "1")], &[]).await;
    let sold = serde_json::json!({"id": "images", "name": "Images", "webhook_url": echo_workflow().await,
        "sell": {"meter": "generations", "input_schema": {"type": "object", "required": ["prompt"]}}});
    let (status, body) = origin.admin_send(reqwest::Method::POST, "/admin/workflows", &sold).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let key = create_key(&origin, "wes").await["key"].as_str().unwrap().to_owned();
    let post = |path: &str, body: serde_json::Value| {
        origin.http.post(format!("{}{path}", worker.url)).bearer_auth(&key).json(&body).send()
    };

    let listed = call(&origin.http, &worker.url, &key, "/v1/workflows").await;
    assert_eq!((listed.status, listed.body["data"][0]["id"].as_str()), (StatusCode::OK, Some("images")));
    let waited = post("/v1/workflows/images/runs?wait=10", serde_json::json!({"input": {"prompt": "a cat"}}));
    let waited = waited.await.unwrap();
    assert_eq!(waited.status(), StatusCode::OK);
    let waited: serde_json::Value = waited.json().await.unwrap();
    assert_eq!(waited["output"], serde_json::json!({"echo": {"prompt": "a cat"}, "account": "wes"}));

    let accepted = post("/v1/workflows/images/runs", serde_json::json!({"input": {"prompt": "a dog"}})).await.unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let accepted: serde_json::Value = accepted.json().await.unwrap();
    let run = accepted["links"]["self"].as_str().unwrap().to_owned();
    let completed = eventually(PATIENCE, || {
        let (origin, worker, key, run) = (&origin, &worker, &key, &run);
        async move { call(&origin.http, &worker.url, key, run).await.body["status"] == "completed" }
    })
    .await;
    assert!(completed, "the polled run completes");

    let bad = post("/v1/workflows/images/runs", serde_json::json!({"input": {}})).await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let bad: serde_json::Value = bad.json().await.unwrap();
    assert_eq!((bad["error"]["code"].as_str(), bad["error"]["field"].as_str()), (Some("invalid_input"), Some("")));
    let standing = me(&origin, "wes").await;
    let generations = standing["meters"].as_array().unwrap().iter().find(|m| m["meter"] == "generations").unwrap();
    assert_eq!(generations["used"], 2, "two runs, each charged once: {standing}");
    assert!(upstream.seen().is_empty(), "tollgate's own routes never reach the operator's upstream");
    // The calls themselves are metered as any call: one `requests` each, flushed to the origin.
    let counted = eventually(PATIENCE, || async { used(&origin, "wes").await >= 5 }).await;
    assert!(counted, "the edge counted the calls");
}
