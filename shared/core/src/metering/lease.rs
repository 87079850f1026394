//! Leases: a key's [`Meter`] carves a batch of calls out of what it still allows and
//! lends it to a Worker isolate, which then decides those calls without asking the
//! meter, until the batch is spent or [`LEASE_MS`] has passed. The meter stays the
//! authority:
//! - a lease is reserved in full against the rate window (at its end, the latest any of its
//!   calls can happen) and against the quota, so leases together never exceed a limit;
//! - only calls the plan includes (or bills as overage) are leased, never prepaid credits;
//! - below [`LEASE_FLOOR`] calls of room, nothing is leased and every call is decided here;
//! - the isolate settles each lease with the calls it used, which are counted then, once,
//!   and the unused rest is released. A lease never settled within [`SETTLE_GRACE_MS`] of its
//!   end is counted as fully used: an isolate that vanished may have used it all.

use super::{KeyRecord, Meter};
use serde::{Deserialize, Serialize};

/// The longest a lease lasts: also how long a revocation may take to reach an isolate
/// that holds one.
pub const LEASE_MS: u64 = 1_000;
/// The first lease of a key; a lease spent before it ends doubles the next one.
pub const MIN_LEASE: u64 = 8;
/// The largest lease.
pub const MAX_LEASE: u64 = 1_024;
/// With less room than this left under a limit, every call is decided by the meter, so a
/// key's last calls are shared out exactly as without leases: 200 concurrent calls with
/// 100 left allow exactly 100, none held back in a lease nobody uses.
pub const LEASE_FLOOR: u64 = 256;
/// A lease not settled this long after its end is counted as fully used.
pub const SETTLE_GRACE_MS: u64 = 5_000;

/// Names a lease: the meter's incarnation (its start time) and a sequence number, so a
/// meter that restarted tells its predecessor's leases from its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseId {
    /// When the lending meter started (ms since the epoch).
    pub incarnation: u64,
    /// The meter's count of leases.
    pub sequence: u64,
}

/// Calls lent to an isolate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Names it in the settlement.
    pub id: LeaseId,
    /// How many calls the isolate may allow.
    pub calls: u64,
    /// After this (ms since the epoch) the isolate allows none of them.
    pub expires_at_ms: u64,
}

/// What an isolate reports when its lease is spent, expired or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The lease.
    pub id: LeaseId,
    /// Calls the isolate allowed on it.
    pub used: u64,
}

/// A meter's outstanding leases and how large the next one is.
#[derive(Debug, Clone, Default)]
pub(super) struct Book {
    incarnation: u64,
    next_sequence: u64,
    outstanding: Vec<Lease>,
    size: u64,
}

impl Book {
    /// Calls lent and not yet settled.
    pub(super) fn reserved(&self) -> u64 {
        self.outstanding.iter().map(|lease| lease.calls).sum()
    }
}

impl Meter {
    /// This meter's leases are named after `incarnation` (its start time, in ms).
    pub fn with_incarnation(mut self, incarnation: u64) -> Self {
        self.leases.incarnation = incarnation;
        self
    }

    /// Lends calls to the isolate that just had a call allowed with `record`, if there is
    /// room enough; `None` keeps every call of that isolate coming here.
    pub fn lease(&mut self, record: &KeyRecord, now_ms: u64) -> Option<Lease> {
        let quota_room = match record.limits.monthly_requests {
            Some(quota) if !record.limits.overage => quota
                .saturating_sub(record.used_elsewhere)
                .saturating_sub(self.state.used)
                .saturating_sub(self.leases.reserved()),
            _ => u64::MAX,
        };
        self.lease_within(record, quota_room, now_ms)
    }

    /// Lends calls as [`Meter::lease`] does, with `quota_room` calls of `requests` left to
    /// lend on the account (its pooled count less what is lent already).
    pub fn lease_within(&mut self, record: &KeyRecord, quota_room: u64, now_ms: u64) -> Option<Lease> {
        if record.revoked {
            return None;
        }
        self.window.slide(now_ms);
        let rate_room = u64::from(record.limits.requests_per_minute).saturating_sub(self.window.calls);
        let room = rate_room.min(quota_room);
        if room < LEASE_FLOOR {
            return None;
        }
        let book = &mut self.leases;
        // A quarter of the room at most, so several isolates can hold one at once.
        let calls = book.size.clamp(MIN_LEASE, MAX_LEASE).min(room / 4);
        let lease = Lease {
            id: LeaseId { incarnation: book.incarnation, sequence: book.next_sequence },
            calls,
            expires_at_ms: now_ms.saturating_add(LEASE_MS),
        };
        book.next_sequence = book.next_sequence.saturating_add(1);
        book.outstanding.push(lease);
        self.window.count(lease.expires_at_ms, calls);
        Some(lease)
    }

