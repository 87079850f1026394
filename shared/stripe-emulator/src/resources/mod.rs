//! The Stripe resources the emulator serves, one module each, behind one [`route`]: a
//! request's method and path (after `/v1/`) to the object it answers or Stripe's refusal.

mod catalog;
mod checkout;
mod connect;
mod customers;
mod events;
mod payments;

use crate::billing;
use crate::failure::Failure;
use crate::fixtures::{self, set};
use crate::params::Params;
use crate::store::{State, new_id};
use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

pub(crate) use catalog::MAX_AMOUNT;

/// One API request, as the resources read it.
#[derive(Clone, Copy)]
struct Call<'a> {
    /// When it is handled (Unix seconds).
    at: i64,
    /// Where the hosted pages are served.
    base: &'a str,
    method: &'a Method,
    /// The path's segments after `/v1/`.
    path: &'a [&'a str],
    params: &'a Params,
}

/// The answer to `method` on `path` (its segments after `/v1/`), at `at`, with the hosted
/// pages under `base`.
pub(crate) fn route(
    state: &mut State,
    at: i64,
    base: &str,
    method: &Method,
    path: &[&str],
    params: &Params,
) -> Result<Value, Failure> {
    let resource = match path.first().copied() {
        Some("customers") => customers::route,
        Some("products" | "prices") => catalog::route,
        Some("checkout" | "billing_portal") => checkout::route,
        Some(
            "subscriptions" | "subscription_items" | "invoices" | "payment_intents" | "charges" | "refunds" | "balance",
        ) => payments::route,
        Some("accounts" | "account_links" | "transfers") => connect::route,
        Some("events" | "billing") => events::route,
        _ => return Err(unrecognized(method, path)),
    };
    resource(state, Call { at, base, method, path, params })
}

fn unrecognized(method: &Method, path: &[&str]) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        &format!(
            "Unrecognized request URL ({} /v1/{}). The emulated Stripe serves the endpoints tollgate uses.",
            method,
            path.join("/")
        ),
    )
}

/// A page of a list, newest first, as Stripe pages: `limit` (1–100, default 10),
/// `starting_after` or `ending_before` an object id.
fn page(newest_first: Vec<Value>, params: &Params, url: &str) -> Result<Value, Failure> {
    let limit = params.int("limit")?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(Failure::invalid("This value must be between 1 and 100.").param("limit"));
    }
    let limit = limit as usize;
    let position = |cursor: &str, name: &str| {
        newest_first
            .iter()
            .position(|object| object["id"] == cursor)
            .ok_or_else(|| Failure::no_such("object", cursor).param(name))
    };
    let (data, has_more): (Vec<Value>, bool) = if let Some(after) = params.get("starting_after") {
        let start = position(after, "starting_after")? + 1;
        let data: Vec<Value> = newest_first.iter().skip(start).take(limit).cloned().collect();
        let more = newest_first.len() > start + data.len();
        (data, more)
    } else if let Some(before) = params.get("ending_before") {
        let end = position(before, "ending_before")?;
        let start = end.saturating_sub(limit);
        (newest_first[start..end].to_vec(), start > 0)
    } else {
        (newest_first.iter().take(limit).cloned().collect(), newest_first.len() > limit)
    };
    Ok(json!({"object": "list", "url": url, "has_more": has_more, "data": data}))
}

/// `created`, `created[gt]`, `created[gte]`, `created[lt]`, `created[lte]`.
fn created_matches(params: &Params, created: i64) -> Result<bool, Failure> {
    let bound = |name: &str| params.int(name);
    Ok(bound("created")?.is_none_or(|at| created == at)
        && bound("created[gt]")?.is_none_or(|at| created > at)
        && bound("created[gte]")?.is_none_or(|at| created >= at)
        && bound("created[lt]")?.is_none_or(|at| created < at)
        && bound("created[lte]")?.is_none_or(|at| created <= at))
}

/// `type` (`invoice.*` matches a family) or `types[]`.
fn type_matches(params: &Params, types: &[String], event_type: &str) -> bool {
    let single = params.get("type").is_none_or(|wanted| match wanted.strip_suffix('*') {
        Some(family) => event_type.starts_with(family),
        None => event_type == wanted,
    });
    single && (types.is_empty() || types.iter().any(|t| t == event_type))
}

fn get_object(state: &State, kind: &str, id: &str) -> Result<Value, Failure> {
    state.find(kind, id).cloned().ok_or_else(|| Failure::no_such(kind, id))
}

fn updated(
    state: &mut State,
    at: i64,
    id: &str,
    event_type: &str,
    change: impl FnOnce(&mut Value),
) -> Result<Value, Failure> {
    let object =
        state.get_mut(id).ok_or_else(|| Failure::no_such(event_type.split('.').next().unwrap_or("object"), id))?;
    change(object);
    let object = object.clone();
    state.emit(event_type, &object, None, None, at);
    Ok(object)
}

