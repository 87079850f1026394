//! The use cases as the functions call them, on the SQLite adapters in a temporary
//! directory, with the clock set by the test: a rule is checked here without starting the
//! binary (the end-to-end suites in `tests/` prove the same through HTTP).

use std::sync::{Arc, Mutex};
use tollgate_app::Clock;
use tollgate_app::alerting::Alerting;
use tollgate_app::checkout::{Checkout, CheckoutError, CheckoutSettings};
use tollgate_app::ingest::{Ingest, Webhooks};
use tollgate_app::keys::{EdgeLink, Keys, KeysError};
use tollgate_app::orchestrator::{Orchestrator, Settings, WorkflowSecret};
use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::alerts::Alerts;
use tollgate_app::ports::checkouts::{Checkouts, NewSession, Paid, Session};
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::meter_events::{MeterEvent, MeterEvents, MeterEventsError, Reported};
use tollgate_app::ports::outbound::{Answer, Outbound, OutboundRequest};
use tollgate_app::ports::queue::Queue;
use tollgate_app::ports::queue::{QueueConsumer, QueueName};
use tollgate_app::ports::run_metrics::LoggedMetrics;
use tollgate_app::ports::stripe_events::{EventPage, ListedEvent, StripeEvents};
use tollgate_app::ports::usage::Usage;
use tollgate_app::process::Processor;
use tollgate_app::reads::Reads;
use tollgate_app::reconcile::Reconciler;
use tollgate_app::redelivery::DEFAULT_RETRY;
use tollgate_app::usage_meter::UsageMeter;
use tollgate_core::account::{Subscription, SubscriptionKind, SubscriptionStatus};
use tollgate_core::api_key::{ApiKey, KeyMode};
use tollgate_core::catalog::Catalog;
use tollgate_core::checkout::{CheckoutRequest, RedirectAllowList};
use tollgate_core::cron::Schedule;
use tollgate_core::edge::EdgeSecret;
use tollgate_core::ids::{AccountId, CustomerId, EventId, KeyId, Sku, SubscriptionId, WorkflowId};
use tollgate_core::ledger::EntryKind;
use tollgate_core::metering::{MeterUnits, UsageBatch};
use tollgate_core::meters::MeterName;
use tollgate_core::signature::{Verifier, WebhookSecret, sign};
use tollgate_core::time::Timestamp;
use tollgate_core::workflow::{Caps, RunStatus, WebhookUrl, WorkflowSpec};
use tollgate_embedded::{QueueSettings, Sqlite};

/// 2026-12-07 00:00 UTC.
const NOW: Timestamp = Timestamp(1_796_601_600);
const SECRET: &str = "whsec_use_cases";

struct At(Timestamp);

impl Clock for At {
    fn now(&self) -> Timestamp {
        self.0
    }
}

fn store(dir: &tempfile::TempDir) -> Sqlite {
    Sqlite::open(&dir.path().join("db.sqlite3"), QueueSettings::default()).unwrap()
}

/// Stripe's deliveries taken in, and applied, as the two functions do it.
struct Events {
    ingest: Ingest<Sqlite>,
    processor: Processor<Sqlite>,
    reads: Reads<Sqlite>,
}

fn events(store: &Sqlite) -> Events {
    let webhooks =
        Webhooks { verifier: Verifier::new(vec![WebhookSecret::parse(SECRET).unwrap()], 300), livemode: false };
    Events {
        ingest: Ingest { store: store.clone(), clock: Arc::new(At(NOW)), webhooks },
        processor: Processor {
            store: store.clone(),
            catalog: Catalog::default_catalog(),
            retry: DEFAULT_RETRY,
            zone: tollgate_core::time::BusinessZone::UTC,
            keys: Arc::new(Keys {
                store: store.clone(),
                catalog: Catalog::default_catalog(),
                zone: tollgate_core::time::BusinessZone::UTC,
                clock: Arc::new(At(NOW)),
                edge: Arc::new(EdgeLink {
                    secret: EdgeSecret::new("edge").unwrap(),
                    url: None,
                    outbound: Arc::new(Accepting::default()),
                }),
            }),
            revoke_keys_on_cancel: false,
        },
        reads: Reads { store: store.clone(), catalog: Catalog::default_catalog() },
    }
}

