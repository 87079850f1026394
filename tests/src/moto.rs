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

/// Where moto serves DynamoDB and SQS.
pub fn endpoint() -> &'static str {
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
        .http_client(tollgate_aws::https_client())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "moto"))
        .load()
        .await
}

/// `template.yaml`'s DynamoDB tables, by logical id: the one source of their keys and indexes.
fn template_tables() -> &'static Vec<(String, serde_json::Value)> {
    static TABLES: OnceLock<Vec<(String, serde_json::Value)>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let text = std::fs::read_to_string(path).expect("template.yaml");
        let template: serde_yaml::Value = serde_yaml::from_str(&text).expect("template.yaml parses");
        let resources = template.get("Resources").and_then(serde_yaml::Value::as_mapping).expect("Resources");
        resources
            .iter()
            .filter(|(_, resource)| {
                resource.get("Type").and_then(serde_yaml::Value::as_str) == Some("AWS::DynamoDB::Table")
            })
            .map(|(id, resource)| {
                let properties = serde_json::to_value(&resource["Properties"]).expect("table properties as JSON");
                (id.as_str().expect("a logical id").to_owned(), properties)
            })
            .collect()
    })
}

fn text<'a>(value: &'a serde_json::Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_else(|| panic!("{field} in {value}"))
}

fn key_schema(keys: &serde_json::Value) -> Vec<KeySchemaElement> {
    keys.as_array()
        .expect("a KeySchema")
        .iter()
        .map(|key| {
            KeySchemaElement::builder()
                .attribute_name(text(key, "AttributeName"))
                .key_type(KeyType::from(text(key, "KeyType")))
                .build()
                .expect("key schema")
        })
        .collect()
}

/// Creates `template.yaml`'s table `logical_id` on moto as `name`: its key schema,
/// attributes and global secondary indexes as declared there, so the template and the
/// adapters can't disagree unnoticed.
async fn create_table(dynamo: &aws_sdk_dynamodb::Client, logical_id: &str, name: &str) {
    let (_, properties) = template_tables()
        .iter()
        .find(|(id, _)| id == logical_id)
        .unwrap_or_else(|| panic!("{logical_id} in template.yaml"));
    let attributes =
        properties["AttributeDefinitions"].as_array().expect("AttributeDefinitions").iter().map(|attribute| {
            AttributeDefinition::builder()
                .attribute_name(text(attribute, "AttributeName"))
                .attribute_type(ScalarAttributeType::from(text(attribute, "AttributeType")))
                .build()
                .expect("attribute")
        });
    let indexes = properties["GlobalSecondaryIndexes"].as_array().into_iter().flatten().map(|index| {
        GlobalSecondaryIndex::builder()
            .index_name(text(index, "IndexName"))
            .set_key_schema(Some(key_schema(&index["KeySchema"])))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::from(text(&index["Projection"], "ProjectionType")))
                    .build(),
            )
            .build()
            .expect("index")
    });
    dynamo
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(text(properties, "BillingMode")))
        .set_key_schema(Some(key_schema(&properties["KeySchema"])))
        .set_attribute_definitions(Some(attributes.collect()))
        .set_global_secondary_indexes(Some(indexes.collect()).filter(|indexes: &Vec<_>| !indexes.is_empty()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{logical_id}: {e:?}"));
}

/// A fresh set of tables and queues on moto, laid out as `template.yaml` declares them.
pub async fn fresh_resources() -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client, Resources) {
    let config = sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let prefix = format!("t{}", hex::encode(rand::rng().random::<[u8; 6]>()));
    let name = |table: &str| format!("{prefix}-{table}");
    for (logical_id, table) in [
        ("EventLogTable", "event-log"),
        ("AccountsTable", "accounts"),
        ("LedgerTable", "ledger"),
        ("WorkflowsTable", "workflows"),
        ("RunsTable", "runs"),
        ("AlertsTable", "alerts"),
        ("ApiKeysTable", "api-keys"),
        ("UsageTable", "usage"),
    ] {
        create_table(&dynamo, logical_id, &name(table)).await;
    }
    assert_eq!(template_tables().len(), 8, "every table in template.yaml is created here");

    let (events_queue_url, events_dlq_url) = queue_pair(&sqs, &name("events")).await;
    let (runs_queue_url, runs_dlq_url) = queue_pair(&sqs, &name("runs")).await;
    let (customer_runs_queue_url, customer_runs_dlq_url) = queue_pair(&sqs, &name("customer-runs")).await;
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
        customer_runs_queue_url,
        customer_runs_dead_letter_queue_url: Some(customer_runs_dlq_url),
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
