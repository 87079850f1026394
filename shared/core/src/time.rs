//! Points in time as Unix seconds, the unit Stripe uses for `created` and periods.

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch. Supplied by the caller: the core never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Whole seconds between two instants, `self - earlier`.
    pub fn seconds_since(self, earlier: Timestamp) -> i64 {
        self.0 - earlier.0
    }

    /// The UTC calendar day as `YYYY-MM-DD` (civil-from-days, proleptic Gregorian).
    pub fn utc_day(self) -> String {
        let days = self.0.div_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!("{year:04}-{month:02}-{day:02}")
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
}
