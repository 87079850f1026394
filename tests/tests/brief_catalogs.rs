//! The briefs' catalogs, enforced: `tollgate dev` with `CATALOG_PATH` at each of
//! `examples/catalogs/`, driven through the native gateway with several keys per account,
//! checking every number the brief gives. The pooled counters' exactness at the edge,
//! under concurrency, is here too.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use tollgate_tests::eventually;
use tollgate_tests::keys::{Answer, call, call_keys_at_once, catalog_from, create_key, me};
use tollgate_tests::stack::{TestStack, now};
use tollgate_tests::stripe::{
    charge_refunded, checkout_session, event, payment_intent_succeeded, product_checkout_session, subscription,
};

const PATIENCE: Duration = Duration::from_secs(20);

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/catalogs").join(name)
}

async fn stack_on(catalog: &std::path::Path) -> TestStack {
    TestStack::start_with(&[("CATALOG_PATH", catalog.to_str().unwrap())]).await
}

async fn keys(stack: &TestStack, account: &str, how_many: usize) -> Vec<String> {
    let mut keys = Vec::with_capacity(how_many);
    for _ in 0..how_many {
        keys.push(create_key(stack, account).await["key"].as_str().unwrap().to_owned());
    }
    keys
}

fn count(answers: &[Answer], status: StatusCode, code: Option<&str>) -> usize {
    answers.iter().filter(|a| a.status == status && a.code() == code).count()
}

/// Calls `path` `calls` times, one after the other, over `keys` in turn.
async fn calls_over(stack: &TestStack, keys: &[String], path: &str, calls: usize) -> Vec<Answer> {
    let mut answers = Vec::with_capacity(calls);
    for i in 0..calls {
        answers.push(call(&stack.http, &stack.base_url, &keys[i % keys.len()], path).await);
    }
    answers
}

fn meter<'a>(standing: &'a Value, name: &str) -> &'a Value {
    standing["meters"].as_array().unwrap().iter().find(|m| m["meter"] == name).unwrap()
}

/// Delivers `payload` and waits until it is applied.
async fn applied(stack: &TestStack, payload: String) {
    let (status, body) = stack.deliver(&payload).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    stack.settled(body["id"].as_str().unwrap()).await;
}

/// `account` buys the agency's $10 top-up, paid by `payment`.
async fn top_up(stack: &TestStack, account: &str, payment: &str) {
    let customer = format!("cus_{account}");
    let session = product_checkout_session(&format!("cs_{payment}"), account, &customer, "balance_10", payment);
    applied(stack, event(&format!("evt_cs_{payment}"), "checkout.session.completed", now().0, session)).await;
    let paid = payment_intent_succeeded(payment, account, &customer, 1_000);
    applied(stack, event(&format!("evt_paid_{payment}"), "payment_intent.succeeded", now().0, paid)).await;
}

async fn balance_micros(stack: &TestStack, account: &str) -> Value {
    me(stack, account).await["balance"]["amount_micros"].clone()
}

/// Links `customer` to `account` and subscribes it to `lookup_key`, by webhook.
async fn subscribe(stack: &TestStack, account: &str, customer: &str, lookup_key: &str) {
    let created = now().0;
    let mut linked = checkout_session(account, customer, None);
    linked["metadata"] = json!({"account_id": account});
    let linked = event(&format!("evt_link_{account}"), "checkout.session.completed", created, linked);
    let sub = subscription(&format!("sub_{account}"), customer, lookup_key, "active", created - 60);
    let subscribed = event(&format!("evt_sub_{account}"), "customer.subscription.created", created, sub);
    for payload in [linked, subscribed] {
        let (status, body) = stack.deliver(&payload).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        stack.settled(body["id"].as_str().unwrap()).await;
    }
}