/// Stripe merges metadata keys into what is there; an empty value removes a key.
fn merge_metadata(object: &mut Value, metadata: Map<String, Value>) {
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    for (key, value) in metadata {
        if value == "" {
            object["metadata"].as_object_mut().map(|m| m.remove(&key));
        } else {
            object["metadata"][key] = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::tests::{NEW_YEAR, shop};
    use crate::params::Params;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Move {
        Refund(i64),
        Transfer(i64),
    }

    fn moves() -> impl Strategy<Value = Vec<Move>> {
        prop::collection::vec(
            prop_oneof![(1_i64..3500).prop_map(Move::Refund), (1_i64..3500).prop_map(Move::Transfer)],
            0..12,
        )
    }

    proptest! {
        /// Refunds and transfers in any order and amounts: a charge is never refunded beyond
        /// what it took, a transfer never exceeds the balance it leaves, and the balance is
        /// always exactly what came in less what went out, to the cent.
        #[test]
        fn refunds_and_transfers_keep_the_balance_exact(moves in moves()) {
            let mut state = shop("payment");
            billing::complete_checkout(&mut state, NEW_YEAR, "cs_1", billing::Card::Pays).unwrap();
            state.insert(json!({"id": "acct_1", "object": "account", "capabilities": {"transfers": "active"}}));
            let intent = state.newest_first("payment_intent").next().unwrap()["id"].as_str().unwrap().to_owned();
            let (mut refunded, mut transferred) = (0_i64, 0_i64);
            for (n, step) in moves.into_iter().enumerate() {
                let at = NEW_YEAR + n as i64;
                match step {
                    Move::Refund(amount) => {
                        let form = format!("payment_intent={intent}&amount={amount}");
                        let done = route(&mut state, at, "", &Method::POST, &["refunds"], &Params::decode(form.as_bytes()));
                        prop_assert_eq!(done.is_ok(), refunded + amount <= 2999);
                        if done.is_ok() { refunded += amount; }
                    }
                    Move::Transfer(amount) => {
                        let before = billing::balance(&state, "usd");
                        let form = format!("amount={amount}&currency=usd&destination=acct_1");
                        let done = route(&mut state, at, "", &Method::POST, &["transfers"], &Params::decode(form.as_bytes()));
                        prop_assert_eq!(done.is_ok(), amount <= before);
                        if done.is_ok() { transferred += amount; }
                    }
                }
                prop_assert_eq!(billing::balance(&state, "usd"), 2999 - refunded - transferred);
                let charge = state.newest_first("charge").next().unwrap();
                prop_assert_eq!(charge["amount_refunded"].as_i64(), Some(refunded));
                prop_assert_eq!(charge["refunded"].as_bool(), Some(refunded == 2999));
            }
        }
    }

    #[test]
    fn amounts_that_would_overflow_are_refused_as_stripe_refuses_them() {
        let mut state = shop("payment");
        let create = |state: &mut State, form: &str| {
            route(state, NEW_YEAR, "", &Method::POST, &["prices"], &Params::decode(form.as_bytes()))
        };
        let huge = create(&mut state, "currency=usd&product=prod_1&unit_amount=4611686018427387904").unwrap_err();
        assert_eq!(
            (huge.status, huge.body()["error"]["param"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unit_amount"))
        );
        let forever = create(
            &mut state,
            "currency=usd&product=prod_1&unit_amount=100&recurring[interval]=month&recurring[interval_count]=4294967295",
        )
        .unwrap_err();
        assert_eq!(forever.body()["error"]["param"], "recurring[interval_count]");
        let largest = create(&mut state, "currency=usd&product=prod_1&unit_amount=99999999").unwrap();
        let form = format!(
            "mode=payment&customer=cus_1&line_items[0][price]={}&line_items[0][quantity]=4&success_url=http://x/",
            largest["id"].as_str().unwrap()
        );
        let total =
            route(&mut state, NEW_YEAR, "", &Method::POST, &["checkout", "sessions"], &Params::decode(form.as_bytes()))
                .unwrap_err();
        assert_eq!(total.body()["error"]["param"], "line_items[0][quantity]");
    }

    #[test]
    fn pages_walk_both_ways_and_refuse_what_stripe_refuses() {
        let items: Vec<Value> = (0..7).rev().map(|n| json!({"id": format!("obj_{n}")})).collect();
        let ids = |page: &Value| {
            page["data"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        };
        let first = page(items.clone(), &Params::decode(b"limit=3"), "/v1/x").unwrap();
        assert_eq!(
            (ids(&first), first["has_more"].clone()),
            (vec!["obj_6".to_owned(), "obj_5".into(), "obj_4".into()], json!(true))
        );
        let last = page(items.clone(), &Params::decode(b"limit=3&starting_after=obj_2"), "/v1/x").unwrap();
        assert_eq!((ids(&last), last["has_more"].clone()), (vec!["obj_1".to_owned(), "obj_0".into()], json!(false)));
        let back = page(items.clone(), &Params::decode(b"limit=2&ending_before=obj_2"), "/v1/x").unwrap();
        assert_eq!((ids(&back), back["has_more"].clone()), (vec!["obj_4".to_owned(), "obj_3".into()], json!(true)));
        assert!(page(items.clone(), &Params::decode(b"limit=0"), "/v1/x").is_err());
        assert_eq!(
            page(items, &Params::decode(b"starting_after=obj_9"), "/v1/x").unwrap_err().status,
            StatusCode::NOT_FOUND
        );
    }
}