fn event(id: &str, event_type: &str, object: serde_json::Value) -> Vec<u8> {
    serde_json::json!({"id": id, "object": "event", "api_version": tollgate_core::STRIPE_API_VERSION,
        "created": NOW.0, "data": {"object": object}, "livemode": false, "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null}, "type": event_type})
    .to_string()
    .into_bytes()
}

/// Delivers `payload` signed as Stripe signs it, then runs the processor on what it queued.
async fn deliver_and_process(app: &Events, payload: &[u8]) -> bool {
    let signature = sign(&WebhookSecret::parse(SECRET).unwrap(), NOW, payload);
    let ingested = app.ingest.ingest_stripe(Some(&signature), payload).await.unwrap();
    let store = &app.processor.store;
    for delivery in store.receive(QueueName::Events, 10).await.unwrap() {
        if app.processor.process(&delivery).await.is_ok() {
            store.ack(&delivery).await.unwrap();
        }
    }
    ingested.duplicate
}

#[tokio::test]
async fn a_paid_invoice_reaches_the_ledger_once_and_a_bad_signature_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let app = events(&store);
    let alice = AccountId::parse("user_alice").unwrap();
    let checkout = event(
        "evt_checkout",
        "checkout.session.completed",
        serde_json::json!({"id": "cs_1", "object": "checkout.session", "client_reference_id": "user_alice",
            "customer": "cus_alice", "mode": "subscription", "payment_status": "paid", "status": "complete",
            "metadata": {"account_id": "user_alice", "sku": "api_pro"}}),
    );
    assert!(!deliver_and_process(&app, &checkout).await);
    let paid = event(
        "evt_paid",
        "invoice.paid",
        serde_json::json!({"id": "in_1", "object": "invoice", "customer": "cus_alice", "currency": "usd",
            "amount_due": 2999, "amount_paid": 2999, "status": "paid",
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1", "metadata": {}}},
            "payments": {"object": "list", "data": [{"object": "invoice_payment", "payment": {"type": "payment_intent", "payment_intent": "pi_1"}}]}}),
    );
    assert!(!deliver_and_process(&app, &paid).await);
    assert!(deliver_and_process(&app, &paid).await, "the second delivery is a duplicate");
    let payments: Vec<i64> = app
        .reads
        .ledger(&alice)
        .await
        .unwrap()
        .iter()
        .filter(|entry| entry.kind == EntryKind::Payment)
        .map(|entry| entry.amount.amount)
        .collect();
    assert_eq!(payments, [2999], "one payment, however often it was delivered");

    let forged = sign(&WebhookSecret::parse("whsec_someone_else").unwrap(), NOW, &paid);
    assert!(app.ingest.ingest_stripe(Some(&forged), &paid).await.is_err());
    assert!(store.receive(QueueName::Events, 10).await.unwrap().is_empty(), "nothing was queued");
}

#[tokio::test]
async fn a_refund_before_its_payment_is_held_back_for_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let app = events(&store);
    let refund = event(
        "evt_refund",
        "charge.refunded",
        serde_json::json!({"id": "ch_1", "object": "charge", "customer": "cus_nobody", "amount": 2999,
            "amount_refunded": 2999, "currency": "usd", "payment_intent": "pi_unknown", "refunded": true}),
    );
    deliver_and_process(&app, &refund).await;
    assert!(
        store.receive(QueueName::Events, 10).await.unwrap().is_empty(),
        "the refund waits out its backoff, neither applied nor visible at once"
    );
    let record = app.reads.recent_events(10).await.unwrap();
    assert_eq!(record[0].status.as_str(), "queued", "not applied: its payment has not arrived");
}

#[tokio::test]
async fn keys_are_found_by_their_hash_and_revoked_by_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = Arc::new(Accepting::default());
    let edge = EdgeLink { secret: EdgeSecret::new("edge").unwrap(), url: None, outbound };
    let app = Keys {
        store: store(&dir),
        catalog: Catalog::default_catalog(),
        zone: tollgate_core::time::BusinessZone::UTC,
        clock: Arc::new(At(NOW)),
        edge: Arc::new(edge),
    };
    let (owner, other) = (AccountId::parse("user_owner").unwrap(), AccountId::parse("user_other").unwrap());
    let created = app.create_key(&owner, KeyMode::Test).await.unwrap();
    let hash = ApiKey::parse(&created.key).unwrap().hash();
    let listed = app.list_keys(&owner).await.unwrap();
    assert_eq!((listed.len(), listed[0].prefix.as_str()), (1, created.prefix.as_str()));
    let record = app.key_record(&hash).await.unwrap().expect("the key is known by its hash");
    assert_eq!((record.account_id.as_str(), record.revoked), ("user_owner", false));
    assert_eq!(record.limits.monthly_requests, Some(100), "a new account is on the free plan");

    assert!(matches!(app.revoke_key(&other, &created.id).await, Err(KeysError::NoSuchKey)), "not another's key");
    assert!(!app.key_record(&hash).await.unwrap().unwrap().revoked);
    app.revoke_key(&owner, &created.id).await.unwrap();
    assert!(app.key_record(&hash).await.unwrap().unwrap().revoked);
    let unknown = KeyId::parse("key_unknown").unwrap();
    assert!(matches!(app.revoke_key(&owner, &unknown).await, Err(KeysError::NoSuchKey)));
}

