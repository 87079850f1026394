//! Purchases and payment rate limits: the same rules on every backend.

use crate::join_all;
use std::sync::Arc;
use tollgate_app::ports::purchases::{Delivery, Purchase, Purchases};
use tollgate_app::ports::rate_limits::RateLimits;
use tollgate_core::ids::{AccountId, Sku};
use tollgate_core::time::Timestamp;

fn purchase(id: &str, account: &str, payment_ref: &str) -> Purchase {
    Purchase {
        id: id.to_owned(),
        account_id: AccountId::parse(account).unwrap(),
        sku: Sku::parse("template_budget_tracker").unwrap(),
        quantity: 1,
        payment_ref: payment_ref.to_owned(),
        delivery: Delivery::Pending,
        revoked: false,
        created_at: Timestamp(1_795_510_800),
        download_url: None,
    }
}

pub async fn records_a_purchase_once_and_tracks_its_delivery(store: &impl Purchases) {
    let bought = purchase("cs_1", "carol", "pi_1");
    assert_eq!(store.record_purchase(&bought).await.unwrap(), bought);
    store.set_delivery(&bought.account_id, "cs_1", Delivery::Delivered).await.unwrap();
    // A redelivered event finds what is stored, delivery state included.
    let again = store.record_purchase(&bought).await.unwrap();
    assert_eq!(again.delivery, Delivery::Delivered);
    let link = "https://files.example.com/budget.xlsx";
    store.set_download_url(&bought.account_id, "cs_1", link).await.unwrap();
    let linked = store.purchase(&bought.account_id, "cs_1").await.unwrap().unwrap();
    assert_eq!((linked.download_url.as_deref(), linked.delivery), (Some(link), Delivery::Delivered));
    store.set_download_url(&bought.account_id, "cs_unknown", link).await.unwrap();
    assert_eq!(store.purchase(&bought.account_id, "cs_unknown").await.unwrap(), None, "no purchase is made up");
    store.record_purchase(&purchase("cs_2", "carol", "pi_2")).await.unwrap();
    store.record_purchase(&purchase("cs_3", "dave", "pi_3")).await.unwrap();
    let mut ids: Vec<_> = store.purchases(&bought.account_id).await.unwrap().into_iter().map(|p| p.id).collect();
    ids.sort();
    assert_eq!(ids, ["cs_1", "cs_2"]);
    assert_eq!(store.purchase(&bought.account_id, "cs_3").await.unwrap(), None, "another account's purchase");
}

pub async fn a_refund_revokes_what_its_payment_bought(store: &impl Purchases) {
    store.record_purchase(&purchase("cs_1", "carol", "pi_1")).await.unwrap();
    store.record_purchase(&purchase("cs_2", "carol", "pi_2")).await.unwrap();
    assert_eq!(store.revoke_paid_by("pi_1").await.unwrap(), 1);
    assert_eq!(store.revoke_paid_by("pi_1").await.unwrap(), 0, "revoked once");
    assert_eq!(store.revoke_paid_by("pi_unknown").await.unwrap(), 0);
    let carol = AccountId::parse("carol").unwrap();
    assert!(store.purchase(&carol, "cs_1").await.unwrap().unwrap().revoked);
    assert!(!store.purchase(&carol, "cs_2").await.unwrap().unwrap().revoked);
}

pub async fn concurrent_requests_never_pass_the_rate_limit<S: RateLimits + 'static>(store: &Arc<S>) {
    let window = Timestamp(1_795_510_800);
    let hits = (0..25).map(|_| {
        let store = Arc::clone(store);
        tokio::spawn(async move { store.hit(&AccountId::parse("eve").unwrap(), window, 10).await.unwrap() })
    });
    let allowed = join_all(hits).await.into_iter().filter(|allowed| *allowed).count();
    assert_eq!(allowed, 10, "exactly the limit passes");
    let other = AccountId::parse("frank").unwrap();
    assert!(store.hit(&other, window, 10).await.unwrap(), "each account has its own count");
    let eve = AccountId::parse("eve").unwrap();
    assert!(store.hit(&eve, Timestamp(window.0 + 60), 10).await.unwrap(), "a new window starts from zero");
}
