//! DynamoDB and SQS served by `moto_server` on loopback, reached with the real SDK clients.
//!
//! `MOTO_URL` points at a running server (the test script starts one for the whole
//! run); without it, one is started for this test process and stopped with it.
//! Each caller gets tables and queues of its own, so tests never see each other's data.

use crate::conformance::{TEST_MAX_RECEIVES, TEST_VISIBILITY_SECONDS};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use rand::Rng;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tollgate_aws::{Aws, Resources};

fn endpoint() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| std::env::var("MOTO_URL").unwrap_or_else(|_| start_moto()))
}

#[expect(clippy::zombie_processes, reason = "the watchdog must outlive this process to stop moto after it")]
fn start_moto() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    // moto_server's own Python, running our launcher (see scripts/moto-server.py for why).
    let launcher = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/moto-server.py");
    let moto = std::env::var("MOTO_SERVER")
        .unwrap_or_else(|_| format!("\"$(dirname \"$(command -v moto_server)\")/python\" {launcher}"));
    // A watchdog shell stops moto when this test process is gone, however it ends.
    let script = format!(
        "{moto} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & child=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done; kill $child 2>/dev/null",
        parent = std::process::id()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .expect("sh to start moto_server (pip install 'moto[server]', or set MOTO_URL)");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not start on port {port}: is it installed? (pip install 'moto[server]')"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("http://127.0.0.1:{port}")
}

async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "moto"))
        .load()
        .await
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().expect("key schema")
}

fn attribute(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().expect("attribute")
}

fn index(name: &str, hash: &str, range: &str) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash))
        .key_schema(key(range, KeyType::Range))
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .expect("index")
}

fn hash_index(name: &str, hash: &str) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash))
        .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
        .build()
        .expect("index")
}

/// A fresh set of tables and queues on moto, laid out as `template.yaml` declares them.
pub async fn fresh_resources() -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client, Resources) {
    let config = sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let prefix = format!("t{}", hex::encode(rand::rng().random::<[u8; 6]>()));
    let name = |table: &str| format!("{prefix}-{table}");
    use ScalarAttributeType::{N, S};

    dynamo
        .create_table()
        .table_name(name("event-log"))
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("id", KeyType::Hash))
        .attribute_definitions(attribute("id", S))
        .attribute_definitions(attribute("day", S))
        .attribute_definitions(attribute("received_at", N))
        .global_secondary_indexes(index("by_day", "day", "received_at"))
        .send()
        .await
        .expect("event-log table");
    dynamo
        .create_table()
        .table_name(name("accounts"))
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attribute("pk", S))
        .attribute_definitions(attribute("sk", S))
        .attribute_definitions(attribute("active", S))
        .global_secondary_indexes(hash_index("active_subscriptions", "active"))
        .send()
        .await
        .expect("accounts table");
    dynamo
        .create_table()
        .table_name(name("workflows"))
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("id", KeyType::Hash))
        .attribute_definitions(attribute("id", S))
        .attribute_definitions(attribute("due_state", S))
        .attribute_definitions(attribute("due_at", N))
        .global_secondary_indexes(index("by_due", "due_state", "due_at"))
        .send()
        .await
        .expect("workflows table");
    dynamo
        .create_table()
        .table_name(name("runs"))
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("id", KeyType::Hash))
        .attribute_definitions(attribute("id", S))
        .attribute_definitions(attribute("open_state", S))
        .attribute_definitions(attribute("deadline", N))
        .attribute_definitions(attribute("workflow_id", S))
        .attribute_definitions(attribute("created_at", N))
        .global_secondary_indexes(index("open_by_deadline", "open_state", "deadline"))
        .global_secondary_indexes(index("by_workflow", "workflow_id", "created_at"))
        .send()
        .await
        .expect("runs table");
    dynamo
        .create_table()
        .table_name(name("alerts"))
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("id", KeyType::Hash))
        .attribute_definitions(attribute("id", S))
        .attribute_definitions(attribute("feed", S))
        .attribute_definitions(attribute("created_at", N))
        .global_secondary_indexes(index("by_time", "feed", "created_at"))
        .send()
        .await
        .expect("alerts table");
    dynamo
        .create_table()
        .table_name(name("ledger"))
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("payment_ref", KeyType::Hash))
        .key_schema(key("id", KeyType::Range))
        .attribute_definitions(attribute("payment_ref", S))
        .attribute_definitions(attribute("id", S))
        .attribute_definitions(attribute("account_id", S))
        .global_secondary_indexes(index("by_account", "account_id", "id"))
        .send()
        .await
        .expect("ledger table");

    dynamo
        .create_table()
        .table_name(name("api-keys"))
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("hash", KeyType::Hash))
        .attribute_definitions(attribute("hash", S))
        .attribute_definitions(attribute("account_id", S))
        .attribute_definitions(attribute("created_at", N))
        .global_secondary_indexes(index("by_account", "account_id", "created_at"))
        .send()
        .await
        .expect("api-keys table");
    dynamo
        .create_table()
        .table_name(name("usage"))
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attribute("pk", S))
        .attribute_definitions(attribute("sk", S))
        .send()
        .await
        .expect("usage table");

    let (events_queue_url, events_dlq_url) = queue_pair(&sqs, &name("events")).await;
    let (runs_queue_url, runs_dlq_url) = queue_pair(&sqs, &name("runs")).await;
    let (fulfillment_queue_url, fulfillment_dlq_url) = queue_pair(&sqs, &name("fulfillment")).await;
    let (usage_queue_url, usage_dlq_url) = queue_pair(&sqs, &name("usage")).await;
    let resources = Resources {
        event_log_table: name("event-log"),
        accounts_table: name("accounts"),
        ledger_table: name("ledger"),
        events_queue_url,
        events_dead_letter_queue_url: Some(events_dlq_url),
        workflows_table: name("workflows"),
        runs_table: name("runs"),
        alerts_table: name("alerts"),
        runs_queue_url,
        runs_dead_letter_queue_url: Some(runs_dlq_url),
        fulfillment_queue_url,
        fulfillment_dead_letter_queue_url: Some(fulfillment_dlq_url),
        api_keys_table: name("api-keys"),
        usage_table: name("usage"),
        usage_queue_url,
        usage_dead_letter_queue_url: Some(usage_dlq_url),
    };
    (dynamo, sqs, resources)
}

/// A queue and its dead-letter queue, with the suite's redrive and visibility settings.
async fn queue_pair(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let dlq_url =
        sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.expect("dlq").queue_url.expect("dlq url");
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("dlq arn")
        .attributes
        .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn).cloned())
        .expect("dlq arn attribute");
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": TEST_MAX_RECEIVES}).to_string();
    let queue_url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, TEST_VISIBILITY_SECONDS.to_string())
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("queue url");
    (queue_url, dlq_url)
}

/// Every port on fresh moto tables and queues.
pub async fn fresh_store() -> Aws {
    let (dynamo, sqs, resources) = fresh_resources().await;
    Aws::with_clients(dynamo, sqs, resources)
}
