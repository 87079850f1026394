//! The edge gateway Worker, built to wasm (`functions/edge-gateway/build`, made by
//! `scripts/build-edge.sh`), running on workerd through Miniflare
//! (`functions/edge-gateway/tests/serve.mjs`, configured from `wrangler.toml`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The crate of the Worker.
pub fn edge_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("functions").join("edge-gateway")
}

/// A free loopback port, for a Worker whose address the origin must know before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running Worker; stopped when dropped.
pub struct EdgeWorker {
    child: Child,
    pub url: String,
}

impl EdgeWorker {
    /// Starts the Worker on `port` with these vars and secrets (`ORIGIN_URL`, `UPSTREAM_URL`,
    /// `EDGE_SECRET`, …). `node` must be Node ≥ 22 (`scripts/setup.sh` puts one on PATH).
    /// `None` when it stopped before serving: the port, free when chosen, was taken since.
    pub fn start(port: u16, settings: &[(&str, &str)]) -> Option<Self> {
        let built = edge_dir().join("build").join("index.js");
        assert!(built.exists(), "{} is missing: build the Worker with scripts/build-edge.sh", built.display());
        let mut command = Command::new("node");
        command.arg("tests/serve.mjs").current_dir(edge_dir()).env("PORT", port.to_string());
        for (name, value) in settings {
            command.env(name, value);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs (Node >= 22 on PATH: see scripts/setup.sh)");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        while !line.starts_with("ready ") {
            line.clear();
            if stdout.read_line(&mut line).expect("the Worker's output") == 0 {
                let _ = child.wait();
                return None;
            }
        }
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Some(Self { child, url: line.trim_start_matches("ready ").trim().trim_end_matches('/').to_owned() })
    }
}

impl Drop for EdgeWorker {
    fn drop(&mut self) {
        // Closing stdin lets Miniflare stop workerd; a kill would leave workerd running.
        drop(self.child.stdin.take());
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
