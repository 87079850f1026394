//! Stored records across releases (`tollgate-records`). `tests/fixtures/records/` holds a
//! workflow and a run (and, in `*-others.json`, an alert, an API key, a purchase and a
//! subscription) as this release writes them — the JSON of SQLite's `data` columns and the DynamoDB items —
//! and every release must read them: the fixtures are loaded raw into fresh stores and read
//! through the ports. What this release writes must equal the newest fixture, so a change
//! of format is seen: keep the old fixture (the next release still reads it) and add one.
//! `TOLLGATE_WRITE_FIXTURES=1` rewrites the newest from what this release writes.

use serde_json::Value;
use std::path::PathBuf;
use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::alerts::Alerts;
use tollgate_app::ports::api_keys::{ApiKeys, StoredKey};
use tollgate_app::ports::error::ErrorKind;
use tollgate_app::ports::purchases::{Delivery, Purchase, Purchases};
use tollgate_app::ports::runs::Runs;
use tollgate_app::ports::workflows::Workflows;
use tollgate_core::account::{Subscription, SubscriptionKind, SubscriptionStatus};
use tollgate_core::alert::{Alert, AlertKind};
use tollgate_core::api_key::KeyHash;
use tollgate_core::ids::{AccountId, KeyId, RunId, Sku, SubscriptionId, WorkflowId};
use tollgate_embedded::{QueueSettings, Sqlite};
use tollgate_tests::samples::claimed_sample_run;

const WEBHOOK: &str = "https://n8n.example.com/webhook/shorts";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/records").join(name)
}

/// Compares what this release wrote with the newest fixture as committed. With
/// `TOLLGATE_WRITE_FIXTURES` a differing fixture is rewritten, and the test still fails:
/// the new one is to be reviewed and committed, not taken as proof of itself.
fn matches_fixture(name: &str, written: &Value) -> Value {
    let committed: Option<Value> =
        std::fs::read_to_string(fixture(name)).ok().map(|text| serde_json::from_str(&text).unwrap());
    if committed.as_ref() != Some(written) && std::env::var_os("TOLLGATE_WRITE_FIXTURES").is_some() {
        std::fs::write(fixture(name), serde_json::to_string_pretty(written).unwrap() + "\n").unwrap();
        panic!("{name} rewritten from what this release writes: review and commit it, then run again");
    }
    let committed = committed.unwrap_or_else(|| panic!("{name} is missing: write it with TOLLGATE_WRITE_FIXTURES=1"));
    assert_eq!(written, &committed, "this release writes {name} differently: add a new fixture, keep the old");
    committed
}

fn fresh_sqlite(dir: &tempfile::TempDir, name: &str) -> (Sqlite, rusqlite::Connection) {
    let path = dir.path().join(name);
    let store = Sqlite::open(&path, QueueSettings::default()).unwrap();
    (store, rusqlite::Connection::open(&path).unwrap())
}

