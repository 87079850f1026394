//! Stored records across releases (`tollgate-records`). `tests/fixtures/records/` holds a
//! workflow and a run as this release writes them — the JSON of SQLite's `data` columns and the DynamoDB items —
//! and every release must read them: the fixtures are loaded raw into fresh stores and read
//! through the ports. What this release writes must equal the newest fixture, so a change
//! of format is seen: keep the old fixture (the next release still reads it) and add one.
//! `TOLLGATE_WRITE_FIXTURES=1` rewrites the newest from what this release writes.

use serde_json::Value;
use std::path::PathBuf;
use tollgate_app::ports::error::ErrorKind;
use tollgate_app::ports::runs::Runs;
use tollgate_app::ports::workflows::Workflows;
use tollgate_core::ids::{RunId, WorkflowId};
use tollgate_embedded::{QueueSettings, Sqlite};
use tollgate_tests::samples::claimed_sample_run;

const WEBHOOK: &str = "https://n8n.example.com/webhook/shorts";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/records").join(name)
}

/// Compares what this release wrote with the newest fixture (or writes it).
fn matches_fixture(name: &str, written: &Value) -> Value {
    if std::env::var_os("TOLLGATE_WRITE_FIXTURES").is_some() {
        std::fs::write(fixture(name), serde_json::to_string_pretty(written).unwrap() + "\n").unwrap();
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
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
