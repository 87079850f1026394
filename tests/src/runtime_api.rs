//! A local Lambda Runtime API: a function binary runs under it exactly as it is deployed,
//! polling `/2018-06-01/runtime/invocation/next` over HTTP and posting its answer back, with
//! the environment `template.yaml` gives that function, its tables and queues on moto.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use rand::Rng;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot};
use tollgate_aws::Resources;

/// How a function answered one invocation.
#[derive(Debug)]
pub enum Answer {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct Invocations {
    pending: Mutex<VecDeque<(String, Bytes)>>,
    arrived: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    init_error: Mutex<Option<String>>,
    /// When the function first asked for an invocation: its init ended.
    first_poll: Mutex<Option<Instant>>,
}

const VERSION: &str = "/2018-06-01/runtime";

async fn next(State(invocations): State<Arc<Invocations>>) -> impl IntoResponse {
    invocations.first_poll.lock().expect("not poisoned").get_or_insert_with(Instant::now);
    loop {
        let arrived = invocations.arrived.notified();
        if let Some((id, event)) = invocations.pending.lock().expect("not poisoned").pop_front() {
            let deadline = std::time::SystemTime::now() + Duration::from_secs(30);
            let deadline_ms = deadline.duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis();
            let mut headers = HeaderMap::new();
            let header = |text: String| HeaderValue::from_str(&text).expect("a header value");
            headers.insert("lambda-runtime-aws-request-id", header(id));
            headers.insert("lambda-runtime-deadline-ms", header(deadline_ms.to_string()));
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                header("arn:aws:lambda:us-east-1:123456789012:function:tollgate".into()),
            );
            headers.insert("lambda-runtime-trace-id", header("Root=1-00000000-000000000000000000000000".into()));
            return (headers, event);
        }
        arrived.await;
    }
}

