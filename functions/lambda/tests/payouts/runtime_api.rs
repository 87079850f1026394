//! The `payouts` binary as deployed: under the Lambda Runtime API, with the environment
//! `template.yaml` gives it, on moto, against the Stripe stand-in, run by the sample tick.

use tollgate_app::ports::ledger::Ledger;
use tollgate_app::ports::payees::Payees;
use tollgate_core::ids::AccountId;
use tollgate_core::ledger::{EntryKind, LedgerEntry};
use tollgate_core::money::{Cents, Currency};
use tollgate_core::payout::Period;
use tollgate_core::time::Timestamp;
use tollgate_tests::fake_stripe::FakeStripe;
use tollgate_tests::runtime_api::{Answer, deployed};
use tollgate_tests::samples::read;
use tollgate_tests::stack::now;

#[tokio::test]
async fn the_binary_pays_a_partner_their_held_out_earnings_once() {
    let stripe = FakeStripe::start().await;
    let base = [("StripeApiBase", stripe.base_url.as_str())];
    let (mut function, store) = deployed(env!("CARGO_BIN_EXE_payouts"), "PayoutsFunction", &base).await;
    let partner = AccountId::parse(&format!("partner_{}", rand::random::<u32>())).unwrap();
    let connect_account = stripe.open_connected_account();
    store.record_payouts_enabled(&partner, &connect_account, true, now()).await.unwrap();
    let usd = Currency::parse("usd").unwrap();
    let earning = |payment: &str, amount: i64, days_ago: i64| LedgerEntry {
        id: format!("partner_earning:{payment}:{partner}"),
        account: partner.clone(),
        kind: EntryKind::PartnerEarning,
        amount: Cents::new(amount, usd.clone()),
        payment_ref: payment.to_owned(),
        event_id: "evt_sample".into(),
        at: now().plus_seconds(-days_ago * 86_400),
        source: None,
    };
    // One earning past the template's 30-day hold, one still in it.
    store.post(&earning(&format!("pi_old_{partner}"), 2_099, 31)).await.unwrap();
    store.post(&earning(&format!("pi_new_{partner}"), 5_000, 2)).await.unwrap();
    let tick: serde_json::Value = serde_json::from_str(&read("payouts.json")).unwrap();

    let Answer::Response(ran) = function.invoke(&tick).await else { panic!("{}", function.log()) };
    let period = Period::of(now()).to_string();
    assert_eq!(ran["period"], period, "{}", function.log());
    assert!(ran["paid"].as_u64().unwrap() >= 1, "{ran}");
    let mine: Vec<_> = stripe.transfers().into_iter().filter(|t| t.3 == partner.as_str()).collect();
    assert_eq!(mine, [(connect_account, 2_099, format!("tollgate-payout-{period}"), partner.to_string())]);
    let payouts: Vec<LedgerEntry> =
        store.for_account(&partner).await.unwrap().into_iter().filter(|e| e.kind == EntryKind::Payout).collect();
    assert_eq!(payouts.len(), 1);
    assert_eq!((payouts[0].amount.amount, payouts[0].at > Timestamp(0)), (-2_099, true));

    let Answer::Response(again) = function.invoke(&tick).await else { panic!("{}", function.log()) };
    assert_eq!(again["failed"], 0, "{again}");
    assert_eq!(stripe.transfers().iter().filter(|t| t.3 == partner.as_str()).count(), 1, "the rerun pays nobody twice");
}
