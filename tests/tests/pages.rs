//! The console and the account page in headless Chromium against the real `tollgate dev`:
//! they load with no console error and no request leaving the origin, show what happens
//! without a reload, and their controls do what they say.

use fantoccini::Locator;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tollgate_tests::browser::Browser;
use tollgate_tests::emulated::Emulated;
use tollgate_tests::recorder::Recorder;
use tollgate_tests::stack::{TestStack, now, token};
use tollgate_tests::stripe::{checkout_session, event, invoice_paid, subscription};

async fn open(browser: &Browser, stack: &TestStack, page: &str, token: &str) {
    browser.client.goto(&stack.url(&format!("/{page}#token={token}"))).await.unwrap();
}

async fn clean(browser: &Browser, stack: &TestStack) {
    assert_eq!(browser.console_errors().await, Vec::<String>::new(), "the page logged errors");
    assert_eq!(browser.foreign_requests(&stack.base_url).await, Vec::<String>::new(), "requests left the origin");
}

#[tokio::test]
async fn the_console_shows_a_delivered_event_without_a_reload() {
    let stack = TestStack::start().await;
    let browser = Browser::start(1280, 900).await;
    open(&browser, &stack, "console", &stack.admin_token()).await;
    browser.element("[data-testid=kpi-revenue-30d]").await;
    browser.element("[data-testid=revenue-chart] svg").await;
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.fragment(), None, "the token leaves the address bar at once");

    let payload = event("evt_live", "checkout.session.completed", now().0, checkout_session("lee", "cus_lee", None));
    let delivered = std::time::Instant::now();
    assert_eq!(stack.deliver(&payload).await.0, StatusCode::OK);
    browser.element("[data-testid=activity-item][data-id='event:evt_live']").await;
    println!("the delivered event showed on the console after {:?}", delivered.elapsed());
    let kpi = "document.querySelector('[data-testid=kpi-revenue-30d]').dataset.cents";
    browser.until("the revenue starts at nothing", &format!("{kpi} === '0'")).await;
    let invoice = invoice_paid("in_live", "cus_lee", "sub_lee", 2999, "pi_live");
    assert_eq!(stack.deliver(&event("evt_paid_live", "invoice.paid", now().0, invoice)).await.0, StatusCode::OK);
    browser.until("the paid invoice reaches the revenue figures", &format!("{kpi} === '2999'")).await;
    let shown = browser.element("[data-testid=kpi-revenue-30d]").await.text().await.unwrap();
    assert!(shown.contains("29.99"), "{shown}");
    for (what, script) in [
        (
            "the payer is active today and over 30 days",
            "document.querySelector('[data-testid=kpi-active-accounts]').textContent.includes('1 / 1')",
        ),
        (
            "the payment is in this hour's bar",
            "document.querySelectorAll('[data-testid=revenue-hour-chart] rect').length === 1",
        ),
        ("and in this month's", "document.querySelectorAll('[data-testid=revenue-month-chart] rect').length === 1"),
        (
            "a checkout completed outside tollgate converts nothing",
            "document.querySelector('[data-testid=kpi-conversion-30d]').textContent.includes('1 of 0')",
        ),
    ] {
        browser.until(what, script).await;
    }
    let subscription = subscription("sub_lee", "cus_lee", "api_pro_monthly", "active", now().0);
    assert_eq!(
        stack.deliver(&event("evt_sub_live", "customer.subscription.created", now().0, subscription)).await.0,
        StatusCode::OK
    );
    browser
        .until(
            "the subscription reaches MRR",
            "document.querySelector('[data-testid=kpi-mrr]').textContent.includes('29.99')",
        )
        .await;
    let subscriptions = browser.element("[data-testid=kpi-subscriptions]").await.text().await.unwrap();
    assert!(subscriptions.contains("pro plan: 1"), "{subscriptions}");
    clean(&browser, &stack).await;

    // Every section opens, each with its hooks.
    for (section, hook) in [("events", Some("event-row")), ("alerts", None), ("customers", Some("account-search"))] {
        browser.client.find(Locator::Css(&format!("[data-show={section}]"))).await.unwrap().click().await.unwrap();
        // The section is the one shown, every other hidden.
        let shown = format!(
            "[...document.querySelectorAll('[data-section]')].every(e => e.hidden === (e.dataset.section !== '{section}'))"
        );
        browser.until(&format!("the {section} section is the one shown"), &shown).await;
        if let Some(hook) = hook {
            browser.element(&format!("[data-testid={hook}]")).await;
        }
    }
    // Found by its Stripe customer id: the account, its usage, keys, purchases and ledger.
    browser
        .client
        .find(Locator::Css("[data-testid=account-search]"))
        .await
        .unwrap()
        .send_keys("cus_lee\n")
        .await
        .unwrap();
    browser.element("[data-testid=account-detail] table").await;
    let detail = browser.element("[data-testid=account-detail]").await.text().await.unwrap();
    for shown in ["lee", "cus_lee", "Usage", "Keys", "Purchases", "Ledger", "29.99 USD", "Usage per meter", "Balance"] {
        assert!(detail.contains(shown), "{shown} is not in the account detail: {detail}");
    }
    let meter = browser.element("[data-testid=account-detail] [data-testid=meter-requests]").await;
    assert_eq!(meter.attr("data-quota").await.unwrap().as_deref(), Some("10000"), "lee is on Pro");
    clean(&browser, &stack).await;
    browser.close().await;
}

