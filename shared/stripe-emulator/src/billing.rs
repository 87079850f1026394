//! What moves money on the emulated Stripe, and the events each step makes in the order
//! Stripe makes them: a Checkout Session paid, a subscription renewed or ended, an invoice
//! paid or failed, a refund, a connected account onboarded, a transfer.

use crate::failure::Failure;
use crate::fixtures::{self, set};
use crate::store::{State, new_id};
use chrono::{DateTime, Months};
use serde_json::{Map, Value, json};
use tollgate_app::ports::stripe_time::Advanced;

/// Stripe's test cards, by what they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    /// `4242 4242 4242 4242`: every payment succeeds.
    Pays,
    /// `4000 0000 0000 0341`: saved at checkout, and every later payment fails.
    FailsLater,
    /// `4000 0000 0000 0002`: declined.
    Declined,
}

impl Card {
    pub fn read(number: &str) -> Option<Self> {
        let digits: String = number.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        match digits.as_str() {
            "4242424242424242" => Some(Self::Pays),
            "4000000000000341" => Some(Self::FailsLater),
            "4000000000000002" => Some(Self::Declined),
            _ => None,
        }
    }

    fn last4(self) -> &'static str {
        match self {
            Self::Pays => "4242",
            Self::FailsLater => "0341",
            Self::Declined => "0002",
        }
    }
}

pub const DECLINED: &str = "Your card was declined.";

/// A `unit_amount_decimal` is read in units of 10^-12 minor units: Stripe takes at most 12
/// decimal places, so every price it takes is exact here.
pub const DECIMAL_SCALE: i128 = 1_000_000_000_000;

/// A non-negative decimal of at most 12 places, times [`DECIMAL_SCALE`]; `None` otherwise
/// or when it is past any price Stripe takes.
pub fn read_decimal(text: &str) -> Option<i128> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 12 || fraction.len() > 12 || !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole: i128 = whole.parse().ok()?;
    let fraction: i128 = format!("{fraction:0<12}").parse().ok()?;
    Some(whole * DECIMAL_SCALE + fraction)
}

/// `quantity` units at `unit_amount_decimal`, rounded to the nearest minor unit (half up),
/// as Stripe rounds a metered line.
fn metered_amount(quantity: i64, decimal: &str) -> i64 {
    let scaled = read_decimal(decimal).unwrap_or(0).saturating_mul(i128::from(quantity));
    i64::try_from((scaled + DECIMAL_SCALE / 2) / DECIMAL_SCALE).unwrap_or(i64::MAX)
}

/// Whether a price is billed by usage rather than by quantity.
pub fn is_metered(price: &Value) -> bool {
    price["recurring"]["usage_type"] == "metered"
}

/// The usage a metered item's meter summed for `customer` from `start` through `end`, each
/// event invoiced once: an event at the very second of a renewal is counted by that one.
fn take_metered_usage(state: &mut State, customer: &str, price: &Value, start: i64, end: i64) -> i64 {
    let Some(meter) = state.find("billing.meter", price["recurring"]["meter"].as_str().unwrap_or_default()).cloned()
    else {
        return 0;
    };
    let customer_key = meter["customer_mapping"]["event_payload_key"].as_str().unwrap_or("stripe_customer_id");
    let value_key = meter["value_settings"]["event_payload_key"].as_str().unwrap_or("value");
    let due: Vec<(String, i64)> = state
        .newest_first("billing.meter_event")
        .filter(|event| event["event_name"] == meter["event_name"] && event["payload"][customer_key] == customer)
        .filter(|event| event["timestamp"].as_i64().is_some_and(|at| start <= at && at <= end))
        .filter_map(|event| {
            let identifier = event["identifier"].as_str()?.to_owned();
            let value = event["payload"][value_key].as_str()?.parse::<i64>().ok()?;
            Some((identifier, value))
        })
        .filter(|(identifier, _)| !state.private.contains_key(&format!("invoiced:{identifier}")))
        .collect();
    let mut used = 0_i64;
    for (identifier, value) in due {
        *state.private(&format!("invoiced:{identifier}")) = json!(true);
        used = used.saturating_add(value);
    }
    used
}

/// The end of the period of `interval` (`month`, `year`, `week`, `day`) that starts at `start`:
/// calendar months and years, as Stripe bills them.
pub fn period_end(start: i64, interval: &str, count: u32) -> i64 {
    let Some(from) = DateTime::from_timestamp(start, 0) else { return start };
    let end = match interval {
        "year" => from.checked_add_months(Months::new(12 * count)),
        "week" => Some(from + chrono::Duration::weeks(i64::from(count))),
        "day" => Some(from + chrono::Duration::days(i64::from(count))),
        _ => from.checked_add_months(Months::new(count)),
    };
    end.map_or(start, |end| end.timestamp())
}

/// When an event about subscription `id` is created: now, but always after the last one
/// about it, so that "the newest event wins" orders them even within one second.
pub(crate) fn subscription_event_at(state: &mut State, id: &str, at: i64) -> i64 {
    let private = state.private(id);
    let next = private["last_event"].as_i64().map_or(at, |last| at.max(last + 1));
    private["last_event"] = json!(next);
    next
}

