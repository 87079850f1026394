//! Products and prices: lookup keys (moved with `transfer_lookup_key`), archiving, and
//! amounts within what Stripe takes.

use super::*;

pub(super) fn route(state: &mut State, call: Call) -> Result<Value, Failure> {
    let Call { at, method, path, params, .. } = call;
    let metadata = || params.map("metadata");
    match (method.as_str(), path) {
        ("POST", ["products"]) => {
            let mut product = fixtures::get("product");
            set(
                &mut product,
                json!({"id": params.get("id").map_or_else(|| new_id("prod"), str::to_owned), "name": params.required("name")?,
                "active": params.flag("active")?.unwrap_or(true), "description": params.get("description"),
                "metadata": metadata(), "created": at, "updated": at, "default_price": Value::Null}),
            );
            if state.get(product["id"].as_str().unwrap_or_default()).is_some() {
                return Err(Failure::coded("resource_already_exists", "Product already exists.").param("id"));
            }
            state.emit("product.created", &product, None, None, at);
            Ok(state.insert(product))
        }
        ("GET", ["products", id]) => get_object(state, "product", id),
        ("POST", ["products", id]) => {
            get_object(state, "product", id)?;
            let active = params.flag("active")?;
            updated(state, at, id, "product.updated", |product| {
                if let Some(name) = params.get("name") {
                    product["name"] = json!(name);
                }
                if let Some(active) = active {
                    product["active"] = json!(active);
                }
                product["updated"] = json!(at);
                merge_metadata(product, metadata());
            })
        }
        ("POST", ["prices"]) => create_price(state, at, params),
        ("GET", ["prices", id]) => get_object(state, "price", id),
        ("POST", ["prices", id]) => {
            get_object(state, "price", id)?;
            let active = params.flag("active")?;
            if let Some(key) = params.get("lookup_key") {
                take_lookup_key(state, key, params.flag("transfer_lookup_key")?.unwrap_or(false), id)?;
            }
            updated(state, at, id, "price.updated", |price| {
                if let Some(active) = active {
                    price["active"] = json!(active);
                }
                for field in ["lookup_key", "nickname"] {
                    if let Some(value) = params.get(field) {
                        price[field] = json!(value);
                    }
                }
                merge_metadata(price, metadata());
            })
        }
        ("GET", ["prices"]) => {
            let keys = params.list("lookup_keys");
            let active = params.flag("active")?;
            let product = params.get("product");
            let expand = params.list("expand").iter().any(|field| field == "data.product");
            let found: Vec<Value> = state
                .newest_first("price")
                .filter(|p| {
                    keys.is_empty() || p["lookup_key"].as_str().is_some_and(|key| keys.iter().any(|k| k == key))
                })
                .filter(|p| active.is_none_or(|active| p["active"] == active))
                .filter(|p| product.is_none_or(|product| p["product"] == product))
                .map(|p| {
                    let mut price = p.clone();
                    if expand && let Some(product) = state.get(p["product"].as_str().unwrap_or_default()) {
                        price["product"] = product.clone();
                    }
                    price
                })
                .collect();
            page(found, params, "/v1/prices")
        }
        _ => Err(unrecognized(method, path)),
    }
}

/// A lookup key names one price: another price holding it gives it up only with
/// `transfer_lookup_key`.
fn take_lookup_key(state: &mut State, key: &str, transfer: bool, taker: &str) -> Result<(), Failure> {
    let holder =
        state.newest_first("price").find(|p| p["lookup_key"] == key && p["id"] != taker).map(|p| p["id"].clone());
    let Some(holder) = holder else { return Ok(()) };
    if !transfer {
        let message = format!("A price ({}) already uses that lookup key.", holder.as_str().unwrap_or_default());
        return Err(Failure::coded("lookup_key_already_used", &message).param("lookup_key"));
    }
    if let Some(price) = state.get_mut(holder.as_str().unwrap_or_default()) {
        price["lookup_key"] = Value::Null;
    }
    Ok(())
}

/// The largest amount Stripe takes in one charge, in minor units ($999,999.99): prices and
/// totals above it are refused as Stripe refuses them, so no sum of them can overflow.
pub(crate) const MAX_AMOUNT: i64 = 99_999_999;

