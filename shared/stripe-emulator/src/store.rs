//! The emulator's state: every object as Stripe shows it, the events, the webhook
//! deliveries still owed and the idempotency keys seen; kept in one JSON file in the data
//! directory, written whole (to a temporary file, then renamed) after every change.

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// Stripe keeps events for 30 days, and idempotency keys for 24 hours.
pub const EVENT_DAYS: i64 = 30;
const REPLAY_SECONDS: i64 = 24 * 3600;

#[derive(Default, Serialize, Deserialize)]
pub struct State {
    /// Every object (customers, prices, subscriptions, charges…), oldest first.
    pub objects: Vec<Value>,
    /// Events, oldest first.
    pub events: Vec<Value>,
    /// Webhook deliveries not yet acknowledged.
    pub deliveries: Vec<Delivery>,
    /// The event types the webhook endpoint subscribes to: a setting, never stored.
    #[serde(skip)]
    pub subscribed: Vec<String>,
    /// Idempotency key → the first request's fingerprint and answer.
    pub replays: BTreeMap<String, Replay>,
    /// What Stripe knows but does not show on the object, by object id: a customer's saved
    /// card, a session's line item, a subscription's plan switch at period end.
    pub private: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub event: String,
    pub attempts: u32,
    /// Unix milliseconds.
    pub due_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replay {
    pub fingerprint: String,
    pub status: u16,
    pub body: Value,
    pub at: i64,
}

/// A Stripe-looking id: `prefix_` and 24 letters and digits.
pub fn new_id(prefix: &str) -> String {
    let tail: String = rand::rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
    format!("{prefix}_{tail}")
}

impl State {
    pub fn load(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(error),
        }
    }

    /// Written to a private temporary file and renamed over the old one, so a crash leaves
    /// either state whole.
    pub fn save(&mut self, path: &Path, now: i64) -> std::io::Result<()> {
        self.events.retain(|event| event["created"].as_i64().unwrap_or(0) > now - EVENT_DAYS * 86_400);
        self.replays.retain(|_, replay| replay.at > now - REPLAY_SECONDS);
        // Meter events matter for their identifier's day of dedupe only; kept longer they
        // would grow the state with every flush.
        self.objects.retain(|object| {
            object["object"] != "billing.meter_event" || object["created"].as_i64().unwrap_or(0) > now - REPLAY_SECONDS
        });
        let kept: std::collections::BTreeSet<&str> = self.events.iter().filter_map(|e| e["id"].as_str()).collect();
        self.deliveries.retain(|delivery| kept.contains(delivery.event.as_str()));
        let temporary = path.with_extension("tmp");
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        write_private(&temporary, &bytes)?;
        std::fs::rename(&temporary, path)
    }

    pub fn get(&self, id: &str) -> Option<&Value> {
        self.objects.iter().find(|object| object["id"] == id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.objects.iter_mut().find(|object| object["id"] == id)
    }

    /// The object `id` if it is a `kind` (`"customer"`, `"price"`…).
    pub fn find(&self, kind: &str, id: &str) -> Option<&Value> {
        self.get(id).filter(|object| object["object"] == kind)
    }

    pub fn insert(&mut self, object: Value) -> Value {
        self.objects.push(object.clone());
        object
    }

    /// Objects of `kind`, newest first (as Stripe lists them).
    pub fn newest_first<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects.iter().rev().filter(move |object| object["object"] == kind)
    }

    pub fn private(&mut self, id: &str) -> &mut Value {
        self.private.entry(id.to_owned()).or_insert_with(|| json!({}))
    }

    /// Records the event Stripe makes for `object` now, and owes its delivery when the
    /// webhook endpoint subscribes to its type (tollgate's endpoint: the types it handles).
    /// `account`: the connected account a Connect event is about.
    pub fn emit(&mut self, event_type: &str, object: &Value, previous: Option<Value>, account: Option<&str>, at: i64) {
        let mut event = crate::fixtures::get("event");
        let id = new_id("evt");
        event["id"] = json!(id);
        event["type"] = json!(event_type);
        event["created"] = json!(at);
        event["api_version"] = json!(tollgate_core::STRIPE_API_VERSION);
        event["livemode"] = json!(false);
        let subscribed = self.subscribed.iter().any(|subscribed| subscribed == event_type);
        event["pending_webhooks"] = json!(u8::from(subscribed));
        event["data"] = match previous {
            Some(previous) => json!({"object": object, "previous_attributes": previous}),
            None => json!({"object": object}),
        };
        if let Some(account) = account {
            event["account"] = json!(account);
        }
        self.events.push(event);
        if subscribed {
            self.deliveries.push(Delivery { event: id, attempts: 0, due_ms: 0 });
        }
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_kept_30_days_and_idempotency_keys_a_day_and_the_state_reads_back_whole() {
        let now = 1_800_000_000;
        let mut state = State { subscribed: vec!["invoice.paid".into()], ..State::default() };
        state.emit("invoice.paid", &json!({"id": "in_old"}), None, None, now - EVENT_DAYS * 86_400);
        state.emit("invoice.paid", &json!({"id": "in_new"}), None, None, now - EVENT_DAYS * 86_400 + 1);
        state.emit("price.created", &json!({"id": "price_1"}), None, None, now);
        let replay = |at| Replay { fingerprint: "f".into(), status: 200, body: json!({}), at };
        state.replays.insert("old".into(), replay(now - 86_400));
        state.replays.insert("new".into(), replay(now - 86_399));
        assert_eq!(state.deliveries.len(), 2, "only the types the endpoint subscribes to are owed");
        let dir = std::env::temp_dir().join(format!("tollgate-emulator-{}", new_id("t")));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        state.save(&path, now).unwrap();
        let read = State::load(&path).unwrap();
        let kept: Vec<&str> = read.events.iter().map(|e| e["data"]["object"]["id"].as_str().unwrap()).collect();
        assert_eq!(kept, ["in_new", "price_1"]);
        assert_eq!(read.deliveries.len(), 1, "a delivery goes with its event");
        assert_eq!(read.replays.keys().collect::<Vec<_>>(), ["new"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
