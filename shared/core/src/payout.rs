//! Paying partners: when an earning can be paid, what a partner stands at, and how a
//! monthly payout names itself so that it is made once.
//!
//! A partner's money is their referral commissions and catalog earnings, less what refunds
//! took back and what was already paid out. An earning is held for a while after its payment
//! (the refund window); a refund after a payout can leave the partner owing money back,
//! which later earnings pay off before anything is transferred again.

use crate::ids::AccountId;
use crate::ledger::{EntryKind, LedgerEntry};
use crate::money::{Cents, Currency};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;

/// Days an earning is held after its payment when `PAYOUT_HOLD_DAYS` is unset: the refund window.
pub const DEFAULT_HOLD_DAYS: u32 = 30;
/// The smallest transfer when `PAYOUT_MINIMUM_CENTS` is unset.
pub const DEFAULT_MINIMUM_CENTS: i64 = 1_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// A calendar month (`2026-11`), the unit payouts are made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: u16,
    month: u8,
}

/// Why a period was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a period is a month written YYYY-MM (1970-01 to 9999-12), got {0:?}")]
pub struct InvalidPeriod(pub String);

impl Period {
    /// A period written `YYYY-MM`.
    pub fn parse(text: &str) -> Result<Self, InvalidPeriod> {
        let invalid = || InvalidPeriod(text.chars().take(32).collect());
        let (year, month) = text.split_once('-').ok_or_else(invalid)?;
        if year.len() != 4 || month.len() != 2 || !(year.bytes().chain(month.bytes())).all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let year: u16 = year.parse().map_err(|_| invalid())?;
        let month: u8 = month.parse().map_err(|_| invalid())?;
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(invalid());
        }
        Ok(Self { year, month })
    }

    /// The month `at` falls in (UTC).
    pub fn of(at: Timestamp) -> Self {
        let day = at.utc_day();
        Self::parse(&day[..7.min(day.len())]).unwrap_or(Self { year: 1970, month: 1 })
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Where a partner stands, in minor units of one currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// Earned, still in the hold period.
    pub pending: i64,
    /// Earned, past the hold period and not paid out.
    pub available: i64,
    /// Transferred out so far.
    pub paid: i64,
    /// Refunds took back more than was left after payouts: later earnings pay this off first.
    pub owed_back: i64,
}

/// Whether an entry of `kind` is a partner's money (earned, taken back or paid out).
pub fn is_partner_money(kind: EntryKind) -> bool {
    matches!(
        kind,
        EntryKind::Commission
            | EntryKind::CommissionReversal
            | EntryKind::PartnerEarning
            | EntryKind::PartnerEarningReversal
            | EntryKind::Payout
    )
}

/// The currency a partner is paid in: that of their latest earning. Earnings in another
/// currency are left out of the balance (a connected account is paid in one currency).
pub fn payout_currency(entries: &[LedgerEntry]) -> Option<Currency> {
    entries
        .iter()
        .filter(|entry| matches!(entry.kind, EntryKind::Commission | EntryKind::PartnerEarning))
        .max_by_key(|entry| entry.at)
        .map(|entry| entry.amount.currency.clone())
}

/// A partner's balance in `currency` at `now`, from their ledger entries. An earning and
/// the refunds that took part of it back become available together, `hold_days` after the
/// payment; every payout counts as paid at once.
pub fn balance(entries: &[LedgerEntry], currency: &Currency, now: Timestamp, hold_days: u32) -> Balance {
    let hold = i64::from(hold_days).saturating_mul(SECONDS_PER_DAY);
    // Per payment: what the partner nets from it, and whether its hold is over.
    let mut by_payment: BTreeMap<&str, (i64, bool)> = BTreeMap::new();
    let mut paid: i64 = 0;
    for entry in entries.iter().filter(|entry| is_partner_money(entry.kind) && entry.amount.currency == *currency) {
        match entry.kind {
            EntryKind::Payout => paid = paid.saturating_sub(entry.amount.amount),
            EntryKind::Commission | EntryKind::PartnerEarning => {
                let held_until = entry.at.plus_seconds(hold);
                let slot = by_payment.entry(&entry.payment_ref).or_insert((0, true));
                slot.0 = slot.0.saturating_add(entry.amount.amount);
                slot.1 = slot.1 && held_until <= now;
            }
            _ => {
                let slot = by_payment.entry(&entry.payment_ref).or_insert((0, true));
                slot.0 = slot.0.saturating_add(entry.amount.amount);
            }
        }
    }
    let (mut pending, mut matured): (i64, i64) = (0, 0);
    for (net, is_matured) in by_payment.into_values() {
        if is_matured {
            matured = matured.saturating_add(net);
        } else {
            pending = pending.saturating_add(net);
        }
    }
    let left = matured.saturating_sub(paid);
    Balance { pending, available: left.max(0), paid, owed_back: left.min(0).saturating_neg() }
}

