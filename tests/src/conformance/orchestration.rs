//! Workflows, runs, caps and alerts: the same rules on every backend.

use crate::join_all;
use std::sync::Arc;
use tollgate_app::orchestrator::new_run_id;
use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::alerts::Alerts;
use tollgate_app::ports::runs::{Claim, ClaimGuard, Claimed, Finished, Runs};
use tollgate_app::ports::workflows::Workflows;
use tollgate_core::account::{Subscription, SubscriptionKind, SubscriptionStatus};
use tollgate_core::alert::{self, AlertState};
use tollgate_core::cron::Schedule;
use tollgate_core::ids::{AccountId, Sku, SubscriptionId, WorkflowId};
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{
    Caps, Outcome, Run, RunStatus, WebhookUrl, Workflow, WorkflowSpec, WorkflowState, next_run,
};

/// 2026-11-24T09:00:00Z.
const REGISTERED: Timestamp = Timestamp(1_795_510_800);

fn spec(id: &str, enabled: bool) -> WorkflowSpec {
    WorkflowSpec {
        id: WorkflowId::parse(id).unwrap(),
        name: format!("workflow {id}"),
        webhook_url: WebhookUrl::parse("http://127.0.0.1:9/start").unwrap(),
        schedule: Some(Schedule::parse("*/5 * * * *", "UTC").unwrap()),
        enabled,
        premium: false,
        timeout_s: 300,
        sell: None,
    }
}

async fn registered(store: &impl Workflows, id: &str) -> Workflow {
    let workflow = Workflow::register(spec(id, true), REGISTERED);
    assert!(store.create(&workflow).await.unwrap());
    workflow
}

/// A scheduled claim of `workflow` at its due time.
fn due_claim(workflow: &Workflow, caps: Caps) -> Claim {
    let now = workflow.next_run.expect("scheduled");
    Claim {
        run: Run::claimed(new_run_id(), workflow, now),
        guard: ClaimGuard::Due { expected: now, next: next_run(&workflow.spec, now) },
        caps,
        day: now.utc_day(),
    }
}

fn completed(cents: i64, at: Timestamp) -> Outcome {
    Outcome { status: RunStatus::Completed, earnings_cents: cents, reason: None, output: None, at }
}

pub async fn registers_once_and_reads_back(store: &impl Workflows) {
    let workflow = registered(store, "shorts").await;
    assert!(!store.create(&workflow).await.unwrap(), "an id is registered once");
    assert_eq!(store.workflow(&workflow.spec.id).await.unwrap(), Some(workflow.clone()));
    registered(store, "images").await;
    let ids: Vec<_> = store.workflows().await.unwrap().into_iter().map(|w| w.spec.id.to_string()).collect();
    assert_eq!(ids, ["images", "shorts"]);

    let changed = workflow.respecified(spec("shorts", false), REGISTERED);
    assert!(!store.respecify(&changed, workflow.version + 7).await.unwrap(), "a stale version is refused");
    assert!(store.respecify(&changed, workflow.version).await.unwrap());
    let stored = store.workflow(&workflow.spec.id).await.unwrap().unwrap();
    assert_eq!((stored.spec.enabled, stored.next_run, stored.version), (false, None, workflow.version + 1));
}

pub async fn lists_only_idle_enabled_due_workflows<S: Workflows + Runs>(store: &S) {
    let due = registered(store, "due").await;
    let at = due.next_run.unwrap();
    let disabled = Workflow::register(spec("disabled", false), REGISTERED);
    assert!(store.create(&disabled).await.unwrap());
    let mut later = Workflow::register(spec("later", true), REGISTERED);
    later.spec.schedule = Some(Schedule::parse("0 0 1 1 *", "UTC").unwrap());
    later.next_run = tollgate_core::workflow::next_run(&later.spec, REGISTERED);
    assert!(store.create(&later).await.unwrap());

    assert!(store.due(Timestamp(at.0 - 1), 10).await.unwrap().is_empty(), "nothing is due before its time");
    let listed: Vec<_> = store.due(at, 10).await.unwrap().into_iter().map(|w| w.spec.id.to_string()).collect();
    assert_eq!(listed, ["due"]);
    assert_eq!(store.claim(&due_claim(&due, Caps::default())).await.unwrap(), Claimed::Started);
    assert!(store.due(at, 10).await.unwrap().is_empty(), "a running workflow is not due");
}

