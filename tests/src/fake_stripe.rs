//! A local HTTP server that plays Stripe for the endpoints tollgate calls: customers,
//! prices, products, Checkout Sessions, billing-portal sessions, meter events, Connect
//! accounts, account links and transfers (listed by `transfer_group`), and the event list (paged newest first, filtered by type and `created`) and event retrieval. It answers with
//! Stripe's own published example objects (`tests/fixtures/stripe`, which async-stripe
//! parses), keeps what was created, replays idempotent requests as Stripe does (same
//! key and same parameters → the first answer; same key, other parameters → 400), and
//! records every request so tests can check the exact form parameters and headers.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const SECRET_KEY: &str = "sk_test_tollgate_fake_stripe";

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    /// Form body or query string, decoded, in order.
    pub params: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
}

impl Recorded {
    /// The value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, Clone)]
struct PriceState {
    id: String,
    lookup_key: Option<String>,
    unit_amount: i64,
    currency: String,
    interval: Option<String>,
    product: String,
    active: bool,
    /// A metered price's meter and `unit_amount_decimal`.
    metered: Option<(String, String)>,
}

#[derive(Default)]
struct Stripe {
    requests: Vec<Recorded>,
    /// Idempotency key → (request fingerprint, answer).
    replays: HashMap<String, (String, Value)>,
    customers: Vec<String>,
    products: HashMap<String, String>,
    prices: Vec<PriceState>,
    /// Billing Meters: (id, event name).
    meters: Vec<(String, String)>,
    sessions: u32,
    /// Writes that changed Stripe's state (creates and updates, not replays).
    changes: u32,
    /// Set to play a Stripe that ignores idempotency keys (as localstripe does).
    ignore_idempotency: bool,
    /// Meter events to answer with a 500 before accepting any (a Stripe outage).
    failing_meter_events: u32,
    /// Meter event identifiers accepted, once each (Stripe dedupes on them).
    meter_events: Vec<(String, String, String)>,
    /// Events Stripe holds, as tests put them, in the order they were created.
    events: Vec<Value>,
    /// Connected accounts created (Connect, Express).
    connected_accounts: Vec<String>,
    /// Transfers made, oldest first.
    transfers: Vec<Value>,
    /// Set to refuse transfers with this error code (`balance_insufficient`…).
    refusing_transfers: Option<String>,
    /// Set to make transfers and never answer: the caller stops before it learns the id.
    stalling_transfers: bool,
}

/// The running fake. Dropping it leaves the server running until the test process ends.
#[derive(Clone)]
pub struct FakeStripe {
    state: Arc<Mutex<Stripe>>,
    pub base_url: String,
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/stripe/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn decode(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes()).into_owned().collect()
}

fn answer(status: StatusCode, body: &Value) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    answer(status, &json!({"error": {"type": "invalid_request_error", "message": message}}))
}

fn coded_error(status: StatusCode, code: &str, message: &str) -> Response {
    answer(status, &json!({"error": {"type": "invalid_request_error", "code": code, "message": message}}))
}

fn price_json(price: &PriceState, products: &HashMap<String, String>, expand_product: bool) -> Value {
    let mut object = fixture("price");
    object["id"] = json!(price.id);
    object["lookup_key"] = json!(price.lookup_key);
    object["unit_amount"] = json!(price.unit_amount);
    object["unit_amount_decimal"] = json!(price.unit_amount.to_string());
    if let Some((meter, decimal)) = &price.metered {
        object["unit_amount"] = Value::Null;
        object["unit_amount_decimal"] = json!(decimal);
        object["recurring"]["usage_type"] = json!("metered");
        object["recurring"]["meter"] = json!(meter);
    }
    object["currency"] = json!(price.currency);
    object["active"] = json!(price.active);
    object["transform_quantity"] = Value::Null;
    match &price.interval {
        Some(interval) => {
            object["recurring"]["interval"] = json!(interval);
            object["type"] = json!("recurring");
        }
        None => {
            object["recurring"] = Value::Null;
            object["type"] = json!("one_time");
        }
    }
    object["product"] = if expand_product {
        let mut product = fixture("product");
        product["id"] = json!(price.product);
        product["name"] = json!(products.get(&price.product).cloned().unwrap_or_default());
        product
    } else {
        json!(price.product)
    };
    object
}

fn meter_json(id: &str, event_name: &str) -> Value {
    let mut meter = fixture("billing_meter");
    meter["id"] = json!(id);
    meter["event_name"] = json!(event_name);
    meter
}

