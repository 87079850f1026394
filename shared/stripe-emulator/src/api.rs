//! The API on Stripe's wire format: `Authorization: Bearer sk_…`, form-encoded bodies,
//! `Stripe-Version`, `Idempotency-Key` replay (same key, same parameters: the first answer
//! again; other parameters: an `idempotency_error`), list paging, and error objects with
//! `type`, `code`, `message` and `param`.

use crate::billing;
use crate::failure::Failure;
use crate::fixtures::{self, set};
use crate::store::{Replay, State, new_id};
use crate::{Emulator, now};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as Shared};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Emulator>> {
    Router::new().route("/v1/{*path}", any(handle)).route("/emulator/advance", post(advance))
}

/// A request's parameters, decoded, in order: `metadata[account_id]`, `lookup_keys[0]`…
pub struct Params(Vec<(String, String)>);

impl Params {
    fn decode(text: &[u8]) -> Self {
        Self(form_urlencoded::parse(text).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).filter(|value| !value.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, Failure> {
        self.get(name).ok_or_else(|| Failure::missing(name))
    }

    fn int(&self, name: &str) -> Result<Option<i64>, Failure> {
        self.get(name)
            .map(|value| {
                value.parse().map_err(|_| {
                    Failure::coded("parameter_invalid_integer", &format!("Invalid integer: {value}")).param(name)
                })
            })
            .transpose()
    }

    fn flag(&self, name: &str) -> Result<Option<bool>, Failure> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(Failure::invalid(&format!("Invalid boolean: {other}")).param(name)),
        }
    }

    /// The hash `prefix[key]=value…` (`metadata`, `subscription_data[metadata]`).
    pub fn map(&self, prefix: &str) -> Map<String, Value> {
        self.0
            .iter()
            .filter_map(|(key, value)| {
                let inner = key.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']')?;
                (!inner.contains('[')).then(|| (inner.to_owned(), json!(value)))
            })
            .collect()
    }

    /// The array `name[]=…` or `name[0]=…`.
    fn list(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| {
                key.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('['))
                    .and_then(|rest| rest.strip_suffix(']'))
                    .is_some_and(|index| index.chars().all(|c| c.is_ascii_digit()))
            })
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// Stripe compares parameters, not their order (a hash serialises in any order).
    fn fingerprint(&self, method: &Method, path: &str) -> String {
        let mut sorted = self.0.clone();
        sorted.sort();
        format!("{method} {path} {sorted:?}")
    }
}

fn respond(status: StatusCode, body: &Value, replayed: bool) -> Response {
    let mut response = (status, [("content-type", "application/json")], body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert("stripe-version", tollgate_core::STRIPE_API_VERSION.parse().expect("a header value"));
    if let Ok(id) = new_id("req").parse() {
        headers.insert("request-id", id);
    }
    if replayed {
        headers.insert("idempotent-replayed", "true".parse().expect("a header value"));
    }
    response
}

fn refuse(failure: &Failure) -> Response {
    respond(failure.status, &failure.body(), false)
}

/// `YYYY-MM-DD`, optionally followed by a release name (`2026-09-30.endive`).
fn well_formed_version(version: &[u8]) -> bool {
    let (date, name) = match version.iter().position(|&byte| byte == b'.') {
        Some(dot) => (&version[..dot], Some(&version[dot + 1..])),
        None => (version, None),
    };
    let date_shape = date.len() == 10
        && date
            .iter()
            .enumerate()
            .all(|(i, byte)| if i == 4 || i == 7 { *byte == b'-' } else { byte.is_ascii_digit() });
    let name_shape = name.is_none_or(|name| (1..=32).contains(&name.len()) && name.iter().all(u8::is_ascii_lowercase));
    date_shape && name_shape
}

fn authorized(emulator: &Emulator, headers: &HeaderMap) -> Result<(), Failure> {
    let presented = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(key) if emulator.key_matches(key) => Ok(()),
        Some(_) => Err(Failure::new(StatusCode::UNAUTHORIZED, "invalid_request_error", "Invalid API Key provided.")),
        None => Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "You did not provide an API key. Provide it in the Authorization header, using Bearer auth.",
        )),
    }
}

