//! What `POST /webhooks/stripe` and the admin endpoints answer to bad input: a status and a
//! machine-readable code, and nothing changed.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_core::signature::{WebhookSecret, sign};
use tollgate_core::time::Timestamp;
use tollgate_tests::stack::{TestStack, WEBHOOK_SECRET, now, token};
use tollgate_tests::stripe::{event, invoice_paid};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn signed_at(payload: &str, at: Timestamp) -> String {
    sign(&WebhookSecret::parse(WEBHOOK_SECRET).unwrap(), at, payload.as_bytes())
}

#[tokio::test]
async fn bad_deliveries_get_400_with_a_code_and_change_nothing() {
    let stack = TestStack::start().await;
    let payload = event("evt_contract", "invoice.paid", now().0, invoice_paid("in_c", "cus_c", "sub_c", 100, "pi_c"));
    // Headers made by Stripe's own SDK, for every signature refusal, are stripe_sdk_signatures.rs's;
    // these are the edges it does not make: a timestamp alone, and one second past the tolerance.
    let cases: Vec<(String, &str)> = vec![
        (format!("t={}", now().0), "invalid_signature_header"),
        (signed_at(&payload, Timestamp(now().0 - 301)), "timestamp_out_of_tolerance"),
    ];
    for (signature, expected) in cases {
        let (status, answer) = stack.post_webhook(&payload, Some(&signature)).await;
        assert_eq!((status, code(&answer)), (StatusCode::BAD_REQUEST, expected), "{answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    for not_an_event in
        ["{not json", r#"{"object":"charge","id":"ch_1"}"#, r#"{"object":"event","id":"evt_x","type":"x","created":1}"#]
    {
        let (status, answer) = stack.post_webhook(not_an_event, Some(&signed_at(not_an_event, now()))).await;
        assert_eq!((status, code(&answer)), (StatusCode::BAD_REQUEST, "invalid_payload"), "{not_an_event}: {answer}");
    }
    let (_, events) = stack.admin_get("/admin/events").await;
    assert_eq!(events["events"], json!([]), "nothing was recorded");
}

#[tokio::test]
async fn a_payload_over_one_mebibyte_gets_413() {
    let stack = TestStack::start().await;
    let padding = "x".repeat(1024 * 1024);
    let mut object = invoice_paid("in_big", "cus_big", "sub_big", 100, "pi_big");
    object["description"] = padding.into();
    let payload = event("evt_big", "invoice.paid", now().0, object);
    let (status, answer) = stack.deliver(&payload).await;
    assert_eq!((status, code(&answer)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
}

#[tokio::test]
async fn a_duplicate_gets_200_and_changes_nothing() {
    let stack = TestStack::start().await;
    let payload = event("evt_dup", "customer.created", now().0, json!({"id": "cus_dup", "object": "customer"}));
    let (status, first) = stack.deliver(&payload).await;
    assert_eq!((status, &first["duplicate"]), (StatusCode::OK, &json!(false)));
    let before = stack.settled("evt_dup").await;
    let (status, second) = stack.deliver(&payload).await;
    assert_eq!((status, &second["duplicate"], &second["id"]), (StatusCode::OK, &json!(true), &json!("evt_dup")));
    let (_, events) = stack.admin_get("/admin/events").await;
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    assert_eq!(events["events"][0], before, "the record is untouched");
    assert_eq!(before["status"], "skipped", "types tollgate does not act on are acknowledged and skipped");
}

#[tokio::test]
async fn admin_reads_need_an_admin_token() {
    let stack = TestStack::start().await;
    let get = |token: Option<String>| {
        let request = stack.http.get(stack.url("/admin/events"));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = get(None).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (status, body) = get(Some("not.a.token".into())).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (status, body) = get(Some(token("alice", None))).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, _) = get(Some(token("operator", Some("admin")))).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = stack.admin_get("/admin/accounts/nobody").await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = stack.admin_get("/admin/ledger").await;
    assert_eq!(
        (status, code(&body), &body["error"]["field"]),
        (StatusCode::BAD_REQUEST, "invalid_request", &json!("account"))
    );
    let (status, body) = stack.admin_get("/admin/events?limit=lots").await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    let (status, body) = stack.admin_get("/nowhere").await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let health = stack.http.get(stack.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
