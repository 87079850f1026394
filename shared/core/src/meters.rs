//! Meters: what a plan counts (`requests`, `messages`, `generations`), which routes charge
//! them, and the limit a plan sets on each: a quota per day, month or billing period, and
//! what happens past it (refused, invoiced, or paid from the account's money balance).

use crate::money::{Currency, Micros};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::num::NonZeroU64;
use thiserror::Error;

/// The meter every catalog has, declared or not: what a `/v1/` call no route names costs.
pub const REQUESTS: &str = "requests";
/// The longest meter name.
pub const MAX_METER_NAME: usize = 40;

/// A meter's name: snake_case (`ai_runs`), so it can be a JSON key, a `data-testid`
/// suffix and part of a Stripe lookup key as it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MeterName(String);

/// A meter name that is not snake_case.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("meter name {0:?} must be snake_case: a lower-case letter, then lower-case letters, digits or _ (at most 40)")]
pub struct InvalidMeterName(pub String);

impl MeterName {
    /// Checks and wraps a name.
    pub fn parse(name: &str) -> Result<Self, InvalidMeterName> {
        let mut bytes = name.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
        if first_ok
            && name.len() <= MAX_METER_NAME
            && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidMeterName(name.to_owned()))
        }
    }

    /// The `requests` meter.
    pub fn requests() -> Self {
        Self(REQUESTS.to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for MeterName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for MeterName {
    type Error = InvalidMeterName;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MeterName> for String {
    fn from(value: MeterName) -> Self {
        value.0
    }
}

/// One meter of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meter {
    /// Its name.
    pub name: MeterName,
    /// Shown to people (`Messages`).
    pub display: String,
    /// One unit, singular (`message`).
    pub unit: String,
    /// The Stripe Billing meter's `event_name` (default `tollgate_<name>`).
    pub stripe_event_name: String,
}

impl Meter {
    /// The meter that exists when a catalog declares none by that name.
    pub fn requests() -> Self {
        Self::declared(MeterName::requests(), "Requests".into(), "request".into(), None)
    }

    /// A declared meter; the event name defaults to `tollgate_<name>`.
    pub fn declared(name: MeterName, display: String, unit: String, stripe_event_name: Option<String>) -> Self {
        let stripe_event_name = stripe_event_name.unwrap_or_else(|| format!("tollgate_{name}"));
        Self { name, display, unit, stripe_event_name }
    }
}

/// What calls under a path prefix cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// A path under `/v1/`, without a trailing slash.
    pub prefix: String,
    /// The meter the calls charge.
    pub meter: MeterName,
    /// Units each call charges.
    pub cost: NonZeroU64,
}

impl Route {
    /// Whether `path` is the prefix or under it (whole segments only: `/v1/messages`
    /// covers `/v1/messages/7`, not `/v1/messages_archive`).
    pub fn covers(&self, path: &str) -> bool {
        covers(&self.prefix, path)
    }
}

/// Whether `path` is `prefix` or under it, on whole segments.
pub fn covers(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// What a call costs: `cost` units of `meter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge<'a> {
    /// The meter charged.
    pub meter: &'a MeterName,
    /// Units charged.
    pub cost: u64,
}

/// What a call to `path` costs under `routes` (longest prefix first): the first route that
/// covers it, else one `requests`.
pub fn charge<'a>(routes: &'a [Route], path: &str) -> Charge<'a> {
    static REQUESTS_METER: std::sync::LazyLock<MeterName> = std::sync::LazyLock::new(MeterName::requests);
    match routes.iter().find(|route| route.covers(path)) {
        Some(route) => Charge { meter: &route.meter, cost: route.cost.get() },
        None => Charge { meter: &REQUESTS_METER, cost: 1 },
    }
}

/// Where a quota's count restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// Each day, from midnight in the business's time zone.
    Day,
    /// Each calendar month, in the business's time zone.
    Month,
    /// Each billing period (Stripe's `current_period_*`; a free account's is the calendar month).
    Period,
}

impl Per {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Per::Day => "day",
            Per::Month => "month",
            Per::Period => "period",
        }
    }
}

/// A price per unit: Stripe's `unit_amount_decimal` (minor units, up to the micro-unit)
/// as written, and the same amount in micro-units of the currency for our own sums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitPrice {
    /// The decimal text Stripe is sent, in minor units (`"5"` is 5 cents of `usd`).
    pub decimal: String,
    /// The amount in micro-units (1/1 000 000 of the currency's major unit).
    pub micros: Micros,
}

/// What a plan does with use past a quota.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overage {
    /// Refused: 402 `quota_exceeded`.
    Block,
    /// Allowed, reported to Stripe and invoiced with the next renewal.
    Bill(UnitPrice),
    /// Allowed while the account's money balance covers the unit price, which is taken
    /// from it; else 402 `insufficient_balance`.
    Balance(UnitPrice),
}