async fn handle(
    Shared(emulator): Shared<Arc<Emulator>>,
    Path(path): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(failure) = authorized(&emulator, &headers) {
        return refuse(&failure);
    }
    // Stripe takes every version its SDKs send, so the emulator does too: the objects keep
    // the shapes of the version it implements, which the `Stripe-Version` answer names.
    if let Some(version) = headers.get("stripe-version")
        && !well_formed_version(version.as_bytes())
    {
        let message = format!(
            "Invalid Stripe API version: {}. Versions look like {}.",
            String::from_utf8_lossy(version.as_bytes()),
            tollgate_core::STRIPE_API_VERSION
        );
        return refuse(&Failure::coded("api_version_invalid", &message).param("Stripe-Version"));
    }
    let params = if method == Method::POST {
        Params::decode(&body)
    } else {
        Params::decode(uri.query().unwrap_or_default().as_bytes())
    };
    let segments: Vec<&str> = path.split('/').collect();
    if method != Method::POST {
        let mut state = emulator.lock();
        return match route(&mut state, now(), &emulator.settings.public_base, &method, &segments, &params) {
            Ok(object) => respond(StatusCode::OK, &object, false),
            Err(failure) => refuse(&failure),
        };
    }
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let fingerprint = params.fingerprint(&method, &path);
    let base = emulator.settings.public_base.clone();
    let answered = emulator.change(|state, at| {
        if let Some(key) = &key
            && let Some(replay) = state.replays.get(key)
        {
            if replay.fingerprint != fingerprint {
                let message = "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than the one used for the original request.";
                return Err(Failure::new(StatusCode::BAD_REQUEST, "idempotency_error", message));
            }
            return Ok((StatusCode::from_u16(replay.status).unwrap_or(StatusCode::OK), replay.body.clone(), true));
        }
        let (status, body) = match route(state, at, &base, &method, &segments, &params) {
            Ok(object) => (StatusCode::OK, object),
            Err(failure) => (failure.status, failure.body()),
        };
        // Stripe saves the answer of any request that ran, refusals too, but not a 5xx.
        if let Some(key) = key.clone().filter(|_| !status.is_server_error()) {
            state.replays.insert(key, Replay { fingerprint: fingerprint.clone(), status: status.as_u16(), body: body.clone(), at });
        }
        Ok((status, body, false))
    });
    match answered {
        Ok(Ok((status, body, replayed))) => respond(status, &body, replayed),
        Ok(Err(failure)) => refuse(&failure),
        Err(error) => {
            tracing::error!(%error, "the emulated Stripe could not save its state");
            refuse(&Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "The emulated Stripe could not save its state.",
            ))
        }
    }
}