/// Saves the card a customer paid with, as their default payment method.
/// `fails`: later payments with it fail.
pub fn save_card(state: &mut State, customer: &str, card: Card, fails: bool) -> String {
    let method = new_id("pm");
    state.private(customer)["card"] = json!({"id": method, "last4": card.last4(), "fails": fails});
    if let Some(customer) = state.get_mut(customer) {
        customer["invoice_settings"]["default_payment_method"] = json!(method);
    }
    method
}

fn saved_card(state: &State, customer: &str) -> (Option<String>, bool) {
    let card = state.private.get(customer).map(|p| &p["card"]);
    let id = card.and_then(|c| c["id"].as_str()).map(str::to_owned);
    (id, card.and_then(|c| c["fails"].as_bool()).unwrap_or(false))
}

/// A payment intent and its charge for `amount` from `customer`'s saved card, paid or
/// failed; their events are made.
fn pay(state: &mut State, at: i64, customer: &str, amount: i64, currency: &str, metadata: &Value) -> (Value, bool) {
    let (method, fails) = saved_card(state, customer);
    let intent_id = new_id("pi");
    let charge_id = new_id("ch");
    let mut charge = fixtures::get("charge");
    set(
        &mut charge,
        json!({
            "id": charge_id, "amount": amount, "amount_captured": if fails { 0 } else { amount },
            "amount_refunded": 0, "captured": !fails, "paid": !fails, "refunded": false,
            "status": if fails { "failed" } else { "succeeded" }, "currency": currency, "customer": customer,
            "payment_intent": intent_id, "payment_method": method, "created": at, "metadata": metadata,
            "balance_transaction": if fails { Value::Null } else { json!(new_id("txn")) },
            "description": Value::Null, "receipt_url": Value::Null, "source": Value::Null,
            "failure_code": if fails { json!("card_declined") } else { Value::Null },
            "failure_message": if fails { json!(DECLINED) } else { Value::Null },
            "outcome": {
                "type": if fails { "issuer_declined" } else { "authorized" },
                "network_status": if fails { "declined_by_network" } else { "approved_by_network" },
                "reason": if fails { json!("generic_decline") } else { Value::Null },
                "risk_level": "normal", "seller_message": if fails { "The bank did not return any further details with this decline." } else { "Payment complete." },
                "advice_code": Value::Null, "network_advice_code": Value::Null, "network_decline_code": Value::Null
            },
            "refunds": {"object": "list", "data": [], "has_more": false, "url": format!("/v1/charges/{charge_id}/refunds")}
        }),
    );
    let mut intent = fixtures::get("payment_intent");
    set(
        &mut intent,
        json!({
            "id": intent_id, "amount": amount, "amount_received": if fails { 0 } else { amount },
            "currency": currency, "customer": customer, "metadata": metadata, "created": at,
            "client_secret": format!("{intent_id}_secret_{}", new_id("x").trim_start_matches("x_")),
            "status": if fails { "requires_payment_method" } else { "succeeded" },
            "latest_charge": charge_id, "payment_method": if fails { Value::Null } else { json!(method) },
            "last_payment_error": if fails {
                json!({"type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": DECLINED})
            } else { Value::Null },
            "canceled_at": Value::Null, "next_action": Value::Null, "processing": Value::Null,
            "transfer_data": Value::Null, "payment_method_configuration_details": Value::Null
        }),
    );
    state.insert(charge.clone());
    state.insert(intent.clone());
    state.emit("payment_intent.created", &intent, None, None, at);
    if fails {
        state.emit("charge.failed", &charge, None, None, at);
        state.emit("payment_intent.payment_failed", &intent, None, None, at);
    } else {
        state.emit("charge.succeeded", &charge, None, None, at);
        state.emit("payment_intent.succeeded", &intent, None, None, at);
    }
    (intent, !fails)
}

