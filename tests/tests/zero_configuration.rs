//! `tollgate dev` runs with no configuration at all: it generates development secrets,
//! prints them with how to use them, and keeps them across restarts.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use tollgate_core::signature::{WebhookSecret, sign};
use tollgate_tests::stack::{binary, now};

fn start(data_dir: &std::path::Path) -> (std::process::Child, Vec<String>) {
    let mut child = Command::new(binary())
        .args(["dev", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("tollgate dev starts");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let lines: Vec<String> =
        stdout.lines().map_while(Result::ok).take_while(|line| !line.contains("Stripe API")).collect();
    (child, lines)
}

#[tokio::test]
async fn dev_starts_with_generated_secrets_that_work_and_survive_a_restart() {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut child, lines) = start(data_dir.path());
    let printed_secret = lines
        .iter()
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("whsec_dev_")))
        .expect("the webhook secret is printed");
    assert!(lines.iter().any(|l| l.contains("admin token")), "an admin token is printed: {lines:?}");
    let base_url = lines[0].split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();

    let payload = tollgate_tests::stripe::event(
        "evt_zero_config",
        "customer.created",
        now().0,
        serde_json::json!({"id": "cus_z"}),
    );
    let secret = WebhookSecret::parse(printed_secret).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{base_url}/webhooks/stripe"))
        .header("Stripe-Signature", sign(&secret, now(), payload.as_bytes()))
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "a delivery signed with the printed secret is accepted");
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut again, lines) = start(data_dir.path());
    assert!(lines.iter().any(|l| l.contains(printed_secret)), "the same secret after a restart");
    again.kill().unwrap();
    again.wait().unwrap();
}
