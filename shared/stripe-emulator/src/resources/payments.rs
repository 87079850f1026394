//! What paying makes: subscriptions (cancelled at period end on request), invoices,
//! payment intents, charges, refunds, and the platform balance.

use super::*;

pub(super) fn route(state: &mut State, call: Call) -> Result<Value, Failure> {
    let Call { at, method, path, params, .. } = call;
    let metadata = || params.map("metadata");
    match (method.as_str(), path) {
        ("GET", ["subscriptions", id]) => get_object(state, "subscription", id),
        ("POST", ["subscription_items"]) => add_subscription_item(state, at, params),
        ("GET", ["subscription_items"]) => {
            let id = params.required("subscription")?;
            let subscription = get_object(state, "subscription", id)?;
            let items: Vec<Value> = subscription["items"]["data"].as_array().cloned().unwrap_or_default();
            page(items, params, "/v1/subscription_items")
        }
        ("POST", ["subscriptions", id]) => {
            let cancel = params.flag("cancel_at_period_end")?;
            let mut subscription = match cancel {
                Some(cancel) => billing::cancel_at_period_end(state, at, id, cancel)?,
                None => get_object(state, "subscription", id)?,
            };
            let metadata = metadata();
            if !metadata.is_empty() {
                subscription =
                    updated(state, at, id, "customer.subscription.updated", |s| merge_metadata(s, metadata))?;
            }
            Ok(subscription)
        }
        ("GET", ["subscriptions"]) => {
            let customer = params.get("customer");
            let status = params.get("status");
            let price = params.get("price");
            let found = state
                .newest_first("subscription")
                .filter(|s| customer.is_none_or(|c| s["customer"] == c))
                .filter(|s| {
                    let items = s["items"]["data"].as_array().into_iter().flatten();
                    price.is_none_or(|price| items.clone().any(|item| item["price"]["id"] == price))
                })
                .filter(|s| match status {
                    Some("all") => true,
                    Some(status) => s["status"] == status,
                    None => s["status"] != "canceled",
                })
                .cloned()
                .collect();
            page(found, params, "/v1/subscriptions")
        }
        ("GET", ["invoices", id]) => get_object(state, "invoice", id),
        ("GET", ["invoices"]) => {
            let customer = params.get("customer");
            let subscription = params.get("subscription");
            let found = state
                .newest_first("invoice")
                .filter(|i| customer.is_none_or(|c| i["customer"] == c))
                .filter(|i| subscription.is_none_or(|s| i["parent"]["subscription_details"]["subscription"] == s))
                .cloned()
                .collect();
            page(found, params, "/v1/invoices")
        }
        ("GET", ["payment_intents", id]) => get_object(state, "payment_intent", id),
        ("GET", ["charges", id]) => get_object(state, "charge", id),
        ("POST", ["refunds"]) => {
            let amount = params.int("amount")?;
            billing::refund(state, at, params.get("charge"), params.get("payment_intent"), amount, metadata())
        }
        ("GET", ["refunds", id]) => get_object(state, "refund", id),
        ("GET", ["balance"]) => {
            let mut currencies: Vec<String> =
                state.newest_first("charge").filter_map(|c| c["currency"].as_str().map(str::to_owned)).collect();
            currencies.sort();
            currencies.dedup();
            let available: Vec<Value> =
                currencies.iter().map(|c| json!({"amount": billing::balance(state, c), "currency": c, "source_types": {"card": billing::balance(state, c)}})).collect();
            let pending: Vec<Value> = currencies.iter().map(|c| json!({"amount": 0, "currency": c})).collect();
            Ok(json!({"object": "balance", "livemode": false, "available": available, "pending": pending}))
        }
        _ => Err(unrecognized(method, path)),
    }
}

/// `POST /v1/subscription_items`: a price added to a live subscription, for its current
/// period (a metered price is billed on the usage of what is left of it).
fn add_subscription_item(state: &mut State, at: i64, params: &Params) -> Result<Value, Failure> {
    let id = params.required("subscription")?;
    let price_id = params.required("price")?;
    let mut subscription = get_object(state, "subscription", id).map_err(|failure| failure.param("subscription"))?;
    let price = get_object(state, "price", price_id).map_err(|failure| failure.param("price"))?;
    if subscription["status"] == "canceled" {
        return Err(Failure::invalid("A canceled subscription cannot be updated.").param("subscription"));
    }
    let items = subscription["items"]["data"].as_array().cloned().unwrap_or_default();
    let first = items.first().cloned().unwrap_or_default();
    if items.iter().any(|item| item["price"]["id"] == price_id) {
        return Err(Failure::invalid("Cannot add multiple subscription items with the same price.").param("price"));
    }
    if price["active"] != true || price["recurring"]["interval"] != first["price"]["recurring"]["interval"] {
        return Err(Failure::invalid("The price must be active and of the subscription's interval.").param("price"));
    }
    let quantity = if billing::is_metered(&price) { None } else { Some(params.int("quantity")?.unwrap_or(1)) };
    let period =
        (first["current_period_start"].as_i64().unwrap_or(at), first["current_period_end"].as_i64().unwrap_or(at));
    let item = billing::subscription_item(at, id, &price, quantity, period);
    let previous = json!({"items": subscription["items"]});
    if let Some(data) = subscription["items"]["data"].as_array_mut() {
        data.push(item.clone());
    }
    subscription["items"]["total_count"] = json!(items.len() + 1);
    if let Some(stored) = state.get_mut(id) {
        *stored = subscription.clone();
    }
    let updated_at = billing::subscription_event_at(state, id, at);
    state.emit("customer.subscription.updated", &subscription, Some(previous), None, updated_at);
    Ok(item)
}
