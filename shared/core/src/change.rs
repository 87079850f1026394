//! What an event means for tollgate: the domain change it asks for.

use crate::account::{Subscription, SubscriptionKind, SubscriptionStatus};
use crate::catalog::{Catalog, Grant};
use crate::ids::{AccountId, CustomerId, Sku, SubscriptionId};
use crate::ledger::{Payment, PaymentSource};
use crate::money::{Cents, Currency};
use crate::stripe::{Event, at, id_of, integer, text};
use crate::time::Timestamp;
use serde_json::Value;
use thiserror::Error;

/// Who an object belongs to: our account id when the object carries it in its
/// metadata, else the Stripe customer, resolved through the link made at checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// The object names our account (and maybe its customer, to link for later events).
    Account {
        /// Our account id, from the object's metadata.
        account: AccountId,
        /// The object's Stripe customer, if it has one.
        customer: Option<CustomerId>,
    },
    /// Only the Stripe customer is known.
    Customer(CustomerId),
}

/// The domain change an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A checkout finished: link the account to its Stripe customer and referrer.
    CheckoutCompleted {
        /// The Checkout Session: a checkout started is counted by it, and completed by it.
        session_id: String,
        /// The buyer (`client_reference_id` or `metadata.account_id`).
        account: AccountId,
        /// The Stripe customer the checkout used or created.
        customer: Option<CustomerId>,
        /// The referrer, from `metadata.referral_code`.
        referred_by: Option<AccountId>,
        /// A one-off product bought in `payment` mode, to grant and fulfill.
        purchase: Option<Purchased>,
        /// The subscription a `subscription`-mode session started: a workflow subscription's
        /// instance is named by it.
        subscription: Option<SubscriptionId>,
    },
    /// A subscription was created, changed or deleted.
    Subscription {
        /// Whose subscription it is.
        owner: Owner,
        /// Its new state.
        subscription: Subscription,
    },
    /// A subscription invoice was paid.
    InvoicePaid {
        /// Who paid.
        owner: Owner,
        /// What was paid, filed under its payment intent (or the invoice).
        payment: Payment,
        /// The referral code our checkout put on the subscription, copied to its invoices: the
        /// first invoice is often paid before `checkout.session.completed` links the referrer.
        referred_by: Option<AccountId>,
    },
    /// A subscription invoice failed: the subscription is past due.
    InvoicePaymentFailed {
        /// Whose invoice it is.
        owner: Owner,
        /// The subscription the invoice is for.
        subscription: SubscriptionId,
        /// The event's `created`, for the staleness guard.
        event_created: Timestamp,
    },
    /// A one-off sale (a product or credits bought in a payment-mode checkout).
    Sale {
        /// Who bought.
        owner: Owner,
        /// What was paid, filed under its payment intent.
        payment: Payment,
    },
    /// Some of a payment was refunded.
    Refund {
        /// The payment intent and/or invoice the refunded charge belongs to.
        payment_refs: Vec<String>,
        /// Stripe's running total of what was refunded (`amount_refunded`).
        refunded_total: i64,
        /// The whole charge is refunded: what it bought is taken back.
        full: bool,
    },
    /// A connected account (Stripe Connect, Express) tollgate made for a partner changed:
    /// whether Stripe now lets it receive payouts.
    Payee {
        /// The partner, from the connected account's `metadata.account_id`.
        account: AccountId,
        /// The connected account, `acct_…`.
        connect_account: String,
        /// Stripe's `payouts_enabled`.
        payouts_enabled: bool,
        /// The event's `created`: an older update never overwrites a newer one.
        as_of: Timestamp,
    },
    /// Nothing to do, and why.
    Skip(String),
}

/// A one-off product bought at checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchased {
    /// The Checkout Session (`cs_…`): the purchase's id.
    pub session_id: String,
    /// What was bought.
    pub sku: Sku,
    /// How many.
    pub quantity: u32,
    /// The payment intent, what a refund names (the session when Stripe gives none).
    pub payment_ref: String,
    /// The buyer's email from the session's customer details, for the fulfillment webhook
    /// (an n8n flow that emails the download link).
    pub email: Option<String>,
}

