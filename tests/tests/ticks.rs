//! Ticks on SQLite and on DynamoDB + SQS (moto), the clock set by the test: overlapping
//! ticks start each due workflow at most once within both caps; an outage ends in one
//! catch-up run; long runs and a poor day are alerted on once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tollgate_app::orchestrator::OrchestrationStore;
use tollgate_app::ports::alerts::Alerts;
use tollgate_app::ports::queue::QueueName;
use tollgate_app::ports::workflows::Workflows;
use tollgate_core::alert::{AlertKind, AlertState};
use tollgate_core::cron::Schedule;
use tollgate_core::ids::{AccountId, WorkflowId};
use tollgate_core::ledger::{EntryKind, LedgerEntry, PaymentSource};
use tollgate_core::money::{Cents, Currency};
use tollgate_core::time::{BusinessZone, Timestamp};
use tollgate_core::workflow::{Caps, Outcome, RunStatus, WebhookUrl, Workflow, WorkflowSpec};
use tollgate_embedded::{QueueSettings, Sqlite};
use tollgate_tests::join_all;
use tollgate_tests::samples::orchestrator_at;

const REGISTERED: Timestamp = Timestamp(1_795_510_800);

trait Store: OrchestrationStore + Clone + 'static {}
impl<S: OrchestrationStore + Clone + 'static> Store for S {}

/// Registers `w{index}` every five minutes, with `timeout_s`; returns when it is first due.
async fn register(store: &impl Workflows, index: usize, timeout_s: u32) -> Timestamp {
    let spec = WorkflowSpec {
        id: WorkflowId::parse(&format!("w{index}")).unwrap(),
        name: format!("w{index}"),
        webhook_url: WebhookUrl::parse("http://127.0.0.1:9/start").unwrap(),
        schedule: Some(Schedule::parse("*/5 * * * *", "UTC").unwrap()),
        enabled: true,
        premium: false,
        timeout_s,
        sell: None,
    };
    let workflow = Workflow::register(spec, REGISTERED);
    assert!(store.create(&workflow).await.unwrap());
    workflow.next_run.unwrap()
}

fn at<S: Store>(store: &S, now: Timestamp) -> tollgate_app::orchestrator::Orchestrator<S> {
    orchestrator_at(store.clone(), now, Caps::default(), "http://127.0.0.1:8080")
}

async fn overlapping_ticks_hold_the_caps<S: Store>(store: S) {
    let mut due_at = None;
    for index in 0..10 {
        due_at = Some(register(&store, index, 300).await);
    }
    let now = Timestamp(due_at.unwrap().0 + 30);
    let ticks = |caps: Caps| {
        let orchestrator = Arc::new(orchestrator_at(store.clone(), now, caps, "http://127.0.0.1:8080"));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let orchestrator = Arc::clone(&orchestrator);
                tokio::spawn(async move { orchestrator.tick().await.unwrap().started })
            })
            .collect();
        join_all(handles)
    };
    let first: Vec<_> = ticks(Caps { daily_starts: 40, concurrent: 3 }).await.into_iter().flatten().collect();
    assert_eq!(first.len(), 3, "the concurrency cap holds across ticks: {first:?}");
    // The concurrency cap is raised: now the daily cap (5) is what binds.
    let second: Vec<_> = ticks(Caps { daily_starts: 5, concurrent: 40 }).await.into_iter().flatten().collect();
    assert_eq!(second.len(), 2, "the daily cap holds across ticks: {second:?}");
    let started: Vec<_> = first.iter().chain(&second).map(|run| run.workflow_id.clone()).collect();
    assert_eq!(started.iter().collect::<HashSet<_>>().len(), 5, "no workflow started twice: {started:?}");
    assert_eq!(store.day_totals(&now.utc_day()).await.unwrap().starts, 5);

    // Each message is acknowledged as it arrives, so none comes back after its visibility:
    // what arrives after the five can only be a start queued twice.
    let mut queued = Vec::new();
    for round in 0..60 {
        for delivery in store.receive(QueueName::Runs, 10).await.unwrap() {
            store.ack(&delivery).await.unwrap();
            queued.push(delivery);
        }
        if queued.len() >= 5 && round >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(queued.len(), 5, "each start queued once");
    let bodies: HashSet<&str> = queued.iter().map(|delivery| delivery.body.as_str()).collect();
    assert_eq!(bodies.len(), 5, "five different runs");
}

