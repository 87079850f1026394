//! The `account-api` binary as deployed: under the Lambda Runtime API, with the environment
//! `template.yaml` gives it, on moto, with its `events/` samples.

use tollgate_app::ports::event_log::{EventLog, ReceivedEvent};
use tollgate_core::ids::EventId;
use tollgate_tests::runtime_api::{Function, deployed, http_answer};
use tollgate_tests::samples::read;
use tollgate_tests::stack::now;

#[tokio::test]
async fn the_binary_lists_the_event_log_for_the_sample_admin() {
    let (mut function, store) = deployed(env!("CARGO_BIN_EXE_account-api"), "AccountApiFunction", &[]).await;
    let id = EventId::parse("evt_sample_checkout").unwrap();
    let received = ReceivedEvent { id, event_type: "checkout.session.completed".into(), received_at: now() };
    store.record(&received).await.unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&read("account-api.json")).unwrap();

    let (status, answer) = http_answer(function.invoke(&event).await);
    assert_eq!(status, 200, "{answer}\n{}", function.log());
    assert_eq!((&answer["events"][0]["id"], &answer["events"][0]["status"]), (&id_text(), &"queued".into()));

    // Another method on the same route: 405 with `Allow`.
    event["requestContext"]["http"]["method"] = "DELETE".into();
    let (status, answer) = http_answer(function.invoke(&event).await);
    assert_eq!((status, &answer["error"]["code"]), (405, &"method_not_allowed".into()));

    // This function serves no webhooks: it holds no webhook secret.
    let webhook: serde_json::Value = serde_json::from_str(&read("webhook-ingest.json")).unwrap();
    let (status, _) = http_answer(function.invoke(&webhook).await);
    assert_eq!(status, 404);
}

