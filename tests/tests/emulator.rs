//! The emulated Stripe of `tollgate dev` (`TOLLGATE_STRIPE=emulated`): a purchase clicked
//! through its Checkout page in headless Chromium, its wire format (idempotency replay,
//! errors, event paging), its webhooks (signatures checked by Stripe's own Node package,
//! retries, chaos), and the whole money path with no Stripe account: buy, renew, refund,
//! onboard a partner and pay them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;
use tollgate_tests::browser::Browser;
use tollgate_tests::emulated::{Emulated, param};
use tollgate_tests::recorder::Recorder;
use tollgate_tests::stack::{TestStack, WEBHOOK_SECRET, token};
use tollgate_tests::stripe::stripe_sdk;

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|event| event["type"].as_str().unwrap()).collect()
}

fn position(events: &[Value], event_type: &str) -> usize {
    events.iter().position(|event| event["type"] == event_type).unwrap_or_else(|| panic!("no {event_type}"))
}

#[tokio::test]
async fn a_purchase_clicked_through_checkout_makes_the_events_stripe_documents_in_a_valid_order() {
    let emulated = Emulated::start(&[]).await;
    let stack = &emulated.stack;
    let before = emulated.events().await.len();
    let url = emulated.checkout("user_clicker", json!({"sku": "api_pro"})).await;
    assert!(url.starts_with(&stack.url("/stripe/checkout/cs_test_")), "{url}");

    let page = stack.http.get(&url).send().await.unwrap();
    assert_eq!(
        page.headers()["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    );
    let page = page.text().await.unwrap();
    assert!(page.contains("<form method=\"post\">") && !page.contains("<script"), "plain HTML, no JavaScript");
    let browser = Browser::start(1024, 800).await;
    browser.client.goto(&url).await.unwrap();
    let amount = browser.element("[data-testid=checkout-amount]").await.text().await.unwrap();
    assert!(amount.contains("29.99 USD"), "{amount}");
    browser.element("#card").await.send_keys("4000 0000 0000 0002").await.unwrap();
    browser.click("[data-testid=pay]").await;
    let declined = browser.element("[data-testid=card-error]").await.text().await.unwrap();
    assert_eq!(declined, "Your card was declined.");
    let after_decline = emulated.events().await;
    assert_eq!(
        types(&after_decline[before..]),
        ["customer.created"],
        "a declined card makes no payment, subscription or invoice"
    );

    browser.element("#card").await.send_keys("4242 4242 4242 4242").await.unwrap();
    browser.click("[data-testid=pay]").await;
    // The default success URL comes back to the account page.
    browser.until("Checkout sends the buyer back", "location.pathname === '/account'").await;
    assert_eq!(browser.client.current_url().await.unwrap().query(), Some("checkout=success"));

    let settled = emulated.all_applied().await;
    let me = emulated.me("user_clicker").await;
    assert_eq!(me["plan"], "pro", "{me}");
    let events = emulated.events().await;
    let purchase = &events[after_decline.len()..];
    assert_eq!(
        types(purchase),
        [
            "customer.subscription.created",
            "invoice.created",
            "invoice.finalized",
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated",
            "checkout.session.completed",
        ]
    );
    // Each object moves forward only: the invoice draft → open → paid, the intent created →
    // succeeded, and every event about one subscription strictly later than the one before.
    let invoice_states: Vec<&str> = purchase
        .iter()
        .filter(|e| e["data"]["object"]["object"] == "invoice")
        .map(|e| e["data"]["object"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(invoice_states, ["draft", "open", "paid", "paid"]);
    assert!(position(purchase, "payment_intent.created") < position(purchase, "payment_intent.succeeded"));
    let subscription_times: Vec<i64> = purchase
        .iter()
        .filter(|e| e["data"]["object"]["object"] == "subscription")
        .map(|e| e["created"].as_i64().unwrap())
        .collect();
    assert!(subscription_times.windows(2).all(|pair| pair[0] < pair[1]), "{subscription_times:?}");
    // What ties them together, as tollgate reads it.
    let session = &purchase[position(purchase, "checkout.session.completed")]["data"]["object"];
    let subscription = &purchase[position(purchase, "customer.subscription.updated")]["data"]["object"];
    let invoice = &purchase[position(purchase, "invoice.paid")]["data"]["object"];
    let intent = &purchase[position(purchase, "payment_intent.succeeded")]["data"]["object"];
    assert_eq!(session["subscription"], subscription["id"]);
    assert_eq!(session["client_reference_id"], "user_clicker");
    assert_eq!(subscription["latest_invoice"], invoice["id"]);
    assert_eq!(subscription["metadata"]["account_id"], "user_clicker");
    assert_eq!(subscription["items"]["data"][0]["price"]["lookup_key"], "api_pro_monthly");
    assert_eq!(invoice["parent"]["subscription_details"]["subscription"], subscription["id"]);
    assert_eq!(invoice["payments"]["data"][0]["payment"]["payment_intent"], intent["id"]);
    assert_eq!((invoice["amount_paid"].as_i64(), intent["amount_received"].as_i64()), (Some(2999), Some(2999)));
    assert!(purchase.iter().all(|e| e["api_version"] == tollgate_core::STRIPE_API_VERSION));
    // tollgate received every event it subscribes to once, and applied (or rightly skipped) each.
    for event in
        purchase.iter().filter(|e| tollgate_core::change::HANDLED_EVENT_TYPES.contains(&e["type"].as_str().unwrap()))
    {
        let received: Vec<&Value> = settled.iter().filter(|s| s["id"] == event["id"]).collect();
        assert_eq!(received.len(), 1, "{}", event["type"]);
        assert!(matches!(received[0]["status"].as_str(), Some("applied" | "skipped")), "{}", received[0]);
    }
    assert_eq!(
        stack.ledger("user_clicker").await.iter().map(|e| e["amount_cents"].as_i64().unwrap()).sum::<i64>(),
        2999
    );
}

#[tokio::test]
async fn the_api_speaks_stripes_wire_format_replays_idempotent_requests_and_pages_events() {
    let mut emulated = Emulated::start(&[]).await;
    let form = [("email", "jenny@example.com"), ("metadata[account_id]", "user_jenny")];
    let (status, first) = emulated.stripe(Method::POST, "/v1/customers", &form, Some("key-1")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first["id"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(
        (first["object"].as_str(), first["metadata"]["account_id"].as_str()),
        (Some("customer"), Some("user_jenny"))
    );
    let replay = emulated
        .stack
        .http
        .post(emulated.stack.url("/stripe/v1/customers"))
        .bearer_auth(&emulated.key)
        .header("Idempotency-Key", "key-1")
        .form(&[("metadata[account_id]", "user_jenny"), ("email", "jenny@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true", "parameters in another order are the same request");
    assert_eq!(replay.headers()["stripe-version"], tollgate_core::STRIPE_API_VERSION);
    assert_eq!(replay.json::<Value>().await.unwrap(), first, "the same key and parameters answer the first answer");
    let (status, other) =
        emulated.stripe(Method::POST, "/v1/customers", &[("email", "someone@else.com")], Some("key-1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(other["error"]["type"], "idempotency_error");
    let (_, listed) = emulated.stripe(Method::GET, "/v1/events?type=customer.created", &[], None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "a replay creates nothing");

    // Meter events: an identifier counts once.
    let meter = |value: &'static str| {
        [
            ("event_name", "api_requests"),
            ("payload[stripe_customer_id]", "cus_x"),
            ("payload[value]", value),
            ("identifier", "usage-1"),
        ]
    };
    let (status, counted) = emulated.stripe(Method::POST, "/v1/billing/meter_events", &meter("7"), None).await;
    assert_eq!((status, counted["payload"]["value"].as_str()), (StatusCode::OK, Some("7")));
    let (_, dropped) = emulated.stripe(Method::POST, "/v1/billing/meter_events", &meter("9"), None).await;
    assert_eq!(dropped["payload"]["value"], "7", "the second one with the same identifier is dropped");

    // Errors as Stripe words them.
    let (status, missing) = emulated.stripe(Method::GET, "/v1/customers/cus_nobody", &[], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        (missing["error"]["type"].as_str(), missing["error"]["code"].as_str(), missing["error"]["param"].as_str()),
        (Some("invalid_request_error"), Some("resource_missing"), Some("id"))
    );
    let (status, no_param) = emulated.stripe(Method::POST, "/v1/prices", &[("currency", "usd")], None).await;
    assert_eq!((status, no_param["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("parameter_missing")));
    let unauthorized = emulated
        .stack
        .http
        .get(emulated.stack.url("/stripe/v1/events"))
        .bearer_auth("sk_test_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    // Any version Stripe's SDKs send is taken, answered in the shapes of the pinned one.
    let with_version = |version: &'static str| {
        emulated
            .stack
            .http
            .get(emulated.stack.url("/stripe/v1/events"))
            .bearer_auth(&emulated.key)
            .header("Stripe-Version", version)
            .send()
    };
    let other_version = with_version("2020-08-27").await.unwrap();
    assert_eq!(other_version.status(), StatusCode::OK);
    assert_eq!(other_version.headers()["stripe-version"], tollgate_core::STRIPE_API_VERSION);
    assert_eq!(with_version("2026-10-28.endive").await.unwrap().status(), StatusCode::OK);
    let malformed = with_version("yesterday").await.unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(malformed.json::<Value>().await.unwrap()["error"]["code"], "api_version_invalid");
    let (status, refund) =
        emulated.stripe(Method::POST, "/v1/refunds", &[("payment_intent", "pi_nothing")], None).await;
    assert_eq!((status, refund["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("resource_missing")));

    // 24 more customers: 25 customer.created events, paged 10 at a time, newest first.
    for n in 0..24 {
        let email = format!("buyer{n}@example.com");
        assert_eq!(emulated.stripe(Method::POST, "/v1/customers", &[("email", &email)], None).await.0, StatusCode::OK);
    }
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut path = "/v1/events?type=customer.created&limit=10".to_owned();
    loop {
        let (status, page) = emulated.stripe(Method::GET, &path, &[], None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let data = page["data"].as_array().unwrap();
        pages.push((data.len(), page["has_more"].as_bool().unwrap()));
        seen.extend(data.iter().cloned());
        if page["has_more"] != true {
            break;
        }
        path = format!(
            "/v1/events?type=customer.created&limit=10&starting_after={}",
            data.last().unwrap()["id"].as_str().unwrap()
        );
    }
    assert_eq!(pages, [(10, true), (10, true), (5, false)]);
    let ids: HashSet<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 25, "no event twice, none left out");
    assert!(seen.windows(2).all(|pair| pair[0]["created"].as_i64() >= pair[1]["created"].as_i64()), "newest first");
    assert_eq!(seen.last().unwrap()["data"]["object"]["id"], first["id"], "the first customer comes last");
    // `ending_before` pages back towards the newest.
    let back = format!("/v1/events?type=customer.created&limit=3&ending_before={}", seen[5]["id"].as_str().unwrap());
    let (_, page) = emulated.stripe(Method::GET, &back, &[], None).await;
    let back_ids: Vec<&Value> = page["data"].as_array().unwrap().iter().map(|e| &e["id"]).collect();
    assert_eq!(back_ids, [&seen[2]["id"], &seen[3]["id"], &seen[4]["id"]]);
    assert_eq!(page["has_more"], true);
    // `created` filters and `types[]`.
    let newest = seen[0]["created"].as_i64().unwrap();
    let (_, later) = emulated.stripe(Method::GET, &format!("/v1/events?created[gt]={newest}"), &[], None).await;
    assert_eq!(later["data"].as_array().unwrap().len(), 0);
    let (_, both) = emulated
        .stripe(Method::GET, "/v1/events?types[]=customer.created&types[]=price.created&limit=100", &[], None)
        .await;
    let both_types: HashSet<&str> =
        both["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(both_types, HashSet::from(["customer.created", "price.created"]));
    let (_, limit) = emulated.stripe(Method::GET, "/v1/events?limit=101", &[], None).await;
    assert_eq!(limit["error"]["param"], "limit");
    // Retrieved by id, and kept across a restart (the state is in the data directory).
    let one = seen[7].clone();
    emulated.stack.kill_and_restart().await;
    let (status, retrieved) =
        emulated.stripe(Method::GET, &format!("/v1/events/{}", one["id"].as_str().unwrap()), &[], None).await;
    assert_eq!((status, retrieved), (StatusCode::OK, one));
    let (_, replayed) = emulated.stripe(Method::POST, "/v1/customers", &form, Some("key-1")).await;
    assert_eq!(replayed["id"], first["id"], "idempotency keys survive a restart too");
}

#[tokio::test]
async fn webhooks_are_signed_as_stripes_sdk_verifies_and_retried_until_the_endpoint_answers() {
    // An endpoint that is not listening yet: every first try fails.
    let address = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let endpoint = format!("http://{address}/hooks");
    let emulated = Emulated::start_logged(&[("STRIPE_EMULATOR_WEBHOOK_URL", &endpoint)]).await;
    emulated.stack.sign_in("user_signed").await;
    emulated.buy("user_signed", json!({"sku": "api_pro"})).await;
    let handled = tollgate_core::change::HANDLED_EVENT_TYPES;
    let owed: Vec<String> = emulated
        .events()
        .await
        .into_iter()
        .filter(|e| handled.contains(&e["type"].as_str().unwrap()))
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(owed.len(), 5, "the events tollgate's endpoint subscribes to");
    // Every first try fails (nothing listens yet) and is kept for a retry.
    emulated
        .until("each delivery fails once", || async {
            let log = emulated.stack.log();
            let failed: Vec<&str> = log.lines().filter(|line| line.contains("webhook delivery failed")).collect();
            owed.iter().all(|id| failed.iter().any(|line| line.contains(id.as_str())))
        })
        .await;
    let recorder = Recorder::start_on(&address.to_string()).await;
    emulated
        .until("the retries reach the endpoint", || async {
            let got: HashSet<String> = recorder
                .seen()
                .iter()
                .map(|seen| serde_json::from_str::<Value>(&seen.body).unwrap()["id"].as_str().unwrap().to_owned())
                .collect();
            owed.iter().all(|id| got.contains(id))
        })
        .await;
    let seen = recorder.seen();
    assert!(seen.iter().all(|s| s.method == Method::POST && s.target == "/hooks"));
    let mut cases: Vec<Value> = seen
        .iter()
        .map(|s| {
            let header = s.headers["stripe-signature"].to_str().unwrap();
            json!({"op": "verify", "payload": s.body, "header": header, "secret": WEBHOOK_SECRET})
        })
        .collect();
    let tampered = seen[0].body.replacen("\"livemode\":false", "\"livemode\":true", 1);
    cases.push(json!({"op": "verify", "payload": tampered, "header": seen[0].headers["stripe-signature"].to_str().unwrap(), "secret": WEBHOOK_SECRET}));
    let verdicts = stripe_sdk(&Value::Array(cases));
    let (tampered_verdict, genuine) = verdicts.split_last().unwrap();
    assert!(genuine.iter().all(|verdict| verdict == "ok"), "{verdicts:?}");
    assert_eq!(tampered_verdict, "StripeSignatureVerificationError");
    // Delivered: not sent again.
    let delivered = recorder.seen().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(recorder.seen().len(), delivered);
}

/// `account`'s ledger entries of `kind`, their amounts.
async fn amounts(stack: &TestStack, account: &str, kind: &str) -> Vec<i64> {
    let mut found: Vec<i64> = stack
        .ledger(account)
        .await
        .iter()
        .filter(|entry| entry["kind"] == kind)
        .map(|entry| entry["amount_cents"].as_i64().unwrap())
        .collect();
    found.sort_unstable();
    found
}

#[tokio::test]
async fn with_chaos_every_event_arrives_twice_out_of_order_and_is_applied_once() {
    let emulated = Emulated::start_logged(&[
        ("TOLLGATE_STRIPE_CHAOS", "true"),
        ("RUST_LOG", "warn,tollgate_stripe_emulator::webhooks=debug"),
    ])
    .await;
    let stack = &emulated.stack;
    stack.sign_in("user_referrer").await;
    emulated.buy("user_referrer", json!({"sku": "api_pro"})).await;
    emulated.buy("user_chaos", json!({"sku": "api_pro", "referral_code": "user_referrer"})).await;
    emulated.all_applied().await;
    let customer = stack.account("user_chaos").await["stripe_customer_id"].as_str().unwrap().to_owned();
    let (status, advanced) =
        stack.admin_send(Method::POST, &format!("/admin/customers/{customer}/advance"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{advanced}");
    assert_eq!(advanced["invoices"].as_array().unwrap().len(), 1);
    emulated.all_applied().await;
    let first_payment =
        stack.ledger("user_chaos").await.iter().find(|e| e["kind"] == "payment").unwrap()["payment_ref"]
            .as_str()
            .unwrap()
            .to_owned();
    let (status, refund) = emulated
        .stripe(Method::POST, "/v1/refunds", &[("payment_intent", &first_payment), ("amount", "1000")], None)
        .await;
    assert_eq!(status, StatusCode::OK, "{refund}");
    let settled = emulated.all_applied().await;

    let ids: Vec<&str> = settled.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), ids.iter().collect::<HashSet<_>>().len(), "each event is recorded once");
    // The emulator's log of what it sent: every event twice, and some before an older one.
    let log = stack.log();
    let sent: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("webhook sent"))
        .filter_map(|line| line.split("event=").nth(1)?.split_whitespace().next())
        .collect();
    let made: Vec<String> = emulated.events().await.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    for id in &ids {
        assert!(sent.iter().filter(|s| *s == id).count() >= 2, "{id} was sent once: {sent:?}");
    }
    let order = |id: &str| made.iter().position(|m| m == id).unwrap();
    assert!(sent.windows(2).any(|pair| order(pair[0]) > order(pair[1])), "nothing arrived out of order");
    assert!(settled.iter().all(|e| e["status"] != "failed"), "{settled:?}");
    assert_eq!(amounts(stack, "user_chaos", "payment").await, [2999, 2999], "two paid invoices, once each");
    assert_eq!(amounts(stack, "user_chaos", "refund").await, [-1000]);
    assert_eq!(amounts(stack, "user_referrer", "commission").await, [599, 599], "20 % of each payment to the referrer");
    // 1,000 of 2,999 back: that share of the 599 commission, rounded toward the referrer.
    assert_eq!(amounts(stack, "user_referrer", "commission_reversal").await, [-199]);
    // The newest state won, whatever order the events came in.
    let account = stack.account("user_chaos").await;
    let (status, subscription) =
        emulated.stripe(Method::GET, &format!("/v1/subscriptions?customer={customer}"), &[], None).await;
    assert_eq!(status, StatusCode::OK);
    let item = &subscription["data"][0]["items"]["data"][0];
    assert_eq!(account["current_period_end"], item["current_period_end"], "{account}");
    assert_eq!((account["plan"].as_str(), account["subscription_status"].as_str()), (Some("pro"), Some("active")));
}

#[tokio::test]
async fn with_no_stripe_account_the_stack_sells_renews_refunds_and_pays_a_partner() {
    let emulated = Emulated::start(&[("PAYOUT_MINIMUM_CENTS", "500")]).await;
    let stack = &emulated.stack;
    // A partner onboards through the account link's page; its submit enables payouts.
    stack.sign_in("user_partner").await;
    let response = stack
        .http
        .post(stack.url("/api/me/payouts/onboarding"))
        .bearer_auth(token("user_partner", None))
        .send()
        .await
        .unwrap();
    let link = response.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned();
    let page = stack.http.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("data-testid=\"connect-submit\"") && !page.contains("<script"), "plain HTML");
    let (status, next) = emulated.pay(&link, "").await;
    assert_eq!((status, next.as_deref()), (StatusCode::SEE_OTHER, Some(stack.url("/account").as_str())));
    let (status, again) = emulated.pay(&link, "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(again.unwrap().contains("payouts=refresh"), "an account link works once");

    // A buyer pays with the card that fails later, referred by the partner.
    let url = emulated.checkout("user_buyer", json!({"sku": "api_pro", "referral_code": "user_partner"})).await;
    assert_eq!(emulated.pay(&url, "4000 0000 0000 0341").await.0, StatusCode::SEE_OTHER);
    let (status, complete) = emulated.pay(&url, "4242 4242 4242 4242").await;
    assert_eq!(status, StatusCode::OK, "a completed session takes no second payment");
    let _ = complete;
    emulated.all_applied().await;
    assert_eq!(emulated.me("user_buyer").await["plan"], "pro");
    // The session counts once as started and once as completed today; the buyer who paid is active.
    let (_, metrics) = stack.admin_get("/admin/metrics").await;
    let today = &metrics["revenue_by_day"][0];
    assert_eq!(
        [
            &today["checkouts_started"],
            &today["checkouts_completed"],
            &today["conversion_bp"],
            &today["active_accounts"]
        ],
        [&json!(1), &json!(1), &json!(10_000), &json!(1)],
        "{today}"
    );
    let standing = |account: &'static str| async move {
        let response =
            stack.http.get(stack.url("/api/me/payouts")).bearer_auth(token(account, None)).send().await.unwrap();
        response.json::<Value>().await.unwrap()
    };
    assert_eq!(standing("user_partner").await["payouts_enabled"], true);

    // The renewal fails: invoice.payment_failed makes the plan past due.
    let customer = stack.account("user_buyer").await["stripe_customer_id"].as_str().unwrap().to_owned();
    let advance = format!("/admin/customers/{customer}/advance");
    assert_eq!(stack.admin_send(Method::POST, &advance, &json!({})).await.0, StatusCode::OK);
    emulated.all_applied().await;
    assert_eq!(stack.account("user_buyer").await["subscription_status"], "past_due");
    assert!(emulated.events().await.iter().any(|e| e["type"] == "invoice.payment_failed"));

    // The portal: a good card, then cancel at period end.
    let portal = emulated.portal("user_buyer").await;
    assert!(
        emulated
            .portal_form(&portal, &[("action", "card"), ("card", "4242424242424242")])
            .await
            .contains("Card updated.")
    );
    assert_eq!(stack.admin_send(Method::POST, &advance, &json!({})).await.0, StatusCode::OK);
    emulated.all_applied().await;
    assert_eq!(stack.account("user_buyer").await["subscription_status"], "active");
    let (_, subscriptions) =
        emulated.stripe(Method::GET, &format!("/v1/subscriptions?customer={customer}"), &[], None).await;
    let subscription = subscriptions["data"][0]["id"].as_str().unwrap().to_owned();
    let page = emulated.portal_form(&portal, &[("action", "cancel"), ("subscription", &subscription)]).await;
    assert!(page.contains("Your plan ends at the end of the period."), "{page}");
    assert!(
        emulated
            .portal_form(&portal, &[("action", "cancel"), ("subscription", "sub_someone_else")])
            .await
            .contains("No such subscription.")
    );

    // Two paid invoices (the first and the third): a commission on each; a full refund of
    // the first takes its commission back.
    emulated.all_applied().await;
    let payments = stack.ledger("user_buyer").await;
    let paid: Vec<&str> =
        payments.iter().filter(|e| e["kind"] == "payment").map(|e| e["payment_ref"].as_str().unwrap()).collect();
    assert_eq!(paid.len(), 2, "{payments:?}");
    let (status, refund) = emulated.stripe(Method::POST, "/v1/refunds", &[("payment_intent", paid[0])], None).await;
    assert_eq!((status, refund["amount"].as_i64()), (StatusCode::OK, Some(2999)), "{refund}");
    let (status, twice) = emulated.stripe(Method::POST, "/v1/refunds", &[("payment_intent", paid[0])], None).await;
    assert_eq!((status, twice["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("charge_already_refunded")));
    emulated.all_applied().await;
    assert_eq!(amounts(stack, "user_partner", "commission").await, [599, 599]);
    assert_eq!(amounts(stack, "user_partner", "commission_reversal").await, [-599]);

    // The payout run pays the partner what is left (held 0 days on the emulator), once.
    let (status, run) = stack.admin_send(Method::POST, "/admin/payouts/run", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["paid"][0]["amount"], 599, "{run}");
    let group = format!("/v1/transfers?transfer_group=tollgate-payout-{}", run["period"].as_str().unwrap());
    let (_, transfers) = emulated.stripe(Method::GET, &group, &[], None).await;
    let transfer = &transfers["data"][0];
    assert_eq!(
        (transfer["amount"].as_i64(), transfer["metadata"]["account_id"].as_str()),
        (Some(599), Some("user_partner"))
    );
    let (_, rerun) = stack.admin_send(Method::POST, "/admin/payouts/run", &json!({})).await;
    assert_eq!(rerun["paid"].as_array().unwrap().len(), 0, "{rerun}");
    assert_eq!(standing("user_partner").await["balance"]["paid"], 599);

    // Reconciliation lists the emulator's events as it lists Stripe's: none was missed.
    let (status, reconciled) = stack.admin_send(Method::POST, "/admin/reconcile", &json!({"since": "1h"})).await;
    assert_eq!(status, StatusCode::OK, "{reconciled}");
    assert!(reconciled["listed"].as_u64().unwrap() >= 10, "{reconciled}");
    assert_eq!(
        (reconciled["new"].as_u64(), reconciled["listed"].as_u64()),
        (Some(0), reconciled["already_had"].as_u64())
    );

    // At the period end the cancelled subscription ends, and the plan with it.
    assert_eq!(stack.admin_send(Method::POST, &advance, &json!({})).await.0, StatusCode::OK);
    emulated.all_applied().await;
    assert!(emulated.events().await.iter().any(|e| e["type"] == "customer.subscription.deleted"));
    assert_ne!(emulated.me("user_buyer").await["plan"], "pro");
}

#[tokio::test]
async fn the_portal_switches_the_plan_at_the_period_end_and_not_before() {
    let emulated = Emulated::start(&[]).await;
    let stack = &emulated.stack;
    emulated.buy("user_switcher", json!({"sku": "api_pro"})).await;
    emulated.all_applied().await;
    let (_, prices) = emulated.stripe(Method::GET, "/v1/prices?lookup_keys[0]=api_enterprise_monthly", &[], None).await;
    let enterprise = prices["data"][0]["id"].as_str().unwrap().to_owned();
    let response =
        stack.http.post(stack.url("/api/portal")).bearer_auth(token("user_switcher", None)).send().await.unwrap();
    let portal = response.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned();
    let page = stack.http.get(&portal).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("data-testid=\"portal-switch\"") && !page.contains("<script"), "plain HTML: {page}");
    let customer = stack.account("user_switcher").await["stripe_customer_id"].as_str().unwrap().to_owned();
    let (_, subscriptions) =
        emulated.stripe(Method::GET, &format!("/v1/subscriptions?customer={customer}"), &[], None).await;
    let subscription = subscriptions["data"][0]["id"].as_str().unwrap().to_owned();
    let form = [("action", "switch"), ("subscription", subscription.as_str()), ("price", enterprise.as_str())];
    let switched = stack.http.post(&portal).form(&form).send().await.unwrap().text().await.unwrap();
    assert!(switched.contains("The new plan starts at the end of the period."), "{switched}");
    emulated.all_applied().await;
    assert_eq!(emulated.me("user_switcher").await["plan"], "pro", "the period paid for stays Pro");

    let (status, _) = stack.admin_send(Method::POST, &format!("/admin/customers/{customer}/advance"), &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    emulated.all_applied().await;
    assert_eq!(emulated.me("user_switcher").await["plan"], "enterprise");
    assert_eq!(
        amounts(stack, "user_switcher", "payment").await,
        [2999, 29999],
        "the new period is invoiced at the new price"
    );
}

#[test]
fn no_lambda_function_links_the_emulator() {
    let metadata = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .unwrap();
    assert!(metadata.status.success(), "{}", String::from_utf8_lossy(&metadata.stderr));
    let metadata: Value = serde_json::from_slice(&metadata.stdout).unwrap();
    let nodes = metadata["resolve"]["nodes"].as_array().unwrap();
    let name_of = |id: &str| {
        metadata["packages"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap()["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Everything a package links, its normal dependencies followed all the way down.
    let closure = |root: &str| {
        let mut seen: HashSet<String> = HashSet::new();
        let mut todo = vec![root.to_owned()];
        while let Some(id) = todo.pop() {
            let node = nodes.iter().find(|n| n["id"] == id.as_str()).unwrap();
            for dep in node["deps"].as_array().unwrap() {
                let normal = dep["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null());
                let dep_id = dep["pkg"].as_str().unwrap().to_owned();
                if normal && seen.insert(dep_id.clone()) {
                    todo.push(dep_id);
                }
            }
        }
        seen.into_iter().map(|id| name_of(&id)).collect::<HashSet<String>>()
    };
    let members = metadata["workspace_members"].as_array().unwrap();
    let functions = members.iter().find(|m| name_of(m.as_str().unwrap()) == "tollgate-functions").unwrap();
    let package = metadata["packages"].as_array().unwrap().iter().find(|p| p["id"] == *functions).unwrap();
    let binaries = package["targets"].as_array().unwrap().iter().filter(|t| t["kind"][0] == "bin").count();
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let functions_in_template = template.matches("Type: AWS::Serverless::Function").count();
    assert_eq!(
        binaries, functions_in_template,
        "every Lambda function of template.yaml is a binary of tollgate-functions"
    );
    assert!(
        !closure(functions.as_str().unwrap()).contains("tollgate-stripe-emulator"),
        "a Lambda function links the emulated Stripe"
    );
    let local = members.iter().find(|m| name_of(m.as_str().unwrap()) == "tollgate-local").unwrap();
    assert!(closure(local.as_str().unwrap()).contains("tollgate-stripe-emulator"), "the check can see it where it is");
}

/// The Pro plan includes 10,000 calls and bills each one past them at 0.4 cents: catalog sync
/// makes the Billing Meter and the metered price, Checkout subscribes both, the usage meter
/// reports the 50 calls past the quota once, and the renewal invoices $29.99 plus 50 units.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overage_past_the_quota_is_invoiced_at_the_next_renewal() {
    // Only the rate limit changes, so 10,050 calls fit in the test's minute.
    let catalog = tollgate_tests::keys::catalog_with(&[(
        "requests_per_minute = 100\nconcurrent_runs = 3\n\n[sku.limits.requests]\nquota = 10000\n",
        "requests_per_minute = 100000\n\n[sku.limits.requests]\nquota = 10000\n",
    )]);
    let emulated = Emulated::start(&[("CATALOG_PATH", catalog.to_str().unwrap()), ("USAGE_FLUSH_SECONDS", "1")]).await;
    let stack = &emulated.stack;

    // Catalog sync: one meter, summed, the customer read from the payload; one metered price.
    let meters = emulated.requests(&Method::POST, "/v1/billing/meters").await;
    assert_eq!(meters.len(), 1, "{meters:?}");
    for (name, value) in [
        ("event_name", "api_requests"),
        ("default_aggregation[formula]", "sum"),
        ("customer_mapping[event_payload_key]", "stripe_customer_id"),
        ("customer_mapping[type]", "by_id"),
        ("value_settings[event_payload_key]", "value"),
        ("display_name", "Requests"),
    ] {
        assert_eq!(param(&meters[0], name), Some(value), "{name}: {}", meters[0]);
    }
    let (_, listed) = emulated.stripe(Method::GET, "/v1/billing/meters?status=active", &[], None).await;
    let meter_id = listed["data"][0]["id"].as_str().unwrap().to_owned();
    let prices = emulated.requests(&Method::POST, "/v1/prices").await;
    let metered: Vec<&Value> =
        prices.iter().filter(|p| param(p, "lookup_key") == Some("api_pro_monthly_requests_overage")).collect();
    assert_eq!(metered.len(), 1, "{prices:?}");
    for (name, value) in [
        ("recurring[usage_type]", "metered"),
        ("recurring[interval]", "month"),
        ("recurring[meter]", meter_id.as_str()),
        ("unit_amount_decimal", "0.4"),
        ("currency", "usd"),
    ] {
        assert_eq!(param(metered[0], name), Some(value), "{name}: {}", metered[0]);
    }
    assert_eq!(param(metered[0], "unit_amount"), None);

    // Checkout subscribes the flat price and the metered one, the latter without a quantity.
    emulated.buy("user_heavy", json!({"sku": "api_pro"})).await;
    let sessions = emulated.requests(&Method::POST, "/v1/checkout/sessions").await;
    let session = sessions.last().unwrap();
    let (_, found) =
        emulated.stripe(Method::GET, "/v1/prices?lookup_keys[]=api_pro_monthly_requests_overage", &[], None).await;
    assert_eq!(param(session, "line_items[1][price]"), found["data"][0]["id"].as_str());
    assert_eq!(param(session, "line_items[1][quantity]"), None);
    assert_eq!(param(session, "line_items[0][quantity]"), Some("1"));
    emulated.all_applied().await;
    assert_eq!(emulated.me("user_heavy").await["plan"], "pro");

    // 10,050 calls: all allowed (the plan bills overage), 50 of them past the quota.
    let key = tollgate_tests::keys::create_key(stack, "user_heavy").await["key"].as_str().unwrap().to_owned();
    let mut allowed = 0;
    for _ in 0..10 {
        let answers = tollgate_tests::keys::call_at_once(&stack.http, &stack.base_url, &key, 1_005).await;
        allowed += answers.iter().filter(|answer| answer.status == StatusCode::OK).count();
    }
    assert_eq!(allowed, 10_050);
    emulated
        .until("the 50 calls past the quota are reported", || async {
            let events = emulated.requests(&Method::POST, "/v1/billing/meter_events").await;
            let reported: i64 = events.iter().filter_map(|e| param(e, "payload[value]")?.parse::<i64>().ok()).sum();
            reported == 50
        })
        .await;
    let events = emulated.requests(&Method::POST, "/v1/billing/meter_events").await;
    let customer = stack.account("user_heavy").await["stripe_customer_id"].as_str().unwrap().to_owned();
    assert!(events.iter().all(|e| param(e, "event_name") == Some("api_requests")
        && param(e, "payload[stripe_customer_id]") == Some(customer.as_str())));

    // `tollgate stripe advance 31d`: the renewal invoices the plan and the overage, and the
    // ledger records that payment.
    let (status, advanced) =
        emulated.stripe(Method::POST, "/emulator/advance", &[("by", "31d"), ("customer", &customer)], None).await;
    assert_eq!(status, StatusCode::OK, "{advanced}");
    let (_, invoice) = emulated
        .stripe(Method::GET, &format!("/v1/invoices/{}", advanced["invoices"][0].as_str().unwrap()), &[], None)
        .await;
    let lines: Vec<(i64, i64)> = invoice["lines"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| (line["quantity"].as_i64().unwrap(), line["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(lines, [(1, 2999), (50, 20)], "{invoice}");
    assert_eq!(invoice["amount_paid"], 3019);
    emulated.all_applied().await;
    let payments: Vec<i64> = stack
        .ledger("user_heavy")
        .await
        .iter()
        .filter(|entry| entry["kind"] == "payment")
        .map(|entry| entry["amount_cents"].as_i64().unwrap())
        .collect();
    assert_eq!(payments, [2999, 3019], "the first invoice and the renewal with its overage");
}

/// A subscription made before its plan billed overage (only the flat price) gets the metered
/// price at the next `tollgate catalog sync`, once; a second sync finds nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn catalog_sync_adds_the_metered_price_to_subscriptions_that_lack_it() {
    let emulated = Emulated::start(&[]).await;
    let stack = &emulated.stack;
    let (_, customer) = emulated.stripe(Method::POST, "/v1/customers", &[("email", "old@example.com")], None).await;
    let customer = customer["id"].as_str().unwrap().to_owned();
    let (_, prices) = emulated
        .stripe(
            Method::GET,
            "/v1/prices?lookup_keys[]=api_pro_monthly&lookup_keys[]=api_pro_monthly_requests_overage",
            &[],
            None,
        )
        .await;
    let id_of = |key: &str| {
        prices["data"].as_array().unwrap().iter().find(|p| p["lookup_key"] == key).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (flat, metered) = (id_of("api_pro_monthly"), id_of("api_pro_monthly_requests_overage"));
    let (status, session) = emulated
        .stripe(
            Method::POST,
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("customer", &customer),
                ("line_items[0][price]", &flat),
                ("success_url", "https://app.example.com/thanks"),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(emulated.pay(session["url"].as_str().unwrap(), "4242 4242 4242 4242").await.0, StatusCode::SEE_OTHER);

    let sync = || {
        let output = Command::new(tollgate_tests::stack::binary())
            .args(["catalog", "sync", "--data-dir"])
            .arg(tempfile::tempdir().unwrap().path())
            .env_remove("CATALOG_PATH")
            .env("STRIPE_SECRET_KEY", &emulated.key)
            .env("STRIPE_API_BASE", stack.url("/stripe/"))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let first = sync();
    let (_, subscriptions) =
        emulated.stripe(Method::GET, &format!("/v1/subscriptions?customer={customer}"), &[], None).await;
    let subscription = subscriptions["data"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        first.contains(&format!("add the metered overage price of api_pro on requests to {subscription}")),
        "{first}"
    );
    let added = emulated.requests(&Method::POST, "/v1/subscription_items").await;
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(
        (param(&added[0], "subscription"), param(&added[0], "price")),
        (Some(subscription.as_str()), Some(metered.as_str()))
    );
    assert!(added[0]["idempotency_key"].as_str().is_some_and(|key| key.starts_with("tollgate-sync-attach-")));
    let (_, now_items) = emulated.stripe(Method::GET, &format!("/v1/subscriptions/{subscription}"), &[], None).await;
    let item_prices: Vec<&str> = now_items["items"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["price"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(item_prices, [flat.as_str(), metered.as_str()]);
    assert!(sync().contains("nothing to change"));
    assert_eq!(emulated.requests(&Method::POST, "/v1/subscription_items").await.len(), 1, "added once");
}
