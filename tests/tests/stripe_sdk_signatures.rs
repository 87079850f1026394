//! The Stripe SDKs' own signature cases, with headers made by Stripe's official Node
//! package (`webhooks.generateTestHeaderString`), checked by the running stack; and our
//! own headers checked by the package's `webhooks.constructEvent`.

use reqwest::StatusCode;
use serde_json::json;
use tollgate_core::signature::{WebhookSecret, sign};
use tollgate_tests::stack::{TestStack, WEBHOOK_SECRET, now};
use tollgate_tests::stripe::{event, stripe_sdk};

fn sdk_sign(payload: &str, secret: &str, timestamp: i64, scheme: &str) -> String {
    let case = json!([{"op": "sign", "payload": payload, "secret": secret, "timestamp": timestamp, "scheme": scheme}]);
    stripe_sdk(&case).remove(0)
}

#[tokio::test]
async fn headers_made_by_stripes_sdk_get_the_answers_stripes_sdks_give() {
    let stack = TestStack::start().await;
    let t = now().0;
    let payload = |id: &str| {
        event(id, "customer.created", t, json!({"id": "cus_sdk", "object": "customer", "name": "Jenny Rosen"}))
    };
    let valid = sdk_sign(&payload("evt_sdk_valid"), WEBHOOK_SECRET, t, "v1");
    let good_v1 = valid.split_once("v1=").unwrap().1.to_owned();
    let unicode = event(
        "evt_sdk_raw",
        "customer.created",
        t,
        json!({"id": "cus_sdk", "object": "customer", "name": "Zoë – 日本 💳"}),
    );
    let invalid_json = "{\"id\": \"evt_bad\", \"object\": \"event\",".to_owned();
    let cases: Vec<(&str, String, Option<String>, StatusCode, &str)> = vec![
        ("valid", payload("evt_sdk_valid"), Some(valid.clone()), StatusCode::OK, ""),
        (
            "malformed header",
            payload("evt_sdk_1"),
            Some("bad_header".into()),
            StatusCode::BAD_REQUEST,
            "invalid_signature_header",
        ),
        (
            "only v0",
            payload("evt_sdk_2"),
            Some(sdk_sign(&payload("evt_sdk_2"), WEBHOOK_SECRET, t, "v0")),
            StatusCode::BAD_REQUEST,
            "invalid_signature_header",
        ),
        (
            "bad signature",
            payload("evt_sdk_3"),
            Some(sdk_sign(&payload("evt_sdk_3"), "whsec_not_ours", t, "v1")),
            StatusCode::BAD_REQUEST,
            "signature_mismatch",
        ),
        (
            "signed for another payload",
            payload("evt_sdk_4"),
            Some(valid.clone()),
            StatusCode::BAD_REQUEST,
            "signature_mismatch",
        ),
        (
            "outside tolerance",
            payload("evt_sdk_5"),
            Some(sdk_sign(&payload("evt_sdk_5"), WEBHOOK_SECRET, t - 600, "v1")),
            StatusCode::BAD_REQUEST,
            "timestamp_out_of_tolerance",
        ),
        (
            "one good v1 among bad ones",
            payload("evt_sdk_valid"),
            Some(format!("t={t},v1={},v1={good_v1},v0={}", "0".repeat(64), "1".repeat(64))),
            StatusCode::OK,
            "",
        ),
        ("raw bytes", unicode.clone(), Some(sdk_sign(&unicode, WEBHOOK_SECRET, t, "v1")), StatusCode::OK, ""),
        (
            "invalid JSON",
            invalid_json.clone(),
            Some(sdk_sign(&invalid_json, WEBHOOK_SECRET, t, "v1")),
            StatusCode::BAD_REQUEST,
            "invalid_payload",
        ),
        ("no header", payload("evt_sdk_6"), None, StatusCode::BAD_REQUEST, "missing_signature"),
    ];
    for (name, body, header, status, code) in cases {
        let (got, answer) = stack.post_webhook(&body, header.as_deref()).await;
        assert_eq!(got, status, "{name}: {answer}");
        if !code.is_empty() {
            assert_eq!(answer["error"]["code"], code, "{name}");
        }
    }
}

#[test]
fn stripes_sdk_accepts_our_headers_and_refuses_tampered_ones() {
    let secret = WebhookSecret::parse(WEBHOOK_SECRET).unwrap();
    let payload =
        event("evt_ours", "invoice.paid", now().0, json!({"id": "in_1", "object": "invoice", "memo": "naïve ✓"}));
    let ours = sign(&secret, now(), payload.as_bytes());
    let tampered = payload.replace("in_1", "in_2");
    let results = stripe_sdk(&json!([
        {"op": "verify", "payload": payload, "header": ours, "secret": WEBHOOK_SECRET},
        {"op": "verify", "payload": tampered, "header": ours, "secret": WEBHOOK_SECRET},
        {"op": "verify", "payload": payload, "header": ours, "secret": "whsec_other"},
    ]));
    assert_eq!(results[0], "ok");
    assert_eq!(results[1], "StripeSignatureVerificationError");
    assert_eq!(results[2], "StripeSignatureVerificationError");
}

#[test]
fn our_signer_and_stripes_sdk_make_the_same_header() {
    let secret = WebhookSecret::parse(WEBHOOK_SECRET).unwrap();
    let payload = event("evt_same", "invoice.paid", 1_700_000_000, json!({"id": "in_1"}));
    let ours = sign(&secret, tollgate_core::time::Timestamp(1_700_000_000), payload.as_bytes());
    assert_eq!(ours, sdk_sign(&payload, WEBHOOK_SECRET, 1_700_000_000, "v1"));
}
