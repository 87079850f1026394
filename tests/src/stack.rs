//! The real `tollgate dev` process, on a free port and a fresh data directory.

use reqwest::StatusCode;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tollgate_app::{Clock, SystemClock};
use tollgate_core::signature::{WebhookSecret, sign};
use tollgate_core::time::Timestamp;
use tollgate_http::jwt;

pub const WEBHOOK_SECRET: &str = "whsec_tollgate_e2e_tests";
pub const JWT_SECRET: &str = "jwt-secret-for-the-e2e-tests-only";
pub const WORKFLOW_SECRET: &str = "workflow-secret-for-e2e-tests";

/// `target/debug/tollgate`, beside the test binary's own `deps` folder.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let binary = dir.join(format!("tollgate{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.exists(), "{} is missing: build it first with `cargo build -p tollgate-local`", binary.display());
    binary
}

/// Where a stack started with [`TestStack::start_logged`] writes its log.
const LOG_FILE: &str = "tollgate.log";

fn spawn(data_dir: &Path, settings: &[(&str, &str)], logged: bool) -> (Child, String) {
    let mut command = Command::new(binary());
    command.args(["dev", "--addr", "127.0.0.1:0", "--data-dir"]).arg(data_dir);
    command.env_remove("TOLLGATE_ADDR").env_remove("CATALOG_PATH");
    command.env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()));
    // Suites bring their own Stripe (a request-checking stand-in, or none); the emulator
    // suite asks for `TOLLGATE_STRIPE=emulated`.
    command.env("TOLLGATE_STRIPE", "real").env_remove("TOLLGATE_STRIPE_CHAOS");
    command
        .env("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("JWT_SECRET", JWT_SECRET)
        .env("WORKFLOW_SECRET", WORKFLOW_SECRET);
    // After the defaults, so a test can replace one (an empty value unsets it).
    for (name, value) in settings {
        command.env(name, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(if logged { log_file(data_dir) } else { Stdio::inherit() })
        .spawn()
        .expect("tollgate dev starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stdout = BufReader::new(stdout);
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).expect("tollgate dev prints its address");
    // Keep reading, so that what it prints later never meets a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (child, address_in(&first_line))
}

fn log_file(data_dir: &Path) -> Stdio {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(data_dir.join(LOG_FILE)).expect("a log file");
    Stdio::from(file)
}

pub fn now() -> Timestamp {
    SystemClock.now()
}

/// The base URL in the line `tollgate dev` prints first.
pub fn address_in(first_line: &str) -> String {
    first_line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first_line:?}"))
        .to_owned()
}

/// A message of a stack's durable queue.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub body: String,
    /// How often it was handed to its consumer.
    pub receive_count: u64,
    pub dead: bool,
}

/// A running local stack. Killed when dropped; its data directory goes with it.
pub struct TestStack {
    child: Child,
    data_dir: TempDir,
    settings: Vec<(String, String)>,
    logged: bool,
    pub base_url: String,
    pub http: reqwest::Client,
}

impl TestStack {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts with extra environment settings (`TOLLGATE_TICK_SECONDS`, caps, …).
    pub async fn start_with(settings: &[(&str, &str)]) -> Self {
        Self::start_as(settings, false)
    }

    /// Starts with its log in the data directory ([`TestStack::log`]) instead of the test's output.
    pub async fn start_logged(settings: &[(&str, &str)]) -> Self {
        Self::start_as(settings, true)
    }

    fn start_as(settings: &[(&str, &str)], logged: bool) -> Self {
        let data_dir = tempfile::tempdir().expect("a temporary data directory");
        let (child, base_url) = spawn(data_dir.path(), settings, logged);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client");
        let settings = settings.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        Self { child, data_dir, settings, logged, base_url, http }
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// What a stack started with [`TestStack::start_logged`] has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join(LOG_FILE)).unwrap_or_default()
    }

    /// Kills the process with SIGKILL (no chance to finish anything) and starts a new one
    /// on the same data directory.
    pub async fn kill_and_restart(&mut self) {
        // It may already be dead (killed by the test through its pid); that is fine.
        let _ = self.child.kill();
        self.child.wait().expect("reaped");
        let settings: Vec<(&str, &str)> = self.settings.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let (child, base_url) = spawn(self.data_dir.path(), &settings, self.logged);
        self.child = child;
        self.base_url = base_url;
    }

    /// Restarts (as [`TestStack::kill_and_restart`]) with setting `name` now `value`.
    pub async fn restart_with(&mut self, name: &str, value: &str) {
        self.settings.retain(|(setting, _)| setting != name);
        self.settings.push((name.to_owned(), value.to_owned()));
        self.kill_and_restart().await;
    }