async fn an_outage_ends_in_one_catch_up_run<S: Store>(store: S) {
    let due = register(&store, 0, 300).await;
    // Down for a day: 288 starts were missed.
    let back = Timestamp(due.0 + 86_400 + 17);
    let started = at(&store, back).tick().await.unwrap().started;
    assert_eq!(started.len(), 1, "one catch-up run, not a flood");
    let ended = Outcome { status: RunStatus::Completed, earnings_cents: 0, reason: None, output: None, at: back };
    store.finish(&started[0].id, &ended, &ended.at.utc_day()).await.unwrap();
    assert!(at(&store, Timestamp(back.0 + 10)).tick().await.unwrap().started.is_empty(), "next due after the catch-up");
    let next = store.workflow(&started[0].workflow_id).await.unwrap().unwrap().next_run.unwrap();
    assert!(next > back && next.0 - back.0 <= 300, "back on schedule: {next:?}");
    assert_eq!(at(&store, next).tick().await.unwrap().started.len(), 1);
}

async fn long_runs_and_a_poor_day_are_alerted_once<S: Store>(store: S) {
    let due = register(&store, 0, 3_600).await;
    let run = at(&store, due).tick().await.unwrap().started.remove(0);
    for minutes in [5, 11, 12] {
        at(&store, Timestamp(due.0 + minutes * 60)).tick().await.unwrap();
    }
    let kinds = |alerts: Vec<tollgate_core::alert::Alert>| alerts.into_iter().map(|a| a.kind).collect::<Vec<_>>();
    assert_eq!(kinds(store.alerts(10).await.unwrap()), [AlertKind::LongRun], "once, after ten minutes");

    // The run earns $10 today; the first tick of tomorrow finds the day under $50, once.
    let ended = Outcome {
        status: RunStatus::Completed,
        earnings_cents: 1_000,
        reason: None,
        output: None,
        at: Timestamp(due.0 + 780),
    };
    store.finish(&run.id, &ended, &ended.at.utc_day()).await.unwrap();
    let tomorrow = Timestamp((due.0 / 86_400 + 1) * 86_400 + 30);
    at(&store, tomorrow).tick().await.unwrap();
    at(&store, Timestamp(tomorrow.0 + 60)).tick().await.unwrap();
    let alerts = store.alerts(10).await.unwrap();
    assert_eq!(kinds(alerts.clone()), [AlertKind::LowRevenue, AlertKind::LongRun]);
    assert_eq!(alerts[0].subject, due.utc_day());
    assert!(alerts[0].message.contains("$10.00"), "{}", alerts[0].message);
}

/// With BUSINESS_TIMEZONE=America/La_Paz (UTC-4) the daily cap's day starts at 04:00 UTC:
/// 23:50 and 00:05 in La Paz are one UTC day but two business days, so a cap of one start a
/// day allows both, and a run's earnings count on the day it ended there.
async fn the_daily_cap_counts_days_where_the_business_is<S: Store>(store: S) {
    register(&store, 0, 300).await;
    let la_paz = BusinessZone::parse("America/La_Paz").unwrap();
    let in_la_paz = |now| {
        let mut orchestrator =
            orchestrator_at(store.clone(), now, Caps { daily_starts: 1, concurrent: 5 }, "http://127.0.0.1:8080");
        orchestrator.settings.zone = la_paz;
        orchestrator
    };
    let midnight_utc = (REGISTERED.0 / 86_400 + 1) * 86_400;
    let before_midnight = Timestamp(midnight_utc + 3 * 3_600 + 50 * 60);
    let after_midnight = Timestamp(midnight_utc + 4 * 3_600 + 5 * 60);
    assert_eq!(before_midnight.utc_day(), after_midnight.utc_day(), "one UTC day");
    let first = in_la_paz(before_midnight).tick().await.unwrap().started;
    assert_eq!(first.len(), 1);
    let ended = Outcome {
        status: RunStatus::Completed,
        earnings_cents: 700,
        reason: None,
        output: None,
        at: Timestamp(before_midnight.0 + 60),
    };
    store.finish(&first[0].id, &ended, &la_paz.day(ended.at)).await.unwrap();
    assert!(
        in_la_paz(Timestamp(before_midnight.0 + 300)).tick().await.unwrap().started.is_empty(),
        "the day's one start is spent"
    );
    assert_eq!(in_la_paz(after_midnight).tick().await.unwrap().started.len(), 1, "a new day in La Paz");
    let evening = store.day_totals(&la_paz.day(before_midnight)).await.unwrap();
    assert_eq!((evening.starts, evening.completed, evening.revenue_cents), (1, 1, 700));
    assert_eq!(store.day_totals(&la_paz.day(after_midnight)).await.unwrap().starts, 1);
}

