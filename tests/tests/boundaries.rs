//! The router's edges on the real `tollgate dev`: a wrong method is `405` with `Allow`, an
//! unknown route `404`, a bad field is named by its path, and every error body carries the
//! `request_id` that the response header and the log carry too.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tollgate_tests::stack::{TestStack, token};

async fn send(stack: &TestStack, method: Method, path: &str, request_id: Option<&str>) -> reqwest::Response {
    let mut request = stack.http.request(method, stack.url(path)).bearer_auth(stack.admin_token());
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow_and_an_unknown_route_404() {
    let stack = TestStack::start().await;
    for (method, path, allowed) in [
        (Method::DELETE, "/admin/events", "GET,HEAD"),
        (Method::GET, "/webhooks/stripe", "POST"),
        (Method::PUT, "/api/keys", "GET,HEAD,POST"),
        (Method::POST, "/admin/workflows/some_flow", "GET,HEAD,PATCH"),
        (Method::GET, "/internal/usage", "POST"),
    ] {
        let response = send(&stack, method.clone(), path, None).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let allow = response.headers()["allow"].to_str().unwrap().replace(' ', "");
        let mut allow: Vec<&str> = allow.split(',').collect();
        allow.sort_unstable();
        assert_eq!(allow.join(","), allowed, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed", "{method} {path}");
    }
    for path in ["/nowhere", "/admin/events/extra", "/api"] {
        let response = send(&stack, Method::GET, path, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn every_error_names_its_request_and_the_log_has_the_same_id() {
    let stack = TestStack::start_logged(&[("RUST_LOG", "info")]).await;
    // A caller's plain id is kept.
    let response = send(&stack, Method::GET, "/admin/ledger", Some("support-case-4711")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["x-request-id"], "support-case-4711");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (&body["error"]["field"], &body["error"]["request_id"]),
        (&"account".into(), &"support-case-4711".into())
    );

    // One that could forge log lines is replaced; a made one is in the header and the body.
    let refused = stack.http.get(stack.url("/admin/events")).header("x-request-id", "a\"b").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let header = refused.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], header.as_str());
    assert_eq!(header.len(), 32, "{header}");

    let log = stack.log();
    for id in ["support-case-4711", header.as_str()] {
        assert!(log.lines().any(|line| line.contains(id) && line.contains("request refused")), "{id} not in:\n{log}");
    }
}

#[tokio::test]
async fn a_bad_body_field_is_named_by_its_path() {
    let stack = TestStack::start().await;
    let response = stack
        .http
        .post(stack.url("/api/keys"))
        .bearer_auth(token("user_paths", None))
        .body(r#"{"mode": 7}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!((&body["error"]["code"], &body["error"]["field"]), (&"invalid_request".into(), &"mode".into()));
}

#[tokio::test]
async fn the_openapi_document_is_served_and_every_operation_in_it_is_routed() {
    // On the emulated Stripe every route is served, the emulator's own time route too.
    let stack = TestStack::start_with(&[("TOLLGATE_STRIPE", "emulated")]).await;
    let document: Value = stack.http.get(stack.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    // The committed document, but for the checkout body, which names this deployment's
    // catalog and redirect origin.
    let mut served = document.clone();
    let checkout = served["components"]["schemas"].as_object_mut().unwrap().remove("CheckoutBody").unwrap();
    let mut committed = tollgate_http::openapi::document();
    committed["components"]["schemas"].as_object_mut().unwrap().remove("CheckoutBody");
    assert_eq!(served, committed);
    let skus: Vec<&str> = checkout["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|alternative| alternative["properties"]["sku"]["enum"].as_array().unwrap())
        .map(|sku| sku.as_str().unwrap())
        .collect();
    assert_eq!(
        skus,
        [
            "api_pro",
            "api_enterprise",
            "member_basic",
            "member_pro",
            "member_elite",
            "template_budget_tracker",
            "credits_1000"
        ]
    );
    let redirect = checkout["oneOf"][0]["properties"]["success_url"]["oneOf"][1]["pattern"].as_str().unwrap();
    assert_eq!(redirect.matches("127").count(), 1, "the stack's own origin, once: {redirect}");
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 18, "{:?}", paths.keys());
    for (path, operations) in paths {
        let concrete = path.replace("{account}", "user_nobody").replace("{id}", "some_id").replace("{run_id}", "run_x");
        let concrete = concrete.replace("{hash}", &"0".repeat(64));
        for method in operations.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = send(&stack, method.clone(), &concrete, None).await;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(body["error"]["message"], "no such route", "{method} {path} is documented but not routed");
        }
    }
}

/// Stored data that does not read back is `500 internal_error`, not a retry: its
/// `request_id` is the incident id, on the log line with the cause.
#[tokio::test]
async fn a_corrupt_row_is_an_internal_error_whose_request_id_is_in_the_log() {
    let stack = TestStack::start_logged(&[]).await;
    let payload = tollgate_tests::stripe::event(
        "evt_corrupt",
        "customer.created",
        tollgate_tests::stack::now().0,
        serde_json::json!({"id": "cus_x", "object": "customer"}),
    );
    assert_eq!(stack.deliver(&payload).await.0, StatusCode::OK);
    stack.settled("evt_corrupt").await; // processed: nothing writes its row after this
    let database = rusqlite::Connection::open(stack.data_dir().join("tollgate.sqlite3")).unwrap();
    database.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    database.execute("UPDATE event_log SET status = 'garbled' WHERE id = 'evt_corrupt'", []).unwrap();

    let response = send(&stack, Method::GET, "/admin/events", None).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal_error");
    let incident = body["error"]["request_id"].as_str().unwrap().to_owned();
    assert!(!body["error"]["message"].as_str().unwrap().contains("garbled"), "no cause in the body: {body}");
    let log = stack.log();
    assert!(
        log.lines().any(|line| line.contains(&incident) && line.contains("garbled")),
        "the log line with {incident} names the cause:\n{log}"
    );
}

/// A use case runs in a span naming what it works on: a line logged deep inside the
/// processing of an event (the retry policy's) carries the event's id.
#[tokio::test]
async fn log_lines_of_a_use_case_carry_its_event_id() {
    use tollgate_tests::stripe::{event, subscription};
    let stack = TestStack::start_logged(&[]).await;
    let now = tollgate_tests::stack::now().0;
    // Its customer's checkout has not arrived: the event waits, and is retried.
    let payload = event(
        "evt_waiting",
        "customer.subscription.created",
        now,
        subscription("sub_w", "cus_unknown", "api_pro_monthly", "active", now),
    );
    assert_eq!(stack.deliver(&payload).await.0, StatusCode::OK);
    let found = tollgate_tests::eventually(std::time::Duration::from_secs(10), || async {
        stack
            .log()
            .lines()
            .any(|line| line.contains("message will be retried") && line.contains("event_id=evt_waiting"))
    })
    .await;
    assert!(found, "no retry line carrying the event id:\n{}", stack.log());
}
