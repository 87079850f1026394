//! `/admin/metrics`'s figures on SQLite and on DynamoDB (moto), against a ledger and tallies
//! the test builds, in `America/La_Paz` (UTC-4): revenue by hour and by month (payments less
//! refunds, and workflow earnings), checkouts and their conversion, active accounts.

use std::sync::Arc;
use tollgate_app::metrics::{Figures, PeriodRevenue};
use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::ledger::Ledger;
use tollgate_app::ports::runs::Runs;
use tollgate_app::ports::tallies::{Tallies, Tally};
use tollgate_app::ports::workflows::Workflows;
use tollgate_core::catalog::Catalog;
use tollgate_core::ids::AccountId;
use tollgate_core::ledger::{EntryKind, LedgerEntry, PaymentSource};
use tollgate_core::money::{Cents, Currency};
use tollgate_core::time::{BusinessZone, Timestamp};
use tollgate_core::workflow::Caps;
use tollgate_embedded::{QueueSettings, Sqlite};
use tollgate_tests::samples::FixedClock;

/// 2026-12-07 19:30 UTC, 15:30 in La Paz.
const NOW: Timestamp = Timestamp(1_796_671_800);
const HOUR: i64 = 3_600;

trait Store: Workflows + Runs + Accounts + Ledger + Tallies + Clone + 'static {}
impl<S: Workflows + Runs + Accounts + Ledger + Tallies + Clone + 'static> Store for S {}

fn entry(id: &str, kind: EntryKind, cents: i64, at: Timestamp) -> LedgerEntry {
    LedgerEntry {
        id: format!("{}:{id}", kind.as_str()),
        account: AccountId::parse("user_buyer").unwrap(),
        kind,
        amount: Cents::new(cents, Currency::parse("usd").unwrap()),
        payment_ref: id.to_owned(),
        event_id: format!("evt_{id}"),
        at,
        source: matches!(kind, EntryKind::Payment | EntryKind::Refund).then_some(PaymentSource::Sale),
    }
}

async fn the_figures_add_up_in_the_business_zone<S: Store>(store: S) {
    let la_paz = BusinessZone::parse("America/La_Paz").unwrap();
    for posted in [
        entry("pi_a", EntryKind::Payment, 2_999, NOW.plus_seconds(-600)),
        entry("pi_a", EntryKind::Refund, -500, NOW.plus_seconds(-300)),
        entry("run_1", EntryKind::WorkflowRevenue, 250, NOW.plus_seconds(-70 * 60)),
        entry("pi_b", EntryKind::Payment, 1_000, NOW.plus_seconds(-47 * HOUR)),
        entry("pi_c", EntryKind::Payment, 700, NOW.plus_seconds(-49 * HOUR)),
        // 2026-12-01 03:30 UTC: 23:30 on November 30th in La Paz.
        entry("pi_d", EntryKind::Payment, 4_000, Timestamp(1_796_095_800)),
        entry("pi_e", EntryKind::Payment, 300, Timestamp(1_768_478_400)), // 2026-01-15
        entry("pi_f", EntryKind::Payment, 900, Timestamp(1_766_232_000)), // 2025-12-20: too old
        // A commission is not revenue.
        entry("pi_a_commission", EntryKind::Commission, 600, NOW.plus_seconds(-600)),
    ] {
        store.post(&posted).await.unwrap();
    }
    let (today, yesterday) = ("2026-12-07", "2026-12-06");
    for (tally, day, member) in [
        (Tally::CheckoutStarted, today, "cs_1"),
        (Tally::CheckoutStarted, today, "cs_2"),
        (Tally::CheckoutStarted, today, "cs_1"),
        (Tally::CheckoutCompleted, today, "cs_1"),
        (Tally::ActiveAccount, today, "user_ann"),
        (Tally::ActiveAccount, today, "user_bob"),
        (Tally::ActiveAccount, yesterday, "user_ann"),
        (Tally::ActiveAccount, "2026-11-08", "user_carl"), // 29 days before today: in
        (Tally::ActiveAccount, "2026-11-07", "user_dan"),  // 30 days before: out
    ] {
        store.tally(tally, day, member).await.unwrap();
    }
    let figures = Figures {
        store,
        catalog: Catalog::default_catalog(),
        clock: Arc::new(FixedClock(NOW)),
        caps: Caps::default(),
        zone: la_paz,
    };
    let metrics = figures.metrics(30).await.unwrap();

    let hours = &metrics.revenue_by_hour;
    assert_eq!(hours.len(), 48);
    assert_eq!(hours[0], PeriodRevenue { period: "2026-12-07T19:00:00Z".into(), revenue_cents: 2_499 });
    assert_eq!(hours[1], PeriodRevenue { period: "2026-12-07T18:00:00Z".into(), revenue_cents: 250 });
    assert_eq!(hours[47], PeriodRevenue { period: "2026-12-05T20:00:00Z".into(), revenue_cents: 1_000 });
    assert_eq!(hours.iter().map(|hour| hour.revenue_cents).sum::<i64>(), 3_749, "49 hours ago is not in");

    let months: Vec<(&str, i64)> =
        metrics.revenue_by_month.iter().map(|month| (month.period.as_str(), month.revenue_cents)).collect();
    assert_eq!(months.len(), 12);
    assert_eq!(months[0], ("2026-12", 2_499 + 250 + 1_000 + 700));
    assert_eq!(months[1], ("2026-11", 4_000), "23:30 on the 30th in La Paz is November's");
    assert_eq!(months[11], ("2026-01", 300));
    assert_eq!(months.iter().map(|month| month.1).sum::<i64>(), 8_749, "December 2025 is not in");

    let days = &metrics.revenue_by_day;
    assert_eq!((days[0].day.as_str(), days[1].day.as_str()), (today, yesterday));
    assert_eq!(days[0].sales_cents, 2_499);
    assert_eq!((days[0].checkouts_started, days[0].checkouts_completed, days[0].conversion_bp), (2, 1, Some(5_000)));
    assert_eq!((days[1].checkouts_started, days[1].conversion_bp), (0, None), "no checkout, no rate");
    assert_eq!((days[0].active_accounts, days[1].active_accounts), (2, 1));
    assert_eq!(metrics.active_accounts_30d, 3, "ann, bob and carl; ann once");
}

async fn sqlite() -> Sqlite {
    let dir = tempfile::tempdir().unwrap();
    Sqlite::open(&dir.keep().join("figures.sqlite3"), QueueSettings::default()).unwrap()
}

#[tokio::test]
async fn on_sqlite() {
    the_figures_add_up_in_the_business_zone(sqlite().await).await;
}

#[tokio::test]
async fn on_dynamodb() {
    the_figures_add_up_in_the_business_zone(tollgate_tests::moto::fresh_store().await).await;
}
