//! The edge's decision for one call: is the key known, under its rate limit, within
//! its quota or credits? And the counts it owes the origin.
//!
//! A [`Meter`] is one key's: its rate window, leases and batches. Within an account's
//! [`crate::gate::AccountGate`] (the Worker's Durable Object per account, and the local
//! stack's native gateway) the key's quota, credits and balance are decided by the
//! account's pooled counters ([`Meter::decide_pooled`]), so both answer alike. A meter
//! decides from memory: counts leave it in batches ([`Meter::flush`]), never one write per
//! call.

use crate::ids::{AccountId, KeyId};
use crate::meters::MeterName;
use crate::money::{Currency, Micros};
use crate::quota::{AccountMeter, AccountTerms, Paid, QuotaRefusal};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::VecDeque;

pub mod lease;

/// The rate limit's sliding window.
pub const WINDOW_MS: u64 = 60_000;
/// Seconds between flushes of a key's counts (`USAGE_FLUSH_SECONDS` overrides it).
pub const DEFAULT_FLUSH_SECONDS: u64 = 10;
/// Calls counted since the last flush that trigger the next one before its time.
pub const FLUSH_CALLS: u64 = 1_000;

/// What an account's plan allows each of its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Requests per billing period; `None` is unlimited.
    pub monthly_requests: Option<u64>,
    /// Requests per key in any 60 s.
    pub requests_per_minute: u32,
    /// Use past the quota is allowed and billed.
    pub overage: bool,
}

/// A billing period, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// Quotas count from here (Stripe's `current_period_start`).
    pub start: Timestamp,
    /// The next period starts here.
    pub end: Timestamp,
}

/// What the edge knows about a key, as the origin serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key's public id.
    pub key_id: KeyId,
    /// The account that owns it.
    pub account_id: AccountId,
    /// A revoked key is refused like an unknown one.
    pub revoked: bool,
    /// The account's plan limits, shared by all its keys.
    pub limits: Limits,
    /// The account's current billing period.
    pub period: Period,
    /// Requests of this period already counted for the account's other keys.
    pub used_elsewhere: u64,
    /// Requests of this period the origin has counted for this key: where a meter
    /// with no state of its own (new, or its storage lost) starts.
    pub key_used: u64,
    /// Credits the origin has counted as spent by this key, likewise.
    pub key_credits_spent: u64,
    /// Credits this key may spend: the account's balance plus what this key has spent
    /// (the meter subtracts its own spending). `None`: the account never bought credits.
    pub credits: Option<u64>,
    /// The account's plan over every meter, for a holder of the account's pooled counters
    /// ([`crate::gate::AccountGate`]); a record without it is decided by the key's meter alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountTerms>,
}

/// How an allowed call is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// Within the plan's quota.
    Included,
    /// Past the quota on a plan that bills overage.
    Overage,
    /// One prepaid credit.
    Credit,
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    /// Unknown or revoked key.
    InvalidKey,
    /// Over the per-minute limit; retry after that many seconds.
    RateLimited {
        /// Whole seconds until a call is allowed again.
        retry_after: u64,
    },
    /// The period's quota is used up.
    QuotaExceeded {
        /// The quota.
        quota: u64,
        /// The meter whose quota it is.
        #[serde(default = "MeterName::requests")]
        meter: MeterName,
    },
    /// The money balance cannot pay for the units past the quota.
    InsufficientBalance {
        /// What is left of it.
        balance: Micros,
        /// Its currency.
        currency: Currency,
    },
    /// The prepaid credits are used up.
    InsufficientCredits {
        /// Credits left (none, or the call would have been allowed).
        balance: u64,
    },
}

