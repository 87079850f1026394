//! Pooled quotas and the money balance: one account's counters on every meter, shared by
//! all its keys. Whoever holds an account's [`AccountMeter`] (one Durable Object per
//! account, or the native gateway's map) is the one place its units of quota and balance
//! are given out, so with 100 left, 200 concurrent calls over any number of keys get
//! exactly 100. A call refused for a meter is not counted.
//!
//! What the origin has counted arrives as [`MeterTerms`]; what the meter counts leaves in
//! [`MeterBatch`]es, each sealed once and kept until acknowledged, as the per-key meter's.

use crate::ids::AccountId;
use crate::metering::Period;
use crate::meters::{MeterLimit, MeterName, Overage};
use crate::money::Micros;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One meter as the origin serves it for an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterTerms {
    /// The plan's limit on it.
    pub limit: MeterLimit,
    /// The window its quota counts in now (a day, a month or the billing period).
    pub window: Period,
    /// Units the origin has counted in that window: where a meter with no count of its own
    /// (new, or its storage lost) starts.
    pub counted: u64,
}

/// How an allowed call is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paid {
    /// Within the quota (or unlimited).
    Included,
    /// `units` past the quota, reported to Stripe and invoiced.
    Billed {
        /// Units past the quota.
        units: u64,
    },
    /// `units` past the quota, `amount` taken from the balance.
    FromBalance {
        /// Units past the quota.
        units: u64,
        /// What they cost.
        amount: Micros,
    },
}

/// Why a call is refused for a meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaRefusal {
    /// 402 `quota_exceeded`: the quota is used up and the plan blocks.
    QuotaExceeded {
        /// The meter.
        meter: MeterName,
        /// Its quota.
        quota: u64,
    },
    /// 402 `insufficient_balance`: the balance cannot pay the units past the quota.
    InsufficientBalance {
        /// What is left of the balance.
        balance: Micros,
    },
}

/// Counted use of one meter in one window, sent to the origin once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterBatch {
    /// `<account>.<meter>.<sequence>`: the origin counts each id once.
    pub id: String,
    /// The account.
    pub account_id: AccountId,
    /// The meter.
    pub meter: MeterName,
    /// The window the units count in.
    pub window_start: Timestamp,
    /// Units allowed.
    pub units: u64,
    /// Of them, past the quota and billed.
    pub billed: u64,
    /// Taken from the balance for units past the quota.
    pub balance_spent: Micros,
}

/// One meter's count in its current window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Counter {
    window_start: Option<Timestamp>,
    used: u64,
    open_units: u64,
    open_billed: u64,
    open_spent: Micros,
}

/// One account's counters.
#[derive(Debug, Clone, Default)]
pub struct AccountMeter {
    counters: BTreeMap<MeterName, Counter>,
    next_batch: u64,
    unsent: Vec<MeterBatch>,
}

impl AccountMeter {
    /// Charges `cost` units of `meter` under `terms`, paying what is past the quota from
    /// `balance` (what the origin says is left) if the plan says so. Counted before this
    /// returns when allowed; nothing changes when refused.
    ///
    /// The origin's balance leaves out what this meter spent and the origin has not
    /// acknowledged, so that is taken off it here. A batch the origin counted before its
    /// acknowledgement arrived is taken off twice for a moment: the balance is then
    /// underestimated, never over.
    pub fn charge(
        &mut self,
        account: &AccountId,
        meter: &MeterName,
        cost: u64,
        terms: &MeterTerms,
        balance: Micros,
    ) -> Result<Paid, QuotaRefusal> {
        self.enter_window(account, meter, terms);
        let left = Micros(balance.0.saturating_sub(self.pending_spent().0).max(0));
        let counter = self.counters.entry(meter.clone()).or_default();
        let paid = match terms.limit.quota {
            None => Paid::Included,
            Some(quota) => {
                let beyond = counter.used.saturating_add(cost).saturating_sub(quota.max(counter.used)).min(cost);
                match &terms.limit.overage {
                    _ if beyond == 0 => Paid::Included,
                    Overage::Block => return Err(QuotaRefusal::QuotaExceeded { meter: meter.clone(), quota }),
                    Overage::Bill(_) => Paid::Billed { units: beyond },
                    Overage::Balance(price) => {
                        match price.micros.checked_times(beyond).filter(|amount| *amount <= left) {
                            Some(amount) => Paid::FromBalance { units: beyond, amount },
                            None => return Err(QuotaRefusal::InsufficientBalance { balance: left }),
                        }
                    }
                }
            }
        };
        counter.used = counter.used.saturating_add(cost);
        counter.open_units = counter.open_units.saturating_add(cost);
        match paid {
            Paid::Billed { units } => counter.open_billed = counter.open_billed.saturating_add(units),
            Paid::FromBalance { amount, .. } => {
                counter.open_spent = Micros(counter.open_spent.0.saturating_add(amount.0))
            }
            Paid::Included => {}
        }
        Ok(paid)
    }

