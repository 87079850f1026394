//! Workflow schedules: five-field cron expressions read in an IANA time zone.
//!
//! A schedule is written as people read clocks ("09:00 in Paris"), so the next start
//! is found in local time and turned back into an instant. Local times that a DST
//! change skips do not fire; local times it repeats fire once, at the first of the two.

use crate::time::Timestamp;
use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The cron expressions an API document states, as a JSON Schema `pattern`: five fields of
/// numbers in their ranges, `*`, ranges, steps and lists. [`Schedule::parse`] takes these
/// and more (month and weekday names, leading zeros); a schedule that never fires (the
/// 31st of February) is refused all the same.
pub const CRON_PATTERN: &str = concat!(
    r"^(\*(/[1-9][0-9]?)?|[1-5]?[0-9](-[1-5]?[0-9])?(/[1-9][0-9]?)?)(,(\*(/[1-9][0-9]?)?|[1-5]?[0-9](-[1-5]?[0-9])?(/[1-9][0-9]?)?))*",
    r" (\*(/[1-9][0-9]?)?|(1?[0-9]|2[0-3])(-(1?[0-9]|2[0-3]))?(/[1-9][0-9]?)?)",
    r" (\*(/[1-9][0-9]?)?|([1-9]|[12][0-9]|3[01])(-([1-9]|[12][0-9]|3[01]))?(/[1-9][0-9]?)?)",
    r" (\*(/[1-9][0-9]?)?|([1-9]|1[0-2])(-([1-9]|1[0-2]))?(/[1-9][0-9]?)?)",
    r" (\*(/[1-9])?|[0-7](-[0-7])?(/[1-9])?)$",
);

/// Whether `name` is a time zone a schedule may give.
pub fn is_zone(name: &str) -> bool {
    name.parse::<Tz>().is_ok()
}

/// Every time zone name a schedule may give (the IANA database's).
pub fn zone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name())
}

/// Why a schedule was refused; the message names the field.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScheduleError {
    /// Not five fields.
    #[error("a cron expression has five fields (minute hour day-of-month month day-of-week)")]
    FieldCount,
    /// One field does not parse or is out of range.
    #[error("cron field {field} ({value:?}) is not valid: {reason}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What was written.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Not an IANA zone name.
    #[error("unknown time zone {0:?} (use an IANA name such as Europe/Paris)")]
    Zone(String),
    /// The expression can never fire (e.g. 30 February).
    #[error("the schedule never fires")]
    Never,
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: FieldSpec = FieldSpec { name: "minute", min: 0, max: 59, names: &[] };
const HOUR: FieldSpec = FieldSpec { name: "hour", min: 0, max: 23, names: &[] };
const DAY_OF_MONTH: FieldSpec = FieldSpec { name: "day-of-month", min: 1, max: 31, names: &[] };
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
};
// 7 is Sunday too, as in most crons.
const DAY_OF_WEEK: FieldSpec =
    FieldSpec { name: "day-of-week", min: 0, max: 7, names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] };

/// Which values of one field match, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Set(u64);

impl Set {
    fn has(self, value: u32) -> bool {
        self.0 & (1 << value) != 0
    }

    fn values(self, spec: &FieldSpec) -> impl Iterator<Item = u32> {
        (spec.min..=spec.max).filter(move |&value| self.has(value))
    }
}

fn parse_field(text: &str, spec: &FieldSpec) -> Result<(Set, bool), ScheduleError> {
    let invalid = |reason| ScheduleError::Field { field: spec.name, value: text.to_owned(), reason };
    let value_of = |word: &str| -> Result<u32, ScheduleError> {
        let upper = word.to_ascii_uppercase();
        let value = match spec.names.iter().position(|name| *name == upper) {
            // JAN is 1, SUN is 0: names count from the field's minimum.
            Some(index) => u32::try_from(index)
                .ok()
                .and_then(|index| index.checked_add(spec.min))
                .ok_or(invalid("out of range"))?,
            None => word.parse().map_err(|_| invalid("not a number"))?,
        };
        if (spec.min..=spec.max).contains(&value) { Ok(value) } else { Err(invalid("out of range")) }
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok().filter(|s| *s > 0).ok_or(invalid("bad step"))?),
            None => (part, 1),
        };
        let (low, high) = match range {
            "*" => (spec.min, spec.max),
            _ => match range.split_once('-') {
                Some((low, high)) => (value_of(low)?, value_of(high)?),
                // `5/15` means from 5 to the end, every 15.
                None if part.contains('/') => (value_of(range)?, spec.max),
                None => {
                    let value = value_of(range)?;
                    (value, value)
                }
            },
        };
        if low > high {
            return Err(invalid("range runs backwards"));
        }
        for value in (low..=high).step_by(step as usize) {
            bits |= 1 << value;
        }
    }
    Ok((Set(bits), text == "*"))
}

/// A parsed cron expression and the zone it is read in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ScheduleSpec", into = "ScheduleSpec")]
pub struct Schedule {
    spec: ScheduleSpec,
    zone: Tz,
    minutes: Set,
    hours: Set,
    days_of_month: Set,
    months: Set,
    days_of_week: Set,
    /// Cron's rule: when both day fields are restricted, a day matching either fires.
    either_day: bool,
}

