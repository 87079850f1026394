//! When to tell the operator, and how an alert names its incident.
//!
//! An alert's id is the incident it is about (`failures:<workflow>:<run>`,
//! `low_revenue:<day>`…), so raising it again — a retried write, a second tick —
//! finds it already there and tells nobody twice.

use crate::ids::{AccountId, RunId, WorkflowId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Failures in a row that make an incident.
pub const FAILURE_STREAK: u32 = 3;
/// A workflow failing more than this share of its runs in 24 h is alerted on.
pub const ERROR_RATE_PERCENT: u64 = 5;
/// A workflow failing more than this share of at least [`FAST_FAILURE_RUNS`] runs that
/// ended in the last [`FAST_FAILURE_SECONDS`] is alerted on at once.
pub const FAST_FAILURE_PERCENT: u64 = 10;
/// The fewest ended runs the fast failure rule judges.
pub const FAST_FAILURE_RUNS: u64 = 10;
/// The fast failure rule's window.
pub const FAST_FAILURE_SECONDS: i64 = 300;
/// Runs taking longer than this are alerted on.
pub const LONG_RUN_SECONDS: i64 = 600;
/// A business day of revenue under this many US cents is alerted on (`LOW_REVENUE_CENTS`).
pub const LOW_REVENUE_CENTS: i64 = 5_000;
/// A day under this share of the seven days before it, on average, is a drop
/// (`REVENUE_DROP_PERCENT`).
pub const REVENUE_DROP_PERCENT: u8 = 50;
/// Days of history the revenue-drop rule compares a day with.
pub const REVENUE_DROP_DAYS: usize = 7;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A workflow failed [`FAILURE_STREAK`] times in a row.
    ConsecutiveFailures,
    /// A workflow's error rate over 24 h passed [`ERROR_RATE_PERCENT`].
    ErrorRate,
    /// More than [`FAST_FAILURE_PERCENT`] of a workflow's runs that ended in the last five
    /// minutes failed (at least [`FAST_FAILURE_RUNS`] of them).
    FailureRate5m,
    /// A run has been going for longer than [`LONG_RUN_SECONDS`].
    LongRun,
    /// A business day's revenue stayed under `LOW_REVENUE_CENTS`.
    LowRevenue,
    /// A business day's revenue fell under `REVENUE_DROP_PERCENT` of the week before's average.
    RevenueDrop,
    /// An account's API use crossed 70, 85 or 95% of its quota for the period.
    Quota,
    /// The daily revenue check could not be made; due workflows were started anyway.
    RevenueCheckFailed,
    /// Reconciliation found events Stripe holds that no webhook delivered.
    MissedEvents,
    /// Stripe refused a partner's payout; the next run tries again.
    PayoutFailed,
    /// An account's money balance fell under `LOW_BALANCE_CENTS`.
    BalanceLow,
    /// A health-checked endpoint failed two probes in a row.
    EndpointDown,
    /// A health-checked endpoint answered again after being down.
    EndpointRecovered,
}

impl AlertKind {
    /// As storage and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::ConsecutiveFailures => "consecutive_failures",
            AlertKind::ErrorRate => "error_rate",
            AlertKind::FailureRate5m => "failure_rate_5m",
            AlertKind::LongRun => "long_run",
            AlertKind::LowRevenue => "low_revenue",
            AlertKind::RevenueDrop => "revenue_drop",
            AlertKind::Quota => "quota",
            AlertKind::RevenueCheckFailed => "revenue_check_failed",
            AlertKind::MissedEvents => "missed_events",
            AlertKind::PayoutFailed => "payout_failed",
            AlertKind::BalanceLow => "balance_low",
            AlertKind::EndpointDown => "endpoint_down",
            AlertKind::EndpointRecovered => "endpoint_recovered",
        }
    }

    /// The kind written as `value`.
    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::ConsecutiveFailures,
            Self::ErrorRate,
            Self::FailureRate5m,
            Self::LongRun,
            Self::LowRevenue,
            Self::RevenueDrop,
            Self::Quota,
            Self::RevenueCheckFailed,
            Self::MissedEvents,
            Self::PayoutFailed,
            Self::BalanceLow,
            Self::EndpointDown,
            Self::EndpointRecovered,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }
}

/// One incident, told once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The incident's own name: raising the same incident again changes nothing.
    pub id: String,
    /// What it is about.
    pub kind: AlertKind,
    /// The account concerned, for account alerts.
    pub account_id: Option<AccountId>,
    /// What it is about, in a word: the workflow id, or the day.
    pub subject: String,
    /// The workflow it is about, for workflow alerts.
    pub workflow_id: Option<WorkflowId>,
    /// One sentence for people.
    pub message: String,
    /// When it was raised.
    pub created_at: Timestamp,
    /// Where the incident stands.
    pub status: AlertStatus,
}

