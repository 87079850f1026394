//! Headless Chromium driven through chromedriver (Debian's `chromium` and `chromium-driver`)
//! with fantoccini, for the console and account page tests. Each browser has its own
//! chromedriver on a free port; what the page logged is read from chromedriver's log endpoint.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    pub client: Client,
    driver: Child,
    driver_url: String,
}

impl Browser {
    /// A headless Chromium `width` × `height` pixels large.
    pub async fn start(width: u32, height: u32) -> Self {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists(),
            "{CHROMEDRIVER} is missing: apt-get install chromium chromium-driver (scripts/setup.sh does)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver_url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{driver_url}/status")).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-extensions", format!("--window-size={width},{height}")],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver_url)
            .await
            .expect("a Chromium session");
        Self { client, driver, driver_url }
    }

    /// What the page logged at level SEVERE (errors, refused resources, CSP violations) since
    /// the last call.
    pub async fn console_errors(&self) -> Vec<String> {
        let session = self.client.session_id().await.unwrap().expect("a session");
        let logs: Value = reqwest::Client::new()
            .post(format!("{}/session/{session}/se/log", self.driver_url))
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        logs["value"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Every resource the page loaded that is not on `origin`.
    pub async fn foreign_requests(&self, origin: &str) -> Vec<String> {
        let names = self
            .client
            .execute("return performance.getEntriesByType('resource').map(entry => entry.name);", vec![])
            .await
            .unwrap();
        names
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|name| name.as_str().map(str::to_owned))
            .filter(|name| !name.starts_with(origin))
            .collect()
    }

    /// Waits (up to 10 s) for the element `css`.
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
    }

    /// Clicks the element `css`, finding it again if the page re-rendered it meanwhile.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.element(css).await.click().await {
                Ok(()) => return,
                // A re-rendered element is stale for a moment; the next find gets the new one.
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(error) => panic!("{css} could not be clicked: {error}"),
            }
        }
    }

    /// Waits (up to 10 s) until the script `condition` returns true.
    pub async fn until(&self, what: &str, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.client.execute(&format!("return Boolean({condition});"), vec![]).await.unwrap() == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "{what} never happened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Makes the page see `prefers-color-scheme: dark` (or light), as a system setting would.
    pub async fn color_scheme(&self, scheme: &str) {
        let session = self.client.session_id().await.unwrap().expect("a session");
        let command = json!({"cmd": "Emulation.setEmulatedMedia",
                             "params": {"features": [{"name": "prefers-color-scheme", "value": scheme}]}});
        let answer = reqwest::Client::new()
            .post(format!("{}/session/{session}/goog/cdp/execute", self.driver_url))
            .json(&command)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "chromedriver refused the color scheme");
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