pub async fn concurrent_claims_of_one_workflow_start_it_once<S: Workflows + Runs + 'static>(store: &Arc<S>) {
    let workflow = registered(store.as_ref(), "once").await;
    let claims = (0..12).map(|_| {
        let (store, claim) = (Arc::clone(store), due_claim(&workflow, Caps { daily_starts: 40, concurrent: 40 }));
        tokio::spawn(async move { store.claim(&claim).await.unwrap() })
    });
    let results = join_all(claims).await;
    assert_eq!(results.iter().filter(|claimed| **claimed == Claimed::Started).count(), 1, "{results:?}");
    assert!(results.iter().all(|claimed| matches!(claimed, Claimed::Started | Claimed::NotIdle)), "{results:?}");

    // A tick that read the workflow before that claim must not start it again once the run is over.
    let stored = store.workflow(&workflow.spec.id).await.unwrap().unwrap();
    let run = stored.current_run.clone().expect("the claimed run");
    let at = workflow.next_run.unwrap();
    assert!(matches!(store.finish(&run, &completed(0, at), &at.utc_day()).await.unwrap(), Finished::Ended { .. }));
    let stale = due_claim(&workflow, Caps::default());
    assert_eq!(store.claim(&stale).await.unwrap(), Claimed::NotIdle);
}

pub async fn concurrent_claims_hold_both_caps<S: Workflows + Runs + 'static>(store: &Arc<S>) {
    let mut workflows = Vec::new();
    for index in 0..10 {
        workflows.push(registered(store.as_ref(), &format!("w{index}")).await);
    }
    let caps = Caps { daily_starts: 5, concurrent: 3 };
    let claim_all = |workflows: Vec<Workflow>| {
        let claims = workflows.into_iter().map(|workflow| {
            let (store, claim) = (Arc::clone(store), due_claim(&workflow, caps));
            tokio::spawn(async move { (claim.run.id.clone(), store.claim(&claim).await.unwrap()) })
        });
        join_all(claims)
    };
    let first = claim_all(workflows.clone()).await;
    let started: Vec<_> = first.iter().filter(|(_, claimed)| *claimed == Claimed::Started).collect();
    assert_eq!(started.len(), 3, "the concurrency cap holds: {first:?}");
    assert!(first.iter().all(|(_, c)| matches!(c, Claimed::Started | Claimed::ConcurrencyCapReached)), "{first:?}");

    // Ending the three frees their slots; only two more fit in the day.
    let at = workflows[0].next_run.unwrap();
    for (run, _) in &started {
        store.finish(run, &completed(0, at), &at.utc_day()).await.unwrap();
    }
    let rest: Vec<Workflow> = {
        let mut rest = Vec::new();
        for workflow in &workflows {
            let stored = store.workflow(&workflow.spec.id).await.unwrap().unwrap();
            if stored.totals.completed == 0 {
                rest.push(workflow.clone());
            }
        }
        rest
    };
    let second = claim_all(rest).await;
    let started_again = second.iter().filter(|(_, claimed)| *claimed == Claimed::Started).count();
    assert_eq!(started_again, 2, "the daily cap holds: {second:?}");
    assert!(second.iter().any(|(_, claimed)| *claimed == Claimed::DailyCapReached), "{second:?}");
    assert_eq!(store.day_totals(&at.utc_day()).await.unwrap().starts, 5);
}