/// A subscription's invoice for its current period, finalized and charged to the saved
/// card: `invoice.created`, `invoice.finalized`, then `invoice.paid` and
/// `invoice.payment_succeeded`, or `invoice.payment_failed`. Says whether it was paid.
fn invoice_subscription(
    state: &mut State,
    at: i64,
    subscription: &Value,
    reason: &str,
    usage: Option<(i64, i64)>,
) -> (String, bool) {
    let item = &subscription["items"]["data"][0];
    let price = &item["price"];
    let quantity = item["quantity"].as_i64().unwrap_or(1);
    let flat = price["unit_amount"].as_i64().unwrap_or(0) * quantity;
    let currency = price["currency"].as_str().unwrap_or("usd").to_owned();
    let customer = subscription["customer"].as_str().unwrap_or_default().to_owned();
    let id = new_id("in");
    let number = state.newest_first("invoice").count() + 1;
    let (start, end) = (item["current_period_start"].clone(), item["current_period_end"].clone());
    let mut line = fixtures::get("invoice")["lines"]["data"][0].clone();
    set(
        &mut line,
        json!({
            "id": new_id("il"), "amount": flat, "subtotal": flat, "currency": currency, "invoice": id,
            "quantity": quantity, "period": {"start": start, "end": end}, "metadata": {},
            "description": format!("{quantity} × {} (at {} / {})", price["nickname"].as_str().or(price["lookup_key"].as_str()).unwrap_or("plan"), flat / quantity.max(1), price["recurring"]["interval"].as_str().unwrap_or("month")),
            "parent": {"type": "subscription_item_details", "invoice_item_details": Value::Null,
                "subscription_item_details": {"invoice_item": Value::Null, "proration": false, "proration_details": {"credited_items": Value::Null},
                    "subscription": subscription["id"], "subscription_item": item["id"]}},
            "pricing": {"type": "price_details", "price_details": {"price": price["id"], "product": price["product"]}, "unit_amount_decimal": price["unit_amount_decimal"]}
        }),
    );
    let mut lines = vec![line.clone()];
    // Metered items are billed in arrears: the usage of the period that just ended.
    if let Some((used_from, used_until)) = usage {
        let metered =
            subscription["items"]["data"].as_array().into_iter().flatten().filter(|item| is_metered(&item["price"]));
        for item in metered {
            let price = &item["price"];
            let used = take_metered_usage(state, &customer, price, used_from, used_until);
            let decimal = price["unit_amount_decimal"].as_str().unwrap_or("0");
            let amount = metered_amount(used, decimal);
            let mut metered_line = line.clone();
            set(
                &mut metered_line,
                json!({
                    "id": new_id("il"), "amount": amount, "subtotal": amount, "quantity": used,
                    "period": {"start": used_from, "end": used_until},
                    "description": format!("{used} × {} (at {decimal} / unit)", price["nickname"].as_str().or(price["lookup_key"].as_str()).unwrap_or("usage")),
                    "parent": {"type": "subscription_item_details", "invoice_item_details": Value::Null,
                        "subscription_item_details": {"invoice_item": Value::Null, "proration": false, "proration_details": {"credited_items": Value::Null},
                            "subscription": subscription["id"], "subscription_item": item["id"]}},
                    "pricing": {"type": "price_details", "price_details": {"price": price["id"], "product": price["product"]}, "unit_amount_decimal": decimal}
                }),
            );
            lines.push(metered_line);
        }
    }
    let amount = lines.iter().filter_map(|line| line["amount"].as_i64()).fold(0, i64::saturating_add);
    let mut invoice = fixtures::get("invoice");
    set(
        &mut invoice,
        json!({
            "id": id, "created": at, "customer": customer, "currency": currency, "status": "draft",
            "amount_due": amount, "amount_paid": 0, "amount_remaining": amount, "subtotal": amount,
            "subtotal_excluding_tax": amount, "total": amount, "total_excluding_tax": amount,
            "billing_reason": reason, "collection_method": "charge_automatically", "attempted": false,
            "attempt_count": 0, "auto_advance": true, "number": format!("EMU-{number:04}"),
            "period_start": start, "period_end": end, "effective_at": Value::Null, "due_date": Value::Null,
            "lines": {"object": "list", "data": lines, "has_more": false, "url": format!("/v1/invoices/{id}/lines")},
            "parent": {"type": "subscription_details", "quote_details": Value::Null,
                "subscription_details": {"metadata": subscription["metadata"], "subscription": subscription["id"]}},
            "payments": {"object": "list", "data": [], "has_more": false, "url": format!("/v1/invoices/{id}/payments")},
            "status_transitions": {"finalized_at": Value::Null, "paid_at": Value::Null, "marked_uncollectible_at": Value::Null, "voided_at": Value::Null},
            "metadata": {}, "last_finalization_error": Value::Null, "from_invoice": Value::Null,
            "hosted_invoice_url": Value::Null, "invoice_pdf": Value::Null, "next_payment_attempt": Value::Null,
            "webhooks_delivered_at": Value::Null, "test_clock": Value::Null, "automatically_finalizes_at": Value::Null,
            "default_payment_method": Value::Null, "discounts": [], "total_discount_amounts": []
        }),
    );
    if let Some(object) = invoice.as_object_mut() {
        // Moved under `parent` in current API versions.
        object.remove("subscription");
    }
    state.emit("invoice.created", &invoice, None, None, at);
    set(
        &mut invoice,
        json!({"status": "open", "effective_at": at, "status_transitions": {"finalized_at": at, "paid_at": Value::Null, "marked_uncollectible_at": Value::Null, "voided_at": Value::Null}}),
    );
    state.emit("invoice.finalized", &invoice, None, None, at);
    let (intent, paid) = pay(state, at, &customer, amount, &currency, &json!({}));
    set(&mut invoice, json!({"attempted": true, "attempt_count": 1}));
    if paid {
        set(
            &mut invoice,
            json!({
                "status": "paid", "amount_paid": amount, "amount_remaining": 0,
                "status_transitions": {"finalized_at": at, "paid_at": at, "marked_uncollectible_at": Value::Null, "voided_at": Value::Null},
                "payments": {"object": "list", "has_more": false, "url": format!("/v1/invoices/{id}/payments"), "data": [{
                    "object": "invoice_payment", "id": new_id("inpay"), "amount_paid": amount, "amount_requested": amount,
                    "currency": currency, "invoice": id, "is_default": true, "livemode": false, "created": at, "status": "paid",
                    "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
                    "status_transitions": {"canceled_at": Value::Null, "paid_at": at}}]}
            }),
        );
        state.insert(invoice.clone());
        state.emit("invoice.paid", &invoice, Some(json!({"status": "open"})), None, at);
        state.emit("invoice.payment_succeeded", &invoice, None, None, at);
    } else {
        state.insert(invoice.clone());
        state.emit("invoice.payment_failed", &invoice, None, None, at);
    }
    (id, paid)
}