impl FakeStripe {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0").await
    }

    /// Listens on `address` (`127.0.0.1:12111`).
    pub async fn start_on(address: &str) -> Self {
        let state = Arc::new(Mutex::new(Stripe::default()));
        let app = axum::Router::new().route("/v1/{*path}", axum::routing::any(handle)).with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind(address).await.unwrap_or_else(|e| panic!("{address}: {e}"));
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { state, base_url }
    }

    /// From now on every request creates anew, whatever its idempotency key: what is left
    /// to keep one customer per account is tollgate's own conditional write.
    pub fn ignore_idempotency(&self) {
        self.state.lock().unwrap().ignore_idempotency = true;
    }

    /// The next `count` meter events fail with a 500, as during a Stripe outage.
    pub fn fail_meter_events(&self, count: u32) {
        self.state.lock().unwrap().failing_meter_events = count;
    }

    /// Meter events Stripe counted: (identifier, customer, value), a repeated identifier once.
    pub fn meter_events(&self) -> Vec<(String, String, String)> {
        self.state.lock().unwrap().meter_events.clone()
    }

    /// Stripe creates `event` (whole, as a webhook would carry it): it is listed and retrievable.
    pub fn hold_event(&self, event: Value) {
        self.state.lock().unwrap().events.push(event);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Requests to `path` with `method`.
    pub fn requests_to(&self, method: &Method, path: &str) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.method == *method && r.path == path).collect()
    }

    /// From now on transfers are refused with `code` (`None`: made again).
    pub fn refuse_transfers(&self, code: Option<&str>) {
        self.state.lock().unwrap().refusing_transfers = code.map(str::to_owned);
    }

    /// From now on a transfer is made but its answer never sent.
    pub fn stall_transfers(&self, stall: bool) {
        self.state.lock().unwrap().stalling_transfers = stall;
    }

    /// Stripe keeps idempotency keys for 24 hours: this plays that time passing.
    pub fn forget_idempotency_keys(&self) {
        self.state.lock().unwrap().replays.clear();
    }

    /// Transfers made, oldest first: `(destination, amount, transfer_group, metadata[account_id])`.
    pub fn transfers(&self) -> Vec<(String, i64, String, String)> {
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        let state = self.state.lock().unwrap();
        state
            .transfers
            .iter()
            .map(|t| {
                (
                    text(&t["destination"]),
                    t["amount"].as_i64().unwrap(),
                    text(&t["transfer_group"]),
                    text(&t["metadata"]["account_id"]),
                )
            })
            .collect()
    }

    /// A connected account made as if onboarding had run (`acct_fake<n>`).
    pub fn open_connected_account(&self) -> String {
        let mut state = self.state.lock().unwrap();
        let id = format!("acct_fake{}", state.connected_accounts.len() + 1);
        state.connected_accounts.push(id.clone());
        id
    }

    pub fn connected_accounts_created(&self) -> usize {
        self.state.lock().unwrap().connected_accounts.len()
    }

    pub fn customers_created(&self) -> usize {
        self.state.lock().unwrap().customers.len()
    }

    pub fn sessions_created(&self) -> u32 {
        self.state.lock().unwrap().sessions
    }

    pub fn changes(&self) -> u32 {
        self.state.lock().unwrap().changes
    }

    /// The active price carrying `lookup_key`: (id, amount, product name).
    pub fn active_price(&self, lookup_key: &str) -> Option<(String, i64, String)> {
        let state = self.state.lock().unwrap();
        state
            .prices
            .iter()
            .find(|p| p.active && p.lookup_key.as_deref() == Some(lookup_key))
            .map(|p| (p.id.clone(), p.unit_amount, state.products.get(&p.product).cloned().unwrap_or_default()))
    }
}

/// Marks an answer the fake never sends (see `stall_transfers`).
#[derive(Clone, Copy)]
struct Stalled;

