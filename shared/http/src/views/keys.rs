//! API keys and their owner's standing, and what the edge reads and sends.

use super::seconds;
use serde::Serialize;
use std::collections::BTreeMap;
use tollgate_app::keys::{NewKey, Standing};
use tollgate_app::ports::api_keys::StoredKey;
use tollgate_core::metering::{KeyRecord, Limits, Period};
use tollgate_core::quota::AccountTerms;
use tollgate_core::usage::MeterStanding;
use utoipa::ToSchema;

/// A key just made: the only time the key itself is shown.
#[derive(Serialize, ToSchema)]
pub struct NewKeyView {
    /// `key_…`
    pub id: String,
    /// `tg_live_…` or `tg_test_…`.
    pub key: String,
    /// Enough of the key to tell it apart, useless to call with.
    pub prefix: String,
}

/// A key in its owner's list: never the key.
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub prefix: String,
    pub created_at: i64,
    /// When the meter last counted calls of it (per batch, not per call).
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    /// Oldest first.
    pub keys: Vec<KeyView>,
    /// The first key an API plan's subscription made waits to be shown once
    /// (`POST /api/keys/first`).
    pub first_key_waiting: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RevokedKey {
    pub id: String,
    /// The first revocation's time: revoking again keeps it.
    pub revoked_at: Option<i64>,
    /// The edge confirmed it refuses the key now; otherwise it does within its cache's life.
    pub edge_notified: bool,
}

/// What a plan allows each key.
#[derive(Serialize, ToSchema)]
pub struct LimitsView {
    /// Calls per billing period; `null` is unlimited.
    pub monthly_requests: Option<u64>,
    /// Calls per key in any 60 s.
    pub requests_per_minute: u32,
    /// Calls past the quota are allowed and billed.
    pub overage: bool,
}

/// A billing period, `[start, end)`, in Unix seconds.
#[derive(Serialize, ToSchema)]
pub struct PeriodView {
    pub start: i64,
    pub end: i64,
}

/// The owner's plan and where the account stands in its billing period.
#[derive(Serialize, ToSchema)]
pub struct StandingView {
    pub account_id: String,
    pub plan: String,
    pub billing_period: PeriodView,
    pub limits: LimitsView,
    /// Calls counted this period, all keys (as flushed by the edge).
    pub used: u64,
    /// Calls left in the quota; `null` when unlimited.
    pub remaining: Option<u64>,
    /// Prepaid credits left.
    pub credits: u64,
    /// Every meter of the plan: what is used, left, and when it resets.
    pub meters: Vec<MeterView>,
    pub balance: AccountBalanceView,
}

/// Where the account stands on one meter.
#[derive(Serialize, ToSchema)]
pub struct MeterView {
    pub meter: String,
    /// One unit, singular (`message`).
    pub unit: String,
    /// Units counted in the current window.
    pub used: u64,
    /// `null`: unlimited.
    pub quota: Option<u64>,
    /// `day`, `month` or `period` (the billing period).
    pub per: &'static str,
    /// When the count restarts (Unix seconds).
    pub resets_at: i64,
    /// `null`: unlimited.
    pub remaining: Option<u64>,
    /// Past the quota: `block` (402), `bill` (invoiced) or `balance` (paid from the balance).
    pub overage: &'static str,
}

/// The account's money balance.
#[derive(Serialize, ToSchema)]
pub struct AccountBalanceView {
    /// Whole minor units (cents), rounded down.
    pub amount: i64,
    /// The exact amount in micro-units (1/1,000,000 of the currency unit).
    pub amount_micros: i64,
    pub currency: String,
}

/// `GET /api/me/limits`: every meter, and whether a call of one unit would pass now
/// (the music brief's `canGenerate`, for each meter).
#[derive(Serialize, ToSchema)]
pub struct MeLimitsView {
    pub meters: BTreeMap<String, MeterView>,
    pub can_use: BTreeMap<String, bool>,
}

impl From<&MeterStanding> for MeterView {
    fn from(standing: &MeterStanding) -> Self {
        MeterView {
            meter: standing.meter.to_string(),
            unit: standing.unit.clone(),
            used: standing.used,
            quota: standing.quota,
            per: standing.per.as_str(),
            resets_at: standing.resets_at.0,
            remaining: standing.remaining,
            overage: standing.overage,
        }
    }
}

impl From<&Standing> for MeLimitsView {
    fn from(standing: &Standing) -> Self {
        MeLimitsView {
            meters: standing.meters.iter().map(|meter| (meter.meter.to_string(), MeterView::from(meter))).collect(),
            can_use: standing.meters.iter().map(|meter| (meter.meter.to_string(), meter.can_use)).collect(),
        }
    }
}

/// A key's record as the edge reads it; the Worker parses it as `tollgate_core::metering::KeyRecord`.
#[derive(Serialize, ToSchema)]
pub struct KeyRecordView {
    pub key_id: String,
    pub account_id: String,
    /// A revoked key is refused like an unknown one.
    pub revoked: bool,
    pub limits: LimitsView,
    pub period: PeriodView,
    /// Calls of this period already counted for the account's other keys.
    pub used_elsewhere: u64,
    /// Calls of this period counted for this key.
    pub key_used: u64,
    /// Credits counted as spent by this key.
    pub key_credits_spent: u64,
    /// Credits this key may spend; `null`: the account never bought credits.
    pub credits: Option<u64>,
    /// The account's plan over every meter, which the edge pools across its keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountTermsView>,
}