fn create_price(state: &mut State, at: i64, params: &Params) -> Result<Value, Failure> {
    let currency = params.required("currency")?.to_ascii_lowercase();
    let product = params.required("product")?;
    get_object(state, "product", product)?;
    let decimal = params.get("unit_amount_decimal");
    let unit_amount = match (params.int("unit_amount")?, decimal) {
        (Some(_), Some(_)) => {
            return Err(Failure::invalid(
                "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
            )
            .param("unit_amount_decimal"));
        }
        (Some(amount), None) => amount,
        (None, Some(decimal)) => billing::read_decimal(decimal)
            .map(|scaled| scaled.div_euclid(billing::DECIMAL_SCALE) as i64)
            .ok_or_else(|| Failure::invalid("Invalid decimal: unit_amount_decimal").param("unit_amount_decimal"))?,
        (None, None) => return Err(Failure::missing("unit_amount")),
    };
    if unit_amount < 0 {
        return Err(Failure::invalid("This value must be greater than or equal to 0.").param("unit_amount"));
    }
    if unit_amount > MAX_AMOUNT {
        return Err(
            Failure::invalid(&format!("This value must be less than or equal to {MAX_AMOUNT}.")).param("unit_amount")
        );
    }
    let recurring = match params.get("recurring[interval]") {
        Some(interval @ ("day" | "week" | "month" | "year")) => {
            let count = params.int("recurring[interval_count]")?.unwrap_or(1);
            // Stripe bills at most yearly: 365 days, 52 weeks, 12 months or 1 year.
            let most = match interval {
                "day" => 365,
                "week" => 52,
                "month" => 12,
                _ => 1,
            };
            if !(1..=most).contains(&count) {
                return Err(Failure::invalid(&format!(
                    "The maximum billing frequency is one year: interval_count must be from 1 to {most} for {interval}."
                ))
                .param("recurring[interval_count]"));
            }
            let usage_type = params.get("recurring[usage_type]").unwrap_or("licensed");
            let meter = match (usage_type, params.get("recurring[meter]")) {
                ("licensed", None) => Value::Null,
                ("metered", Some(meter)) => {
                    get_object(state, "billing.meter", meter).map_err(|failure| failure.param("recurring[meter]"))?;
                    json!(meter)
                }
                ("metered", None) => {
                    return Err(Failure::missing("recurring[meter]"));
                }
                ("licensed", Some(_)) => {
                    return Err(Failure::invalid(
                        "A meter can only be set on a metered price (recurring[usage_type]=metered).",
                    )
                    .param("recurring[meter]"));
                }
                (other, _) => {
                    return Err(Failure::invalid(&format!("Invalid recurring[usage_type]: {other}"))
                        .param("recurring[usage_type]"));
                }
            };
            json!({"interval": interval, "interval_count": count, "meter": meter, "usage_type": usage_type, "trial_period_days": Value::Null})
        }
        Some(other) => {
            return Err(Failure::invalid(&format!("Invalid recurring[interval]: {other}")).param("recurring[interval]"));
        }
        None => Value::Null,
    };
    let id = new_id("price");
    if let Some(key) = params.get("lookup_key") {
        take_lookup_key(state, key, params.flag("transfer_lookup_key")?.unwrap_or(false), &id)?;
    }
    let mut price = fixtures::get("price");
    set(
        &mut price,
        json!({"id": id, "created": at, "currency": currency, "product": product,
        // A price below a whole minor unit has no `unit_amount`, as on Stripe.
        "unit_amount": if decimal.is_some_and(|decimal| billing::read_decimal(decimal).is_some_and(|scaled| scaled % billing::DECIMAL_SCALE != 0)) { Value::Null } else { json!(unit_amount) },
        "unit_amount_decimal": decimal.map_or_else(|| unit_amount.to_string(), str::to_owned), "lookup_key": params.get("lookup_key"), "nickname": params.get("nickname"),
        "active": params.flag("active")?.unwrap_or(true), "metadata": params.map("metadata"), "transform_quantity": Value::Null,
        "type": if recurring.is_null() { "one_time" } else { "recurring" }, "recurring": recurring, "tiers_mode": Value::Null,
        "custom_unit_amount": Value::Null, "billing_scheme": "per_unit", "tax_behavior": "unspecified"}),
    );
    state.emit("price.created", &price, None, None, at);
    Ok(state.insert(price))
}