impl Refusal {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::InvalidKey => 401,
            Refusal::RateLimited { .. } => 429,
            Refusal::QuotaExceeded { .. }
            | Refusal::InsufficientBalance { .. }
            | Refusal::InsufficientCredits { .. } => 402,
        }
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::InvalidKey => "invalid_key",
            Refusal::RateLimited { .. } => "rate_limited",
            Refusal::QuotaExceeded { .. } => "quota_exceeded",
            Refusal::InsufficientBalance { .. } => "insufficient_balance",
            Refusal::InsufficientCredits { .. } => "INSUFFICIENT_CREDITS",
        }
    }

    /// The JSON body, shaped like every other tollgate error.
    pub fn body(&self) -> serde_json::Value {
        match self {
            Refusal::InvalidKey => error_body(self, "the API key is unknown or revoked".into()),
            Refusal::RateLimited { retry_after } => {
                error_body(self, format!("too many requests for this key; retry in {retry_after} s"))
            }
            Refusal::QuotaExceeded { quota, meter } if meter.as_str() == crate::meters::REQUESTS => {
                error_body(self, format!("the plan's {quota} requests for this billing period are used up"))
            }
            Refusal::QuotaExceeded { quota, meter } => {
                let mut body = error_body(self, format!("the plan's {quota} {meter} for this period are used up"));
                body["error"]["meter"] = json!(meter);
                body
            }
            Refusal::InsufficientBalance { balance, currency } => {
                let mut body = error_body(self, "the balance cannot pay for this call; top it up".into());
                body["error"]["balance"] = json!({
                    "amount": balance.minor_floor(currency),
                    "amount_micros": balance.0,
                    "currency": currency,
                });
                body
            }
            Refusal::InsufficientCredits { balance } => {
                let mut body = error_body(self, "no prepaid credits left".into());
                body["error"]["balance"] = json!(balance);
                body
            }
        }
    }
}

fn error_body(refusal: &Refusal, message: String) -> serde_json::Value {
    json!({"error": {"code": refusal.code(), "message": message}})
}

/// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (seconds until
/// the oldest counted call leaves the window), on every answer; and, once the key's plan
/// is known and sets a quota, `X-Quota-Remaining` and `X-Quota-Reset` (seconds until the
/// quota's period ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateHeaders {
    /// Calls allowed per minute.
    pub limit: u32,
    /// Calls left in the current window.
    pub remaining: u32,
    /// Seconds until one more call is free.
    pub reset: u64,
    /// What is left of the quota; `None` when unlimited or not known.
    #[serde(default)]
    pub quota: Option<QuotaLeft>,
}

/// What is left of a quota, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaLeft {
    /// Units left in the period.
    pub remaining: u64,
    /// Seconds until the period ends and the count starts again.
    pub reset: u64,
}

impl RateHeaders {
    /// The headers of an answer given before a key's limits are known.
    pub const UNKNOWN: RateHeaders = RateHeaders { limit: 0, remaining: 0, reset: 0, quota: None };

    /// The headers as name and value.
    pub fn pairs(self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("X-RateLimit-Limit", self.limit.to_string()),
            ("X-RateLimit-Remaining", self.remaining.to_string()),
            ("X-RateLimit-Reset", self.reset.to_string()),
        ];
        if let Some(quota) = self.quota {
            pairs.push(("X-Quota-Remaining", quota.remaining.to_string()));
            pairs.push(("X-Quota-Reset", quota.reset.to_string()));
        }
        pairs
    }
}

/// The answer for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allowed (and how it is paid) or refused (and why).
    pub outcome: Result<Charge, Refusal>,
    /// The rate-limit headers to send with it.
    pub headers: RateHeaders,
}

/// Calls counted by the edge for one key and period, sent to the origin as one message.
/// The id is the key's and its sequence number: a batch delivered twice counts once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBatch {
    /// `<key id>.<sequence>`.
    pub id: String,
    /// The key that made the calls.
    pub key_id: KeyId,
    /// Its account.
    pub account_id: AccountId,
    /// The billing period the calls fall in.
    pub period_start: Timestamp,
    /// Allowed calls: units of `requests`.
    pub calls: u64,
    /// Of those, paid with a prepaid credit.
    pub credits: u64,
    /// Units of the other meters, per meter and window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<MeterUnits>,
    /// Taken from the account's money balance for units past a quota.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub balance_spent: Micros,
}

fn is_zero(amount: &Micros) -> bool {
    amount.0 == 0
}

/// Units of a meter counted in one of its windows: every meter but `requests` counted per
/// billing period, which `calls` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterUnits {
    /// The meter.
    pub meter: MeterName,
    /// Where its window starts.
    pub window_start: Timestamp,
    /// Units allowed.
    pub units: u64,
}

/// The most calls one batch may carry: a key's Durable Object seals a batch every
/// thousand calls or ten seconds, so a larger one is forged or broken. Bounding it at the
/// input keeps every total it is added to far from overflowing.
pub const MAX_BATCH_CALLS: u64 = 1_000_000;
/// The most meters one batch may name.
pub const MAX_BATCH_METERS: usize = 64;
/// The most one batch may take from a balance: a million units of the currency.
pub const MAX_BATCH_SPENT: Micros = Micros(1_000_000 * crate::money::MICROS_PER_UNIT);

