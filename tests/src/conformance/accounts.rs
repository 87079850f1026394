use crate::join_all;
use tollgate_app::ports::accounts::{Accounts, Applied};
use tollgate_core::account::{Subscription, SubscriptionKind, SubscriptionStatus};
use tollgate_core::ids::{AccountId, CustomerId, Sku, SubscriptionId};
use tollgate_core::time::Timestamp;

fn account(name: &str) -> AccountId {
    AccountId::parse(&format!("{name}_{}", rand::random::<u32>())).unwrap()
}

fn customer() -> CustomerId {
    CustomerId::parse(&format!("cus_{}", rand::random::<u32>())).unwrap()
}

fn subscription(id: &SubscriptionId, tier: &str, status: &str, created: i64) -> Subscription {
    Subscription {
        id: id.clone(),
        sku: Sku::parse(&format!("api_{tier}")).unwrap(),
        kind: SubscriptionKind::ApiPlan,
        tier: tier.into(),
        status: SubscriptionStatus(status.into()),
        current_period_start: Some(Timestamp(created)),
        current_period_end: Some(Timestamp(created + 30 * 86_400)),
        event_created: Timestamp(created),
    }
}

pub async fn links_the_first_customer_and_referrer(accounts: &impl Accounts) {
    let (alice, referrer, other) = (account("alice"), account("ref"), account("other"));
    let (first, second) = (customer(), customer());
    assert_eq!(accounts.profile(&alice).await.unwrap(), None);
    accounts.link_customer(&alice, None, None).await.unwrap();
    let profile = accounts.profile(&alice).await.unwrap().expect("created by its first link");
    assert_eq!((profile.stripe_customer_id, profile.referred_by), (None, None));

    accounts.link_customer(&alice, Some(&first), Some(&referrer)).await.unwrap();
    accounts.link_customer(&alice, Some(&second), Some(&other)).await.unwrap();
    let profile = accounts.profile(&alice).await.unwrap().unwrap();
    assert_eq!(profile.stripe_customer_id, Some(first.clone()), "the first customer stays");
    assert_eq!(profile.referred_by, Some(referrer), "the first referrer stays");
    assert_eq!(accounts.account_for_customer(&first).await.unwrap(), Some(alice.clone()));
    assert_eq!(
        accounts.account_for_customer(&second).await.unwrap(),
        Some(alice),
        "both customers lead to the account"
    );
    assert_eq!(accounts.account_for_customer(&customer()).await.unwrap(), None);
}

pub async fn concurrent_links_keep_one_customer(accounts: &(impl Accounts + Clone + 'static)) {
    let alice = account("race");
    let customers: Vec<CustomerId> = (0..10).map(|_| customer()).collect();
    let tasks = customers.iter().cloned().map(|customer| {
        let (accounts, alice) = (accounts.clone(), alice.clone());
        tokio::spawn(async move { accounts.link_customer(&alice, Some(&customer), None).await.unwrap() })
    });
    join_all(tasks).await;
    let linked = accounts.profile(&alice).await.unwrap().unwrap().stripe_customer_id.expect("a customer");
    assert!(customers.contains(&linked));
    for customer in &customers {
        assert_eq!(accounts.account_for_customer(customer).await.unwrap(), Some(alice.clone()));
    }
}

pub async fn applies_only_newer_subscription_events(accounts: &impl Accounts) {
    let alice = account("subs");
    let id = SubscriptionId::parse(&format!("sub_{}", rand::random::<u32>())).unwrap();
    assert_eq!(
        accounts.apply_subscription(&alice, &subscription(&id, "pro", "active", 200)).await.unwrap(),
        Applied::Applied
    );
    assert_eq!(
        accounts.apply_subscription(&alice, &subscription(&id, "free", "incomplete", 100)).await.unwrap(),
        Applied::Stale
    );
    assert_eq!(
        accounts.apply_subscription(&alice, &subscription(&id, "enterprise", "active", 200)).await.unwrap(),
        Applied::Applied,
        "same second applies"
    );
    assert_eq!(
        accounts.apply_subscription(&alice, &subscription(&id, "enterprise", "canceled", 300)).await.unwrap(),
        Applied::Applied
    );
    let stored = accounts.subscriptions(&alice).await.unwrap();
    assert_eq!(stored, vec![subscription(&id, "enterprise", "canceled", 300)]);
    assert!(accounts.subscriptions(&account("nobody")).await.unwrap().is_empty());
}

pub async fn sets_status_only_on_known_subscriptions(accounts: &impl Accounts) {
    let alice = account("status");
    let id = SubscriptionId::parse(&format!("sub_{}", rand::random::<u32>())).unwrap();
    let past_due = SubscriptionStatus("past_due".into());
    assert_eq!(accounts.set_subscription_status(&alice, &id, &past_due, Timestamp(150)).await.unwrap(), None);
    accounts.apply_subscription(&alice, &subscription(&id, "pro", "active", 100)).await.unwrap();
    assert_eq!(
        accounts.set_subscription_status(&alice, &id, &past_due, Timestamp(150)).await.unwrap(),
        Some(Applied::Applied)
    );
    assert_eq!(
        accounts
            .set_subscription_status(&alice, &id, &SubscriptionStatus("active".into()), Timestamp(120))
            .await
            .unwrap(),
        Some(Applied::Stale)
    );
    let stored = &accounts.subscriptions(&alice).await.unwrap()[0];
    assert_eq!(
        (stored.status.0.as_str(), stored.event_created, stored.tier.as_str()),
        ("past_due", Timestamp(150), "pro")
    );
}

pub async fn lists_whom_an_account_referred(store: &impl Accounts) {
    let n = rand::random::<u32>();
    let referrer = AccountId::parse(&format!("referrer_{n}")).unwrap();
    let (first, second, stranger) = (
        AccountId::parse(&format!("first_{n}")).unwrap(),
        AccountId::parse(&format!("second_{n}")).unwrap(),
        AccountId::parse(&format!("stranger_{n}")).unwrap(),
    );
    store.link_customer(&referrer, None, None).await.unwrap();
    store.link_customer(&first, None, Some(&referrer)).await.unwrap();
    store.link_customer(&second, None, Some(&referrer)).await.unwrap();
    store.link_customer(&stranger, None, None).await.unwrap();
    let mut referred = store.referrals(&referrer).await.unwrap();
    referred.sort();
    assert_eq!(referred, [first, second]);
    assert!(store.referrals(&stranger).await.unwrap().is_empty());
}
