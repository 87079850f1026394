//! `tollgate dev` runs with no configuration at all: it generates development secrets,
//! prints them with how to use them, keeps them across restarts, and never logs them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use tollgate_core::signature::{WebhookSecret, sign};
use tollgate_tests::stack::{address_in, binary, now};

fn start(data_dir: &std::path::Path) -> (std::process::Child, Vec<String>) {
    let log = std::fs::File::create(data_dir.join("stderr.log")).unwrap();
    let mut child = Command::new(binary())
        .args(["dev", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(log)
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
    assert!(lines.iter().any(|l| l.contains("4242 4242 4242 4242")), "the emulated Stripe's test card: {lines:?}");
    let base_url = address_in(&lines[0]);

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
    let jwt_secret = std::fs::read_to_string(data_dir.path().join("jwt-secret")).unwrap();
    let claims = tollgate_http::jwt::Claims { sub: "operator".into(), role: Some("admin".into()), exp: now().0 + 60 };
    let token = tollgate_http::jwt::Settings::hs256(&jwt_secret).unwrap().mint(&claims).unwrap();
    let client = reqwest::Client::new();
    let admin = client.get(format!("{base_url}/admin/events")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(admin.status(), 200, "the generated JWT secret signs admin tokens");
    // The printed console and account links carry working tokens in their fragments.
    let link = |label: &str| {
        let line =
            lines.iter().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no {label} line"));
        let url = line.split_whitespace().nth(1).unwrap().to_owned();
        let (page, token) = url.split_once("#token=").expect("the token rides in the fragment");
        (page.to_owned(), token.to_owned())
    };
    let (console, admin_token) = link("console:");
    assert_eq!(console, format!("{base_url}/console"));
    let page = client.get(&console).send().await.unwrap();
    assert_eq!(page.headers()["content-security-policy"], "default-src 'self'");
    let admin = client.get(format!("{base_url}/admin/events")).bearer_auth(&admin_token).send().await.unwrap();
    assert_eq!(admin.status(), 200, "the console link signs in as an admin");
    let (account_page, demo_token) = link("account:");
    assert_eq!(account_page, format!("{base_url}/account"));
    let me: serde_json::Value =
        client.get(format!("{base_url}/api/me")).bearer_auth(&demo_token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["account_id"], "user_demo", "the account link signs in as the demo user");
    let forged = client.post(format!("{base_url}/webhooks/stripe")).header("Stripe-Signature", "t=1,v1=00").body("{}");
    assert_eq!(forged.send().await.unwrap().status(), 400);
    // With no STRIPE_SECRET_KEY, the emulated Stripe sells.
    let catalog: serde_json::Value = client
        .get(format!("{base_url}/api/catalog"))
        .bearer_auth(&demo_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((catalog["buying"].as_bool(), catalog["emulated_stripe"].as_bool()), (Some(true), Some(true)));
    let checkout = client
        .post(format!("{base_url}/api/checkout"))
        .bearer_auth(&demo_token)
        .json(&serde_json::json!({"sku": "api_pro"}));
    let session: serde_json::Value = checkout.send().await.unwrap().json().await.unwrap();
    assert!(session["url"].as_str().unwrap().starts_with(&format!("{base_url}/stripe/checkout/")), "{session}");
    assert_private_files(data_dir.path());
    child.kill().unwrap();
    child.wait().unwrap();

    // The log (stderr, at debug level) never holds a secret or a token; only stdout shows the
    // generated secrets, once, at start.
    let log = std::fs::read_to_string(data_dir.path().join("stderr.log")).unwrap();
    assert!(log.contains("event queued"), "the log is being written: {log}");
    let stripe_key = std::fs::read_to_string(data_dir.path().join("stripe-emulator-key")).unwrap();
    assert!(stripe_key.starts_with("sk_test_emulated_"));
    for secret in [printed_secret, jwt_secret.trim(), token.as_str(), stripe_key.trim()] {
        assert!(!log.contains(secret), "a secret reached the log");
    }

    let (mut again, lines) = start(data_dir.path());
    assert!(lines.iter().any(|l| l.contains(printed_secret)), "the same secret after a restart");
    again.kill().unwrap();
    again.wait().unwrap();
}

/// The data directory is its owner's alone (0700); the database, its WAL and shared-memory
/// files, the generated secrets and the emulated Stripe's state are 0600.
#[cfg(unix)]
fn assert_private_files(data_dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(data_dir), 0o700, "the data directory");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.ends_with("stderr.log") {
            continue; // this test's own file
        }
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        checked.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    for expected in [
        "tollgate.sqlite3",
        "tollgate.sqlite3-wal",
        "tollgate.sqlite3-shm",
        "jwt-secret",
        "webhook-secret",
        "stripe-emulator-key",
        "stripe-emulator.json",
    ] {
        assert!(checked.iter().any(|name| name == expected), "{expected} in {checked:?}");
    }
}

#[cfg(not(unix))]
fn assert_private_files(_data_dir: &std::path::Path) {}