    /// Taken from the balance and not yet acknowledged by the origin.
    pub fn pending_spent(&self) -> Micros {
        let open = self.counters.values().map(|counter| counter.open_spent.0);
        let unsent = self.unsent.iter().map(|batch| batch.balance_spent.0);
        Micros(open.chain(unsent).fold(0_i64, i64::saturating_add))
    }

    /// What is left of `meter`'s quota under `terms`, as counted here; `None` when unlimited.
    pub fn remaining(&self, meter: &MeterName, terms: &MeterTerms) -> Option<u64> {
        let used = match self.counters.get(meter) {
            Some(counter) if counter.window_start == Some(terms.window.start) => counter.used,
            _ => terms.counted,
        };
        terms.limit.quota.map(|quota| quota.saturating_sub(used))
    }

    /// Starts `meter`'s count from the origin's when it has none, and from zero (the old
    /// window's counts sealed first) when its window has moved on.
    fn enter_window(&mut self, account: &AccountId, meter: &MeterName, terms: &MeterTerms) {
        let counter = self.counters.entry(meter.clone()).or_default();
        match counter.window_start {
            Some(start) if start == terms.window.start => {}
            Some(_) => {
                self.seal(account, meter);
                let counter = self.counters.entry(meter.clone()).or_default();
                *counter = Counter { window_start: Some(terms.window.start), ..Counter::default() };
            }
            None => {
                *counter =
                    Counter { window_start: Some(terms.window.start), used: terms.counted, ..Counter::default() };
            }
        }
    }

    fn seal(&mut self, account: &AccountId, meter: &MeterName) {
        let Some(counter) = self.counters.get_mut(meter) else { return };
        let Some(window_start) = counter.window_start.filter(|_| counter.open_units > 0) else { return };
        self.unsent.push(MeterBatch {
            id: format!("{account}.{meter}.{}", self.next_batch),
            account_id: account.clone(),
            meter: meter.clone(),
            window_start,
            units: counter.open_units,
            billed: counter.open_billed,
            balance_spent: counter.open_spent,
        });
        self.next_batch = self.next_batch.saturating_add(1);
        (counter.open_units, counter.open_billed, counter.open_spent) = (0, 0, Micros(0));
    }

    /// Seals every meter's open counts and returns every batch not yet acknowledged.
    pub fn flush(&mut self, account: &AccountId) -> Vec<MeterBatch> {
        let meters: Vec<MeterName> = self.counters.keys().cloned().collect();
        for meter in &meters {
            self.seal(account, meter);
        }
        self.unsent.clone()
    }

