//! Stripe events through the local stack, as a user of tollgate would notice them:
//! plans, memberships, payments, commissions and refunds, applied once and in order.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_tests::stack::{TestStack, now};
use tollgate_tests::stripe::{charge_refunded, checkout_session, event, invoice_paid, subscription};
use tollgate_tests::{eventually, join_all};

fn amounts(entries: &[Value], kind: &str) -> Vec<i64> {
    entries.iter().filter(|e| e["kind"] == kind).map(|e| e["amount_cents"].as_i64().unwrap()).collect()
}

fn net(entries: &[Value]) -> i64 {
    entries.iter().map(|e| e["amount_cents"].as_i64().unwrap()).sum()
}

async fn deliver_and_settle(stack: &TestStack, payload: &str) -> Value {
    let (status, body) = stack.deliver(payload).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    stack.settled(body["id"].as_str().unwrap()).await
}

/// carol referred bob, bob referred alice; alice subscribes to API Pro.
async fn referral_chain(stack: &TestStack) {
    let t = now().0;
    for (n, (account, customer, referrer)) in
        [("carol", "cus_carol", None), ("bob", "cus_bob", Some("carol")), ("alice", "cus_alice", Some("bob"))]
            .into_iter()
            .enumerate()
    {
        let payload = event(
            &format!("evt_checkout_{n}"),
            "checkout.session.completed",
            t,
            checkout_session(account, customer, referrer),
        );
        assert_eq!(deliver_and_settle(stack, &payload).await["status"], "applied");
    }
}

#[tokio::test]
async fn a_checkout_then_subscription_gives_the_plan_and_links_the_referrer() {
    let stack = TestStack::start().await;
    referral_chain(&stack).await;
    let t = now().0;
    let created = event(
        "evt_sub_created",
        "customer.subscription.created",
        t,
        subscription("sub_a", "cus_alice", "api_pro_monthly", "active", t),
    );
    deliver_and_settle(&stack, &created).await;
    let membership = event(
        "evt_member",
        "customer.subscription.created",
        t,
        subscription("sub_m", "cus_alice", "member_elite_monthly", "active", t),
    );
    deliver_and_settle(&stack, &membership).await;
    let account = stack.account("alice").await;
    assert_eq!(account["stripe_customer_id"], "cus_alice");
    assert_eq!(account["plan"], "pro");
    assert_eq!(account["membership"], "elite");
    assert_eq!(account["subscription_status"], "active");
    assert_eq!(account["referred_by"], "bob");
    assert_eq!(account["current_period_start"], t);
    assert_eq!(stack.account("carol").await["plan"], "free");
    assert_eq!(stack.account("carol").await["membership"], Value::Null);
}

#[tokio::test]
async fn a_paid_invoice_pays_twenty_and_five_percent_up_the_chain_and_a_refund_takes_it_back() {
    let stack = TestStack::start().await;
    referral_chain(&stack).await;
    let t = now().0;
    deliver_and_settle(
        &stack,
        &event("evt_paid", "invoice.paid", t, invoice_paid("in_1", "cus_alice", "sub_a", 2999, "pi_1")),
    )
    .await;
    assert_eq!(amounts(&stack.ledger("alice").await, "payment"), [2999]);
    assert_eq!(amounts(&stack.ledger("bob").await, "commission"), [599]);
    assert_eq!(amounts(&stack.ledger("carol").await, "commission"), [149]);

    // A partial refund, then the full one: commissions are reversed in proportion, then entirely.
    deliver_and_settle(
        &stack,
        &event("evt_refund_1", "charge.refunded", t + 1, charge_refunded("ch_1", "cus_alice", 2999, 1000, "pi_1")),
    )
    .await;
    assert_eq!(amounts(&stack.ledger("alice").await, "refund"), [-1000]);
    assert_eq!(amounts(&stack.ledger("bob").await, "commission_reversal"), [-199]);
    assert_eq!(amounts(&stack.ledger("carol").await, "commission_reversal"), [-49]);
    deliver_and_settle(
        &stack,
        &event("evt_refund_2", "charge.refunded", t + 2, charge_refunded("ch_1", "cus_alice", 2999, 2999, "pi_1")),
    )
    .await;
    for account in ["alice", "bob", "carol"] {
        assert_eq!(net(&stack.ledger(account).await), 0, "{account} nets to zero after a full refund");
    }
    let entry = &stack.ledger("bob").await[0];
    assert_eq!((&entry["currency"], &entry["event_id"]), (&json!("usd"), &json!("evt_paid")));
}