async fn handle(
    State(state): State<Arc<Mutex<Stripe>>>,
    Path(path): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A Stripe that ignores idempotency answers a new customer or connected account slowly,
    // so that concurrent first calls overlap and each really makes one.
    let ignoring = state.lock().unwrap().ignore_idempotency;
    if ignoring && method == Method::POST && (path == "customers" || path == "accounts") {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let response = respond(&state, path, method, uri, headers, body);
    if response.extensions().get::<Stalled>().is_some() {
        std::future::pending::<()>().await;
    }
    response
}

fn respond(state: &Mutex<Stripe>, path: String, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let params = if method == Method::GET {
        decode(uri.query().unwrap_or_default())
    } else {
        decode(std::str::from_utf8(&body).unwrap_or_default())
    };
    let recorded = Recorded {
        method: method.clone(),
        path: format!("/v1/{path}"),
        params: params.clone(),
        idempotency_key: header("idempotency-key"),
        stripe_version: header("stripe-version"),
    };
    let mut stripe = state.lock().unwrap();
    stripe.requests.push(recorded.clone());
    if header("authorization").as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return error(StatusCode::UNAUTHORIZED, "invalid API key");
    }
    if recorded.stripe_version.as_deref() != Some(tollgate_core::STRIPE_API_VERSION) {
        return error(StatusCode::BAD_REQUEST, "unexpected Stripe-Version");
    }
    let stalls = stripe.stalling_transfers && method == Method::POST && recorded.path == "/v1/transfers";
    if let Some(key) = recorded.idempotency_key.as_ref().filter(|_| !stripe.ignore_idempotency) {
        // Stripe compares parameters, not their order (metadata maps serialise in any order).
        let mut sorted = params.clone();
        sorted.sort();
        let fingerprint = format!("{} {} {:?}", method, recorded.path, sorted);
        if let Some((seen, first)) = stripe.replays.get(key) {
            return if *seen == fingerprint {
                answer(StatusCode::OK, first)
            } else {
                error(StatusCode::BAD_REQUEST, "Keys for idempotent requests can only be used with the same parameters")
            };
        }
        let created = match create(&mut stripe, &recorded) {
            Ok(created) => created,
            Err((status, message, code)) => return refusal(status, &message, code.as_deref()),
        };
        stripe.replays.insert(key.clone(), (fingerprint, created.clone()));
        let mut response = answer(StatusCode::OK, &created);
        if stalls {
            response.extensions_mut().insert(Stalled);
        }
        return response;
    }
    match create(&mut stripe, &recorded) {
        Ok(created) => answer(StatusCode::OK, &created),
        Err((status, message, code)) => refusal(status, &message, code.as_deref()),
    }
}

/// What the fake refuses: a status, Stripe's error message, and its error code when it has one.
type Refusal = (StatusCode, String, Option<String>);

fn refuse(status: StatusCode, message: &str) -> Refusal {
    (status, message.to_owned(), None)
}

fn refusal(status: StatusCode, message: &str, code: Option<&str>) -> Response {
    match code {
        Some(code) => coded_error(status, code, message),
        None => error(status, message),
    }
}

