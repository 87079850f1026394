//! `AccountMeter`: one Durable Object per account. It holds the account's
//! [`AccountGate`] (each key's rate window, leases and usage batches, and the pooled
//! quotas, credits and balance every key's calls are charged to) and each key's record
//! (fetched from the origin on first use, refreshed every `RECORD_REFRESH_SECONDS`, pushed
//! a revocation at once). It decides each call it is asked about from memory, lends
//! isolates leases of `requests` calls to decide themselves, counts what they settle, and
//! flushes counts to the origin in batches (alarm every `USAGE_FLUSH_SECONDS`, or at once
//! past [`FLUSH_CALLS`]), writing its state once per flush. Leases live in memory only:
//! they last a second, and an object is evicted only after seconds without requests.

use crate::origin::{self, Lookup};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use tollgate_core::api_key::KeyHash;
use tollgate_core::gate::{AccountGate, GateState};
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::metering::lease::{Lease, Settlement};
use tollgate_core::metering::{DEFAULT_FLUSH_SECONDS, FLUSH_CALLS, KeyRecord, RateHeaders, Refusal, UsageBatch};
use worker::{Date, DurableObject, Env, Request, Response, Result, State, Storage, durable_object};

const GATE: &str = "gate";
const DEFAULT_REFRESH_SECONDS: u64 = 60;
/// After the origin failed to answer, a known key is not refreshed again for this long.
const RETRY_ORIGIN_MS: u64 = 5_000;

/// The Durable Object's answer to the Worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Allowed {
        account_id: AccountId,
        key_id: KeyId,
        headers: RateHeaders,
        /// Calls of `requests` the asking isolate may decide itself.
        lease: Option<Lease>,
        /// With a lease: the route prefixes that charge other meters, which it never covers.
        #[serde(default)]
        routes: Vec<String>,
    },
    Refused {
        refusal: Refusal,
        headers: RateHeaders,
    },
    /// An unknown key while the origin cannot be asked.
    OriginUnavailable,
}

/// The body of every request to the object: the leases the isolate hands back, and
/// whether it asks for a new one.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct MeterRequest {
    #[serde(default)]
    pub settle: Vec<Settlement>,
    #[serde(default)]
    pub want_lease: bool,
}

/// The last answer of the origin about a key: `None` is an unknown key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    record: Option<KeyRecord>,
    /// When to ask the origin again (ms since the epoch).
    refresh_at: u64,
}

struct Inner {
    loaded: bool,
    records: HashMap<KeyHash, Cached>,
    gate: AccountGate<KeyHash>,
    /// When the alarm is set for (ms since the epoch), if it is.
    alarm_at: Option<u64>,
    /// A flush is sending: another one would send its batches twice.
    flushing: bool,
    /// Storage writes, alarms set and metered requests (decisions and settlements) since
    /// this object started: benchmarks read them.
    writes: u64,
    alarms: u64,
    requests: u64,
}

#[durable_object]
pub struct AccountMeter {
    state: State,
    env: Env,
    inner: Rc<RefCell<Inner>>,
    /// `RECORD_REFRESH_SECONDS` and `USAGE_FLUSH_SECONDS`, read once when the object starts.
    refresh_ms: u64,
    flush_ms: u64,
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}

fn seconds_setting(env: &Env, name: &str, default: u64) -> u64 {
    env.var(name).ok().and_then(|value| value.to_string().parse().ok()).unwrap_or(default)
}

fn record_key(hash: &KeyHash) -> String {
    format!("record:{hash}")
}

