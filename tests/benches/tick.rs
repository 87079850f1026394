//! Tick cost with 100 and with 100,000 registered workflows, 10 of them due, on the
//! SQLite adapters: the due workflows come from the (state, enabled, next_run) index,
//! so the cost must not grow with the number registered.
//!
//! Each iteration ends the previous iteration's 10 runs (outside the timing) and moves
//! the clock a minute on, when the 10 every-minute workflows are due again.

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tollgate_app::Clock;
use tollgate_app::alerting::Alerting;
use tollgate_app::orchestrator::{Orchestrator, Settings, WorkflowSecret};
use tollgate_app::ports::run_metrics::LoggedMetrics;
use tollgate_app::ports::runs::Runs;
use tollgate_app::ports::workflows::Workflows;
use tollgate_core::cron::Schedule;
use tollgate_core::ids::WorkflowId;
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{Caps, Outcome, RunStatus, WebhookUrl, Workflow, WorkflowSpec};
use tollgate_embedded::{QueueSettings, Sqlite};

const DUE: usize = 10;
/// 2026-11-24T09:00:00Z.
const START: i64 = 1_795_510_800;

struct SteppingClock(AtomicI64);

impl Clock for SteppingClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

fn spec(index: usize, cron: &str) -> WorkflowSpec {
    WorkflowSpec {
        id: WorkflowId::parse(&format!("w{index:06}")).unwrap(),
        name: format!("workflow {index}"),
        webhook_url: WebhookUrl::parse("http://127.0.0.1:9/start").unwrap(),
        schedule: Some(Schedule::parse(cron, "UTC").unwrap()),
        enabled: true,
        premium: false,
        timeout_s: 300,
        sell: None,
    }
}

/// `registered` workflows: `DUE` every minute, the rest once a year (never due here).
async fn seeded(registered: usize, dir: &std::path::Path) -> Sqlite {
    let store = Sqlite::open(&dir.join("tick.sqlite3"), QueueSettings::default()).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..registered {
        let store = store.clone();
        let cron = if index < DUE { "* * * * *" } else { "0 0 1 1 *" };
        tasks.spawn(
            async move { store.create(&Workflow::register(spec(index, cron), Timestamp(START))).await.unwrap() },
        );
        if tasks.len() >= 512 {
            tasks.join_next().await;
        }
    }
    while tasks.join_next().await.is_some() {}
    store
}

fn tick_cost(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut group = c.benchmark_group("tick_with_10_due");
    group.sample_size(30);
    for registered in [100usize, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let store = runtime.block_on(seeded(registered, dir.path()));
        let clock = Arc::new(SteppingClock(AtomicI64::new(START)));
        let mut settings = Settings::defaults(WorkflowSecret::new("bench").unwrap(), "http://127.0.0.1:8080".into());
        settings.caps = Caps { daily_starts: u32::MAX, concurrent: u32::MAX };
        let outbound = Arc::new(tollgate_outbound::HttpClient::new().unwrap());
        let orchestrator = Orchestrator {
            store,
            clock: clock.clone(),
            settings,
            outbound: outbound.clone(),
            deliveries: outbound.clone(),
            metrics: Arc::new(LoggedMetrics),
            alerting: Alerting { outbound, webhook: None },
            revenue_checked: Default::default(),
        };
        let open = std::cell::RefCell::new(Vec::new());
        group.bench_with_input(BenchmarkId::from_parameter(registered), &registered, |b, _| {
            b.iter_batched(
                || {
                    runtime.block_on(async {
                        let now = Timestamp(clock.0.fetch_add(60, Ordering::SeqCst) + 60);
                        let ended: Vec<_> = open.borrow_mut().drain(..).collect();
                        for run in ended {
                            let outcome = Outcome {
                                status: RunStatus::Completed,
                                earnings_cents: 0,
                                reason: None,
                                output: None,
                                at: now,
                            };
                            orchestrator.store.finish(&run, &outcome, &outcome.at.utc_day()).await.unwrap();
                        }
                    })
                },
                |()| {
                    let report = runtime.block_on(orchestrator.tick()).unwrap();
                    assert_eq!(report.started.len(), DUE);
                    open.borrow_mut().extend(report.started.into_iter().map(|run| run.id));
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, tick_cost);
criterion_main!(benches);