fn sale(id: &str, cents: i64, at: Timestamp) -> LedgerEntry {
    LedgerEntry {
        id: format!("payment:{id}"),
        account: AccountId::parse("user_buyer").unwrap(),
        kind: EntryKind::Payment,
        amount: Cents::new(cents, Currency::parse("usd").unwrap()),
        payment_ref: id.to_owned(),
        event_id: format!("evt_{id}"),
        at,
        source: Some(PaymentSource::Sale),
    }
}

/// All revenue counts, on the business's day: with BUSINESS_TIMEZONE=America/La_Paz a $20
/// sale at 23:30 there (03:30 UTC the next day) counts for the La Paz day, which with $35
/// earlier makes $55: neither low nor a drop against the week before's $100 a day (in UTC
/// it would have been $35). The next day's $40 is both, told once each.
async fn all_revenue_counts_on_the_business_day<S: Store>(store: S) {
    let la_paz = BusinessZone::parse("America/La_Paz").unwrap();
    let day = |n: i64| la_paz.day_span(Timestamp(REGISTERED.0 + n * 86_400)).0;
    for n in 0..7 {
        store.post(&sale(&format!("pi_week_{n}"), 10_000, day(n).plus_seconds(12 * 3_600))).await.unwrap();
    }
    store.post(&sale("pi_morning", 3_500, day(7).plus_seconds(10 * 3_600))).await.unwrap();
    let late = day(7).plus_seconds(23 * 3_600 + 30 * 60);
    assert_ne!(late.utc_day(), la_paz.day(late), "the next day in UTC");
    store.post(&sale("pi_late", 2_000, late)).await.unwrap();
    store.post(&sale("pi_poor", 4_000, day(8).plus_seconds(9 * 3_600))).await.unwrap();
    let in_la_paz = |now| {
        let mut orchestrator = at(&store, now);
        orchestrator.settings.zone = la_paz;
        orchestrator
    };
    let revenue_alerts = || async {
        let alerts = store.alerts(20).await.unwrap();
        let mut ids: Vec<String> = alerts
            .into_iter()
            .filter(|a| matches!(a.kind, AlertKind::LowRevenue | AlertKind::RevenueDrop))
            .map(|a| a.id)
            .collect();
        ids.sort();
        ids
    };
    in_la_paz(day(8).plus_seconds(60)).tick().await.unwrap();
    assert_eq!(revenue_alerts().await, Vec::<String>::new(), "$55 on {}", la_paz.day(day(7)));
    for minutes in [1, 2] {
        in_la_paz(day(9).plus_seconds(minutes * 60)).tick().await.unwrap();
    }
    let poor = la_paz.day(day(8));
    assert_eq!(revenue_alerts().await, [format!("low_revenue:{poor}"), format!("revenue_drop:{poor}")]);

    // The next day is back above both lines: both incidents resolve, once.
    store.post(&sale("pi_back", 12_000, day(9).plus_seconds(9 * 3_600))).await.unwrap();
    for minutes in [1, 2] {
        in_la_paz(day(10).plus_seconds(minutes * 60)).tick().await.unwrap();
    }
    let states: Vec<_> = store
        .alerts(20)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| matches!(a.kind, AlertKind::LowRevenue | AlertKind::RevenueDrop))
        .map(|a| (a.status.state, a.status.note))
        .collect();
    let note = format!("revenue on {} is back above the line", la_paz.day(day(9)));
    assert_eq!(states, [(AlertState::Resolved, Some(note.clone())), (AlertState::Resolved, Some(note))]);
    assert_eq!(revenue_alerts().await.len(), 2, "no new incident");
}

/// Yesterday's totals are unreadable (a counter holds text): the tick alerts once and still
/// starts what is due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_revenue_check_never_stops_a_tick() {
    let path = tempfile::tempdir().unwrap().keep().join("revenue.sqlite3");
    let store = Sqlite::open(&path, QueueSettings::default()).unwrap();
    let due = register(&store, 0, 300).await;
    let yesterday = Timestamp(due.0 - 86_400).utc_day();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("INSERT INTO counters (name, value) VALUES (?1, 'not a number')", [format!("starts:{yesterday}")])
        .unwrap();
    let report = at(&store, due).tick().await.expect("the tick goes on");
    assert_eq!(report.started.len(), 1, "the due workflow started");
    at(&store, Timestamp(due.0 + 60)).tick().await.unwrap();
    let alerts = store.alerts(10).await.unwrap();
    let failed: Vec<_> = alerts.iter().filter(|a| a.kind == AlertKind::RevenueCheckFailed).collect();
    assert_eq!(failed.len(), 1, "alerted once: {alerts:?}");
    assert_eq!(failed[0].subject, yesterday);
}

