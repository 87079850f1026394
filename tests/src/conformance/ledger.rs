use crate::join_all;
use tollgate_app::ports::ledger::Ledger;
use tollgate_core::ids::{AccountId, EventId};
use tollgate_core::ledger::{EntryKind, LedgerEntry, PaymentSource};
use tollgate_core::money::{Cents, Currency};
use tollgate_core::time::Timestamp;

fn entry(payment_ref: &str, account: &AccountId, kind: EntryKind, amount: i64, event: &str) -> LedgerEntry {
    LedgerEntry {
        id: format!("{}:{payment_ref}:{account}", kind.as_str()),
        account: account.clone(),
        kind,
        amount: Cents::new(amount, Currency::parse("usd").unwrap()),
        payment_ref: payment_ref.to_owned(),
        event_id: EventId::parse(event).unwrap().to_string(),
        at: Timestamp(1_790_000_000 + event.trim_start_matches("evt_").parse::<i64>().unwrap()),
        source: matches!(kind, EntryKind::Payment | EntryKind::Refund).then_some(PaymentSource::Sale),
    }
}

fn fresh() -> (String, AccountId, AccountId) {
    let n = rand::random::<u32>();
    (
        format!("pi_{n}"),
        AccountId::parse(&format!("payer_{n}")).unwrap(),
        AccountId::parse(&format!("ref_{n}")).unwrap(),
    )
}

fn sorted(mut entries: Vec<LedgerEntry>) -> Vec<LedgerEntry> {
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    entries
}

pub async fn posts_each_entry_once(ledger: &impl Ledger) {
    let (payment, payer, referrer) = fresh();
    let paid = entry(&payment, &payer, EntryKind::Payment, 2999, "evt_1");
    let commission = entry(&payment, &referrer, EntryKind::Commission, 599, "evt_1");
    for _ in 0..3 {
        ledger.post(&commission).await.unwrap();
        ledger.post(&paid).await.unwrap();
    }
    assert_eq!(sorted(ledger.for_payment(&payment).await.unwrap()), sorted(vec![paid.clone(), commission.clone()]));
    assert_eq!(ledger.for_account(&payer).await.unwrap(), vec![paid]);
    assert_eq!(ledger.for_account(&referrer).await.unwrap(), vec![commission]);
    assert!(ledger.for_payment("pi_never").await.unwrap().is_empty());
}

pub async fn running_totals_only_grow(ledger: &impl Ledger) {
    let (payment, payer, _) = fresh();
    ledger.post(&entry(&payment, &payer, EntryKind::Refund, -1000, "evt_2")).await.unwrap();
    ledger.post(&entry(&payment, &payer, EntryKind::Refund, -500, "evt_1")).await.unwrap();
    let stored = ledger.for_account(&payer).await.unwrap();
    assert_eq!(
        (stored[0].amount.amount, stored[0].event_id.as_str()),
        (-1000, "evt_2"),
        "an older, smaller total changes nothing"
    );
    ledger.post(&entry(&payment, &payer, EntryKind::Refund, -2999, "evt_3")).await.unwrap();
    let stored = ledger.for_account(&payer).await.unwrap();
    assert_eq!(
        (stored.len(), stored[0].amount.amount, stored[0].event_id.as_str(), stored[0].at),
        (1, -2999, "evt_3", Timestamp(1_790_000_003)),
        "the larger total replaces the amount, the event and the time"
    );
}

pub async fn concurrent_posts_of_one_entry_land_once(ledger: &(impl Ledger + Clone + 'static)) {
    let (payment, payer, _) = fresh();
    let tasks = (1..=20).map(|n| {
        let ledger = ledger.clone();
        // Running totals 100..=2000 racing: the largest must win.
        let refund = entry(&payment, &payer, EntryKind::Refund, -100 * n, &format!("evt_{n}"));
        tokio::spawn(async move { ledger.post(&refund).await.unwrap() })
    });
    join_all(tasks).await;
    let stored = ledger.for_payment(&payment).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].amount.amount, stored[0].event_id.as_str()), (-2000, "evt_20"));
}

pub async fn lists_the_money_that_came_in_since_a_time(ledger: &impl Ledger) {
    let (payment, payer, referrer) = fresh();
    let old = entry(&payment, &payer, EntryKind::Payment, 1000, "evt_1");
    let (later_payment, _, _) = fresh();
    let paid = entry(&later_payment, &payer, EntryKind::Payment, 2999, "evt_50");
    let refunded = entry(&later_payment, &payer, EntryKind::Refund, -500, "evt_60");
    let commission = entry(&later_payment, &referrer, EntryKind::Commission, 599, "evt_55");
    for posted in [&old, &paid, &refunded, &commission] {
        ledger.post(posted).await.unwrap();
    }
    let mine: Vec<LedgerEntry> = ledger
        .entries_since(&tollgate_core::ledger::MONEY_IN, Timestamp(1_790_000_010))
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| entry.account == payer)
        .collect();
    assert_eq!(
        mine,
        vec![paid.clone(), refunded.clone()],
        "payments and refunds from then on, oldest first, with their source"
    );
    let earned = entry(&later_payment, &payer, EntryKind::WorkflowRevenue, 250, "evt_58");
    ledger.post(&earned).await.unwrap();
    let revenue: Vec<LedgerEntry> = ledger
        .entries_since(&tollgate_core::ledger::REVENUE, Timestamp(1_790_000_010))
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| entry.account == payer)
        .collect();
    assert_eq!(revenue, vec![paid, earned, refunded], "workflow earnings too, in time order");
}