    /// Counts the calls an isolate used on a lease and releases the rest. A lease this
    /// meter no longer holds was either lent by a meter before a restart (its calls are
    /// counted: nothing else counts them) or already counted in full at its grace's end.
    /// Returns the calls counted.
    pub fn settle(&mut self, settlement: Settlement, now_ms: u64) -> u64 {
        let book = &mut self.leases;
        let Some(index) = book.outstanding.iter().position(|lease| lease.id == settlement.id) else {
            if settlement.id.incarnation != book.incarnation {
                let used = settlement.used.min(MAX_LEASE);
                self.count_calls(used);
                return used;
            }
            return 0;
        };
        let lease = book.outstanding.swap_remove(index);
        let used = settlement.used.min(lease.calls);
        // The size follows the key's rate: spent before its end, the next lease is larger;
        // mostly unused, smaller.
        book.size = if used == lease.calls && now_ms < lease.expires_at_ms {
            book.size.max(MIN_LEASE).saturating_mul(2).min(MAX_LEASE)
        } else if used.saturating_mul(2) < lease.calls {
            (book.size / 2).max(MIN_LEASE)
        } else {
            book.size.max(MIN_LEASE)
        };
        self.window.release(lease.expires_at_ms, lease.calls.saturating_sub(used));
        self.count_calls(used);
        used
    }

    /// Counts, as fully used, every lease whose isolate has not settled it within the
    /// grace; returns the calls counted.
    pub fn expire_leases(&mut self, now_ms: u64) -> u64 {
        let (expired, kept): (Vec<Lease>, Vec<Lease>) = std::mem::take(&mut self.leases.outstanding)
            .into_iter()
            .partition(|lease| lease.expires_at_ms.saturating_add(SETTLE_GRACE_MS) <= now_ms);
        self.leases.outstanding = kept;
        let calls = expired.iter().map(|lease| lease.calls).fold(0, u64::saturating_add);
        self.count_calls(calls);
        calls
    }

    /// Calls lent to isolates and not yet settled.
    pub fn leased_calls(&self) -> u64 {
        self.leases.reserved()
    }

    pub(super) fn count_calls(&mut self, calls: u64) {
        self.state.used = self.state.used.saturating_add(calls);
        self.state.open_calls = self.state.open_calls.saturating_add(calls);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, KeyId};
    use crate::metering::{Limits, Period};
    use crate::time::Timestamp;
    use proptest::prelude::*;

    const T0: u64 = 1_795_500_000_000;

    fn record(quota: Option<u64>, per_minute: u32) -> KeyRecord {
        KeyRecord {
            key_id: KeyId::parse("key_1").unwrap(),
            account_id: AccountId::parse("acct_1").unwrap(),
            revoked: false,
            limits: Limits { monthly_requests: quota, requests_per_minute: per_minute, overage: false },
            period: Period { start: Timestamp(1_795_000_000), end: Timestamp(1_797_600_000) },
            used_elsewhere: 0,
            key_used: 0,
            key_credits_spent: 0,
            credits: None,
            account: None,
        }
    }

    /// Flushes and acknowledges: the calls the origin receives.
    fn batched(meter: &mut Meter, record: &KeyRecord) -> u64 {
        let batches = meter.flush(&record.key_id, &record.account_id);
        meter.acknowledge(&batches.iter().map(|batch| batch.id.clone()).collect::<Vec<_>>());
        batches.iter().map(|batch| batch.calls).sum()
    }

    #[test]
    fn a_hot_key_gets_larger_leases_and_a_cold_one_smaller() {
        let record = record(None, u32::MAX);
        let mut meter = Meter::default().with_incarnation(7);
        let mut sizes = Vec::new();
        for i in 0..10 {
            let now = T0 + i * 10;
            assert!(meter.decide(Some(&record), now).outcome.is_ok());
            let lease = meter.lease(&record, now).unwrap();
            sizes.push(lease.calls);
            meter.settle(Settlement { id: lease.id, used: lease.calls }, now + 5);
        }
        assert_eq!(sizes, [8, 16, 32, 64, 128, 256, 512, 1024, 1024, 1024]);
        let lease = meter.lease(&record, T0 + 200).unwrap();
        assert_eq!(lease.id.incarnation, 7);
        meter.settle(Settlement { id: lease.id, used: 1 }, T0 + 1_300);
        assert_eq!(meter.lease(&record, T0 + 1_400).unwrap().calls, 512);
    }

