//! Catching up with Stripe on the real binary: reconciliation takes in the events no
//! webhook delivered, once; replay applies a failed event once its cause is fixed.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::process::Command;
use tollgate_tests::eventually;
use tollgate_tests::fake_stripe::{FakeStripe, SECRET_KEY};
use tollgate_tests::stack::{TestStack, binary, now};
use tollgate_tests::stripe::{checkout_session, event, invoice_paid, subscription};

async fn stack_on(stripe: &FakeStripe, settings: &[(&str, &str)]) -> TestStack {
    let mut all = vec![("STRIPE_SECRET_KEY", SECRET_KEY), ("STRIPE_API_BASE", stripe.base_url.as_str())];
    all.extend_from_slice(settings);
    TestStack::start_with(&all).await
}

/// Stripe creates the event; it is not delivered.
fn hold(stripe: &FakeStripe, payload: &str) -> String {
    let event: Value = serde_json::from_str(payload).unwrap();
    stripe.hold_event(event.clone());
    event["id"].as_str().unwrap().to_owned()
}

fn amounts(entries: &[Value], kind: &str) -> Vec<i64> {
    entries.iter().filter(|e| e["kind"] == kind).map(|e| e["amount_cents"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn reconcile_applies_five_undelivered_events_once_and_a_second_run_finds_none_new() {
    let stripe = FakeStripe::start().await;
    let stack = stack_on(&stripe, &[]).await;
    let t = now().0 - 600;
    // Two events a webhook delivered, five it never did, and one of a type tollgate ignores.
    for (n, account) in ["dora", "erin"].into_iter().enumerate() {
        let payload = event(
            &format!("evt_seen_{n}"),
            "checkout.session.completed",
            t,
            checkout_session(account, &format!("cus_{account}"), None),
        );
        hold(&stripe, &payload);
        let (status, body) = stack.deliver(&payload).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        stack.settled(body["id"].as_str().unwrap()).await;
    }
    let mut missed = vec![hold(
        &stripe,
        &event("evt_miss_checkout", "checkout.session.completed", t + 1, checkout_session("fay", "cus_fay", None)),
    )];
    missed.push(hold(
        &stripe,
        &event(
            "evt_miss_sub",
            "customer.subscription.created",
            t + 2,
            subscription("sub_fay", "cus_fay", "api_pro_monthly", "active", t),
        ),
    ));
    for n in 0..3 {
        let invoice = invoice_paid(&format!("in_fay_{n}"), "cus_fay", "sub_fay", 2999, &format!("pi_fay_{n}"));
        missed.push(hold(&stripe, &event(&format!("evt_miss_paid_{n}"), "invoice.paid", t + 3 + n, invoice)));
    }
    hold(&stripe, &event("evt_ignored", "customer.created", t + 9, json!({"id": "cus_fay", "object": "customer"})));

    let (status, found) = stack.admin_send(Method::POST, "/admin/reconcile", &json!({"since": "2h"})).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!((&found["listed"], &found["new"], &found["already_had"]), (&json!(7), &json!(5), &json!(2)), "{found}");
    assert!(found.get("note").is_none(), "two hours are within Stripe's 30 days: {found}");
    for id in &missed {
        assert_eq!(stack.settled(id).await["status"], "applied", "{id}");
    }
    assert_eq!(amounts(&stack.ledger("fay").await, "payment"), [2999, 2999, 2999]);
    assert_eq!(stack.account("fay").await["plan"], "pro");
    let (_, alerts) = stack.admin_get("/admin/alerts").await;
    let missed_alerts: Vec<&Value> =
        alerts["alerts"].as_array().unwrap().iter().filter(|a| a["kind"] == "missed_events").collect();
    assert_eq!(missed_alerts.len(), 1, "{alerts}");
    assert!(missed_alerts[0]["message"].as_str().unwrap().contains("5 Stripe event(s)"), "{alerts}");

    // The second run, from the command line, from the stored cursor: nothing new, nothing applied twice.
    let mut command = Command::new(binary());
    command.args(["reconcile", "--data-dir"]).arg(stack.data_dir());
    command.env("STRIPE_SECRET_KEY", SECRET_KEY).env("STRIPE_API_BASE", &stripe.base_url).env("RUST_LOG", "warn");
    // Off the test's thread: the Stripe stand-in answers on it meanwhile.
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("tollgate reconcile runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "listed 7, new 0, already had 7");
    assert_eq!(amounts(&stack.ledger("fay").await, "payment"), [2999, 2999, 2999]);
    let listed_from: Vec<i64> = stripe
        .requests_to(&Method::GET, "/v1/events")
        .iter()
        .filter_map(|request| request.param("created[gte]").and_then(|from| from.parse().ok()))
        .collect();
    assert_eq!(listed_from.len(), 2);
    // The newest event listed is the last invoice (t + 5); the ignored type was never listed.
    assert_eq!(listed_from[1], t + 5 - 3_600, "the second run starts an hour before the newest event listed");
}

#[tokio::test]
async fn events_are_listed_page_by_page_and_a_window_past_thirty_days_says_so() {
    let stripe = FakeStripe::start().await;
    let stack = stack_on(&stripe, &[]).await;
    let t = now().0 - 3_600;
    for n in 0..250 {
        let invoice = invoice_paid(&format!("in_{n}"), "cus_nobody", "sub_nobody", 100, &format!("pi_{n}"));
        hold(&stripe, &event(&format!("evt_page_{n:03}"), "invoice.paid", t + n, invoice));
    }
    let (status, found) = stack.admin_send(Method::POST, "/admin/reconcile", &json!({"since": "40d"})).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!((&found["listed"], &found["new"]), (&json!(250), &json!(250)), "{found}");
    assert!(found["note"].as_str().unwrap().contains("30 days"), "{found}");
    assert_eq!(stripe.requests_to(&Method::GET, "/v1/events").len(), 3, "three pages of at most 100");
    let (status, refused) = stack.admin_send(Method::POST, "/admin/reconcile", &json!({"since": "soon"})).await;
    assert_eq!((status, &refused["error"]["field"]), (StatusCode::BAD_REQUEST, &json!("since")), "{refused}");
}

#[tokio::test]
async fn replay_applies_a_failed_event_once_its_cause_is_fixed_and_changes_nothing_after() {
    let stripe = FakeStripe::start().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../catalog.toml")).unwrap();
    // A release whose catalog misses the Pro plan's lookup key: its subscription cannot be read.
    let broken = dir.path().join("catalog.toml");
    std::fs::write(&broken, catalog.replace("\"api_pro_monthly\"", "\"api_pro_monthly_old\"")).unwrap();
    let mut stack = stack_on(&stripe, &[("CATALOG_PATH", broken.to_str().unwrap())]).await;
    let t = now().0;
    let checkout = event("evt_gus_checkout", "checkout.session.completed", t, checkout_session("gus", "cus_gus", None));
    let created = event(
        "evt_gus_sub",
        "customer.subscription.created",
        t + 1,
        subscription("sub_gus", "cus_gus", "api_pro_monthly", "active", t),
    );
    for payload in [&checkout, &created] {
        hold(&stripe, payload);
        stack.deliver(payload).await;
    }
    assert_eq!(stack.settled("evt_gus_sub").await["status"], "failed");

    let fixed = concat!(env!("CARGO_MANIFEST_DIR"), "/../catalog.toml");
    stack.restart_with("CATALOG_PATH", fixed).await;
    let (status, body) = stack.admin_send(Method::POST, "/admin/events/evt_gus_sub/replay", &Value::Null).await;
    assert_eq!((status, &body), (StatusCode::ACCEPTED, &json!({"id": "evt_gus_sub", "status": "queued"})));
    assert_eq!(stack.settled("evt_gus_sub").await["status"], "applied");
    assert_eq!(stack.account("gus").await["plan"], "pro");
    assert_eq!(stripe.requests_to(&Method::GET, "/v1/events/evt_gus_sub").len(), 1, "fetched from Stripe");

    // An applied payment replayed: queued again, consumed, and the ledger is as it was.
    let paid =
        event("evt_gus_paid", "invoice.paid", t + 2, invoice_paid("in_gus", "cus_gus", "sub_gus", 2999, "pi_gus"));
    hold(&stripe, &paid);
    stack.deliver(&paid).await;
    assert_eq!(stack.settled("evt_gus_paid").await["status"], "applied");
    let ledger_before = stack.ledger("gus").await;
    assert_eq!(ledger_before.iter().filter(|entry| entry["kind"] == "payment").count(), 1, "{ledger_before:?}");
    let (status, _) = stack.admin_send(Method::POST, "/admin/events/evt_gus_paid/replay", &Value::Null).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let consumed =
        eventually(std::time::Duration::from_secs(20), || async { stack.queue_counts("events").0 == 0 }).await;
    assert!(consumed, "the replayed copy was consumed: {:?}", stack.queue("events"));
    assert_eq!(stack.settled("evt_gus_paid").await["status"], "applied");
    assert_eq!(stack.ledger("gus").await, ledger_before);
    assert_eq!(stack.account("gus").await["plan"], "pro");

    let (status, body) = stack.admin_send(Method::POST, "/admin/events/evt_nobody_knows/replay", &Value::Null).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("not_found")), "{body}");
}