/// A schedule as written: `{"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// Five fields: minute hour day-of-month month day-of-week.
    pub cron: String,
    /// IANA zone name; UTC when left out.
    #[serde(default = "utc")]
    pub timezone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

impl TryFrom<ScheduleSpec> for Schedule {
    type Error = ScheduleError;
    fn try_from(spec: ScheduleSpec) -> Result<Self, ScheduleError> {
        Schedule::parse(&spec.cron, &spec.timezone)
    }
}

impl From<Schedule> for ScheduleSpec {
    fn from(schedule: Schedule) -> Self {
        schedule.spec
    }
}

/// How far ahead a start is looked for: long enough for any 29 February.
const SEARCH_DAYS: u64 = 366 * 8;

impl Schedule {
    /// Reads `cron` in `timezone`.
    pub fn parse(cron: &str, timezone: &str) -> Result<Self, ScheduleError> {
        let fields: Vec<&str> = cron.split_whitespace().collect();
        let [minute, hour, day_of_month, month, day_of_week] = fields.as_slice() else {
            return Err(ScheduleError::FieldCount);
        };
        let zone: Tz = timezone.parse().map_err(|_| ScheduleError::Zone(timezone.to_owned()))?;
        let (minutes, _) = parse_field(minute, &MINUTE)?;
        let (hours, _) = parse_field(hour, &HOUR)?;
        let (days_of_month, any_day_of_month) = parse_field(day_of_month, &DAY_OF_MONTH)?;
        let (months, _) = parse_field(month, &MONTH)?;
        let (mut days_of_week, any_day_of_week) = parse_field(day_of_week, &DAY_OF_WEEK)?;
        if days_of_week.has(7) {
            days_of_week.0 |= 1;
        }
        let schedule = Self {
            spec: ScheduleSpec { cron: fields.join(" "), timezone: zone.name().to_owned() },
            zone,
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            either_day: !any_day_of_month && !any_day_of_week,
        };
        // A schedule that never fires would leave its workflow stuck without a next run.
        schedule.next_after(Timestamp(0)).map(|_| schedule).ok_or(ScheduleError::Never)
    }

    /// The expression and zone as written (normalised).
    pub fn spec(&self) -> &ScheduleSpec {
        &self.spec
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        if !self.months.has(date.month()) {
            return false;
        }
        let by_month = self.days_of_month.has(date.day());
        let by_week = self.days_of_week.has(date.weekday().num_days_from_sunday());
        if self.either_day { by_month || by_week } else { by_month && by_week }
    }