/// Slots never leak: a customer's run that never calls back fails at its deadline, its
/// charge on start is kept (it started), and the slot goes to the next waiting run.
async fn a_customer_run_past_its_deadline_frees_its_slot<S: Store>(store: S) {
    use tollgate_app::ports::customer_runs::{Enqueued, NewRun, PastQuota};
    use tollgate_core::customer_run::{Charged, Order};
    use tollgate_core::workflow::{Access, Charge, Sell};
    let spec = WorkflowSpec {
        id: WorkflowId::parse("sold").unwrap(),
        name: "sold".into(),
        webhook_url: WebhookUrl::parse("http://127.0.0.1:9/start").unwrap(),
        schedule: None,
        enabled: true,
        premium: false,
        timeout_s: 60,
        sell: Some(Sell {
            meter: tollgate_core::meters::MeterName::parse("generations").unwrap(),
            cost: std::num::NonZeroU64::new(1).unwrap(),
            access: Access::Public,
            plans: Vec::new(),
            input_schema: serde_json::json!(true),
            charge: Charge::OnStart,
            max_output_bytes: 100,
        }),
    };
    let workflow = Workflow::register(spec, REGISTERED);
    assert!(store.create(&workflow).await.unwrap());
    let mut runs = Vec::new();
    for second in 0..2 {
        let at = Timestamp(REGISTERED.0 + second);
        let order = Order {
            account_id: tollgate_core::ids::AccountId::parse("cara").unwrap(),
            input: serde_json::json!({}),
            webhook_url: None,
            charged: Charged {
                meter: tollgate_core::meters::MeterName::parse("generations").unwrap(),
                units: 1,
                when: Charge::OnStart,
                window_start: REGISTERED,
                overage: 0,
                paid: tollgate_core::money::Micros(0),
                returned: false,
            },
            concurrent_runs: 5,
            idempotency_key: None,
        };
        let new = NewRun {
            run: tollgate_core::workflow::Run::ordered(tollgate_app::orchestrator::new_run_id(), &workflow, order, at),
            quota: None,
            past_quota: PastQuota::Refused,
            refuse_when_busy: false,
            idempotent_until: at,
        };
        let Enqueued::Accepted(run) = store.enqueue(&new, at).await.unwrap() else { panic!("accepted") };
        runs.push(run);
    }
    let with_one_slot = |now| {
        let mut orchestrator = at(&store, now);
        orchestrator.settings.customer_pool = 1;
        orchestrator
    };
    let first = with_one_slot(REGISTERED).hand_out_slots().await.unwrap();
    assert_eq!(first.iter().map(|run| &run.id).collect::<Vec<_>>(), [&runs[0].id], "one slot, the oldest run");
    assert!(store.mark_started(&runs[0].id, REGISTERED).await.unwrap());
    assert!(with_one_slot(Timestamp(REGISTERED.0 + 30)).tick().await.unwrap().customer_started.is_empty(), "busy");
    let report = with_one_slot(Timestamp(REGISTERED.0 + 61)).tick().await.unwrap();
    assert_eq!(report.failed_overdue.iter().map(|run| &run.id).collect::<Vec<_>>(), [&runs[0].id]);
    let failed = store.run(&runs[0].id).await.unwrap().unwrap();
    assert!(!failed.customer.as_ref().unwrap().charged.returned, "it started: the charge on start is kept");
    let next = store.run(&runs[1].id).await.unwrap().unwrap();
    assert!(next.holds_slot(), "the freed slot went to the next waiting run");
}

async fn sqlite() -> Sqlite {
    let dir = tempfile::tempdir().unwrap();
    // Kept for the life of the test process, like the conformance suite's databases.
    Sqlite::open(&dir.keep().join("ticks.sqlite3"), QueueSettings::default()).unwrap()
}

async fn dynamodb() -> tollgate_aws::Aws {
    tollgate_tests::moto::fresh_store().await
}

macro_rules! on_both_backends {
    ($($scenario:ident),+ $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario(super::sqlite().await).await;
                }
            )+
        }
        mod on_dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario(super::dynamodb().await).await;
                }
            )+
        }
    };
}

on_both_backends!(
    all_revenue_counts_on_the_business_day,
    overlapping_ticks_hold_the_caps,
    an_outage_ends_in_one_catch_up_run,
    long_runs_and_a_poor_day_are_alerted_once,
    the_daily_cap_counts_days_where_the_business_is,
    a_customer_run_past_its_deadline_frees_its_slot
);