/// A workflow endpoint that accepts every start and keeps what it was sent.
#[derive(Default)]
struct Accepting(Mutex<Vec<serde_json::Value>>);

impl Outbound for Accepting {
    fn post(&self, request: OutboundRequest) -> Answer<'_> {
        self.0.lock().unwrap().push(serde_json::from_slice(&request.body).unwrap_or_default());
        Box::pin(async { Ok(202) })
    }

    fn post_reading(&self, request: OutboundRequest) -> tollgate_app::ports::outbound::Replied<'_> {
        let status = self.post(request);
        Box::pin(async move { Ok(tollgate_app::ports::outbound::Reply { status: status.await?, body: Vec::new() }) })
    }

    fn probe<'a>(&'a self, _url: &'a str, _timeout: std::time::Duration) -> Answer<'a> {
        Box::pin(async { Ok(200) })
    }
}

#[tokio::test]
async fn a_due_workflow_starts_once_within_its_caps_and_its_callback_counts_its_earnings() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let secret = WorkflowSecret::new("a-workflow-secret-of-32-bytes!!!").unwrap();
    let mut settings = Settings::defaults(secret, "https://api.example.com".into());
    settings.caps = Caps { daily_starts: 40, concurrent: 1 };
    let endpoint = Arc::new(Accepting::default());
    let outbound = Arc::clone(&endpoint) as Arc<dyn Outbound>;
    let orchestrator = Orchestrator {
        store: store.clone(),
        clock: Arc::new(At(NOW)),
        settings,
        outbound: Arc::clone(&outbound),
        deliveries: Arc::clone(&outbound),
        metrics: Arc::new(LoggedMetrics),
        alerting: Alerting { outbound, webhook: None },
        revenue_checked: Default::default(),
    };
    for id in ["first", "second"] {
        let spec = WorkflowSpec {
            id: WorkflowId::parse(id).unwrap(),
            name: id.into(),
            webhook_url: WebhookUrl::parse("https://n8n.example.com/webhook/x").unwrap(),
            // Registered at midnight, so first due at the next one.
            schedule: Some(Schedule::parse("0 0 * * *", "UTC").unwrap()),
            enabled: true,
            premium: false,
            timeout_s: 300,
            sell: None,
        };
        orchestrator.register(spec).await.unwrap();
    }
    // Registered at NOW, first due a day later: tick then.
    let later = Orchestrator { clock: Arc::new(At(Timestamp(NOW.0 + 86_400))), ..orchestrator };
    let report = later.tick().await.unwrap();
    assert_eq!(report.started.len(), 1, "one at a time: the concurrency cap is 1");
    assert!(later.tick().await.unwrap().started.is_empty(), "nothing starts twice, nor past the cap");

    for delivery in store.receive(QueueName::Runs, 10).await.unwrap() {
        later.start_run(&delivery).await.unwrap();
        store.ack(&delivery).await.unwrap();
    }
    let start = endpoint.0.lock().unwrap()[0].clone();
    let run_id = start["runId"].as_str().unwrap().to_owned();
    let callback_url = start["callbackUrl"].as_str().unwrap();
    let token = callback_url.split("token=").nth(1).unwrap().to_owned();
    let body = serde_json::json!({"workflowId": start["workflowId"], "status": "completed", "earnings": 2.50,
        "timestamp": "2026-12-08T00:00:05Z", "metadata": {}})
    .to_string();
    let answer = later.callback(&run_id, Some(&token), body.as_bytes()).await.unwrap();
    assert_eq!((answer.status, answer.applied), (RunStatus::Completed, true));
    let again = later.callback(&run_id, Some(&token), body.as_bytes()).await.unwrap();
    assert!(!again.applied, "a second callback counts nothing");
    let workflow = AccountId::parse(&format!("workflow:{}", start["workflowId"].as_str().unwrap())).unwrap();
    let reads = Reads { store, catalog: Catalog::default_catalog() };
    let earned: Vec<i64> = reads.ledger(&workflow).await.unwrap().iter().map(|e| e.amount.amount).collect();
    assert_eq!(earned, [250], "the brief's dollars, read exactly, once");
    assert!(later.callback(&run_id, Some("f00d"), body.as_bytes()).await.is_err(), "a wrong token is refused");
}

