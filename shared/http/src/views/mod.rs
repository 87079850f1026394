//! What the API answers: types of its own, apart from the domain's and from the records
//! the adapters store, so a stored field can change without changing the API, and a
//! renamed API field is a visible change here and in `docs/openapi.json`. Each answer is
//! built from the use case's result by a `From`; none serializes a domain type.

mod buyers;
mod customer_runs;
mod keys;
mod operator;
mod payouts;
mod webhooks;
mod workflows;

pub use buyers::{
    CatalogItemView, CatalogView, CheckoutLinkView, EntitlementsView, PlanMeterView, PlanView, PortalLink, PremiumView,
    PremiumWorkflowView, PurchaseList, PurchaseView,
};
pub use customer_runs::{
    AcceptedRun, ChargedView, CustomerRunList, CustomerRunView, DeliveryList, DeliveryView, OfferList, OfferView,
    RunLinks,
};
pub use keys::{
    AccountBalanceView, KeyList, KeyRecordView, KeyView, LimitsView, MeLimitsView, MeterView, NewKeyView, PeriodView,
    RevokedKey, StandingView, UsageAccepted,
};
pub use operator::{
    AccountDetail, ActivityItemView, ActivityView, AdvancedView, AlertList, AlertView, DayView, EventList, EventView,
    LedgerLine, LedgerList, MetricsView, ReconcileView, ReferralList, ReplayView, StreamTicket, WorkflowFiguresView,
};
pub use payouts::{
    BalanceView, FailedView, OnboardingLink, PaidOutView, PayoutLine, PayoutRunView, PayoutsView, SkippedView,
};
pub use webhooks::{CallbackView, NewWebhookEndpointView, StripeReceipt, WebhookEndpointView};
pub use workflows::{RunList, RunView, ScheduleView, TotalsView, WorkflowList, WorkflowView};

/// Unix seconds, as every answer writes a time.
fn seconds(at: tollgate_core::time::Timestamp) -> i64 {
    at.0
}

#[cfg(test)]
mod tests {
    //! Each answer, field for field, as the API has always written it (the same JSON the
    //! domain's own serialization gave before the views existed): a change here is a
    //! change of the API, to be made on purpose.

    use super::*;
    use serde_json::{Value, json};
    use tollgate_app::callback::CallbackAnswer;
    use tollgate_app::checkout::CheckoutLink;
    use tollgate_app::ingest::Ingested;
    use tollgate_app::keys::{NewKey, Standing};
    use tollgate_app::metrics::{DayFigures, Metrics, PeriodRevenue, TierCount, WorkflowFigures};
    use tollgate_app::ports::api_keys::StoredKey;
    use tollgate_app::ports::event_log::{EventRecord, EventStatus};
    use tollgate_app::ports::purchases::{Delivery, Purchase};
    use tollgate_core::account::AccountView;
    use tollgate_core::alert::{Alert, AlertKind, AlertState};
    use tollgate_core::api_key::KeyHash;
    use tollgate_core::entitlements::Entitlements;
    use tollgate_core::ids::{AccountId, CustomerId, EventId, KeyId, RunId, Sku, WorkflowId};
    use tollgate_core::ledger::{EntryKind, LedgerEntry};
    use tollgate_core::metering::{KeyRecord, Limits, Period};
    use tollgate_core::meters::{MeterLimit, MeterName, Overage, Per, Route, UnitPrice};
    use tollgate_core::money::{Cents, Currency, Micros};
    use tollgate_core::quota::{AccountTerms, CountedMeter, Funds};
    use tollgate_core::time::{BusinessZone, Timestamp};
    use tollgate_core::usage::MeterStanding;
    use tollgate_core::workflow::{Durations, RunStatus};

    fn json_of(value: impl serde::Serialize) -> Value {
        serde_json::to_value(value).unwrap()
    }

    fn account() -> AccountId {
        AccountId::parse("user_42").unwrap()
    }

    fn key_id() -> KeyId {
        KeyId::parse("key_0a1b").unwrap()
    }

    const LIMITS: Limits = Limits { monthly_requests: Some(10_000), requests_per_minute: 60, overage: false };
    const PERIOD: Period = Period { start: Timestamp(1_796_083_200), end: Timestamp(1_798_761_600) };

