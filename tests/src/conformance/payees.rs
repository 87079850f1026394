use std::collections::HashSet;
use std::sync::Arc;
use tollgate_app::ports::accounts::Applied;
use tollgate_app::ports::payees::{FailedPayout, Payee, Payees};
use tollgate_core::ids::AccountId;
use tollgate_core::time::Timestamp;

fn unique(name: &str) -> AccountId {
    AccountId::parse(&format!("{name}_{}", rand::random::<u32>())).unwrap()
}

pub async fn links_one_payee_and_records_only_newer_reports(payees: &impl Payees) {
    let partner = unique("partner");
    assert_eq!(payees.payee(&partner).await.unwrap(), None);
    let linked = payees.link_payee(&partner, "acct_first").await.unwrap();
    assert_eq!((linked.connect_account.as_str(), linked.payouts_enabled), ("acct_first", false));
    assert_eq!(
        payees.link_payee(&partner, "acct_second").await.unwrap().connect_account,
        "acct_first",
        "the first link stays"
    );
    let record = |account: &str, enabled: bool, at: i64| {
        let partner = partner.clone();
        let account = account.to_owned();
        async move { payees.record_payouts_enabled(&partner, &account, enabled, Timestamp(at)).await.unwrap() }
    };
    assert_eq!(record("acct_first", true, 100).await, Applied::Applied);
    assert_eq!(record("acct_first", false, 50).await, Applied::Stale, "an older report changes nothing");
    assert_eq!(record("acct_second", false, 200).await, Applied::Stale, "another connected account changes nothing");
    assert!(payees.payee(&partner).await.unwrap().unwrap().payouts_enabled);
    let reported_first = unique("reported");
    let report = payees.record_payouts_enabled(&reported_first, "acct_early", true, Timestamp(10)).await.unwrap();
    assert_eq!(report, Applied::Applied, "a report before the link links the account");
    assert_eq!(payees.link_payee(&reported_first, "acct_late").await.unwrap().connect_account, "acct_early");
}

pub async fn concurrent_links_keep_one_payee<S: Payees + 'static>(payees: &Arc<S>) {
    let partner = unique("race");
    let links = (0..20).map(|n| {
        let (payees, partner) = (Arc::clone(payees), partner.clone());
        tokio::spawn(async move { payees.link_payee(&partner, &format!("acct_{n}")).await.unwrap().connect_account })
    });
    let answers: HashSet<String> = crate::join_all(links).await.into_iter().collect();
    assert_eq!(answers.len(), 1, "every concurrent first link sees the one that won: {answers:?}");
}

pub async fn lists_payees_enabled_and_keeps_their_last_failed_payout(payees: &impl Payees) {
    let (enabled, disabled, unlinked) = (unique("enabled"), unique("disabled"), unique("unlinked"));
    payees.link_payee(&disabled, "acct_disabled").await.unwrap();
    payees.record_payouts_enabled(&enabled, "acct_enabled", true, Timestamp(10)).await.unwrap();
    let mine = |listed: Vec<Payee>| -> Vec<Payee> {
        listed.into_iter().filter(|payee| [&enabled, &disabled].contains(&&payee.account)).collect()
    };
    let listed = mine(payees.payees_enabled().await.unwrap());
    assert_eq!(
        listed.iter().map(|payee| (payee.account.clone(), payee.connect_account.as_str())).collect::<Vec<_>>(),
        [(enabled.clone(), "acct_enabled")],
        "only payees Stripe lets receive payouts"
    );
    assert_eq!(listed[0].failed_payout, None);

    let failed = FailedPayout { period: "2026-12".into(), reason: "insufficient funds".into() };
    payees.record_failed_payout(&enabled, Some(&failed)).await.unwrap();
    assert_eq!(payees.payee(&enabled).await.unwrap().unwrap().failed_payout, Some(failed.clone()));
    assert_eq!(mine(payees.payees_enabled().await.unwrap())[0].failed_payout, Some(failed));
    payees.record_failed_payout(&enabled, None).await.unwrap();
    assert_eq!(payees.payee(&enabled).await.unwrap().unwrap().failed_payout, None, "cleared by a success");
    payees.record_failed_payout(&unlinked, None).await.unwrap();
    assert_eq!(payees.payee(&unlinked).await.unwrap(), None, "recording for an unlinked account links nothing");
}
