//! Checkout Sessions in `subscription` or `payment` mode, and billing-portal sessions: what
//! the hosted pages (`crate::pages`) complete.

use super::*;

pub(super) fn route(state: &mut State, call: Call) -> Result<Value, Failure> {
    let Call { at, base, method, path, params, .. } = call;
    match (method.as_str(), path) {
        ("POST", ["checkout", "sessions"]) => create_session(state, at, base, params),
        ("GET", ["checkout", "sessions", id]) => get_object(state, "checkout.session", id),
        ("POST", ["billing_portal", "sessions"]) => {
            let customer = params.required("customer")?;
            get_object(state, "customer", customer)?;
            let id = new_id("bps");
            let mut session = fixtures::get("billing_portal_session");
            set(
                &mut session,
                json!({"id": id, "customer": customer, "return_url": params.get("return_url"), "created": at,
                "url": format!("{base}/portal/{id}"), "configuration": "bpc_emulated", "flow": Value::Null, "on_behalf_of": Value::Null}),
            );
            state.private(&id)["customer"] = json!(customer);
            Ok(state.insert(session))
        }
        _ => Err(unrecognized(method, path)),
    }
}

fn create_session(state: &mut State, at: i64, base: &str, params: &Params) -> Result<Value, Failure> {
    let mode = params.required("mode")?;
    if !matches!(mode, "subscription" | "payment") {
        return Err(Failure::invalid(&format!("The emulated Stripe takes mode subscription or payment, not {mode}."))
            .param("mode"));
    }
    let customer = params.required("customer")?;
    get_object(state, "customer", customer)?;
    let price_id = params.required("line_items[0][price]")?;
    let price = get_object(state, "price", price_id)?;
    if price["active"] != true {
        return Err(
            Failure::invalid(&format!("The price specified ({price_id}) is inactive.")).param("line_items[0][price]")
        );
    }
    match (mode, price["recurring"].is_null()) {
        ("subscription", true) => {
            return Err(Failure::invalid(
                "You must provide at least one recurring price in `subscription` mode when using prices.",
            )
            .param("line_items"));
        }
        ("payment", false) => {
            return Err(Failure::invalid("You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.").param("line_items"));
        }
        _ => {}
    }
    // Further line items: metered prices of the same interval, whose usage sets the quantity.
    let mut metered = Vec::new();
    for index in 1.. {
        let name = format!("line_items[{index}][price]");
        let Some(extra_id) = params.get(&name) else { break };
        let extra = get_object(state, "price", extra_id).map_err(|failure| failure.param(&name))?;
        if mode != "subscription" || !billing::is_metered(&extra) || extra["active"] != true {
            return Err(Failure::invalid(&format!(
                "The emulated Stripe takes further line items only as active metered prices in subscription mode ({extra_id})."
            ))
            .param(&name));
        }
        if extra["recurring"]["interval"] != price["recurring"]["interval"] {
            return Err(
                Failure::invalid("All prices on a subscription must have the same `recurring.interval`.").param(&name)
            );
        }
        if params.get(&format!("line_items[{index}][quantity]")).is_some() {
            return Err(Failure::invalid(&format!(
                "Quantity should not be specified where usage_type is `metered`. Remove quantity from `line_items[{index}]`."
            ))
            .param(&format!("line_items[{index}][quantity]")));
        }
        metered.push(json!(extra_id));
    }
    let quantity = params.int("line_items[0][quantity]")?.unwrap_or(1);
    if !(1..=999_999).contains(&quantity) {
        return Err(Failure::invalid("Quantity must be between 1 and 999999.").param("line_items[0][quantity]"));
    }
    let success_url = params.required("success_url")?;
    let amount = price["unit_amount"]
        .as_i64()
        .unwrap_or(0)
        .checked_mul(quantity)
        .filter(|amount| *amount <= MAX_AMOUNT)
        .ok_or_else(|| {
            Failure::invalid(&format!("The Checkout Session's total amount due must be no more than {MAX_AMOUNT}."))
                .param("line_items[0][quantity]")
        })?;
    let id = format!("cs_test_{}", new_id("x").trim_start_matches("x_"));
    let mut session = fixtures::get("checkout_session");
    set(
        &mut session,
        json!({"id": id, "object": "checkout.session", "created": at, "expires_at": at + 86_400, "mode": mode,
        "customer": customer, "client_reference_id": params.get("client_reference_id"), "metadata": params.map("metadata"),
        "success_url": success_url, "cancel_url": params.get("cancel_url"), "url": format!("{base}/checkout/{id}"),
        "status": "open", "payment_status": "unpaid", "amount_subtotal": amount, "amount_total": amount, "currency": price["currency"],
        "subscription": Value::Null, "payment_intent": Value::Null, "invoice": Value::Null, "livemode": false}),
    );
    *state.private(&id) = json!({"price": price_id, "quantity": quantity, "metered": metered,
        "subscription_metadata": params.map("subscription_data[metadata]"),
        "payment_intent_metadata": params.map("payment_intent_data[metadata]")});
    Ok(state.insert(session))
}