    #[test]
    fn the_operator_answers() {
        let event = EventRecord {
            id: EventId::parse("evt_1").unwrap(),
            event_type: "invoice.paid".into(),
            status: EventStatus::Failed,
            received_at: Timestamp(1_796_000_000),
            detail: Some("no customer".into()),
        };
        assert_eq!(
            json_of(EventView::from(&event)),
            json!({"id": "evt_1", "type": "invoice.paid", "status": "failed", "received_at": 1_796_000_000, "detail": "no customer"})
        );
        let alert = Alert {
            id: "alert_1".into(),
            kind: AlertKind::Quota,
            account_id: Some(account()),
            subject: "user_42".into(),
            workflow_id: None,
            message: "85% of the quota".into(),
            created_at: Timestamp(1_796_000_001),
            status: tollgate_core::alert::AlertStatus::default(),
        };
        assert_eq!(
            json_of(AlertView::from(&alert)),
            json!({"id": "alert_1", "kind": "quota", "account_id": "user_42", "subject": "user_42",
                   "workflow_id": null, "message": "85% of the quota", "created_at": 1_796_000_001,
                   "state": "open", "note": null, "state_changed_at": null})
        );
        let resolved =
            alert.moved(AlertState::Resolved, Some("raised the quota".into()), Timestamp(1_796_000_060)).unwrap();
        let view = json_of(AlertView::from(&resolved));
        assert_eq!(
            (&view["state"], &view["note"], &view["state_changed_at"]),
            (&json!("resolved"), &json!("raised the quota"), &json!(1_796_000_060))
        );
        let metrics = Metrics {
            currency: "usd",
            revenue_by_day: vec![DayFigures {
                day: "2026-11-30".into(),
                starts: 3,
                completed: 2,
                failed: 1,
                revenue_cents: 250,
                subscriptions_cents: 2_999,
                sales_cents: -999,
                checkouts_started: 4,
                checkouts_completed: 3,
                conversion_bp: Some(7_500),
                active_accounts: 9,
            }],
            revenue_by_hour: vec![PeriodRevenue { period: "2026-11-30T13:00:00Z".into(), revenue_cents: 2_000 }],
            revenue_by_month: vec![PeriodRevenue { period: "2026-11".into(), revenue_cents: 12_000 }],
            active_accounts_30d: 15,
            workflows: vec![WorkflowFigures {
                workflow_id: WorkflowId::parse("daily").unwrap(),
                runs: 3,
                completed: 2,
                failed: 1,
                error_rate_bp: 3_333,
                revenue_cents: 250,
                durations: Some(Durations { mean_seconds: 42, p95_seconds: 90 }),
                sold: None,
            }],
            active_subscriptions: 4,
            subscriptions_by_tier: vec![TierCount { kind: "api_plan", tier: "pro".into(), active: 4 }],
            mrr_cents: 11_996,
        };
        assert_eq!(
            json_of(MetricsView::from(&metrics)),
            json!({"currency": "usd", "daily_run_cap": null, "concurrent_run_cap": null,
                   "revenue_by_day": [{"day": "2026-11-30", "starts": 3, "completed": 2, "failed": 1, "revenue_cents": 250,
                                       "subscriptions_cents": 2_999, "sales_cents": -999, "checkouts_started": 4,
                                       "checkouts_completed": 3, "conversion_bp": 7_500, "active_accounts": 9}],
                   "revenue_by_hour": [{"period": "2026-11-30T13:00:00Z", "revenue_cents": 2_000}],
                   "revenue_by_month": [{"period": "2026-11", "revenue_cents": 12_000}],
                   "active_accounts_30d": 15,
                   "workflows": [{"workflow_id": "daily", "runs": 3, "completed": 2, "failed": 1, "error_rate_bp": 3_333, "revenue_cents": 250,
                                  "mean_seconds": 42, "p95_seconds": 90}],
                   "active_subscriptions": 4, "subscriptions_by_tier": [{"kind": "api_plan", "tier": "pro", "active": 4}],
                   "mrr_cents": 11_996})
        );
        let view = AccountView {
            account_id: account(),
            stripe_customer_id: Some(CustomerId::parse("cus_1").unwrap()),
            plan: "pro".into(),
            membership: None,
            subscription_status: Some("active".into()),
            current_period_start: Some(PERIOD.start),
            current_period_end: Some(PERIOD.end),
            referred_by: None,
        };
        assert_eq!(
            json_of(AccountDetail::from(&view)),
            json!({"account_id": "user_42", "stripe_customer_id": "cus_1", "plan": "pro", "membership": null,
                   "subscription_status": "active", "current_period_start": 1_796_083_200,
                   "current_period_end": 1_798_761_600, "referred_by": null})
        );
        let entry = LedgerEntry {
            id: "commission:pi_1".into(),
            account: account(),
            kind: EntryKind::Commission,
            amount: Cents::new(580, Currency::parse("usd").unwrap()),
            payment_ref: "pi_1".into(),
            event_id: "evt_1".into(),
            at: Timestamp(1_796_083_300),
            source: None,
        };
        assert_eq!(
            json_of(LedgerLine::from(&entry)),
            json!({"id": "commission:pi_1", "kind": "commission", "amount_cents": 580, "currency": "usd",
                   "event_id": "evt_1", "payment_ref": "pi_1", "at": 1_796_083_300, "source": null})
        );
    }