/// The event lacks what tollgate needs to apply it. It is recorded as `failed` with this reason.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Unusable(pub String);

fn missing(what: &str) -> Unusable {
    Unusable(format!("missing {what}"))
}

/// The event types tollgate acts on: what a webhook endpoint subscribes to and what
/// reconciliation lists. Every other type is recorded and skipped.
pub const HANDLED_EVENT_TYPES: [&str; 9] = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
    "payment_intent.succeeded",
    "charge.refunded",
    "account.updated",
];

/// Reads what `event` asks of tollgate.
pub fn interpret(event: &Event, catalog: &Catalog) -> Result<Change, Unusable> {
    let object = &event.object;
    match event.event_type.as_str() {
        "checkout.session.completed" => checkout_completed(object, catalog),
        "customer.subscription.created" | "customer.subscription.updated" | "customer.subscription.deleted" => {
            subscription(object, event, catalog)
        }
        "invoice.paid" => invoice_paid(object, catalog),
        "invoice.payment_failed" => invoice_payment_failed(object, event.created),
        "payment_intent.succeeded" => payment_intent_succeeded(object),
        "charge.refunded" => charge_refunded(object),
        "account.updated" => account_updated(object, event.created),
        other => Ok(Change::Skip(format!("{other} is not an event tollgate acts on"))),
    }
}

fn account_in(object: &Value, path: &[&str]) -> Result<Option<AccountId>, Unusable> {
    text(object, path)
        .map(|id| AccountId::parse_user(&id).map_err(|e| Unusable(format!("{}: {e}", path.join(".")))))
        .transpose()
}

fn customer_of(object: &Value) -> Result<Option<CustomerId>, Unusable> {
    id_of(object, &["customer"])
        .map(|id| CustomerId::parse(&id).map_err(|e| Unusable(format!("customer: {e}"))))
        .transpose()
}

fn owner(object: &Value, account_paths: &[&[&str]]) -> Result<Owner, Unusable> {
    let mut account = None;
    for path in account_paths {
        if let Some(found) = account_in(object, path)? {
            account = Some(found);
            break;
        }
    }
    match (account, customer_of(object)?) {
        (Some(account), customer) => Ok(Owner::Account { account, customer }),
        (None, Some(customer)) => Ok(Owner::Customer(customer)),
        (None, None) => Err(Unusable("neither metadata.account_id nor a customer says whose it is".into())),
    }
}

fn money(object: &Value, amount_field: &str) -> Result<Cents, Unusable> {
    let amount = integer(object, &[amount_field]).ok_or_else(|| missing(amount_field))?;
    let currency = text(object, &["currency"]).ok_or_else(|| missing("currency"))?;
    let currency = Currency::parse(&currency).map_err(|e| Unusable(e.to_string()))?;
    Ok(Cents::new(amount, currency))
}

fn checkout_completed(session: &Value, catalog: &Catalog) -> Result<Change, Unusable> {
    let account = match account_in(session, &["client_reference_id"])? {
        Some(account) => account,
        None => account_in(session, &["metadata", "account_id"])?
            .ok_or_else(|| missing("client_reference_id and metadata.account_id"))?,
    };
    // A referral code is the referrer's account id; one that is not an id is ignored, not fatal.
    let referred_by = text(session, &["metadata", "referral_code"])
        .and_then(|code| AccountId::parse_user(&code).ok())
        .filter(|referrer| referrer != &account);
    Ok(Change::CheckoutCompleted {
        session_id: text(session, &["id"]).ok_or_else(|| missing("checkout session id"))?,
        account,
        customer: customer_of(session)?,
        referred_by,
        purchase: purchased(session, catalog)?,
        subscription: id_of(session, &["subscription"]).and_then(|id| SubscriptionId::parse(&id).ok()),
    })
}