/// Where an incident stands: raised `open`, `acknowledged` by an operator (it is being
/// looked at), `resolved` (by hand, or by its condition clearing). Resolved is final.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Raised, not yet looked at.
    #[default]
    Open,
    /// An operator is on it.
    Acknowledged,
    /// Over.
    Resolved,
}

impl AlertState {
    /// As storage and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }
}

/// An alert's state, the operator's note and when it last changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertStatus {
    /// The state.
    pub state: AlertState,
    /// What the operator wrote when acknowledging or resolving it.
    pub note: Option<String>,
    /// When the state last changed (`None`: still as raised).
    pub changed_at: Option<Timestamp>,
}

/// A change of state the incident cannot make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an alert that is {from} cannot become {to}")]
pub struct InvalidTransition {
    /// Its state.
    pub from: &'static str,
    /// The state asked for.
    pub to: &'static str,
}

/// The longest note an operator may leave on an alert.
pub const MAX_NOTE_CHARS: usize = 1_000;

impl Alert {
    /// The alert moved to `to` at `at` with `note`: acknowledged from open, resolved from
    /// open or acknowledged. Asking for the state it is in changes nothing.
    pub fn moved(&self, to: AlertState, note: Option<String>, at: Timestamp) -> Result<Alert, InvalidTransition> {
        let from = self.status.state;
        let allowed = matches!(
            (from, to),
            (AlertState::Open, AlertState::Acknowledged)
                | (AlertState::Open | AlertState::Acknowledged, AlertState::Resolved)
        );
        if from == to {
            return Ok(self.clone());
        }
        if !allowed {
            return Err(InvalidTransition { from: from.as_str(), to: to.as_str() });
        }
        let note = note.or_else(|| self.status.note.clone());
        Ok(Alert { status: AlertStatus { state: to, note, changed_at: Some(at) }, ..self.clone() })
    }
}

fn about_workflow(id: String, kind: AlertKind, workflow: &WorkflowId, message: String, now: Timestamp) -> Alert {
    Alert {
        id,
        kind,
        account_id: None,
        subject: workflow.to_string(),
        workflow_id: Some(workflow.clone()),
        message,
        created_at: now,
        status: AlertStatus::default(),
    }
}

/// After a run failed and the workflow's streak became `streak`: an alert when the
/// streak has just reached [`FAILURE_STREAK`], once per streak (named by the run that
/// completed it).
pub fn failure_streak(workflow: &WorkflowId, run: &RunId, streak: u32, now: Timestamp) -> Option<Alert> {
    (streak == FAILURE_STREAK).then(|| {
        let message = format!("workflow {workflow} failed {streak} times in a row (last run {run})");
        about_workflow(format!("failures:{workflow}:{run}"), AlertKind::ConsecutiveFailures, workflow, message, now)
    })
}

/// Over the last 24 h a workflow ran `runs` times and `failed` of them failed: an alert
/// when the share is over [`ERROR_RATE_PERCENT`], once per workflow and UTC day.
pub fn error_rate(workflow: &WorkflowId, runs: u64, failed: u64, now: Timestamp) -> Option<Alert> {
    (runs > 0
        && u128::from(failed).saturating_mul(100) > u128::from(runs).saturating_mul(u128::from(ERROR_RATE_PERCENT)))
    .then(|| {
        let message = format!(
            "workflow {workflow} failed {failed} of its {runs} runs in the last 24 h (over {ERROR_RATE_PERCENT}%)"
        );
        let id = format!("error_rate:{workflow}:{}", now.utc_day());
        about_workflow(id, AlertKind::ErrorRate, workflow, message, now)
    })
}

/// `ended` runs of `workflow` ended in the last five minutes, `failed` of them failed: an
/// alert when that is at least [`FAST_FAILURE_RUNS`] runs and more than
/// [`FAST_FAILURE_PERCENT`] failed, once per workflow and UTC hour.
pub fn failure_rate_5m(workflow: &WorkflowId, ended: u64, failed: u64, now: Timestamp) -> Option<Alert> {
    let over =
        u128::from(failed).saturating_mul(100) > u128::from(ended).saturating_mul(u128::from(FAST_FAILURE_PERCENT));
    (ended >= FAST_FAILURE_RUNS && over).then(|| {
        let message = format!(
            "workflow {workflow} failed {failed} of its {ended} runs that ended in the last 5 min (over {FAST_FAILURE_PERCENT}%)"
        );
        let hour = now.0.div_euclid(3_600);
        about_workflow(format!("failure_rate_5m:{workflow}:{hour}"), AlertKind::FailureRate5m, workflow, message, now)
    })
}

