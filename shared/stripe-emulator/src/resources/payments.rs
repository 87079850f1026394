//! What paying makes: subscriptions (cancelled at period end on request), invoices,
//! payment intents, charges, refunds, and the platform balance.

use super::*;

pub(super) fn route(state: &mut State, call: Call) -> Result<Value, Failure> {
    let Call { at, method, path, params, .. } = call;
    let metadata = || params.map("metadata");
    match (method.as_str(), path) {
        ("GET", ["subscriptions", id]) => get_object(state, "subscription", id),
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
            let found = state
                .newest_first("subscription")
                .filter(|s| customer.is_none_or(|c| s["customer"] == c))
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