fn create(stripe: &mut Stripe, request: &Recorded) -> Result<Value, Refusal> {
    let segments: Vec<&str> = request.path.trim_start_matches("/v1/").split('/').collect();
    let param = |name: &str| request.param(name).map(str::to_owned);
    match (&request.method, segments.as_slice()) {
        (&Method::POST, ["customers"]) => {
            let id = format!("cus_fake{}", stripe.customers.len() + 1);
            stripe.customers.push(id.clone());
            stripe.changes += 1;
            let mut customer = fixture("customer");
            customer["id"] = json!(id);
            customer["metadata"] = json!({"account_id": param("metadata[account_id]")});
            Ok(customer)
        }
        (&Method::POST, ["accounts"]) => {
            let id = format!("acct_fake{}", stripe.connected_accounts.len() + 1);
            stripe.connected_accounts.push(id.clone());
            stripe.changes += 1;
            let mut account = fixture("account");
            account["id"] = json!(id);
            account["type"] = json!(param("type"));
            account["metadata"] = json!({"account_id": param("metadata[account_id]")});
            account["payouts_enabled"] = json!(false);
            account["charges_enabled"] = json!(false);
            Ok(account)
        }
        (&Method::POST, ["account_links"]) => {
            let account = param("account").unwrap_or_default();
            if !stripe.connected_accounts.contains(&account) {
                return Err(refuse(StatusCode::BAD_REQUEST, &format!("No such account: '{account}'")));
            }
            let mut link = fixture("account_link");
            link["url"] = json!(format!("https://connect.stripe.com/setup/e/{account}/fake{}", stripe.requests.len()));
            Ok(link)
        }
        (&Method::POST, ["checkout", "sessions"]) => {
            stripe.sessions += 1;
            stripe.changes += 1;
            let id = format!("cs_test_fake{}", stripe.sessions);
            let mut session = fixture("checkout_session");
            session["id"] = json!(id);
            session["url"] = json!(format!("https://checkout.stripe.com/c/pay/{id}"));
            session["mode"] = json!(param("mode"));
            session["customer"] = json!(param("customer"));
            session["client_reference_id"] = json!(param("client_reference_id"));
            Ok(session)
        }
        (&Method::POST, ["billing_portal", "sessions"]) => {
            let mut portal = fixture("billing_portal_session");
            portal["customer"] = json!(param("customer"));
            portal["return_url"] = json!(param("return_url"));
            portal["url"] =
                json!(format!("https://billing.stripe.com/p/session/fake_{}", param("customer").unwrap_or_default()));
            Ok(portal)
        }
        (&Method::POST, ["products"]) => {
            let id = format!("prod_fake{}", stripe.products.len() + 1);
            stripe.products.insert(id.clone(), param("name").unwrap_or_default());
            stripe.changes += 1;
            let mut product = fixture("product");
            product["id"] = json!(id);
            product["name"] = json!(param("name"));
            Ok(product)
        }
        (&Method::POST, ["products", id]) => {
            let name = param("name").unwrap_or_default();
            stripe.products.insert((*id).to_owned(), name.clone());
            stripe.changes += 1;
            let mut product = fixture("product");
            product["id"] = json!(id);
            product["name"] = json!(name);
            Ok(product)
        }
        (&Method::POST, ["prices"]) => {
            let lookup_key = param("lookup_key");
            if param("transfer_lookup_key").as_deref() == Some("true") {
                for price in stripe.prices.iter_mut().filter(|p| p.lookup_key == lookup_key) {
                    price.lookup_key = None;
                }
            } else if stripe.prices.iter().any(|p| p.lookup_key.is_some() && p.lookup_key == lookup_key) {
                return Err(refuse(StatusCode::BAD_REQUEST, "A price with this lookup_key already exists"));
            }
            let price = PriceState {
                id: format!("price_fake{}", stripe.prices.len() + 1),
                lookup_key,
                unit_amount: param("unit_amount").and_then(|a| a.parse().ok()).unwrap_or(0),
                currency: param("currency").unwrap_or_default(),
                interval: param("recurring[interval]"),
                product: param("product").unwrap_or_default(),
                active: true,
                metered: param("recurring[meter]").zip(param("unit_amount_decimal")),
            };
            stripe.prices.push(price.clone());
            stripe.changes += 1;
            Ok(price_json(&price, &stripe.products, false))
        }
        (&Method::POST, ["prices", id]) => {
            let Some(price) = stripe.prices.iter_mut().find(|p| p.id == *id) else {
                return Err(refuse(StatusCode::NOT_FOUND, "No such price"));
            };
            if let Some(active) = param("active") {
                price.active = active == "true";
            }
            let price = price.clone();
            stripe.changes += 1;
            Ok(price_json(&price, &stripe.products, false))
        }
        (&Method::POST, ["billing", "meters"]) => {
            let id = format!("mtr_fake{}", stripe.meters.len() + 1);
            let event_name = param("event_name").unwrap_or_default();
            stripe.meters.push((id.clone(), event_name.clone()));
            stripe.changes += 1;
            Ok(meter_json(&id, &event_name))
        }
        // No subscriptions: catalog sync finds none lacking a metered price.
        (&Method::GET, ["subscriptions"]) => {
            Ok(json!({"object": "list", "data": [], "has_more": false, "url": "/v1/subscriptions"}))
        }
        (&Method::GET, ["billing", "meters"]) => {
            let data: Vec<Value> = stripe.meters.iter().map(|(id, event_name)| meter_json(id, event_name)).collect();
            Ok(json!({"object": "list", "data": data, "has_more": false, "url": "/v1/billing/meters"}))
        }
        (&Method::POST, ["billing", "meter_events"]) => {
            if stripe.failing_meter_events > 0 {
                stripe.failing_meter_events -= 1;
                return Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, "an outage, played"));
            }
            let identifier = param("identifier").unwrap_or_default();
            let customer = param("payload[stripe_customer_id]").unwrap_or_default();
            let value = param("payload[value]").unwrap_or_default();
            if !stripe.meter_events.iter().any(|(seen, _, _)| *seen == identifier) {
                stripe.meter_events.push((identifier.clone(), customer.clone(), value.clone()));
            }
            let mut event = fixture("billing_meter_event");
            event["event_name"] = json!(param("event_name"));
            event["identifier"] = json!(identifier);
            event["payload"] = json!({"stripe_customer_id": customer, "value": value});
            event["timestamp"] = json!(param("timestamp").and_then(|t| t.parse::<i64>().ok()));
            Ok(event)
        }
        (&Method::POST, ["transfers"]) => {
            if let Some(code) = stripe.refusing_transfers.clone() {
                let message = "You have insufficient funds in your Stripe account.".to_owned();
                return Err((StatusCode::BAD_REQUEST, message, Some(code)));
            }
            let destination = param("destination").unwrap_or_default();
            if !stripe.connected_accounts.contains(&destination) {
                return Err(refuse(StatusCode::BAD_REQUEST, &format!("No such destination: '{destination}'")));
            }
            let mut transfer = fixture("transfer");
            transfer["id"] = json!(format!("tr_fake{}", stripe.transfers.len() + 1));
            transfer["amount"] = json!(param("amount").and_then(|a| a.parse::<i64>().ok()));
            transfer["currency"] = json!(param("currency"));
            transfer["destination"] = json!(destination);
            transfer["transfer_group"] = json!(param("transfer_group"));
            transfer["created"] = json!(stripe.transfers.len() as i64 + 1_790_000_000);
            let metadata: serde_json::Map<String, Value> = request
                .params
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("metadata[")?.strip_suffix(']')?.to_owned(), json!(v))))
                .collect();
            transfer["metadata"] = Value::Object(metadata);
            stripe.transfers.push(transfer.clone());
            stripe.changes += 1;
            Ok(transfer)
        }
        (&Method::GET, ["transfers"]) => {
            let group = param("transfer_group");
            let limit: usize = param("limit").and_then(|limit| limit.parse().ok()).unwrap_or(10);
            let newest_first: Vec<&Value> = stripe
                .transfers
                .iter()
                .rev()
                .filter(|t| group.is_none() || t["transfer_group"].as_str() == group.as_deref())
                .collect();
            let start = param("starting_after")
                .and_then(|after| newest_first.iter().position(|t| t["id"] == after.as_str()))
                .map_or(0, |at| at + 1);
            let page: Vec<Value> = newest_first.iter().skip(start).take(limit).map(|t| (*t).clone()).collect();
            let has_more = newest_first.len() > start + page.len();
            Ok(json!({"object": "list", "url": "/v1/transfers", "has_more": has_more, "data": page}))
        }
        (&Method::GET, ["events", id]) => stripe
            .events
            .iter()
            .find(|event| event["id"] == *id)
            .cloned()
            .ok_or_else(|| refuse(StatusCode::NOT_FOUND, &format!("No such event: '{id}'"))),
        (&Method::GET, ["events"]) => Ok(event_page(&stripe.events, request)),
        (&Method::GET, ["prices"]) => {
            let keys: Vec<String> =
                request.params.iter().filter(|(k, _)| k.starts_with("lookup_keys")).map(|(_, v)| v.clone()).collect();
            let only_active = param("active").as_deref() == Some("true");
            let expand = request.params.iter().any(|(k, v)| k.starts_with("expand") && v == "data.product");
            let data: Vec<Value> = stripe
                .prices
                .iter()
                .filter(|p| p.lookup_key.as_ref().is_some_and(|k| keys.contains(k)) && (p.active || !only_active))
                .map(|p| price_json(p, &stripe.products, expand))
                .collect();
            Ok(json!({"object": "list", "data": data, "has_more": false, "url": "/v1/prices"}))
        }
        _ => {
            Err(refuse(StatusCode::NOT_FOUND, &format!("the fake does not serve {} {}", request.method, request.path)))
        }
    }
}