/// `Pay` on a Checkout Session's page: the card is saved on the customer; a
/// `subscription` session starts the subscription with its first invoice paid, a `payment`
/// session charges once. `checkout.session.completed` comes last. Answers where to go next.
pub fn complete_checkout(state: &mut State, at: i64, session_id: &str, card: Card) -> Result<String, String> {
    let session = state.find("checkout.session", session_id).cloned().ok_or("No such Checkout Session.")?;
    if session["status"] != "open" {
        return Err("This Checkout Session is no longer open.".into());
    }
    if card == Card::Declined {
        return Err(DECLINED.into());
    }
    let line = state.private.get(session_id).cloned().unwrap_or_default();
    let price = state.find("price", line["price"].as_str().unwrap_or_default()).cloned().ok_or("The price is gone.")?;
    let customer = session["customer"].as_str().unwrap_or_default().to_owned();
    let quantity = line["quantity"].as_i64().unwrap_or(1);
    // 4000 0000 0000 0341 pays at checkout, and fails from the first renewal on.
    save_card(state, &customer, card, false);
    let mut completed = session.clone();
    if completed["customer_details"].is_null() {
        let email = state.find("customer", &customer).map_or(Value::Null, |found| found["email"].clone());
        completed["customer_details"] = json!({"email": email});
    }
    if session["mode"] == "subscription" {
        let metered: Vec<Value> = line["metered"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|id| state.find("price", id.as_str().unwrap_or_default()).cloned())
            .collect();
        let subscription =
            start_subscription(state, at, &customer, &price, quantity, &metered, &line["subscription_metadata"]);
        completed["subscription"] = json!(subscription["id"]);
        completed["invoice"] = subscription["latest_invoice"].clone();
    } else {
        let amount = price["unit_amount"].as_i64().unwrap_or(0) * quantity;
        let currency = price["currency"].as_str().unwrap_or("usd").to_owned();
        let (intent, paid) = pay(state, at, &customer, amount, &currency, &line["payment_intent_metadata"]);
        if !paid {
            return Err(DECLINED.into());
        }
        completed["payment_intent"] = intent["id"].clone();
    }
    if card == Card::FailsLater {
        state.private(&customer)["card"]["fails"] = json!(true);
    }
    set(&mut completed, json!({"status": "complete", "payment_status": "paid", "url": Value::Null}));
    if let Some(stored) = state.get_mut(session_id) {
        *stored = completed.clone();
    }
    state.emit("checkout.session.completed", &completed, None, None, at);
    let success = session["success_url"].as_str().unwrap_or("/").replace("{CHECKOUT_SESSION_ID}", session_id);
    Ok(success)
}

fn start_subscription(
    state: &mut State,
    at: i64,
    customer: &str,
    price: &Value,
    quantity: i64,
    metered: &[Value],
    metadata: &Value,
) -> Value {
    let id = new_id("sub");
    let interval = price["recurring"]["interval"].as_str().unwrap_or("month");
    let count = price["recurring"]["interval_count"].as_u64().unwrap_or(1) as u32;
    let end = period_end(at, interval, count);
    let items: Vec<Value> = std::iter::once(subscription_item(at, &id, price, Some(quantity), (at, end)))
        .chain(metered.iter().map(|price| subscription_item(at, &id, price, None, (at, end))))
        .collect();
    let mut subscription = fixtures::get("subscription");
    set(
        &mut subscription,
        json!({
            "id": id, "created": at, "start_date": at, "billing_cycle_anchor": at, "customer": customer,
            "currency": price["currency"], "status": "active", "metadata": metadata,
            "cancel_at": Value::Null, "canceled_at": Value::Null, "ended_at": Value::Null, "cancel_at_period_end": false,
            "cancellation_details": {"comment": Value::Null, "feedback": Value::Null, "reason": Value::Null},
            "items": {"object": "list", "data": items, "has_more": false, "total_count": items.len(), "url": format!("/v1/subscription_items?subscription={id}")},
            "latest_invoice": Value::Null, "schedule": Value::Null, "test_clock": Value::Null, "pending_update": Value::Null,
            "pause_collection": Value::Null, "trial_end": Value::Null, "trial_start": Value::Null, "discounts": [],
            "billing_cycle_anchor_config": Value::Null, "transfer_data": Value::Null, "description": Value::Null,
            "default_payment_method": state.private.get(customer).map(|p| p["card"]["id"].clone()).unwrap_or(Value::Null),
            "next_pending_invoice_item_invoice": Value::Null, "pending_invoice_item_interval": Value::Null,
            "pending_setup_intent": Value::Null, "application": Value::Null, "billing_thresholds": Value::Null
        }),
    );
    let created_at = subscription_event_at(state, &id, at);
    state.emit("customer.subscription.created", &subscription, None, None, created_at);
    let (invoice, paid) = invoice_subscription(state, at, &subscription, "subscription_create", None);
    subscription["latest_invoice"] = json!(invoice);
    if !paid {
        subscription["status"] = json!("incomplete");
    }
    state.insert(subscription.clone());
    let updated_at = subscription_event_at(state, &id, at);
    state.emit(
        "customer.subscription.updated",
        &subscription,
        Some(json!({"latest_invoice": Value::Null})),
        None,
        updated_at,
    );
    subscription
}

