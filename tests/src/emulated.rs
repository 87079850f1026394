//! `tollgate dev` on its emulated Stripe (`TOLLGATE_STRIPE=emulated`), and what tests do
//! with it: its API as Stripe's clients call it, Checkout paid as its form pays, the events
//! it made, and waiting until tollgate has applied them.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::stack::{TestStack, token};

/// The value of form parameter `name` in a logged request, if it was sent.
pub fn param<'a>(request: &'a Value, name: &str) -> Option<&'a str> {
    let params = request["params"].as_array()?;
    params.iter().find(|pair| pair[0] == name).and_then(|pair| pair[1].as_str())
}

/// A stack on its emulated Stripe, with the emulator's secret key.
pub struct Emulated {
    pub stack: TestStack,
    /// The emulator's secret key (`sk_test_emulated_…`).
    pub key: String,
}

impl Emulated {
    pub async fn start(settings: &[(&str, &str)]) -> Self {
        Self::start_as(settings, false).await
    }

    /// With its log kept ([`TestStack::log`]).
    pub async fn start_logged(settings: &[(&str, &str)]) -> Self {
        Self::start_as(settings, true).await
    }

    async fn start_as(settings: &[(&str, &str)], logged: bool) -> Self {
        let mut all = vec![("TOLLGATE_STRIPE", "emulated")];
        all.extend_from_slice(settings);
        let stack = if logged { TestStack::start_logged(&all).await } else { TestStack::start_with(&all).await };
        let key = std::fs::read_to_string(stack.data_dir().join("stripe-emulator-key")).unwrap().trim().to_owned();
        let emulated = Self { stack, key };
        // `tollgate dev` puts the catalog on the emulator once it answers: wait for all of it,
        // so that no catalog event lands among those a test counts.
        let catalog = match settings.iter().find(|(name, _)| *name == "CATALOG_PATH") {
            Some((_, path)) => tollgate_core::catalog::Catalog::parse(&std::fs::read_to_string(path).unwrap()).unwrap(),
            None => tollgate_core::catalog::Catalog::default_catalog(),
        };
        let priced = tollgate_core::sync::lookup_keys(&catalog).len();
        emulated
            .until("the catalog is on the emulated Stripe", || async {
                let (_, prices) = emulated.stripe(Method::GET, "/v1/prices?active=true&limit=100", &[], None).await;
                prices["data"].as_array().is_some_and(|data| data.len() == priced)
            })
            .await;
        emulated
    }

    /// A request to the emulated Stripe's API, form-encoded as Stripe's clients send it.
    pub async fn stripe(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request =
            self.stack.http.request(method, self.stack.url(&format!("/stripe{path}"))).bearer_auth(&self.key);
        if !form.is_empty() {
            request = request.form(form);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// The emulator's request log for `method` on `path` (`/v1/customers`), oldest first:
    /// `{method, path, params: [[name, value]…], idempotency_key, stripe_version, status}`.
    pub async fn requests(&self, method: &Method, path: &str) -> Vec<Value> {
        let response = self
            .stack
            .http
            .get(self.stack.url("/stripe/emulator/requests"))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let log: Value = response.json().await.unwrap();
        let all = log["data"].as_array().unwrap().iter();
        all.filter(|request| request["method"] == method.as_str() && request["path"] == path).cloned().collect()
    }

    pub async fn until<F: std::future::Future<Output = bool>>(&self, what: &str, check: impl Fn() -> F) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check().await {
            assert!(Instant::now() < deadline, "{what} never happened");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `account` asks for a Checkout Session for `sku` and gets its URL.
    pub async fn checkout(&self, account: &str, body: Value) -> String {
        let response = self
            .stack
            .http
            .post(self.stack.url("/api/checkout"))
            .bearer_auth(token(account, None))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned()
    }

    /// Pays on the Checkout page as its form does (no JavaScript needed): the status and
    /// where it redirects.
    pub async fn pay(&self, url: &str, card: &str) -> (StatusCode, Option<String>) {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let response = client.post(url).form(&[("card", card)]).send().await.unwrap();
        let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        (response.status(), location)
    }

    /// `account`'s billing-portal link, as `/api/portal` answers it.
    pub async fn portal(&self, account: &str) -> String {
        let response =
            self.stack.http.post(self.stack.url("/api/portal")).bearer_auth(token(account, None)).send().await.unwrap();
        response.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned()
    }

    /// Submits the portal page's form at `portal` with `fields`, as its buttons do: the page answered.
    pub async fn portal_form(&self, portal: &str, fields: &[(&str, &str)]) -> String {
        self.stack.http.post(portal).form(fields).send().await.unwrap().text().await.unwrap()
    }

    pub async fn buy(&self, account: &str, body: Value) {
        let url = self.checkout(account, body).await;
        assert_eq!(self.pay(&url, "4242 4242 4242 4242").await.0, StatusCode::SEE_OTHER);
    }

    /// Every event the emulator made, oldest first (walking its pages).
    pub async fn events(&self) -> Vec<Value> {
        let mut newest_first = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(id) => format!("/v1/events?limit=100&starting_after={id}"),
                None => "/v1/events?limit=100".to_owned(),
            };
            let (status, page) = self.stripe(Method::GET, &path, &[], None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let data = page["data"].as_array().unwrap().clone();
            after = data.last().map(|event| event["id"].as_str().unwrap().to_owned());
            newest_first.extend(data);
            if page["has_more"] != true {
                break;
            }
        }
        newest_first.reverse();
        newest_first
    }

    /// Waits until tollgate has received and settled every event the emulator owes it.
    pub async fn all_applied(&self) -> Vec<Value> {
        let handled: HashSet<String> =
            tollgate_core::change::HANDLED_EVENT_TYPES.iter().map(|t| (*t).to_owned()).collect();
        let owed: Vec<String> = self
            .events()
            .await
            .into_iter()
            .filter(|event| handled.contains(event["type"].as_str().unwrap()))
            .map(|event| event["id"].as_str().unwrap().to_owned())
            .collect();
        self.stack
            .wait_for(|events| {
                let settled = owed
                    .iter()
                    .all(|id| events.iter().any(|event| event["id"] == id.as_str() && event["status"] != "queued"));
                settled.then(|| events.to_vec())
            })
            .await
            .unwrap_or_else(|| panic!("tollgate never settled all of {owed:?}"))
    }

    pub async fn me(&self, account: &str) -> Value {
        let response =
            self.stack.http.get(self.stack.url("/api/me")).bearer_auth(token(account, None)).send().await.unwrap();
        response.json().await.unwrap()
    }
}