/// Stripe's meter: refuses the first `failures` reports as unavailable, keeps the rest.
struct Meter {
    failures: Mutex<u32>,
    reported: Mutex<Vec<MeterEvent>>,
}

impl MeterEvents for Meter {
    fn report(&self, event: MeterEvent) -> Reported<'_> {
        let mut failures = self.failures.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return Box::pin(async {
                Err(MeterEventsError::from(PortError::new(ErrorKind::Transient, "Stripe is down")))
            });
        }
        self.reported.lock().unwrap().push(event);
        Box::pin(async { Ok(()) })
    }
}

/// `account` on API Pro since a day before `NOW`: the period's start.
async fn subscribe_to_pro(store: &Sqlite, account: &AccountId) -> Timestamp {
    let period_start = Timestamp(NOW.0 - 86_400);
    let pro = Subscription {
        id: SubscriptionId::parse(&format!("sub_{account}")).unwrap(),
        sku: Sku::parse("api_pro").unwrap(),
        kind: SubscriptionKind::ApiPlan,
        tier: "pro".into(),
        status: SubscriptionStatus("active".into()),
        current_period_start: Some(period_start),
        current_period_end: Some(Timestamp(period_start.0 + 30 * 86_400)),
        event_created: period_start,
    };
    store.apply_subscription(account, &pro).await.unwrap();
    period_start
}

/// The usage meter over `store` at `NOW`, reporting to `stripe`.
fn usage_meter(store: &Sqlite, catalog: Catalog, stripe: &Arc<Meter>) -> UsageMeter<Sqlite> {
    UsageMeter {
        store: store.clone(),
        catalog,
        zone: tollgate_core::time::BusinessZone::UTC,
        clock: Arc::new(At(NOW)),
        retry: DEFAULT_RETRY,
        stripe: Some(Arc::clone(stripe) as Arc<dyn MeterEvents>),
        alerting: Alerting { outbound: Arc::new(Accepting::default()), webhook: None },
        low_balance: tollgate_core::money::Micros(1_000_000),
    }
}

#[tokio::test]
async fn a_batch_past_the_quota_is_billed_once_and_alerts_once_however_often_it_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let alice = AccountId::parse("user_alice").unwrap();
    store.link_customer(&alice, Some(&CustomerId::parse("cus_alice").unwrap()), None).await.unwrap();
    let period_start = subscribe_to_pro(&store, &alice).await;
    let key = KeyId::parse("key_alice").unwrap();
    let batch = |id: &str, calls: u64| UsageBatch {
        id: id.into(),
        key_id: key.clone(),
        account_id: alice.clone(),
        period_start,
        calls,
        credits: 0,
        units: Vec::new(),
        balance_spent: tollgate_core::money::Micros(0),
    };
    store.add_batch(&batch("key_alice.1", 9_450), NOW).await.unwrap();
    let meter = Arc::new(Meter { failures: Mutex::new(1), reported: Mutex::default() });
    let usage_meter = usage_meter(&store, Catalog::default_catalog(), &meter);
    store.send(QueueName::Usage, &serde_json::to_string(&batch("key_alice.2", 600)).unwrap()).await.unwrap();
    let delivery = store.receive(QueueName::Usage, 1).await.unwrap().remove(0);
    assert!(usage_meter.meter_delivery(&delivery).await.is_err(), "Stripe down: left for a retry");
    for _ in 0..2 {
        usage_meter.meter_delivery(&delivery).await.unwrap();
    }
    let usage = store.key_usage(&alice, Some(&key), period_start).await.unwrap();
    assert_eq!(usage.account_calls, 10_050, "counted once");
    let reported: Vec<(String, u64)> =
        meter.reported.lock().unwrap().iter().map(|event| (event.event_name.clone(), event.value)).collect();
    assert_eq!(reported, [("api_requests".to_owned(), 50)], "the overage past 10,000, once, to the catalog's meter");
    let alerts: Vec<String> = store.alerts(10).await.unwrap().into_iter().map(|alert| alert.id).collect();
    assert_eq!(alerts, [format!("quota:user_alice:{}:95", period_start.0)], "the batch crossed 95 %, once");
}

