//! What an account's plan allows, and what a batch of counted calls owes: overage to
//! bill, quota alerts to raise. The usage meter applies these to stored totals.

use crate::account::{Subscription, SubscriptionKind};
use crate::alert::{Alert, AlertKind};
use crate::catalog::{Catalog, Grant, PlanLimits};
use crate::ids::{AccountId, Sku};
use crate::metering::{Limits, Period};
use crate::meters::{MeterLimit, MeterName, Overage, Per};
use crate::money::Micros;
use crate::time::{BusinessZone, Timestamp};

/// Quota alerts fire when use crosses these percentages, once each per period.
pub const ALERT_PERCENTS: [u64; 3] = [70, 85, 95];

/// An account's API plan as the edge applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanTerms {
    /// The tier (`free`, `pro`, `enterprise`).
    pub tier: String,
    /// The plan's SKU.
    pub sku: Sku,
    /// Every meter's limit, the rate limit and the key limit, a membership's limits
    /// applied over its plan's.
    pub plan: PlanLimits,
    /// The billing period quotas count in.
    pub period: Period,
}

impl PlanTerms {
    /// The limits on `requests` alone, as a key record carries them.
    pub fn limits(&self) -> Limits {
        let requests = self.plan.on(&MeterName::requests());
        Limits {
            monthly_requests: requests.quota,
            requests_per_minute: self.plan.requests_per_minute,
            overage: matches!(requests.overage, Overage::Bill(_)),
        }
    }
}

/// The plan in force at `now`: the newest granting API-plan subscription, else a
/// membership that includes an API plan (Elite), else the catalog's free plan counted
/// per calendar month in the business's time zone. A paid plan counts per its Stripe billing period, so a new
/// period starts from zero with no reset job. A granting membership's own limits
/// replace the plan's on the meters they name.
pub fn plan_terms(catalog: &Catalog, subscriptions: &[Subscription], now: Timestamp, zone: BusinessZone) -> PlanTerms {
    let granting = |kind| {
        subscriptions
            .iter()
            .filter(move |s| s.kind == kind && s.status.grants_access())
            .max_by_key(|s| (s.event_created, s.current_period_start))
    };
    let api_plan_of = |subscription: &Subscription| match &catalog.by_sku(&subscription.sku)?.grant {
        Grant::ApiPlan { .. } => Some(subscription.sku.clone()),
        Grant::Membership { api_plan, .. } => api_plan.clone(),
        _ => None,
    };
    let paid = granting(SubscriptionKind::ApiPlan)
        .into_iter()
        .chain(granting(SubscriptionKind::Membership))
        .find_map(|s| Some((api_plan_of(s)?, s)));
    let (item, subscription) = match &paid {
        Some((sku, subscription)) => (catalog.by_sku(sku), Some(*subscription)),
        None => (None, None),
    };
    let item = item.or_else(|| catalog.free_plan()).expect("a parsed catalog has a free plan");
    let Grant::ApiPlan { tier, limits } = &item.grant else {
        unreachable!("api_plan_of and free_plan only name API plans")
    };
    let mut plan = limits.clone();
    if let Some(Grant::Membership { limits: member_limits, .. }) =
        granting(SubscriptionKind::Membership).and_then(|s| catalog.by_sku(&s.sku)).map(|item| &item.grant)
    {
        plan.meters.extend(member_limits.iter().map(|(meter, limit)| (meter.clone(), limit.clone())));
    }
    let period = subscription
        .and_then(|s| Some(Period { start: s.current_period_start?, end: s.current_period_end? }))
        .filter(|period| period.start <= now && now < period.end)
        .unwrap_or_else(|| calendar_month(now, zone));
    PlanTerms { tier: tier.clone(), sku: item.sku.clone(), plan, period }
}

/// Where an account stands on one meter of its plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterStanding {
    /// The meter.
    pub meter: MeterName,
    /// One unit of it (`message`).
    pub unit: String,
    /// Units counted in the current window.
    pub used: u64,
    /// The plan's quota; `None` is unlimited.
    pub quota: Option<u64>,
    /// Where the count restarts.
    pub per: Per,
    /// When it does.
    pub resets_at: Timestamp,
    /// What is left of the quota; `None` when unlimited.
    pub remaining: Option<u64>,
    /// Past the quota: `block`, `bill` or `balance`.
    pub overage: &'static str,
    /// Whether a call of one unit would be allowed now: within the quota, billed, or paid
    /// by the balance (the music brief's `canGenerate`).
    pub can_use: bool,
}

