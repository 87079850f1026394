//! Pooled quotas, credits and the money balance: one account's counters on every meter,
//! shared by all its keys. Whoever holds an account's [`AccountMeter`] (its Durable Object
//! at the edge, the native gateway's map locally) is the one place its units of quota and
//! balance are given out, so with 100 left, 200 concurrent calls over any number of keys get
//! exactly 100. A call refused for a meter is not counted.
//!
//! What the origin has counted arrives as [`MeterTerms`] and [`Funds`]; each is taken once,
//! when the meter starts counting (a window, or the account's spending), and from then on
//! the holder's own count is the authority. The counts leave in the keys' usage batches.

use crate::metering::Period;
use crate::meters::{self, MeterLimit, MeterName, Overage, Per, Route};
use crate::money::{Currency, Micros};
use crate::time::{BusinessZone, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One meter as the origin serves it for an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterTerms {
    /// The meter.
    pub meter: MeterName,
    /// The plan's limit on it.
    pub limit: MeterLimit,
    /// The window its quota counts in now (a day, a month or the billing period).
    pub window: Period,
    /// Units the origin has counted in that window, all keys: where a meter with no count
    /// of its own (new, or its storage lost) starts.
    pub counted: u64,
}

/// A meter as the origin counted it when it served a key's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountedMeter {
    /// The meter.
    pub meter: MeterName,
    /// The plan's limit on it.
    pub limit: MeterLimit,
    /// The window the count is of.
    pub window_start: Timestamp,
    /// Units counted in it, all keys.
    pub counted: u64,
}

/// An account's plan as the edge applies it to every call: the catalog's routes, each
/// meter's limit and count, and the funds to pay overage from. Served with each key's
/// record; windows are worked out at each call, so a day's quota restarts at midnight in
/// the business's zone whenever the record was fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTerms {
    /// Where days and months start.
    pub zone: BusinessZone,
    /// The billing period (`per = "period"` counts in it).
    pub period: Period,
    /// Routes, longest prefix first.
    pub routes: Vec<Route>,
    /// Every meter the plan limits; any other is unlimited.
    pub meters: Vec<CountedMeter>,
    /// What overage is paid from.
    pub funds: Funds,
    /// The balance's currency.
    pub currency: Currency,
}

impl AccountTerms {
    /// What a call to `path` costs, and the terms of its meter at `now`.
    pub fn for_call(&self, path: &str, now: Timestamp) -> (MeterTerms, u64) {
        let charge = meters::charge(&self.routes, path);
        (self.terms(charge.meter, now), charge.cost)
    }

    /// The meter's terms at `now`: its window then, and the origin's count if it is of that window.
    pub fn terms(&self, meter: &MeterName, now: Timestamp) -> MeterTerms {
        let counted = self.meters.iter().find(|counted| &counted.meter == meter);
        let limit = counted.map_or(MeterLimit::UNLIMITED, |counted| counted.limit.clone());
        let window = window(limit.per, self.zone, self.period, now);
        MeterTerms {
            meter: meter.clone(),
            counted: counted
                .filter(|counted| counted.window_start == window.start)
                .map_or(0, |counted| counted.counted),
            limit,
            window,
        }
    }
}

/// The window a quota counted `per` holds `now` in.
pub fn window(per: Per, zone: BusinessZone, period: Period, now: Timestamp) -> Period {
    let (start, end) = match per {
        Per::Day => zone.day_span(now),
        Per::Month => zone.month_span(now),
        Per::Period => (period.start, period.end),
    };
    Period { start, end }
}

/// What an account can pay past its quotas with, as the origin counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funds {
    /// Top-ups bought, less what refunds took back, in micro-units.
    pub balance_granted: Micros,
    /// Spent from the balance, as the origin has counted it.
    pub balance_spent: Micros,
    /// Request credits bought (0: never bought, so a used-up quota is `quota_exceeded`).
    pub credits_granted: u64,
    /// Credits spent, as the origin has counted them.
    pub credits_spent: u64,
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
    /// Past a blocking `requests` quota, one prepaid credit per unit.
    Credits {
        /// Credits spent.
        credits: u64,
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
    /// 402 `INSUFFICIENT_CREDITS`: the prepaid credits are used up.
    InsufficientCredits,
}

/// One meter's count in its current window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counter {
    window_start: Option<Timestamp>,
    used: u64,
}

/// The account's spending since this meter started counting it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Spending {
    /// What the origin had counted then: every spending since is this meter's own.
    origin_balance: Micros,
    origin_credits: u64,
    balance: Micros,
    credits: u64,
}

/// One account's counters. Serialisable, so a Durable Object stores it with its batches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMeter {
    counters: BTreeMap<MeterName, Counter>,
    spending: Option<Spending>,
}