/// `POST /emulator/advance` (`by`: a span like `30d`; `customer`): see `StripeTime::advance`.
async fn advance(Shared(emulator): Shared<Arc<Emulator>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(failure) = authorized(&emulator, &headers) {
        return refuse(&failure);
    }
    let params = Params::decode(&body);
    let by = match params.get("by").map(span_seconds).transpose() {
        Ok(by) => by,
        Err(reason) => return refuse(&Failure::invalid(&format!("by {reason}")).param("by")),
    };
    match emulator.advance(params.get("customer"), by) {
        Ok(advanced) => {
            respond(StatusCode::OK, &json!({"renewed": advanced.renewed, "invoices": advanced.invoices}), false)
        }
        Err(tollgate_app::ports::stripe_time::StripeTimeError::UnknownCustomer(id)) => {
            refuse(&Failure::no_such("customer", &id).param("customer"))
        }
        Err(error) => refuse(&Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", &error.to_string())),
    }
}

/// A span like `31d` or `12h`, in seconds.
fn span_seconds(text: &str) -> Result<i64, String> {
    let span = humantime::parse_duration(text.trim()).map_err(|e| format!("must be a span like 31d or 12h: {e}"))?;
    i64::try_from(span.as_secs()).map_err(|_| "is too long a span".to_owned())
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

fn route(
    state: &mut State,
    at: i64,
    base: &str,
    method: &Method,
    path: &[&str],
    params: &Params,
) -> Result<Value, Failure> {
    let metadata = || params.map("metadata");
    match (method.as_str(), path) {
        ("POST", ["customers"]) => {
            let mut customer = fixtures::get("customer");
            set(
                &mut customer,
                json!({"id": new_id("cus"), "created": at, "email": params.get("email"), "name": params.get("name"),
                "description": params.get("description"), "metadata": metadata(), "address": Value::Null, "shipping": Value::Null,
                "discount": Value::Null, "test_clock": Value::Null, "default_source": Value::Null, "currency": Value::Null,
                "invoice_settings": {"custom_fields": Value::Null, "default_payment_method": Value::Null, "footer": Value::Null, "rendering_options": Value::Null}}),
            );
            state.emit("customer.created", &customer, None, None, at);
            Ok(state.insert(customer))
        }
        ("GET", ["customers", id]) => get_object(state, "customer", id),
        ("POST", ["customers", id]) => {
            get_object(state, "customer", id)?;
            updated(state, at, id, "customer.updated", |customer| {
                for field in ["email", "name", "description"] {
                    if let Some(value) = params.get(field) {
                        customer[field] = json!(value);
                    }
                }
                merge_metadata(customer, metadata());
            })
        }
        ("GET", ["customers"]) => {
            let email = params.get("email");
            let found =
                state.newest_first("customer").filter(|c| email.is_none_or(|e| c["email"] == e)).cloned().collect();
            page(found, params, "/v1/customers")
        }
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
        ("POST", ["checkout", "sessions"]) => create_session(state, at, base, params),
        ("GET", ["checkout", "sessions", id]) => get_object(state, "checkout.session", id),
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
        ("POST", ["billing", "meter_events"]) => {
            let event_name = params.required("event_name")?;
            let customer = params.required("payload[stripe_customer_id]")?;
            let value = params.required("payload[value]")?;
            let identifier = params.get("identifier").map_or_else(|| new_id("mev"), str::to_owned);
            // Stripe counts an identifier once; the same one again is accepted and dropped.
            if let Some(seen) =
                state.newest_first("billing.meter_event").find(|e| e["identifier"] == identifier.as_str())
            {
                return Ok(seen.clone());
            }
            let mut event = fixtures::get("billing_meter_event");
            set(
                &mut event,
                json!({"event_name": event_name, "identifier": identifier, "created": at,
                "payload": {"stripe_customer_id": customer, "value": value}, "timestamp": params.int("timestamp")?.unwrap_or(at)}),
            );
            Ok(state.insert(event))
        }
        ("POST", ["accounts"]) => {
            let mut account = fixtures::get("account");
            set(
                &mut account,
                json!({"id": new_id("acct"), "type": params.get("type").unwrap_or("express"), "created": at,
                "country": params.get("country").unwrap_or("US"), "email": params.get("email"), "metadata": metadata(),
                "payouts_enabled": false, "charges_enabled": false, "details_submitted": false,
                "capabilities": {"transfers": "inactive", "card_payments": "inactive"},
                "requirements": {"alternatives": [], "current_deadline": Value::Null, "disabled_reason": "requirements.past_due", "errors": [],
                    "currently_due": ["external_account", "tos_acceptance.date", "tos_acceptance.ip"],
                    "eventually_due": ["external_account", "tos_acceptance.date", "tos_acceptance.ip"], "past_due": [], "pending_verification": []}}),
            );
            Ok(state.insert(account))
        }
        ("GET", ["accounts", id]) => get_object(state, "account", id),
        ("POST", ["account_links"]) => {
            let account = params.required("account")?;
            get_object(state, "account", account)?;
            let id = new_id("acctlink");
            let return_url = params.required("return_url")?;
            let refresh_url = params.required("refresh_url")?;
            let expires_at = at + 300;
            *state.private(&id) = json!({"account": account, "return_url": return_url, "refresh_url": refresh_url, "expires_at": expires_at});
            Ok(
                json!({"object": "account_link", "created": at, "expires_at": expires_at, "url": format!("{base}/connect/{id}")}),
            )
        }
        ("POST", ["transfers"]) => create_transfer(state, at, params),
        ("GET", ["transfers", id]) => get_object(state, "transfer", id),
        ("GET", ["transfers"]) => {
            let group = params.get("transfer_group");
            let destination = params.get("destination");
            let found = state
                .newest_first("transfer")
                .filter(|t| group.is_none_or(|g| t["transfer_group"] == g))
                .filter(|t| destination.is_none_or(|d| t["destination"] == d))
                .cloned()
                .collect();
            page(found, params, "/v1/transfers")
        }
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
        ("GET", ["events", id]) => {
            state.events.iter().find(|e| e["id"] == *id).cloned().ok_or_else(|| Failure::no_such("event", id))
        }
        ("GET", ["events"]) => {
            let types = params.list("types");
            let mut found = Vec::new();
            for event in state.events.iter().rev() {
                let event_type = event["type"].as_str().unwrap_or_default();
                if type_matches(params, &types, event_type)
                    && created_matches(params, event["created"].as_i64().unwrap_or(0))?
                {
                    found.push(event.clone());
                }
            }
            page(found, params, "/v1/events")
        }
        _ => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            &format!(
                "Unrecognized request URL ({} /v1/{}). The emulated Stripe serves the endpoints tollgate uses.",
                method,
                path.join("/")
            ),
        )),
    }
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
const MAX_AMOUNT: i64 = 99_999_999;

fn create_price(state: &mut State, at: i64, params: &Params) -> Result<Value, Failure> {
    let currency = params.required("currency")?.to_ascii_lowercase();
    let product = params.required("product")?;
    get_object(state, "product", product)?;
    let unit_amount = params.int("unit_amount")?.ok_or_else(|| Failure::missing("unit_amount"))?;
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
            json!({"interval": interval, "interval_count": count, "meter": Value::Null, "usage_type": "licensed", "trial_period_days": Value::Null})
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
        json!({"id": id, "created": at, "currency": currency, "product": product, "unit_amount": unit_amount,
        "unit_amount_decimal": unit_amount.to_string(), "lookup_key": params.get("lookup_key"), "nickname": params.get("nickname"),
        "active": params.flag("active")?.unwrap_or(true), "metadata": params.map("metadata"), "transform_quantity": Value::Null,
        "type": if recurring.is_null() { "one_time" } else { "recurring" }, "recurring": recurring, "tiers_mode": Value::Null,
        "custom_unit_amount": Value::Null, "billing_scheme": "per_unit", "tax_behavior": "unspecified"}),
    );
    state.emit("price.created", &price, None, None, at);
    Ok(state.insert(price))
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
    *state.private(&id) = json!({"price": price_id, "quantity": quantity,
        "subscription_metadata": params.map("subscription_data[metadata]"),
        "payment_intent_metadata": params.map("payment_intent_data[metadata]")});
    Ok(state.insert(session))
}

