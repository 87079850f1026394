//! The one configuration against `template.yaml` and `.env.example`: for every function,
//! the environment the template gives it is what its configuration reads — every required
//! setting given, nothing given that it does not read — and its IAM policies (or its queue
//! trigger) reach every table and queue it builds. `.env.example` names every setting.

use serde_yaml::Value;
use std::collections::BTreeSet;
use std::sync::Mutex;
use tollgate_lambda::Env;

/// What a function's configuration asked for, reading a made-up environment in which every
/// setting it could need is valid (so that reading never stops early).
#[derive(Default)]
struct Reads {
    all: Mutex<BTreeSet<String>>,
    required: Mutex<BTreeSet<String>>,
}

fn plausible(name: &str) -> Option<String> {
    let value = match name {
        "STRIPE_WEBHOOK_SECRET" => "whsec_configuration_check",
        "STRIPE_SECRET_KEY" => "sk_test_configuration_check",
        "JWT_SECRET" | "WORKFLOW_SECRET" | "EDGE_SECRET" => "a-secret-for-the-configuration-check",
        // Nobody listens there: the cold start's Stripe warm-up fails at once, as it may.
        "STRIPE_API_BASE" => "http://127.0.0.1:9",
        "CALLBACK_BASE_URL"
        | "CHECKOUT_SUCCESS_URL"
        | "CHECKOUT_CANCEL_URL"
        | "PORTAL_RETURN_URL"
        | "PAYOUTS_RETURN_URL" => "https://app.example.com/x",
        _ if name.ends_with("_TABLE") => "table",
        _ if name.ends_with("_URL") && name.contains("QUEUE") || name.ends_with("_DLQ_URL") => {
            "https://sqs.us-east-1.amazonaws.com/123456789012/queue"
        }
        // Optional settings read as unset: their defaults apply, and the read is still heard.
        _ => return None,
    };
    Some(value.to_owned())
}

async fn reads_of<T, F: std::future::Future<Output = Result<T, tollgate_lambda::StartError>>>(
    build: impl FnOnce(&'static Env<'static>) -> F,
) -> (BTreeSet<String>, BTreeSet<String>) {
    // Leaked: the builder's future borrows the environment for as long as it likes (a test).
    let reads: &'static Reads = Box::leak(Box::default());
    let lookup: &'static (dyn Fn(&str) -> Option<String> + Sync) = Box::leak(Box::new(move |name: &str| {
        reads.all.lock().unwrap().insert(name.to_owned());
        plausible(name)
    }));
    let required: &'static (dyn Fn(&'static str) + Sync) = Box::leak(Box::new(move |name: &'static str| {
        reads.required.lock().unwrap().insert(name.to_owned());
    }));
    let env: &'static Env<'static> = Box::leak(Box::new(Env::new(lookup, required)));
    if let Err(error) = build(env).await {
        panic!("the configuration did not read through: {error}");
    }
    let all = reads.all.lock().unwrap().clone();
    let required = reads.required.lock().unwrap().clone();
    (all, required)
}

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn variables(template: &Value, logical_id: &str) -> Vec<(String, Value)> {
    let of = |node: &Value| node["Environment"]["Variables"].as_mapping().cloned().unwrap_or_default();
    of(&template["Globals"]["Function"])
        .into_iter()
        .chain(of(&template["Resources"][logical_id]["Properties"]))
        .map(|(name, value)| (name.as_str().unwrap().to_owned(), value))
        .collect()
}

/// Every logical id a node names through `!Ref X`, `!GetAtt X.Arn` or `${X.Arn}`.
fn named(node: &Value, into: &mut BTreeSet<String>) {
    match node {
        Value::Tagged(tagged) => {
            if let Some(text) = tagged.value.as_str() {
                into.insert(text.split('.').next().unwrap().to_owned());
            }
            named(&tagged.value, into);
        }
        Value::String(text) => {
            for part in text.split("${").skip(1) {
                into.insert(part.split(['.', '}']).next().unwrap().to_owned());
            }
        }
        Value::Sequence(items) => items.iter().for_each(|item| named(item, into)),
        Value::Mapping(map) => map.values().for_each(|value| named(value, into)),
        _ => {}
    }
}

fn check(template: &Value, logical_id: &str, all: &BTreeSet<String>, required: &BTreeSet<String>) {
    let given = variables(template, logical_id);
    let names: BTreeSet<String> = given.iter().map(|(name, _)| name.clone()).collect();
    let unread: Vec<_> = names.difference(all).collect();
    assert!(unread.is_empty(), "{logical_id} is given {unread:?}, which its configuration never reads");
    let missing: Vec<_> = required.difference(&names).collect();
    assert!(missing.is_empty(), "{logical_id} needs {missing:?}, which template.yaml does not give it");

    let properties = &template["Resources"][logical_id]["Properties"];
    let mut reachable = BTreeSet::new();
    named(&properties["Policies"], &mut reachable);
    named(&properties["Events"], &mut reachable);
    for (name, value) in &given {
        let Value::Tagged(tagged) = value else { continue };
        let Some(target) = tagged.value.as_str() else { continue };
        let kind = template["Resources"][target]["Type"].as_str().unwrap_or_default();
        if kind == "AWS::DynamoDB::Table" || kind == "AWS::SQS::Queue" {
            assert!(
                reachable.contains(target),
                "{logical_id} builds {name} = {target}, but no IAM statement reaches it"
            );
        }
    }
}

macro_rules! function_checks {
    ($($test:ident: $logical_id:literal => $builder:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                let (all, required) = reads_of(|env| tollgate_lambda::functions::$builder(env)).await;
                check(&template(), $logical_id, &all, &required);
                let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.env.example")).unwrap();
                for name in &all {
                    assert!(
                        example.lines().any(|line| line.trim_start_matches("# ").starts_with(&format!("{name}="))),
                        ".env.example does not name {name}, which {} reads", $logical_id
                    );
                }
            }
        )+
    };
}

function_checks! {
    webhook_ingest_reads_what_the_template_gives: "WebhookIngestFunction" => webhook_ingest,
    account_api_reads_what_the_template_gives: "AccountApiFunction" => account_api,
    checkout_reads_what_the_template_gives: "CheckoutFunction" => checkout,
    event_processor_reads_what_the_template_gives: "EventProcessorFunction" => event_processor,
    orchestrator_reads_what_the_template_gives: "OrchestratorFunction" => orchestrator,
    workflow_runner_reads_what_the_template_gives: "WorkflowRunnerFunction" => workflow_runner,
    fulfillment_reads_what_the_template_gives: "FulfillmentFunction" => fulfillment,
    usage_meter_reads_what_the_template_gives: "UsageMeterFunction" => usage_meter,
    reconciler_reads_what_the_template_gives: "ReconcilerFunction" => reconciler,
    payouts_reads_what_the_template_gives: "PayoutsFunction" => payouts,
    monitor_reads_what_the_template_gives: "MonitorFunction" => monitor,
}