/// An item of subscription `subscription` for `price`; a metered one has no quantity.
pub fn subscription_item(
    at: i64,
    subscription: &str,
    price: &Value,
    quantity: Option<i64>,
    period: (i64, i64),
) -> Value {
    let mut item = fixtures::get("subscription_item");
    set(
        &mut item,
        json!({"id": new_id("si"), "created": at, "price": price, "quantity": quantity, "subscription": subscription,
            "metadata": {}, "current_period_start": period.0, "current_period_end": period.1,
            "discounts": [], "tax_rates": [], "billing_thresholds": Value::Null}),
    );
    item["plan"] = plan_of(price);
    if let Some(item) = item.as_object_mut()
        && quantity.is_none()
    {
        item.remove("quantity");
    }
    item
}

/// The legacy view of `price` that every subscription item still carries, as Stripe's typed
/// clients read it.
fn plan_of(price: &Value) -> Value {
    let mut plan = fixtures::get("subscription_item")["plan"].clone();
    set(
        &mut plan,
        json!({"id": price["id"], "active": price["active"], "amount": price["unit_amount"],
            "amount_decimal": price["unit_amount_decimal"], "billing_scheme": "per_unit", "created": price["created"],
            "currency": price["currency"], "interval": price["recurring"]["interval"],
            "interval_count": price["recurring"]["interval_count"], "livemode": false, "metadata": price["metadata"],
            "meter": price["recurring"]["meter"], "nickname": price["nickname"], "product": price["product"],
            "tiers_mode": Value::Null, "transform_usage": Value::Null, "trial_period_days": Value::Null,
            "usage_type": price["recurring"]["usage_type"]}),
    );
    plan
}

/// The live subscriptions — of `customer`, or all — whose period ends by `horizon`, with that end.
fn due(state: &State, horizon: i64, customer: Option<&str>) -> Vec<(String, i64)> {
    state
        .newest_first("subscription")
        .filter(|s| matches!(s["status"].as_str(), Some("active" | "past_due" | "trialing")))
        .filter(|s| customer.is_none_or(|customer| s["customer"] == customer))
        .filter_map(|s| {
            let end = s["items"]["data"][0]["current_period_end"].as_i64()?;
            (end <= horizon).then(|| (s["id"].as_str().unwrap_or_default().to_owned(), end))
        })
        .collect()
}

/// Whether a live subscription's period has ended by `at`: a renewal is due.
pub fn renewal_due(state: &State, at: i64) -> bool {
    !due(state, at, None).is_empty()
}

/// Renews (or ends, when cancelled at period end) every live subscription — of `customer`,
/// or all — whose period ends by `at + by` (every one once, without `by`); the new period
/// starts `at`.
pub fn renew_due(state: &mut State, at: i64, customer: Option<&str>, by: Option<i64>) -> Advanced {
    let horizon = by.map_or(i64::MAX, |by| at.saturating_add(by));
    let mut advanced = Advanced::default();
    for (id, end) in due(state, horizon, customer) {
        // Whatever of the span is left after the first period boundary may cover more periods.
        let mut left = if by.is_some() { horizon - end } else { -1 };
        for _ in 0..24 {
            let Some(next_end) = renew(state, at, &id, &mut advanced) else { break };
            left -= next_end - at;
            if left < 0 {
                break;
            }
        }
    }
    advanced
}