/// Every meter of the catalog as the plan in `terms` limits it, `used(meter)` units
/// counted in its window, with `balance` to pay overage from.
pub fn meter_standings(
    catalog: &Catalog,
    terms: &PlanTerms,
    used: impl Fn(&MeterName) -> u64,
    balance: Micros,
    now: Timestamp,
    zone: BusinessZone,
) -> Vec<MeterStanding> {
    catalog
        .meters()
        .iter()
        .map(|meter| {
            let limit = terms.plan.on(&meter.name);
            let used = used(&meter.name);
            let remaining = limit.quota.map(|quota| quota.saturating_sub(used));
            let resets_at = match limit.per {
                Per::Day => zone.day_span(now).1,
                Per::Month => zone.month_span(now).1,
                Per::Period => terms.period.end,
            };
            let can_use = remaining.is_none_or(|left| left > 0)
                || match &limit.overage {
                    Overage::Block => false,
                    Overage::Bill(_) => true,
                    Overage::Balance(price) => balance >= price.micros,
                };
            MeterStanding {
                meter: meter.name.clone(),
                unit: meter.unit.clone(),
                used,
                quota: limit.quota,
                per: limit.per,
                resets_at,
                remaining,
                overage: limit.overage.as_str(),
                can_use,
            }
        })
        .collect()
}

/// The money balance an account's top-ups have put in: each balance SKU's amount times
/// the quantity bought, exactly, in micro-units.
pub fn balance_granted<'a>(
    catalog: &Catalog,
    purchases: impl IntoIterator<Item = (&'a crate::ids::Sku, u64)>,
) -> Micros {
    purchases
        .into_iter()
        .filter_map(|(sku, quantity)| {
            let item = catalog.by_sku(sku)?;
            match item.grant {
                Grant::Balance { amount_cents } => {
                    Micros::from_minor(amount_cents, &item.currency).checked_times(quantity)
                }
                _ => None,
            }
        })
        .fold(Micros(0), |total, top_up| total.checked_add(top_up).unwrap_or(Micros(i64::MAX)))
}

/// What the refunds of a top-up's payment take back of the `top_up` it bought: the same
/// share of it as `refunded` is of `paid` (both in minor units), rounded down, never more
/// than the top-up. A payment of nothing refunded takes back the whole top-up.
pub fn take_back_target(top_up: Micros, paid: i64, refunded: i64) -> Micros {
    if paid <= 0 {
        return top_up;
    }
    // In i128 the product of two i64 cannot overflow; `paid` is positive here.
    let share = i128::from(top_up.0)
        .checked_mul(i128::from(refunded.clamp(0, paid)))
        .and_then(|product| product.checked_div(i128::from(paid)));
    share.and_then(|share| i64::try_from(share).ok()).map_or(top_up, Micros)
}

/// What a refund step takes back now: the part of `target` beyond what earlier steps
/// `reached`, at most what is `left` of the balance.
pub fn take_back_now(target: Micros, reached: Micros, left: Micros) -> Micros {
    Micros(target.0.saturating_sub(reached.0).min(left.0).max(0))
}

/// The calendar month holding `now` in the business's time zone.
pub fn calendar_month(now: Timestamp, zone: BusinessZone) -> Period {
    let (start, end) = zone.month_span(now);
    Period { start, end }
}

/// The account's period total before and after a batch was added, as stored with the
/// batch: recomputing from it gives the same answers on every redelivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchTotals {
    /// Before the batch.
    pub before: u64,
    /// After it.
    pub after: u64,
}

/// Calls of the batch past the quota, to bill as overage (0 unless the plan bills it).
pub fn overage(limits: &Limits, totals: BatchTotals) -> u64 {
    match limits.monthly_requests {
        Some(quota) if limits.overage => {
            totals.after.saturating_sub(quota).saturating_sub(totals.before.saturating_sub(quota))
        }
        _ => 0,
    }
}

/// The Stripe meter event `identifier` for a batch's overage: the same on every retry,
/// so Stripe drops a repeat within its 24 h window (our own `reported` mark guards beyond it).
pub fn meter_event_identifier(batch_id: &str) -> String {
    format!("tollgate-usage-{batch_id}")
}

/// Units of the batch past the quota on a meter whose plan bills them (0 otherwise).
pub fn billed_units(limit: &MeterLimit, totals: BatchTotals) -> u64 {
    match (limit.quota, &limit.overage) {
        (Some(quota), Overage::Bill(_)) => {
            totals.after.saturating_sub(quota).saturating_sub(totals.before.saturating_sub(quota))
        }
        _ => 0,
    }
}

