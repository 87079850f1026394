//! Scheduled orchestration end to end: the real `tollgate dev` (ticking every second)
//! against a real local HTTP server playing the workflows — one that answers and calls
//! back, one that calls back twice, one that fails, one that hangs, one that never
//! calls back — and an alert webhook.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollgate_core::signing::{self, Purpose};
use tollgate_core::time::Timestamp;
use tollgate_tests::stack::{TestStack, WORKFLOW_SECRET};
use tollgate_tests::{eventually, join_all};

/// What the workflow server saw.
#[derive(Default)]
struct Seen {
    /// (behaviour, start body, when).
    starts: Vec<(String, Value, Instant)>,
    alerts: Vec<Value>,
    /// (workflow id, tollgate's answer) of every callback sent.
    callbacks: Vec<(String, Value)>,
}

type Shared = Arc<Mutex<Seen>>;

async fn start(
    State(seen): State<Shared>,
    Path(behaviour): Path<String>,
    headers: HeaderMap,
    body: String,
) -> AxumStatus {
    let start: Value = serde_json::from_str(&body).expect("a JSON start");
    let signature = headers.get("tollgate-signature").and_then(|v| v.to_str().ok()).expect("a signed start");
    let timestamp: i64 = signature.trim_start_matches("t=").split(',').next().unwrap().parse().unwrap();
    let expected =
        signing::sign(WORKFLOW_SECRET.as_bytes(), Purpose::WorkflowStart, Timestamp(timestamp), &[body.as_bytes()]);
    assert_eq!(signature, expected);
    seen.lock().unwrap().starts.push((behaviour.clone(), start.clone(), Instant::now()));
    let callback = |status: &'static str, earnings: Value, after: Duration| {
        let (start, seen) = (start.clone(), Arc::clone(&seen));
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let body = json!({"workflowId": start["workflowId"], "status": status, "earnings": earnings,
                "timestamp": "2026-11-24T09:00:00Z", "metadata": {"message": "done"}});
            let url = start["callbackUrl"].as_str().unwrap();
            let answer =
                reqwest::Client::new().post(url).json(&body).send().await.expect("tollgate answers the callback");
            let answer: Value = answer.json().await.expect("a JSON answer");
            let workflow = start["workflowId"].as_str().unwrap().to_owned();
            seen.lock().unwrap().callbacks.push((workflow, answer));
        })
    };
    match behaviour.as_str() {
        "ok" => {
            // The seed's payload: earnings in dollars.
            callback("completed", json!(12.50), Duration::from_millis(100));
        }
        "twice" => {
            callback("completed", json!("7.00"), Duration::from_millis(100));
            callback("completed", json!("7.00"), Duration::from_millis(400));
        }
        "fail" => return AxumStatus::INTERNAL_SERVER_ERROR,
        "hang" => tokio::time::sleep(Duration::from_secs(30)).await,
        _ => {} // "silent": accepts and never calls back
    }
    AxumStatus::ACCEPTED
}

async fn alert(State(seen): State<Shared>, body: String) -> AxumStatus {
    seen.lock().unwrap().alerts.push(serde_json::from_str(&body).expect("a JSON alert"));
    AxumStatus::OK
}

async fn workflow_server() -> (String, Shared) {
    let seen = Shared::default();
    let app = axum::Router::new()
        .route("/start/{behaviour}", post(start))
        .route("/alerts", post(alert))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, seen)
}

async fn stack(server: &str, settings: &[(&str, &str)]) -> TestStack {
    let alerts = format!("{server}/alerts");
    let mut all = vec![
        ("TOLLGATE_TICK_SECONDS", "1"),
        ("RUN_RETRY_BASE_SECONDS", "2"),
        ("RUN_RETRY_CAP_SECONDS", "8"),
        ("RUNS_MAX_RECEIVES", "3"),
        ("WORKFLOW_START_TIMEOUT_SECONDS", "1"),
        ("ALERT_WEBHOOK_URL", alerts.as_str()),
    ];
    all.extend_from_slice(settings);
    TestStack::start_with(&all).await
}