impl UsageBatch {
    /// Why the batch cannot be counted, if it cannot.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.calls > MAX_BATCH_CALLS {
            Err("calls is more than one batch can hold (1000000)")
        } else if self.credits > self.calls {
            Err("credits is more than the calls they paid for")
        } else if Timestamp::from_untrusted(self.period_start.0).is_err() {
            Err("period_start is out of range")
        } else if self.units.len() > MAX_BATCH_METERS {
            Err("units names more meters than a catalog may hold")
        } else if self.units.iter().any(|units| units.units > MAX_BATCH_CALLS) {
            Err("units is more than one batch can hold (1000000)")
        } else if self.units.iter().any(|units| Timestamp::from_untrusted(units.window_start.0).is_err()) {
            Err("window_start is out of range")
        } else if !(0..=MAX_BATCH_SPENT.0).contains(&self.balance_spent.0) {
            Err("balance_spent is negative or more than one batch can spend")
        } else {
            Ok(())
        }
    }
}

/// What a meter keeps across restarts; written once per flush.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterState {
    /// The period `used` counts.
    pub period_start: Option<Timestamp>,
    /// This key's allowed calls in that period.
    pub used: u64,
    /// Credits this key has spent, ever.
    pub credits_spent: u64,
    /// The next batch's sequence number.
    pub next_batch: u64,
    /// Batches sealed but not yet acknowledged by the origin, oldest first.
    pub unsent: Vec<UsageBatch>,
    /// Calls counted since the last seal.
    pub open_calls: u64,
    /// Credits spent since the last seal.
    pub open_credits: u64,
    /// Units of other meters counted since the last seal.
    #[serde(default)]
    pub open_units: Vec<MeterUnits>,
    /// Taken from the balance since the last seal.
    #[serde(default)]
    pub open_balance_spent: Micros,
}

/// The calls counted in the last [`WINDOW_MS`]: an exact sliding window. Calls are kept
/// as (time in ms, how many), oldest first, so a lease's reserved calls are one entry.
#[derive(Debug, Clone, Default)]
struct Window {
    slots: VecDeque<(u64, u64)>,
    calls: u64,
}

impl Window {
    /// Lets go of the calls made at least [`WINDOW_MS`] before `now_ms`.
    fn slide(&mut self, now_ms: u64) {
        while let Some(&(_, calls)) = self.slots.front().filter(|(at, _)| at.saturating_add(WINDOW_MS) <= now_ms) {
            self.calls = self.calls.saturating_sub(calls);
            self.slots.pop_front();
        }
    }

    /// Counts `calls` at `at_ms`, which may be later than calls already counted (a lease's
    /// reservation is counted at its end).
    fn count(&mut self, at_ms: u64, calls: u64) {
        let index = self.slots.partition_point(|&(at, _)| at <= at_ms);
        match index.checked_sub(1).and_then(|before| self.slots.get_mut(before)) {
            Some(slot) if slot.0 == at_ms => slot.1 = slot.1.saturating_add(calls),
            _ => self.slots.insert(index, (at_ms, calls)),
        }
        self.calls = self.calls.saturating_add(calls);
    }

    /// Takes back up to `calls` counted at `at_ms` (what a lease did not use).
    fn release(&mut self, at_ms: u64, calls: u64) {
        let Ok(index) = self.slots.binary_search_by_key(&at_ms, |&(at, _)| at) else { return };
        let slot = &mut self.slots[index];
        let released = calls.min(slot.1);
        slot.1 = slot.1.saturating_sub(released);
        self.calls = self.calls.saturating_sub(released);
        if slot.1 == 0 {
            self.slots.remove(index);
        }
    }

    /// Seconds until the oldest counted call leaves the window.
    fn seconds_until_free(&self, now_ms: u64) -> u64 {
        self.slots
            .front()
            .map_or(0, |&(oldest, _)| oldest.saturating_add(WINDOW_MS).saturating_sub(now_ms).div_ceil(1000))
    }
}

/// One key's counters.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    state: MeterState,
    window: Window,
    /// Calls carved out for Worker isolates and not yet settled ([`lease`]).
    leases: lease::Book,
}