/// `method path` with `body`, as the sample admin's API Gateway event: the answer and the log so far.
async fn route(
    function: &mut Function,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> ((u64, serde_json::Value), String) {
    let mut event: serde_json::Value = serde_json::from_str(&read("account-api.json")).unwrap();
    event["rawPath"] = path.into();
    event["rawQueryString"] = "".into();
    event["routeKey"] = format!("{method} {path}").into();
    event["requestContext"]["http"]["path"] = path.into();
    event["requestContext"]["http"]["method"] = method.into();
    if let Some(body) = body {
        event["body"] = body.to_string().into();
        event["headers"]["content-type"] = "application/json".into();
    }
    let answer = http_answer(function.invoke(&event).await);
    (answer, function.log())
}

fn id_text() -> serde_json::Value {
    "evt_sample_checkout".into()
}

/// In the cloud an endpoint is `https` to a public address: a name or address on loopback,
/// a private network or link-local (the metadata service) is refused, by its resolution.
#[tokio::test]
async fn the_binary_keeps_an_accounts_webhook_endpoint_public() {
    let (mut function, _store) = deployed(env!("CARGO_BIN_EXE_account-api"), "AccountApiFunction", &[]).await;
    let mut call = async |method: &str, body: Option<serde_json::Value>| {
        route(&mut function, method, "/api/me/webhook-endpoint", body).await
    };
    for refused in
        ["http://1.1.1.1/hook", "https://localhost/hook", "https://10.0.0.8/hook", "https://169.254.169.254/latest"]
    {
        let ((status, answer), log) = call("PUT", Some(serde_json::json!({"url": refused}))).await;
        assert_eq!(
            (status, &answer["error"]["code"], &answer["error"]["field"]),
            (400, &"invalid_webhook_url".into(), &"url".into()),
            "{refused}: {answer}\n{log}"
        );
    }
    let ((status, set), log) = call("PUT", Some(serde_json::json!({"url": "https://1.1.1.1/hook"}))).await;
    assert_eq!(status, 200, "{set}\n{log}");
    assert!(set["secret"].as_str().unwrap().starts_with("whsec_"), "{set}");
    let ((status, read_back), _) = call("GET", None).await;
    assert_eq!((status, &read_back["url"], read_back.get("secret")), (200, &"https://1.1.1.1/hook".into(), None));
    assert_eq!(call("DELETE", None).await.0.0, 204);
    assert_eq!(call("GET", None).await.0.0, 404);
}

/// The cloud path of a customer's run: the function checks it, charges it on the workflow's
/// meter in DynamoDB, hands it a slot of the customer pool and queues its start.
#[tokio::test]
async fn the_binary_takes_a_customers_run_charged_once_and_gives_it_a_slot() {
    use tollgate_app::ports::customer_runs::CustomerRuns;
    use tollgate_app::ports::customer_runs::RunFilter;
    use tollgate_app::ports::runs::Runs;
    use tollgate_app::ports::usage::Usage;
    use tollgate_app::ports::workflows::Workflows;
    use tollgate_core::customer_run::Pool;
    use tollgate_core::ids::{AccountId, WorkflowId};
    use tollgate_core::meters::MeterName;
    use tollgate_core::workflow::{Access, Charge, Sell, WebhookUrl, Workflow, WorkflowSpec};

    let (mut function, store) = deployed(env!("CARGO_BIN_EXE_account-api"), "AccountApiFunction", &[]).await;
    let spec = WorkflowSpec {
        id: WorkflowId::parse("images").unwrap(),
        name: "Images".into(),
        webhook_url: WebhookUrl::parse("https://n8n.example.com/webhook/images").unwrap(),
        schedule: None,
        enabled: true,
        premium: false,
        timeout_s: 300,
        sell: Some(Sell {
            meter: MeterName::parse("generations").unwrap(),
            cost: std::num::NonZeroU64::new(1).unwrap(),
            access: Access::Public,
            plans: Vec::new(),
            input_schema: serde_json::json!({"type": "object", "required": ["prompt"]}),
            charge: Charge::OnStart,
            max_output_bytes: 1_000,
        }),
    };
    assert!(store.create(&Workflow::register(spec, now())).await.unwrap());
    let mut call = async |method: &str, path: &str, body: Option<serde_json::Value>| {
        route(&mut function, method, path, body).await
    };
    let ((status, offers), log) = call("GET", "/v1/workflows", None).await;
    assert_eq!((status, &offers["data"][0]["id"]), (200, &"images".into()), "{offers}\n{log}");
    let runs = "/v1/workflows/images/runs";
    let ((status, refused), _) = call("POST", runs, Some(serde_json::json!({"input": {}}))).await;
    assert_eq!((status, &refused["error"]["code"]), (400, &"invalid_input".into()), "{refused}");
    let ((status, accepted), log) = call("POST", runs, Some(serde_json::json!({"input": {"prompt": "a cat"}}))).await;
    assert_eq!(status, 202, "{accepted}\n{log}");

    let account = AccountId::parse("operator").unwrap();
    let listed = store.account_runs(&account, &RunFilter { limit: 10, ..RunFilter::default() }).await.unwrap();
    assert_eq!(listed.len(), 1, "the refused run was never stored");
    let run = store.run(&listed[0].id).await.unwrap().unwrap();
    assert_eq!(run.id.as_str(), accepted["run_id"].as_str().unwrap());
    let customer = run.customer.as_deref().unwrap();
    assert_eq!((customer.pool, customer.turn), (Pool::Holding, Some(1)), "given the pool's first slot");
    let used = store.meter_usage(&account, &customer.charged.meter, customer.charged.window_start).await.unwrap();
    assert_eq!(used, 1, "charged once, on the workflow's meter");
    // Its start is queued for the runner on the customers' queue, not the operator's.
    use tollgate_app::ports::queue::{QueueConsumer, QueueName};
    let queued = store.receive(QueueName::CustomerRuns, 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert!(queued[0].body.contains(run.id.as_str()), "{}", queued[0].body);
    assert!(store.receive(QueueName::Runs, 10).await.unwrap().is_empty());
}