#[tokio::test]
async fn fifty_concurrent_deliveries_of_one_event_have_one_ledger_effect() {
    let stack = std::sync::Arc::new(TestStack::start().await);
    referral_chain(&stack).await;
    let payload =
        event("evt_storm", "invoice.paid", now().0, invoice_paid("in_storm", "cus_alice", "sub_a", 2999, "pi_storm"));
    let deliveries = (0..50).map(|_| {
        let (stack, payload) = (stack.clone(), payload.clone());
        tokio::spawn(async move { stack.deliver(&payload).await })
    });
    let answers = join_all(deliveries).await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::OK), "every delivery is acknowledged");
    let fresh = answers.iter().filter(|(_, body)| body["duplicate"] == false).count();
    assert_eq!(fresh, 1, "exactly one delivery is the first");
    stack.settled("evt_storm").await;
    // Every copy that was queued has been consumed (the first applied, the others dropped).
    let drained =
        eventually(std::time::Duration::from_secs(20), || async { stack.queue_counts("events").0 == 0 }).await;
    assert!(drained, "the events queue drains: {:?}", stack.queue("events"));
    assert_eq!(amounts(&stack.ledger("alice").await, "payment"), [2999]);
    assert_eq!(amounts(&stack.ledger("bob").await, "commission"), [599]);
    assert_eq!(amounts(&stack.ledger("carol").await, "commission"), [149]);
}

#[tokio::test]
async fn subscription_events_out_of_order_end_at_the_newest_state() {
    let stack = TestStack::start().await;
    referral_chain(&stack).await;
    let t = now().0;
    let at = |offset: i64, id: &str, kind: &str, lookup_key: &str, status: &str| {
        event(id, kind, t + offset, subscription("sub_x", "cus_alice", lookup_key, status, t))
    };
    // `updated` (an upgrade) arrives before `created`: the older `created` must not undo it.
    deliver_and_settle(&stack, &at(10, "evt_upd", "customer.subscription.updated", "api_enterprise_monthly", "active"))
        .await;
    let stale =
        deliver_and_settle(&stack, &at(0, "evt_crt", "customer.subscription.created", "api_pro_monthly", "incomplete"))
            .await;
    assert_eq!(
        (&stale["status"], &stale["detail"]),
        (&json!("skipped"), &json!("older than the state already applied"))
    );
    assert_eq!(stack.account("alice").await["plan"], "enterprise");

    // `deleted` arrives before a late `updated`: the account stays canceled.
    deliver_and_settle(
        &stack,
        &at(30, "evt_del", "customer.subscription.deleted", "api_enterprise_monthly", "canceled"),
    )
    .await;
    deliver_and_settle(
        &stack,
        &at(20, "evt_late", "customer.subscription.updated", "api_enterprise_monthly", "active"),
    )
    .await;
    let account = stack.account("alice").await;
    assert_eq!((&account["plan"], &account["subscription_status"]), (&json!("free"), &json!("canceled")));
}

#[tokio::test]
async fn a_payment_failure_makes_the_subscription_past_due() {
    let stack = TestStack::start().await;
    referral_chain(&stack).await;
    let t = now().0;
    deliver_and_settle(
        &stack,
        &event(
            "evt_s",
            "customer.subscription.created",
            t,
            subscription("sub_f", "cus_alice", "api_pro_monthly", "active", t),
        ),
    )
    .await;
    let failed = json!({"id": "in_f", "object": "invoice", "customer": "cus_alice", "amount_due": 2999, "currency": "usd",
                        "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_f"}}});
    assert_eq!(
        deliver_and_settle(&stack, &event("evt_f", "invoice.payment_failed", t + 5, failed)).await["status"],
        "applied"
    );
    let account = stack.account("alice").await;
    assert_eq!((&account["subscription_status"], &account["plan"]), (&json!("past_due"), &json!("pro")));
}

#[tokio::test]
async fn a_one_off_sale_is_recorded_without_commission() {
    let stack = TestStack::start().await;
    referral_chain(&stack).await;
    let sale = json!({"id": "pi_sale", "object": "payment_intent", "amount": 999, "amount_received": 999, "currency": "usd",
                      "customer": "cus_alice", "status": "succeeded", "metadata": {"account_id": "alice", "sku": "template_budget_tracker"}});
    deliver_and_settle(&stack, &event("evt_sale", "payment_intent.succeeded", now().0, sale)).await;
    assert_eq!(amounts(&stack.ledger("alice").await, "payment"), [999]);
    assert!(stack.ledger("bob").await.is_empty());
}