    /// The first start strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let instant = DateTime::from_timestamp(after.0, 0)?;
        let local: NaiveDateTime = instant.with_timezone(&self.zone).naive_local();
        let first_day = local.date();
        for offset in 0..SEARCH_DAYS {
            let date = first_day.checked_add_days(Days::new(offset))?;
            if !self.day_matches(date) {
                continue;
            }
            for hour in self.hours.values(&HOUR) {
                for minute in self.minutes.values(&MINUTE) {
                    let candidate = date.and_hms_opt(hour, minute, 0)?;
                    if candidate <= local.with_second(0)? && offset == 0 {
                        continue;
                    }
                    let start = match self.zone.from_local_datetime(&candidate) {
                        LocalResult::Single(start) => start,
                        LocalResult::Ambiguous(first, _) => first,
                        LocalResult::None => continue,
                    };
                    if start.timestamp() > after.0 {
                        return Some(Timestamp(start.timestamp()));
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> Timestamp {
        Timestamp(DateTime::parse_from_rfc3339(text).unwrap().timestamp())
    }

    fn next(cron: &str, zone: &str, after: &str) -> Timestamp {
        Schedule::parse(cron, zone).unwrap().next_after(at(after)).unwrap()
    }

    #[test]
    fn every_minute_fires_at_the_next_whole_minute() {
        assert_eq!(next("* * * * *", "UTC", "2026-11-24T09:00:30Z"), at("2026-11-24T09:01:00Z"));
        assert_eq!(next("* * * * *", "UTC", "2026-11-24T09:00:00Z"), at("2026-11-24T09:01:00Z"));
    }

    #[test]
    fn steps_ranges_lists_and_names() {
        assert_eq!(next("*/15 * * * *", "UTC", "2026-11-24T09:16:00Z"), at("2026-11-24T09:30:00Z"));
        assert_eq!(next("0 9-17/4 * * *", "UTC", "2026-11-24T09:00:00Z"), at("2026-11-24T13:00:00Z"));
        assert_eq!(next("5,35 * * * *", "UTC", "2026-11-24T09:06:00Z"), at("2026-11-24T09:35:00Z"));
        // 2026-11-24 is a Tuesday.
        assert_eq!(next("0 8 * * MON", "UTC", "2026-11-24T09:00:00Z"), at("2026-11-30T08:00:00Z"));
        assert_eq!(next("0 8 * * 0", "UTC", "2026-11-24T09:00:00Z"), next("0 8 * * 7", "UTC", "2026-11-24T09:00:00Z"));
        assert_eq!(next("0 0 1 JAN *", "UTC", "2026-11-24T09:00:00Z"), at("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn restricted_day_fields_fire_on_either() {
        // The 1st of the month or any Friday: Friday 27 November comes first.
        assert_eq!(next("0 12 1 * FRI", "UTC", "2026-11-24T09:00:00Z"), at("2026-11-27T12:00:00Z"));
    }

    #[test]
    fn a_zone_reads_the_clock_locally() {
        // 09:00 in Paris is 08:00 UTC in winter.
        assert_eq!(next("0 9 * * *", "Europe/Paris", "2026-11-24T09:00:00Z"), at("2026-11-25T08:00:00Z"));
    }

    #[test]
    fn a_skipped_local_time_does_not_fire_and_a_repeated_one_fires_once() {
        // New York skips 02:00–03:00 on 8 March 2026 and repeats 01:00–02:00 on 1 November 2026.
        assert_eq!(next("30 2 * * *", "America/New_York", "2026-03-08T05:00:00Z"), at("2026-03-09T06:30:00Z"));
        let first = next("30 1 * * *", "America/New_York", "2026-11-01T04:00:00Z");
        assert_eq!(first, at("2026-11-01T05:30:00Z"));
        let schedule = Schedule::parse("30 1 * * *", "America/New_York").unwrap();
        assert_eq!(schedule.next_after(first), Some(at("2026-11-02T06:30:00Z")));
    }

    #[test]
    fn leap_days_are_found() {
        assert_eq!(next("0 0 29 2 *", "UTC", "2026-11-24T09:00:00Z"), at("2028-02-29T00:00:00Z"));
    }

    #[test]
    fn bad_schedules_are_refused_by_field() {
        assert_eq!(Schedule::parse("* * * *", "UTC"), Err(ScheduleError::FieldCount));
        assert!(matches!(Schedule::parse("61 * * * *", "UTC"), Err(ScheduleError::Field { field: "minute", .. })));
        assert!(matches!(Schedule::parse("* * * * */0", "UTC"), Err(ScheduleError::Field { .. })));
        assert!(matches!(Schedule::parse("* 5-2 * * *", "UTC"), Err(ScheduleError::Field { field: "hour", .. })));
        assert_eq!(Schedule::parse("* * * * *", "Mars/Olympus"), Err(ScheduleError::Zone("Mars/Olympus".into())));
        assert_eq!(Schedule::parse("0 0 30 2 *", "UTC"), Err(ScheduleError::Never));
    }

    #[test]
    fn a_schedule_reads_back_as_written() {
        let schedule: Schedule = serde_json::from_str(r#"{"cron":"0  9 * * *","timezone":"Europe/Paris"}"#).unwrap();
        assert_eq!(serde_json::to_string(&schedule).unwrap(), r#"{"cron":"0 9 * * *","timezone":"Europe/Paris"}"#);
        let utc: Schedule = serde_json::from_str(r#"{"cron":"* * * * *"}"#).unwrap();
        assert_eq!(utc.spec().timezone, "UTC");
    }

    #[test]
    fn a_time_removed_by_the_spring_change_runs_the_day_after() {
        let schedule = Schedule::parse("0 2 * * *", "Europe/Paris").unwrap();
        // Saturday 2027-03-27 02:05 in Paris; Sunday has no 02:00 (clocks go from 02:00 to 03:00).
        let start = schedule.next_after(Timestamp(1_806_109_500)).unwrap();
        let local = DateTime::from_timestamp(start.0, 0).unwrap().with_timezone(&schedule.zone);
        assert_eq!(local.to_rfc3339(), "2027-03-29T02:00:00+02:00");
    }

    proptest! {
        #[test]
        fn the_next_start_is_later_on_a_whole_minute_and_matches(after in 1_600_000_000i64..2_000_000_000, minute in 0u32..60, hour in 0u32..24) {
            let schedule = Schedule::parse(&format!("{minute} {hour} * * *"), "Europe/Paris").unwrap();
            let start = schedule.next_after(Timestamp(after)).unwrap();
            prop_assert!(start.0 > after);
            prop_assert_eq!(start.0 % 60, 0);
            let local = DateTime::from_timestamp(start.0, 0).unwrap().with_timezone(&schedule.zone);
            prop_assert_eq!(local.minute(), minute);
            // Within a day; within two when a DST change removed the local time on the next
            // day (0 2 * * * after 02:05 on the Saturday before the spring change: Monday 02:00).
            prop_assert!(start.0 - after <= 2 * 86_400);
        }
    }

    proptest::proptest! {
        /// What the documented pattern states parses, unless it never fires or runs backwards.
        #[test]
        fn the_documented_pattern_parses(cron in super::CRON_PATTERN.trim_start_matches('^').trim_end_matches('$')) {
            match Schedule::parse(&cron, "UTC") {
                Ok(_) | Err(ScheduleError::Never) | Err(ScheduleError::Field { reason: "range runs backwards", .. }) => {}
                Err(other) => proptest::prop_assert!(false, "{:?}: {}", cron, other),
            }
        }
    }
}
