//! Which stretch of Stripe's event history a reconciliation lists.
//!
//! Webhooks can be lost: Stripe stops retrying a delivery after three days and disables an
//! endpoint that keeps failing. Reconciliation lists the events Stripe holds and feeds the
//! ones tollgate never received through the same intake as a delivery. Each run starts a
//! little before where the last one stopped, because an event can show up in Stripe's list
//! with a `created` time earlier than events already listed.

use crate::time::Timestamp;

/// How far before the stored cursor a run starts listing again.
pub const OVERLAP_SECONDS: i64 = 60 * 60;
/// Where the first run starts when there is no cursor: Stripe's retry period.
pub const DEFAULT_LOOKBACK_SECONDS: i64 = 72 * 60 * 60;
/// Stripe lists and retrieves events of the last 30 days only.
pub const RETENTION_SECONDS: i64 = 30 * 24 * 60 * 60;

/// Where one run lists from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Events created at or after this are listed.
    pub from: Timestamp,
    /// The run was asked to start before Stripe's 30 days: what lies before `from` is out of reach.
    pub truncated: bool,
}

/// The window of a run at `now`: from `now - since` when the caller names a span, else from
/// the stored `cursor` minus [`OVERLAP_SECONDS`], else [`DEFAULT_LOOKBACK_SECONDS`] back.
/// Never before Stripe's retention.
pub fn window(since_seconds: Option<i64>, cursor: Option<Timestamp>, now: Timestamp) -> Window {
    let wanted = match (since_seconds, cursor) {
        (Some(span), _) => now.plus_seconds(span.saturating_neg()),
        (None, Some(cursor)) => cursor.plus_seconds(OVERLAP_SECONDS.saturating_neg()),
        (None, None) => now.plus_seconds(DEFAULT_LOOKBACK_SECONDS.saturating_neg()),
    };
    let oldest = now.plus_seconds(RETENTION_SECONDS.saturating_neg());
    if wanted < oldest { Window { from: oldest, truncated: true } } else { Window { from: wanted, truncated: false } }
}

/// The cursor after a run that listed events created up to `newest` (none listed: the run's
/// start). It never moves back, so an overlap is never widened by an empty run.
pub fn next_cursor(previous: Option<Timestamp>, newest_listed: Option<Timestamp>, from: Timestamp) -> Timestamp {
    let reached = newest_listed.unwrap_or(from).max(from);
    previous.map_or(reached, |previous| previous.max(reached))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_780_000_000);

    #[test]
    fn a_named_span_wins_over_the_cursor() {
        assert_eq!(window(Some(3_600), Some(NOW), NOW), Window { from: Timestamp(NOW.0 - 3_600), truncated: false });
    }

    #[test]
    fn a_run_starts_an_overlap_before_the_cursor() {
        let cursor = Timestamp(NOW.0 - 100);
        assert_eq!(window(None, Some(cursor), NOW).from, Timestamp(cursor.0 - OVERLAP_SECONDS));
    }

    #[test]
    fn the_first_run_looks_back_three_days() {
        assert_eq!(window(None, None, NOW).from, Timestamp(NOW.0 - DEFAULT_LOOKBACK_SECONDS));
    }

    #[test]
    fn nothing_older_than_thirty_days_is_asked_for_and_the_answer_says_so() {
        let old = window(Some(40 * 24 * 3_600), None, NOW);
        assert_eq!(old, Window { from: Timestamp(NOW.0 - RETENTION_SECONDS), truncated: true });
        let stale_cursor = window(None, Some(Timestamp(NOW.0 - 31 * 24 * 3_600)), NOW);
        assert!(stale_cursor.truncated);
    }

    #[test]
    fn the_cursor_follows_the_newest_event_and_never_moves_back() {
        let from = Timestamp(NOW.0 - 3_600);
        assert_eq!(next_cursor(None, Some(Timestamp(NOW.0 - 10)), from), Timestamp(NOW.0 - 10));
        assert_eq!(next_cursor(None, None, from), from);
        assert_eq!(next_cursor(Some(NOW), Some(Timestamp(NOW.0 - 10)), from), NOW);
    }
}