#[tokio::test]
async fn a_meter_past_its_quota_is_billed_under_its_own_event_name_once_per_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let bob = AccountId::parse("user_bob").unwrap();
    store.link_customer(&bob, Some(&CustomerId::parse("cus_bob").unwrap()), None).await.unwrap();
    let text = tollgate_core::catalog::DEFAULT_CATALOG.replacen(
        "overage = \"bill\"\nunit_amount_decimal = \"0.4\"\n",
        "overage = \"bill\"\nunit_amount_decimal = \"0.4\"\n\n[sku.limits.renders]\nquota = 10\nper = \"day\"\noverage = \"bill\"\nunit_amount_decimal = \"25\"\n",
        1,
    ) + "\n[[meter]]\nname = \"renders\"\ndisplay = \"Renders\"\nunit = \"render\"\n\n[[route]]\nprefix = \"/v1/renders\"\nmeter = \"renders\"\ncost = 1\n";
    let catalog = Catalog::parse(&text).unwrap();
    let period_start = subscribe_to_pro(&store, &bob).await;
    let renders = MeterName::parse("renders").unwrap();
    let today = NOW.start_of_utc_day();
    let batch = |id: &str, units: u64| UsageBatch {
        id: id.into(),
        key_id: KeyId::parse("key_bob").unwrap(),
        account_id: bob.clone(),
        period_start,
        calls: 0,
        credits: 0,
        units: vec![MeterUnits { meter: renders.clone(), window_start: today, units }],
        balance_spent: tollgate_core::money::Micros(0),
    };
    let meter = Arc::new(Meter { failures: Mutex::new(0), reported: Mutex::default() });
    let usage_meter = usage_meter(&store, catalog, &meter);
    for (id, units) in [("key_bob.1", 8), ("key_bob.2", 5), ("key_bob.2", 5)] {
        store.send(QueueName::Usage, &serde_json::to_string(&batch(id, units)).unwrap()).await.unwrap();
        let delivery = store.receive(QueueName::Usage, 1).await.unwrap().remove(0);
        usage_meter.meter_delivery(&delivery).await.unwrap();
    }
    assert_eq!(store.meter_usage(&bob, &renders, today).await.unwrap(), 13, "the redelivered batch counted once");
    let reported: Vec<(String, u64, String)> = meter
        .reported
        .lock()
        .unwrap()
        .iter()
        .map(|event| (event.event_name.clone(), event.value, event.identifier.clone()))
        .collect();
    assert_eq!(
        reported,
        [("tollgate_renders".to_owned(), 3, "tollgate-usage-key_bob.2-renders".to_owned())],
        "the 3 renders past 10, once, to the meter's own event"
    );
    let mut alerts: Vec<String> = store.alerts(10).await.unwrap().into_iter().map(|alert| alert.id).collect();
    alerts.sort();
    let alert = |percent| format!("quota:user_bob:renders:{}:{percent}", today.0);
    assert_eq!(alerts, [alert(70), alert(85), alert(95)]);
}

/// Stripe's event list: one page of what it holds, newest first.
struct Listed(Vec<(String, Timestamp)>);

impl StripeEvents for Listed {
    fn event<'a>(&'a self, _: &'a EventId) -> Paid<'a, Option<String>> {
        Box::pin(async { Ok(None) })
    }

    fn events<'a>(&'a self, _: &'a [&'a str], _: Timestamp, _: Option<&'a str>) -> Paid<'a, EventPage> {
        let events =
            self.0.iter().map(|(payload, created)| ListedEvent { payload: payload.clone(), created: *created });
        Box::pin(async move { Ok(EventPage { events: events.collect(), next: None }) })
    }
}