pub async fn ends_a_run_once_and_counts_it<S: Workflows + Runs>(store: &S) {
    let workflow = registered(store, "counted").await;
    let claim = due_claim(&workflow, Caps::default());
    assert_eq!(store.claim(&claim).await.unwrap(), Claimed::Started);
    let at = claim.run.created_at;
    assert!(store.mark_started(&claim.run.id, at).await.unwrap());
    assert!(!store.mark_started(&claim.run.id, at).await.unwrap(), "started once");

    let first = store.finish(&claim.run.id, &completed(1250, at), &at.utc_day()).await.unwrap();
    let Finished::Ended { run, streak } = first else { panic!("{first:?}") };
    assert_eq!((run.status, run.earnings_cents, run.started_at, streak), (RunStatus::Completed, 1250, Some(at), 0));
    let again = store.finish(&claim.run.id, &Outcome::failed("late", at), &at.utc_day()).await.unwrap();
    assert!(matches!(again, Finished::AlreadyEnded(run) if run.status == RunStatus::Completed));
    assert_eq!(store.finish(&new_run_id(), &completed(1, at), &at.utc_day()).await.unwrap(), Finished::Unknown);

    let stored = store.workflow(&workflow.spec.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.state, stored.current_run, stored.totals.completed, stored.totals.revenue_cents),
        (WorkflowState::Idle, None, 1, 1250)
    );
    assert!(stored.next_run > Some(at), "due again at its next scheduled time");
    let day = store.day_totals(&at.utc_day()).await.unwrap();
    assert_eq!((day.starts, day.completed, day.failed, day.revenue_cents), (1, 1, 0, 1250));
    assert!(store.open_runs().await.unwrap().is_empty());
}

pub async fn counts_failures_in_a_row<S: Workflows + Runs>(store: &S) {
    let workflow = registered(store, "flaky").await;
    let mut streaks = Vec::new();
    for outcome in ["failed", "failed", "completed", "failed", "failed", "failed"] {
        let current = store.workflow(&workflow.spec.id).await.unwrap().unwrap();
        let at = current.next_run.unwrap();
        let claim = Claim {
            run: Run::claimed(new_run_id(), &current, at),
            guard: ClaimGuard::Now,
            caps: Caps::default(),
            day: at.utc_day(),
        };
        assert_eq!(store.claim(&claim).await.unwrap(), Claimed::Started);
        let outcome = if outcome == "failed" { Outcome::failed("boom", at) } else { completed(0, at) };
        let Finished::Ended { streak, .. } =
            store.finish(&claim.run.id, &outcome, &outcome.at.utc_day()).await.unwrap()
        else {
            panic!()
        };
        streaks.push(streak);
    }
    assert_eq!(streaks, [1, 2, 0, 1, 2, 3]);
    let stored = store.workflow(&workflow.spec.id).await.unwrap().unwrap();
    assert_eq!((stored.totals.completed, stored.totals.failed), (1, 5));
}

pub async fn finds_overdue_and_recent_runs<S: Workflows + Runs>(store: &S) {
    let workflow = registered(store, "slow").await;
    let claim = due_claim(&workflow, Caps::default());
    store.claim(&claim).await.unwrap();
    let deadline = claim.run.deadline;
    assert!(store.overdue(Timestamp(deadline.0 - 1), 10).await.unwrap().is_empty());
    let overdue: Vec<_> = store.overdue(deadline, 10).await.unwrap().into_iter().map(|run| run.id).collect();
    assert_eq!(overdue, std::slice::from_ref(&claim.run.id));
    assert_eq!(store.open_runs().await.unwrap().len(), 1);
    let recent = store.runs_since(&workflow.spec.id, claim.run.created_at).await.unwrap();
    assert_eq!(recent.len(), 1);
    assert!(store.runs_since(&workflow.spec.id, Timestamp(claim.run.created_at.0 + 1)).await.unwrap().is_empty());
    store
        .finish(&claim.run.id, &Outcome::failed("no result by the deadline", deadline), &deadline.utc_day())
        .await
        .unwrap();
    assert!(store.overdue(deadline, 10).await.unwrap().is_empty(), "an ended run leaves the index");
}