async fn answered(invocations: &Invocations, id: &str, answer: Answer) -> StatusCode {
    match invocations.waiting.lock().expect("not poisoned").remove(id) {
        Some(waiting) => {
            let _ = waiting.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(invocations): State<Arc<Invocations>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    answered(&invocations, &id, Answer::Response(value)).await
}

async fn error(State(invocations): State<Arc<Invocations>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    answered(&invocations, &id, Answer::Error(value)).await
}

async fn init_error(State(invocations): State<Arc<Invocations>>, body: Bytes) -> StatusCode {
    *invocations.init_error.lock().expect("not poisoned") = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

/// A function binary running under the local Runtime API. Killed when dropped.
pub struct Function {
    child: Child,
    invocations: Arc<Invocations>,
    stderr: tempfile::NamedTempFile,
    started: Instant,
}

impl Function {
    /// Starts `binary` with only `environment` (and `PATH`, and what the runtime itself sets).
    pub async fn start(binary: &str, environment: &[(String, String)]) -> Function {
        let invocations = Arc::new(Invocations::default());
        let router = Router::new()
            .route(&format!("{VERSION}/invocation/next"), get(next))
            .route(&format!("{VERSION}/invocation/{{id}}/response"), post(response))
            .route(&format!("{VERSION}/invocation/{{id}}/error"), post(error))
            .route(&format!("{VERSION}/init/error"), post(init_error))
            .with_state(Arc::clone(&invocations));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for the runtime API");
        let address = listener.local_addr().expect("its address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        let name = std::path::Path::new(binary).file_name().and_then(|name| name.to_str()).unwrap_or("function");
        let stderr = tempfile::NamedTempFile::new().expect("a file for the function's log");
        let started = Instant::now();
        let child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(environment.iter().map(|(name, value)| (name, value)))
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_ENDPOINT_URL", crate::moto::endpoint())
            .stdout(Stdio::null())
            .stderr(stderr.reopen().expect("the log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} starts: {e}"));
        Function { child, invocations, stderr, started }
    }

    /// From exec to the function's first poll for an invocation: its init, as Lambda
    /// bills and reports it.
    pub async fn init_duration(&self) -> Duration {
        for _ in 0..3_000 {
            if let Some(polled) = *self.invocations.first_poll.lock().expect("not poisoned") {
                return polled - self.started;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the function never polled for an invocation; its log:\n{}", self.log())
    }

    /// The function's peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// What the function has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// Invokes the function with `event` and waits for its answer.
    pub async fn invoke(&mut self, event: &Value) -> Answer {
        let id = hex::encode(rand::rng().random::<[u8; 16]>());
        let (answer, answered) = oneshot::channel();
        self.invocations.waiting.lock().expect("not poisoned").insert(id.clone(), answer);
        let body = Bytes::from(serde_json::to_vec(event).expect("an event"));
        self.invocations.pending.lock().expect("not poisoned").push_back((id, body));
        self.invocations.arrived.notify_waiters();
        match tokio::time::timeout(Duration::from_secs(30), answered).await {
            Ok(Ok(answer)) => answer,
            _ => {
                let exited = self.child.try_wait().ok().flatten();
                let init = self.invocations.init_error.lock().expect("not poisoned").clone();
                panic!("no answer (exited: {exited:?}, init error: {init:?}); its log:\n{}", self.log())
            }
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment `template.yaml` gives function `logical_id` (its `Globals` and its own
/// variables), each `!Ref` resolved: a table or queue to its moto name in `resources`, a
/// parameter to `given` or else its default. A `!Sub` must be `given` by variable name.
pub fn template_environment(logical_id: &str, resources: &Resources, given: &[(&str, &str)]) -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let template: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).expect("template.yaml")).expect("template.yaml parses");
    let variables = |function: &serde_yaml::Value| {
        function["Environment"]["Variables"].as_mapping().cloned().unwrap_or_default().into_iter()
    };
    let function = &template["Resources"][logical_id]["Properties"];
    assert!(function.is_mapping(), "{logical_id} is a function in template.yaml");
    let mut environment = Vec::new();
    for (name, value) in variables(&template["Globals"]["Function"]).chain(variables(function)) {
        let name = name.as_str().expect("a variable name").to_owned();
        let value = resolve(&template, resources, given, &name, &value);
        environment.retain(|(known, _): &(String, String)| *known != name);
        environment.push((name, value));
    }
    environment
}

fn resolve(
    template: &serde_yaml::Value,
    resources: &Resources,
    given: &[(&str, &str)],
    name: &str,
    value: &serde_yaml::Value,
) -> String {
    let given_as = |key: &str| given.iter().find(|(known, _)| *known == key).map(|(_, value)| (*value).to_owned());
    match value {
        serde_yaml::Value::String(text) => text.clone(),
        serde_yaml::Value::Number(number) => number.to_string(),
        serde_yaml::Value::Bool(flag) => flag.to_string(),
        serde_yaml::Value::Tagged(tagged) if tagged.tag == "Ref" => {
            let target = tagged.value.as_str().expect("a !Ref names a resource");
            physical(resources, target)
                .or_else(|| given_as(target))
                .or_else(|| {
                    let default = &template["Parameters"][target]["Default"];
                    default.as_str().map(str::to_owned).or_else(|| default.as_i64().map(|n| n.to_string()))
                })
                .unwrap_or_else(|| panic!("{name}: !Ref {target} is neither a resource, given, nor defaulted"))
        }
        other => given_as(name).unwrap_or_else(|| panic!("{name}: {other:?} must be given")),
    }
}

fn physical(resources: &Resources, logical_id: &str) -> Option<String> {
    let value = match logical_id {
        "EventLogTable" => &resources.event_log_table,
        "AccountsTable" => &resources.accounts_table,
        "LedgerTable" => &resources.ledger_table,
        "WorkflowsTable" => &resources.workflows_table,
        "RunsTable" => &resources.runs_table,
        "AlertsTable" => &resources.alerts_table,
        "ApiKeysTable" => &resources.api_keys_table,
        "UsageTable" => &resources.usage_table,
        "EventsQueue" => &resources.events_queue_url,
        "RunsQueue" => &resources.runs_queue_url,
        "CustomerRunsQueue" => &resources.customer_runs_queue_url,
        "FulfillmentQueue" => &resources.fulfillment_queue_url,
        "UsageQueue" => &resources.usage_queue_url,
        "EventsDeadLetterQueue" => return resources.events_dead_letter_queue_url.clone(),
        "RunsDeadLetterQueue" => return resources.runs_dead_letter_queue_url.clone(),
        "CustomerRunsDeadLetterQueue" => return resources.customer_runs_dead_letter_queue_url.clone(),
        "FulfillmentDeadLetterQueue" => return resources.fulfillment_dead_letter_queue_url.clone(),
        "UsageDeadLetterQueue" => return resources.usage_dead_letter_queue_url.clone(),
        _ => return None,
    };
    Some(value.clone())
}

/// The parameters a sample stack is deployed with: the secrets the samples in `events/`
/// were signed with, and what `!Sub` builds from the stack's own names. Stripe is a port
/// nobody listens on unless a test gives its stand-in, so no test reaches out to Stripe.
pub const SAMPLE_PARAMETERS: [(&str, &str); 11] = [
    ("StripeApiBase", "http://127.0.0.1:9"),
    ("StripeWebhookSecret", crate::samples::SAMPLE_WEBHOOK_SECRET),
    ("JwtSecret", crate::samples::SAMPLE_JWT_SECRET),
    ("WorkflowSecret", crate::samples::SAMPLE_WORKFLOW_SECRET),
    ("EdgeSecret", "edge-sample-events-only"),
    ("StripeSecretKey", crate::fake_stripe::SECRET_KEY),
    ("CheckoutSuccessUrl", "https://app.example.com/thanks"),
    ("CheckoutCancelUrl", "https://app.example.com/pricing"),
    ("PortalReturnUrl", "https://app.example.com/account"),
    ("PayoutsReturnUrl", "https://app.example.com/account"),
    ("CALLBACK_BASE_URL", "https://api.example.com"),
];

/// `binary` deployed as function `logical_id` of `template.yaml` on fresh moto tables and
/// queues, with [`SAMPLE_PARAMETERS`] and `more`; and a store over those tables and queues.
pub async fn deployed(binary: &str, logical_id: &str, more: &[(&str, &str)]) -> (Function, tollgate_aws::Aws) {
    let (dynamo, sqs, resources) = crate::moto::fresh_resources().await;
    let given: Vec<(&str, &str)> = more.iter().chain(SAMPLE_PARAMETERS.iter()).copied().collect();
    let environment = template_environment(logical_id, &resources, &given);
    let function = Function::start(binary, &environment).await;
    (function, tollgate_aws::Aws::with_clients(dynamo, sqs, resources))
}

/// An API Gateway answer: its status and its body as JSON.
pub fn http_answer(answer: Answer) -> (u64, Value) {
    let Answer::Response(response) = answer else { panic!("the function failed: {answer:?}") };
    let body = response["body"].as_str().and_then(|body| serde_json::from_str(body).ok()).unwrap_or(Value::Null);
    (response["statusCode"].as_u64().expect("a statusCode"), body)
}