impl Meter {
    /// A meter resuming from its stored state (the rate window starts empty).
    pub fn resume(state: MeterState) -> Self {
        Self { state, ..Self::default() }
    }

    /// What to store.
    pub fn state(&self) -> &MeterState {
        &self.state
    }

    /// The answer for a call at `now_ms` with the key's `record` (`None`: unknown key).
    /// An allowed call is counted before this returns.
    pub fn decide(&mut self, record: Option<&KeyRecord>, now_ms: u64) -> Decision {
        let Some(record) = record.filter(|record| !record.revoked) else {
            return Decision { outcome: Err(Refusal::InvalidKey), headers: RateHeaders::UNKNOWN };
        };
        self.enter_period(record);
        self.window.slide(now_ms);
        let limit = record.limits.requests_per_minute;
        let outcome = match self.rate_limited(limit, now_ms) {
            Some(refusal) => Err(refusal),
            None => self.charge(record),
        };
        if let Ok(charge) = outcome {
            self.window.count(now_ms, 1);
            self.state.used = self.state.used.saturating_add(1);
            self.state.open_calls = self.state.open_calls.saturating_add(1);
            if charge == Charge::Credit {
                self.state.credits_spent = self.state.credits_spent.saturating_add(1);
                self.state.open_credits = self.state.open_credits.saturating_add(1);
            }
        }
        let remaining = u32::try_from(u64::from(limit).saturating_sub(self.window.calls)).unwrap_or(u32::MAX);
        let quota = record.limits.monthly_requests.map(|quota| QuotaLeft {
            remaining: quota.saturating_sub(self.spoken_for(record)),
            reset: u64::try_from(record.period.end.0.saturating_sub(i64::try_from(now_ms / 1000).unwrap_or(i64::MAX)))
                .unwrap_or(0),
        });
        let reset = self.window.seconds_until_free(now_ms);
        Decision { outcome, headers: RateHeaders { limit, remaining, reset, quota } }
    }

    /// The answer for a call to `path` at `now_ms` with the key's `record`, its quota, credits
    /// and balance decided by the account's pooled `account` meter under `terms`, with
    /// `reserved` calls of `requests` lent out on all the account's keys.
    pub fn decide_pooled(
        &mut self,
        record: &KeyRecord,
        terms: &AccountTerms,
        path: &str,
        account: &mut AccountMeter,
        reserved: u64,
        now_ms: u64,
    ) -> Decision {
        if record.revoked {
            return Decision { outcome: Err(Refusal::InvalidKey), headers: RateHeaders::UNKNOWN };
        }
        self.enter_period(record);
        self.window.slide(now_ms);
        let now = Timestamp(i64::try_from(now_ms / 1000).unwrap_or(i64::MAX));
        let (meter, cost) = terms.for_call(path, now);
        let is_requests = meter.meter.as_str() == crate::meters::REQUESTS;
        let reserved = if is_requests { reserved } else { 0 };
        let limit = record.limits.requests_per_minute;
        let outcome = match self.rate_limited(limit, now_ms) {
            Some(refusal) => Err(refusal),
            None => account.charge(&meter, cost, reserved, &terms.funds).map_err(|refusal| match refusal {
                QuotaRefusal::QuotaExceeded { meter, quota } => Refusal::QuotaExceeded { quota, meter },
                QuotaRefusal::InsufficientBalance { balance } => {
                    Refusal::InsufficientBalance { balance, currency: terms.currency.clone() }
                }
                QuotaRefusal::InsufficientCredits => Refusal::InsufficientCredits { balance: 0 },
            }),
        };
        let outcome = outcome.map(|paid| {
            self.window.count(now_ms, 1);
            if is_requests {
                self.count_calls(cost);
            }
            // Calls count per billing period; a meter counted in another window (requests
            // per day, say) is counted in that window too, so the origin can serve the count.
            if !is_requests || meter.window.start != record.period.start {
                let open = &mut self.state.open_units;
                match open.iter_mut().find(|open| open.meter == meter.meter && open.window_start == meter.window.start)
                {
                    Some(open) => open.units = open.units.saturating_add(cost),
                    None => open.push(MeterUnits {
                        meter: meter.meter.clone(),
                        window_start: meter.window.start,
                        units: cost,
                    }),
                }
            }
            match paid {
                Paid::Credits { credits } => {
                    self.state.credits_spent = self.state.credits_spent.saturating_add(credits);
                    self.state.open_credits = self.state.open_credits.saturating_add(credits);
                    Charge::Credit
                }
                Paid::FromBalance { amount, .. } => {
                    self.state.open_balance_spent = Micros(self.state.open_balance_spent.0.saturating_add(amount.0));
                    Charge::Included
                }
                Paid::Billed { .. } => Charge::Overage,
                Paid::Included => Charge::Included,
            }
        });
        let remaining = u32::try_from(u64::from(limit).saturating_sub(self.window.calls)).unwrap_or(u32::MAX);
        let quota = account.remaining(&meter).map(|left| QuotaLeft {
            remaining: left.saturating_sub(reserved),
            reset: u64::try_from(meter.window.end.0.saturating_sub(now.0)).unwrap_or(0),
        });
        let reset = self.window.seconds_until_free(now_ms);
        Decision { outcome, headers: RateHeaders { limit, remaining, reset, quota } }
    }