/// One renewal of `id`: the next period's invoice, or the end of a subscription cancelled
/// at period end. Answers the new period's end while the subscription lives on.
fn renew(state: &mut State, at: i64, id: &str, advanced: &mut Advanced) -> Option<i64> {
    let mut subscription = state.find("subscription", id)?.clone();
    advanced.renewed.push(id.to_owned());
    if subscription["cancel_at_period_end"] == true {
        set(&mut subscription, json!({"status": "canceled", "ended_at": at}));
        *state.get_mut(id)? = subscription.clone();
        let deleted_at = subscription_event_at(state, id, at);
        state.emit("customer.subscription.deleted", &subscription, None, None, deleted_at);
        return None;
    }
    let previous = json!({"status": subscription["status"], "latest_invoice": subscription["latest_invoice"], "items": subscription["items"]});
    if let Some(switch_to) = state.private(id).as_object_mut().and_then(|p| p.remove("switch_to"))
        && let Some(price) = state.find("price", switch_to.as_str().unwrap_or_default()).cloned()
    {
        subscription["items"]["data"][0]["plan"] = plan_of(&price);
        subscription["items"]["data"][0]["price"] = price;
        subscription["schedule"] = Value::Null;
    }
    let first = &subscription["items"]["data"][0];
    let used_from = first["current_period_start"].as_i64().unwrap_or(at);
    let interval = first["price"]["recurring"]["interval"].as_str().unwrap_or("month").to_owned();
    let count = first["price"]["recurring"]["interval_count"].as_u64().unwrap_or(1) as u32;
    let end = period_end(at, &interval, count);
    for item in subscription["items"]["data"].as_array_mut().into_iter().flatten() {
        set(item, json!({"current_period_start": at, "current_period_end": end}));
    }
    let (invoice, paid) = invoice_subscription(state, at, &subscription, "subscription_cycle", Some((used_from, at)));
    advanced.invoices.push(invoice.clone());
    set(&mut subscription, json!({"latest_invoice": invoice, "status": if paid { "active" } else { "past_due" }}));
    *state.get_mut(id)? = subscription.clone();
    let updated_at = subscription_event_at(state, id, at);
    state.emit("customer.subscription.updated", &subscription, Some(previous), None, updated_at);
    Some(end)
}

/// Cancels `id` at its period end, or (`false`) takes that back.
pub fn cancel_at_period_end(state: &mut State, at: i64, id: &str, cancel: bool) -> Result<Value, Failure> {
    let mut subscription =
        state.find("subscription", id).cloned().ok_or_else(|| Failure::no_such("subscription", id))?;
    if subscription["status"] == "canceled" {
        return Err(Failure::invalid("A canceled subscription can only update its cancellation_details and metadata."));
    }
    let previous =
        json!({"cancel_at_period_end": subscription["cancel_at_period_end"], "cancel_at": subscription["cancel_at"]});
    let end = subscription["items"]["data"][0]["current_period_end"].clone();
    set(
        &mut subscription,
        json!({"cancel_at_period_end": cancel, "cancel_at": if cancel { end } else { Value::Null },
            "canceled_at": if cancel { json!(at) } else { Value::Null },
            "cancellation_details": {"comment": Value::Null, "feedback": Value::Null, "reason": if cancel { json!("cancellation_requested") } else { Value::Null }}}),
    );
    if let Some(stored) = state.get_mut(id) {
        *stored = subscription.clone();
    }
    let updated_at = subscription_event_at(state, id, at);
    state.emit("customer.subscription.updated", &subscription, Some(previous), None, updated_at);
    Ok(subscription)
}

/// Switches `id` to `price` when its period ends, as a portal's "switch at period end" does
/// (Stripe holds the change in a subscription schedule).
pub fn switch_at_period_end(state: &mut State, at: i64, id: &str, price: &str) -> Result<(), Failure> {
    let mut subscription =
        state.find("subscription", id).cloned().ok_or_else(|| Failure::no_such("subscription", id))?;
    let target = state.find("price", price).cloned().ok_or_else(|| Failure::no_such("price", price))?;
    if target["active"] != true || target["recurring"].is_null() || target["currency"] != subscription["currency"] {
        return Err(Failure::invalid("The new plan must be an active recurring price in the subscription's currency."));
    }
    state.private(id)["switch_to"] = json!(price);
    let previous = json!({"schedule": subscription["schedule"]});
    subscription["schedule"] = json!(new_id("sub_sched"));
    if let Some(stored) = state.get_mut(id) {
        *stored = subscription.clone();
    }
    let updated_at = subscription_event_at(state, id, at);
    state.emit("customer.subscription.updated", &subscription, Some(previous), None, updated_at);
    Ok(())
}