    #[test]
    fn the_buyer_answers() {
        let purchase = Purchase {
            id: "cs_1".into(),
            account_id: account(),
            sku: Sku::parse("course").unwrap(),
            quantity: 2,
            payment_ref: "pi_1".into(),
            delivery: Delivery::NotNeeded,
            revoked: false,
            created_at: Timestamp(1_796_000_002),
            download_url: Some("https://files.example.com/course.zip".into()),
        };
        assert_eq!(
            json_of(PurchaseView::from(&purchase)),
            json!({"id": "cs_1", "account_id": "user_42", "sku": "course", "quantity": 2, "payment_ref": "pi_1",
                   "delivery": "not_needed", "revoked": false, "created_at": 1_796_000_002,
                   "download_url": "https://files.example.com/course.zip"})
        );
        let revoked = PurchaseView::from(&Purchase { revoked: true, ..purchase });
        assert_eq!(revoked.download_url, None, "a refunded purchase's link is not shown");
        let open = Entitlements {
            membership: Some("pro".into()),
            all_premium_workflows: false,
            premium_workflows: vec![WorkflowId::parse("daily").unwrap()],
            premium_limit: Some(3),
            community: true,
            api_plan: Some(Sku::parse("api_pro").unwrap()),
            priority_support: false,
        };
        assert_eq!(
            json_of(EntitlementsView::from(&open)),
            json!({"membership": "pro", "all_premium_workflows": false, "premium_workflows": ["daily"],
                   "community": true, "api_plan": "api_pro", "priority_support": false})
        );
        let link = CheckoutLink { id: "cs_2".into(), url: "https://checkout.stripe.com/c/pay/cs_2".into() };
        assert_eq!(
            json_of(CheckoutLinkView::from(link)),
            json!({"id": "cs_2", "url": "https://checkout.stripe.com/c/pay/cs_2"})
        );
    }