impl AccountMeter {
    /// Charges `cost` units of the meter `terms` describe, `reserved` more already lent
    /// out on it (leases, counted as used), paying what is past the quota as the plan says:
    /// billed, from the balance, or (on `requests`) with credits. Counted before this
    /// returns when allowed; nothing changes when refused.
    pub fn charge(
        &mut self,
        terms: &MeterTerms,
        cost: u64,
        reserved: u64,
        funds: &Funds,
    ) -> Result<Paid, QuotaRefusal> {
        self.enter_window(terms);
        let spending = *self.spending.get_or_insert(Spending {
            origin_balance: funds.balance_spent,
            origin_credits: funds.credits_spent,
            ..Spending::default()
        });
        let used = self.counters.get(&terms.meter).map_or(0, |counter| counter.used).saturating_add(reserved);
        let paid = match terms.limit.quota {
            None => Paid::Included,
            Some(quota) => {
                let beyond = used.saturating_add(cost).saturating_sub(quota.max(used)).min(cost);
                match &terms.limit.overage {
                    _ if beyond == 0 => Paid::Included,
                    Overage::Block if funds.credits_granted > 0 && terms.meter.as_str() == crate::meters::REQUESTS => {
                        let left = funds
                            .credits_granted
                            .saturating_sub(spending.origin_credits.saturating_add(spending.credits));
                        if left < beyond {
                            return Err(QuotaRefusal::InsufficientCredits);
                        }
                        Paid::Credits { credits: beyond }
                    }
                    Overage::Block => {
                        return Err(QuotaRefusal::QuotaExceeded { meter: terms.meter.clone(), quota });
                    }
                    Overage::Bill(_) => Paid::Billed { units: beyond },
                    Overage::Balance(price) => {
                        let left = self.balance_left(funds);
                        match price.micros.checked_times(beyond).filter(|amount| *amount <= left) {
                            Some(amount) => Paid::FromBalance { units: beyond, amount },
                            None => return Err(QuotaRefusal::InsufficientBalance { balance: left }),
                        }
                    }
                }
            }
        };
        self.count(terms, cost);
        let spending = self.spending.as_mut().expect("set above");
        match paid {
            Paid::FromBalance { amount, .. } => spending.balance = Micros(spending.balance.0.saturating_add(amount.0)),
            Paid::Credits { credits } => spending.credits = spending.credits.saturating_add(credits),
            Paid::Included | Paid::Billed { .. } => {}
        }
        Ok(paid)
    }

    /// Counts `units` used without a decision: what a lease's isolate allowed.
    pub fn count(&mut self, terms: &MeterTerms, units: u64) {
        self.enter_window(terms);
        let counter = self.counters.entry(terms.meter.clone()).or_default();
        counter.used = counter.used.saturating_add(units);
    }

    /// What is left of the balance: the origin's grant less everything spent, the origin's
    /// count at the start and this meter's own since.
    pub fn balance_left(&self, funds: &Funds) -> Micros {
        let spent = match self.spending {
            Some(spending) => spending.origin_balance.0.saturating_add(spending.balance.0),
            None => funds.balance_spent.0,
        };
        Micros(funds.balance_granted.0.saturating_sub(spent).max(0))
    }

    /// Units counted in the meter's current window, as counted here.
    pub fn used(&self, terms: &MeterTerms) -> u64 {
        match self.counters.get(&terms.meter) {
            Some(counter) if counter.window_start == Some(terms.window.start) => counter.used,
            _ => terms.counted,
        }
    }

    /// What is left of the meter's quota under `terms`; `None` when unlimited.
    pub fn remaining(&self, terms: &MeterTerms) -> Option<u64> {
        terms.limit.quota.map(|quota| quota.saturating_sub(self.used(terms)))
    }