/// A run claimed at `created_at` and still open at `now`: an alert once it has been
/// going for longer than [`LONG_RUN_SECONDS`], once per run.
pub fn long_run(workflow: &WorkflowId, run: &RunId, created_at: Timestamp, now: Timestamp) -> Option<Alert> {
    let running = now.seconds_since(created_at);
    (running > LONG_RUN_SECONDS).then(|| {
        let message = format!("run {run} of workflow {workflow} has been going for {} min", running / 60);
        about_workflow(format!("long_run:{run}"), AlertKind::LongRun, workflow, message, now)
    })
}

/// A finished business `day` that brought in `revenue_cents` in all (subscriptions, sales
/// and workflow earnings, net of refunds): an alert when that is under `threshold_cents`,
/// once per day.
pub fn low_revenue(day: &str, revenue_cents: i64, threshold_cents: i64, now: Timestamp) -> Option<Alert> {
    (revenue_cents < threshold_cents).then(|| Alert {
        id: format!("low_revenue:{day}"),
        kind: AlertKind::LowRevenue,
        account_id: None,
        subject: day.to_owned(),
        workflow_id: None,
        message: format!(
            "revenue on {day} (subscriptions, sales and workflow earnings, net of refunds) was {}, under {}",
            dollars(revenue_cents),
            dollars(threshold_cents)
        ),
        created_at: now,
        status: AlertStatus::default(),
    })
}

/// A finished business `day` whose `revenue_cents` is under `percent` of the daily average
/// of `week`, the [`REVENUE_DROP_DAYS`] days before it: an alert once per day. A week that
/// brought in nothing has no average to fall under.
pub fn revenue_drop(
    day: &str,
    revenue_cents: i64,
    week: &[i64; REVENUE_DROP_DAYS],
    percent: u8,
    now: Timestamp,
) -> Option<Alert> {
    let week_total = week.iter().map(|&day| i128::from(day)).fold(0_i128, i128::saturating_add);
    // day × 100 × 7 < percent × week: the average, without dividing; in i128 nothing overflows.
    let days = i128::try_from(REVENUE_DROP_DAYS).unwrap_or(i128::MAX);
    let scaled_day = i128::from(revenue_cents).saturating_mul(100).saturating_mul(days);
    let dropped = week_total > 0 && scaled_day < i128::from(percent).saturating_mul(week_total);
    dropped.then(|| {
        let average = i64::try_from(week_total.checked_div(days).unwrap_or(0)).unwrap_or(i64::MAX);
        Alert {
            id: format!("revenue_drop:{day}"),
            kind: AlertKind::RevenueDrop,
            account_id: None,
            subject: day.to_owned(),
            workflow_id: None,
            message: format!(
                "revenue on {day} was {}, under {percent}% of the {} a day of the week before",
                dollars(revenue_cents),
                dollars(average)
            ),
            created_at: now,
            status: AlertStatus::default(),
        }
    })
}

/// `$12.34`, `-$0.50`: cents as people read dollars.
fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}${}.{:02}", cents / 100, cents % 100)
}

/// The revenue check of `day` failed (unreadable or impossible totals): told once per day,
/// while the tick goes on starting due workflows.
pub fn revenue_check_failed(day: &str, now: Timestamp) -> Alert {
    Alert {
        id: format!("revenue_check_failed:{day}"),
        kind: AlertKind::RevenueCheckFailed,
        account_id: None,
        subject: day.to_owned(),
        workflow_id: None,
        message: format!("the revenue of {day} could not be checked; due workflows were started anyway (see the log)"),
        created_at: now,
        status: AlertStatus::default(),
    }
}

/// A reconciliation found `missed` events that webhooks never delivered, the first of them
/// `first`: the webhook endpoint is failing or disabled. Named by that event, so a rerun
/// that finds the same gap tells nobody twice.
pub fn missed_events(missed: u64, first: &str, now: Timestamp) -> Option<Alert> {
    (missed > 0).then(|| Alert {
        id: format!("missed_events:{first}"),
        kind: AlertKind::MissedEvents,
        account_id: None,
        subject: first.to_owned(),
        workflow_id: None,
        message: format!(
            "reconciliation found {missed} Stripe event(s) no webhook delivered (first {first}): check the webhook endpoint"
        ),
        created_at: now,
        status: AlertStatus::default(),
    })
}

