//! Customers' runs of sold workflows: the charge taken with the run, given back once when
//! the run does not earn it, and the pool's slots handed out round-robin, exactly, on every
//! backend.

use crate::join_all;
use serde_json::json;
use std::sync::Arc;
use tollgate_app::orchestrator::new_run_id;
use tollgate_app::ports::customer_runs::{Cancelled, CustomerRuns, Enqueued, NewRun, PastQuota, RunFilter};
use tollgate_app::ports::runs::{Finished, Runs};
use tollgate_app::ports::usage::Usage;
use tollgate_app::ports::webhook_deliveries::WebhookDeliveries;
use tollgate_app::ports::workflows::Workflows;
use tollgate_core::customer_run::{Charged, Order, Pool};
use tollgate_core::delivery::Delivery;
use tollgate_core::ids::{AccountId, WorkflowId};
use tollgate_core::meters::MeterName;
use tollgate_core::money::Micros;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{
    Access, Charge, DEFAULT_MAX_OUTPUT_BYTES, Outcome, Run, RunStatus, Sell, WebhookUrl, Workflow, WorkflowSpec,
};

/// 2026-11-24T09:00:00Z.
const NOW: Timestamp = Timestamp(1_795_510_800);
/// The day's window the quota counts in.
const WINDOW: Timestamp = Timestamp(1_795_478_400);

fn generations() -> MeterName {
    MeterName::parse("generations").unwrap()
}

fn account(name: &str) -> AccountId {
    AccountId::parse(name).unwrap()
}

fn sold_workflow() -> Workflow {
    let spec = WorkflowSpec {
        id: WorkflowId::parse("images").unwrap(),
        name: "Images".into(),
        webhook_url: WebhookUrl::parse("http://127.0.0.1:9/start").unwrap(),
        schedule: None,
        enabled: true,
        premium: false,
        timeout_s: 300,
        sell: Some(Sell {
            meter: generations(),
            cost: std::num::NonZeroU64::new(1).unwrap(),
            access: Access::Public,
            plans: Vec::new(),
            input_schema: json!({"type": "object"}),
            charge: Charge::OnStart,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }),
    };
    Workflow::register(spec, NOW)
}

fn order(who: &str, when: Charge, key: Option<&str>, at: Timestamp, limit: u32) -> NewRun {
    let order = Order {
        account_id: account(who),
        input: json!({"prompt": "a cat", "n": 1}),
        webhook_url: None,
        charged: Charged {
            meter: generations(),
            units: 1,
            when,
            window_start: WINDOW,
            overage: 0,
            paid: Micros(0),
            returned: false,
        },
        concurrent_runs: limit,
        idempotency_key: key.map(str::to_owned),
    };
    NewRun {
        run: Run::ordered(new_run_id(), &sold_workflow(), order, at),
        quota: Some(2),
        past_quota: PastQuota::Refused,
        refuse_when_busy: false,
        idempotent_until: Timestamp(at.0 + 86_400),
    }
}

fn accepted(enqueued: Enqueued) -> Run {
    match enqueued {
        Enqueued::Accepted(run) => run,
        other => panic!("not accepted: {other:?}"),
    }
}

async fn used<S: Usage>(store: &S, who: &str) -> u64 {
    store.meter_usage(&account(who), &generations(), WINDOW).await.unwrap()
}