fn data(connection: &rusqlite::Connection, table: &str, id: &str) -> Value {
    let text: String =
        connection.query_row(&format!("SELECT data FROM {table} WHERE id = ?1"), [id], |row| row.get(0)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn sqlite_reads_the_records_of_this_release_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, raw) = fresh_sqlite(&dir, "written.sqlite3");
    let run = claimed_sample_run(&writer, WEBHOOK).await;
    let workflow = writer.workflow(&run.workflow_id).await.unwrap().unwrap();
    let written = serde_json::json!({
        "workflow": data(&raw, "workflows", "daily_shorts"),
        "run": data(&raw, "runs", run.id.as_str()),
    });
    let records = matches_fixture("sqlite-v1.json", &written);
    assert_eq!(records["run"]["schema_version"], 1);

    let (reader, raw) = fresh_sqlite(&dir, "read.sqlite3");
    let (stored_workflow, stored_run) = (&records["workflow"], &records["run"]);
    raw.execute(
        "INSERT INTO workflows (id, state, enabled, next_run, version, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            stored_workflow["id"].as_str(),
            stored_workflow["state"].as_str(),
            stored_workflow["enabled"].as_bool(),
            stored_workflow["next_run"].as_i64(),
            stored_workflow["version"].as_i64(),
            stored_workflow.to_string()
        ],
    )
    .unwrap();
    raw.execute(
        "INSERT INTO runs (id, workflow_id, status, created_at, deadline, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            stored_run["id"].as_str(),
            stored_run["workflow_id"].as_str(),
            stored_run["status"].as_str(),
            stored_run["created_at"].as_i64(),
            stored_run["deadline"].as_i64(),
            stored_run.to_string()
        ],
    )
    .unwrap();
    let read_workflow = reader.workflow(&WorkflowId::parse("daily_shorts").unwrap()).await.unwrap().unwrap();
    let read_run = reader.run(&run.id).await.unwrap().unwrap();
    assert_eq!((read_workflow, read_run), (workflow, run.clone()));

    // A record missing its optional fields and counters (as an earlier release wrote fewer) still reads.
    let mut sparse = stored_run.clone();
    for field in ["started_at", "finished_at", "earnings_cents", "reason", "schema_version"] {
        sparse.as_object_mut().unwrap().remove(field);
    }
    raw.execute("UPDATE runs SET data = ?2 WHERE id = ?1", rusqlite::params![run.id.as_str(), sparse.to_string()])
        .unwrap();
    assert_eq!(reader.run(&run.id).await.unwrap().unwrap(), run);

    let mut newer = stored_run.clone();
    newer["schema_version"] = 2.into();
    raw.execute("UPDATE runs SET data = ?2 WHERE id = ?1", rusqlite::params![run.id.as_str(), newer.to_string()])
        .unwrap();
    let refused = reader.run(&run.id).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Corrupt, "{refused}");
}

#[tokio::test]
async fn dynamodb_reads_the_items_of_this_release_and_refuses_a_newer_schema() {
    let (dynamo, sqs, resources) = tollgate_tests::moto::fresh_resources().await;
    let writer = tollgate_aws::Aws::with_clients(dynamo.clone(), sqs.clone(), resources.clone());
    let run = claimed_sample_run(&writer, WEBHOOK).await;
    let workflow = writer.workflow(&run.workflow_id).await.unwrap().unwrap();
    let item = |table: String, id: String| {
        let dynamo = dynamo.clone();
        async move {
            let output = dynamo
                .get_item()
                .table_name(table)
                .key("id", aws_sdk_dynamodb::types::AttributeValue::S(id))
                .send()
                .await
                .unwrap();
            serde_dynamo::from_item::<_, Value>(output.item.expect("stored")).unwrap()
        }
    };
    let written = serde_json::json!({
        "workflow": item(resources.workflows_table.clone(), "daily_shorts".into()).await,
        "run": item(resources.runs_table.clone(), run.id.to_string()).await,
    });
    let records = matches_fixture("dynamodb-v1.json", &written);
    assert_eq!(records["workflow"]["schema_version"], 1);

    let (dynamo, sqs, resources) = tollgate_tests::moto::fresh_resources().await;
    for (table, record) in
        [(&resources.workflows_table, &records["workflow"]), (&resources.runs_table, &records["run"])]
    {
        let item: aws_sdk_dynamodb::types::AttributeValue = serde_dynamo::to_attribute_value(record).unwrap();
        let aws_sdk_dynamodb::types::AttributeValue::M(item) = item else { panic!("an item is a map") };
        dynamo.put_item().table_name(table.as_str()).set_item(Some(item)).send().await.unwrap();
    }
    let reader = tollgate_aws::Aws::with_clients(dynamo.clone(), sqs, resources.clone());
    let read_workflow = reader.workflow(&WorkflowId::parse("daily_shorts").unwrap()).await.unwrap().unwrap();
    let read_run = reader.run(&RunId::parse(run.id.as_str()).unwrap()).await.unwrap().unwrap();
    assert_eq!((read_workflow, read_run), (workflow, run.clone()));

    let mut newer = records["run"].clone();
    newer["schema_version"] = 2.into();
    let aws_sdk_dynamodb::types::AttributeValue::M(newer) = serde_dynamo::to_attribute_value(&newer).unwrap() else {
        panic!("an item is a map")
    };
    dynamo.put_item().table_name(resources.runs_table.as_str()).set_item(Some(newer)).send().await.unwrap();
    let refused = reader.run(&run.id).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Corrupt, "{refused}");
}