impl Overage {
    /// As the API writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Overage::Block => "block",
            Overage::Bill(_) => "bill",
            Overage::Balance(_) => "balance",
        }
    }
}

/// A plan's limit on one meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterLimit {
    /// Units per `per`; `None` is unlimited.
    pub quota: Option<u64>,
    /// Where the count restarts.
    pub per: Per,
    /// Past the quota.
    pub overage: Overage,
}

impl MeterLimit {
    /// No quota at all.
    pub const UNLIMITED: MeterLimit = MeterLimit { quota: None, per: Per::Period, overage: Overage::Block };
}

/// A plan's limits, by meter; a meter it does not name is unlimited.
pub type MeterLimits = BTreeMap<MeterName, MeterLimit>;

/// A limit as the catalog file writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitEntry {
    quota: Option<u64>,
    #[serde(default = "default_per")]
    per: Per,
    #[serde(default)]
    overage: OverageKind,
    unit_amount_decimal: Option<String>,
}

fn default_per() -> Per {
    Per::Period
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OverageKind {
    #[default]
    Block,
    Bill,
    Balance,
}

/// Why a limit entry was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum LimitError {
    /// `bill` and `balance` need a price.
    #[error("overage {0} needs unit_amount_decimal")]
    PriceMissing(&'static str),
    /// `block` charges nothing.
    #[error("overage block takes no unit_amount_decimal")]
    PriceUnused,
    /// The price is not a decimal of minor units down to the micro-unit.
    #[error("unit_amount_decimal {0:?}: {1}")]
    Price(String, crate::money::AmountError),
}

impl LimitEntry {
    /// The limit on `requests` that a plan's `monthly_requests` and `overage` said before
    /// meters: per billing period.
    /// `overage = true` is billed at a price nobody set: it keeps loading, at 0.
    pub(crate) fn legacy(quota: Option<u64>, overage: bool) -> Self {
        let (overage, unit_amount_decimal) =
            if overage { (OverageKind::Bill, Some("0".to_owned())) } else { (OverageKind::Block, None) };
        Self { quota, per: Per::Period, overage, unit_amount_decimal }
    }

    /// The limit, with its price read in `currency`.
    pub(crate) fn resolve(self, currency: &Currency) -> Result<MeterLimit, LimitError> {
        let price = |kind| {
            let decimal = self.unit_amount_decimal.clone().ok_or(LimitError::PriceMissing(kind))?;
            let micros = Micros::parse_minor_decimal(&decimal, currency)
                .map_err(|error| LimitError::Price(decimal.clone(), error))?;
            Ok(UnitPrice { decimal, micros })
        };
        let overage = match self.overage {
            OverageKind::Block if self.unit_amount_decimal.is_some() => return Err(LimitError::PriceUnused),
            OverageKind::Block => Overage::Block,
            OverageKind::Bill => Overage::Bill(price("bill")?),
            OverageKind::Balance => Overage::Balance(price("balance")?),
        };
        Ok(MeterLimit { quota: self.quota, per: self.per, overage })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_names_are_snake_case() {
        for good in ["requests", "ai_runs", "m2"] {
            assert!(MeterName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Requests", "2m", "ai-runs", "_x", "a b", &"x".repeat(41)] {
            assert!(MeterName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_route_covers_whole_segments_only() {
        let route = Route { prefix: "/v1/messages".into(), meter: MeterName::requests(), cost: NonZeroU64::MIN };
        assert!(route.covers("/v1/messages"));
        assert!(route.covers("/v1/messages/7"));
        assert!(!route.covers("/v1/messages_archive"));
        assert!(!route.covers("/v1/message"));
    }

    #[test]
    fn a_limit_prices_bill_and_balance_and_nothing_else() {
        let usd = Currency::parse("usd").unwrap();
        let entry = |text: &str| toml::from_str::<LimitEntry>(text).unwrap().resolve(&usd);
        let balance = entry("quota = 50\noverage = \"balance\"\nunit_amount_decimal = \"5\"").unwrap();
        assert_eq!(balance.overage, Overage::Balance(UnitPrice { decimal: "5".into(), micros: Micros(50_000) }));
        assert_eq!(balance.per, Per::Period);
        assert_eq!(entry("overage = \"bill\"").unwrap_err(), LimitError::PriceMissing("bill"));
        assert_eq!(entry("quota = 1\nunit_amount_decimal = \"1\"").unwrap_err(), LimitError::PriceUnused);
        assert!(matches!(entry("overage = \"bill\"\nunit_amount_decimal = \"0.00001\""), Err(LimitError::Price(..))));
        assert_eq!(
            entry("quota = 3\nper = \"day\"").unwrap(),
            MeterLimit { quota: Some(3), per: Per::Day, overage: Overage::Block }
        );
        assert!(toml::from_str::<LimitEntry>("quota = 3\nper = \"week\"").is_err());
        assert!(toml::from_str::<LimitEntry>("qouta = 3").is_err());
    }
}