/// An account's plan as the edge applies it (`tollgate_core::quota::AccountTerms`).
#[derive(Serialize, ToSchema)]
pub struct AccountTermsView {
    /// `BUSINESS_TIMEZONE`: where days and months start.
    pub zone: String,
    pub period: PeriodView,
    /// Longest prefix first.
    pub routes: Vec<RouteView>,
    /// Every meter the plan limits, with the account's count in its window.
    pub meters: Vec<CountedMeterView>,
    pub funds: FundsView,
    pub currency: String,
}

/// What calls under a prefix cost.
#[derive(Serialize, ToSchema)]
pub struct RouteView {
    pub prefix: String,
    pub meter: String,
    pub cost: u64,
}

/// One limited meter and the account's count in its window.
#[derive(Serialize, ToSchema)]
pub struct CountedMeterView {
    pub meter: String,
    pub limit: MeterLimitView,
    pub window_start: i64,
    pub counted: u64,
}

/// A plan's limit on a meter.
#[derive(Serialize, ToSchema)]
pub struct MeterLimitView {
    pub quota: Option<u64>,
    /// `day`, `month` or `period`.
    pub per: String,
    /// `"block"`, or `{"bill": price}` / `{"balance": price}`.
    #[schema(value_type = Object)]
    pub overage: serde_json::Value,
}

/// What overage is paid from, as the origin counts it (micro-units and credits).
#[derive(Serialize, ToSchema)]
pub struct FundsView {
    pub balance_granted: i64,
    pub balance_spent: i64,
    pub credits_granted: u64,
    pub credits_spent: u64,
}

impl From<&AccountTerms> for AccountTermsView {
    fn from(terms: &AccountTerms) -> Self {
        AccountTermsView {
            zone: terms.zone.name().to_owned(),
            period: PeriodView::from(&terms.period),
            routes: terms
                .routes
                .iter()
                .map(|route| RouteView {
                    prefix: route.prefix.clone(),
                    meter: route.meter.to_string(),
                    cost: route.cost.get(),
                })
                .collect(),
            meters: terms
                .meters
                .iter()
                .map(|counted| CountedMeterView {
                    meter: counted.meter.to_string(),
                    limit: MeterLimitView {
                        quota: counted.limit.quota,
                        per: counted.limit.per.as_str().to_owned(),
                        overage: serde_json::to_value(&counted.limit.overage).expect("an overage always serialises"),
                    },
                    window_start: counted.window_start.0,
                    counted: counted.counted,
                })
                .collect(),
            funds: FundsView {
                balance_granted: terms.funds.balance_granted.0,
                balance_spent: terms.funds.balance_spent.0,
                credits_granted: terms.funds.credits_granted,
                credits_spent: terms.funds.credits_spent,
            },
            currency: terms.currency.as_str().to_owned(),
        }
    }
}

/// The usage batches taken: each id is queued once, however often it is sent.
#[derive(Serialize, ToSchema)]
pub struct UsageAccepted {
    pub accepted: Vec<String>,
}

impl From<NewKey> for NewKeyView {
    fn from(new: NewKey) -> Self {
        NewKeyView { id: new.id.to_string(), key: new.key, prefix: new.prefix }
    }
}

/// Never the hash: a listing shows only what tells the owner's keys apart.
impl From<&StoredKey> for KeyView {
    fn from(key: &StoredKey) -> Self {
        KeyView {
            id: key.id.to_string(),
            prefix: key.prefix.clone(),
            created_at: seconds(key.created_at),
            last_used_at: key.last_used_at.map(seconds),
            revoked_at: key.revoked_at.map(seconds),
        }
    }
}

impl RevokedKey {
    pub fn new(key: &StoredKey, edge_notified: bool) -> Self {
        RevokedKey { id: key.id.to_string(), revoked_at: key.revoked_at.map(seconds), edge_notified }
    }
}

impl From<&Limits> for LimitsView {
    fn from(limits: &Limits) -> Self {
        LimitsView {
            monthly_requests: limits.monthly_requests,
            requests_per_minute: limits.requests_per_minute,
            overage: limits.overage,
        }
    }
}

impl From<&Period> for PeriodView {
    fn from(period: &Period) -> Self {
        PeriodView { start: seconds(period.start), end: seconds(period.end) }
    }
}

impl From<&Standing> for StandingView {
    fn from(standing: &Standing) -> Self {
        StandingView {
            account_id: standing.account_id.to_string(),
            plan: standing.plan.clone(),
            billing_period: PeriodView::from(&standing.billing_period),
            limits: LimitsView::from(&standing.limits),
            used: standing.used,
            remaining: standing.remaining,
            credits: standing.credits,
            meters: standing.meters.iter().map(MeterView::from).collect(),
            balance: AccountBalanceView {
                amount: standing.balance.minor_floor(&standing.currency),
                amount_micros: standing.balance.0,
                currency: standing.currency.as_str().to_owned(),
            },
        }
    }
}

impl From<&KeyRecord> for KeyRecordView {
    fn from(record: &KeyRecord) -> Self {
        KeyRecordView {
            key_id: record.key_id.to_string(),
            account_id: record.account_id.to_string(),
            revoked: record.revoked,
            limits: LimitsView::from(&record.limits),
            period: PeriodView::from(&record.period),
            used_elsewhere: record.used_elsewhere,
            key_used: record.key_used,
            key_credits_spent: record.key_credits_spent,
            credits: record.credits,
            account: record.account.as_ref().map(AccountTermsView::from),
        }
    }
}