/// The product a `payment`-mode session bought, named by our checkout's `metadata.sku`.
fn purchased(session: &Value, catalog: &Catalog) -> Result<Option<Purchased>, Unusable> {
    if text(session, &["mode"]).as_deref() != Some("payment") {
        return Ok(None);
    }
    let Some(sku) = text(session, &["metadata", "sku"]).and_then(|sku| Sku::parse(&sku).ok()) else { return Ok(None) };
    // One-off products, credits and balance top-ups are purchases; plans arrive as subscriptions.
    if !matches!(
        catalog.by_sku(&sku).map(|item| &item.grant),
        Some(Grant::Product { .. } | Grant::Credits { .. } | Grant::Balance { .. })
    ) {
        return Ok(None);
    }
    let session_id = text(session, &["id"]).ok_or_else(|| missing("checkout session id"))?;
    let payment_ref = id_of(session, &["payment_intent"]).unwrap_or_else(|| session_id.clone());
    // A session's quantity is on its line items, which webhooks do not include; our metadata carries it.
    let quantity = text(session, &["metadata", "quantity"]).and_then(|q| q.parse().ok()).unwrap_or(1);
    let email = text(session, &["customer_details", "email"]).or_else(|| text(session, &["customer_email"]));
    Ok(Some(Purchased { session_id, sku, quantity, payment_ref, email }))
}

fn subscription(object: &Value, event: &Event, catalog: &Catalog) -> Result<Change, Unusable> {
    let id = text(object, &["id"]).ok_or_else(|| missing("subscription id"))?;
    let id = SubscriptionId::parse(&id).map_err(|e| Unusable(e.to_string()))?;
    let items = at(object, &["items", "data"]).and_then(Value::as_array).ok_or_else(|| missing("items.data"))?;
    let (item, catalog_item) = items
        .iter()
        .find_map(|item| {
            let key =
                text(item, &["price", "lookup_key"]).or_else(|| text(item, &["plan", "metadata", "lookup_key"]))?;
            catalog.by_lookup_key(&key).map(|found| (item, found))
        })
        .ok_or_else(|| Unusable("no subscription item has a price whose lookup_key is in the catalog".into()))?;
    let (kind, tier) = match &catalog_item.grant {
        Grant::ApiPlan { tier, .. } => (SubscriptionKind::ApiPlan, tier.clone()),
        Grant::Membership { tier, .. } => (SubscriptionKind::Membership, tier.clone()),
        Grant::WorkflowSubscription { workflow, .. } => (SubscriptionKind::WorkflowSubscription, workflow.to_string()),
        _ => {
            return Err(Unusable(format!("{} is not sold as a subscription", catalog_item.sku)));
        }
    };
    let status = if event.event_type == "customer.subscription.deleted" {
        SubscriptionStatus::CANCELED.to_owned()
    } else {
        text(object, &["status"]).ok_or_else(|| missing("status"))?
    };
    // Current API versions put the period on the item; older ones on the subscription.
    let period = |field: &str| integer(item, &[field]).or_else(|| integer(object, &[field])).map(Timestamp);
    Ok(Change::Subscription {
        owner: owner(object, &[&["metadata", "account_id"]])?,
        subscription: Subscription {
            id,
            sku: catalog_item.sku.clone(),
            kind,
            tier,
            status: SubscriptionStatus(status),
            current_period_start: period("current_period_start"),
            current_period_end: period("current_period_end"),
            event_created: event.created,
        },
    })
}

const INVOICE_ACCOUNT_PATHS: [&[&str]; 3] = [
    &["parent", "subscription_details", "metadata", "account_id"],
    &["subscription_details", "metadata", "account_id"],
    &["metadata", "account_id"],
];

const INVOICE_REFERRAL_PATHS: [&[&str]; 3] = [
    &["parent", "subscription_details", "metadata", "referral_code"],
    &["subscription_details", "metadata", "referral_code"],
    &["metadata", "referral_code"],
];