    /// Starts the key's count of the record's period: from the origin's when it has none,
    /// from zero (the old period's counts sealed first) when the period has moved on.
    fn enter_period(&mut self, record: &KeyRecord) {
        match self.state.period_start {
            None => {
                self.state.period_start = Some(record.period.start);
                self.state.used = record.key_used;
                self.state.credits_spent = record.key_credits_spent;
            }
            Some(start) if start != record.period.start => {
                self.seal(&record.key_id, &record.account_id);
                self.state.period_start = Some(record.period.start);
                self.state.used = 0;
            }
            Some(_) => {}
        }
    }

    /// The refusal when the key has made `limit` calls in the last minute.
    fn rate_limited(&self, limit: u32, now_ms: u64) -> Option<Refusal> {
        (self.window.calls >= u64::from(limit))
            .then(|| Refusal::RateLimited { retry_after: self.window.seconds_until_free(now_ms).max(1) })
    }

    fn charge(&self, record: &KeyRecord) -> Result<Charge, Refusal> {
        let Some(quota) = record.limits.monthly_requests else { return Ok(Charge::Included) };
        if self.spoken_for(record) < quota {
            return Ok(Charge::Included);
        }
        if record.limits.overage {
            return Ok(Charge::Overage);
        }
        match record.credits {
            Some(credits) if credits > self.state.credits_spent => Ok(Charge::Credit),
            Some(_) => Err(Refusal::InsufficientCredits { balance: 0 }),
            None => Err(Refusal::QuotaExceeded { quota, meter: MeterName::requests() }),
        }
    }

    /// The account's calls of the period: the other keys', this key's, and those leased to
    /// isolates, which are spoken for, used or not.
    fn spoken_for(&self, record: &KeyRecord) -> u64 {
        record.used_elsewhere.saturating_add(self.state.used).saturating_add(self.leases.reserved())
    }

    fn seal(&mut self, key: &KeyId, account: &AccountId) {
        let Some(period_start) = self.state.period_start else { return };
        if self.state.open_calls == 0 && self.state.open_units.is_empty() && self.state.open_balance_spent.0 == 0 {
            return;
        }
        let id = format!("{key}.{}", self.state.next_batch);
        self.state.unsent.push(UsageBatch {
            id,
            key_id: key.clone(),
            account_id: account.clone(),
            period_start,
            calls: self.state.open_calls,
            credits: self.state.open_credits,
            units: std::mem::take(&mut self.state.open_units),
            balance_spent: std::mem::take(&mut self.state.open_balance_spent),
        });
        self.state.next_batch = self.state.next_batch.saturating_add(1);
        self.state.open_calls = 0;
        self.state.open_credits = 0;
    }

    /// Seals the open counts and returns every batch the origin has not acknowledged.
    /// Store [`Meter::state`] before sending them, so a batch id is never reused.
    pub fn flush(&mut self, key: &KeyId, account: &AccountId) -> Vec<UsageBatch> {
        self.seal(key, account);
        self.state.unsent.clone()
    }

    /// The origin has queued these batches.
    pub fn acknowledge(&mut self, ids: &[String]) {
        self.state.unsent.retain(|batch| !ids.contains(&batch.id));
    }

    /// Calls and other meters' units counted since the last seal: what the next flush will send.
    pub fn open_calls(&self) -> u64 {
        self.state.open_units.iter().fold(self.state.open_calls, |open, units| open.saturating_add(units.units))
    }