/// The catalog's plans as `/api/catalog` lists them: sku → (price in cents, each meter's quota).
async fn plans(stack: &TestStack) -> Vec<(String, i64, Vec<(String, Option<u64>)>)> {
    let body = stack.get_as("visitor", "/api/catalog").await;
    body["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|plan| {
            let meters = plan["meters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| (m["meter"].as_str().unwrap().to_owned(), m["quota"].as_u64()))
                .collect();
            (plan["sku"].as_str().unwrap().to_owned(), plan["price_cents"].as_i64().unwrap(), meters)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_agency_brief_counts_messages_and_ai_runs_apart_and_charges_messages_to_the_balance() {
    // Gratis allows 60 calls a minute per key: five keys keep the rate limit out of the way.
    let stack = stack_on(&example("agency.toml")).await;
    let owned = |meters: &[(&str, Option<u64>)]| -> Vec<(String, Option<u64>)> {
        meters.iter().map(|(meter, quota)| (meter.to_string(), *quota)).collect()
    };
    assert_eq!(
        plans(&stack).await,
        [
            ("gratis".into(), 0, owned(&[("requests", None), ("messages", Some(50)), ("ai_runs", Some(1))])),
            ("starter".into(), 1_500, owned(&[("requests", None), ("messages", Some(2_000)), ("ai_runs", None)])),
            ("partner".into(), 19_900, owned(&[("requests", None), ("messages", Some(50_000)), ("ai_runs", None)])),
        ]
    );
    let ana = keys(&stack, "ana", 5).await;

    // Gratis: 50 messages over five keys, then the 51st finds no balance to pay its $0.05.
    let sent = calls_over(&stack, &ana, "/v1/messages", 50).await;
    assert_eq!(count(&sent, StatusCode::OK, None), 50);
    assert_eq!(sent[49].header("x-quota-remaining"), Some("0"));
    let refused = call(&stack.http, &stack.base_url, &ana[0], "/v1/messages/send").await;
    assert_eq!((refused.status, refused.code()), (StatusCode::PAYMENT_REQUIRED, Some("insufficient_balance")));
    assert_eq!(refused.body["error"]["balance"], json!({"amount": 0, "amount_micros": 0, "currency": "usd"}));
    // One AI run, and the second is refused naming its meter; other calls cost nothing.
    assert_eq!(call(&stack.http, &stack.base_url, &ana[1], "/v1/agents/run").await.status, StatusCode::OK);
    let second = call(&stack.http, &stack.base_url, &ana[2], "/v1/agents").await;
    assert_eq!((second.status, second.code()), (StatusCode::PAYMENT_REQUIRED, Some("quota_exceeded")));
    assert_eq!(second.body["error"]["meter"], "ai_runs");
    assert_eq!(call(&stack.http, &stack.base_url, &ana[3], "/v1/contacts").await.status, StatusCode::OK);

    // $10 of balance: exactly 200 more messages at $0.05, then 402 again.
    let session = product_checkout_session("cs_balance_ana", "ana", "cus_ana", "balance_10", "pi_balance_ana");
    let (status, body) = stack.deliver(&event("evt_balance_ana", "checkout.session.completed", now().0, session)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    stack.settled(body["id"].as_str().unwrap()).await;
    assert_eq!(me(&stack, "ana").await["balance"]["amount"], 1_000);
    let paid = calls_over(&stack, &ana, "/v1/messages", 201).await;
    assert_eq!(count(&paid, StatusCode::OK, None), 200);
    assert_eq!(paid[200].code(), Some("insufficient_balance"));

    // The account sees it all once the counts reach the origin; the balance ran low once.
    assert!(
        eventually(PATIENCE, || async { meter(&me(&stack, "ana").await, "messages")["used"] == 250 }).await,
        "{}",
        me(&stack, "ana").await
    );
    let standing = me(&stack, "ana").await;
    assert_eq!(
        (meter(&standing, "messages")["remaining"].as_u64(), meter(&standing, "ai_runs")["used"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(standing["balance"], json!({"amount": 0, "amount_micros": 0, "currency": "usd"}));
    let limits = stack.get_as("ana", "/api/me/limits").await;
    assert_eq!(limits["can_use"], json!({"requests": true, "messages": false, "ai_runs": false}));
    let low = || async {
        let (_, body) = stack.admin_get("/admin/alerts").await;
        body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "balance_low" && a["account_id"] == "ana")
            .count()
    };
    assert!(eventually(PATIENCE, || async { low().await == 1 }).await, "balance_low is raised once");

    // Starter: 2,000 messages and AI without limit.
    subscribe(&stack, "bea", "cus_bea", "agency_starter_monthly").await;
    let bea = keys(&stack, "bea", 1).await;
    let runs = calls_over(&stack, &bea, "/v1/agents", 5).await;
    assert_eq!(count(&runs, StatusCode::OK, None), 5);
    let message = call(&stack.http, &stack.base_url, &bea[0], "/v1/messages").await;
    assert_eq!(message.header("x-quota-remaining"), Some("1999"));
    let standing = me(&stack, "bea").await;
    assert_eq!(
        (standing["plan"].as_str(), meter(&standing, "messages")["quota"].as_u64()),
        (Some("starter"), Some(2_000))
    );
    assert_eq!(meter(&standing, "ai_runs")["quota"], Value::Null);
    // Partner: 50,000 messages.
    subscribe(&stack, "cid", "cus_cid", "agency_partner_monthly").await;
    let cid = keys(&stack, "cid", 1).await;
    let message = call(&stack.http, &stack.base_url, &cid[0], "/v1/messages").await;
    assert_eq!((message.status, message.header("x-quota-remaining")), (StatusCode::OK, Some("49999")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_music_brief_allows_three_generations_a_day_free_and_its_tiers_per_month() {
    let stack = stack_on(&example("music.toml")).await;
    let priced: Vec<_> =
        plans(&stack).await.into_iter().map(|(sku, cents, meters)| (sku, cents, meters[1].1)).collect();
    assert_eq!(
        priced,
        [
            ("free".to_owned(), 0, Some(3)),
            ("creator".to_owned(), 999, Some(50)),
            ("pro".to_owned(), 2_999, Some(200)),
            ("studio".to_owned(), 9_999, Some(1_000)),
        ]
    );
    // FREE: three generations today over two keys, then 402 and canGenerate false.
    let eve = keys(&stack, "eve", 2).await;
    let made = calls_over(&stack, &eve, "/v1/generations", 4).await;
    assert_eq!(made.iter().map(|a| a.status).collect::<Vec<_>>()[..3], [StatusCode::OK; 3]);
    assert_eq!((made[3].status, made[3].code()), (StatusCode::PAYMENT_REQUIRED, Some("quota_exceeded")));
    assert_eq!(made[3].body["error"]["meter"], "generations");
    // The quota restarts at the next midnight of the business's zone.
    let reset: u64 = made[2].header("x-quota-reset").unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&reset), "{reset}");
    assert_eq!(call(&stack.http, &stack.base_url, &eve[0], "/v1/library").await.status, StatusCode::OK);
    assert!(eventually(PATIENCE, || async { meter(&me(&stack, "eve").await, "generations")["used"] == 3 }).await);
    let limits = stack.get_as("eve", "/api/me/limits").await;
    assert_eq!(limits["can_use"]["generations"], false);
    assert_eq!(limits["meters"]["generations"]["per"], "day");

    // CREATOR: 50 in the billing month, then 402.
    subscribe(&stack, "fin", "cus_fin", "music_creator_monthly").await;
    let fin = keys(&stack, "fin", 1).await;
    let made = calls_over(&stack, &fin, "/v1/generations", 51).await;
    assert_eq!(count(&made, StatusCode::OK, None), 50);
    assert_eq!(made[50].code(), Some("quota_exceeded"));
    // PRO and STUDIO: 200 and 1,000.
    for (account, lookup_key, quota) in [("gil", "music_pro_monthly", "199"), ("hub", "music_studio_monthly", "999")] {
        subscribe(&stack, account, &format!("cus_{account}"), lookup_key).await;
        let key = keys(&stack, account, 1).await;
        let made = call(&stack.http, &stack.base_url, &key[0], "/v1/generations").await;
        assert_eq!((made.status, made.header("x-quota-remaining")), (StatusCode::OK, Some(quota)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_accounts_quota_and_balance_are_exact_across_four_keys_at_once() {
    // 150 messages a period, 50 used first: 200 calls at once over four keys allow 100.
    let agency = std::fs::read_to_string(example("agency.toml")).unwrap();
    let catalog = catalog_from(
        &agency,
        &[
            (
                "requests_per_minute = 60\n\n[sku.limits.messages]\nquota = 50\noverage = \"balance\"",
                "requests_per_minute = 1000\n\n[sku.limits.messages]\nquota = 150\noverage = \"block\"",
            ),
            ("unit_amount_decimal = \"5\"\n\n[sku.limits.ai_runs]", "\n[sku.limits.ai_runs]"),
        ],
    );
    let stack = stack_on(&catalog).await;
    let four = keys(&stack, "ivy", 4).await;
    assert_eq!(count(&calls_over(&stack, &four, "/v1/messages", 50).await, StatusCode::OK, None), 50);
    let answers = call_keys_at_once(&stack.http, &stack.base_url, &four, "/v1/messages", 200).await;
    assert_eq!(count(&answers, StatusCode::OK, None), 100);
    assert_eq!(count(&answers, StatusCode::PAYMENT_REQUIRED, Some("quota_exceeded")), 100);
    assert!(eventually(PATIENCE, || async { meter(&me(&stack, "ivy").await, "messages")["used"] == 150 }).await);

    // A $10 balance at 5 cents a message over four keys at once: exactly 200 paid.
    let stack =
        stack_on(&catalog_from(&agency, &[("requests_per_minute = 60\n", "requests_per_minute = 1000\n")])).await;
    let four = keys(&stack, "jay", 4).await;
    let session = product_checkout_session("cs_balance_jay", "jay", "cus_jay", "balance_10", "pi_balance_jay");
    let (status, body) = stack.deliver(&event("evt_balance_jay", "checkout.session.completed", now().0, session)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    stack.settled(body["id"].as_str().unwrap()).await;
    assert_eq!(me(&stack, "jay").await["balance"]["amount"], 1_000);
    let answers = call_keys_at_once(&stack.http, &stack.base_url, &four, "/v1/messages", 400).await;
    assert_eq!(count(&answers, StatusCode::OK, None), 250, "50 in the quota and 200 from the balance");
    assert_eq!(count(&answers, StatusCode::PAYMENT_REQUIRED, Some("insufficient_balance")), 150);
    assert!(
        eventually(PATIENCE, || async {
            let standing = me(&stack, "jay").await;
            meter(&standing, "messages")["used"] == 250 && standing["balance"]["amount_micros"] == 0
        })
        .await,
        "{}",
        me(&stack, "jay").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refunded_top_up_takes_back_what_is_left_of_it_and_no_more() {
    let agency = std::fs::read_to_string(example("agency.toml")).unwrap();
    let stack =
        stack_on(&catalog_from(&agency, &[("requests_per_minute = 60\n", "requests_per_minute = 1000\n")])).await;
    let lea = keys(&stack, "lea", 2).await;
    top_up(&stack, "lea", "pi_lea_1").await;
    // 50 messages in the quota and 60 at five cents: $3 of the $10 spent.
    assert_eq!(count(&calls_over(&stack, &lea, "/v1/messages", 110).await, StatusCode::OK, None), 110);
    assert!(eventually(PATIENCE, || async { balance_micros(&stack, "lea").await == 7_000_000 }).await);

    // A $4 refund takes back $4 of what is left; the full refund the remaining $3.
    let refund = |id: &str, refunded| {
        event(id, "charge.refunded", now().0, charge_refunded("ch_lea_1", "cus_lea", 1_000, refunded, "pi_lea_1"))
    };
    applied(&stack, refund("evt_refund_lea_part", 400)).await;
    assert_eq!(balance_micros(&stack, "lea").await, 3_000_000);
    applied(&stack, refund("evt_refund_lea_full", 1_000)).await;
    applied(&stack, refund("evt_refund_lea_full", 1_000)).await;
    assert_eq!(balance_micros(&stack, "lea").await, 0, "what was spent stays spent; nothing is taken twice");
    let refused = call(&stack.http, &stack.base_url, &lea[0], "/v1/messages").await;
    assert_eq!(refused.code(), Some("insufficient_balance"));

    // The next top-up is whole: the refunded one left no debt behind.
    top_up(&stack, "lea", "pi_lea_2").await;
    assert_eq!(balance_micros(&stack, "lea").await, 10_000_000);
    let paid = call_keys_at_once(&stack.http, &stack.base_url, &lea, "/v1/messages", 250).await;
    assert_eq!(count(&paid, StatusCode::OK, None), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_automation_brief_allows_its_plans_requests_and_bills_pro_beyond_them() {
    let stack = stack_on(&example("automation.toml")).await;
    // Calls, and the runs of the workflows it sells as APIs ("API Monetizada").
    let meters = |requests: Option<u64>, generations: Option<u64>| {
        vec![("requests".to_owned(), requests), ("generations".to_owned(), generations)]
    };
    assert_eq!(
        plans(&stack).await,
        [
            ("api_free".into(), 0, meters(Some(100), Some(5))),
            ("api_pro".into(), 2_999, meters(Some(10_000), Some(1_000))),
            ("api_enterprise".into(), 29_999, meters(None, None)),
        ]
    );
    // Free: 100 requests a month over two keys (100 a minute each), then 402.
    let kim = keys(&stack, "kim", 2).await;
    let made = calls_over(&stack, &kim, "/v1/reports", 101).await;
    assert_eq!(count(&made, StatusCode::OK, None), 100);
    assert_eq!(made[100].code(), Some("quota_exceeded"));
    // Pro: 10,000 a period, and past them billed, never refused.
    subscribe(&stack, "lou", "cus_lou", "api_pro_monthly").await;
    let lou = keys(&stack, "lou", 1).await;
    let answer = call(&stack.http, &stack.base_url, &lou[0], "/v1/reports").await;
    assert_eq!((answer.status, answer.header("x-quota-remaining")), (StatusCode::OK, Some("9999")));
    let standing = me(&stack, "lou").await;
    assert_eq!(
        (meter(&standing, "requests")["overage"].as_str(), standing["plan"].as_str()),
        (Some("bill"), Some("pro"))
    );
}
