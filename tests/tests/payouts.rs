//! Partners' payouts on the real binary: Stripe Connect onboarding, once per account;
//! `account.updated` from the Connect endpoint (signed with its own secret); and the payout
//! run, which pays each partner once per period through reruns, crashes, refunds and refusals.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::process::Command;
use tempfile::TempDir;
use tollgate_core::signature::{WebhookSecret, sign};
use tollgate_tests::fake_stripe::{FakeStripe, SECRET_KEY};
use tollgate_tests::join_all;
use tollgate_tests::stack::{TestStack, binary, now, token};
use tollgate_tests::stripe::{charge_refunded, checkout_session, event, invoice_paid};

const CONNECT_SECRET: &str = "whsec_connect_endpoint_of_the_tests";

async fn stack_on(stripe: &FakeStripe) -> TestStack {
    TestStack::start_with(&stripe_settings(stripe)).await
}

fn stripe_settings(stripe: &FakeStripe) -> Vec<(&'static str, &str)> {
    vec![
        ("STRIPE_SECRET_KEY", SECRET_KEY),
        ("STRIPE_API_BASE", stripe.base_url.as_str()),
        ("PAYOUTS_RETURN_URL", "https://app.example.com/account"),
        ("STRIPE_CONNECT_WEBHOOK_SECRET", CONNECT_SECRET),
    ]
}

/// `POST /api/me/payouts/onboarding` as partner `zoe`: its status and body.
async fn onboard(stack: &TestStack) -> (StatusCode, serde_json::Value) {
    onboard_as(stack, "zoe").await
}

async fn onboard_as(stack: &TestStack, partner: &str) -> (StatusCode, serde_json::Value) {
    let request = stack.http.post(stack.url("/api/me/payouts/onboarding")).bearer_auth(token(partner, None));
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap_or_default())
}

/// A shop whose Pro plan pays its strategist `zoe` 70%, where `bob` referred `alice`
/// (20%), and where both partners finished onboarding (`zoe` → `acct_fake1`, `bob` →
/// `acct_fake2`). `hold_days` is `PAYOUT_HOLD_DAYS`.
struct Shop {
    stripe: FakeStripe,
    stack: TestStack,
    _catalog: TempDir,
}