/// Stripe refused `account`'s payout of `period` for `reason`. Named by the account and the
/// period: a retry refused again in the same period tells nobody twice.
pub fn payout_failed(account: &AccountId, period: &str, reason: &str, now: Timestamp) -> Alert {
    Alert {
        id: format!("payout_failed:{account}:{period}"),
        kind: AlertKind::PayoutFailed,
        account_id: Some(account.clone()),
        subject: account.to_string(),
        workflow_id: None,
        message: format!("Stripe refused the {period} payout of {account} ({reason}); the next run tries again"),
        created_at: now,
        status: AlertStatus::default(),
    }
}

/// The incident of `url` failing since `since`: `endpoint_down:<url>:<since>`.
pub fn endpoint_down_id(url: &str, since: Timestamp) -> String {
    format!("endpoint_down:{url}:{}", since.0)
}

/// `url` failed its probes since `since`, the last with `reason`: told once per incident.
pub fn endpoint_down(url: &str, since: Timestamp, reason: &str, now: Timestamp) -> Alert {
    Alert {
        id: endpoint_down_id(url, since),
        kind: AlertKind::EndpointDown,
        account_id: None,
        subject: url.to_owned(),
        workflow_id: None,
        message: format!("{url} is down since {} ({reason})", since.rfc3339()),
        created_at: now,
        status: AlertStatus::default(),
    }
}