    #[test]
    fn with_little_room_left_nothing_is_leased() {
        let mut meter = Meter::default();
        assert_eq!(meter.lease(&record(Some(LEASE_FLOOR - 1), u32::MAX), T0), None);
        assert_eq!(meter.lease(&record(None, (LEASE_FLOOR - 1) as u32), T0), None);
        let lease = meter.lease(&record(Some(LEASE_FLOOR), u32::MAX), T0).unwrap();
        assert_eq!(lease.calls, MIN_LEASE);
        let revoked = KeyRecord { revoked: true, ..record(None, u32::MAX) };
        assert_eq!(meter.lease(&revoked, T0), None);
    }

    #[test]
    fn leased_calls_are_spoken_for_until_settled() {
        let (quota, per_minute) = (1_000, 2_000);
        for record in [record(Some(quota), u32::MAX), record(None, per_minute)] {
            let limit = record.limits.monthly_requests.unwrap_or(u64::from(per_minute));
            let mut meter = Meter::default();
            assert!(meter.decide(Some(&record), T0).outcome.is_ok());
            let lease = meter.lease(&record, T0).unwrap();
            let direct = (0..limit).filter(|_| meter.decide(Some(&record), T0 + 1).outcome.is_ok()).count() as u64;
            assert_eq!(1 + direct + lease.calls, limit);
            // Half used: the other half is free again.
            meter.settle(Settlement { id: lease.id, used: lease.calls / 2 }, T0 + 2);
            let freed = (0..limit).filter(|_| meter.decide(Some(&record), T0 + 3).outcome.is_ok()).count() as u64;
            assert_eq!(freed, lease.calls - lease.calls / 2);
        }
    }

    #[test]
    fn an_unsettled_lease_counts_in_full_and_a_late_settlement_does_not_count_again() {
        let record = record(None, u32::MAX);
        let mut meter = Meter::default().with_incarnation(1);
        assert!(meter.decide(Some(&record), T0).outcome.is_ok());
        let lease = meter.lease(&record, T0).unwrap();
        meter.expire_leases(lease.expires_at_ms + SETTLE_GRACE_MS - 1);
        assert_eq!(meter.leased_calls(), lease.calls);
        meter.expire_leases(lease.expires_at_ms + SETTLE_GRACE_MS);
        meter.settle(Settlement { id: lease.id, used: 3 }, lease.expires_at_ms + SETTLE_GRACE_MS + 1);
        assert_eq!((meter.leased_calls(), batched(&mut meter, &record)), (0, 1 + lease.calls));
        // A lease of a meter before a restart: nothing else counts its calls.
        let mut restarted = Meter::default().with_incarnation(2);
        assert!(restarted.decide(Some(&record), T0).outcome.is_ok());
        restarted.settle(Settlement { id: lease.id, used: 3 }, T0);
        assert_eq!(batched(&mut restarted, &record), 1 + 3);
    }

    /// What one isolate holds: a lease and the calls it allowed on it.
    #[derive(Debug, Clone, Copy)]
    struct Held {
        lease: Lease,
        used: u64,
    }

    /// One step of a key's traffic: a call at one of four isolates after `gap` ms; that
    /// isolate settling what it holds (spent, expired, or dropped by a revocation push); or
    /// a quiet spell of up to 12 s, across the settlement grace, after which an isolate's
    /// settlement may come late (its lease already counted in full).
    #[derive(Debug, Clone)]
    enum Step {
        Call { isolate: usize, gap: u64 },
        Settle { isolate: usize },
        Quiet { gap: u64 },
        Flush,
    }

    fn step() -> impl Strategy<Value = Step> {
        // Isolate 0 is rarely called, so it holds a lease while the others use up the limits.
        let isolate = || prop_oneof![1 => Just(0usize), 9 => 1usize..4];
        prop_oneof![
            8 => (isolate(), 0u64..400).prop_map(|(isolate, gap)| Step::Call { isolate, gap }),
            1 => isolate().prop_map(|isolate| Step::Settle { isolate }),
            1 => (0u64..12_000).prop_map(|gap| Step::Quiet { gap }),
            1 => Just(Step::Flush),
        ]
    }