#[tokio::test]
async fn an_event_missing_a_needed_field_fails_with_the_reason() {
    let stack = TestStack::start().await;
    let no_amount = json!({"id": "in_x", "object": "invoice", "customer": "cus_x", "currency": "usd"});
    let record = deliver_and_settle(&stack, &event("evt_noamount", "invoice.paid", now().0, no_amount)).await;
    assert_eq!((&record["status"], &record["detail"]), (&json!("failed"), &json!("missing amount_paid")));
    let foreign = subscription("sub_y", "cus_y", "someone_elses_price", "active", now().0);
    let record =
        deliver_and_settle(&stack, &event("evt_foreign", "customer.subscription.created", now().0, foreign)).await;
    assert_eq!(record["status"], "failed");
    assert!(record["detail"].as_str().unwrap().contains("lookup_key"), "{record}");
}

#[tokio::test]
async fn a_refund_that_arrives_before_its_payment_waits_for_it() {
    let stack = TestStack::start().await;
    referral_chain(&stack).await;
    let t = now().0;
    let (status, _) = stack
        .deliver(&event(
            "evt_early_refund",
            "charge.refunded",
            t + 1,
            charge_refunded("ch_e", "cus_alice", 2999, 2999, "pi_e"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    // The refund is tried, finds no payment to reverse, and is held back for a retry.
    let held = eventually(std::time::Duration::from_secs(20), || async {
        stack.queue("events").iter().any(|m| m.body.contains("evt_early_refund") && m.receive_count >= 1 && !m.dead)
    })
    .await;
    assert!(held, "the refund was tried and kept for a retry: {:?}", stack.queue("events"));
    let (_, events) = stack.admin_get("/admin/events?limit=500").await;
    let early = events["events"].as_array().unwrap().iter().find(|e| e["id"] == "evt_early_refund").cloned();
    assert_eq!(early.unwrap()["status"], "queued", "not applied before its payment");
    assert!(stack.ledger("alice").await.iter().all(|entry| entry["kind"] != "refund"), "nothing refunded yet");
    deliver_and_settle(
        &stack,
        &event("evt_late_payment", "invoice.paid", t, invoice_paid("in_e", "cus_alice", "sub_a", 2999, "pi_e")),
    )
    .await;
    assert_eq!(stack.settled("evt_early_refund").await["status"], "applied");
    for account in ["alice", "bob", "carol"] {
        assert_eq!(net(&stack.ledger(account).await), 0, "{account}");
    }
}

#[tokio::test]
async fn a_catalog_partner_earns_on_invoices_and_sales_beside_the_referrers_and_refunds_take_it_back() {
    let catalog = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../catalog.toml")).unwrap();
    // The Pro plan pays its strategist the default 70%; the template pays its creator 50%.
    let catalog = catalog.replace("sku = \"api_pro\"\n", "sku = \"api_pro\"\npartner = \"zoe\"\n").replace(
        "sku = \"template_budget_tracker\"\n",
        "sku = \"template_budget_tracker\"\npartner = \"zoe\"\npartner_share_bp = 5000\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.toml");
    std::fs::write(&path, catalog).unwrap();
    let stack = TestStack::start_with(&[("CATALOG_PATH", path.to_str().unwrap())]).await;
    referral_chain(&stack).await;
    let t = now().0;
    let mut invoice = invoice_paid("in_p", "cus_alice", "sub_a", 2999, "pi_p");
    invoice["parent"]["subscription_details"]["metadata"]["sku"] = json!("api_pro");
    deliver_and_settle(&stack, &event("evt_paid_p", "invoice.paid", t, invoice)).await;
    let sale = json!({"id": "pi_sale_p", "object": "payment_intent", "amount": 999, "amount_received": 999, "currency": "usd",
                      "customer": "cus_alice", "status": "succeeded", "metadata": {"account_id": "alice", "sku": "template_budget_tracker"}});
    deliver_and_settle(&stack, &event("evt_sale_p", "payment_intent.succeeded", t, sale)).await;
    assert_eq!(amounts(&stack.ledger("zoe").await, "partner_earning"), [2099, 499]);
    assert_eq!(amounts(&stack.ledger("bob").await, "commission"), [599], "the referrers keep their commissions");
    assert_eq!(amounts(&stack.ledger("carol").await, "commission"), [149]);

    let refund = charge_refunded("ch_p", "cus_alice", 2999, 2999, "pi_p");
    deliver_and_settle(&stack, &event("evt_refund_p", "charge.refunded", t + 1, refund)).await;
    assert_eq!(amounts(&stack.ledger("zoe").await, "partner_earning_reversal"), [-2099]);
    assert_eq!(net(&stack.ledger("zoe").await), 499, "what the sale earned stays");
    assert_eq!(net(&stack.ledger("bob").await), 0);
}