/// `POST /v1/refunds`: part or all of what is left of a charge (named, or the latest of a
/// payment intent): `charge.refunded`, then `refund.created`.
pub fn refund(
    state: &mut State,
    at: i64,
    charge: Option<&str>,
    intent: Option<&str>,
    amount: Option<i64>,
    metadata: Map<String, Value>,
) -> Result<Value, Failure> {
    let charge_id = match (charge, intent) {
        (Some(charge), _) => charge.to_owned(),
        (None, Some(intent)) => {
            let intent_object =
                state.find("payment_intent", intent).ok_or_else(|| Failure::no_such("payment_intent", intent))?;
            intent_object["latest_charge"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Failure::invalid("This PaymentIntent has no charge to refund."))?
        }
        (None, None) => return Err(Failure::missing("charge")),
    };
    let mut charge = state.find("charge", &charge_id).cloned().ok_or_else(|| Failure::no_such("charge", &charge_id))?;
    if charge["paid"] != true {
        return Err(Failure::invalid("This charge was not paid: there is nothing to refund."));
    }
    let total = charge["amount"].as_i64().unwrap_or(0);
    let refunded = charge["amount_refunded"].as_i64().unwrap_or(0);
    let left = total - refunded;
    if left <= 0 {
        return Err(Failure::coded(
            "charge_already_refunded",
            &format!("Charge {charge_id} has already been refunded."),
        ));
    }
    let amount = amount.unwrap_or(left);
    if amount <= 0 || amount > left {
        return Err(Failure::coded(
            "amount_too_large",
            &format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"),
        )
        .param("amount"));
    }
    let mut refund = fixtures::get("refund");
    set(
        &mut refund,
        json!({"id": new_id("re"), "amount": amount, "charge": charge_id, "payment_intent": charge["payment_intent"],
            "currency": charge["currency"], "created": at, "status": "succeeded", "metadata": metadata,
            "customer": charge["customer"], "balance_transaction": new_id("txn"), "reason": Value::Null,
            "payment_method": charge["payment_method"], "destination_details": {"type": "card", "card": {"type": "refund"}}}),
    );
    let previous = json!({"amount_refunded": refunded, "refunded": false});
    set(&mut charge, json!({"amount_refunded": refunded + amount, "refunded": refunded + amount == total}));
    if let Some(stored) = state.get_mut(&charge_id) {
        *stored = charge.clone();
    }
    state.insert(refund.clone());
    state.emit("charge.refunded", &charge, Some(previous), None, at);
    state.emit("refund.created", &refund, None, None, at);
    Ok(refund)
}

/// The platform's balance in `currency`: what charges brought in, less refunds and transfers.
/// The emulator settles at once: nothing is pending.
pub fn balance(state: &State, currency: &str) -> i64 {
    let kept: i64 = state
        .newest_first("charge")
        .filter(|c| c["paid"] == true && c["currency"] == currency)
        .map(|c| c["amount"].as_i64().unwrap_or(0) - c["amount_refunded"].as_i64().unwrap_or(0))
        .sum();
    let sent: i64 = state
        .newest_first("transfer")
        .filter(|t| t["currency"] == currency)
        .map(|t| t["amount"].as_i64().unwrap_or(0) - t["amount_reversed"].as_i64().unwrap_or(0))
        .sum();
    kept - sent
}

/// Where a used or expired account link sends its visitor (its `refresh_url`, as Stripe
/// does); `None` while it can still be used.
pub fn spent_link(state: &State, at: i64, link: &str) -> Option<String> {
    let private = state.private.get(link)?;
    (private["used"] == true || private["expires_at"].as_i64().unwrap_or(0) < at)
        .then(|| private["refresh_url"].as_str().unwrap_or("/").to_owned())
}