pub async fn raises_each_incident_once_newest_first(store: &impl Alerts) {
    let workflow = WorkflowId::parse("flaky").unwrap();
    let first = alert::error_rate(&workflow, 10, 5, REGISTERED).unwrap();
    let second = alert::low_revenue("2026-11-23", 0, alert::LOW_REVENUE_CENTS, Timestamp(REGISTERED.0 + 60)).unwrap();
    assert!(store.raise(&first).await.unwrap());
    assert!(!store.raise(&first).await.unwrap(), "an incident is raised once");
    assert!(store.raise(&second).await.unwrap());
    assert_eq!(store.alerts(10).await.unwrap(), [second, first]);
    assert_eq!(store.alerts(1).await.unwrap().len(), 1);
}

async fn active_ids(store: &impl Accounts) -> Vec<String> {
    let mut ids: Vec<String> = store.active_subscriptions().await.unwrap().iter().map(|s| s.id.to_string()).collect();
    ids.sort();
    ids
}

pub async fn counts_active_subscriptions(store: &impl Accounts) {
    let subscription = |id: &str, status: &str| Subscription {
        id: SubscriptionId::parse(id).unwrap(),
        sku: Sku::parse("api_pro").unwrap(),
        kind: SubscriptionKind::ApiPlan,
        tier: "pro".into(),
        status: SubscriptionStatus(status.into()),
        current_period_start: None,
        current_period_end: None,
        event_created: REGISTERED,
    };
    let account = AccountId::parse("counting").unwrap();
    store.apply_subscription(&account, &subscription("sub_a", "active")).await.unwrap();
    store.apply_subscription(&account, &subscription("sub_b", "trialing")).await.unwrap();
    store.apply_subscription(&account, &subscription("sub_c", "canceled")).await.unwrap();
    assert_eq!(active_ids(store).await, ["sub_a", "sub_b"], "active and trialing, read back whole");
    let canceled = SubscriptionStatus(SubscriptionStatus::CANCELED.into());
    let sub_a = SubscriptionId::parse("sub_a").unwrap();
    store.set_subscription_status(&account, &sub_a, &canceled, Timestamp(REGISTERED.0 + 1)).await.unwrap();
    assert_eq!(active_ids(store).await, ["sub_b"]);
}

pub async fn an_alert_moves_from_open_to_acknowledged_to_resolved_once<S: Alerts>(store: &S) {
    let raised = alert::revenue_check_failed("2026-11-24", Timestamp(REGISTERED.0));
    assert!(store.raise(&raised).await.unwrap());
    assert_eq!(store.alert(&raised.id).await.unwrap(), Some(raised.clone()));
    assert_eq!(store.alert("no_such_alert").await.unwrap(), None);
    let at = Timestamp(REGISTERED.0 + 60);
    let acked = raised.moved(AlertState::Acknowledged, Some("on it".into()), at).unwrap();
    assert!(store.change_state(&raised, &acked).await.unwrap());
    assert!(!store.change_state(&raised, &acked).await.unwrap(), "read before the change: refused");
    let resolved = acked.moved(AlertState::Resolved, None, Timestamp(at.0 + 1)).unwrap();
    assert!(store.change_state(&acked, &resolved).await.unwrap());
    assert_eq!(store.alert(&raised.id).await.unwrap(), Some(resolved.clone()));
    assert_eq!(store.alerts(10).await.unwrap()[0], resolved, "listed in its new state");
    assert!(!store.raise(&raised).await.unwrap(), "raising the incident again changes nothing");
    assert_eq!(store.alert(&raised.id).await.unwrap().unwrap().status.state, AlertState::Resolved);
    let stranger = alert::revenue_check_failed("2026-11-25", at);
    assert!(!store.change_state(&stranger, &stranger.moved(AlertState::Resolved, None, at).unwrap()).await.unwrap());
}