    /// Starts the meter's count from the origin's when it has none, and from zero when its
    /// window has moved on.
    fn enter_window(&mut self, terms: &MeterTerms) {
        let counter = self.counters.entry(terms.meter.clone()).or_default();
        match counter.window_start {
            Some(start) if start == terms.window.start => {}
            Some(_) => *counter = Counter { window_start: Some(terms.window.start), used: 0 },
            None => *counter = Counter { window_start: Some(terms.window.start), used: terms.counted },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meters::UnitPrice;
    use proptest::prelude::*;

    const WINDOW: Period = Period { start: Timestamp(1_796_083_200), end: Timestamp(1_798_761_600) };

    fn messages() -> MeterName {
        MeterName::parse("messages").unwrap()
    }

    fn terms(quota: Option<u64>, overage: Overage, counted: u64) -> MeterTerms {
        MeterTerms {
            meter: messages(),
            limit: MeterLimit { quota, per: Per::Period, overage },
            window: WINDOW,
            counted,
        }
    }

    fn price(micros: i64) -> UnitPrice {
        UnitPrice { decimal: "x".into(), micros: Micros(micros) }
    }

    fn balance(micros: i64) -> Funds {
        Funds { balance_granted: Micros(micros), ..Funds::default() }
    }

    #[test]
    fn a_blocked_meter_refuses_past_its_quota_and_counts_nothing_it_refuses() {
        let mut meter = AccountMeter::default();
        let terms = terms(Some(3), Overage::Block, 1);
        assert_eq!(meter.charge(&terms, 2, 0, &Funds::default()), Ok(Paid::Included));
        let refused = meter.charge(&terms, 1, 0, &Funds::default());
        assert_eq!(refused, Err(QuotaRefusal::QuotaExceeded { meter: messages(), quota: 3 }));
        assert_eq!((meter.used(&terms), meter.remaining(&terms)), (3, Some(0)));
        // Units lent out count as used: with one left and one reserved, none is given.
        let mut lent = AccountMeter::default();
        assert!(lent.charge(&terms, 1, 1, &Funds::default()).is_ok());
        assert!(lent.charge(&terms, 1, 1, &Funds::default()).is_err());
    }

    #[test]
    fn a_call_that_crosses_the_quota_pays_only_for_the_units_past_it() {
        let mut meter = AccountMeter::default();
        let terms_ = terms(Some(10), Overage::Balance(price(50_000)), 8);
        // 3 units with 2 left: one unit at five cents.
        assert_eq!(
            meter.charge(&terms_, 3, 0, &balance(100_000)),
            Ok(Paid::FromBalance { units: 1, amount: Micros(50_000) })
        );
        // The origin counts the spending later: until then it still says nothing was spent,
        // and the meter's own count keeps the balance right.
        assert_eq!(
            meter.charge(&terms_, 1, 0, &balance(100_000)),
            Ok(Paid::FromBalance { units: 1, amount: Micros(50_000) })
        );
        let refused = meter.charge(&terms_, 1, 0, &balance(100_000));
        assert_eq!(refused, Err(QuotaRefusal::InsufficientBalance { balance: Micros(0) }));
        // A top-up of a dollar arrives with the next record: twenty more messages.
        let topped = Funds { balance_granted: Micros(1_100_000), balance_spent: Micros(100_000), ..Funds::default() };
        assert_eq!(meter.balance_left(&topped), Micros(1_000_000));
        let allowed = (0..25).filter(|_| meter.charge(&terms_, 1, 0, &topped).is_ok()).count();
        assert_eq!(allowed, 20);
        let billed = terms(Some(10), Overage::Bill(price(4_000)), 9);
        assert_eq!(AccountMeter::default().charge(&billed, 5, 0, &Funds::default()), Ok(Paid::Billed { units: 4 }));
    }

    #[test]
    fn credits_pay_for_requests_past_a_blocking_quota_until_they_run_out() {
        let requests = MeterTerms { meter: MeterName::requests(), ..terms(Some(2), Overage::Block, 2) };
        let funds = Funds { credits_granted: 5, credits_spent: 3, ..Funds::default() };
        let mut meter = AccountMeter::default();
        let outcomes: Vec<_> = (0..3).map(|_| meter.charge(&requests, 1, 0, &funds)).collect();
        assert_eq!(
            outcomes,
            [
                Ok(Paid::Credits { credits: 1 }),
                Ok(Paid::Credits { credits: 1 }),
                Err(QuotaRefusal::InsufficientCredits)
            ]
        );
        // Credits are for requests: another meter past its quota is refused as before.
        assert!(matches!(
            meter.charge(&terms(Some(0), Overage::Block, 0), 1, 0, &funds),
            Err(QuotaRefusal::QuotaExceeded { .. })
        ));
    }

    #[test]
    fn a_new_window_counts_from_zero() {
        let mut meter = AccountMeter::default();
        let daily = terms(Some(3), Overage::Block, 0);
        for _ in 0..3 {
            meter.charge(&daily, 1, 0, &Funds::default()).unwrap();
        }
        assert!(meter.charge(&daily, 1, 0, &Funds::default()).is_err());
        let tomorrow =
            MeterTerms { window: Period { start: WINDOW.end, end: Timestamp(WINDOW.end.0 + 86_400) }, ..daily };
        assert_eq!(meter.charge(&tomorrow, 1, 0, &Funds::default()), Ok(Paid::Included));
        assert_eq!(meter.remaining(&tomorrow), Some(2));
    }

    #[test]
    fn windows_follow_the_business_zone_whenever_the_record_was_fetched() {
        let la_paz = BusinessZone::parse("America/La_Paz").unwrap();
        let generations = MeterName::parse("generations").unwrap();
        let evening = Timestamp::parse_rfc3339("2026-12-01T03:00:00Z").unwrap(); // Nov 30, 23:00 in La Paz
        let (start, _) = la_paz.day_span(evening);
        let account = AccountTerms {
            zone: la_paz,
            period: WINDOW,
            routes: vec![Route {
                prefix: "/v1/generations".into(),
                meter: generations.clone(),
                cost: std::num::NonZeroU64::new(1).unwrap(),
            }],
            meters: vec![CountedMeter {
                meter: generations.clone(),
                limit: MeterLimit { quota: Some(3), per: Per::Day, overage: Overage::Block },
                window_start: start,
                counted: 2,
            }],
            funds: Funds::default(),
            currency: Currency::parse("usd").unwrap(),
        };
        let (tonight, cost) = account.for_call("/v1/generations/42", evening);
        assert_eq!((tonight.counted, cost, tonight.window.start), (2, 1, start));
        // Past midnight in La Paz the same record counts a new day from zero.
        let (tomorrow, _) = account.for_call("/v1/generations", evening.plus_seconds(3_600));
        assert_eq!((tomorrow.counted, tomorrow.window.start), (0, tonight.window.end));
        let (other, _) = account.for_call("/v1/other", evening);
        assert_eq!((other.meter, other.limit), (MeterName::requests(), MeterLimit::UNLIMITED));
    }

    #[test]
    fn two_hundred_calls_over_four_keys_with_a_hundred_left_allow_exactly_a_hundred() {
        let meter = std::sync::Arc::new(std::sync::Mutex::new(AccountMeter::default()));
        let terms = terms(Some(150), Overage::Block, 50);
        let keys: Vec<_> = (0..4)
            .map(|_| {
                let (meter, terms) = (std::sync::Arc::clone(&meter), terms.clone());
                std::thread::spawn(move || {
                    (0..50).filter(|_| meter.lock().unwrap().charge(&terms, 1, 0, &Funds::default()).is_ok()).count()
                })
            })
            .collect();
        let allowed: usize = keys.into_iter().map(|key| key.join().unwrap()).sum();
        assert_eq!(allowed, 100);
        assert_eq!(meter.lock().unwrap().used(&terms), 150);
    }

    proptest! {
        /// Whatever the costs and whenever the origin catches up with the spending: never
        /// more units within the quota than it leaves, never more spent than the balance,
        /// every unit past the quota paid at the unit price, every allowed unit counted, and
        /// a refused call changes nothing.
        #[test]
        fn quotas_and_the_balance_are_exact(
            costs in proptest::collection::vec(1u64..6, 1..300),
            quota in 0u64..200,
            counted in 0u64..250,
            overage in 0u8..3,
            unit in 1i64..100_000,
            top_up in 0i64..5_000_000,
            sync_every in 1usize..40,
        ) {
            let overage = match overage { 0 => Overage::Block, 1 => Overage::Bill(price(unit)), _ => Overage::Balance(price(unit)) };
            let terms = terms(Some(quota), overage.clone(), counted);
            let mut meter = AccountMeter::default();
            // The origin learns of the spending now and then (a flushed batch).
            let mut origin = balance(top_up);
            let (mut allowed_units, mut beyond_units, mut spent) = (0u64, 0u64, 0i64);
            for (i, &cost) in costs.iter().enumerate() {
                let before = (meter.used(&terms), meter.balance_left(&origin));
                match meter.charge(&terms, cost, 0, &origin) {
                    Ok(paid) => {
                        allowed_units += cost;
                        match paid {
                            Paid::Included | Paid::Credits { .. } => {}
                            Paid::Billed { units } => beyond_units += units,
                            Paid::FromBalance { units, amount } => {
                                beyond_units += units;
                                prop_assert_eq!(amount.0, unit * units as i64);
                                spent += amount.0;
                            }
                        }
                    }
                    Err(_) => prop_assert_eq!((meter.used(&terms), meter.balance_left(&origin)), before, "a refusal counts nothing"),
                }
                if i % sync_every == 0 {
                    origin.balance_spent = Micros(spent);
                }
            }
            let room = quota.saturating_sub(counted);
            prop_assert!(allowed_units - beyond_units <= room, "within the quota: {} of {}", allowed_units - beyond_units, room);
            prop_assert_eq!(meter.used(&terms), counted + allowed_units);
            if matches!(overage, Overage::Block) {
                prop_assert_eq!(beyond_units, 0);
            }
            prop_assert!(spent <= top_up, "spent {} of {}", spent, top_up);
            prop_assert_eq!(meter.balance_left(&origin).0, top_up - spent);
            if matches!(overage, Overage::Balance(_)) {
                prop_assert_eq!(spent, unit * beyond_units as i64);
            }
        }
    }
}
