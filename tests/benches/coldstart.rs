//! Cold starts: each Lambda binary run under the local Runtime API as `provided.al2023`
//! runs it, with `template.yaml`'s environment, against moto (and the Stripe stand-in
//! where the function calls Stripe), beside `hello-lambda`, a Rust Lambda that does
//! nothing, in the same run. Per function, the medians of `RUNS` fresh processes:
//! - init: from exec to the first poll for an invocation;
//! - the first invocation (its sample from `events/`) and the second (warm), and their ratio;
//! - peak RSS after both;
//! - the AWS calls its first invocation made, by operation, from moto's request recorder
//!   (what `docs/cost.md` prices).
//!
//! The binaries come from `COLDSTART_BIN_DIR` (default `target/release`); `bench/coldstart.sh`
//! builds them and adds the arm64 zip sizes.

use std::collections::BTreeMap;
use std::time::Duration;
use tollgate_core::catalog::Catalog;
use tollgate_stripe::StripeApi;
use tollgate_tests::fake_stripe::{FakeStripe, SECRET_KEY};
use tollgate_tests::moto;
use tollgate_tests::runtime_api::{Function, deployed};
use tollgate_tests::samples::{read, webhook_delivery_signed_now};

const RUNS: usize = 3;

/// Each function: its binary, its logical id in `template.yaml`, its sample event.
const FUNCTIONS: [(&str, &str, &str); 9] = [
    ("webhook-ingest", "WebhookIngestFunction", "webhook-ingest.json"),
    ("event-processor", "EventProcessorFunction", "event-processor.json"),
    ("account-api", "AccountApiFunction", "account-api.json"),
    ("checkout", "CheckoutFunction", "checkout.json"),
    ("fulfillment", "FulfillmentFunction", "fulfillment.json"),
    ("usage-meter", "UsageMeterFunction", "usage-meter.json"),
    ("orchestrator", "OrchestratorFunction", "orchestrator.json"),
    ("workflow-runner", "WorkflowRunnerFunction", "workflow-runner.json"),
    ("reconciler", "ReconcilerFunction", "reconciler.json"),
];

struct Start {
    init: Duration,
    first: Duration,
    warm: Duration,
    rss_kib: u64,
    /// Operation (`DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessage`) and how many.
    aws_calls: BTreeMap<String, usize>,
}

async fn measure(mut function: Function, event: &serde_json::Value) -> Start {
    let init = function.init_duration().await;
    let http = reqwest::Client::new();
    let recorder = |action: &'static str| {
        let request = http.post(format!("{}/moto-api/recorder/{action}", moto::endpoint())).send();
        async move { request.await.and_then(|answer| answer.error_for_status()).expect("moto's recorder answers") }
    };
    recorder("reset-recording").await;
    recorder("start-recording").await;
    let first = timed(&mut function, event).await;
    recorder("stop-recording").await;
    let recording = http.get(format!("{}/moto-api/recorder/download-recording", moto::endpoint())).send();
    let recording = recording.await.expect("the recording").text().await.expect("its text");
    let warm = timed(&mut function, event).await;
    Start { init, first, warm, rss_kib: function.peak_rss_kib().unwrap_or(0), aws_calls: operations(&recording) }
}

/// Counts the recorded requests by operation (the JSON protocols name it in `X-Amz-Target`);
/// a transaction counts once per item it writes or reads (`…TransactWriteItems item`), as
/// DynamoDB bills it (twice the units of a single write or read, per item).
fn operations(recording: &str) -> BTreeMap<String, usize> {
    use base64::Engine;
    let mut counted = BTreeMap::new();
    for line in recording.lines().filter(|line| !line.trim().is_empty()) {
        let entry: serde_json::Value = serde_json::from_str(line).expect("a recorded request");
        let headers = entry["headers"].as_object().cloned().unwrap_or_default();
        let target = headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("x-amz-target"));
        let operation = target.and_then(|(_, value)| value.as_str()).unwrap_or("(other)").to_owned();
        if operation.ends_with("TransactWriteItems") || operation.ends_with("TransactGetItems") {
            let text = entry["body"].as_str().unwrap_or_default();
            let body = if entry["body_encoded"] == true {
                base64::engine::general_purpose::STANDARD.decode(text).unwrap_or_default()
            } else {
                text.as_bytes().to_vec()
            };
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let items = body["TransactItems"].as_array().map_or(0, Vec::len);
            *counted.entry(format!("{operation} item")).or_insert(0) += items;
        }
        *counted.entry(operation).or_insert(0) += 1;
    }
    counted
}

async fn timed(function: &mut Function, event: &serde_json::Value) -> Duration {
    let started = std::time::Instant::now();
    function.invoke(event).await;
    started.elapsed()
}

fn sample(file: &str) -> serde_json::Value {
    if file == "webhook-ingest.json" {
        return webhook_delivery_signed_now();
    }
    serde_json::from_str(&read(file)).expect("a sample event")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn row(name: &str, starts: &[Start], hello_init: f64) -> f64 {
    let init = median(starts.iter().map(|s| ms(s.init)).collect());
    let first = median(starts.iter().map(|s| ms(s.first)).collect());
    let warm = median(starts.iter().map(|s| ms(s.warm)).collect());
    let rss = median(starts.iter().map(|s| s.rss_kib as f64 / 1024.0).collect());
    println!(
        "| {name} | {init:.2} | {:.2}× | {first:.2} | {warm:.2} | {:.2}× | {rss:.1} |",
        init / hello_init,
        first / warm
    );
    init
}

#[tokio::main]
async fn main() {
    let bin_dir = std::env::var("COLDSTART_BIN_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release").to_owned());
    let binary = |name: &str| format!("{bin_dir}/{name}");
    let stripe = FakeStripe::start().await;
    let api = StripeApi::new(&SECRET_KEY.into(), &stripe.base_url).expect("the stand-in's client");
    tollgate_app::catalog_sync::sync_catalog(&api, &Catalog::default_catalog(), false).await.expect("catalog synced");
    let given = [("StripeApiBase", stripe.base_url.as_str())];

    let hello_event = serde_json::json!({"hello": "world"});
    let mut hello = Vec::new();
    for _ in 0..RUNS {
        hello.push(measure(Function::start(&binary("hello-lambda"), &[]).await, &hello_event).await);
    }
    let hello_init = median(hello.iter().map(|s| ms(s.init)).collect());
    println!("runs per function: {RUNS} (medians); binaries: {bin_dir}");
    println!();
    println!("| function | init ms | init / hello | 1st invocation ms | warm ms | 1st / warm | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|");
    row("hello-lambda", &hello, hello_init);
    let mut calls = Vec::new();
    for (name, logical_id, file) in FUNCTIONS {
        let event = sample(file);
        let mut starts = Vec::new();
        for _ in 0..RUNS {
            let (function, _store) = deployed(&binary(name), logical_id, &given).await;
            starts.push(measure(function, &event).await);
        }
        row(name, &starts, hello_init);
        calls.push((name, file, starts.swap_remove(0).aws_calls));
    }
    println!();
    println!("| function | sample | AWS calls on its first invocation |");
    println!("|---|---|---|");
    for (name, file, operations) in calls {
        let listed: Vec<String> = operations.iter().map(|(operation, n)| format!("{n}× {operation}")).collect();
        let total: usize =
            operations.iter().filter(|(operation, _)| !operation.ends_with(" item")).map(|(_, n)| n).sum();
        println!("| {name} | `events/{file}` | {total}: {} |", listed.join(", "));
    }
}