pub async fn a_run_is_charged_with_its_storing_and_given_back_once_when_cancelled<S: CustomerRuns + Runs + Usage>(
    store: &S,
) {
    let first = accepted(store.enqueue(&order("acct_a", Charge::OnStart, Some("k1"), NOW, 1), NOW).await.unwrap());
    assert_eq!(used(store, "acct_a").await, 1);
    let again = store.enqueue(&order("acct_a", Charge::OnStart, Some("k1"), NOW, 1), NOW).await.unwrap();
    assert!(matches!(&again, Enqueued::Replayed(run) if run.id == first.id), "{again:?}");
    assert_eq!(used(store, "acct_a").await, 1, "a replay is not charged");
    let read = store.run(&first.id).await.unwrap().unwrap();
    assert_eq!(read, first, "a customer run reads back whole");
    accepted(store.enqueue(&order("acct_a", Charge::OnStart, None, NOW, 1), NOW).await.unwrap());
    let over = store.enqueue(&order("acct_a", Charge::OnStart, None, NOW, 1), NOW).await.unwrap();
    assert_eq!(over, Enqueued::QuotaExceeded { quota: 2 });
    assert_eq!(used(store, "acct_a").await, 2, "a refused run is not charged");

    let cancelled = store.cancel(&account("acct_a"), &first.id, NOW).await.unwrap();
    let Cancelled::Done(run) = cancelled else { panic!("{cancelled:?}") };
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(used(store, "acct_a").await, 1, "given back");
    assert!(matches!(store.cancel(&account("acct_a"), &first.id, NOW).await.unwrap(), Cancelled::TooLate(_)));
    assert_eq!(used(store, "acct_a").await, 1, "given back once");
    assert_eq!(store.cancel(&account("acct_b"), &first.id, NOW).await.unwrap(), Cancelled::Unknown);

    let busy = NewRun { refuse_when_busy: true, ..order("acct_a", Charge::OnStart, None, NOW, 1) };
    assert_eq!(store.enqueue(&busy, NOW).await.unwrap(), Enqueued::ConcurrencyLimit, "one in flight of a limit of 1");
    let listed =
        store.account_runs(&account("acct_a"), &RunFilter { limit: 10, ..RunFilter::default() }).await.unwrap();
    assert_eq!(listed.len(), 2);
    let cancelled_only = RunFilter { status: Some(RunStatus::Cancelled), limit: 10, ..RunFilter::default() };
    let listed = store.account_runs(&account("acct_a"), &cancelled_only).await.unwrap();
    assert_eq!(listed.iter().map(|run| &run.id).collect::<Vec<_>>(), [&first.id]);
    let all = RunFilter { limit: 10, ..RunFilter::default() };
    let newest = store.account_runs(&account("acct_a"), &all).await.unwrap();
    let after_newest = RunFilter { starting_after: Some(newest[0].id.clone()), ..all.clone() };
    let older = store.account_runs(&account("acct_a"), &after_newest).await.unwrap();
    assert_eq!(older.iter().map(|run| &run.id).collect::<Vec<_>>(), [&newest[1].id], "the page after the newest");
    let unknown = RunFilter { starting_after: Some(new_run_id()), ..all };
    assert!(store.account_runs(&account("acct_a"), &unknown).await.unwrap().is_empty(), "nothing after an unknown run");
}

/// An account with one `generations` a day on a plan that bills overage runs twice: the
/// second run's unit is overage, stored with the run; both complete. The second, as read
/// back once ended. (The usage meter's tests bill it from here.)
pub async fn an_ended_run_past_a_billed_quota<S: CustomerRuns + Runs + Workflows>(store: &S, who: &str) -> Run {
    store.create(&sold_workflow()).await.unwrap();
    let billed = |at: i64| NewRun {
        quota: Some(1),
        past_quota: PastQuota::Billed,
        ..order(who, Charge::OnSuccess, None, Timestamp(NOW.0 + at), 2)
    };
    let within = accepted(store.enqueue(&billed(0), NOW).await.unwrap());
    let past = accepted(store.enqueue(&billed(1), NOW).await.unwrap());
    assert_eq!(within.customer.as_ref().unwrap().charged.overage, 0);
    assert_eq!(past.customer.as_ref().unwrap().charged.overage, 1, "the unit past the quota, counted with the run");
    let completed = Outcome { status: RunStatus::Completed, earnings_cents: 0, reason: None, output: None, at: NOW };
    for run in [&within, &past] {
        store.take_turn(10, NOW).await.unwrap().expect("a slot is free");
        store.mark_started(&run.id, NOW).await.unwrap();
        assert!(matches!(store.finish(&run.id, &completed, &NOW.utc_day()).await.unwrap(), Finished::Ended { .. }));
    }
    assert_eq!(store.run(&within.id).await.unwrap().unwrap().overage_to_bill(), None);
    store.run(&past.id).await.unwrap().unwrap()
}

pub async fn an_ended_runs_overage_reads_back_to_be_billed<S: CustomerRuns + Runs + Workflows>(store: &S) {
    let run = an_ended_run_past_a_billed_quota(store, "acct_over").await;
    let billed = run.overage_to_bill().expect("a completed run past its quota owes its overage");
    assert_eq!((billed.overage, billed.paid), (1, Micros(0)));
}

pub async fn slots_go_round_robin_and_an_unearned_charge_comes_back_at_the_end<
    S: CustomerRuns + Runs + Usage + Workflows,