    /// The origin has counted these batches (and taken what they spent off the balance).
    pub fn acknowledge(&mut self, ids: &[String]) {
        self.unsent.retain(|batch| !ids.contains(&batch.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meters::{Per, UnitPrice};
    use proptest::prelude::*;

    const WINDOW: Period = Period { start: Timestamp(1_796_083_200), end: Timestamp(1_798_761_600) };

    fn account() -> AccountId {
        AccountId::parse("acct_pool").unwrap()
    }

    fn messages() -> MeterName {
        MeterName::parse("messages").unwrap()
    }

    fn terms(quota: Option<u64>, overage: Overage, counted: u64) -> MeterTerms {
        MeterTerms { limit: MeterLimit { quota, per: Per::Period, overage }, window: WINDOW, counted }
    }

    fn price(micros: i64) -> UnitPrice {
        UnitPrice { decimal: "x".into(), micros: Micros(micros) }
    }

    #[test]
    fn a_blocked_meter_refuses_past_its_quota_and_counts_nothing_it_refuses() {
        let mut meter = AccountMeter::default();
        let terms = terms(Some(3), Overage::Block, 1);
        assert_eq!(meter.charge(&account(), &messages(), 2, &terms, Micros(0)), Ok(Paid::Included));
        let refused = meter.charge(&account(), &messages(), 1, &terms, Micros(0));
        assert_eq!(refused, Err(QuotaRefusal::QuotaExceeded { meter: messages(), quota: 3 }));
        assert_eq!(meter.remaining(&messages(), &terms), Some(0));
        let batches = meter.flush(&account());
        assert_eq!((batches.len(), batches[0].units, batches[0].billed), (1, 2, 0));
    }

    #[test]
    fn a_call_that_crosses_the_quota_pays_only_for_the_units_past_it() {
        let mut meter = AccountMeter::default();
        let balance = terms(Some(10), Overage::Balance(price(50_000)), 8);
        // 3 units with 2 left: one unit at five cents.
        let paid = meter.charge(&account(), &messages(), 3, &balance, Micros(100_000));
        assert_eq!(paid, Ok(Paid::FromBalance { units: 1, amount: Micros(50_000) }));
        // The origin still serves 100,000: the 50,000 not yet acknowledged is taken off it.
        let next = meter.charge(&account(), &messages(), 1, &balance, Micros(100_000));
        assert_eq!(next, Ok(Paid::FromBalance { units: 1, amount: Micros(50_000) }));
        let refused = meter.charge(&account(), &messages(), 1, &balance, Micros(100_000));
        assert_eq!(refused, Err(QuotaRefusal::InsufficientBalance { balance: Micros(0) }));
        assert_eq!(meter.pending_spent(), Micros(100_000));
        let billed = terms(Some(10), Overage::Bill(price(4_000)), 9);
        let mut other = AccountMeter::default();
        assert_eq!(other.charge(&account(), &messages(), 5, &billed, Micros(0)), Ok(Paid::Billed { units: 4 }));
        assert_eq!(other.flush(&account())[0].billed, 4);
    }

    #[test]
    fn a_new_window_counts_from_zero_after_sealing_the_old_one() {
        let mut meter = AccountMeter::default();
        let daily = terms(Some(3), Overage::Block, 0);
        for _ in 0..3 {
            meter.charge(&account(), &messages(), 1, &daily, Micros(0)).unwrap();
        }
        assert!(meter.charge(&account(), &messages(), 1, &daily, Micros(0)).is_err());
        let tomorrow =
            MeterTerms { window: Period { start: WINDOW.end, end: Timestamp(WINDOW.end.0 + 86_400) }, ..daily };
        assert_eq!(meter.charge(&account(), &messages(), 1, &tomorrow, Micros(0)), Ok(Paid::Included));
        let batches = meter.flush(&account());
        let sealed: Vec<_> = batches.iter().map(|b| (b.window_start, b.units)).collect();
        assert_eq!(sealed, [(WINDOW.start, 3), (WINDOW.end, 1)]);
        meter.acknowledge(&[batches[0].id.clone()]);
        assert_eq!(meter.flush(&account()).len(), 1, "the unacknowledged batch is kept");
    }

    #[test]
    fn two_hundred_calls_over_four_keys_with_a_hundred_left_allow_exactly_a_hundred() {
        let meter = std::sync::Arc::new(std::sync::Mutex::new(AccountMeter::default()));
        let terms = terms(Some(150), Overage::Block, 50);
        let keys: Vec<_> = (0..4)
            .map(|_| {
                let (meter, terms) = (std::sync::Arc::clone(&meter), terms.clone());
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| meter.lock().unwrap().charge(&account(), &messages(), 1, &terms, Micros(0)).is_ok())
                        .count()
                })
            })
            .collect();
        let allowed: usize = keys.into_iter().map(|key| key.join().unwrap()).sum();
        assert_eq!(allowed, 100);
        assert_eq!(meter.lock().unwrap().flush(&account()).iter().map(|b| b.units).sum::<u64>(), 100);
    }