    /// The meter and what the test knows of it: when it last counted expired leases in
    /// full, and how many calls it counted that no isolate used (late settlements).
    struct Model {
        meter: Meter,
        expired_through: u64,
        counted_unused: u64,
    }

    impl Model {
        fn settle(&mut self, held: Held, now: u64) {
            if self.expired_through >= held.lease.expires_at_ms + SETTLE_GRACE_MS {
                self.counted_unused += held.lease.calls - held.used;
            }
            self.meter.settle(Settlement { id: held.lease.id, used: held.used }, now);
        }

        fn expire(&mut self, now: u64) {
            self.meter.expire_leases(now);
            self.expired_through = now;
        }
    }

    proptest! {
        /// Isolates with leases and the meter together: no 60 s span holds more allowed
        /// calls than the rate limit, no period more than the quota, and every allowed call
        /// is counted once, in exactly one batch; a lease settled after its grace counts
        /// in full, never twice.
        #[test]
        fn leases_never_exceed_a_limit_and_every_allowed_call_is_counted_once(
            steps in proptest::collection::vec(step(), 1..1_500),
            per_minute in 1u32..2_000,
            quota in proptest::option::of(0u64..1_500),
            // Gaps are taken modulo the tempo: bursts (leases outstanding while the limits
            // run out) or slow traffic (windows sliding).
            tempo in prop_oneof![Just(3u64), Just(30), Just(400)],
        ) {
            let record = record(quota, per_minute);
            let mut model = Model { meter: Meter::default().with_incarnation(1), expired_through: 0, counted_unused: 0 };
            let mut held: [Option<Held>; 4] = [None; 4];
            let (mut now, mut allowed_at, mut counted) = (T0, Vec::new(), 0u64);
            for step in steps {
                match step {
                    Step::Call { isolate, gap } => {
                        now += gap % tempo;
                        // Each isolate settles an expired lease on a timer at its end; after
                        // a quiet spell that timer fires late, past the grace.
                        for slot in held.iter_mut().filter(|h| h.is_some_and(|h| now >= h.lease.expires_at_ms)) {
                            model.settle(slot.take().expect("filtered on is_some"), now);
                        }
                        // The isolate's own lease first, while it lasts; else the meter,
                        // with the spent or expired lease settled on the way.
                        if let Some(h) = held[isolate].as_mut().filter(|h| h.used < h.lease.calls && now < h.lease.expires_at_ms) {
                            h.used += 1;
                            allowed_at.push(now);
                            continue;
                        }
                        if let Some(h) = held[isolate].take() {
                            model.settle(h, now);
                        }
                        model.expire(now);
                        if model.meter.decide(Some(&record), now).outcome.is_ok() {
                            allowed_at.push(now);
                            held[isolate] = model.meter.lease(&record, now).map(|lease| Held { lease, used: 0 });
                        }
                    }
                    Step::Settle { isolate } => {
                        if let Some(h) = held[isolate].take() {
                            model.settle(h, now);
                        }
                    }
                    Step::Quiet { gap } => {
                        now += gap;
                        // The meter's alarm may run in the quiet: what is past its grace is counted in full.
                        if gap % 2 == 0 {
                            model.expire(now);
                        }
                    }
                    Step::Flush => counted += batched(&mut model.meter, &record),
                }
            }
            for h in held.iter_mut().filter_map(Option::take) {
                model.settle(h, now);
            }
            let meter = &mut model.meter;
            counted += batched(meter, &record);
            prop_assert_eq!(counted, allowed_at.len() as u64 + model.counted_unused, "every allowed call counted once");
            prop_assert_eq!(meter.leased_calls(), 0);
            if let Some(quota) = quota {
                prop_assert!(allowed_at.len() as u64 <= quota, "{} allowed over a quota of {}", allowed_at.len(), quota);
            }
            allowed_at.sort_unstable();
            for (i, &at) in allowed_at.iter().enumerate() {
                let in_window = allowed_at[i..].iter().take_while(|&&t| t < at + crate::metering::WINDOW_MS).count();
                prop_assert!(in_window <= per_minute as usize, "{} calls in 60 s over a limit of {}", in_window, per_minute);
            }
        }
    }
}