>(
    store: &S,
) {
    assert!(store.create(&sold_workflow()).await.unwrap());
    let unlimited =
        |who: &str, at: i64| NewRun { quota: None, ..order(who, Charge::OnSuccess, None, Timestamp(NOW.0 + at), 5) };
    let mut busy = Vec::new();
    for second in 0..4 {
        busy.push(accepted(store.enqueue(&unlimited("acct_busy", second), NOW).await.unwrap()));
    }
    let lone = accepted(store.enqueue(&unlimited("acct_lone", 10), NOW).await.unwrap());
    assert_eq!(used(store, "acct_busy").await, 4, "held on enqueue");

    let first = store.take_turn(2, NOW).await.unwrap().expect("a slot is free");
    assert_eq!(first.id, busy[0].id, "the oldest waiting run of the account waiting longest");
    let second = store.take_turn(2, NOW).await.unwrap().expect("a slot is free");
    assert_eq!(second.id, lone.id, "the account never served goes before a served one");
    assert_eq!(second.customer.as_ref().unwrap().pool, Pool::Holding);
    assert_eq!(second.deadline, Timestamp(NOW.0 + 300), "its timeout counts from its slot");
    assert_eq!(store.take_turn(2, NOW).await.unwrap(), None, "the pool is full");

    let failed = Outcome::failed("the workflow failed", NOW);
    let Finished::Ended { run, .. } = store.finish(&first.id, &failed, &NOW.utc_day()).await.unwrap() else {
        panic!("ended");
    };
    assert!(run.customer.as_ref().unwrap().charged.returned, "charged on success: given back");
    assert_eq!(used(store, "acct_busy").await, 3);
    assert!(matches!(store.finish(&first.id, &failed, &NOW.utc_day()).await.unwrap(), Finished::AlreadyEnded(_)));
    assert_eq!(used(store, "acct_busy").await, 3, "given back once");
    let third = store.take_turn(2, NOW).await.unwrap().expect("the slot it held is free");
    assert_eq!(third.id, busy[1].id);
}

pub async fn with_r_units_left_n_parallel_runs_get_exactly_r<S: CustomerRuns + Usage + 'static>(store: &Arc<S>) {
    let tries = (0..12).map(|_| {
        let store = Arc::clone(store);
        tokio::spawn(async move {
            let new = NewRun { quota: Some(5), ..order("acct_race", Charge::OnStart, None, NOW, 50) };
            store.enqueue(&new, NOW).await.unwrap()
        })
    });
    let outcomes = join_all(tries).await;
    let taken = outcomes.iter().filter(|outcome| matches!(outcome, Enqueued::Accepted(_))).count();
    assert_eq!(taken, 5, "{outcomes:?}");
    assert!(outcomes.iter().all(|outcome| matches!(outcome, Enqueued::Accepted(_) | Enqueued::QuotaExceeded { .. })));
    assert_eq!(used(store.as_ref(), "acct_race").await, 5);

    let slots = (0..8).map(|_| {
        let store = Arc::clone(store);
        tokio::spawn(async move { store.take_turn(3, NOW).await.unwrap() })
    });
    let given = join_all(slots).await.into_iter().flatten().count();
    assert_eq!(given, 3, "a pool of 3 gives out 3 slots however many ask at once");
}

pub async fn a_delivery_is_recorded_once_and_taken_by_one_sender_at_a_time<S: WebhookDeliveries>(store: &S) {
    let delivery = Delivery::new(
        "msg_abc_account".into(),
        account("acct_d"),
        "run.completed",
        "https://hooks.example.com/in".into(),
        r#"{"type":"run.completed"}"#.into(),
        NOW,
    );
    assert!(store.record_delivery(&delivery).await.unwrap());
    assert!(!store.record_delivery(&delivery).await.unwrap(), "an id is recorded once");
    assert_eq!(store.due_deliveries(NOW, 10).await.unwrap(), std::slice::from_ref(&delivery));

    let begun = delivery.begin(NOW);
    assert!(store.update_delivery(&begun, 0).await.unwrap());
    assert!(!store.update_delivery(&begun, 0).await.unwrap(), "a second sender that read it before loses");
    assert!(store.due_deliveries(NOW, 10).await.unwrap().is_empty(), "held while it is sent");
    let failed = begun.answered(false, "HTTP 500".into(), NOW);
    assert!(store.update_delivery(&failed, 1).await.unwrap());
    assert!(store.due_deliveries(NOW, 10).await.unwrap().is_empty());
    let retry_at = Timestamp(NOW.0 + 5);
    assert_eq!(store.due_deliveries(retry_at, 10).await.unwrap(), std::slice::from_ref(&failed), "due again 5 s later");

    let sent = failed.begin(retry_at).answered(true, "HTTP 204".into(), retry_at);
    assert!(store.update_delivery(&sent, 1).await.unwrap());
    assert!(store.due_deliveries(Timestamp(NOW.0 + 86_400), 10).await.unwrap().is_empty(), "done: never due");
    assert_eq!(store.delivery(&account("acct_d"), &delivery.id).await.unwrap(), Some(sent.clone()));
    assert_eq!(store.delivery(&account("acct_e"), &delivery.id).await.unwrap(), None, "not another account's");
    let later = Delivery { id: "msg_def_run".into(), created_at: Timestamp(NOW.0 + 1), ..delivery };
    assert!(store.record_delivery(&later).await.unwrap());
    let listed = store.account_deliveries(&account("acct_d"), 10).await.unwrap();
    assert_eq!(listed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["msg_def_run", "msg_abc_account"]);
}