#[tokio::test]
async fn reconciliation_takes_in_what_no_webhook_delivered_once_and_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let app = events(&store);
    let delivered =
        event("evt_delivered", "customer.created", serde_json::json!({"id": "cus_1", "object": "customer"}));
    let missed = event("evt_missed", "customer.created", serde_json::json!({"id": "cus_2", "object": "customer"}));
    deliver_and_process(&app, &delivered).await;
    let text = |payload: &[u8]| String::from_utf8(payload.to_vec()).unwrap();
    let stripe = Arc::new(Listed(vec![(text(&missed), NOW), (text(&delivered), NOW)]));
    let reconciler = Reconciler {
        store: store.clone(),
        clock: Arc::new(At(NOW)),
        stripe: stripe as Arc<dyn StripeEvents>,
        alerting: Alerting { outbound: Arc::new(Accepting::default()), webhook: None },
    };
    let found = reconciler.reconcile(Some(3_600)).await.unwrap();
    assert_eq!((found.listed, found.new, found.already_had), (2, 1, 1));
    let queued = store.receive(QueueName::Events, 10).await.unwrap();
    assert_eq!(queued.len(), 1, "only the missed event is queued");
    assert!(queued[0].body.contains("evt_missed"));
    assert_eq!(reconciler.reconcile(Some(3_600)).await.unwrap().new, 0, "a second run finds nothing new");
    let alerts = store.alerts(10).await.unwrap();
    assert_eq!(alerts.iter().filter(|alert| alert.kind.as_str() == "missed_events").count(), 1);
}

/// Stripe's Checkout: one customer per idempotency key, and the sessions asked for.
#[derive(Default)]
struct Stripe {
    customers: Mutex<Vec<String>>,
    sessions: Mutex<Vec<(String, u32)>>,
}

impl Checkouts for Stripe {
    fn create_customer<'a>(&'a self, _: &'a AccountId, idempotency_key: &'a str) -> Paid<'a, CustomerId> {
        let mut customers = self.customers.lock().unwrap();
        if !customers.iter().any(|key| key == idempotency_key) {
            customers.push(idempotency_key.to_owned());
        }
        let id = format!("cus_{}", customers.iter().position(|key| key == idempotency_key).unwrap());
        Box::pin(async move { Ok(CustomerId::parse(&id).unwrap()) })
    }

    fn price_for<'a>(&'a self, lookup_key: &'a str) -> Paid<'a, Option<String>> {
        Box::pin(async move { Ok(Some(format!("price_{lookup_key}"))) })
    }

    fn create_session<'a>(&'a self, session: &'a NewSession, _: &'a str) -> Paid<'a, Session> {
        self.sessions.lock().unwrap().push((session.price_id.clone(), session.quantity));
        Box::pin(async { Ok(Session { id: "cs_1".into(), url: "https://checkout.stripe.com/c/cs_1".into() }) })
    }

    fn create_portal<'a>(&'a self, _: &'a CustomerId, return_url: &'a str) -> Paid<'a, String> {
        Box::pin(async move { Ok(format!("https://billing.stripe.com/p?return={return_url}")) })
    }
}

#[tokio::test]
async fn checkouts_share_one_customer_and_stop_at_the_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let stripe = Arc::new(Stripe::default());
    let checkout = Checkout {
        store: store(&dir),
        catalog: Catalog::default_catalog(),
        clock: Arc::new(At(NOW)),
        stripe: Arc::clone(&stripe) as Arc<dyn Checkouts>,
        settings: CheckoutSettings {
            redirects: RedirectAllowList::new("https://app.example.com"),
            success_url: "https://app.example.com/thanks".into(),
            cancel_url: "https://app.example.com/pricing".into(),
            portal_return_url: "https://app.example.com/account".into(),
            per_minute: 4,
            zone: tollgate_core::time::BusinessZone::UTC,
        },
    };
    let alice = AccountId::parse("user_alice").unwrap();
    let request = |sku: &str| CheckoutRequest::new(Some(sku), None, None, None, None).unwrap();
    assert!(matches!(checkout.portal(&alice).await, Err(CheckoutError::NoCustomer)), "no customer before a checkout");
    checkout.checkout(&alice, request("api_pro")).await.unwrap();
    checkout.checkout(&alice, request("member_basic")).await.unwrap();
    assert_eq!(stripe.customers.lock().unwrap().len(), 1, "one customer for the account");
    let prices: Vec<String> = stripe.sessions.lock().unwrap().iter().map(|(price, _)| price.clone()).collect();
    assert_eq!(prices, ["price_api_pro_monthly", "price_member_basic_monthly"]);
    assert!(matches!(checkout.checkout(&alice, request("no_such_sku")).await, Err(CheckoutError::UnknownSku)));
    let limited = checkout.checkout(&alice, request("api_pro")).await;
    assert!(matches!(limited, Err(CheckoutError::RateLimited { .. })), "the fifth request of the minute");
}
