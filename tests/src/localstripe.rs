//! `localstripe` (PyPI), a Stripe stand-in that keeps state, on a free loopback port for
//! this test process. It covers customers (not prices, Checkout or the billing portal,
//! which `fake_stripe` plays).

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The base URL of this process's localstripe, started on first use.
pub fn url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(start)
}

#[expect(clippy::zombie_processes, reason = "the watchdog must outlive this process to stop localstripe after it")]
fn start() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    // The Python that runs moto_server has localstripe too (scripts/setup.sh installs both).
    let serve = format!(
        "from localstripe.server import app; from aiohttp import web; web.run_app(app, host='127.0.0.1', port={port}, print=None)"
    );
    let script = format!(
        "\"$(dirname \"$(command -v moto_server)\")/python\" -c \"{serve}\" >/dev/null 2>&1 & child=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done; kill $child 2>/dev/null",
        parent = std::process::id()
    );
    Command::new("sh").args(["-c", &script]).stdin(Stdio::null()).spawn().expect("sh to start localstripe");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "localstripe did not start on port {port} (pip install localstripe)");
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("http://127.0.0.1:{port}")
}