    proptest! {
        /// Whatever the costs, the flushes and the acknowledgements: never more units within
        /// the quota than it leaves, never more spent than the balance, every unit past the
        /// quota paid at the unit price, every allowed unit in exactly one batch, and a
        /// refused call changes nothing.
        #[test]
        fn quotas_and_the_balance_are_exact(
            costs in proptest::collection::vec(1u64..6, 1..300),
            quota in 0u64..200,
            counted in 0u64..250,
            overage in 0u8..3,
            unit in 1i64..100_000,
            top_up in 0i64..5_000_000,
            flush_every in 1usize..40,
        ) {
            let overage = match overage { 0 => Overage::Block, 1 => Overage::Bill(price(unit)), _ => Overage::Balance(price(unit)) };
            let terms = terms(Some(quota), overage.clone(), counted);
            let mut meter = AccountMeter::default();
            // The origin: its balance drops by what each batch it counts spent.
            let (mut origin_balance, mut counted_ids) = (top_up, std::collections::HashSet::new());
            let (mut allowed_units, mut beyond_units, mut spent, mut batched_units, mut batched_spent) = (0u64, 0u64, 0i64, 0u64, 0i64);
            for (i, &cost) in costs.iter().enumerate() {
                let before = meter.remaining(&messages(), &terms);
                match meter.charge(&account(), &messages(), cost, &terms, Micros(origin_balance)) {
                    Ok(paid) => {
                        allowed_units += cost;
                        match paid {
                            Paid::Included => {}
                            Paid::Billed { units } => beyond_units += units,
                            Paid::FromBalance { units, amount } => {
                                beyond_units += units;
                                prop_assert_eq!(amount.0, unit * units as i64);
                                spent += amount.0;
                            }
                        }
                    }
                    Err(_) => prop_assert_eq!(meter.remaining(&messages(), &terms), before, "a refusal counts nothing"),
                }
                if i % flush_every == 0 {
                    let batches = meter.flush(&account());
                    for batch in &batches {
                        if counted_ids.insert(batch.id.clone()) {
                            batched_units += batch.units;
                            batched_spent += batch.balance_spent.0;
                            origin_balance -= batch.balance_spent.0;
                        }
                    }
                    // Every other flush's acknowledgement is lost: the batches come again.
                    if i % (2 * flush_every) == 0 {
                        meter.acknowledge(&batches.iter().map(|b| b.id.clone()).collect::<Vec<_>>());
                    }
                }
            }
            for batch in meter.flush(&account()) {
                if counted_ids.insert(batch.id.clone()) {
                    batched_units += batch.units;
                    batched_spent += batch.balance_spent.0;
                }
            }
            let room = quota.saturating_sub(counted);
            prop_assert!(allowed_units - beyond_units <= room, "within the quota: {} of {}", allowed_units - beyond_units, room);
            if matches!(overage, Overage::Block) {
                prop_assert_eq!(beyond_units, 0);
            }
            prop_assert!(spent <= top_up, "spent {} of {}", spent, top_up);
            if matches!(overage, Overage::Balance(_)) {
                prop_assert_eq!(spent, unit * beyond_units as i64);
            }
            prop_assert_eq!(batched_units, allowed_units);
            prop_assert_eq!(batched_spent, spent);
        }
    }
}