/// `url` answers again after being down since `since`. News of an incident's end, so it
/// is raised resolved: nothing is left to do about it.
pub fn endpoint_recovered(url: &str, since: Timestamp, now: Timestamp) -> Alert {
    let down_for = now.seconds_since(since);
    Alert {
        id: format!("endpoint_recovered:{url}:{}", since.0),
        kind: AlertKind::EndpointRecovered,
        account_id: None,
        subject: url.to_owned(),
        workflow_id: None,
        message: format!("{url} is back after {} min down", down_for.div_euclid(60)),
        created_at: now,
        status: AlertStatus { state: AlertState::Resolved, note: Some("recovered".into()), changed_at: Some(now) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: Timestamp = Timestamp(1_795_500_000);

    fn workflow() -> WorkflowId {
        WorkflowId::parse("daily_shorts").unwrap()
    }

    #[test]
    fn a_streak_alerts_once_when_it_reaches_three() {
        let run = RunId::parse("run_3").unwrap();
        let alerts: Vec<_> = (0..6).filter_map(|streak| failure_streak(&workflow(), &run, streak, NOW)).collect();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].id, "failures:daily_shorts:run_3");
        assert_eq!(alerts[0].workflow_id, Some(workflow()));
    }

    #[test]
    fn the_error_rate_alerts_strictly_over_five_percent() {
        assert!(error_rate(&workflow(), 20, 1, NOW).is_none());
        assert!(error_rate(&workflow(), 19, 1, NOW).is_some());
        assert!(error_rate(&workflow(), 0, 0, NOW).is_none());
    }

    #[test]
    fn a_fast_failure_is_over_ten_percent_of_at_least_ten_runs() {
        assert!(failure_rate_5m(&workflow(), 10, 1, NOW).is_none(), "10% is not over it");
        let alert = failure_rate_5m(&workflow(), 10, 2, NOW).unwrap();
        assert_eq!(
            (alert.kind.as_str(), alert.id),
            ("failure_rate_5m", format!("failure_rate_5m:daily_shorts:{}", NOW.0 / 3_600))
        );
        assert!(failure_rate_5m(&workflow(), 9, 9, NOW).is_none(), "too few runs to judge");
        assert!(failure_rate_5m(&workflow(), 11, 2, NOW).is_some(), "just over: 2 of 11");
        assert!(failure_rate_5m(&workflow(), 20, 2, NOW).is_none(), "at: 2 of 20");
    }

    #[test]
    fn an_alert_is_acknowledged_then_resolved_and_stays_resolved() {
        let raised = revenue_check_failed("2026-11-23", NOW);
        assert_eq!(raised.status, AlertStatus::default());
        let later = Timestamp(NOW.0 + 60);
        let acked = raised.moved(AlertState::Acknowledged, Some("looking".into()), later).unwrap();
        assert_eq!(
            acked.status,
            AlertStatus { state: AlertState::Acknowledged, note: Some("looking".into()), changed_at: Some(later) }
        );
        assert_eq!(acked.moved(AlertState::Acknowledged, None, NOW).unwrap(), acked, "again: no change");
        let resolved = acked.moved(AlertState::Resolved, None, Timestamp(later.0 + 1)).unwrap();
        assert_eq!((resolved.status.state, resolved.status.note.as_deref()), (AlertState::Resolved, Some("looking")));
        let refused = resolved.moved(AlertState::Acknowledged, None, later).unwrap_err();
        assert_eq!(refused.to_string(), "an alert that is resolved cannot become acknowledged");
        assert!(resolved.moved(AlertState::Open, None, later).is_err());
        assert!(raised.moved(AlertState::Resolved, None, later).is_ok(), "resolved straight from open");
    }

    #[test]
    fn a_run_is_long_after_ten_minutes() {
        let run = RunId::parse("run_1").unwrap();
        assert!(long_run(&workflow(), &run, Timestamp(NOW.0 - 600), NOW).is_none());
        assert_eq!(long_run(&workflow(), &run, Timestamp(NOW.0 - 601), NOW).unwrap().id, "long_run:run_1");
    }

    #[test]
    fn an_endpoint_incident_is_named_by_its_first_failure() {
        let down = endpoint_down("https://api.example.com/health", Timestamp(NOW.0 - 600), "status 503", NOW);
        assert_eq!(down.id, format!("endpoint_down:https://api.example.com/health:{}", NOW.0 - 600));
        assert_eq!((down.kind.as_str(), down.status.state), ("endpoint_down", AlertState::Open));
        assert!(down.message.contains("(status 503)"), "{}", down.message);
        let back = endpoint_recovered("https://api.example.com/health", Timestamp(NOW.0 - 600), NOW);
        assert_eq!((back.kind.as_str(), back.status.state), ("endpoint_recovered", AlertState::Resolved));
        assert_eq!(back.message, "https://api.example.com/health is back after 10 min down");
        assert_eq!(AlertKind::parse("endpoint_recovered"), Some(AlertKind::EndpointRecovered));
    }

    #[test]
    fn low_revenue_is_under_the_threshold() {
        assert!(low_revenue("2026-11-23", 5_001, LOW_REVENUE_CENTS, NOW).is_none());
        assert!(low_revenue("2026-11-23", 5_000, LOW_REVENUE_CENTS, NOW).is_none(), "at the line is not under it");
        let alert = low_revenue("2026-11-23", 4_999, LOW_REVENUE_CENTS, NOW).unwrap();
        assert_eq!((alert.id.as_str(), alert.kind), ("low_revenue:2026-11-23", AlertKind::LowRevenue));
        assert_eq!(
            alert.message,
            "revenue on 2026-11-23 (subscriptions, sales and workflow earnings, net of refunds) was $49.99, under $50.00"
        );
        let refunded = low_revenue("2026-11-23", -250, LOW_REVENUE_CENTS, NOW).unwrap();
        assert!(refunded.message.contains("was -$2.50"), "{}", refunded.message);
    }

    #[test]
    fn a_drop_is_under_half_the_week_before_on_average() {
        // $100 a day on average: under $50 is a drop, $50 is not.
        let week = [10_000, 5_000, 15_000, 10_000, 10_000, 10_000, 10_000];
        assert!(revenue_drop("2026-11-23", 5_001, &week, REVENUE_DROP_PERCENT, NOW).is_none());
        assert!(revenue_drop("2026-11-23", 5_000, &week, REVENUE_DROP_PERCENT, NOW).is_none());
        let alert = revenue_drop("2026-11-23", 4_999, &week, REVENUE_DROP_PERCENT, NOW).unwrap();
        assert_eq!((alert.id.as_str(), alert.kind), ("revenue_drop:2026-11-23", AlertKind::RevenueDrop));
        assert_eq!(
            alert.message,
            "revenue on 2026-11-23 was $49.99, under 50% of the $100.00 a day of the week before"
        );
        assert!(revenue_drop("2026-11-23", 0, &[0; REVENUE_DROP_DAYS], REVENUE_DROP_PERCENT, NOW).is_none());
        assert!(revenue_drop("2026-11-23", 0, &week, 0, NOW).is_none(), "nothing is under 0% of an average but a loss");
    }

    proptest! {
        #[test]
        fn the_error_rate_rule_is_exact(runs in 1u64..10_000, failed_share in 0u64..=100) {
            let failed = runs * failed_share / 100;
            let alerted = error_rate(&workflow(), runs, failed, NOW).is_some();
            // Integer form of failed / runs > 5 %.
            prop_assert_eq!(alerted, (failed as f64) / (runs as f64) > 0.05 + 1e-12);
        }
    }
}
