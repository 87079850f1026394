//! Hostile input against the real `tollgate dev`: paths that try to leave `/v1`, spoofed
//! gateway headers, forged keys, referral codes that name nobody or close a loop, events of
//! the other Stripe mode, and clients that never finish their request.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tollgate_tests::recorder::Recorder;
use tollgate_tests::stack::{TestStack, now, token};
use tollgate_tests::stripe::{checkout_session, event};

async fn new_key(stack: &TestStack, account: &str) -> String {
    let response = stack.http.post(stack.url("/api/keys")).bearer_auth(token(account, None)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_gateway_forwards_only_the_path_it_authorized_and_only_its_own_account_header() {
    let upstream = Recorder::start().await;
    let stack = TestStack::start_with(&[("UPSTREAM_URL", &upstream.url)]).await;
    let key = new_key(&stack, "user_mallory").await;

    for path in [
        "/v1/../admin/x",
        "/v1/%2e%2e/internal/x",
        "/v1/%2E%2E/admin",
        "/v1/a%2f..%2fadmin",
        "/v1/a\\..\\admin",
        "/v1/..;/admin",
    ] {
        let request = tollgate_tests::stack::raw_get_with_key(path, &key);
        let (status, answer) = stack.raw(request.as_bytes()).await.expect("an answer");
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer.contains("\"invalid_path\""), "{path}: {answer}");
    }
    assert!(upstream.seen().is_empty(), "nothing reached the upstream");

    let response = stack
        .http
        .get(stack.url("/v1/images/generate?size=small"))
        .bearer_auth(&key)
        .header("X_Tollgate_Account", "user_victim")
        .header("x-tollgate-account", "user_victim")
        .header("X-TOLLGATE-KEY", "key_victim")
        .header("x_tollgate_plan", "enterprise")
        .header("cookie", "session=stolen")
        .header("x-request-id", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = upstream.seen();
    let headers = &seen[0].headers;
    assert_eq!(seen[0].target, "/v1/images/generate?size=small");
    assert_eq!(headers.get_all("x-tollgate-account").iter().collect::<Vec<_>>(), ["user_mallory"]);
    let own: Vec<_> =
        headers.keys().filter(|name| name.as_str().replace('_', "-").starts_with("x-tollgate-")).collect();
    assert_eq!(own.len(), 2, "only the gateway's own account and key headers: {own:?}");
    assert!(headers.get("authorization").is_none() && headers.get("cookie").is_none());
    assert_eq!(headers.get("x-request-id").unwrap(), "kept");
}

#[tokio::test]
async fn a_forged_key_with_a_bad_checksum_is_refused_before_any_lookup() {
    let stack = TestStack::start().await;
    let key = new_key(&stack, "user_keys").await;
    let mut forged = key.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    for candidate in [String::from_utf8(forged).unwrap(), format!("tg_live_{}", "a".repeat(39))] {
        let response = stack.http.get(stack.url("/v1/x")).bearer_auth(&candidate).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "invalid_key");
    }
    let ok = stack.http.get(stack.url("/v1/x")).header("authorization", format!("bearer {key}")).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK, "the scheme is matched in any case");
}

async fn checkout(stack: &TestStack, n: u32, account: &str, referral: Option<&str>) {
    let customer = format!("cus_{account}");
    let payload = event(
        &format!("evt_hardening_checkout_{n}"),
        "checkout.session.completed",
        now().0,
        checkout_session(account, &customer, referral),
    );
    let (status, body) = stack.deliver(&payload).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stack.settled(body["id"].as_str().unwrap()).await["status"], "applied");
}

#[tokio::test]
async fn referral_codes_that_name_nobody_or_close_a_loop_are_ignored() {
    let stack = TestStack::start().await;
    checkout(&stack, 1, "user_ann", Some("user_nobody")).await;
    assert_eq!(stack.account("user_ann").await["referred_by"], Value::Null, "names no account");

    checkout(&stack, 2, "user_ben", Some("user_ann")).await;
    assert_eq!(stack.account("user_ben").await["referred_by"], "user_ann");
    checkout(&stack, 3, "user_cat", Some("user_ben")).await;
    assert_eq!(stack.account("user_cat").await["referred_by"], "user_ben");
    // ann referred ben, who referred cat: neither may become ann's referrer.
    stack.sign_in("user_dan").await;
    for (n, loop_closer) in [(4, "user_ben"), (5, "user_cat"), (6, "user_ann")] {
        let payload = event(
            &format!("evt_hardening_loop_{n}"),
            "checkout.session.completed",
            now().0,
            checkout_session("user_ann", "cus_user_ann", Some(loop_closer)),
        );
        let (_, body) = stack.deliver(&payload).await;
        assert_eq!(stack.settled(body["id"].as_str().unwrap()).await["status"], "applied", "the event still proceeds");
    }
    assert_eq!(stack.account("user_ann").await["referred_by"], Value::Null);
}

#[tokio::test]
async fn an_event_of_the_other_stripe_mode_is_acknowledged_skipped_and_changes_nothing() {
    let stack = TestStack::start().await;
    let mut live: Value = serde_json::from_str(&event(
        "evt_live_1",
        "checkout.session.completed",
        now().0,
        checkout_session("user_live", "cus_live", None),
    ))
    .unwrap();
    live["livemode"] = json!(true);
    let (status, body) = stack.deliver(&live.to_string()).await;
    assert_eq!((status, &body["duplicate"]), (StatusCode::OK, &json!(false)));
    let (_, events) = stack.admin_get("/admin/events").await;
    let recorded = &events["events"][0];
    assert_eq!((&recorded["id"], &recorded["status"]), (&json!("evt_live_1"), &json!("skipped")));
    assert!(recorded["detail"].as_str().unwrap().contains("live-mode"), "{recorded}");
    let (status, _) = stack.admin_get("/admin/accounts/user_live").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing changed");
    let (_, again) = stack.deliver(&live.to_string()).await;
    assert_eq!(again["duplicate"], true);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_head_is_cut_off() {
    let stack = TestStack::start().await;
    let started = Instant::now();
    // No blank line: the head never ends.
    let answer = stack.raw(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: 1\r\n").await;
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(25), "closed by the server, not by the test's own limit: {waited:?}");
    assert!(answer.as_ref().is_none_or(|(status, _)| *status == 408), "{answer:?}");
    let health = stack.http.get(stack.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
