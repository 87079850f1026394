//! The Standard Webhooks specification's own Python library (`standardwebhooks`, pinned in
//! scripts/setup.sh, run by `OUTSIDE_PYTHON`) verifying what tollgate delivers.

use serde_json::Value;

fn outside_python() -> String {
    std::env::var("OUTSIDE_PYTHON").unwrap_or_else(|_| {
        panic!("OUTSIDE_PYTHON is not set: source scripts/setup.sh, which installs the Standard Webhooks library")
    })
}

/// Runs `tests/standard-webhooks/verify.py` on `deliveries` (a list of
/// `{"secret","headers","body"}`): for each, `{"verified": payload}` or `{"refused": error}`.
pub async fn verify(deliveries: Value) -> Value {
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
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}
