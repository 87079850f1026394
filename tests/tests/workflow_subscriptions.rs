//! Workflow subscriptions (the marketplace brief's strategies) on `tollgate dev` and its
//! emulated Stripe: bought with parameters, checked first; the instance runs on its schedule
//! with them as its input, charged as a customer run; the subscriber pauses it and changes
//! its parameters; the strategist earns 40% of the payment.

use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use axum::routing::post;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tollgate_tests::emulated::Emulated;
use tollgate_tests::eventually;
use tollgate_tests::keys::catalog_from;
use tollgate_tests::stack::token;

/// Every start the strategy's workflow took.
type Starts = Arc<Mutex<Vec<Value>>>;

async fn start(State(starts): State<Starts>, body: String) -> AxumStatus {
    let start: Value = serde_json::from_str(&body).expect("a JSON start");
    starts.lock().unwrap().push(start.clone());
    tokio::spawn(async move {
        let body = json!({"workflowId": start["workflowId"], "status": "completed",
            "output": {"signal": "buy", "symbol": start["input"]["symbol"]}});
        let url = start["callbackUrl"].as_str().unwrap();
        reqwest::Client::new().post(url).json(&body).send().await.expect("tollgate answers the callback");
    });
    AxumStatus::ACCEPTED
}

async fn workflow_server() -> (String, Starts) {
    let starts = Starts::default();
    let app = axum::Router::new().route("/start", post(start)).with_state(Arc::clone(&starts));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/start", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, starts)
}