#[tokio::test]
async fn run_now_starts_a_workflow_and_pause_stops_its_schedule() {
    let stack = TestStack::start().await;
    let server = Recorder::start().await;
    let body = json!({"id": "nightly", "name": "Nightly", "webhook_url": format!("{}/start", server.url), "schedule": "0 3 * * *"});
    let (status, answer) = stack.admin_send(Method::POST, "/admin/workflows", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let browser = Browser::start(1280, 900).await;
    open(&browser, &stack, "console", &stack.admin_token()).await;
    browser.element("[data-testid=kpi-revenue-30d]").await;
    browser.client.find(Locator::Css("[data-show=workflows]")).await.unwrap().click().await.unwrap();
    // No run has ended yet: no execution time to show.
    let timing = browser.element("[data-testid=workflow-row][data-id=nightly] [data-role=mean-duration]").await;
    assert_eq!(timing.text().await.unwrap(), "—");
    browser.click("[data-testid=workflow-row][data-id=nightly] [data-testid=run-now]").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server.seen().iter().any(|seen| seen.target == "/start") {
        assert!(std::time::Instant::now() < deadline, "the workflow server never saw the start");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    browser.click("[data-testid=workflow-row][data-id=nightly] [data-testid=pause]").await;
    browser.element("[data-testid=workflow-row][data-id=nightly] [data-testid=resume]").await;
    let (_, workflow) = stack.admin_get("/admin/workflows/nightly").await;
    assert_eq!(workflow["enabled"], false, "paused: no longer scheduled");
    assert_eq!(workflow["next_run"], serde_json::Value::Null, "{workflow}");
    clean(&browser, &stack).await;
    browser.close().await;
}

#[tokio::test]
async fn a_key_made_on_the_account_page_is_shown_once_works_and_once_revoked_is_refused() {
    let stack = TestStack::start().await;
    let browser = Browser::start(1280, 900).await;
    open(&browser, &stack, "account", &token("kim", None)).await;
    let usage = browser.element("[data-testid=usage][data-limit]").await;
    assert_eq!(
        (usage.attr("data-used").await.unwrap(), usage.attr("data-limit").await.unwrap()),
        (Some("0".into()), Some("100".into()))
    );
    assert!(browser.element("[data-testid=plan]").await.text().await.unwrap().contains("free"));
    // A bar per meter, the balance, and the plan comparison with the current plan marked.
    let meter = browser.element("[data-testid=meter-requests]").await;
    assert_eq!(
        (meter.attr("data-used").await.unwrap(), meter.attr("data-quota").await.unwrap()),
        (Some("0".into()), Some("100".into()))
    );
    assert_eq!(browser.element("[data-testid=balance]").await.text().await.unwrap(), "Balance: 0.00 USD");
    let free = browser.element("[data-testid=plan-card-api_free]").await;
    assert_eq!(free.attr("data-current").await.unwrap().as_deref(), Some("true"));
    assert!(free.text().await.unwrap().contains("Requests: 100 requests a period"));
    let enterprise = browser.element("[data-testid=plan-card-api_enterprise]").await.text().await.unwrap();
    assert!(enterprise.contains("Requests: unlimited") && enterprise.contains("299.99"), "{enterprise}");
    browser.click("[data-testid=create-key]").await;
    browser.until("the new key shows", "document.querySelector('[data-testid=new-key]').textContent.length > 0").await;
    let key = browser.element("[data-testid=new-key]").await.text().await.unwrap();
    let call = || async { stack.http.get(stack.url("/v1/anything")).bearer_auth(&key).send().await.unwrap().status() };
    assert_eq!(call().await, StatusCode::OK, "the key works at /v1/*");
    browser.element("[data-testid=key-row]").await;

    browser.client.refresh().await.unwrap();
    browser.element("[data-testid=key-row]").await;
    let shown_again: bool = browser
        .client
        .execute("return document.body.textContent.includes(arguments[0]);", vec![json!(key)])
        .await
        .unwrap()
        .as_bool()
        .unwrap();
    assert!(!shown_again, "the key is shown once");
    browser.click("[data-testid=key-row] [data-testid=revoke]").await;
    browser.until("the key shows revoked", "!document.querySelector('[data-testid=revoke]')").await;
    assert_eq!(call().await, StatusCode::UNAUTHORIZED, "a revoked key is refused");
    let link = browser.element("[data-testid=referral-link]").await.text().await.unwrap();
    assert_eq!(link, format!("{}/account?ref=kim", stack.base_url));
    let earned = browser.element("[data-testid=commissions]").await.text().await.unwrap();
    assert!(earned.contains("available: 0.00 USD"), "commissions show without Stripe too: {earned}");
    clean(&browser, &stack).await;
    browser.close().await;
}

#[tokio::test]
async fn buy_pays_on_the_emulated_checkout_page_and_comes_back_to_the_new_plan() {
    let emulated = Emulated::start(&[]).await;
    let stack = &emulated.stack;
    let browser = Browser::start(1280, 900).await;
    open(&browser, stack, "account", &token("user_ivy", None)).await;
    browser.element("[data-testid=portal]").await;
    browser
        .until("the page says no money moves", "!document.querySelector('[data-testid=emulated-stripe]').hidden")
        .await;
    browser.click("[data-testid=buy-api_pro]").await;
    browser.until("the local Checkout page opens", "location.pathname.startsWith('/stripe/checkout/cs_test_')").await;
    browser.element("#card").await.send_keys("4242 4242 4242 4242").await.unwrap();
    browser.click("[data-testid=pay]").await;
    browser.until("Checkout sends the buyer back", "location.pathname === '/account'").await;
    browser
        .until(
            "the page says the payment is being confirmed",
            "document.querySelector('[data-testid=checkout-notice]').textContent.startsWith('Payment received.')",
        )
        .await;
    browser
        .until(
            "the plan turns to pro as the webhooks arrive",
            "document.getElementById('plan').textContent.startsWith('pro')",
        )
        .await;
    // The plan comparison follows: Pro marked current, with its quota and overage price.
    browser.client.refresh().await.unwrap();
    let pro = browser.element("[data-testid=plan-card-api_pro][data-current=true]").await;
    let text = pro.text().await.unwrap();
    assert!(text.contains("10000 requests a period, then 0.4¢ each (invoiced)"), "{text}");
    browser.element("[data-testid=plan-card-api_free][data-current=false]").await;
    browser.element("[data-testid=meter-requests][data-quota='10000']").await;
    clean(&browser, stack).await;
    browser.close().await;
}

#[tokio::test]
async fn both_pages_hold_at_375_pixels_and_work_from_the_keyboard() {
    let stack = TestStack::start().await;
    let browser = Browser::start(375, 800).await;
    for (page, bearer, ready) in [
        ("console", stack.admin_token(), "[data-testid=kpi-revenue-30d]"),
        ("account", token("kai", None), "[data-testid=usage]"),
    ] {
        open(&browser, &stack, page, &bearer).await;
        browser.element(ready).await;
        // Every part of the page, as it shows after its data arrived: the console's sections
        // one by one (each loads its table when shown).
        let sections: &[&str] =
            if page == "console" { &["workflows", "events", "customers", "alerts", "overview"] } else { &[""] };
        for section in sections {
            if !section.is_empty() {
                let button = browser.client.find(Locator::Css(&format!("[data-show={section}]"))).await.unwrap();
                button.click().await.unwrap();
                let shown = format!("!document.querySelector('[data-section={section}]').hidden");
                browser.until(&format!("the {section} section shows"), &shown).await;
            }
            let overflow = browser
                .client
                .execute("return document.documentElement.scrollWidth - window.innerWidth;", vec![])
                .await
                .unwrap();
            assert!(overflow.as_i64().unwrap() <= 0, "{page} {section} scrolls sideways at 375 px by {overflow}");
        }
        // Tab through the page: every control takes the focus in turn.
        let mut reached = Vec::new();
        for _ in 0..40 {
            browser.client.active_element().await.unwrap().send_keys("\u{e004}").await.unwrap();
            let focused = browser
                .client
                .execute(
                    "const e = document.activeElement; return e.dataset.testid || e.dataset.show || e.id || e.tagName;",
                    vec![],
                )
                .await
                .unwrap();
            reached.push(focused.as_str().unwrap_or_default().to_owned());
        }
        let wanted: &[&str] =
            if page == "console" { &["workflows", "sign-out"] } else { &["create-key", "copy-referral", "sign-out"] };
        for control in wanted {
            assert!(reached.iter().any(|r| r == control), "{page}: {control} never took the focus: {reached:?}");
        }
    }
    clean(&browser, &stack).await;
    browser.close().await;
}

#[tokio::test]
async fn the_polled_feed_answers_304_until_something_happens_and_stream_tickets_open_once() {
    let stack = TestStack::start().await;
    let feed = |tag: Option<String>| {
        let mut request = stack.http.get(stack.url("/admin/activity")).bearer_auth(stack.admin_token());
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag);
        }
        async move { request.send().await.unwrap() }
    };
    let first = feed(None).await;
    assert_eq!(first.status(), StatusCode::OK);
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(feed(Some(tag.clone())).await.status(), StatusCode::NOT_MODIFIED, "nothing happened");
    let payload = event("evt_feed", "invoice.paid", now().0, invoice_paid("in_f", "cus_nobody", "sub_f", 100, "pi_f"));
    assert_eq!(stack.deliver(&payload).await.0, StatusCode::OK);
    let changed = feed(Some(tag.clone())).await;
    assert_eq!(changed.status(), StatusCode::OK, "an event arrived");
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), tag);
    let body: serde_json::Value = changed.json().await.unwrap();
    assert_eq!(
        (&body["items"][0]["id"], &body["items"][0]["kind"]),
        (&json!("event:evt_feed"), &json!("payment:received"))
    );

    let (status, ticket) = stack.admin_send(Method::POST, "/admin/stream-tickets", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{ticket}");
    let ticket = ticket["ticket"].as_str().unwrap().to_owned();
    let open = |ticket: String| {
        let url = stack.url(&format!("/admin/stream?ticket={ticket}"));
        let http = stack.http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let mut stream = open(ticket.clone()).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    // The stream says `metric:updated`, with the figures, when a checkout completes.
    let mut said = String::new();
    let mut read_until = async |done: &dyn Fn(&str) -> bool| {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while !done(&said) {
            let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("the stream speaks").unwrap();
            said.push_str(&String::from_utf8_lossy(&chunk.expect("the stream stays open")));
        }
        said.clone()
    };
    read_until(&|said| said.contains("event: ready")).await;
    let completed = event("evt_done", "checkout.session.completed", now().0, checkout_session("kim", "cus_kim", None));
    assert_eq!(stack.deliver(&completed).await.0, StatusCode::OK);
    const UPDATED: &str = "event: metric:updated\ndata: ";
    let said = read_until(&|said| said.split_once(UPDATED).is_some_and(|(_, data)| data.contains("\n\n"))).await;
    let data = said.split_once(UPDATED).unwrap().1.split("\n\n").next().unwrap();
    let figures: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(figures["revenue_by_day"][0]["checkouts_completed"], 1, "{figures}");
    drop(stream);
    let again = open(ticket).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "a ticket opens the stream once");
    assert_eq!(open("forged".into()).await.status(), StatusCode::UNAUTHORIZED);
    let unsigned = stack.http.post(stack.url("/admin/stream-tickets")).send().await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED, "tickets are for admins");
}