    #[test]
    fn the_key_answers() {
        let new = NewKey { id: key_id(), key: "tg_live_secret".into(), prefix: "tg_live_sec".into() };
        assert_eq!(
            json_of(NewKeyView::from(new)),
            json!({"id": "key_0a1b", "key": "tg_live_secret", "prefix": "tg_live_sec"})
        );
        let stored = StoredKey {
            id: key_id(),
            account_id: account(),
            hash: KeyHash::parse(&"ab".repeat(32)).unwrap(),
            prefix: "tg_live_sec".into(),
            created_at: Timestamp(1_796_000_003),
            revoked_at: Some(Timestamp(1_796_000_004)),
            last_used_at: None,
        };
        assert_eq!(
            json_of(KeyView::from(&stored)),
            json!({"id": "key_0a1b", "prefix": "tg_live_sec", "created_at": 1_796_000_003, "last_used_at": null,
                   "revoked_at": 1_796_000_004})
        );
        assert_eq!(
            json_of(RevokedKey::new(&stored, true)),
            json!({"id": "key_0a1b", "revoked_at": 1_796_000_004, "edge_notified": true})
        );
        let standing = Standing {
            account_id: account(),
            plan: "pro".into(),
            billing_period: PERIOD,
            limits: LIMITS,
            used: 1_200,
            remaining: Some(8_800),
            credits: 0,
            meters: vec![MeterStanding {
                meter: MeterName::requests(),
                unit: "request".into(),
                used: 1_200,
                quota: Some(10_000),
                per: Per::Period,
                resets_at: PERIOD.end,
                remaining: Some(8_800),
                overage: "bill",
                can_use: true,
            }],
            balance: Micros(1_234_567),
            currency: Currency::parse("usd").unwrap(),
        };
        let meter = json!({"meter": "requests", "unit": "request", "used": 1_200, "quota": 10_000, "per": "period",
                           "resets_at": 1_798_761_600, "remaining": 8_800, "overage": "bill"});
        assert_eq!(
            json_of(StandingView::from(&standing)),
            json!({"account_id": "user_42", "plan": "pro",
                   "billing_period": {"start": 1_796_083_200, "end": 1_798_761_600},
                   "limits": {"monthly_requests": 10_000, "requests_per_minute": 60, "overage": false},
                   "used": 1_200, "remaining": 8_800, "credits": 0, "meters": [meter.clone()],
                   "balance": {"amount": 123, "amount_micros": 1_234_567, "currency": "usd"}})
        );
        assert_eq!(
            json_of(MeLimitsView::from(&standing)),
            json!({"meters": {"requests": meter}, "can_use": {"requests": true}})
        );
        assert_eq!(json_of(UsageAccepted { accepted: vec!["b1".into()] }), json!({"accepted": ["b1"]}));
    }

    /// The edge reads this answer as core's `KeyRecord`: whatever the origin writes, the
    /// Worker reads back the same record.
    #[test]
    fn the_edge_reads_back_the_key_record_the_origin_writes() {
        let record = KeyRecord {
            key_id: key_id(),
            account_id: account(),
            revoked: false,
            limits: Limits { monthly_requests: None, ..LIMITS },
            period: PERIOD,
            used_elsewhere: 7,
            key_used: 3,
            key_credits_spent: 2,
            credits: Some(40),
            account: Some(AccountTerms {
                zone: BusinessZone::parse("America/La_Paz").unwrap(),
                period: PERIOD,
                routes: vec![Route {
                    prefix: "/v1/messages".into(),
                    meter: MeterName::parse("messages").unwrap(),
                    cost: std::num::NonZeroU64::new(2).unwrap(),
                }],
                meters: vec![CountedMeter {
                    meter: MeterName::parse("messages").unwrap(),
                    limit: MeterLimit {
                        quota: Some(50),
                        per: Per::Day,
                        overage: Overage::Balance(UnitPrice { decimal: "5".into(), micros: Micros(50_000) }),
                    },
                    window_start: PERIOD.start,
                    counted: 12,
                }],
                funds: Funds {
                    balance_granted: Micros(5_000_000),
                    balance_spent: Micros(150_000),
                    credits_granted: 3,
                    credits_spent: 1,
                },
                currency: Currency::parse("usd").unwrap(),
            }),
        };
        let read: KeyRecord = serde_json::from_value(json_of(KeyRecordView::from(&record))).unwrap();
        assert_eq!(read, record);
    }

    #[test]
    fn the_webhook_answers() {
        let ingested = Ingested { event_id: EventId::parse("evt_2").unwrap(), duplicate: true };
        assert_eq!(
            json_of(StripeReceipt::from(&ingested)),
            json!({"received": true, "id": "evt_2", "duplicate": true})
        );
        let answer =
            CallbackAnswer { run_id: RunId::parse("run_9").unwrap(), status: RunStatus::Completed, applied: false };
        assert_eq!(
            json_of(CallbackView::from(&answer)),
            json!({"run_id": "run_9", "status": "completed", "applied": false})
        );
    }
}