    /// The messages of the stack's durable queue `name` (`events`, `runs`, `usage`, …), as
    /// read from its SQLite file: what a test waits on instead of sleeping past a backoff.
    pub fn queue(&self, name: &str) -> Vec<QueuedMessage> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let db = rusqlite::Connection::open_with_flags(self.data_dir.path().join("tollgate.sqlite3"), flags)
            .expect("the stack's database opens");
        db.busy_timeout(Duration::from_secs(5)).expect("a busy timeout");
        let mut statement =
            db.prepare("SELECT body, receive_count, dead FROM queue WHERE name = ?1 ORDER BY seq").expect("a query");
        statement
            .query_map([name], |row| {
                Ok(QueuedMessage { body: row.get(0)?, receive_count: row.get(1)?, dead: row.get(2)? })
            })
            .and_then(Iterator::collect)
            .expect("the queue table reads")
    }

    /// (messages still to deliver, dead letters) of queue `name`.
    pub fn queue_counts(&self, name: &str) -> (usize, usize) {
        let messages = self.queue(name);
        let dead = messages.iter().filter(|message| message.dead).count();
        (messages.len() - dead, dead)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Posts `payload` signed as Stripe would, now.
    pub async fn deliver(&self, payload: &str) -> (StatusCode, Value) {
        let secret = WebhookSecret::parse(WEBHOOK_SECRET).expect("test secret");
        self.post_webhook(payload, Some(&sign(&secret, now(), payload.as_bytes()))).await
    }

    pub async fn post_webhook(&self, payload: &str, signature: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.http.post(self.url("/webhooks/stripe")).body(payload.to_owned());
        if let Some(signature) = signature {
            request = request.header("Stripe-Signature", signature);
        }
        let response = request.send().await.expect("the stack answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `account`'s first authenticated call, which makes its account (a referral code
    /// counts only if it names an existing account).
    pub async fn sign_in(&self, account: &str) {
        let response = self
            .http
            .get(self.url("/api/me"))
            .bearer_auth(token(account, None))
            .send()
            .await
            .expect("the stack answers");
        assert_eq!(response.status(), StatusCode::OK, "{account} signs in");
    }

    /// Sends `request` to the stack as raw bytes; see [`raw_request`].
    pub async fn raw(&self, request: &[u8]) -> Option<(u16, String)> {
        raw_request(&self.base_url, request).await
    }

    pub fn admin_token(&self) -> String {
        token("operator", Some("admin"))
    }

    /// `GET path` as `account` (a user token), which must answer 200: its JSON.
    pub async fn get_as(&self, account: &str, path: &str) -> Value {
        let response = self.http.get(self.url(path)).bearer_auth(token(account, None)).send().await.expect("answers");
        assert_eq!(response.status(), StatusCode::OK, "GET {path} as {account}");
        response.json().await.expect("a JSON answer")
    }

    pub async fn admin_get(&self, path: &str) -> (StatusCode, Value) {
        let response =
            self.http.get(self.url(path)).bearer_auth(self.admin_token()).send().await.expect("the stack answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Sends `body` as JSON with the admin token.
    pub async fn admin_send(&self, method: reqwest::Method, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.admin_token())
            .json(body)
            .send()
            .await
            .expect("the stack answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `account` (Stripe customer `cus_<account>`) subscribes to `lookup_key`'s price, active
    /// from a minute ago: the checkout's and the subscription's events, delivered signed and applied.
    pub async fn subscribe(&self, account: &str, lookup_key: &str) {
        use crate::stripe::{checkout_session, event, subscription};
        let created = now().0;
        let customer = format!("cus_{account}");
        let session = checkout_session(account, &customer, None);
        let linked = event(&format!("evt_link_{account}"), "checkout.session.completed", created, session);
        let sub = subscription(&format!("sub_{account}"), &customer, lookup_key, "active", created - 60);
        let subscribed = event(&format!("evt_sub_{account}"), "customer.subscription.created", created, sub);
        for payload in [linked, subscribed] {
            let (status, body) = self.deliver(&payload).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            self.settled(body["id"].as_str().unwrap()).await;
        }
    }

    /// Waits until `event_id` has left `queued`, and returns its record.
    pub async fn settled(&self, event_id: &str) -> Value {
        self.wait_for(|events| events.iter().find(|e| e["id"] == event_id && e["status"] != "queued").cloned())
            .await
            .unwrap_or_else(|| panic!("{event_id} was never processed"))
    }

    /// Polls `/admin/events` until `check` finds what it looks for (at most 20 s).
    pub async fn wait_for<T>(&self, check: impl Fn(&[Value]) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, body) = self.admin_get("/admin/events?limit=500").await;
            let events = body["events"].as_array().cloned().unwrap_or_default();
            if let Some(found) = check(&events) {
                return Some(found);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn ledger(&self, account: &str) -> Vec<Value> {
        let (status, body) = self.admin_get(&format!("/admin/ledger?account={account}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["entries"].as_array().cloned().unwrap_or_default()
    }

    pub async fn account(&self, account: &str) -> Value {
        let (status, body) = self.admin_get(&format!("/admin/accounts/{account}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw `GET path` with an API key, for [`raw_request`]: the path exactly as written.
pub fn raw_get_with_key(path: &str, key: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n")
}

/// Sends `request` to the server at `base_url` as raw bytes (no client normalizes its path
/// or headers) and returns the status code and the whole answer; `None` when it answered
/// nothing within 30 s.
pub async fn raw_request(base_url: &str, request: &[u8]) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("the server listens");
    stream.write_all(request).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await.ok()?.ok()?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, answer))
}

/// A JWT signed with the stack's secret, valid for an hour.
pub fn token(sub: &str, role: Option<&str>) -> String {
    let claims = jwt::Claims { sub: sub.to_owned(), role: role.map(str::to_owned), exp: now().0 + 3600 };
    jwt::Settings::hs256(JWT_SECRET).expect("a long enough secret").mint(&claims).expect("an HS256 secret mints")
}
