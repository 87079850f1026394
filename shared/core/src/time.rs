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

/// The business's time zone (`BUSINESS_TIMEZONE`, IANA, default UTC): where its days and
/// months start, for quotas, the daily workflow cap and revenue per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BusinessZone(chrono_tz::Tz);

impl TryFrom<String> for BusinessZone {
    type Error = UnknownZone;

    fn try_from(name: String) -> Result<Self, UnknownZone> {
        Self::parse(&name)
    }
}

impl From<BusinessZone> for String {
    fn from(zone: BusinessZone) -> String {
        zone.name().to_owned()
    }
}

/// A time-zone name the IANA database does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IANA time zone (such as America/La_Paz or UTC)")]
pub struct UnknownZone(pub String);

impl Default for BusinessZone {
    fn default() -> Self {
        Self::UTC
    }
}

impl BusinessZone {
    /// Days and months as UTC counts them.
    pub const UTC: BusinessZone = BusinessZone(chrono_tz::UTC);

    /// The zone named `name` (`America/La_Paz`).
    pub fn parse(name: &str) -> Result<Self, UnknownZone> {
        name.trim().parse::<chrono_tz::Tz>().map(Self).map_err(|_| UnknownZone(name.to_owned()))
    }

    /// Its IANA name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    fn local_date(self, at: Timestamp) -> chrono::NaiveDate {
        use chrono::TimeZone;
        let utc = chrono::DateTime::from_timestamp(at.0, 0).unwrap_or(if at.0 < 0 {
            chrono::DateTime::<chrono::Utc>::MIN_UTC
        } else {
            chrono::DateTime::<chrono::Utc>::MAX_UTC
        });
        self.0.from_utc_datetime(&utc.naive_utc()).date_naive()
    }

    /// The first instant of `date` here: midnight, or the first hour after it where a
    /// daylight-saving change skips midnight.
    fn start_of(self, date: chrono::NaiveDate) -> Timestamp {
        use chrono::TimeZone;
        (0..3)
            .filter_map(|hour| date.and_hms_opt(hour, 0, 0))
            .find_map(|local| self.0.from_local_datetime(&local).earliest())
            .map_or(Timestamp(date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp()), |at| {
                Timestamp(at.timestamp())
            })
    }

    /// The day `at` falls in here, as `YYYY-MM-DD`: the daily cap's and the revenue's day.
    pub fn day(self, at: Timestamp) -> String {
        self.local_date(at).format("%Y-%m-%d").to_string()
    }

    /// `[start, end)` of the day `at` falls in here.
    pub fn day_span(self, at: Timestamp) -> (Timestamp, Timestamp) {
        let date = self.local_date(at);
        (self.start_of(date), self.start_of(date.succ_opt().unwrap_or(date)))
    }

    /// The starts of the day `at` falls in and of the `count - 1` days before it, newest first.
    pub fn day_starts(self, at: Timestamp, count: usize) -> Vec<Timestamp> {
        self.starts_back(at, count, |zone, at| zone.day_span(at).0)
    }

    /// The starts of the month `at` falls in and of the `count - 1` months before it, newest first.
    pub fn month_starts(self, at: Timestamp, count: usize) -> Vec<Timestamp> {
        self.starts_back(at, count, |zone, at| zone.month_span(at).0)
    }

    /// `count` period starts walking back from `at`: each the start of the period holding the
    /// second before the previous one.
    fn starts_back(self, at: Timestamp, count: usize, start_of: fn(Self, Timestamp) -> Timestamp) -> Vec<Timestamp> {
        let mut starts = Vec::with_capacity(count);
        let mut start = start_of(self, at);
        for _ in 0..count {
            starts.push(start);
            start = start_of(self, start.plus_seconds(-1));
        }
        starts
    }

    /// `[start, end)` of the calendar month `at` falls in here.
    pub fn month_span(self, at: Timestamp) -> (Timestamp, Timestamp) {
        use chrono::Datelike;
        let date = self.local_date(at);
        let first = date.with_day(1).unwrap_or(date);
        let next = first.checked_add_months(chrono::Months::new(1)).unwrap_or(first);
        (self.start_of(first), self.start_of(next))
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
    fn days_and_months_start_in_the_business_zone() {
        let la_paz = BusinessZone::parse("America/La_Paz").unwrap();
        // 2026-12-01 02:30 UTC is still the evening of November 30 in La Paz (UTC-4).
        let at = Timestamp::parse_rfc3339("2026-12-01T02:30:00Z").unwrap();
        assert_eq!((at.utc_day(), la_paz.day(at)), ("2026-12-01".to_owned(), "2026-11-30".to_owned()));
        let (start, end) = la_paz.day_span(at);
        assert_eq!((start.rfc3339(), end.rfc3339()), ("2026-11-30T04:00:00Z".into(), "2026-12-01T04:00:00Z".into()));
        let (start, end) = la_paz.month_span(at);
        assert_eq!((start.rfc3339(), end.rfc3339()), ("2026-11-01T04:00:00Z".into(), "2026-12-01T04:00:00Z".into()));
        let (start, end) = BusinessZone::UTC.month_span(at);
        assert_eq!((start.rfc3339(), end.rfc3339()), ("2026-12-01T00:00:00Z".into(), "2027-01-01T00:00:00Z".into()));
        assert!(BusinessZone::parse("Mars/Olympus").is_err());
        assert_eq!(BusinessZone::default().name(), "UTC");
    }

    #[test]
    fn a_day_that_skips_midnight_starts_at_its_first_hour() {
        // Santiago moved its clocks from 00:00 to 01:00 on 2026-09-06: that day starts at 01:00 local.
        let santiago = BusinessZone::parse("America/Santiago").unwrap();
        let at = Timestamp::parse_rfc3339("2026-09-06T12:00:00Z").unwrap();
        let (start, end) = santiago.day_span(at);
        assert_eq!(santiago.day(start), "2026-09-06");
        assert_eq!(end.seconds_since(start), 23 * 3600, "a 23-hour day");
    }

    proptest::proptest! {
        /// Every instant lies in its own day and month, and each span is a day or month long
        /// (give or take a daylight-saving hour).
        #[test]
        fn every_instant_lies_in_its_day_and_month(seconds in 0i64..4_102_444_800, zone in 0usize..6) {
            let zone = ["UTC", "America/La_Paz", "America/Santiago", "Europe/Madrid", "Asia/Kolkata", "Pacific/Chatham"][zone];
            let zone = BusinessZone::parse(zone).unwrap();
            let at = Timestamp(seconds);
            let (start, end) = zone.day_span(at);
            proptest::prop_assert!(start <= at && at < end);
            proptest::prop_assert!((82_800..=90_000).contains(&end.seconds_since(start)));
            proptest::prop_assert_eq!(zone.day(start), zone.day(at));
            let (first, next) = zone.month_span(at);
            proptest::prop_assert!(first <= at && at < next);
        }
    }

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
