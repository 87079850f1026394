//! Takes the README's screenshots of the console and the account page, light and dark, and
//! of the emulated Stripe's Checkout page:
//! `cargo build -p tollgate-local && cargo run -p tollgate-tests --example screenshots`
//! (needs chromium and chromium-driver). It starts a stack of its own on the emulated Stripe
//! and fills it with a few sales, a workflow and its runs, so the pages have something to show.

use reqwest::Method;
use serde_json::json;
use tollgate_tests::browser::Browser;
use tollgate_tests::emulated::Emulated;
use tollgate_tests::recorder::Recorder;
use tollgate_tests::stack::{now, token};
use tollgate_tests::stripe::{checkout_session, event, invoice_paid, subscription};

#[tokio::main]
async fn main() {
    let emulated = Emulated::start(&[]).await;
    let stack = &emulated.stack;
    let t = now().0;
    stack.sign_in("user_bob").await;
    for (n, account) in ["user_alice", "user_carol", "user_dan"].into_iter().enumerate() {
        let customer = format!("cus_{account}");
        let session = checkout_session(account, &customer, Some("user_bob"));
        stack.deliver(&event(&format!("evt_checkout_{n}"), "checkout.session.completed", t, session)).await;
        let lookup_key = ["api_pro_monthly", "member_pro_monthly", "api_pro_monthly"][n];
        let subscription = subscription(&format!("sub_{n}"), &customer, lookup_key, "active", t);
        stack.deliver(&event(&format!("evt_subscription_{n}"), "customer.subscription.created", t, subscription)).await;
        let invoice = invoice_paid(&format!("in_{n}"), &customer, &format!("sub_{n}"), 2999, &format!("pi_{n}"));
        stack.deliver(&event(&format!("evt_invoice_{n}"), "invoice.paid", t, invoice)).await;
    }
    let server = Recorder::start().await;
    let workflow = json!({"id": "daily_shorts", "name": "Daily shorts", "webhook_url": format!("{}/start", server.url),
                          "schedule": "0 9 * * *"});
    stack.admin_send(Method::POST, "/admin/workflows", &workflow).await;
    stack.admin_send(Method::POST, "/admin/workflows/daily_shorts/run", &json!({})).await;
    let bob = token("user_bob", None);
    stack.http.post(stack.url("/api/keys")).bearer_auth(&bob).send().await.unwrap();
    for n in 0..3 {
        for kind in ["checkout", "subscription", "invoice"] {
            stack.settled(&format!("evt_{kind}_{n}")).await;
        }
    }

    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/screenshots");
    std::fs::create_dir_all(out).unwrap();
    let browser = Browser::start(1280, 1000).await;
    for scheme in ["light", "dark"] {
        browser.color_scheme(scheme).await;
        for (page, bearer, ready) in [
            ("console", stack.admin_token(), "[data-testid=revenue-chart] svg"),
            ("account", bob.clone(), "[data-testid=key-row]"),
        ] {
            browser.client.goto(&stack.url(&format!("/{page}#token={bearer}"))).await.unwrap();
            browser.element(ready).await;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let png = browser.client.screenshot().await.unwrap();
            let path = format!("{out}/{page}-{scheme}.png");
            std::fs::write(&path, png).unwrap();
            println!("{path}");
        }
    }
    browser.color_scheme("light").await;
    let checkout = emulated.checkout("user_bob", json!({"sku": "api_enterprise"})).await;
    browser.client.goto(&checkout).await.unwrap();
    browser.element("[data-testid=pay]").await;
    let path = format!("{out}/checkout-emulated.png");
    std::fs::write(&path, browser.client.screenshot().await.unwrap()).unwrap();
    println!("{path}");
    browser.close().await;
}
