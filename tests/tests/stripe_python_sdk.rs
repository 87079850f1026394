//! Stripe's own Python SDK (pinned in scripts/setup.sh, `OUTSIDE_PYTHON`) against the
//! emulated Stripe of `tollgate dev`, unchanged and with its own default API version: a
//! customer with idempotency, a Checkout paid, listing, a partial refund, and Stripe's
//! error types (tests/stripe-python/scenario.py). What it bought and refunded reaches
//! tollgate's ledger by the emulator's webhooks.

use serde_json::Value;
use tollgate_tests::emulated::Emulated;

fn outside_python() -> String {
    std::env::var("OUTSIDE_PYTHON").unwrap_or_else(|_| {
        panic!("OUTSIDE_PYTHON is not set: source scripts/setup.sh, which installs Stripe's Python SDK")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripes_python_sdk_buys_lists_and_refunds_with_its_default_version() {
    let emulated = Emulated::start(&[]).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/stripe-python/scenario.py");
    let (base, key) = (emulated.stack.base_url.clone(), emulated.key.clone());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(outside_python()).args([script, &base, &key]).output().expect("python runs")
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let seen: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");

    assert_eq!(seen["sdk_version"], "16.1.0");
    assert_ne!(seen["sdk_api_version"], tollgate_core::STRIPE_API_VERSION, "the SDK's own version, not ours");
    assert_eq!(seen["answered_version"], tollgate_core::STRIPE_API_VERSION, "the shapes it answers in");
    assert_eq!(seen["idempotent_replay"], true);
    assert_eq!(seen["idempotency_error"], "IdempotencyError");
    assert_eq!(
        seen["missing"],
        serde_json::json!({"type": "InvalidRequestError", "code": "resource_missing", "status": 404})
    );
    assert_eq!(seen["wrong_key"], serde_json::json!({"type": "AuthenticationError", "status": 401}));
    assert_eq!((&seen["paid_status"], &seen["session_status"]), (&Value::from(303), &Value::from("complete")));
    assert_eq!(seen["subscription_status"], "active");
    assert_eq!(seen["invoice"], serde_json::json!({"status": "paid", "amount_paid": 2999}));
    assert!(seen["events"].as_u64().unwrap() > 3 && seen["events_unique"] == true, "paged through every event: {seen}");
    assert_eq!((&seen["refund"]["status"], &seen["refund"]["amount"]), (&Value::from("succeeded"), &Value::from(500)));
    assert_eq!(
        seen["too_much"],
        serde_json::json!({"type": "InvalidRequestError", "code": "amount_too_large", "param": "amount"})
    );

    // What the SDK did reached tollgate as Stripe's events: the plan, the payment, the refund.
    emulated.all_applied().await;
    assert_eq!(emulated.me("user_sdk").await["plan"], "pro");
    let intent = seen["refund"]["payment_intent"].as_str().unwrap().to_owned();
    emulated
        .until("the payment and its partial refund are in the ledger", || async {
            let entries = emulated.stack.ledger("user_sdk").await;
            let of = |kind: &str| -> Vec<i64> {
                entries
                    .iter()
                    .filter(|e| e["kind"] == kind && e["payment_ref"] == intent.as_str())
                    .map(|e| e["amount_cents"].as_i64().unwrap())
                    .collect()
            };
            of("payment") == [2999] && of("refund") == [-500]
        })
        .await;
}