/// The other records a store writes: an alert, an API key, a purchase and a subscription.
struct Others {
    alert: Alert,
    key: StoredKey,
    purchase: Purchase,
    subscription: Subscription,
}

fn others() -> Others {
    let account = AccountId::parse("user_fixture").unwrap();
    let at = tollgate_tests::samples::SAMPLE_TIME;
    Others {
        alert: Alert {
            id: "alert_fixture".into(),
            kind: AlertKind::Quota,
            account_id: Some(account.clone()),
            subject: "user_fixture".into(),
            workflow_id: None,
            message: "85% of the monthly quota used".into(),
            created_at: at,
            status: tollgate_core::alert::AlertStatus::default(),
        },
        key: StoredKey {
            id: KeyId::parse("key_fixture").unwrap(),
            account_id: account.clone(),
            hash: KeyHash::parse(&"5e".repeat(32)).unwrap(),
            prefix: "tg_live_fixt".into(),
            created_at: at,
            revoked_at: None,
            last_used_at: None,
        },
        purchase: Purchase {
            id: "cs_fixture".into(),
            account_id: account,
            sku: Sku::parse("template_budget_tracker").unwrap(),
            quantity: 2,
            payment_ref: "pi_fixture".into(),
            delivery: Delivery::Pending,
            revoked: false,
            created_at: at,
            download_url: None,
        },
        subscription: Subscription {
            id: SubscriptionId::parse("sub_fixture").unwrap(),
            sku: Sku::parse("api_pro").unwrap(),
            kind: SubscriptionKind::ApiPlan,
            tier: "pro".into(),
            status: SubscriptionStatus("active".into()),
            current_period_start: Some(at),
            current_period_end: Some(at.plus_seconds(30 * 86_400)),
            event_created: at,
        },
    }
}

async fn write_others<S: Alerts + ApiKeys + Purchases + Accounts>(store: &S, records: &Others) {
    assert!(store.raise(&records.alert).await.unwrap());
    assert_eq!(store.create_key(&records.key, 25).await.unwrap(), tollgate_app::ports::api_keys::KeyCreated::Created);
    store.record_purchase(&records.purchase).await.unwrap();
    store.apply_subscription(&records.purchase.account_id, &records.subscription).await.unwrap();
}

/// Reads each record back through the ports of a store that holds only what the fixture holds.
async fn read_others_back<S: Alerts + ApiKeys + Purchases + Accounts>(store: &S, records: &Others) {
    let account = &records.purchase.account_id;
    assert_eq!(store.alerts(10).await.unwrap(), std::slice::from_ref(&records.alert));
    assert_eq!(store.key_by_hash(&records.key.hash).await.unwrap().as_ref(), Some(&records.key));
    assert_eq!(store.purchase(account, &records.purchase.id).await.unwrap().as_ref(), Some(&records.purchase));
    assert_eq!(store.subscriptions(account).await.unwrap(), std::slice::from_ref(&records.subscription));
}