/// A page of `GET /v1/events` as Stripe answers it: newest first, of the `types[]` asked
/// for, created at or after `created[gte]`, after `starting_after`, at most `limit`.
fn event_page(events: &[Value], request: &Recorded) -> Value {
    let types: Vec<&str> =
        request.params.iter().filter(|(key, _)| key.starts_with("types[")).map(|(_, t)| t.as_str()).collect();
    let from: i64 = request.param("created[gte]").and_then(|at| at.parse().ok()).unwrap_or(0);
    let limit: usize = request.param("limit").and_then(|limit| limit.parse().ok()).unwrap_or(10);
    let mut newest_first: Vec<&Value> = events
        .iter()
        .filter(|event| types.is_empty() || types.contains(&event["type"].as_str().unwrap_or_default()))
        .filter(|event| event["created"].as_i64().unwrap_or(0) >= from)
        .collect();
    newest_first.reverse();
    newest_first.sort_by_key(|event| std::cmp::Reverse(event["created"].as_i64().unwrap_or(0)));
    let start = request
        .param("starting_after")
        .and_then(|after| newest_first.iter().position(|event| event["id"] == after))
        .map_or(0, |at| at + 1);
    let page: Vec<Value> = newest_first.iter().skip(start).take(limit).map(|event| (*event).clone()).collect();
    let has_more = newest_first.len() > start + page.len();
    json!({"object": "list", "url": "/v1/events", "has_more": has_more, "data": page})
}