const INVOICE_SKU_PATHS: [&[&str]; 3] = [
    &["parent", "subscription_details", "metadata", "sku"],
    &["subscription_details", "metadata", "sku"],
    &["metadata", "sku"],
];

/// What an invoice paid for: our checkout's `sku` on the subscription's metadata (copied to
/// the invoice), else the first line whose price carries a catalog lookup key (older API
/// versions expand the price on the line).
fn invoice_sku(invoice: &Value, catalog: &Catalog) -> Option<Sku> {
    let from_metadata =
        INVOICE_SKU_PATHS.iter().find_map(|path| text(invoice, path)).and_then(|sku| Sku::parse(&sku).ok());
    from_metadata.filter(|sku| catalog.by_sku(sku).is_some()).or_else(|| {
        let lines = at(invoice, &["lines", "data"]).and_then(Value::as_array)?;
        lines.iter().find_map(|line| {
            let key = text(line, &["price", "lookup_key"])
                .or_else(|| text(line, &["pricing", "price_details", "lookup_key"]))?;
            catalog.by_lookup_key(&key).map(|item| item.sku.clone())
        })
    })
}

fn invoice_paid(invoice: &Value, catalog: &Catalog) -> Result<Change, Unusable> {
    let invoice_id = text(invoice, &["id"]).ok_or_else(|| missing("invoice id"))?;
    let amount = money(invoice, "amount_paid")?;
    if amount.amount <= 0 {
        return Ok(Change::Skip("the invoice was for nothing (a trial or a zero amount)".into()));
    }
    // Refunds name the charge's payment intent, so the payment is filed under it when the
    // API version says which one paid the invoice; current versions list it in `payments`.
    let payment_intent = id_of(invoice, &["payment_intent"]).or_else(|| {
        at(invoice, &["payments", "data"])
            .and_then(Value::as_array)
            .and_then(|payments| payments.iter().find_map(|p| id_of(p, &["payment", "payment_intent"])))
    });
    let owner = owner(invoice, &INVOICE_ACCOUNT_PATHS)?;
    // As at checkout: a code that is not an id, or names the payer, is ignored.
    let referred_by = INVOICE_REFERRAL_PATHS
        .iter()
        .find_map(|path| text(invoice, path))
        .and_then(|code| AccountId::parse_user(&code).ok())
        .filter(|referrer| !matches!(&owner, Owner::Account { account, .. } if account == referrer));
    Ok(Change::InvoicePaid {
        owner,
        referred_by,
        payment: Payment {
            payment_ref: payment_intent.unwrap_or(invoice_id),
            amount,
            sku: invoice_sku(invoice, catalog),
            source: PaymentSource::Subscription,
        },
    })
}

fn invoice_payment_failed(invoice: &Value, event_created: Timestamp) -> Result<Change, Unusable> {
    let Some(subscription) = id_of(invoice, &["parent", "subscription_details", "subscription"])
        .or_else(|| id_of(invoice, &["subscription"]))
    else {
        return Ok(Change::Skip("the invoice is not for a subscription".into()));
    };
    let subscription = SubscriptionId::parse(&subscription).map_err(|e| Unusable(e.to_string()))?;
    Ok(Change::InvoicePaymentFailed { owner: owner(invoice, &INVOICE_ACCOUNT_PATHS)?, subscription, event_created })
}

fn payment_intent_succeeded(intent: &Value) -> Result<Change, Unusable> {
    if id_of(intent, &["invoice"]).is_some() {
        return Ok(Change::Skip("it paid an invoice, which invoice.paid counts".into()));
    }
    // Our checkout puts the account on one-off payment intents; subscription payments
    // carry no such metadata on current API versions, and invoice.paid counts them.
    let Some(account) = account_in(intent, &["metadata", "account_id"])? else {
        return Ok(Change::Skip("no metadata.account_id: not a one-off sale of tollgate's".into()));
    };
    let id = text(intent, &["id"]).ok_or_else(|| missing("payment intent id"))?;
    let amount = match integer(intent, &["amount_received"]) {
        Some(received) if received > 0 => Cents::new(received, money(intent, "amount")?.currency),
        _ => money(intent, "amount")?,
    };
    Ok(Change::Sale {
        owner: Owner::Account { account, customer: customer_of(intent)? },
        payment: Payment {
            payment_ref: id,
            amount,
            sku: text(intent, &["metadata", "sku"]).and_then(|sku| Sku::parse(&sku).ok()),
            source: PaymentSource::Sale,
        },
    })
}