#[tokio::test]
async fn sqlite_reads_every_other_record_of_this_release() {
    let dir = tempfile::tempdir().unwrap();
    let records = others();
    let (writer, raw) = fresh_sqlite(&dir, "others-written.sqlite3");
    write_others(&writer, &records).await;
    let alert: String =
        raw.query_row("SELECT data FROM alerts WHERE id = ?1", ["alert_fixture"], |row| row.get(0)).unwrap();
    let written = serde_json::json!({
        "alert": serde_json::from_str::<Value>(&alert).unwrap(),
        "key": data(&raw, "api_keys", "key_fixture"),
        "purchase": data(&raw, "purchases", "cs_fixture"),
        "subscription": data(&raw, "subscriptions", "sub_fixture"),
    });
    let stored = matches_fixture("sqlite-v1-others.json", &written);

    let (reader, raw) = fresh_sqlite(&dir, "others-read.sqlite3");
    let inserts = [
        ("INSERT INTO alerts (id, data) VALUES (?1, ?2)", vec!["alert_fixture".into(), stored["alert"].to_string()]),
        (
            "INSERT INTO api_keys (id, hash, account_id, data) VALUES (?1, ?2, ?3, ?4)",
            vec!["key_fixture".into(), "5e".repeat(32), "user_fixture".into(), stored["key"].to_string()],
        ),
        (
            "INSERT INTO purchases (id, account_id, payment_ref, data) VALUES (?1, ?2, ?3, ?4)",
            vec!["cs_fixture".into(), "user_fixture".into(), "pi_fixture".into(), stored["purchase"].to_string()],
        ),
        (
            "INSERT INTO subscriptions (id, account_id, event_created, data) VALUES (?1, ?2, ?3, ?4)",
            vec![
                "sub_fixture".into(),
                "user_fixture".into(),
                stored["subscription"]["event_created"].to_string(),
                stored["subscription"].to_string(),
            ],
        ),
    ];
    for (sql, values) in inserts {
        raw.execute(sql, rusqlite::params_from_iter(values)).unwrap();
    }
    read_others_back(&reader, &records).await;
}

#[tokio::test]
async fn dynamodb_reads_every_other_item_of_this_release() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let records = others();
    let (dynamo, sqs, resources) = tollgate_tests::moto::fresh_resources().await;
    let writer = tollgate_aws::Aws::with_clients(dynamo.clone(), sqs.clone(), resources.clone());
    write_others(&writer, &records).await;
    let places = |resources: &tollgate_aws::config::Resources| {
        let s = |text: &str| AttributeValue::S(text.to_owned());
        [
            ("alert", resources.alerts_table.clone(), vec![("id", s("alert_fixture"))]),
            ("key", resources.api_keys_table.clone(), vec![("hash", s(&"5e".repeat(32)))]),
            (
                "purchase",
                resources.accounts_table.clone(),
                vec![("pk", s("ACCOUNT#user_fixture")), ("sk", s("PURCHASE#cs_fixture"))],
            ),
            (
                "subscription",
                resources.accounts_table.clone(),
                vec![("pk", s("ACCOUNT#user_fixture")), ("sk", s("SUB#sub_fixture"))],
            ),
        ]
    };
    let mut written = serde_json::Map::new();
    for (name, table, key) in places(&resources) {
        let mut request = dynamo.get_item().table_name(table);
        for (attribute, value) in key {
            request = request.key(attribute, value);
        }
        let item = request.send().await.unwrap().item.expect("stored");
        written.insert(name.into(), serde_dynamo::from_item::<_, Value>(item).unwrap());
    }
    let stored = matches_fixture("dynamodb-v1-others.json", &Value::Object(written));

    let (dynamo, sqs, resources) = tollgate_tests::moto::fresh_resources().await;
    for (name, table, _) in places(&resources) {
        let AttributeValue::M(item) = serde_dynamo::to_attribute_value(&stored[name]).unwrap() else {
            panic!("an item is a map")
        };
        dynamo.put_item().table_name(table).set_item(Some(item)).send().await.unwrap();
    }
    read_others_back(&tollgate_aws::Aws::with_clients(dynamo, sqs, resources), &records).await;
}