/// What a run does for one partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Transfer this many minor units.
    Pay(i64),
    /// Nothing available.
    Nothing,
    /// Available, but under the minimum: it waits for a later run.
    BelowMinimum,
}

/// Pays the whole available balance once it reaches `minimum` (at least one minor unit).
pub fn decide(balance: &Balance, minimum: i64) -> Decision {
    if balance.available <= 0 {
        Decision::Nothing
    } else if balance.available < minimum.max(1) {
        Decision::BelowMinimum
    } else {
        Decision::Pay(balance.available)
    }
}

/// The `transfer_group` of every transfer of `period`: a rerun lists them to find one it
/// made but never recorded.
pub fn transfer_group(period: Period) -> String {
    format!("tollgate-payout-{period}")
}

/// The period (`YYYY-MM`) a transfer group names, as [`transfer_group`] wrote it.
pub fn period_of_group(group: &str) -> Option<&str> {
    group.strip_prefix("tollgate-payout-")
}

/// The idempotency key of `account`'s transfer for `period`.
pub fn idempotency_key(account: &AccountId, period: Period) -> String {
    format!("tollgate-payout-{account}-{period}")
}

/// The id of `account`'s payout for `period`: one per partner and period, so the ledger
/// itself refuses a second payout of a period, whatever Stripe remembers.
pub fn payout_entry_id(account: &AccountId, period: Period) -> String {
    format!("payout:{period}:{account}")
}