fn account_updated(account: &Value, as_of: Timestamp) -> Result<Change, Unusable> {
    // Our onboarding names the partner on every connected account it creates.
    let Some(partner) = account_in(account, &["metadata", "account_id"])? else {
        return Ok(Change::Skip("no metadata.account_id: not a connected account tollgate made".into()));
    };
    let connect_account = text(account, &["id"]).ok_or_else(|| missing("account id"))?;
    let payouts_enabled = at(account, &["payouts_enabled"]).and_then(Value::as_bool).unwrap_or(false);
    Ok(Change::Payee { account: partner, connect_account, payouts_enabled, as_of })
}

fn charge_refunded(charge: &Value) -> Result<Change, Unusable> {
    let refunded_total = integer(charge, &["amount_refunded"]).ok_or_else(|| missing("amount_refunded"))?;
    let payment_refs: Vec<String> =
        [id_of(charge, &["payment_intent"]), id_of(charge, &["invoice"])].into_iter().flatten().collect();
    if payment_refs.is_empty() {
        return Err(missing("payment_intent and invoice on the charge"));
    }
    let amount = integer(charge, &["amount"]).unwrap_or(i64::MAX);
    let full = charge.get("refunded").and_then(Value::as_bool).unwrap_or(false) || refunded_total >= amount;
    Ok(Change::Refund { payment_refs, refunded_total, full })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(event_type: &str, object: Value) -> Event {
        let body =
            json!({"id": "evt_1", "object": "event", "type": event_type, "created": 100, "data": {"object": object}});
        Event::parse(body.to_string().as_bytes()).unwrap()
    }

    fn read(event_type: &str, object: Value) -> Result<Change, Unusable> {
        interpret(&event(event_type, object), &Catalog::default_catalog())
    }

    fn subscription_object(period_on_item: bool) -> Value {
        let mut item = json!({"id": "si_1", "price": {"id": "price_1", "lookup_key": "api_pro_monthly"}});
        let mut sub = json!({"id": "sub_1", "customer": "cus_1", "status": "active", "metadata": {"account_id": "acct_1"},
                             "items": {"object": "list", "data": []}});
        let target = if period_on_item { &mut item } else { &mut sub };
        target["current_period_start"] = json!(1_000);
        target["current_period_end"] = json!(2_000);
        sub["items"]["data"] = json!([item]);
        sub
    }

    #[test]
    fn every_handled_type_is_acted_on_and_no_other() {
        let skipped = |event_type: &str| matches!(read(event_type, json!({})), Ok(Change::Skip(reason)) if reason.contains("not an event tollgate acts on"));
        assert!(HANDLED_EVENT_TYPES.iter().all(|event_type| !skipped(event_type)));
        assert!(skipped("customer.created"));
    }

    #[test]
    fn a_subscription_reads_its_plan_from_the_lookup_key_and_its_period_from_either_version() {
        for period_on_item in [true, false] {
            let Change::Subscription { owner, subscription } =
                read("customer.subscription.updated", subscription_object(period_on_item)).unwrap()
            else {
                panic!("not a subscription change")
            };
            assert!(matches!(owner, Owner::Account { account, .. } if account.as_str() == "acct_1"));
            assert_eq!((subscription.kind, subscription.tier.as_str()), (SubscriptionKind::ApiPlan, "pro"));
            assert_eq!(subscription.current_period_start, Some(Timestamp(1_000)));
            assert_eq!(subscription.event_created, Timestamp(100));
        }
    }

    #[test]
    fn a_deleted_subscription_is_canceled() {
        let Ok(Change::Subscription { subscription, .. }) =
            read("customer.subscription.deleted", subscription_object(true))
        else {
            panic!()
        };
        assert_eq!(subscription.status.0, "canceled");
    }

    #[test]
    fn a_price_outside_the_catalog_is_unusable_with_the_reason() {
        let mut object = subscription_object(true);
        object["items"]["data"][0]["price"]["lookup_key"] = json!("someone_elses");
        let error = read("customer.subscription.created", object).unwrap_err();
        assert!(error.0.contains("lookup_key"), "{error}");
    }

    #[test]
    fn checkout_links_the_account_and_the_referrer_but_never_a_self_referral() {
        let session = json!({"id": "cs_1", "client_reference_id": "acct_1", "customer": "cus_1", "metadata": {"referral_code": "acct_ref"}});
        assert_eq!(
            read("checkout.session.completed", session).unwrap(),
            Change::CheckoutCompleted {
                session_id: "cs_1".into(),
                account: AccountId::parse("acct_1").unwrap(),
                customer: Some(CustomerId::parse("cus_1").unwrap()),
                referred_by: Some(AccountId::parse("acct_ref").unwrap()),
                purchase: None,
                subscription: None,
            }
        );
        let own = json!({"id": "cs_1", "metadata": {"account_id": "acct_1", "referral_code": "acct_1"}});
        assert!(matches!(
            read("checkout.session.completed", own),
            Ok(Change::CheckoutCompleted { referred_by: None, .. })
        ));
        assert!(read("checkout.session.completed", json!({"id": "cs_1"})).is_err());
        assert!(read("checkout.session.completed", json!({"client_reference_id": "acct_1"})).is_err(), "no id");
    }

    #[test]
    fn an_invoice_is_filed_under_its_payment_intent_in_old_and_new_versions() {
        let old = json!({"id": "in_1", "customer": "cus_1", "amount_paid": 2999, "currency": "usd", "payment_intent": "pi_1"});
        let new = json!({"id": "in_1", "customer": "cus_1", "amount_paid": 2999, "currency": "usd",
                         "payments": {"data": [{"payment": {"type": "payment_intent", "payment_intent": "pi_1"}}]}});
        for invoice in [old, new] {
            let Ok(Change::InvoicePaid { payment, .. }) = read("invoice.paid", invoice) else { panic!() };
            assert_eq!((payment.payment_ref.as_str(), payment.amount.amount), ("pi_1", 2999));
        }
        let bare = json!({"id": "in_2", "customer": "cus_1", "amount_paid": 100, "currency": "usd"});
        let Ok(Change::InvoicePaid { payment, referred_by, .. }) = read("invoice.paid", bare) else { panic!() };
        assert_eq!((payment.payment_ref.as_str(), referred_by), ("in_2", None));
    }

    #[test]
    fn an_invoice_names_the_referrer_its_subscription_was_sold_with() {
        let invoice = |code: &str| {
            json!({"id": "in_1", "amount_paid": 2999, "currency": "usd", "parent": {"subscription_details": {
                "subscription": "sub_1", "metadata": {"account_id": "user_b", "referral_code": code}}}})
        };
        let Ok(Change::InvoicePaid { referred_by, .. }) = read("invoice.paid", invoice("user_a")) else { panic!() };
        assert_eq!(referred_by.as_ref().map(AccountId::as_str), Some("user_a"));
        let Ok(Change::InvoicePaid { referred_by, .. }) = read("invoice.paid", invoice("user_b")) else { panic!() };
        assert_eq!(referred_by, None, "nobody refers themselves");
        let Ok(Change::InvoicePaid { referred_by, .. }) = read("invoice.paid", invoice("not an id!")) else { panic!() };
        assert_eq!(referred_by, None);
    }

    #[test]
    fn an_invoice_without_amount_or_owner_is_unusable() {
        assert!(read("invoice.paid", json!({"id": "in_1", "customer": "cus_1", "currency": "usd"})).is_err());
        assert!(read("invoice.paid", json!({"id": "in_1", "amount_paid": 5, "currency": "usd"})).is_err());
    }

    #[test]
    fn payment_failed_finds_the_subscription_in_old_and_new_versions() {
        for invoice in [
            json!({"id": "in_1", "customer": "cus_1", "subscription": "sub_1"}),
            json!({"id": "in_1", "customer": "cus_1", "parent": {"subscription_details": {"subscription": "sub_1"}}}),
        ] {
            assert!(matches!(read("invoice.payment_failed", invoice), Ok(Change::InvoicePaymentFailed { .. })));
        }
    }

    #[test]
    fn only_our_one_off_payment_intents_are_sales() {
        let sale = json!({"id": "pi_1", "amount": 999, "amount_received": 999, "currency": "usd", "metadata": {"account_id": "acct_1"}});
        assert!(matches!(read("payment_intent.succeeded", sale), Ok(Change::Sale { .. })));
        let invoice = json!({"id": "pi_2", "amount": 999, "currency": "usd", "invoice": "in_1", "metadata": {"account_id": "acct_1"}});
        assert!(matches!(read("payment_intent.succeeded", invoice), Ok(Change::Skip(_))));
        let foreign = json!({"id": "pi_3", "amount": 999, "currency": "usd", "metadata": {}});
        assert!(matches!(read("payment_intent.succeeded", foreign), Ok(Change::Skip(_))));
    }

    #[test]
    fn a_refund_names_its_payment_and_running_total() {
        let charge =
            json!({"id": "ch_1", "amount": 2999, "amount_refunded": 1000, "currency": "usd", "payment_intent": "pi_1"});
        assert_eq!(
            read("charge.refunded", charge).unwrap(),
            Change::Refund { payment_refs: vec!["pi_1".into()], refunded_total: 1000, full: false }
        );
    }

    #[test]
    fn other_types_are_skipped_with_a_reason() {
        assert!(matches!(read("customer.created", json!({"id": "cus_1"})), Ok(Change::Skip(_))));
    }

    #[test]
    fn a_payment_mode_checkout_of_a_product_is_a_purchase() {
        let session = json!({"id": "cs_9", "mode": "payment", "client_reference_id": "acct_1", "payment_intent": "pi_9",
                             "metadata": {"account_id": "acct_1", "sku": "template_budget_tracker", "quantity": "2"}});
        let Ok(Change::CheckoutCompleted { purchase: Some(purchase), .. }) =
            read("checkout.session.completed", session)
        else {
            panic!()
        };
        assert_eq!(
            (purchase.session_id.as_str(), purchase.payment_ref.as_str(), purchase.quantity),
            ("cs_9", "pi_9", 2)
        );
        let credits = json!({"id": "cs_7", "mode": "payment", "client_reference_id": "acct_1", "payment_intent": "pi_7",
                             "metadata": {"account_id": "acct_1", "sku": "credits_1000"}});
        assert!(matches!(
            read("checkout.session.completed", credits),
            Ok(Change::CheckoutCompleted { purchase: Some(Purchased { quantity: 1, .. }), .. })
        ));
        let plan = json!({"id": "cs_8", "mode": "subscription", "client_reference_id": "acct_1", "metadata": {"sku": "api_pro"}});
        assert!(matches!(
            read("checkout.session.completed", plan),
            Ok(Change::CheckoutCompleted { purchase: None, .. })
        ));
    }

    #[test]
    fn a_refund_is_full_when_the_whole_charge_is_refunded() {
        let partial =
            json!({"id": "ch_1", "amount": 1000, "amount_refunded": 400, "refunded": false, "payment_intent": "pi_1"});
        let full =
            json!({"id": "ch_1", "amount": 1000, "amount_refunded": 1000, "refunded": true, "payment_intent": "pi_1"});
        assert!(matches!(read("charge.refunded", partial), Ok(Change::Refund { full: false, .. })));
        assert!(matches!(read("charge.refunded", full), Ok(Change::Refund { full: true, .. })));
    }
}
