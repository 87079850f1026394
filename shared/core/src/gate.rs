//! One account's gate: the per-key meters (each key's rate window, leases and usage
//! batches) and the account's pooled counters ([`AccountMeter`]) that every key's calls
//! are charged to. Whoever decides an account's calls holds its one gate: a Durable Object
//! per account at the edge, an entry of the native gateway's map locally. So an account's
//! quotas, credits and balance are exact across all its keys.

use crate::ids::{AccountId, KeyId};
use crate::metering::lease::{Lease, Settlement};
use crate::metering::{Decision, KeyRecord, Meter, MeterState, UsageBatch};
use crate::meters::{MeterName, Overage};
use crate::quota::{AccountMeter, AccountTerms};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One key's meter and whose counts it sends.
#[derive(Debug, Clone)]
struct KeyEntry {
    meter: Meter,
    key_id: KeyId,
    account_id: AccountId,
}

/// What a gate keeps across restarts: written once per flush.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateState<K: Ord> {
    /// The pooled counters.
    pub account: AccountMeter,
    /// Each key's meter state.
    pub keys: Vec<StoredKey<K>>,
    /// The newest terms seen, so leases a restarted gate is settled are counted under them.
    #[serde(default)]
    pub terms: Option<AccountTerms>,
}

/// One key's stored meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey<K> {
    /// The key (its hash at the edge).
    pub key: K,
    /// Its id.
    pub key_id: KeyId,
    /// Its account.
    pub account_id: AccountId,
    /// Its meter's state.
    pub meter: MeterState,
}

/// An account's gate; `K` names a key (its hash).
#[derive(Debug, Clone)]
pub struct AccountGate<K: Ord> {
    account: AccountMeter,
    keys: BTreeMap<K, KeyEntry>,
    /// The newest terms seen: lease settlements are counted under them.
    terms: Option<AccountTerms>,
    incarnation: u64,
}

impl<K: Ord + Clone> AccountGate<K> {
    /// A gate whose leases are named after `incarnation` (its start time, in ms).
    pub fn new(incarnation: u64) -> Self {
        Self { account: AccountMeter::default(), keys: BTreeMap::new(), terms: None, incarnation }
    }

    /// A gate resuming from its stored state (rate windows start empty).
    pub fn resume(state: GateState<K>, incarnation: u64) -> Self {
        let keys = state
            .keys
            .into_iter()
            .map(|stored| {
                let meter = Meter::resume(stored.meter).with_incarnation(incarnation);
                (stored.key, KeyEntry { meter, key_id: stored.key_id, account_id: stored.account_id })
            })
            .collect();
        Self { account: state.account, keys, terms: state.terms, incarnation }
    }

    /// What to store.
    pub fn state(&self) -> GateState<K> {
        GateState {
            account: self.account.clone(),
            keys: self
                .keys
                .iter()
                .map(|(key, entry)| StoredKey {
                    key: key.clone(),
                    key_id: entry.key_id.clone(),
                    account_id: entry.account_id.clone(),
                    meter: entry.meter.state().clone(),
                })
                .collect(),
            terms: self.terms.clone(),
        }
    }

    /// The answer for a call to `path` by `key` with its `record`, counted before this
    /// returns when allowed. A record without the account's terms is decided by the key's
    /// meter alone.
    pub fn decide(&mut self, key: &K, record: &KeyRecord, path: &str, now_ms: u64) -> Decision {
        let reserved = self.leased_calls();
        let incarnation = self.incarnation;
        let entry = self.keys.entry(key.clone()).or_insert_with(|| KeyEntry {
            meter: Meter::default().with_incarnation(incarnation),
            key_id: record.key_id.clone(),
            account_id: record.account_id.clone(),
        });
        let Some(terms) = &record.account else { return entry.meter.decide(Some(record), now_ms) };
        self.terms = Some(terms.clone());
        entry.meter.decide_pooled(record, terms, path, &mut self.account, reserved, now_ms)
    }

    /// Lends `key`'s isolate calls of `requests` when the account's quota leaves room:
    /// calls under routes to other meters are never leased.
    pub fn lease(&mut self, key: &K, record: &KeyRecord, now_ms: u64) -> Option<Lease> {
        let reserved = self.leased_calls();
        let room = match &record.account {
            None => None,
            Some(terms) => {
                let requests = terms.terms(&MeterName::requests(), now(now_ms));
                match (&requests.limit.overage, self.account.remaining(&requests)) {
                    (Overage::Bill(_), _) | (_, None) => Some(u64::MAX),
                    (_, Some(left)) => Some(left.saturating_sub(reserved)),
                }
            }
        };
        let entry = self.keys.get_mut(key)?;
        match room {
            Some(room) => entry.meter.lease_within(record, room, now_ms),
            None => entry.meter.lease(record, now_ms),
        }
    }

