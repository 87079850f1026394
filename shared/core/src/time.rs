//! Points in time as Unix seconds, the unit Stripe uses for `created` and periods.

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch. Supplied by the caller: the core never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

/// Why a time from outside was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be a time between 1970-01-01 and 9999-12-31 (UTC)")]
pub struct OutOfRange;

impl Timestamp {
    /// The earliest time accepted from outside: the Unix epoch.
    pub const EARLIEST: Timestamp = Timestamp(0);
    /// The latest time accepted from outside: the end of year 9999, the last that RFC 3339 writes.
    pub const LATEST: Timestamp = Timestamp(253_402_300_799);

    /// A time read from outside (a signature's `t`, an event's `created`, a callback's
    /// `timestamp`), refused unless it lies between [`Self::EARLIEST`] and [`Self::LATEST`], so
    /// that no arithmetic on it can overflow.
    pub fn from_untrusted(seconds: i64) -> Result<Self, OutOfRange> {
        let at = Timestamp(seconds);
        if (Self::EARLIEST..=Self::LATEST).contains(&at) { Ok(at) } else { Err(OutOfRange) }
    }

    /// An RFC 3339 time (`2025-11-13T22:45:00Z`) from outside, in the same range.
    pub fn parse_rfc3339(text: &str) -> Result<Self, OutOfRange> {
        let at = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| OutOfRange)?;
        Self::from_untrusted(at.timestamp())
    }

    /// Whole seconds between two instants, `self - earlier`, saturating: a time that came
    /// from outside can never make this overflow.
    pub fn seconds_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// `seconds` later (earlier when negative), saturating at the ends of `i64`.
    pub fn plus_seconds(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds))
    }

    /// Midnight (UTC) of the day this instant falls in.
    pub fn start_of_utc_day(self) -> Timestamp {
        Timestamp(self.0.saturating_sub(self.0.rem_euclid(86_400)))
    }

    /// The UTC calendar day as `YYYY-MM-DD` (proleptic Gregorian); times beyond what the
    /// calendar covers read as its first or last day.
    pub fn utc_day(self) -> String {
        let at = chrono::DateTime::from_timestamp(self.0, 0).unwrap_or(if self.0 < 0 {
            chrono::DateTime::<chrono::Utc>::MIN_UTC
        } else {
            chrono::DateTime::<chrono::Utc>::MAX_UTC
        });
        at.format("%Y-%m-%d").to_string()
    }
}

impl Timestamp {
    /// The instant as RFC 3339 in UTC (`2026-11-24T09:00:00Z`), as webhooks show it to people.
    pub fn rfc3339(self) -> String {
        chrono::DateTime::from_timestamp(self.0, 0)
            .map_or_else(|| self.0.to_string(), |at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_day_matches_known_dates() {
        assert_eq!(Timestamp(0).utc_day(), "1970-01-01");
        assert_eq!(Timestamp(951_782_400).utc_day(), "2000-02-29");
        assert_eq!(Timestamp(1_795_564_799).utc_day(), "2026-11-24");
        assert_eq!(Timestamp(-1).utc_day(), "1969-12-31");
    }

    #[test]
    fn times_from_outside_are_range_checked() {
        assert_eq!(Timestamp::from_untrusted(1_795_500_000), Ok(Timestamp(1_795_500_000)));
        assert_eq!(Timestamp::from_untrusted(i64::MIN), Err(OutOfRange));
        assert_eq!(Timestamp::from_untrusted(i64::MAX), Err(OutOfRange));
        assert_eq!(Timestamp::from_untrusted(-1), Err(OutOfRange));
        assert_eq!(Timestamp::parse_rfc3339("2025-11-13T22:45:00Z"), Ok(Timestamp(1_763_073_900)));
        assert_eq!(Timestamp::parse_rfc3339("1969-12-31T23:59:59Z"), Err(OutOfRange));
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), Err(OutOfRange));
        assert_eq!(Timestamp(i64::MAX).seconds_since(Timestamp(i64::MIN)), i64::MAX);
    }
}
