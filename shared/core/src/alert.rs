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
/// Runs taking longer than this are alerted on.
pub const LONG_RUN_SECONDS: i64 = 600;
/// A day of workflow revenue under this many US cents is alerted on.
pub const LOW_REVENUE_CENTS: i64 = 5_000;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A workflow failed [`FAILURE_STREAK`] times in a row.
    ConsecutiveFailures,
    /// A workflow's error rate over 24 h passed [`ERROR_RATE_PERCENT`].
    ErrorRate,
    /// A run has been going for longer than [`LONG_RUN_SECONDS`].
    LongRun,
    /// A day's workflow revenue stayed under [`LOW_REVENUE_CENTS`].
    LowRevenue,
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
}

impl AlertKind {
    /// As storage and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::ConsecutiveFailures => "consecutive_failures",
            AlertKind::ErrorRate => "error_rate",
            AlertKind::LongRun => "long_run",
            AlertKind::LowRevenue => "low_revenue",
            AlertKind::Quota => "quota",
            AlertKind::RevenueCheckFailed => "revenue_check_failed",
            AlertKind::MissedEvents => "missed_events",
            AlertKind::PayoutFailed => "payout_failed",
            AlertKind::BalanceLow => "balance_low",
        }
    }

    /// The kind written as `value`.
    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::ConsecutiveFailures,
            Self::ErrorRate,
            Self::LongRun,
            Self::LowRevenue,
            Self::Quota,
            Self::RevenueCheckFailed,
            Self::MissedEvents,
            Self::PayoutFailed,
            Self::BalanceLow,
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

/// A run claimed at `created_at` and still open at `now`: an alert once it has been
/// going for longer than [`LONG_RUN_SECONDS`], once per run.
pub fn long_run(workflow: &WorkflowId, run: &RunId, created_at: Timestamp, now: Timestamp) -> Option<Alert> {
    let running = now.seconds_since(created_at);
    (running > LONG_RUN_SECONDS).then(|| {
        let message = format!("run {run} of workflow {workflow} has been going for {} min", running / 60);
        about_workflow(format!("long_run:{run}"), AlertKind::LongRun, workflow, message, now)
    })
}

/// A finished UTC `day` on which workflows were started and earned `revenue_cents`:
/// an alert when that is under [`LOW_REVENUE_CENTS`], once per day.
pub fn low_revenue(day: &str, revenue_cents: i64, now: Timestamp) -> Option<Alert> {
    (revenue_cents < LOW_REVENUE_CENTS).then(|| Alert {
        id: format!("low_revenue:{day}"),
        kind: AlertKind::LowRevenue,
        account_id: None,
        subject: day.to_owned(),
        workflow_id: None,
        message: format!(
            "workflow revenue on {day} was ${}.{:02}, under ${}",
            revenue_cents / 100,
            revenue_cents % 100,
            LOW_REVENUE_CENTS / 100
        ),
        created_at: now,
    })
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
    fn a_run_is_long_after_ten_minutes() {
        let run = RunId::parse("run_1").unwrap();
        assert!(long_run(&workflow(), &run, Timestamp(NOW.0 - 600), NOW).is_none());
        assert_eq!(long_run(&workflow(), &run, Timestamp(NOW.0 - 601), NOW).unwrap().id, "long_run:run_1");
    }

    #[test]
    fn low_revenue_is_under_fifty_dollars() {
        assert!(low_revenue("2026-11-23", 5_000, NOW).is_none());
        let alert = low_revenue("2026-11-23", 4_999, NOW).unwrap();
        assert_eq!(alert.message, "workflow revenue on 2026-11-23 was $49.99, under $50");
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