impl Shop {
    async fn open(hold_days: &str) -> Self {
        let stripe = FakeStripe::start().await;
        let catalog = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../catalog.toml")).unwrap();
        let catalog = catalog.replace("sku = \"api_pro\"\n", "sku = \"api_pro\"\npartner = \"zoe\"\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.toml");
        std::fs::write(&path, catalog).unwrap();
        let mut settings = stripe_settings(&stripe);
        let path = path.to_str().unwrap().to_owned();
        settings.extend([("CATALOG_PATH", path.as_str()), ("PAYOUT_HOLD_DAYS", hold_days)]);
        let stack = TestStack::start_with(&settings).await;
        let shop = Shop { stripe, stack, _catalog: dir };
        let t = now().0;
        for (n, (account, referrer)) in [("bob", None), ("alice", Some("bob"))].into_iter().enumerate() {
            let session = checkout_session(account, &format!("cus_{account}"), referrer);
            shop.apply(&event(&format!("evt_checkout_{n}"), "checkout.session.completed", t, session)).await;
        }
        for (n, partner) in ["zoe", "bob"].into_iter().enumerate() {
            assert_eq!(onboard_as(&shop.stack, partner).await.0, StatusCode::OK);
            let object = json!({"id": format!("acct_fake{}", n + 1), "object": "account", "type": "express",
                                "payouts_enabled": true, "metadata": {"account_id": partner}});
            let payload = event(&format!("evt_enabled_{partner}"), "account.updated", t, object);
            let signature = sign(&WebhookSecret::parse(CONNECT_SECRET).unwrap(), now(), payload.as_bytes());
            let (status, body) = shop.stack.post_webhook(&payload, Some(&signature)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(shop.stack.settled(&format!("evt_enabled_{partner}")).await["status"], "applied");
        }
        shop
    }

    async fn apply(&self, payload: &str) {
        let (status, body) = self.stack.deliver(payload).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(self.stack.settled(body["id"].as_str().unwrap()).await["status"], "applied");
    }

    /// alice pays a Pro invoice of `amount` as payment `payment`.
    async fn invoice(&self, n: u32, amount: i64, payment: &str) {
        let mut invoice = invoice_paid(&format!("in_{n}"), "cus_alice", "sub_alice", amount, payment);
        invoice["parent"]["subscription_details"]["metadata"]["sku"] = json!("api_pro");
        self.apply(&event(&format!("evt_invoice_{n}"), "invoice.paid", now().0, invoice)).await;
    }

    async fn run(&self, body: Value) -> Value {
        let (status, report) = self.stack.admin_send(Method::POST, "/admin/payouts/run", &body).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        report
    }

    async fn standing(&self, partner: &str) -> Value {
        let request = self.stack.http.get(self.stack.url("/api/me/payouts")).bearer_auth(token(partner, None));
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// `tollgate payouts run` on the stack's data directory: its status and output.
    async fn run_from_the_command_line(&self, period: &str) -> (bool, String) {
        let mut command = Command::new(binary());
        command.args(["payouts", "run", "--period", period, "--data-dir"]).arg(self.stack.data_dir());
        command.env("STRIPE_SECRET_KEY", SECRET_KEY).env("STRIPE_API_BASE", &self.stripe.base_url);
        command.env("PAYOUT_HOLD_DAYS", "0").env("RUST_LOG", "warn");
        // Off the test's thread: the Stripe stand-in answers on it meanwhile.
        let output =
            tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("tollgate payouts runs");
        (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

fn who_and_what(list: &Value) -> Vec<(String, Value)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|line| {
            let what = line.get("amount").or_else(|| line.get("reason")).cloned().unwrap_or_default();
            (line["account_id"].as_str().unwrap().to_owned(), what)
        })
        .collect()
}

/// Twenty concurrent first onboardings of one partner on a stack over `stripe`: their
/// answers, every one of them a link.
async fn twenty_first_onboardings(stripe: &FakeStripe) -> Vec<(StatusCode, Value)> {
    let stack = std::sync::Arc::new(stack_on(stripe).await);
    let calls = (0..20).map(|_| {
        let stack = std::sync::Arc::clone(&stack);
        tokio::spawn(async move { onboard(&stack).await })
    });
    let answers = join_all(calls).await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::OK), "{answers:?}");
    answers
}

#[tokio::test]
async fn twenty_concurrent_first_onboardings_make_one_connected_account() {
    let stripe = FakeStripe::start().await;
    let answers = twenty_first_onboardings(&stripe).await;
    assert!(
        answers
            .iter()
            .all(|(_, body)| body["url"].as_str().unwrap().starts_with("https://connect.stripe.com/setup/e/acct_fake"))
    );
    assert_eq!(stripe.connected_accounts_created(), 1, "one connected account, whatever the race");
    let creates = stripe.requests_to(&Method::POST, "/v1/accounts");
    assert!(creates.iter().all(|create| create.param("type") == Some("express")
        && create.param("metadata[account_id]") == Some("zoe")
        && create.idempotency_key.as_deref() == Some("tollgate-connect-zoe")));
    let links = stripe.requests_to(&Method::POST, "/v1/account_links");
    assert_eq!(links.len(), 20, "a fresh link for every call");
    let link = &links[0];
    assert_eq!(link.param("type"), Some("account_onboarding"));
    assert_eq!(link.param("return_url"), Some("https://app.example.com/account"));
    assert_eq!(link.param("refresh_url"), Some("https://app.example.com/account?payouts=refresh"));
    assert_eq!(link.param("account"), Some("acct_fake1"));
}

#[tokio::test]
async fn concurrent_first_onboardings_keep_one_connected_account_even_when_stripe_makes_several() {
    let stripe = FakeStripe::start().await;
    stripe.ignore_idempotency();
    twenty_first_onboardings(&stripe).await;
    let made = stripe.connected_accounts_created();
    assert!(made > 1, "Stripe made several connected accounts: {made}");
    let linked: std::collections::BTreeSet<String> = stripe
        .requests_to(&Method::POST, "/v1/account_links")
        .iter()
        .map(|link| link.param("account").unwrap().to_owned())
        .collect();
    assert_eq!(linked.len(), 1, "every link is for the one stored account, of {made} made: {linked:?}");
}

#[tokio::test]
async fn account_updated_from_the_connect_endpoint_is_applied_once_and_in_order() {
    let stripe = FakeStripe::start().await;
    let stack = stack_on(&stripe).await;
    assert_eq!(onboard(&stack).await.0, StatusCode::OK);
    let t = now().0;
    let deliver = |id: &str, connect_account: &str, created: i64, enabled: bool, secret: &str| {
        let object = json!({"id": connect_account, "object": "account", "type": "express",
                            "payouts_enabled": enabled, "metadata": {"account_id": "zoe"}});
        let payload = event(id, "account.updated", created, object);
        let signature = sign(&WebhookSecret::parse(secret).unwrap(), now(), payload.as_bytes());
        let stack = &stack;
        async move { stack.post_webhook(&payload, Some(&signature)).await.0 }
    };
    assert_eq!(
        deliver("evt_on", "acct_fake1", t, true, CONNECT_SECRET).await,
        StatusCode::OK,
        "the Connect secret signs"
    );
    assert_eq!(stack.settled("evt_on").await["status"], "applied");
    deliver("evt_older", "acct_fake1", t - 60, false, CONNECT_SECRET).await;
    let older = stack.settled("evt_older").await;
    assert_eq!(
        (&older["status"], &older["detail"]),
        (&json!("skipped"), &json!("older than the state already applied"))
    );
    deliver("evt_other", "acct_someone_else", t + 60, true, CONNECT_SECRET).await;
    assert_eq!(stack.settled("evt_other").await["status"], "skipped", "another connected account changes nothing");
    let stranger = deliver("evt_forged", "acct_fake1", t + 90, false, "whsec_nobody_knows_this_one").await;
    assert_eq!(stranger, StatusCode::BAD_REQUEST, "a third secret is not accepted");
    assert_eq!(onboard(&stack).await.0, StatusCode::OK);
    assert_eq!(stripe.connected_accounts_created(), 1, "onboarding again goes on with the same account");
}

#[tokio::test]
async fn a_payout_run_pays_each_partner_once_and_no_rerun_pays_twice_even_after_stripe_forgets() {
    let mut shop = Shop::open("30").await;
    shop.invoice(1, 2999, "pi_1").await;
    // Within the hold, nothing is available yet.
    let held = shop.standing("zoe").await;
    assert_eq!(held["balance"], json!({"pending": 2099, "available": 0, "paid": 0, "owed_back": 0}));
    assert_eq!((held["connected"].clone(), held["payouts_enabled"].clone()), (json!(true), json!(true)));
    let report = shop.run(json!({"period": "2026-12"})).await;
    assert_eq!(report["paid"], json!([]));
    assert_eq!(
        who_and_what(&report["skipped"]),
        [("bob".to_owned(), json!("nothing_available")), ("zoe".to_owned(), json!("nothing_available"))]
    );

    shop.stack.restart_with("PAYOUT_HOLD_DAYS", "0").await;
    let dry = shop.run(json!({"period": "2026-12", "dry_run": true})).await;
    assert_eq!(who_and_what(&dry["paid"]), [("zoe".to_owned(), json!(2099))]);
    assert!(shop.stripe.transfers().is_empty(), "a dry run transfers nothing");

    let report = shop.run(json!({"period": "2026-12"})).await;
    assert_eq!(who_and_what(&report["paid"]), [("zoe".to_owned(), json!(2099))]);
    assert_eq!(report["paid"][0]["transfer"], "tr_fake1");
    assert_eq!(who_and_what(&report["skipped"]), [("bob".to_owned(), json!("below_minimum"))], "599 < 1000");
    assert_eq!(
        shop.stripe.transfers(),
        [("acct_fake1".to_owned(), 2099, "tollgate-payout-2026-12".to_owned(), "zoe".to_owned())]
    );
    let transfer = &shop.stripe.requests_to(&Method::POST, "/v1/transfers")[0];
    assert_eq!(
        (transfer.param("currency"), transfer.param("metadata[period]"), transfer.idempotency_key.as_deref()),
        (Some("usd"), Some("2026-12"), Some("tollgate-payout-zoe-2026-12"))
    );
    let payouts: Vec<Value> = shop.stack.ledger("zoe").await.into_iter().filter(|e| e["kind"] == "payout").collect();
    assert_eq!(
        (payouts.len(), &payouts[0]["amount_cents"], &payouts[0]["event_id"]),
        (1, &json!(-2099), &json!("tr_fake1"))
    );
    let standing = shop.standing("zoe").await;
    assert_eq!(standing["balance"], json!({"pending": 0, "available": 0, "paid": 2099, "owed_back": 0}));
    assert_eq!(
        (&standing["payouts"][0]["period"], &standing["payouts"][0]["status"], &standing["payouts"][0]["amount"]),
        (&json!("2026-12"), &json!("paid"), &json!(2099))
    );

    // A rerun, and one after Stripe forgot the idempotency keys (24 h later), pay nobody again.
    let rerun = shop.run(json!({"period": "2026-12"})).await;
    assert_eq!(rerun["paid"], json!([]));
    assert!(who_and_what(&rerun["skipped"]).contains(&("zoe".to_owned(), json!("already_paid"))));
    shop.stripe.forget_idempotency_keys();
    let (ok, printed) = shop.run_from_the_command_line("2026-12").await;
    assert!(ok, "{printed}");
    assert!(printed.contains("skipped zoe: already_paid"), "{printed}");
    assert_eq!(shop.stripe.transfers().len(), 1, "one transfer, whatever the reruns");
}

#[tokio::test]
async fn a_crash_between_the_transfer_and_its_record_is_healed_by_the_next_run() {
    let mut shop = Shop::open("0").await;
    shop.invoice(1, 2999, "pi_1").await;
    shop.stripe.stall_transfers(true);
    let stack_url = shop.stack.url("/admin/payouts/run");
    let (http, admin) = (shop.stack.http.clone(), shop.stack.admin_token());
    let stalled = tokio::spawn(async move {
        http.post(stack_url).bearer_auth(admin).json(&json!({"period": "2026-12"})).send().await
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while shop.stripe.transfers().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the transfer was never made");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Stripe made the transfer; the process dies before it hears back.
    shop.stack.kill_and_restart().await;
    stalled.abort();
    shop.stripe.stall_transfers(false);
    shop.stripe.forget_idempotency_keys();
    assert!(shop.stack.ledger("zoe").await.iter().all(|e| e["kind"] != "payout"), "nothing was recorded");

    let report = shop.run(json!({"period": "2026-12"})).await;
    assert_eq!(who_and_what(&report["paid"]), [("zoe".to_owned(), json!(2099))]);
    assert_eq!((&report["paid"][0]["transfer"], &report["paid"][0]["healed"]), (&json!("tr_fake1"), &json!(true)));
    assert_eq!(shop.stripe.transfers().len(), 1, "found, not made again");
    let listed = shop.stripe.requests_to(&Method::GET, "/v1/transfers");
    assert_eq!(listed.last().unwrap().param("transfer_group"), Some("tollgate-payout-2026-12"));
    let payouts: Vec<Value> = shop.stack.ledger("zoe").await.into_iter().filter(|e| e["kind"] == "payout").collect();
    assert_eq!((payouts.len(), &payouts[0]["amount_cents"]), (1, &json!(-2099)));
}

#[tokio::test]
async fn a_refund_after_a_payout_is_owed_back_and_netted_against_next_months_earnings() {
    let shop = Shop::open("0").await;
    shop.invoice(1, 2999, "pi_1").await;
    assert_eq!(who_and_what(&shop.run(json!({"period": "2026-12"})).await["paid"]), [("zoe".to_owned(), json!(2099))]);
    let refund = charge_refunded("ch_1", "cus_alice", 2999, 2999, "pi_1");
    shop.apply(&event("evt_refund_1", "charge.refunded", now().0, refund)).await;
    let owing = shop.standing("zoe").await;
    assert_eq!(owing["balance"], json!({"pending": 0, "available": 0, "paid": 2099, "owed_back": 2099}));
    let report = shop.run(json!({"period": "2027-01"})).await;
    assert_eq!(report["paid"], json!([]), "nothing owed back is transferred");
    assert!(who_and_what(&report["skipped"]).contains(&("zoe".to_owned(), json!("owed_back"))));

    shop.invoice(2, 5000, "pi_2").await;
    let report = shop.run(json!({"period": "2027-01"})).await;
    assert_eq!(
        who_and_what(&report["paid"]),
        [("bob".to_owned(), json!(1000)), ("zoe".to_owned(), json!(1401))],
        "bob: 1000 on the second invoice (his 599 on the refunded first was taken back); zoe: 3500 less 2099 owed back"
    );
    assert_eq!(shop.stripe.transfers().iter().map(|t| t.1).collect::<Vec<_>>(), [2099, 1000, 1401]);
    let settled = shop.standing("zoe").await;
    assert_eq!(settled["balance"], json!({"pending": 0, "available": 0, "paid": 3500, "owed_back": 0}));
}

#[tokio::test]
async fn a_refused_transfer_is_recorded_alerted_and_paid_by_the_next_run() {
    let shop = Shop::open("0").await;
    shop.invoice(1, 2999, "pi_1").await;
    shop.stripe.refuse_transfers(Some("balance_insufficient"));
    let report = shop.run(json!({"period": "2026-12"})).await;
    assert_eq!(report["paid"], json!([]));
    let failed = &report["failed"][0];
    assert_eq!((&failed["account_id"], &failed["amount"]), (&json!("zoe"), &json!(2099)));
    assert!(failed["reason"].as_str().unwrap().contains("insufficient funds"), "{failed}");
    let (_, alerts) = shop.stack.admin_get("/admin/alerts").await;
    let alert = alerts["alerts"].as_array().unwrap().iter().find(|a| a["kind"] == "payout_failed").cloned();
    assert_eq!(alert.map(|a| a["id"].clone()), Some(json!("payout_failed:zoe:2026-12")), "{alerts}");
    let standing = shop.standing("zoe").await;
    assert_eq!(
        (&standing["payouts"][0]["status"], &standing["balance"]["available"]),
        (&json!("failed"), &json!(2099))
    );
    assert!(shop.stack.ledger("zoe").await.iter().all(|e| e["kind"] != "payout"));

    shop.stripe.refuse_transfers(None);
    let retried = shop.run(json!({"period": "2026-12"})).await;
    assert_eq!(who_and_what(&retried["paid"]), [("zoe".to_owned(), json!(2099))]);
    let standing = shop.standing("zoe").await;
    assert_eq!(standing["payouts"].as_array().unwrap().len(), 1, "the failure is cleared: {standing}");
    assert_eq!(standing["payouts"][0]["status"], "paid");
    let (status, refused) =
        shop.stack.admin_send(Method::POST, "/admin/payouts/run", &json!({"period": "2026-13"})).await;
    assert_eq!((status, &refused["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("invalid_request")), "{refused}");
}