    /// Counts what an isolate used of a lease of `key`'s.
    pub fn settle(&mut self, key: &K, settlement: Settlement, now_ms: u64) {
        let Some(entry) = self.keys.get_mut(key) else { return };
        let used = entry.meter.settle(settlement, now_ms);
        self.count_requests(used, now_ms);
    }

    /// Counts, as fully used, every lease not settled within its grace.
    pub fn expire_leases(&mut self, now_ms: u64) {
        let expired =
            self.keys.values_mut().map(|entry| entry.meter.expire_leases(now_ms)).fold(0, u64::saturating_add);
        self.count_requests(expired, now_ms);
    }

    fn count_requests(&mut self, calls: u64, now_ms: u64) {
        if let Some(terms) = self.terms.as_ref().filter(|_| calls > 0) {
            self.account.count(&terms.terms(&MeterName::requests(), now(now_ms)), calls);
        }
    }

    /// Seals every key's open counts and returns every batch not yet acknowledged. Store
    /// [`AccountGate::state`] before sending them, so a batch id is never reused.
    pub fn flush(&mut self) -> Vec<UsageBatch> {
        self.keys.values_mut().flat_map(|entry| entry.meter.flush(&entry.key_id, &entry.account_id)).collect()
    }

    /// The origin has queued these batches.
    pub fn acknowledge(&mut self, ids: &[String]) {
        self.keys.values_mut().for_each(|entry| entry.meter.acknowledge(ids));
    }

    /// Calls counted since the last seal, all keys.
    pub fn open_calls(&self) -> u64 {
        self.keys.values().map(|entry| entry.meter.open_calls()).fold(0, u64::saturating_add)
    }

    /// Calls counted and not yet acknowledged, all keys.
    pub fn pending_calls(&self) -> u64 {
        self.keys.values().map(|entry| entry.meter.pending_calls()).fold(0, u64::saturating_add)
    }

    /// Calls lent to isolates and not yet settled, all keys.
    pub fn leased_calls(&self) -> u64 {
        self.keys.values().map(|entry| entry.meter.leased_calls()).fold(0, u64::saturating_add)
    }

    /// Whether `key` has a meter here.
    pub fn knows(&self, key: &K) -> bool {
        self.keys.contains_key(key)
    }
}

