//! `usage-meter` on `events/usage-meter.json`, DynamoDB and SQS on moto, Stripe played by a
//! local stand-in: the sample batch of 600 calls lands on a Pro account 9,450 calls into its
//! period. Delivered three times (Stripe down on the first), it counts once, bills the 50
//! calls past the 10,000 quota once under one identifier, and raises the 95% alert once.

use std::sync::Arc;
use tollgate_app::alerting::Alerting;
use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::alerts::Alerts;
use tollgate_app::ports::queue::QueueName;
use tollgate_app::ports::usage::Usage;
use tollgate_app::redelivery::DEFAULT_RETRY;
use tollgate_app::usage_meter::UsageMeter;
use tollgate_core::account::{Subscription, SubscriptionKind, SubscriptionStatus};
use tollgate_core::catalog::Catalog;
use tollgate_core::ids::{AccountId, CustomerId, KeyId, Sku, SubscriptionId};
use tollgate_core::metering::UsageBatch;
use tollgate_core::time::Timestamp;
use tollgate_tests::fake_stripe::{FakeStripe, SECRET_KEY};
use tollgate_tests::samples::{read, sample_clock};

/// The usage meter as the function builds it, over `store`, reporting to `stripe`.
fn meter_over(store: &tollgate_aws::Aws, stripe: &FakeStripe) -> UsageMeter<tollgate_aws::Aws> {
    UsageMeter {
        store: store.clone(),
        catalog: Catalog::default_catalog(),
        zone: tollgate_core::time::BusinessZone::UTC,
        clock: sample_clock(),
        retry: DEFAULT_RETRY,
        stripe: Some(Arc::new(tollgate_stripe::StripeApi::new(&SECRET_KEY.into(), &stripe.base_url).unwrap())),
        alerting: Alerting { outbound: Arc::new(tollgate_outbound::HttpClient::new().unwrap()), webhook: None },
        low_balance: tollgate_core::money::Micros(1_000_000),
    }
}

const PERIOD_START: Timestamp = Timestamp(1_793_491_200); // 2026-11-01, as in the sample

#[tokio::test]
async fn the_sample_batch_counts_once_bills_its_overage_once_and_alerts_once() {
    let stripe = FakeStripe::start().await;
    stripe.fail_meter_events(1);
    let store = tollgate_tests::moto::fresh_store().await;
    let alice = AccountId::parse("user_alice").unwrap();
    store.link_customer(&alice, Some(&CustomerId::parse("cus_sample_alice").unwrap()), None).await.unwrap();
    let pro = Subscription {
        id: SubscriptionId::parse("sub_sample_alice").unwrap(),
        sku: Sku::parse("api_pro").unwrap(),
        kind: SubscriptionKind::ApiPlan,
        tier: "pro".into(),
        status: SubscriptionStatus("active".into()),
        current_period_start: Some(PERIOD_START),
        current_period_end: Some(Timestamp(PERIOD_START.0 + 30 * 86_400)),
        event_created: PERIOD_START,
    };
    store.apply_subscription(&alice, &pro).await.unwrap();
    let earlier = UsageBatch {
        id: "key_sample01.6".into(),
        key_id: KeyId::parse("key_sample01").unwrap(),
        account_id: alice.clone(),
        period_start: PERIOD_START,
        calls: 9_450,
        credits: 0,
        units: Vec::new(),
        balance_spent: tollgate_core::money::Micros(0),
    };
    store.add_batch(&earlier, PERIOD_START).await.unwrap();

    let meter = meter_over(&store, &stripe);
    let meter = &meter;
    let deliver = || async {
        let batch = serde_json::from_str(&read("usage-meter.json")).unwrap();
        let each = |d: tollgate_app::ports::queue::Delivery| async move { meter.meter_delivery(&d).await };
        tollgate_lambda::each_message(QueueName::Usage, batch, each).await.batch_item_failures.len()
    };
    assert_eq!(deliver().await, 1, "Stripe down: left for redelivery");
    assert_eq!(deliver().await, 0);
    assert_eq!(deliver().await, 0);

    let usage = store.key_usage(&alice, Some(&KeyId::parse("key_sample01").unwrap()), PERIOD_START).await.unwrap();
    assert_eq!((usage.account_calls, usage.key_calls), (10_050, 10_050), "counted once");
    let billed = stripe.meter_events();
    assert_eq!(billed, [("tollgate-usage-key_sample01.7".to_owned(), "cus_sample_alice".to_owned(), "50".to_owned())]);
    let attempts = stripe.requests_to(&reqwest::Method::POST, "/v1/billing/meter_events");
    assert_eq!(attempts.len(), 2, "reported until Stripe took it, then never again");
    let alerts: Vec<String> = store.alerts(50).await.unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(alerts, [format!("quota:user_alice:{}:95", PERIOD_START.0)], "the batch crossed 95 %, once");
}

/// An ended customer run's overage, asked for on the usage queue as the orchestrator asks
/// for it: billed once under the run's identifier, whatever the repeats; a run that owes
/// nothing bills nothing.
#[tokio::test]
async fn an_ended_runs_overage_is_billed_once_under_its_own_identifier() {
    use tollgate_app::ports::queue::{Queue, QueueConsumer};
    use tollgate_core::customer_run::RunOverage;
    let stripe = FakeStripe::start().await;
    let store = tollgate_tests::moto::fresh_store().await;
    let run = tollgate_tests::conformance::customer_runs::an_ended_run_past_a_billed_quota(&store, "acct_over").await;
    let account = run.account().unwrap().clone();
    store.link_customer(&account, Some(&CustomerId::parse("cus_over").unwrap()), None).await.unwrap();
    let meter = meter_over(&store, &stripe);
    let message = serde_json::to_string(&RunOverage { run_overage: run.id.clone() }).unwrap();
    for _ in 0..2 {
        store.send(QueueName::Usage, &message).await.unwrap();
    }
    let unknown = serde_json::to_string(&RunOverage { run_overage: tollgate_app::orchestrator::new_run_id() }).unwrap();
    store.send(QueueName::Usage, &unknown).await.unwrap();
    let mut metered = 0;
    for _ in 0..50 {
        for delivery in store.receive(QueueName::Usage, 10).await.unwrap() {
            meter.meter_delivery(&delivery).await.expect("metered");
            store.ack(&delivery).await.unwrap();
            metered += 1;
        }
        if metered == 3 {
            break;
        }
    }
    assert_eq!(metered, 3);
    let billed = stripe.meter_events();
    assert_eq!(billed, [(format!("tollgate-run-{}", run.id), "cus_over".to_owned(), "1".to_owned())]);
    let attempts = stripe.requests_to(&reqwest::Method::POST, "/v1/billing/meter_events");
    assert_eq!(attempts.len(), 2, "asked twice, reported twice under one identifier, counted once");
    assert!(attempts.iter().all(|attempt| attempt.param("event_name") == Some("tollgate_generations")));
}