/// The percents of [`ALERT_PERCENTS`] of `quota` that a batch moving the total from
/// `totals.before` to `totals.after` crossed, each once.
pub fn crossed(quota: u64, totals: BatchTotals) -> Vec<u64> {
    ALERT_PERCENTS
        .into_iter()
        .filter(|&percent| {
            // In u128 the products cannot overflow, whatever the stored totals say.
            let (threshold, before, after) = (
                u128::from(percent).saturating_mul(u128::from(quota)),
                u128::from(totals.before).saturating_mul(100),
                u128::from(totals.after).saturating_mul(100),
            );
            before < threshold && threshold <= after
        })
        .collect()
}

/// Alerts for every threshold the batch crossed on `meter`'s `quota`. Each is named by
/// account, meter, window and percentage, so it is stored and told once per window
/// whatever is redelivered (`requests`' names keep their older form, without the meter).
pub fn quota_alerts(
    account: &AccountId,
    meter: &MeterName,
    quota: Option<u64>,
    window_start: Timestamp,
    totals: BatchTotals,
    now: Timestamp,
) -> Vec<Alert> {
    let Some(quota) = quota.filter(|&quota| quota > 0) else { return Vec::new() };
    let requests = meter.as_str() == crate::meters::REQUESTS;
    crossed(quota, totals)
        .into_iter()
        .map(|percent| Alert {
            id: if requests {
                format!("quota:{account}:{}:{percent}", window_start.0)
            } else {
                format!("quota:{account}:{meter}:{}:{percent}", window_start.0)
            },
            kind: AlertKind::Quota,
            account_id: Some(account.clone()),
            subject: if requests { format!("{percent}%") } else { format!("{meter} {percent}%") },
            workflow_id: None,
            message: format!(
                "account {account} has used {percent}% of its {quota} {meter} for the {} starting {}",
                if requests { "period" } else { "window" },
                window_start.utc_day()
            ),
            created_at: now,
            status: crate::alert::AlertStatus::default(),
        })
        .collect()
}

/// `balance_low` when what is left of the balance is under `threshold`: named by the
/// account and the total ever granted, so it is told once until a top-up raises that total.
pub fn balance_low_alert(
    account: &AccountId,
    granted: Micros,
    left: Micros,
    threshold: Micros,
    currency: &crate::money::Currency,
    now: Timestamp,
) -> Option<Alert> {
    (granted.0 > 0 && left < threshold).then(|| Alert {
        id: format!("balance_low:{account}:{}", granted.0),
        kind: AlertKind::BalanceLow,
        account_id: Some(account.clone()),
        subject: format!("{} {}", left.minor_floor(currency), currency.as_str()),
        workflow_id: None,
        message: format!(
            "account {account} has {} {} (minor units) left of its balance, under {}",
            left.minor_floor(currency),
            currency.as_str(),
            threshold.minor_floor(currency)
        ),
        created_at: now,
        status: crate::alert::AlertStatus::default(),
    })
}

