//! Deliveries to customers' endpoints are signed as the Standard Webhooks specification
//! says (`tollgate_core::standard_webhooks`): the specification's own Python library
//! (`standardwebhooks`, pinned in scripts/setup.sh, run by `OUTSIDE_PYTHON`) verifies what
//! tollgate signs, and refuses it when the body, the id, the time or the secret differ.

use serde_json::{Value, json};
use tollgate_core::standard_webhooks::{EndpointSecret, SECRET_BYTES};
use tollgate_tests::stack::now;

fn outside_python() -> String {
    std::env::var("OUTSIDE_PYTHON").unwrap_or_else(|_| {
        panic!("OUTSIDE_PYTHON is not set: source scripts/setup.sh, which installs the Standard Webhooks library")
    })
}

fn delivery(secret: &EndpointSecret, id: &str, body: &str) -> Value {
    let headers: serde_json::Map<String, Value> = secret
        .headers(id, now(), body.as_bytes())
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.into()))
        .collect();
    json!({"secret": secret.expose(), "headers": headers, "body": body})
}

#[tokio::test]
async fn the_standard_webhooks_library_verifies_what_tollgate_signs_and_nothing_else() {
    let secret = EndpointSecret::from_bytes(rand::random::<[u8; SECRET_BYTES]>());
    let other = EndpointSecret::from_bytes(rand::random::<[u8; SECRET_BYTES]>());
    let completed =
        r#"{"type":"run.completed","data":{"run_id":"run_1","output":{"url":"https://cdn.example.com/a.png"}}}"#;
    let unicode = r#"{"type":"run.failed","data":{"error":"café – 🚫 timeout"}}"#;
    let mut tampered = delivery(&secret, "msg_3", completed);
    tampered["body"] = completed.replace("a.png", "b.png").into();
    let mut other_id = delivery(&secret, "msg_4", completed);
    other_id["headers"]["webhook-id"] = "msg_5".into();
    let mut stale = delivery(&secret, "msg_6", completed);
    stale["headers"]["webhook-timestamp"] = (now().0 - 3_600).to_string().into();
    let mut wrong_secret = delivery(&other, "msg_7", completed);
    wrong_secret["secret"] = secret.expose().into();
    let deliveries = json!([
        delivery(&secret, "msg_1", completed),
        delivery(&secret, "msg_2", unicode),
        tampered,
        other_id,
        stale,
        wrong_secret,
    ]);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/standard-webhooks/verify.py");
    let output = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(outside_python())
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python runs");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(deliveries.to_string().as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let seen: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let results = seen["results"].as_array().unwrap();
    assert_eq!(results[0]["verified"], serde_json::from_str::<Value>(completed).unwrap());
    assert_eq!(results[1]["verified"]["data"]["error"], "café – 🚫 timeout");
    for (n, why) in [(2, "a changed body"), (3, "another id"), (4, "an hour-old time"), (5, "another secret")] {
        assert_eq!(results[n]["refused"], "WebhookVerificationError", "{why}: {seen}");
    }
}