impl DurableObject for AccountMeter {
    fn new(state: State, env: Env) -> Self {
        let refresh_ms = seconds_setting(&env, "RECORD_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS) * 1000;
        let flush_ms = seconds_setting(&env, "USAGE_FLUSH_SECONDS", DEFAULT_FLUSH_SECONDS) * 1000;
        let inner = Inner {
            loaded: false,
            records: HashMap::new(),
            gate: AccountGate::new(now_ms()),
            alarm_at: None,
            flushing: false,
            writes: 0,
            alarms: 0,
            requests: 0,
        };
        Self { state, env, inner: Rc::new(RefCell::new(inner)), refresh_ms, flush_ms }
    }

    async fn fetch(&self, mut request: Request) -> Result<Response> {
        let url = request.url()?;
        let query: HashMap<_, _> = url.query_pairs().collect();
        let Some(hash) = query.get("hash").and_then(|value| KeyHash::parse(value).ok()) else {
            return Response::error("missing hash", 400);
        };
        let Ok(body) = request.json::<MeterRequest>().await else {
            return Response::error("the body must be {\"settle\": [...]}", 400);
        };
        self.load().await?;
        self.settle(&hash, &body.settle).await?;
        let path = url.path();
        if matches!(path, "/decide" | "/settle") {
            self.inner.borrow_mut().requests += 1;
        }
        match path {
            "/decide" => {
                let called = query.get("path").map_or("/v1/", |path| path.as_ref());
                Response::from_json(&self.decide(hash, called, body.want_lease).await?)
            }
            "/settle" => Response::from_json(&serde_json::json!({ "settled": body.settle.len() })),
            "/revoke" => {
                self.revoke(hash).await?;
                Response::from_json(&serde_json::json!({ "revoked": true }))
            }
            "/stats" => {
                let inner = self.inner.borrow();
                let account = inner.records.values().find_map(|cached| cached.record.as_ref().map(|r| &r.account_id));
                Response::from_json(&serde_json::json!({
                    "account_id": account,
                    "storage_writes": inner.writes,
                    "alarms_set": inner.alarms,
                    "requests": inner.requests,
                    "pending_calls": inner.gate.pending_calls(),
                    "leased_calls": inner.gate.leased_calls(),
                }))
            }
            _ => Response::error("no such route", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.load().await?;
        self.flush().await?;
        Response::ok("flushed")
    }
}

impl AccountMeter {
    /// Reads the stored gate once per object start.
    async fn load(&self) -> Result<()> {
        if self.inner.borrow().loaded {
            return Ok(());
        }
        let stored: Option<GateState<KeyHash>> = self.state.storage().get(GATE).await?;
        let mut inner = self.inner.borrow_mut();
        if !inner.loaded {
            inner.loaded = true;
            if let Some(stored) = stored {
                inner.gate = AccountGate::resume(stored, now_ms());
            }
        }
        Ok(())
    }

    async fn decide(&self, hash: KeyHash, path: &str, want_lease: bool) -> Result<Verdict> {
        let now = now_ms();
        if self.needs_refresh(&hash, now) {
            self.refresh(&hash).await?;
        }
        let (verdict, pending) = {
            let mut inner = self.inner.borrow_mut();
            let Some(cached) = inner.records.get(&hash).cloned() else { return Ok(Verdict::OriginUnavailable) };
            let Some(record) = cached.record.filter(|record| !record.revoked) else {
                return Ok(Verdict::Refused { refusal: Refusal::InvalidKey, headers: RateHeaders::UNKNOWN });
            };
            inner.gate.expire_leases(now);
            let decision = inner.gate.decide(&hash, &record, path, now);
            let verdict = match decision.outcome {
                Ok(_) => {
                    let lease = if want_lease { inner.gate.lease(&hash, &record, now) } else { None };
                    let routes = match (&lease, &record.account) {
                        (Some(_), Some(terms)) => terms.routes.iter().map(|route| route.prefix.clone()).collect(),
                        _ => Vec::new(),
                    };
                    Verdict::Allowed {
                        account_id: record.account_id,
                        key_id: record.key_id,
                        headers: decision.headers,
                        lease,
                        routes,
                    }
                }
                Err(refusal) => Verdict::Refused { refusal, headers: decision.headers },
            };
            (verdict, inner.gate.open_calls())
        };
        if matches!(verdict, Verdict::Allowed { .. }) {
            self.schedule_flush(pending >= FLUSH_CALLS).await?;
        }
        Ok(verdict)
    }

    /// Counts the calls isolates used on the leases of `hash` they hand back.
    async fn settle(&self, hash: &KeyHash, settlements: &[Settlement]) -> Result<()> {
        if settlements.is_empty() {
            return Ok(());
        }
        let open = {
            let mut inner = self.inner.borrow_mut();
            let now = now_ms();
            for settlement in settlements {
                inner.gate.settle(hash, *settlement, now);
            }
            inner.gate.open_calls()
        };
        self.schedule_flush(open >= FLUSH_CALLS).await
    }

    fn needs_refresh(&self, hash: &KeyHash, now: u64) -> bool {
        self.inner.borrow().records.get(hash).is_none_or(|cached| now >= cached.refresh_at)
    }

    /// Asks the origin about `hash`, with every other event of this object held until the
    /// answer is in: 200 concurrent first calls make one request to the origin, not 200.
    async fn refresh(&self, hash: &KeyHash) -> Result<()> {
        let (inner, env, storage) = (Rc::clone(&self.inner), self.env.clone(), self.state.storage());
        let (refresh_ms, hash) = (self.refresh_ms, hash.clone());
        self.state
            .block_concurrency_while(async move {
                let now = now_ms();
                // Another call may have refreshed while this one waited at the gate.
                if inner.borrow().records.get(&hash).is_some_and(|cached| now < cached.refresh_at) {
                    return Ok(());
                }
                if !inner.borrow().records.contains_key(&hash) {
                    // Stored records are only a fallback for when the origin is down.
                    let stored: Option<Cached> = storage.get(&record_key(&hash)).await?;
                    if let Some(stored) = stored {
                        inner.borrow_mut().records.insert(hash.clone(), Cached { refresh_at: 0, ..stored });
                    }
                }
                match origin::lookup(&env, &hash).await? {
                    Lookup::Found(record) => {
                        // A period about to end is asked about again as it ends (Stripe renews it).
                        let period_end = (record.period.end.0.max(0) as u64).saturating_mul(1000);
                        let refresh_at =
                            if period_end > now { (now + refresh_ms).min(period_end) } else { now + refresh_ms };
                        let cached = Cached { record: Some(*record), refresh_at };
                        write(&inner, &storage, &record_key(&hash), &cached).await?;
                        inner.borrow_mut().records.insert(hash, cached);
                    }
                    Lookup::Unknown => {
                        inner.borrow_mut().records.insert(hash, Cached { record: None, refresh_at: now + refresh_ms });
                    }
                    Lookup::Unreachable => {
                        if let Some(cached) = inner.borrow_mut().records.get_mut(&hash) {
                            cached.refresh_at = now + RETRY_ORIGIN_MS;
                        }
                    }
                }
                Ok(())
            })
            .await
    }

    async fn revoke(&self, hash: KeyHash) -> Result<()> {
        let revoked = {
            let mut inner = self.inner.borrow_mut();
            let cached = inner.records.entry(hash.clone()).or_insert(Cached { record: None, refresh_at: 0 });
            if let Some(record) = cached.record.as_mut() {
                record.revoked = true;
            }
            cached.clone()
        };
        write(&self.inner, &self.state.storage(), &record_key(&hash), &revoked).await
    }

    /// Sets the alarm to flush `now` or after `USAGE_FLUSH_SECONDS`, unless it is already
    /// set for that time or earlier: one alarm per flush, not one per call.
    async fn schedule_flush(&self, now: bool) -> Result<()> {
        let delay_ms = if now { 0 } else { self.flush_ms };
        let at = now_ms() + delay_ms;
        {
            let mut inner = self.inner.borrow_mut();
            if inner.alarm_at.is_some_and(|set| set <= at) {
                return Ok(());
            }
            inner.alarm_at = Some(at);
            inner.alarms += 1;
        }
        self.state.storage().set_alarm(delay_ms as i64).await
    }

    /// Seals the counts, stores the gate (the one write per flush), sends every batch not
    /// yet acknowledged, and schedules the next flush if calls are left.
    async fn flush(&self) -> Result<()> {
        let (batches, state) = {
            let mut inner = self.inner.borrow_mut();
            inner.alarm_at = None;
            if inner.flushing {
                return Ok(());
            }
            inner.gate.expire_leases(now_ms());
            let batches = inner.gate.flush();
            inner.flushing = !batches.is_empty();
            (batches, inner.gate.state())
        };
        if batches.is_empty() {
            // Leases still out are counted by a later flush, settled or expired.
            let leased = self.inner.borrow().gate.leased_calls();
            return if leased > 0 { self.schedule_flush(false).await } else { Ok(()) };
        }
        let sent = self.send(&batches, &state).await;
        let (open, unsent, leased) = {
            let mut inner = self.inner.borrow_mut();
            inner.flushing = false;
            let gate = &inner.gate;
            (gate.open_calls(), gate.pending_calls() - gate.open_calls(), gate.leased_calls())
        };
        sent?;
        if open >= FLUSH_CALLS {
            self.schedule_flush(true).await
        } else if open + unsent + leased > 0 {
            self.schedule_flush(false).await
        } else {
            Ok(())
        }
    }

    async fn send(&self, batches: &[UsageBatch], state: &GateState<KeyHash>) -> Result<()> {
        write(&self.inner, &self.state.storage(), GATE, state).await?;
        let accepted = origin::send_usage(&self.env, batches).await?;
        self.inner.borrow_mut().gate.acknowledge(&accepted);
        Ok(())
    }
}

async fn write<T: Serialize>(inner: &Rc<RefCell<Inner>>, storage: &Storage, key: &str, value: &T) -> Result<()> {
    inner.borrow_mut().writes += 1;
    storage.put(key, value).await
}