fn now(now_ms: u64) -> Timestamp {
    Timestamp(i64::try_from(now_ms / 1000).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::{Limits, Period, Refusal};
    use crate::meters::{MeterLimit, Per, Route, UnitPrice};
    use crate::money::{Currency, Micros};
    use crate::quota::{CountedMeter, Funds};
    use crate::time::BusinessZone;
    use std::num::NonZeroU64;

    const T0: u64 = 1_796_100_000_000;
    const PERIOD: Period = Period { start: Timestamp(1_796_083_200), end: Timestamp(1_798_761_600) };

    fn meter(name: &str) -> MeterName {
        MeterName::parse(name).unwrap()
    }

    fn terms(meters: Vec<(&str, MeterLimit, u64)>, funds: Funds) -> AccountTerms {
        AccountTerms {
            zone: BusinessZone::UTC,
            period: PERIOD,
            routes: vec![
                Route { prefix: "/v1/messages".into(), meter: meter("messages"), cost: NonZeroU64::new(1).unwrap() },
                Route { prefix: "/v1/agents".into(), meter: meter("ai_runs"), cost: NonZeroU64::new(1).unwrap() },
            ],
            meters: meters
                .into_iter()
                .map(|(name, limit, counted)| CountedMeter {
                    meter: meter(name),
                    window_start: crate::quota::window(
                        limit.per,
                        BusinessZone::UTC,
                        PERIOD,
                        Timestamp((T0 / 1000) as i64),
                    )
                    .start,
                    limit,
                    counted,
                })
                .collect(),
            funds,
            currency: Currency::parse("usd").unwrap(),
        }
    }

    fn record(key: u8, account: AccountTerms) -> KeyRecord {
        KeyRecord {
            key_id: KeyId::parse(&format!("key_{key}")).unwrap(),
            account_id: AccountId::parse("acct_pool").unwrap(),
            revoked: false,
            limits: Limits { monthly_requests: None, requests_per_minute: 10_000, overage: false },
            period: PERIOD,
            used_elsewhere: 0,
            key_used: 0,
            key_credits_spent: 0,
            credits: None,
            account: Some(account),
        }
    }

    fn block(quota: u64, per: Per) -> MeterLimit {
        MeterLimit { quota: Some(quota), per, overage: Overage::Block }
    }

    #[test]
    fn four_keys_share_the_account_quota_exactly_and_every_allowed_call_is_batched_once() {
        let account = terms(vec![("requests", block(150, Per::Period), 50)], Funds::default());
        let records: Vec<_> = (0..4).map(|key| record(key, account.clone())).collect();
        let mut gate = AccountGate::new(1);
        let allowed = (0..200u64)
            .filter(|&i| {
                let key = (i % 4) as u8;
                gate.decide(&key, &records[key as usize], "/v1/anything", T0 + i).outcome.is_ok()
            })
            .count();
        assert_eq!(allowed, 100);
        let refused = gate.decide(&0, &records[0], "/v1/anything", T0 + 300);
        assert_eq!(refused.outcome, Err(Refusal::QuotaExceeded { quota: 150, meter: MeterName::requests() }));
        assert_eq!(refused.headers.quota.map(|quota| quota.remaining), Some(0));
        let batches = gate.flush();
        assert_eq!((batches.len(), batches.iter().map(|b| b.calls).sum::<u64>()), (4, 100));
        // Stored and resumed, the gate still counts the account's 150, and a lease of the
        // gate before counts under the account's terms.
        let state = gate.state();
        assert_eq!(state.terms.as_ref(), records[0].account.as_ref());
        let mut resumed = AccountGate::resume(state, 2);
        assert!(resumed.decide(&3, &records[3], "/v1/anything", T0 + 400).outcome.is_err());
    }

    #[test]
    fn a_lease_is_spoken_for_on_every_key_of_the_account() {
        let account = terms(vec![("requests", block(300, Per::Period), 0)], Funds::default());
        let (first, second) = (record(1, account.clone()), record(2, account));
        let mut gate = AccountGate::new(1);
        let before = gate.decide(&1, &first, "/v1/a", T0).headers.quota.unwrap().remaining;
        assert_eq!(before, 299);
        let lease = gate.lease(&1, &first, T0).expect("room for a lease");
        let after = gate.decide(&2, &second, "/v1/a", T0 + 1).headers.quota.unwrap().remaining;
        assert_eq!(after, 298 - lease.calls);
        // Settled with three calls used: those count, the rest comes back.
        gate.settle(&1, Settlement { id: lease.id, used: 3 }, T0 + 2);
        assert_eq!(gate.decide(&2, &second, "/v1/a", T0 + 3).headers.quota.unwrap().remaining, 294);
        // With less room than a lease's floor, nothing is lent.
        let tight = terms(vec![("requests", block(300, Per::Period), 100)], Funds::default());
        let mut gate = AccountGate::new(1);
        let record = record(1, tight);
        assert!(gate.decide(&1, &record, "/v1/a", T0).outcome.is_ok());
        assert_eq!(gate.lease(&1, &record, T0), None);
    }

    #[test]
    fn routes_charge_their_meter_and_overage_comes_from_the_balance() {
        let five_cents = UnitPrice { decimal: "5".into(), micros: Micros(50_000) };
        let account = terms(
            vec![
                ("messages", MeterLimit { quota: Some(2), per: Per::Period, overage: Overage::Balance(five_cents) }, 0),
                ("ai_runs", block(1, Per::Day), 0),
            ],
            Funds { balance_granted: Micros(120_000), ..Funds::default() },
        );
        let (first, second) = (record(1, account.clone()), record(2, account));
        let mut gate = AccountGate::new(1);
        let outcomes: Vec<_> = (0..5)
            .map(|i| {
                gate.decide(&(i % 2), if i % 2 == 0 { &first } else { &second }, "/v1/messages/send", T0 + i).outcome
            })
            .collect();
        // Two included, two at five cents from twelve, then refused with what is left.
        assert!(outcomes[..4].iter().all(Result::is_ok));
        let refused = outcomes[4].clone().unwrap_err();
        assert_eq!((refused.status(), refused.code()), (402, "insufficient_balance"));
        assert_eq!(
            refused.body()["error"]["balance"],
            serde_json::json!({"amount": 2, "amount_micros": 20_000, "currency": "usd"})
        );
        assert!(gate.decide(&1, &first, "/v1/agents", T0 + 10).outcome.is_ok());
        let refused = gate.decide(&1, &first, "/v1/agents/run", T0 + 11).outcome.unwrap_err();
        assert_eq!((refused.code(), refused.body()["error"]["meter"].as_str()), ("quota_exceeded", Some("ai_runs")));
        // Tomorrow the daily run is back.
        assert!(gate.decide(&2, &second, "/v1/agents", T0 + 86_400_000).outcome.is_ok());
        let batches = gate.flush();
        let spent: i64 = batches.iter().map(|b| b.balance_spent.0).sum();
        let messages: u64 =
            batches.iter().flat_map(|b| &b.units).filter(|u| u.meter == meter("messages")).map(|u| u.units).sum();
        let runs: Vec<_> =
            batches.iter().flat_map(|b| &b.units).filter(|u| u.meter == meter("ai_runs")).map(|u| u.units).collect();
        assert_eq!((spent, messages, batches.iter().map(|b| b.calls).sum::<u64>()), (100_000, 4, 0));
        assert_eq!(runs, [1, 1], "one run in each day's window");
        assert!(batches.iter().all(|batch| batch.check().is_ok()));
    }
}