async fn register(stack: &TestStack, server: &str, id: &str, behaviour: &str, timeout_s: u32) {
    let body = json!({"id": id, "name": id, "webhook_url": format!("{server}/start/{behaviour}"),
        "schedule": "0 0 1 1 *", "enabled": true, "premium": false, "timeout_s": timeout_s});
    let (status, body) = stack.admin_send(Method::POST, "/admin/workflows", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn start_now(stack: &TestStack, id: &str) -> (StatusCode, Value) {
    stack.admin_send(Method::POST, &format!("/admin/workflows/{id}/run"), &json!({})).await
}

async fn runs(stack: &TestStack, id: &str) -> Vec<Value> {
    let (status, body) = stack.admin_get(&format!("/admin/workflows/{id}/runs")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["runs"].as_array().cloned().unwrap_or_default()
}

async fn run_status(stack: &TestStack, workflow: &str) -> Option<String> {
    runs(stack, workflow).await.first().and_then(|run| run["status"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_workflow_runs_on_its_schedule_and_reports_back() {
    let (server, seen) = workflow_server().await;
    let stack = stack(&server, &[]).await;
    let body = json!({"id": "every_minute", "name": "Every minute", "webhook_url": format!("{server}/start/ok"),
        "schedule": {"cron": "* * * * *", "timezone": "Europe/Paris"}});
    let (status, registered) = stack.admin_send(Method::POST, "/admin/workflows", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    assert_eq!((registered["state"].as_str(), registered["enabled"].as_bool()), (Some("idle"), Some(true)));

    // The next whole minute is at most 60 s away; the tick (every second) starts it then.
    let completed = eventually(Duration::from_secs(75), || async {
        run_status(&stack, "every_minute").await.as_deref() == Some("completed")
    })
    .await;
    assert!(completed, "the scheduled run completed: {:?}", runs(&stack, "every_minute").await);
    let run = &runs(&stack, "every_minute").await[0];
    assert_eq!(run["earnings_cents"], 1250);
    let start = seen.lock().unwrap().starts[0].1.clone();
    assert_eq!((&start["runId"], &start["workflowId"]), (&run["id"], &json!("every_minute")));
    assert!(start["deadline"].as_str().unwrap().ends_with('Z'));

    let entries = stack.ledger("workflow:every_minute").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!((&entries[0]["kind"], &entries[0]["amount_cents"]), (&json!("workflow_revenue"), &json!(1250)));
    let (_, metrics) = stack.admin_get("/admin/metrics").await;
    assert_eq!(metrics["revenue_by_day"][0]["revenue_cents"], 1250, "{metrics}");
    assert_eq!(metrics["workflows"][0]["completed"], 1, "{metrics}");
    // One run ended: its execution time is both the mean and the 95th percentile.
    let took = run["finished_at"].as_i64().unwrap() - run["started_at"].as_i64().unwrap();
    let figures = &metrics["workflows"][0];
    assert_eq!(
        (figures["mean_seconds"].as_i64(), figures["p95_seconds"].as_i64()),
        (Some(took), Some(took)),
        "{metrics}"
    );
    let (_, workflow) = stack.admin_get("/admin/workflows/every_minute").await;
    assert!(workflow["next_run"].as_i64() > run["created_at"].as_i64(), "due again at the next minute: {workflow}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_callback_counts_once_and_a_bad_token_changes_nothing() {
    let (server, seen) = workflow_server().await;
    let stack = stack(&server, &[]).await;
    register(&stack, &server, "twice", "twice", 60).await;
    register(&stack, &server, "silent", "silent", 60).await;

    assert_eq!(start_now(&stack, "twice").await.0, StatusCode::ACCEPTED);
    assert!(
        eventually(Duration::from_secs(10), || async {
            run_status(&stack, "twice").await.as_deref() == Some("completed")
        })
        .await
    );
    let both_answered = eventually(Duration::from_secs(10), || async {
        seen.lock().unwrap().callbacks.iter().filter(|(workflow, _)| workflow == "twice").count() == 2
    })
    .await;
    assert!(both_answered, "tollgate answered both callbacks");
    let answers: Vec<Value> =
        seen.lock().unwrap().callbacks.iter().filter(|(w, _)| w == "twice").map(|(_, a)| a.clone()).collect();
    assert_eq!(answers.iter().map(|a| a["applied"].clone()).collect::<Vec<_>>(), [json!(true), json!(false)]);
    let (_, workflow) = stack.admin_get("/admin/workflows/twice").await;
    assert_eq!((&workflow["totals"]["completed"], &workflow["totals"]["revenue_cents"]), (&json!(1), &json!(700)));
    assert_eq!(stack.ledger("workflow:twice").await.len(), 1);

    let (status, run) = start_now(&stack, "silent").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{run}");
    let run_id = run["id"].as_str().unwrap().to_owned();
    let callback = json!({"workflowId": "silent", "status": "completed", "earnings": 9.99});
    for token in ["", "?token=0000", "?token=f00d"] {
        let url = stack.url(&format!("/webhooks/workflows/{run_id}{token}"));
        let response = stack.http.post(url).json(&callback).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_token");
    }
    let token = tollgate_core::workflow::callback_token(
        WORKFLOW_SECRET.as_bytes(),
        &tollgate_core::ids::RunId::parse(&run_id).unwrap(),
    );
    let url = stack.url(&format!("/webhooks/workflows/{run_id}?token={token}"));
    let bad = stack
        .http
        .post(&url)
        .json(&json!({"workflowId": "silent", "status": "completed", "earnings": 9.999}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(bad.json::<Value>().await.unwrap()["error"]["field"], "earnings");
    // Earnings that would overflow a total, twice: refused each time, and nothing breaks.
    for _ in 0..2 {
        let huge = stack
            .http
            .post(&url)
            .body(r#"{"workflowId":"silent","status":"completed","earnings":9223372036854775807}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(huge.status(), StatusCode::BAD_REQUEST);
        assert_eq!(huge.json::<Value>().await.unwrap()["error"]["field"], "earnings");
    }
    let (status, _) = stack.admin_get("/admin/metrics").await;
    assert_eq!(status, StatusCode::OK, "storage still answers");
    let status = run_status(&stack, "silent").await;
    assert!(matches!(status.as_deref(), Some("queued" | "started")), "refused callbacks changed nothing: {status:?}");
    // The token may also come as a bearer header, for tools that keep URLs clean.
    let bare = stack.url(&format!("/webhooks/workflows/{run_id}"));
    let ok: Value =
        stack.http.post(&bare).bearer_auth(&token).json(&callback).send().await.unwrap().json().await.unwrap();
    assert_eq!((&ok["status"], &ok["applied"]), (&json!("completed"), &json!(true)));
    let again: Value = stack.http.post(&url).json(&callback).send().await.unwrap().json().await.unwrap();
    assert_eq!(again["applied"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_caps_hold_under_concurrent_starts() {
    let (server, _seen) = workflow_server().await;
    let stack = Arc::new(stack(&server, &[("CONCURRENT_RUN_CAP", "3"), ("DAILY_RUN_CAP", "5")]).await);
    for index in 0..8 {
        register(&stack, &server, &format!("w{index}"), "silent", 120).await;
    }
    let start_all = |ids: Vec<String>| {
        join_all(ids.into_iter().map(|id| {
            let stack = Arc::clone(&stack);
            tokio::spawn(async move { (id.clone(), start_now(&stack, &id).await) })
        }))
    };
    let first = start_all((0..8).map(|i| format!("w{i}")).collect()).await;
    let started: Vec<_> = first.iter().filter(|(_, (status, _))| *status == StatusCode::ACCEPTED).collect();
    assert_eq!(started.len(), 3, "{first:?}");
    for (_, (status, body)) in first.iter().filter(|(_, (status, _))| *status != StatusCode::ACCEPTED) {
        assert_eq!(
            (*status, &body["error"]["code"]),
            (StatusCode::TOO_MANY_REQUESTS, &json!("concurrency_cap_reached"))
        );
    }
    let (busy, body) = start_now(&stack, &started[0].0).await;
    assert_eq!(
        (busy, &body["error"]["code"]),
        (StatusCode::CONFLICT, &json!("already_running")),
        "never twice at a time"
    );

    for (id, (_, run)) in &started {
        let run_id = tollgate_core::ids::RunId::parse(run["id"].as_str().unwrap()).unwrap();
        let token = tollgate_core::workflow::callback_token(WORKFLOW_SECRET.as_bytes(), &run_id);
        let url = stack.url(&format!("/webhooks/workflows/{run_id}?token={token}"));
        let response =
            stack.http.post(url).json(&json!({"workflowId": id, "status": "completed"})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let rest: Vec<String> =
        first.iter().filter(|(_, (s, _))| *s != StatusCode::ACCEPTED).map(|(id, _)| id.clone()).collect();
    let second = start_all(rest).await;
    let codes: Vec<_> = second.iter().map(|(_, (status, body))| (*status, body["error"]["code"].clone())).collect();
    assert_eq!(codes.iter().filter(|(status, _)| *status == StatusCode::ACCEPTED).count(), 2, "{codes:?}");
    assert_eq!(codes.iter().filter(|(_, code)| code == "daily_cap_reached").count(), 3, "{codes:?}");
    let (_, metrics) = stack.admin_get("/admin/metrics").await;
    assert_eq!(metrics["revenue_by_day"][0]["starts"], 5, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_past_their_deadline_fail_and_three_in_a_row_alert_once() {
    let (server, seen) = workflow_server().await;
    let stack = stack(&server, &[]).await;
    register(&stack, &server, "silent", "silent", 2).await;
    let mut late_url = None;
    for attempt in 1..=4 {
        let (status, run) = start_now(&stack, "silent").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{run}");
        let failed = eventually(Duration::from_secs(10), || async {
            run_status(&stack, "silent").await.as_deref() == Some("failed")
        })
        .await;
        assert!(failed, "run {attempt} failed at its deadline");
        let run_id = tollgate_core::ids::RunId::parse(run["id"].as_str().unwrap()).unwrap();
        let token = tollgate_core::workflow::callback_token(WORKFLOW_SECRET.as_bytes(), &run_id);
        late_url.get_or_insert(stack.url(&format!("/webhooks/workflows/{run_id}?token={token}")));
    }
    let runs = runs(&stack, "silent").await;
    // Under load the start itself may be accepted after the deadline: a deadline failure too.
    let deadline_reasons = ["no result by the deadline", "the deadline passed before the workflow accepted the start"];
    assert!(runs.iter().all(|run| deadline_reasons.iter().any(|reason| run["reason"] == *reason)), "{runs:?}");

    // A late callback changes nothing.
    let late = json!({"workflowId": "silent", "status": "completed", "earnings": 5000});
    let answer: Value = stack.http.post(late_url.unwrap()).json(&late).send().await.unwrap().json().await.unwrap();
    assert_eq!((&answer["status"], &answer["applied"]), (&json!("failed"), &json!(false)));
    assert!(stack.ledger("workflow:silent").await.is_empty());

    let (_, body) = stack.admin_get("/admin/alerts").await;
    let alerts = body["alerts"].as_array().unwrap();
    let streaks: Vec<_> = alerts.iter().filter(|a| a["kind"] == "consecutive_failures").collect();
    assert_eq!(streaks.len(), 1, "{alerts:?}");
    assert_eq!((&streaks[0]["workflow_id"], &streaks[0]["subject"]), (&json!("silent"), &json!("silent")));
    assert!(alerts.iter().any(|a| a["kind"] == "error_rate"), "{alerts:?}");
    for field in ["id", "kind", "account_id", "subject", "message", "created_at"] {
        assert!(streaks[0].get(field).is_some(), "alerts carry {field}");
    }
    let posted = seen.lock().unwrap().alerts.clone();
    let posted_streaks = posted.iter().filter(|a| a["alert"]["kind"] == "consecutive_failures").count();
    assert_eq!(posted_streaks, 1, "posted once per incident: {posted:?}");
    assert!(posted.iter().all(|a| a["text"].as_str().is_some()), "Slack-compatible");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_failures_in_five_minutes_alerts_at_once() {
    let (server, _seen) = workflow_server().await;
    let stack = stack(&server, &[("DAILY_RUN_CAP", "100")]).await;
    register(&stack, &server, "flaky", "silent", 120).await;
    // Nine runs complete and one fails: 10% of ten, not over it. The eleventh fails: 2 of 11.
    let mut fast_failures = Vec::new();
    for attempt in 0..11 {
        let (status, run) = start_now(&stack, "flaky").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{run}");
        let run_id = tollgate_core::ids::RunId::parse(run["id"].as_str().unwrap()).unwrap();
        let token = tollgate_core::workflow::callback_token(WORKFLOW_SECRET.as_bytes(), &run_id);
        let url = stack.url(&format!("/webhooks/workflows/{run_id}?token={token}"));
        let outcome = if attempt == 4 || attempt == 10 { "failed" } else { "completed" };
        let response =
            stack.http.post(url).json(&json!({"workflowId": "flaky", "status": outcome})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let (_, body) = stack.admin_get("/admin/alerts").await;
        let count = body["alerts"].as_array().unwrap().iter().filter(|a| a["kind"] == "failure_rate_5m").count();
        fast_failures.push(count);
    }
    assert_eq!(fast_failures, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], "once, on the eleventh run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_start_backs_off_then_fails_the_run() {
    let (server, seen) = workflow_server().await;
    let stack = stack(&server, &[]).await;
    register(&stack, &server, "failing", "fail", 300).await;
    register(&stack, &server, "hanging", "hang", 300).await;
    assert_eq!(start_now(&stack, "failing").await.0, StatusCode::ACCEPTED);
    assert_eq!(start_now(&stack, "hanging").await.0, StatusCode::ACCEPTED);

    for workflow in ["failing", "hanging"] {
        let failed = eventually(Duration::from_secs(30), || async {
            run_status(&stack, workflow).await.as_deref() == Some("failed")
        })
        .await;
        assert!(failed, "{workflow} failed after its attempts: {:?}", runs(&stack, workflow).await);
        let reason = runs(&stack, workflow).await[0]["reason"].as_str().unwrap().to_owned();
        assert!(reason.ends_with("on the last of 3 attempts"), "{reason}");
    }
    // Both start messages are dead-lettered and none is left to deliver: nothing can start again.
    let settled = eventually(Duration::from_secs(30), || async { stack.queue_counts("runs") == (0, 2) }).await;
    assert!(settled, "the runs queue holds the two dead letters and nothing else: {:?}", stack.queue_counts("runs"));
    let seen = seen.lock().unwrap();
    let attempts: Vec<Instant> = seen.starts.iter().filter(|(b, _, _)| b == "fail").map(|(_, _, at)| *at).collect();
    assert_eq!(attempts.len(), 3, "three attempts, then the dead-letter queue");
    let gaps: Vec<Duration> = attempts.windows(2).map(|pair| pair[1] - pair[0]).collect();
    // Equal jitter over a doubling ceiling (base 2 s): 1–2 s, then 2–4 s.
    assert!(gaps[0] >= Duration::from_millis(900) && gaps[1] >= Duration::from_millis(1900), "{gaps:?}");
    assert_eq!(seen.starts.iter().filter(|(b, _, _)| b == "hang").count(), 3);
}

/// A sold workflow (issue 27's first step) is registered without a schedule, shown with how
/// it is sold, never started by the tick, changed by PATCH; a `sell` that does not hold is
/// refused field by field, its input schema compiled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sold_workflow_is_registered_without_a_schedule_and_never_ticks() {
    let (server, seen) = workflow_server().await;
    let stack = stack(&server, &[]).await;
    let sell = json!({"meter": "generations", "cost": 2, "access": "plans", "plans": ["api_pro"], "charge": "on_success",
        "input_schema": {"type": "object", "required": ["prompt"], "properties": {"prompt": {"type": "string"}}}});
    let body =
        json!({"id": "images", "name": "Image generator", "webhook_url": format!("{server}/start/ok"), "sell": sell});
    let (status, registered) = stack.admin_send(Method::POST, "/admin/workflows", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    assert_eq!((&registered["schedule"], &registered["next_run"]), (&Value::Null, &Value::Null));
    assert_eq!(
        registered["sell"],
        json!({"meter": "generations", "cost": 2, "access": "plans", "plans": ["api_pro"],
        "input_schema": sell["input_schema"], "charge": "on_success", "max_output_bytes": 262_144})
    );

    for (bad, field) in [
        (json!({"meter": "generations", "input_schema": {"type": "no such type"}}), "sell.input_schema"),
        (json!({"meter": "generations", "access": "plans"}), "sell.plans"),
        (json!({"meter": "generations", "max_output_bytes": 0}), "sell.max_output_bytes"),
    ] {
        let body = json!({"id": "bad", "name": "Bad", "webhook_url": format!("{server}/start/ok"), "sell": bad});
        let (status, refused) = stack.admin_send(Method::POST, "/admin/workflows", &body).await;
        assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{refused}");
    }
    let unsold = json!({"id": "plain", "name": "Plain", "webhook_url": format!("{server}/start/ok")});
    let (status, refused) = stack.admin_send(Method::POST, "/admin/workflows", &unsold).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("schedule")));

    let patch = json!({"sell": {"meter": "generations", "cost": 5}});
    let (status, changed) = stack.admin_send(Method::PATCH, "/admin/workflows/images", &patch).await;
    assert_eq!(
        (status, &changed["sell"]["cost"], &changed["sell"]["access"]),
        (StatusCode::OK, &json!(5), &json!("public"))
    );
    let (_, listed) = stack.admin_get("/admin/workflows").await;
    assert_eq!(listed["workflows"][0]["sell"]["cost"], 5);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(seen.lock().unwrap().starts.is_empty(), "three ticks started nothing");
}