fn create_transfer(state: &mut State, at: i64, params: &Params) -> Result<Value, Failure> {
    let amount = params.int("amount")?.ok_or_else(|| Failure::missing("amount"))?;
    if amount <= 0 {
        return Err(Failure::invalid("This value must be greater than or equal to 1.").param("amount"));
    }
    let currency = params.required("currency")?.to_ascii_lowercase();
    let destination = params.required("destination")?;
    let account = get_object(state, "account", destination).map_err(|failure| failure.param("destination"))?;
    if account["capabilities"]["transfers"] != "active" {
        return Err(Failure::coded(
            "insufficient_capabilities_for_transfer",
            "Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments",
        )
        .param("destination"));
    }
    if billing::balance(state, &currency) < amount {
        return Err(Failure::coded(
            "balance_insufficient",
            "You have insufficient available funds in your Stripe account. Try adding funds directly to your available balance by creating Charges using the 4000000000000077 test card.",
        ));
    }
    let mut transfer = fixtures::get("transfer");
    let id = new_id("tr");
    set(
        &mut transfer,
        json!({"id": id, "amount": amount, "amount_reversed": 0, "currency": currency, "destination": destination,
        "transfer_group": params.get("transfer_group"), "metadata": params.map("metadata"), "description": params.get("description"),
        "created": at, "reversed": false, "balance_transaction": new_id("txn"), "destination_payment": new_id("py"),
        "source_transaction": Value::Null,
        "reversals": {"object": "list", "data": [], "has_more": false, "url": format!("/v1/transfers/{id}/reversals")}}),
    );
    state.emit("transfer.created", &transfer, None, None, at);
    Ok(state.insert(transfer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::tests::{NEW_YEAR, shop};
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
    fn any_well_formed_version_is_taken() {
        for version in ["2026-09-30.endive", "2026-10-28.endive", "2020-08-27", "2017-05-25"] {
            assert!(well_formed_version(version.as_bytes()), "{version}");
        }
        for version in ["", "latest", "2026-9-30", "2026-09-30.", "2026-09-30.Endive", "2026-09-30.endive\u{1}"] {
            assert!(!well_formed_version(version.as_bytes()), "{version:?}");
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
    fn form_parameters_read_as_stripe_nests_them() {
        let params = Params::decode(
            b"metadata[account_id]=user_a&subscription_data[metadata][sku]=api_pro&lookup_keys[0]=a&lookup_keys[1]=b&expand[]=data.product&empty=",
        );
        assert_eq!(params.map("metadata"), Map::from_iter([("account_id".to_owned(), json!("user_a"))]));
        assert_eq!(params.map("subscription_data[metadata]")["sku"], "api_pro");
        assert_eq!(params.list("lookup_keys"), ["a", "b"]);
        assert_eq!(params.list("expand"), ["data.product"]);
        assert_eq!(params.get("empty"), None, "an empty value is no value");
        let reordered = Params::decode(b"lookup_keys[1]=b&lookup_keys[0]=a&expand[]=data.product&empty=&subscription_data[metadata][sku]=api_pro&metadata[account_id]=user_a");
        assert_eq!(params.fingerprint(&Method::POST, "x"), reordered.fingerprint(&Method::POST, "x"));
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
