//! An offline Stripe for `tollgate dev`: the API surface tollgate uses, with state, on
//! Stripe's wire format (form bodies, `Idempotency-Key` replay, `Stripe-Version`, error
//! objects); hosted Checkout, portal and onboarding pages in plain HTML; events, signed
//! and POSTed to a webhook URL with retries; subscriptions that renew. tollgate's own
//! `async-stripe` client talks to it as it talks to Stripe. Only `tollgate dev` links it.

mod api;
mod billing;
mod failure;
mod fixtures;
mod pages;
mod params;
mod requests;
mod resources;
mod store;
mod webhooks;

pub use requests::LoggedRequest;
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tollgate_app::ports::stripe_time::{Advanced, Advancing, StripeTime, StripeTimeError};
use tollgate_core::ids::CustomerId;
use tollgate_core::signature::WebhookSecret;

pub use store::EVENT_DAYS;

/// How often subscriptions are checked for a period that has ended.
const RENEWAL_CHECK: Duration = Duration::from_secs(1);

pub struct Settings {
    /// The JSON file the state is kept in (in the data directory).
    pub state_file: PathBuf,
    /// The secret key requests must carry (`sk_test_…`).
    pub secret_key: SecretString,
    /// Where the hosted pages are reached, `http://127.0.0.1:8080/stripe`.
    pub public_base: String,
    /// The webhook endpoint events are POSTed to.
    pub webhook_url: String,
    pub webhook_secret: WebhookSecret,
    /// The event types the endpoint subscribes to (as a Stripe webhook endpoint's
    /// `enabled_events`): only these are delivered.
    pub enabled_events: Vec<String>,
    /// Delivers every event twice, out of order.
    pub chaos: bool,
}

pub struct Emulator {
    settings: Settings,
    state: Mutex<store::State>,
    /// Wakes the deliverer when a change owes webhooks.
    owed: Notify,
    http: reqwest::Client,
    requests: requests::RequestLog,
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("the emulated Stripe's state file {path}: {source}")]
    State { path: PathBuf, source: std::io::Error },
    #[error("the emulated Stripe's webhook client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Seconds since the epoch: the emulator is Stripe's clock.
fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Emulator {
    /// The emulator with the state kept at `settings.state_file` (none yet: an empty Stripe).
    pub fn open(settings: Settings) -> Result<Arc<Self>, EmulatorError> {
        let mut state = store::State::load(&settings.state_file)
            .map_err(|source| EmulatorError::State { path: settings.state_file.clone(), source })?;
        state.subscribed = settings.enabled_events.clone();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Arc::new(Self {
            settings,
            state: Mutex::new(state),
            owed: Notify::new(),
            http,
            requests: requests::RequestLog::default(),
        }))
    }

    /// Its routes, to be served under the prefix of `Settings::public_base`: the API at
    /// `/v1/…`, the hosted pages, and `POST /emulator/advance`.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        api::routes().merge(pages::routes()).with_state(Arc::clone(self))
    }

    /// Delivers owed webhooks and renews subscriptions whose period has ended, until dropped.
    pub async fn run(self: Arc<Self>) {
        tokio::spawn(webhooks::deliver(Arc::clone(&self)));
        let mut ticks = tokio::time::interval(RENEWAL_CHECK);
        loop {
            ticks.tick().await;
            // Read first: the state is written only when a renewal is due.
            if !billing::renewal_due(&self.lock(), now()) {
                continue;
            }
            if let Err(error) = self.change(|state, at| billing::renew_due(state, at, None, Some(0))) {
                tracing::error!(%error, "the emulated Stripe could not renew subscriptions");
            }
        }
    }

    /// Every API request since start, oldest first (at most the newest 10,000).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.requests.all()
    }

    fn key_matches(&self, presented: &str) -> bool {
        presented == self.settings.secret_key.expose_secret()
    }

    fn lock(&self) -> MutexGuard<'_, store::State> {
        // A panic while holding the lock leaves state a request may have half-changed; the
        // file on disk holds the last whole one, and this process serves on with what it has.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `change` on the state at Stripe's clock, saves the state, and wakes the
    /// deliverer for any event it made.
    fn change<T>(&self, change: impl FnOnce(&mut store::State, i64) -> T) -> Result<T, std::io::Error> {
        let at = now();
        let mut state = self.lock();
        let owed = state.deliveries.len();
        let result = change(&mut state, at);
        state.save(&self.settings.state_file, at)?;
        if state.deliveries.len() > owed {
            self.owed.notify_one();
        }
        Ok(result)
    }

    /// See [`StripeTime::advance`].
    pub fn advance(&self, customer: Option<&str>, by_seconds: Option<i64>) -> Result<Advanced, StripeTimeError> {
        if let Some(customer) = customer
            && self.lock().find("customer", customer).is_none()
        {
            return Err(StripeTimeError::UnknownCustomer(customer.to_owned()));
        }
        self.change(|state, at| billing::renew_due(state, at, customer, by_seconds.map(|by| by.max(0))))
            .map_err(|error| StripeTimeError::Failed(error.to_string()))
    }
}

impl StripeTime for Emulator {
    fn advance<'a>(&'a self, customer: Option<&'a CustomerId>, by_seconds: Option<i64>) -> Advancing<'a> {
        Box::pin(async move { Emulator::advance(self, customer.map(CustomerId::as_str), by_seconds) })
    }
}