/// Credits an account has bought: each credits SKU times the quantity bought.
pub fn credits_granted<'a>(catalog: &Catalog, purchases: impl IntoIterator<Item = (&'a crate::ids::Sku, u64)>) -> u64 {
    purchases
        .into_iter()
        .filter_map(|(sku, quantity)| match catalog.by_sku(sku)?.grant {
            Grant::Credits { credits } => Some(credits.saturating_mul(quantity)),
            _ => None,
        })
        .fold(0, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::SubscriptionStatus;
    use crate::ids::{Sku, SubscriptionId};
    use proptest::prelude::*;

    const NOW: Timestamp = Timestamp(1_795_500_000); // 2026-11-24

    fn subscription(sku: &str, kind: SubscriptionKind, status: &str, period: (i64, i64)) -> Subscription {
        Subscription {
            id: SubscriptionId::parse("sub_1").unwrap(),
            sku: Sku::parse(sku).unwrap(),
            kind,
            tier: sku.into(),
            status: SubscriptionStatus(status.into()),
            current_period_start: Some(Timestamp(period.0)),
            current_period_end: Some(Timestamp(period.1)),
            event_created: Timestamp(period.0),
        }
    }

    #[test]
    fn free_accounts_count_per_calendar_month() {
        let terms = plan_terms(&Catalog::default_catalog(), &[], NOW, BusinessZone::UTC);
        assert_eq!(terms.tier, "free");
        assert_eq!(terms.limits(), Limits { monthly_requests: Some(100), requests_per_minute: 100, overage: false });
        assert_eq!(
            (terms.period.start.utc_day(), terms.period.end.utc_day()),
            ("2026-11-01".into(), "2026-12-01".into())
        );
        // In La Paz (UTC-4) the month starts four hours later.
        let la_paz = BusinessZone::parse("America/La_Paz").unwrap();
        let terms = plan_terms(&Catalog::default_catalog(), &[], NOW, la_paz);
        assert_eq!(
            (terms.period.start.rfc3339(), terms.period.end.rfc3339()),
            ("2026-11-01T04:00:00Z".into(), "2026-12-01T04:00:00Z".into())
        );
    }

    #[test]
    fn each_meter_says_what_is_left_when_it_resets_and_whether_a_call_may_pass() {
        let catalog = Catalog::parse(include_str!("../../../examples/catalogs/agency.toml")).unwrap();
        let terms = plan_terms(&catalog, &[], NOW, BusinessZone::UTC);
        let used = |meter: &MeterName| if meter.as_str() == "messages" { 50 } else { 1 };
        let standings = |balance| meter_standings(&catalog, &terms, used, Micros(balance), NOW, BusinessZone::UTC);
        let broke = standings(0);
        let view: Vec<_> = broke.iter().map(|s| (s.meter.as_str(), s.remaining, s.overage, s.can_use)).collect();
        assert_eq!(
            view,
            [
                ("requests", None, "block", true),
                ("messages", Some(0), "balance", false),
                ("ai_runs", Some(0), "block", false)
            ]
        );
        assert_eq!(broke[1].resets_at, terms.period.end);
        // Five cents pays one more message.
        assert!(standings(50_000)[1].can_use);
        assert!(!standings(49_999)[1].can_use);
        let music = Catalog::parse(include_str!("../../../examples/catalogs/music.toml")).unwrap();
        let terms = plan_terms(&music, &[], NOW, BusinessZone::UTC);
        let daily = meter_standings(&music, &terms, |_| 2, Micros(0), NOW, BusinessZone::UTC);
        assert_eq!(
            (daily[1].remaining, daily[1].per, daily[1].resets_at),
            (Some(1), Per::Day, NOW.start_of_utc_day().plus_seconds(86_400))
        );
    }

    #[test]
    fn top_ups_add_up_in_micro_units_and_other_purchases_add_nothing() {
        let catalog = Catalog::parse(include_str!("../../../examples/catalogs/agency.toml")).unwrap();
        let (top_up, plan) =
            (crate::ids::Sku::parse("balance_10").unwrap(), crate::ids::Sku::parse("starter").unwrap());
        assert_eq!(balance_granted(&catalog, [(&top_up, 2), (&plan, 1)]), Micros(20_000_000));
        assert_eq!(balance_granted(&catalog, []), Micros(0));
    }

    #[test]
    fn a_paid_plan_counts_per_its_billing_period_and_elite_includes_pro() {
        let catalog = Catalog::default_catalog();
        let period = (NOW.0 - 86_400, NOW.0 + 86_400 * 29);
        let pro = plan_terms(
            &catalog,
            &[subscription("api_pro", SubscriptionKind::ApiPlan, "active", period)],
            NOW,
            BusinessZone::UTC,
        );
        assert_eq!(
            (pro.tier.as_str(), pro.limits().monthly_requests, pro.limits().overage),
            ("pro", Some(10_000), true)
        );
        assert_eq!(pro.period, Period { start: Timestamp(period.0), end: Timestamp(period.1) });
        let elite = plan_terms(
            &catalog,
            &[subscription("member_elite", SubscriptionKind::Membership, "active", period)],
            NOW,
            BusinessZone::UTC,
        );
        assert_eq!(elite.tier, "pro");
        let canceled = plan_terms(
            &catalog,
            &[subscription("api_enterprise", SubscriptionKind::ApiPlan, "canceled", period)],
            NOW,
            BusinessZone::UTC,
        );
        assert_eq!(canceled.tier, "free");
    }

    #[test]
    fn overage_is_what_a_batch_adds_past_the_quota() {
        let pro = Limits { monthly_requests: Some(100), requests_per_minute: 100, overage: true };
        assert_eq!(overage(&pro, BatchTotals { before: 90, after: 99 }), 0);
        assert_eq!(overage(&pro, BatchTotals { before: 95, after: 110 }), 10);
        assert_eq!(overage(&pro, BatchTotals { before: 110, after: 130 }), 20);
        assert_eq!(overage(&Limits { overage: false, ..pro }, BatchTotals { before: 95, after: 110 }), 0);
    }

    #[test]
    fn each_threshold_alerts_once_when_crossed() {
        let account = AccountId::parse("acct_1").unwrap();
        let limits = Limits { monthly_requests: Some(1_000), requests_per_minute: 100, overage: false };
        let ids = |before, after| -> Vec<String> {
            quota_alerts(
                &account,
                &MeterName::requests(),
                limits.monthly_requests,
                Timestamp(7),
                BatchTotals { before, after },
                NOW,
            )
            .into_iter()
            .map(|alert| alert.id)
            .collect()
        };
        assert_eq!(ids(0, 699), Vec::<String>::new());
        assert_eq!(ids(699, 700), ["quota:acct_1:7:70"]);
        assert_eq!(ids(700, 960), ["quota:acct_1:7:85", "quota:acct_1:7:95"]);
        assert_eq!(ids(960, 5_000), Vec::<String>::new());
        let messages = MeterName::parse("messages").unwrap();
        let alerts =
            quota_alerts(&account, &messages, Some(50), Timestamp(9), BatchTotals { before: 30, after: 45 }, NOW);
        let named: Vec<_> = alerts.iter().map(|alert| (alert.id.as_str(), alert.subject.as_str())).collect();
        assert_eq!(
            named,
            [("quota:acct_1:messages:9:70", "messages 70%"), ("quota:acct_1:messages:9:85", "messages 85%")]
        );
    }

    #[test]
    fn a_refund_takes_back_its_share_of_the_top_up() {
        let ten_dollars = Micros(10_000_000);
        assert_eq!(take_back_target(ten_dollars, 1_000, 1_000), ten_dollars);
        assert_eq!(take_back_target(ten_dollars, 1_000, 400), Micros(4_000_000));
        assert_eq!(take_back_target(ten_dollars, 1_200, 1_000), Micros(8_333_333), "rounded down");
        assert_eq!(take_back_target(ten_dollars, 1_000, 5_000), ten_dollars, "never more than the top-up");
        assert_eq!(take_back_target(ten_dollars, 0, 0), ten_dollars);
    }

    #[test]
    fn a_low_balance_is_told_once_per_top_up() {
        let account = AccountId::parse("acct_1").unwrap();
        let usd = crate::money::Currency::parse("usd").unwrap();
        let threshold = Micros(1_000_000);
        let low = |granted, left| balance_low_alert(&account, Micros(granted), Micros(left), threshold, &usd, NOW);
        assert_eq!(low(5_000_000, 1_000_000), None);
        let alert = low(5_000_000, 990_000).unwrap();
        assert_eq!(
            (alert.id.as_str(), alert.kind, alert.subject.as_str()),
            ("balance_low:acct_1:5000000", AlertKind::BalanceLow, "99 usd")
        );
        assert_eq!(low(5_000_000, 0).unwrap().id, alert.id, "the same incident until topped up");
        assert_eq!(low(10_000_000, 500_000).unwrap().id, "balance_low:acct_1:10000000");
        assert_eq!(low(0, 0), None, "an account that never topped up has no balance to run low");
        let bill = MeterLimit {
            quota: Some(10),
            per: Per::Day,
            overage: Overage::Bill(crate::meters::UnitPrice { decimal: "1".into(), micros: Micros(10_000) }),
        };
        assert_eq!(billed_units(&bill, BatchTotals { before: 8, after: 13 }), 3);
        assert_eq!(
            billed_units(&MeterLimit { overage: Overage::Block, ..bill }, BatchTotals { before: 8, after: 13 }),
            0
        );
    }

    proptest! {
        /// However the period's calls are split into batches, the overage billed adds
        /// up to the calls past the quota, and each threshold is crossed exactly once.
        #[test]
        fn batches_bill_and_alert_exactly(quota in 1u64..5_000, sizes in proptest::collection::vec(0u64..400, 1..60)) {
            let limits = Limits { monthly_requests: Some(quota), requests_per_minute: 100, overage: true };
            let account = AccountId::parse("acct_1").unwrap();
            let (mut total, mut billed, mut alerts) = (0u64, 0u64, Vec::new());
            for size in sizes {
                let totals = BatchTotals { before: total, after: total + size };
                billed += overage(&limits, totals);
                alerts.extend(quota_alerts(&account, &MeterName::requests(), limits.monthly_requests, Timestamp(0), totals, NOW).into_iter().map(|a| a.id));
                total += size;
            }
            prop_assert_eq!(billed, total.saturating_sub(quota));
            let reached = ALERT_PERCENTS.iter().filter(|&&p| p * quota <= total * 100).count();
            prop_assert_eq!(alerts.len(), reached);
        }
    }
}