    /// Calls and units counted and not yet acknowledged.
    pub fn pending_calls(&self) -> u64 {
        self.state.unsent.iter().fold(self.open_calls(), |pending, batch| {
            batch
                .units
                .iter()
                .fold(pending.saturating_add(batch.calls), |pending, units| pending.saturating_add(units.units))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: u64 = 1_795_500_000_000;

    fn record(quota: Option<u64>, overage: bool, credits: Option<u64>) -> KeyRecord {
        KeyRecord {
            key_id: KeyId::parse("key_1").unwrap(),
            account_id: AccountId::parse("acct_1").unwrap(),
            revoked: false,
            limits: Limits { monthly_requests: quota, requests_per_minute: 100, overage },
            period: Period { start: Timestamp(1_795_000_000), end: Timestamp(1_797_600_000) },
            used_elsewhere: 0,
            key_used: 0,
            key_credits_spent: 0,
            credits,
            account: None,
        }
    }

    fn allowed(meter: &mut Meter, record: &KeyRecord, calls: u64, start_ms: u64, step_ms: u64) -> u64 {
        (0..calls).filter(|i| meter.decide(Some(record), start_ms + i * step_ms).outcome.is_ok()).count() as u64
    }

    #[test]
    fn unknown_and_revoked_keys_are_refused() {
        let mut meter = Meter::default();
        assert_eq!(meter.decide(None, T0).outcome, Err(Refusal::InvalidKey));
        let revoked = KeyRecord { revoked: true, ..record(None, false, None) };
        assert_eq!(meter.decide(Some(&revoked), T0).outcome, Err(Refusal::InvalidKey));
        assert_eq!(meter.pending_calls(), 0);
    }

    #[test]
    fn the_window_slides_and_says_when_to_retry() {
        let mut meter = Meter::default();
        let record = record(None, false, None);
        assert_eq!(allowed(&mut meter, &record, 100, T0, 10), 100);
        let refused = meter.decide(Some(&record), T0 + 1_500);
        assert_eq!(refused.outcome, Err(Refusal::RateLimited { retry_after: 59 }));
        assert_eq!(refused.headers, RateHeaders { limit: 100, remaining: 0, reset: 59, quota: None });
        // The first call leaves the window at T0 + 60 s: exactly one slot frees.
        assert!(meter.decide(Some(&record), T0 + 60_000).outcome.is_ok());
        assert!(meter.decide(Some(&record), T0 + 60_001).outcome.is_err());
        assert_eq!(meter.pending_calls(), 101);
    }

    #[test]
    fn the_quota_refuses_with_402_then_a_new_period_starts_from_zero() {
        let mut meter = Meter::default();
        let mut record = record(Some(100), false, None);
        record.used_elsewhere = 40;
        let first = meter.decide(Some(&record), T0);
        // 40 elsewhere and this one: 59 left, until the period's end.
        let seconds_left = u64::try_from(record.period.end.0).unwrap() - T0 / 1000;
        assert_eq!(first.headers.quota, Some(QuotaLeft { remaining: 59, reset: seconds_left }));
        let names: Vec<&str> = first.headers.pairs().iter().map(|(name, _)| *name).collect();
        assert_eq!(names[3..], ["X-Quota-Remaining", "X-Quota-Reset"]);
        assert_eq!(allowed(&mut meter, &record, 60, T0 + 1_000, 1_000), 59);
        let refused = meter.decide(Some(&record), T0 + 70_000).outcome.unwrap_err();
        assert_eq!((refused.status(), refused.code()), (402, "quota_exceeded"));
        record.period = Period { start: record.period.end, end: Timestamp(record.period.end.0 + 2_592_000) };
        record.used_elsewhere = 0;
        assert_eq!(allowed(&mut meter, &record, 100, T0 + 200_000, 1_000), 100);
        let batches = meter.flush(&record.key_id, &record.account_id);
        let calls: Vec<_> = batches.iter().map(|b| (b.period_start.0, b.calls)).collect();
        assert_eq!(calls, [(1_795_000_000, 60), (1_797_600_000, 100)]);
    }

    #[test]
    fn overage_plans_keep_going_and_credits_run_out_with_their_balance() {
        let mut meter = Meter::default();
        let pro = record(Some(5), true, None);
        let outcomes: Vec<_> = (0..7).map(|i| meter.decide(Some(&pro), T0 + i).outcome).collect();
        assert_eq!(outcomes[4], Ok(Charge::Included));
        assert_eq!(outcomes[5..], [Ok(Charge::Overage), Ok(Charge::Overage)]);

        let mut meter = Meter::default();
        let prepaid = record(Some(5), false, Some(3));
        let outcomes: Vec<_> = (0..9).map(|i| meter.decide(Some(&prepaid), T0 + i).outcome).collect();
        assert!(outcomes[5..8].iter().all(|outcome| *outcome == Ok(Charge::Credit)));
        let refused = outcomes[8].clone().unwrap_err();
        assert_eq!((refused.status(), refused.code()), (402, "INSUFFICIENT_CREDITS"));
        assert_eq!(refused.body()["error"]["balance"], 0);
        let batch = &meter.flush(&prepaid.key_id, &prepaid.account_id)[0];
        assert_eq!((batch.calls, batch.credits), (8, 3));
    }

    #[test]
    fn a_meter_without_state_starts_from_what_the_origin_counted() {
        let mut meter = Meter::default();
        let mut record = record(Some(100), false, Some(10));
        (record.key_used, record.key_credits_spent) = (100, 8);
        let outcomes: Vec<_> = (0..3).map(|i| meter.decide(Some(&record), T0 + i).outcome).collect();
        assert_eq!(
            outcomes,
            [Ok(Charge::Credit), Ok(Charge::Credit), Err(Refusal::InsufficientCredits { balance: 0 })]
        );
    }

    #[test]
    fn batches_are_numbered_and_kept_until_acknowledged() {
        let mut meter = Meter::default();
        let record = record(None, false, None);
        allowed(&mut meter, &record, 3, T0, 1);
        let first = meter.flush(&record.key_id, &record.account_id);
        allowed(&mut meter, &record, 2, T0 + 10, 1);
        // Not acknowledged: the first batch is sent again, unchanged, beside the new one.
        let second = meter.flush(&record.key_id, &record.account_id);
        assert_eq!(second[0], first[0]);
        assert_eq!((second[1].id.as_str(), second[1].calls), ("key_1.1", 2));
        meter.acknowledge(&[first[0].id.clone()]);
        assert_eq!(meter.pending_calls(), 2);
        let resumed = Meter::resume(meter.state().clone());
        assert_eq!(resumed.state().next_batch, 2);
    }

    proptest! {
        /// Whatever the timing, no 60 s span holds more allowed calls than the limit,
        /// and every allowed call is in exactly one batch.
        #[test]
        fn the_limit_holds_in_every_window_and_every_call_is_counted_once(
            gaps in proptest::collection::vec(0u64..3_000, 1..400),
            limit in 1u32..50,
            flush_every in 1usize..50,
        ) {
            let mut meter = Meter::default();
            let mut record = record(None, false, None);
            record.limits.requests_per_minute = limit;
            let (mut now, mut times, mut batched) = (T0, Vec::new(), 0u64);
            for (i, gap) in gaps.iter().enumerate() {
                now += gap;
                if meter.decide(Some(&record), now).outcome.is_ok() {
                    times.push(now);
                }
                if i % flush_every == 0 {
                    let batches = meter.flush(&record.key_id, &record.account_id);
                    batched += batches.iter().map(|b| b.calls).sum::<u64>();
                    meter.acknowledge(&batches.iter().map(|b| b.id.clone()).collect::<Vec<_>>());
                }
            }
            for (i, &at) in times.iter().enumerate() {
                let in_window = times[i..].iter().take_while(|&&t| t < at + WINDOW_MS).count();
                prop_assert!(in_window <= limit as usize);
            }
            batched += meter.flush(&record.key_id, &record.account_id).iter().map(|b| b.calls).sum::<u64>();
            prop_assert_eq!(batched, times.len() as u64);
        }

        /// Calls within the quota, past it with overage, or on credits: never more
        /// than quota + credits on a plan without overage.
        #[test]
        fn quota_and_credits_are_exact(quota in 0u64..300, elsewhere in 0u64..300, credits in proptest::option::of(0u64..100)) {
            let mut meter = Meter::default();
            let mut record = record(Some(quota), false, credits);
            record.limits.requests_per_minute = u32::MAX;
            record.used_elsewhere = elsewhere;
            let allowed = allowed(&mut meter, &record, 800, T0, 1);
            prop_assert_eq!(allowed, quota.saturating_sub(elsewhere) + credits.unwrap_or(0));
        }
    }
}