#[tokio::test]
async fn without_a_token_in_the_link_the_page_asks_for_one_and_keeps_it_in_the_tab() {
    let stack = TestStack::start().await;
    let browser = Browser::start(1280, 900).await;
    browser.client.goto(&stack.url("/console")).await.unwrap();
    let field = browser.element("#sign-in input[name=token]").await;
    assert!(!browser.element("#main").await.is_displayed().await.unwrap(), "nothing shows before signing in");
    field.send_keys(&format!("{}\n", stack.admin_token())).await.unwrap();
    browser.element("[data-testid=kpi-revenue-30d]").await;
    browser.client.refresh().await.unwrap();
    browser.element("[data-testid=kpi-revenue-30d]").await;
    let kept = browser
        .client
        .execute("return sessionStorage.getItem('tollgate-token') !== null && localStorage.length === 0;", vec![])
        .await
        .unwrap();
    assert_eq!(kept, json!(true), "the token stays in this tab's sessionStorage only");
    clean(&browser, &stack).await;
    browser.close().await;
}

#[tokio::test]
async fn an_alert_is_acknowledged_then_resolved_from_the_console_and_each_change_is_posted() {
    let catalog = tollgate_tests::keys::catalog_with(&[("quota = 100\n", "quota = 2\n")]);
    let webhook = Recorder::start().await;
    let stack = TestStack::start_with(&[
        ("CATALOG_PATH", catalog.to_str().unwrap()),
        ("ALERT_WEBHOOK_URL", webhook.url.as_str()),
    ])
    .await;
    // Two calls of a quota of two cross 70, 85 and 95%: three open alerts.
    let key = tollgate_tests::keys::create_key(&stack, "ada").await["key"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        tollgate_tests::keys::call(&stack.http, &stack.base_url, &key, "/v1/anything").await;
    }
    let ids = || async {
        let (_, body) = stack.admin_get("/admin/alerts").await;
        let mut ids: Vec<String> =
            body["alerts"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect();
        ids.sort();
        ids
    };
    assert!(tollgate_tests::eventually(std::time::Duration::from_secs(20), || async { ids().await.len() == 3 }).await);
    let first = ids().await.remove(0);
    let row = |state: &str| format!("[data-testid=alert-row][data-id=\"{first}\"][data-state={state}]");

    let browser = Browser::start(1280, 900).await;
    open(&browser, &stack, "console", &stack.admin_token()).await;
    browser.element("[data-testid=kpi-revenue-30d]").await;
    browser.client.find(Locator::Css("[data-show=alerts]")).await.unwrap().click().await.unwrap();
    browser.click(&format!("{} [data-testid=ack]", row("open"))).await;
    browser.element(&row("acknowledged")).await;
    browser.click(&format!("{} [data-testid=resolve]", row("acknowledged"))).await;
    browser.element(&row("resolved")).await;
    // Open ones first, the resolved one last, and it offers nothing more to do.
    browser
        .until(
            "open alerts listed first",
            "[...document.querySelectorAll('[data-testid=alert-row]')].map((row) => row.dataset.state).join() === 'open,open,resolved'",
        )
        .await;
    assert!(browser.client.find(Locator::Css(&format!("{} button", row("resolved")))).await.is_err());
    clean(&browser, &stack).await;
    browser.close().await;

    let (_, listed) = stack.admin_get("/admin/alerts").await;
    let resolved = listed["alerts"].as_array().unwrap().iter().find(|a| a["id"] == first.as_str()).unwrap().clone();
    assert_eq!(resolved["state"], "resolved");
    assert!(resolved["state_changed_at"].as_i64().is_some());
    let (status, refused) = stack.admin_send(Method::POST, &format!("/admin/alerts/{first}/ack"), &json!({})).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("invalid_transition")));
    let (status, _) = stack.admin_send(Method::POST, "/admin/alerts/nothing/resolve", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let posted: Vec<String> = webhook
        .seen()
        .iter()
        .filter_map(|seen| serde_json::from_str::<serde_json::Value>(&seen.body).ok())
        .filter(|body| body["alert"]["id"] == first.as_str())
        .map(|body| body["alert"]["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(posted, ["open", "acknowledged", "resolved"], "raised, then each change, posted once");
}

#[tokio::test]
async fn the_account_page_runs_a_sold_workflow_from_a_form_built_from_its_schema() {
    let workflow = Recorder::start().await;
    let stack = TestStack::start_with(&[("TOLLGATE_TICK_SECONDS", "1")]).await;
    let sold = json!({"id": "poster", "name": "Poster", "webhook_url": format!("{}/start", workflow.url), "sell": {
        "meter": "generations",
        "input_schema": {"type": "object", "required": ["title", "copies"], "properties": {
            "title": {"type": "string"}, "copies": {"type": "integer"}, "glossy": {"type": "boolean"},
            "size": {"enum": ["a4", "a3"]}, "extra": {"type": "object"}}}}});
    let (status, body) = stack.admin_send(Method::POST, "/admin/workflows", &sold).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let browser = Browser::start(1280, 900).await;
    open(&browser, &stack, "account", &token("pia", None)).await;
    let card = browser.element("[data-testid=workflow-poster]").await;
    for (name, kind) in [("title", "text"), ("copies", "number"), ("glossy", "checkbox")] {
        let field = card.find(Locator::Css(&format!("input[name={name}]"))).await.unwrap();
        assert_eq!(field.attr("type").await.unwrap().as_deref(), Some(kind), "{name}");
    }
    card.find(Locator::Css("select[name=size]")).await.unwrap();
    card.find(Locator::Css("textarea[name=extra]")).await.unwrap();
    card.find(Locator::Css("input[name=title]")).await.unwrap().send_keys("Summer sale").await.unwrap();
    card.find(Locator::Css("input[name=copies]")).await.unwrap().send_keys("3").await.unwrap();
    browser.click("[data-testid=run-poster]").await;
    browser.until("the run is listed", "document.querySelector('[data-testid=customer-run-row]')").await;
    let started =
        tollgate_tests::eventually(std::time::Duration::from_secs(10), || async { !workflow.seen().is_empty() });
    assert!(started.await, "the workflow was started");
    let started = workflow.seen();
    let start: serde_json::Value = serde_json::from_str(&started[0].body).unwrap();
    assert_eq!(start["input"], json!({"title": "Summer sale", "copies": 3, "glossy": false, "size": "a4"}));
    assert_eq!(start["accountId"], "pia");
    // The workflow calls back with its output; the page, still polling, shows it.
    let callback =
        json!({"workflowId": "poster", "status": "completed", "output": {"url": "https://cdn.example.com/p.png"}});
    let answer = stack.http.post(start["callbackUrl"].as_str().unwrap()).json(&callback).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    browser
        .until(
            "the run shows completed",
            "document.querySelector('[data-testid=customer-run-row][data-status=completed]')",
        )
        .await;
    let output = browser.element("[data-testid=customer-run-row] [data-testid=run-output]").await.text().await.unwrap();
    assert!(output.contains("cdn.example.com/p.png"), "{output}");
    clean(&browser, &stack).await;
    browser.close().await;
}

#[tokio::test]
async fn a_basic_member_chooses_premium_workflows_on_the_account_page() {
    let workflow = Recorder::start().await;
    let stack = TestStack::start_with(&[("TOLLGATE_TICK_SECONDS", "1")]).await;
    for id in ["p1", "p2", "p3", "p4"] {
        let sold = json!({"id": id, "name": format!("Premium {id}"), "webhook_url": format!("{}/start", workflow.url),
            "sell": {"meter": "generations", "access": "premium"}});
        let (status, body) = stack.admin_send(Method::POST, "/admin/workflows", &sold).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    stack.subscribe("pat", "member_basic_monthly").await;
    let browser = Browser::start(1280, 900).await;
    open(&browser, &stack, "account", &token("pat", None)).await;
    browser.until("p1 is open", "document.querySelector('[data-testid=premium-p1][data-open=true]')").await;
    browser.element("[data-testid=workflow-p3]").await;
    // Unchoose p3, choose p4: the workflows on offer follow at once.
    browser.click("[data-testid=premium-p3] button").await;
    browser.until("p3 is closed", "document.querySelector('[data-testid=premium-p3][data-open=false]')").await;
    browser.until("p3 is no longer offered", "!document.querySelector('[data-testid=workflow-p3]')").await;
    browser.click("[data-testid=premium-p4] button").await;
    browser.until("p4 is open", "document.querySelector('[data-testid=premium-p4][data-open=true]')").await;
    browser.element("[data-testid=workflow-p4]").await;
    let summary = browser.element("[data-testid=premium-summary]").await.text().await.unwrap();
    assert!(summary.contains("3 premium workflows of your choice: 3 chosen"), "{summary}");
    let standing: serde_json::Value = stack
        .http
        .get(stack.url("/api/me/premium-workflows"))
        .bearer_auth(token("pat", None))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let open_ids: Vec<&str> = standing["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["open"] == true)
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(open_ids, ["p1", "p2", "p4"]);
    clean(&browser, &stack).await;
    // A fourth is refused: the page says why and nothing changes.
    browser.click("[data-testid=premium-p3] button").await;
    browser.until("the refusal is shown", "document.body.textContent.includes('opens 3 premium workflows')").await;
    browser.element("[data-testid=premium-p3][data-open=false]").await;
    browser.close().await;
}

#[tokio::test]
async fn the_first_key_an_api_plan_makes_is_shown_once_on_the_account_page() {
    let stack = TestStack::start().await;
    stack.subscribe("lee", "api_pro_monthly").await;
    let browser = Browser::start(1280, 900).await;
    open(&browser, &stack, "account", &token("lee", None)).await;
    browser
        .until("the first key shows", "document.querySelector('[data-testid=new-key]').textContent.length > 0")
        .await;
    let key = browser.element("[data-testid=new-key]").await.text().await.unwrap();
    assert!(key.starts_with("tg_live_"), "{key}");
    let status = stack.http.get(stack.url("/v1/anything")).bearer_auth(&key).send().await.unwrap().status();
    assert_eq!(status, StatusCode::OK, "the key works at /v1/*");
    browser.client.refresh().await.unwrap();
    browser.element("[data-testid=key-row]").await;
    let shown_again: bool = browser
        .client
        .execute("return document.body.textContent.includes(arguments[0]);", vec![json!(key)])
        .await
        .unwrap()
        .as_bool()
        .unwrap();
    assert!(!shown_again, "the first key is shown once");
    clean(&browser, &stack).await;
    browser.close().await;
}

#[tokio::test]
async fn a_subscriber_pauses_and_resumes_a_strategy_on_the_account_page() {
    let catalog = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/catalogs/marketplace.toml");
    let emulated = Emulated::start(&[("CATALOG_PATH", catalog.to_str().unwrap())]).await;
    let workflow = Recorder::start().await;
    let sold = json!({"id": "momentum", "name": "Momentum", "webhook_url": format!("{}/start", workflow.url),
        "sell": {"meter": "signals"}});
    let (status, body) = emulated.stack.admin_send(Method::POST, "/admin/workflows", &sold).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    emulated.buy("user_sue", json!({"sku": "strategy_momentum", "params": {"symbol": "ACME"}})).await;
    emulated.all_applied().await;
    let browser = Browser::start(1280, 900).await;
    open(&browser, &emulated.stack, "account", &token("user_sue", None)).await;
    let row = "[data-testid^=instance-sub_]";
    browser
        .until("the strategy is listed active", &format!("document.querySelector('{row}[data-status=active]')"))
        .await;
    let text = browser.element(row).await.text().await.unwrap();
    assert!(text.contains("strategy_momentum") && text.contains("ACME"), "{text}");
    browser.click(&format!("{row} button")).await;
    browser.until("it shows paused", &format!("document.querySelector('{row}[data-status=paused]')")).await;
    browser.click(&format!("{row} button")).await;
    browser.until("it shows active again", &format!("document.querySelector('{row}[data-status=active]')")).await;
    clean(&browser, &emulated.stack).await;
    browser.close().await;
}
