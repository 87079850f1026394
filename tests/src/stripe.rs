//! Stripe events as Stripe sends them, shaped like the published fixtures (current API
//! version unless a test asks for an older layout), with only the ids and amounts a
//! test cares about filled in.

use serde_json::{Value, json};
use std::io::Write;

pub fn event(id: &str, event_type: &str, created: i64, object: Value) -> String {
    json!({
        "id": id,
        "object": "event",
        "api_version": tollgate_core::STRIPE_API_VERSION,
        "created": created,
        "data": {"object": object},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type,
    })
    .to_string()
}

pub fn checkout_session(account: &str, customer: &str, referral_code: Option<&str>) -> Value {
    let mut metadata = json!({"account_id": account, "sku": "api_pro"});
    if let Some(code) = referral_code {
        metadata["referral_code"] = code.into();
    }
    json!({
        "id": format!("cs_test_{account}"),
        "object": "checkout.session",
        "client_reference_id": account,
        "customer": customer,
        "mode": "subscription",
        "payment_status": "paid",
        "status": "complete",
        "metadata": metadata,
    })
}

/// A subscription with its billing period on the item, as current API versions send it.
pub fn subscription(id: &str, customer: &str, lookup_key: &str, status: &str, period_start: i64) -> Value {
    json!({
        "id": id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "metadata": {},
        "items": {"object": "list", "data": [{
            "id": format!("si_{id}"),
            "object": "subscription_item",
            "price": {"id": format!("price_{lookup_key}"), "object": "price", "lookup_key": lookup_key, "currency": "usd"},
            "quantity": 1,
            "current_period_start": period_start,
            "current_period_end": period_start + 30 * 86_400,
        }]},
    })
}

pub fn invoice_paid(id: &str, customer: &str, subscription: &str, amount: i64, payment_intent: &str) -> Value {
    json!({
        "id": id,
        "object": "invoice",
        "customer": customer,
        "currency": "usd",
        "amount_due": amount,
        "amount_paid": amount,
        "status": "paid",
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": subscription, "metadata": {}}},
        "payments": {"object": "list", "data": [{"object": "invoice_payment", "payment": {"type": "payment_intent", "payment_intent": payment_intent}}]},
    })
}

pub fn charge_refunded(id: &str, customer: &str, amount: i64, refunded_total: i64, payment_intent: &str) -> Value {
    json!({
        "id": id,
        "object": "charge",
        "customer": customer,
        "amount": amount,
        "amount_refunded": refunded_total,
        "currency": "usd",
        "paid": true,
        "refunded": refunded_total == amount,
        "payment_intent": payment_intent,
    })
}

/// A completed `payment`-mode session for a one-off product, as our checkout creates it.
pub fn product_checkout_session(
    session: &str,
    account: &str,
    customer: &str,
    sku: &str,
    payment_intent: &str,
) -> Value {
    json!({
        "id": session,
        "object": "checkout.session",
        "client_reference_id": account,
        "customer": customer,
        "mode": "payment",
        "payment_intent": payment_intent,
        "payment_status": "paid",
        "status": "complete",
        "customer_details": {"email": format!("{account}@example.com"), "name": null},
        "metadata": {"account_id": account, "sku": sku, "quantity": "1"},
    })
}

pub fn payment_intent_succeeded(id: &str, account: &str, customer: &str, amount: i64) -> Value {
    json!({
        "id": id,
        "object": "payment_intent",
        "customer": customer,
        "amount": amount,
        "amount_received": amount,
        "currency": "usd",
        "status": "succeeded",
        "metadata": {"account_id": account},
    })
}

/// Runs `tests/stripe-node/stripe-sdk.mjs` on `cases` (`npm ci --prefix tests/stripe-node` installs it).
pub fn stripe_sdk(cases: &Value) -> Vec<String> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stripe-node");
    assert!(dir.join("node_modules/stripe").exists(), "run `npm ci --prefix tests/stripe-node` first");
    let mut node = std::process::Command::new("node")
        .arg(dir.join("stripe-sdk.mjs"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    node.stdin.take().unwrap().write_all(cases.to_string().as_bytes()).unwrap();
    let output = node.wait_with_output().unwrap();
    assert!(output.status.success(), "the Stripe SDK script failed");
    serde_json::from_slice(&output.stdout).expect("one result per case")
}