async fn send(emulated: &Emulated, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let stack = &emulated.stack;
    let mut request = stack.http.request(method, stack.url(path)).bearer_auth(token("user_sue", None));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_strategy_bought_with_params_runs_with_them_pauses_and_pays_its_strategist() {
    // Every minute, so that the first run comes within the test.
    let every_minute = (
        "schedule = { cron = \"0 14 * * 1-5\", timezone = \"America/New_York\" }",
        "schedule = { cron = \"* * * * *\", timezone = \"UTC\" }",
    );
    let text = include_str!("../../examples/catalogs/marketplace.toml");
    let catalog = catalog_from(text, &[every_minute]);
    let emulated =
        Emulated::start(&[("CATALOG_PATH", catalog.to_str().unwrap()), ("TOLLGATE_TICK_SECONDS", "1")]).await;
    let stack = &emulated.stack;
    let (server, starts) = workflow_server().await;
    let sold = json!({"id": "momentum", "name": "Momentum", "webhook_url": server, "sell": {"meter": "signals"}});
    let (status, body) = stack.admin_send(Method::POST, "/admin/workflows", &sold).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The params are checked before anything is paid.
    let bad = json!({"sku": "strategy_momentum", "params": {"symbol": "acme"}});
    let (status, refused) = send(&emulated, Method::POST, "/api/checkout", Some(bad)).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_params")));
    assert_eq!(refused["error"]["field"], "/symbol", "{refused}");
    let (status, refused) =
        send(&emulated, Method::POST, "/api/checkout", Some(json!({"sku": "strategy_momentum"}))).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("")), "symbol is required");

    emulated.buy("user_sue", json!({"sku": "strategy_momentum", "params": {"symbol": "ACME", "risk": "low"}})).await;
    emulated.all_applied().await;
    let (status, listed) = send(&emulated, Method::GET, "/api/me/workflow-subscriptions", None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let instance = &listed["data"][0];
    assert_eq!(
        (&instance["sku"], &instance["workflow_id"], &instance["status"], &instance["params"]),
        (&json!("strategy_momentum"), &json!("momentum"), &json!("active"), &json!({"symbol": "ACME", "risk": "low"}))
    );
    assert_eq!(instance["schedule"], json!({"cron": "* * * * *", "timezone": "UTC"}));
    let id = instance["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sub_"), "named by its Stripe subscription: {id}");

    // Its first scheduled run starts the workflow with the subscriber's params as input.
    let ran = eventually(Duration::from_secs(75), || async { !starts.lock().unwrap().is_empty() }).await;
    assert!(ran, "the instance ran at its scheduled minute");
    let first = starts.lock().unwrap()[0].clone();
    assert_eq!((&first["accountId"], &first["input"]), (&json!("user_sue"), &json!({"symbol": "ACME", "risk": "low"})));
    let last_run = eventually(Duration::from_secs(10), || async {
        let (_, listed) = send(&emulated, Method::GET, "/api/me/workflow-subscriptions", None).await;
        listed["data"][0]["last_run"].is_string()
    })
    .await;
    assert!(last_run, "the instance names its last run");
    let (_, listed) = send(&emulated, Method::GET, "/api/me/workflow-subscriptions", None).await;
    let run_id = listed["data"][0]["last_run"].as_str().unwrap().to_owned();
    let (status, run) = send(&emulated, Method::GET, &format!("/v1/runs/{run_id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["charged"], json!({"meter": "signals", "units": 1}), "charged as any customer run");

    // The subscriber changes the params (checked) and pauses it, without a new checkout.
    let path = format!("/api/me/workflow-subscriptions/{id}");
    let (status, refused) = send(&emulated, Method::PATCH, &path, Some(json!({"params": {"symbol": 7}}))).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_params")));
    let change = json!({"params": {"symbol": "XYZ"}, "paused": true});
    let (status, changed) = send(&emulated, Method::PATCH, &path, Some(change)).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!((&changed["status"], &changed["params"]), (&json!("paused"), &json!({"symbol": "XYZ"})));
    let (status, resumed) = send(&emulated, Method::PATCH, &path, Some(json!({"paused": false}))).await;
    assert_eq!((status, &resumed["status"]), (StatusCode::OK, &json!("active")));

    // The strategist earns 40% of the $49.00 payment.
    let ledger = stack.ledger("user_strategist").await;
    let earned: Vec<i64> = ledger
        .iter()
        .filter(|entry| entry["kind"] == "partner_earning")
        .map(|entry| entry["amount_cents"].as_i64().unwrap())
        .collect();
    assert_eq!(earned, [1960], "{ledger:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn active_subscribers_count_right_under_concurrent_purchases_and_cancellations() {
    use tollgate_tests::stack::{TestStack, now};
    use tollgate_tests::stripe::{event, subscription};
    let catalog = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/catalogs/marketplace.toml");
    let stack = Arc::new(TestStack::start_with(&[("CATALOG_PATH", catalog.to_str().unwrap())]).await);
    let (server, _) = workflow_server().await;
    let sold = json!({"id": "momentum", "name": "Momentum", "webhook_url": server, "sell": {"meter": "signals"}});
    assert_eq!(stack.admin_send(Method::POST, "/admin/workflows", &sold).await.0, StatusCode::CREATED);
    let created = now().0;
    let deliver_all = |events: Vec<String>| {
        let stack = Arc::clone(&stack);
        async move {
            let tasks = events.into_iter().map(|payload| {
                let stack = Arc::clone(&stack);
                tokio::spawn(async move {
                    let (status, body) = stack.deliver(&payload).await;
                    assert_eq!(status, StatusCode::OK, "{body}");
                    stack.settled(body["id"].as_str().unwrap()).await;
                })
            });
            tollgate_tests::join_all(tasks).await;
        }
    };
    let bought = |n: u32, status: &str, kind: &str, at: i64| {
        let (id, customer) = (format!("sub_s{n}"), format!("cus_s{n}"));
        let mut sub = subscription(&id, &customer, "strategy_momentum_monthly", status, created - 60);
        sub["metadata"] = json!({"account_id": format!("acct_s{n}")});
        event(&format!("evt_{kind}_{n}"), kind, at, sub)
    };
    deliver_all((0..10).map(|n| bought(n, "active", "customer.subscription.created", created)).collect()).await;
    let (_, workflow) = stack.admin_get("/admin/workflows/momentum").await;
    assert_eq!(workflow["active_subscribers"], 10, "{workflow}");
    // Three cancel while two more subscribe, all at once.
    let mut changes: Vec<String> =
        (0..3).map(|n| bought(n, "canceled", "customer.subscription.deleted", created + 1)).collect();
    changes.extend((10..12).map(|n| bought(n, "active", "customer.subscription.created", created + 1)));
    deliver_all(changes).await;
    let (_, workflow) = stack.admin_get("/admin/workflows/momentum").await;
    assert_eq!(workflow["active_subscribers"], 9, "10 - 3 + 2: {workflow}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_pauses_on_a_failed_renewal_resumes_when_paid_and_stops_when_cancelled() {
    let catalog = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/catalogs/marketplace.toml");
    let emulated = Emulated::start(&[("CATALOG_PATH", catalog.to_str().unwrap())]).await;
    let stack = &emulated.stack;
    // Not for sale while nothing says when it runs: the copier is not sold yet.
    let (code, refused) = send(
        &emulated,
        Method::POST,
        "/api/checkout",
        Some(json!({"sku": "strategy_copy", "params": {"account": "U-1"}})),
    )
    .await;
    assert_eq!((code, refused["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("sku")), "{refused}");
    let (server, _) = workflow_server().await;
    let sold = json!({"id": "copier", "name": "Copier", "webhook_url": server, "sell": {"meter": "signals"},
        "schedule": {"cron": "0 * * * *", "timezone": "UTC"}});
    assert_eq!(stack.admin_send(Method::POST, "/admin/workflows", &sold).await.0, StatusCode::CREATED);
    // The card that pays now and fails from the first renewal on.
    let url = emulated.checkout("user_sue", json!({"sku": "strategy_copy", "params": {"account": "U-1"}})).await;
    assert_eq!(emulated.pay(&url, "4000 0000 0000 0341").await.0, StatusCode::SEE_OTHER);
    emulated.all_applied().await;
    let status = || async {
        let (_, listed) = send(&emulated, Method::GET, "/api/me/workflow-subscriptions", None).await;
        listed["data"][0].clone()
    };
    let instance = status().await;
    let id = instance["id"].as_str().unwrap().to_owned();
    assert!(instance["next_run"].is_i64(), "on its workflow's schedule: {instance}");
    assert_eq!(status().await["status"], "active", "paid");
    // The console lists it under the customer, and counts it under the workflow.
    let (_, listed) = stack.admin_get("/admin/accounts/user_sue/workflow-subscriptions").await;
    assert_eq!((&listed["data"][0]["id"], &listed["data"][0]["status"]), (&json!(id), &json!("active")), "{listed}");
    let (_, metrics) = stack.admin_get("/admin/metrics").await;
    let copier =
        metrics["workflows"].as_array().unwrap().iter().find(|w| w["workflow_id"] == "copier").unwrap().clone();
    assert_eq!(copier["sold"]["active_subscribers"], 1, "{copier}");

    // The renewal fails: paused, no starts.
    let customer = stack.account("user_sue").await["stripe_customer_id"].as_str().unwrap().to_owned();
    let advance = format!("/admin/customers/{customer}/advance");
    assert_eq!(stack.admin_send(Method::POST, &advance, &json!({})).await.0, StatusCode::OK);
    emulated.all_applied().await;
    assert_eq!(status().await["status"], "paused", "past due");

    // Recovered through the portal: a good card, and the next renewal is paid.
    let portal = emulated.portal("user_sue").await;
    let good_card = [("action", "card"), ("card", "4242424242424242")];
    assert!(emulated.portal_form(&portal, &good_card).await.contains("Card updated."));
    assert_eq!(stack.admin_send(Method::POST, &advance, &json!({})).await.0, StatusCode::OK);
    emulated.all_applied().await;
    assert_eq!(status().await["status"], "active", "paid again");

    // Cancelled at the period's end: stopped for good once it ends.
    let cancel = [("action", "cancel"), ("subscription", id.as_str())];
    assert!(emulated.portal_form(&portal, &cancel).await.contains("ends at the end of the period"));
    emulated.all_applied().await;
    assert_eq!(status().await["status"], "active", "until the period ends");
    assert_eq!(stack.admin_send(Method::POST, &advance, &json!({})).await.0, StatusCode::OK);
    emulated.all_applied().await;
    assert_eq!(status().await["status"], "stopped");
    let path = format!("/api/me/workflow-subscriptions/{id}");
    let (code, refused) = send(&emulated, Method::PATCH, &path, Some(json!({"paused": false}))).await;
    assert_eq!((code, refused["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("subscription_ended")));
    // The strategist earned 40% of each paid invoice: the first and the recovered renewal.
    let earned: Vec<i64> = stack
        .ledger("user_strategist")
        .await
        .iter()
        .filter(|entry| entry["kind"] == "partner_earning")
        .map(|entry| entry["amount_cents"].as_i64().unwrap())
        .collect();
    assert_eq!(earned, [760, 760]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lapsed_members_premium_instance_pauses() {
    use tollgate_tests::stack::now;
    use tollgate_tests::stripe::{event, subscription};
    let membership = "[[sku]]\nsku = \"member_pro\"\nlookup_key = \"member_pro_monthly\"\nkind = \"membership\"\n\
        name = \"Pro membership\"\ntier = \"pro\"\nprice_cents = 2999\ncurrency = \"usd\"\ninterval = \"month\"\n\n\
        [[sku]]\nsku = \"strategy_momentum\"";
    let text = include_str!("../../examples/catalogs/marketplace.toml");
    let catalog = catalog_from(text, &[("[[sku]]\nsku = \"strategy_momentum\"", membership)]);
    let emulated = Emulated::start(&[("CATALOG_PATH", catalog.to_str().unwrap())]).await;
    let (server, _) = workflow_server().await;
    let sold = json!({"id": "copier", "name": "Copier", "webhook_url": server,
        "sell": {"meter": "signals", "access": "premium"}, "schedule": {"cron": "0 * * * *", "timezone": "UTC"}});
    assert_eq!(emulated.stack.admin_send(Method::POST, "/admin/workflows", &sold).await.0, StatusCode::CREATED);
    emulated.buy("user_sue", json!({"sku": "member_pro"})).await;
    emulated.buy("user_sue", json!({"sku": "strategy_copy", "params": {"account": "U-1"}})).await;
    emulated.all_applied().await;
    let status = || async {
        let (_, listed) = send(&emulated, Method::GET, "/api/me/workflow-subscriptions", None).await;
        listed["data"][0]["status"].clone()
    };
    assert_eq!(status().await, "active", "the membership opens the premium workflow");
    // The membership lapses; the strategy itself stays paid.
    let customer = emulated.stack.account("user_sue").await["stripe_customer_id"].as_str().unwrap().to_owned();
    let (_, subscriptions) =
        emulated.stripe(Method::GET, &format!("/v1/subscriptions?customer={customer}"), &[], None).await;
    let member = subscriptions["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sub| sub["items"]["data"][0]["price"]["lookup_key"] == "member_pro_monthly");
    let member_id = member.expect("the membership's subscription")["id"].as_str().unwrap().to_owned();
    let mut sub = subscription(&member_id, &customer, "member_pro_monthly", "canceled", now().0);
    sub["metadata"] = json!({"account_id": "user_sue"});
    let (_, body) =
        emulated.stack.deliver(&event("evt_lapse", "customer.subscription.deleted", now().0 + 5, sub)).await;
    emulated.stack.settled(body["id"].as_str().unwrap()).await;
    assert_eq!(status().await, "paused", "no membership, no premium runs");
}