/// The onboarding page's "Agree and submit": the connected account can take transfers and
/// be paid out (`account.updated`, a Connect event). Answers where to go next; an account
/// link works once, and a used or expired one sends to its `refresh_url`.
pub fn complete_onboarding(state: &mut State, at: i64, link: &str) -> Result<String, String> {
    if let Some(refresh) = spent_link(state, at, link) {
        return Err(refresh);
    }
    let private = state.private.get(link).cloned().unwrap_or_default();
    let refresh = private["refresh_url"].as_str().unwrap_or("/").to_owned();
    let account_id = private["account"].as_str().unwrap_or_default().to_owned();
    let mut account = state.find("account", &account_id).cloned().ok_or_else(|| refresh.clone())?;
    state.private(link)["used"] = json!(true);
    let previous = json!({"payouts_enabled": account["payouts_enabled"], "charges_enabled": account["charges_enabled"], "details_submitted": account["details_submitted"]});
    set(
        &mut account,
        json!({"payouts_enabled": true, "charges_enabled": true, "details_submitted": true,
            "capabilities": {"transfers": "active", "card_payments": "active"},
            "requirements": {"alternatives": [], "current_deadline": Value::Null, "currently_due": [], "disabled_reason": Value::Null,
                "errors": [], "eventually_due": [], "past_due": [], "pending_verification": []}}),
    );
    if let Some(stored) = state.get_mut(&account_id) {
        *stored = account.clone();
    }
    state.emit("account.updated", &account, Some(previous), Some(&account_id), at);
    Ok(private["return_url"].as_str().unwrap_or("/").to_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// 2026-01-01 00:00 UTC.
    pub const NEW_YEAR: i64 = 1_767_225_600;

    /// A store with a customer, the Pro price and an open Checkout Session `cs_1` for it
    /// in `mode` (Pro is monthly; in `payment` mode a one-off price of the same amount).
    pub fn shop(mode: &str) -> State {
        let mut state = State::default();
        state.insert(json!({"id": "cus_1", "object": "customer", "invoice_settings": {}}));
        state.insert(json!({"id": "prod_1", "object": "product", "name": "API Pro"}));
        let recurring =
            if mode == "subscription" { json!({"interval": "month", "interval_count": 1}) } else { Value::Null };
        state.insert(json!({"id": "price_1", "object": "price", "active": true, "currency": "usd", "unit_amount": 2999,
            "unit_amount_decimal": "2999", "product": "prod_1", "lookup_key": "api_pro_monthly", "recurring": recurring}));
        state.insert(json!({"id": "cs_1", "object": "checkout.session", "status": "open", "mode": mode,
            "customer": "cus_1", "success_url": "http://shop.test/ok?session={CHECKOUT_SESSION_ID}"}));
        *state.private("cs_1") = json!({"price": "price_1", "quantity": 1,
            "subscription_metadata": {"account_id": "user_a"}, "payment_intent_metadata": {"account_id": "user_a"}});
        state
    }

    fn subscription(state: &State) -> Value {
        state.newest_first("subscription").next().unwrap().clone()
    }

    #[test]
    fn a_subscription_renews_when_its_period_ends_and_not_before() {
        let mut state = shop("subscription");
        let paid = complete_checkout(&mut state, NEW_YEAR, "cs_1", Card::Pays).unwrap();
        assert_eq!(paid, "http://shop.test/ok?session=cs_1");
        let end = period_end(NEW_YEAR, "month", 1);
        assert!(!renewal_due(&state, end - 1));
        assert!(renew_due(&mut state, end - 1, None, Some(0)).renewed.is_empty());
        assert!(renewal_due(&state, end));
        let events_before = state.events.len();
        let advanced = renew_due(&mut state, end, None, Some(0));
        assert_eq!((advanced.renewed.len(), advanced.invoices.len()), (1, 1));
        let item = &subscription(&state)["items"]["data"][0];
        assert_eq!(
            (item["current_period_start"].as_i64(), item["current_period_end"].as_i64()),
            (Some(end), Some(period_end(end, "month", 1)))
        );
        let invoice = state.find("invoice", &advanced.invoices[0]).unwrap();
        assert_eq!(
            (invoice["status"].as_str(), invoice["amount_paid"].as_i64(), invoice["billing_reason"].as_str()),
            (Some("paid"), Some(2999), Some("subscription_cycle"))
        );
        let renewal: Vec<&str> = state.events[events_before..].iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(renewal.first(), Some(&"invoice.created"));
        assert_eq!(renewal.last(), Some(&"customer.subscription.updated"));
        assert!(renewal.contains(&"invoice.paid"));
        assert!(!renewal_due(&state, end), "renewed once");
    }

    #[test]
    fn a_card_that_fails_later_pays_at_checkout_and_leaves_the_renewal_unpaid() {
        let mut state = shop("subscription");
        complete_checkout(&mut state, NEW_YEAR, "cs_1", Card::FailsLater).unwrap();
        assert_eq!(subscription(&state)["status"], "active");
        let advanced = renew_due(&mut state, NEW_YEAR, None, None);
        assert_eq!(subscription(&state)["status"], "past_due");
        let invoice = state.find("invoice", &advanced.invoices[0]).unwrap();
        assert_eq!((invoice["status"].as_str(), invoice["amount_paid"].as_i64()), (Some("open"), Some(0)));
        assert!(state.events.iter().any(|e| e["type"] == "invoice.payment_failed"));
        assert_eq!(balance(&state, "usd"), 2999, "only the first payment was collected");
    }

    #[test]
    fn a_declined_card_changes_nothing_and_a_completed_session_takes_no_second_payment() {
        let mut state = shop("payment");
        assert_eq!(complete_checkout(&mut state, NEW_YEAR, "cs_1", Card::Declined), Err(DECLINED.to_owned()));
        assert!(state.events.is_empty());
        complete_checkout(&mut state, NEW_YEAR, "cs_1", Card::Pays).unwrap();
        assert!(complete_checkout(&mut state, NEW_YEAR, "cs_1", Card::Pays).is_err());
        assert_eq!(balance(&state, "usd"), 2999);
        let types: Vec<&str> = state.events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded", "checkout.session.completed"]
        );
    }

    #[test]
    fn periods_are_calendar_months_and_years() {
        // 2026-01-31 00:00 UTC → 2026-02-28; 2026-02-28 → 2027-02-28.
        assert_eq!(period_end(1_769_817_600, "month", 1), 1_772_236_800);
        assert_eq!(period_end(1_772_236_800, "year", 1), 1_803_772_800);
        assert_eq!(period_end(0, "week", 2), 14 * 86_400);
    }

    #[test]
    fn only_the_documented_test_cards_are_read() {
        assert_eq!(Card::read("4242 4242 4242 4242"), Some(Card::Pays));
        assert_eq!(Card::read("4000-0000-0000-0002"), Some(Card::Declined));
        assert_eq!(Card::read("4000000000000341"), Some(Card::FailsLater));
        assert_eq!(Card::read("1234"), None);
    }
}