/// The ledger debit of a transfer of `amount` to `account` for `period`, filed under the
/// period's transfer group so that a run reads every payout of its period at once.
pub fn payout_entry(account: &AccountId, period: Period, amount: &Cents, transfer: &str, at: Timestamp) -> LedgerEntry {
    LedgerEntry {
        id: payout_entry_id(account, period),
        account: account.clone(),
        kind: EntryKind::Payout,
        amount: Cents::new(amount.amount.saturating_neg(), amount.currency.clone()),
        payment_ref: transfer_group(period),
        event_id: transfer.to_owned(),
        at,
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400;
    const START: Timestamp = Timestamp(1_790_000_000);

    fn usd() -> Currency {
        Currency::parse("usd").unwrap()
    }

    fn partner() -> AccountId {
        AccountId::parse("creator").unwrap()
    }

    fn entry(kind: EntryKind, payment: &str, amount: i64, at: Timestamp) -> LedgerEntry {
        LedgerEntry {
            id: format!("{}:{payment}", kind.as_str()),
            account: partner(),
            kind,
            amount: Cents::new(amount, usd()),
            payment_ref: payment.to_owned(),
            event_id: "evt_1".into(),
            at,
            source: None,
        }
    }

    fn later(days: i64) -> Timestamp {
        START.plus_seconds(days * DAY)
    }

    #[test]
    fn periods_read_and_write_as_year_and_month() {
        assert_eq!(Period::parse("2026-11").unwrap().to_string(), "2026-11");
        assert_eq!(Period::of(Timestamp(1_795_500_000)).to_string(), "2026-11");
        for bad in ["2026-13", "2026-00", "26-11", "2026-1", "2026/11", "1969-12", "", "2026-11-01", "２０２６-11"]
        {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_earning_waits_out_its_hold_then_is_available() {
        let entries = [entry(EntryKind::PartnerEarning, "pi_1", 2099, START)];
        assert_eq!(balance(&entries, &usd(), later(29), 30), Balance { pending: 2099, ..Balance::default() });
        assert_eq!(balance(&entries, &usd(), later(30), 30), Balance { available: 2099, ..Balance::default() });
        assert_eq!(balance(&entries, &usd(), START, 0).available, 2099, "no hold");
    }

    #[test]
    fn a_refund_after_the_payout_is_owed_back_and_netted_against_the_next_earning() {
        let mut entries = vec![
            entry(EntryKind::Commission, "pi_1", 600, START),
            payout_entry(&partner(), Period::of(later(31)), &Cents::new(600, usd()), "tr_1", later(31)),
            entry(EntryKind::CommissionReversal, "pi_1", -600, later(32)),
        ];
        let owing = balance(&entries, &usd(), later(33), 30);
        assert_eq!(owing, Balance { paid: 600, owed_back: 600, ..Balance::default() });
        assert_eq!(decide(&owing, 1), Decision::Nothing, "nothing owed back is ever transferred");
        entries.push(entry(EntryKind::PartnerEarning, "pi_2", 2000, later(33)));
        assert_eq!(balance(&entries, &usd(), later(40), 30).pending, 2000);
        let next = balance(&entries, &usd(), later(63), 30);
        assert_eq!(next, Balance { available: 1400, paid: 600, ..Balance::default() });
        assert_eq!(decide(&next, 1_000), Decision::Pay(1400));
        assert_eq!(decide(&next, 1_500), Decision::BelowMinimum);
    }

    #[test]
    fn a_refund_inside_the_hold_takes_back_from_pending_only() {
        let entries = [
            entry(EntryKind::PartnerEarning, "pi_1", 2000, START),
            entry(EntryKind::PartnerEarningReversal, "pi_1", -500, later(2)),
            entry(EntryKind::Commission, "pi_0", 300, later(-40)),
        ];
        assert_eq!(
            balance(&entries, &usd(), later(3), 30),
            Balance { pending: 1500, available: 300, ..Default::default() }
        );
    }

    #[test]
    fn other_money_and_other_currencies_are_not_the_partners() {
        let mut payment = entry(EntryKind::Payment, "pi_9", 5000, START);
        payment.account = partner();
        let mut euros = entry(EntryKind::Commission, "pi_8", 700, START);
        euros.amount = Cents::new(700, Currency::parse("eur").unwrap());
        let entries = [payment, euros.clone(), entry(EntryKind::WorkflowRevenue, "run_1", 90, START)];
        assert_eq!(balance(&entries, &usd(), later(90), 30), Balance::default());
        assert_eq!(payout_currency(&entries), Some(euros.amount.currency));
    }

    #[test]
    fn a_payout_is_named_by_partner_and_period() {
        let period = Period::parse("2026-12").unwrap();
        let payout = payout_entry(&partner(), period, &Cents::new(1400, usd()), "tr_9", START);
        assert_eq!(
            (payout.id.as_str(), payout.payment_ref.as_str(), payout.amount.amount, payout.kind),
            ("payout:2026-12:creator", "tollgate-payout-2026-12", -1400, EntryKind::Payout)
        );
        assert_eq!(idempotency_key(&partner(), period), "tollgate-payout-creator-2026-12");
        assert_eq!(period_of_group(&payout.payment_ref), Some("2026-12"));
    }

    proptest! {
        /// Months of earnings, refunds at any time and a payout run at every month's end:
        /// nobody is ever paid more than their matured net earnings, and the books add up.
        #[test]
        fn payouts_never_exceed_what_was_earned_and_kept(
            payments in proptest::collection::vec((1i64..100_000, 0i64..360, proptest::option::of((0i64..=100, 0i64..120))), 1..12),
            hold in 0u32..45,
            minimum in 0i64..5_000,
        ) {
            let mut entries: Vec<LedgerEntry> = Vec::new();
            let mut events: Vec<(i64, LedgerEntry)> = Vec::new();
            for (n, (amount, day, refund)) in payments.iter().enumerate() {
                let payment = format!("pi_{n}");
                events.push((*day, entry(EntryKind::PartnerEarning, &payment, *amount, later(*day))));
                if let Some((percent, after)) = refund {
                    events.push((day + after, entry(EntryKind::PartnerEarningReversal, &payment, -(amount * percent / 100), later(day + after))));
                }
            }
            events.sort_by_key(|(day, _)| *day);
            let mut pending_events = events.into_iter().peekable();
            for month in 1..=16i64 {
                let now = later(month * 30);
                while let Some((_, next)) = pending_events.next_if(|(day, _)| *day <= month * 30) {
                    entries.push(next);
                }
                let before = balance(&entries, &usd(), now, hold);
                prop_assert!(before.available >= 0 && before.owed_back >= 0 && before.pending >= 0);
                prop_assert!(before.available == 0 || before.owed_back == 0);
                if let Decision::Pay(amount) = decide(&before, minimum) {
                    prop_assert!(amount >= minimum.max(1));
                    let period = Period::of(now);
                    entries.push(payout_entry(&partner(), period, &Cents::new(amount, usd()), "tr", now));
                    let after = balance(&entries, &usd(), now, hold);
                    prop_assert_eq!(after.available, 0);
                    prop_assert_eq!(after.paid, before.paid + amount);
                }
                let matured: i64 = payments
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, day, _))| later(*day).plus_seconds(i64::from(hold) * DAY) <= now)
                    .map(|(n, _)| {
                        entries.iter().filter(|e| e.payment_ref == format!("pi_{n}")).map(|e| e.amount.amount).sum::<i64>()
                    })
                    .sum();
                let now_balance = balance(&entries, &usd(), now, hold);
                prop_assert_eq!(now_balance.available - now_balance.owed_back + now_balance.paid, matured);
                prop_assert!(now_balance.paid <= matured + now_balance.owed_back);
            }
        }
    }
}
