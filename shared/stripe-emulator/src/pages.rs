//! The hosted pages, local and in plain HTML (no JavaScript): Checkout's payment page, the
//! customer portal, and Connect onboarding. Each is reached by the unguessable id in the URL
//! the API handed out, as Stripe's are.

use crate::billing::{self, Card};
use crate::store;
use crate::{Emulator, now};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/checkout/{session}", get(checkout).post(pay))
        .route("/portal/{session}", get(portal).post(manage))
        .route("/connect/{link}", get(onboarding).post(onboard))
}

/// HTML-escapes `text` (a page writes nothing else unescaped). Five characters; no crate needed.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn form(body: &Bytes) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} · emulated Stripe</title><style>\
         body{{font:16px system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#1a1f36}}\
         .note{{background:#fff8e1;border:1px solid #f5c542;padding:.5rem .75rem;border-radius:6px;font-size:.9rem}}\
         .error{{background:#fde8e8;border:1px solid #e25950;padding:.5rem .75rem;border-radius:6px}}\
         label{{display:block;margin:.75rem 0 .25rem}}input,select{{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}}\
         button{{font:inherit;margin-top:1rem;padding:.5rem 1rem;background:#635bff;color:#fff;border:0;border-radius:6px}}\
         table{{width:100%;border-collapse:collapse}}td{{padding:.25rem 0}}</style></head><body>\
         <p class=\"note\">Emulated Stripe in <code>tollgate dev</code>: no real money moves.</p>{body}</body></html>",
        title = escape(title)
    );
    let mut response = (status, Html(html)).into_response();
    // The pages carry their own style and no script. Forms post to this origin, whose answer
    // may redirect to the buyer's `success_url` anywhere: no `form-action`, which would block it.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'".parse().expect("a header value"),
    );
    response
}

fn money(amount: i64, currency: &str) -> String {
    format!("{}.{:02} {}", amount / 100, amount % 100, currency.to_uppercase())
}

/// The state could not be saved: nothing the page did is kept.
fn unsaved(error: &std::io::Error) -> Response {
    page(StatusCode::INTERNAL_SERVER_ERROR, "Error", &format!("<p class=\"error\">{}</p>", escape(&error.to_string())))
}

/// The name of the product `price` sells.
fn product_name<'a>(state: &'a store::State, price: &Value) -> Option<&'a str> {
    state.find("product", price["product"].as_str().unwrap_or_default()).and_then(|p| p["name"].as_str())
}

fn gone(what: &str) -> Response {
    page(StatusCode::NOT_FOUND, "Not found", &format!("<h1>{}</h1>", escape(what)))
}

fn checkout_page(emulator: &Emulator, id: &str, error: Option<&str>) -> Response {
    let state = emulator.lock();
    let Some(session) = state.find("checkout.session", id) else {
        return gone("This Checkout Session does not exist.");
    };
    if session["status"] != "open" {
        return page(
            StatusCode::OK,
            "Paid",
            "<h1 data-testid=\"checkout-complete\">This Checkout Session is complete.</h1>",
        );
    }
    let line = state.private.get(id).cloned().unwrap_or_default();
    let price = state.find("price", line["price"].as_str().unwrap_or_default()).cloned().unwrap_or_default();
    let name = product_name(&state, &price).unwrap_or("Your order");
    let amount = session["amount_total"].as_i64().unwrap_or(0);
    let currency = session["currency"].as_str().unwrap_or("usd");
    let customer = state.find("customer", session["customer"].as_str().unwrap_or_default());
    let email = customer.and_then(|customer| customer["email"].as_str()).unwrap_or_default();
    let every = price["recurring"]["interval"].as_str().map(|i| format!(" per {i}")).unwrap_or_default();
    let error = error
        .map(|e| format!("<p class=\"error\" data-testid=\"card-error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let cancel = session["cancel_url"]
        .as_str()
        .map(|url| format!("<p><a href=\"{}\">← Back</a></p>", escape(url)))
        .unwrap_or_default();
    let body = format!(
        "<h1>{name}</h1><p data-testid=\"checkout-amount\">{amount}{every} × {quantity}</p>{error}\
         <form method=\"post\"><label for=\"email\">Email</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" value=\"{email}\">\
         <label for=\"card\">Card number</label>\
         <input id=\"card\" name=\"card\" inputmode=\"numeric\" autocomplete=\"cc-number\" placeholder=\"4242 4242 4242 4242\" required>\
         <label for=\"expiry\">Expiry (MM / YY)</label><input id=\"expiry\" name=\"expiry\" placeholder=\"12 / 34\" value=\"12 / 34\">\
         <label for=\"cvc\">CVC</label><input id=\"cvc\" name=\"cvc\" placeholder=\"123\" value=\"123\">\
         <button type=\"submit\" data-testid=\"pay\">Pay</button></form>\
         <p>Test cards: <code>4242 4242 4242 4242</code> pays; <code>4000 0000 0000 0002</code> is declined; \
         <code>4000 0000 0000 0341</code> pays now and fails at renewal.</p>{cancel}",
        name = escape(name),
        email = escape(email),
        amount = money(amount, currency),
        quantity = line["quantity"].as_i64().unwrap_or(1),
    );
    page(if error.is_empty() { StatusCode::OK } else { StatusCode::PAYMENT_REQUIRED }, "Checkout", &body)
}

async fn checkout(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>) -> Response {
    checkout_page(&emulator, &id, None)
}

async fn pay(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>, body: Bytes) -> Response {
    let mut fields = form(&body);
    let number = fields.remove("card").unwrap_or_default();
    let email = fields.remove("email").filter(|email| !email.trim().is_empty());
    let Some(card) = Card::read(&number) else {
        let hint = "Use a test card: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined.";
        return checkout_page(&emulator, &id, Some(hint));
    };
    let completed = emulator.change(|state, at| {
        // What the buyer typed is the session's customer details, as Stripe's page collects them.
        if let (Some(email), Some(session)) = (&email, state.get_mut(&id)) {
            session["customer_details"] = serde_json::json!({"email": email});
        }
        billing::complete_checkout(state, at, &id, card)
    });
    match completed {
        Ok(Ok(success)) => Redirect::to(&success).into_response(),
        Ok(Err(reason)) => checkout_page(&emulator, &id, Some(&reason)),
        Err(error) => unsaved(&error),
    }
}

fn portal_page(emulator: &Emulator, id: &str, notice: Option<&str>) -> Response {
    let state = emulator.lock();
    let Some(session) = state.find("billing_portal.session", id) else {
        return gone("This portal session does not exist.");
    };
    let customer = session["customer"].as_str().unwrap_or_default();
    let back = session["return_url"]
        .as_str()
        .map(|url| format!("<p><a href=\"{}\" data-testid=\"portal-return\">← Return</a></p>", escape(url)))
        .unwrap_or_default();
    let plans: Vec<&Value> =
        state.newest_first("price").filter(|p| p["active"] == true && !p["recurring"].is_null()).collect();
    let card = state.private.get(customer).and_then(|p| p["card"]["last4"].as_str()).unwrap_or("none");
    let mut body = String::from("<h1>Your subscriptions</h1>");
    if let Some(notice) = notice {
        body.push_str(&format!("<p class=\"note\" role=\"status\">{}</p>", escape(notice)));
    }
    let subscriptions: Vec<&Value> =
        state.newest_first("subscription").filter(|s| s["customer"] == customer && s["status"] != "canceled").collect();
    if subscriptions.is_empty() {
        body.push_str("<p>No live subscription.</p>");
    }
    for subscription in subscriptions {
        let sub_id = escape(subscription["id"].as_str().unwrap_or_default());
        let item = &subscription["items"]["data"][0];
        let price = &item["price"];
        let name = product_name(&state, price).unwrap_or("Plan");
        let end = item["current_period_end"].as_i64().unwrap_or(0);
        let end = chrono::DateTime::from_timestamp(end, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let pending =
            state.private.get(subscription["id"].as_str().unwrap_or_default()).and_then(|p| p["switch_to"].as_str());
        body.push_str(&format!(
            "<section data-testid=\"portal-subscription\"><h2>{name}</h2><table><tr><td>Price</td><td>{amount} per {interval}</td></tr>\
             <tr><td>Status</td><td>{status}</td></tr><tr><td>{renews}</td><td>{end}</td></tr></table>",
            name = escape(name),
            amount = money(price["unit_amount"].as_i64().unwrap_or(0), price["currency"].as_str().unwrap_or("usd")),
            interval = escape(price["recurring"]["interval"].as_str().unwrap_or("month")),
            status = escape(subscription["status"].as_str().unwrap_or_default()),
            renews = if subscription["cancel_at_period_end"] == true { "Ends" } else { "Renews" },
        ));
        if subscription["cancel_at_period_end"] == true {
            body.push_str(&format!("<form method=\"post\"><input type=\"hidden\" name=\"subscription\" value=\"{sub_id}\"><button name=\"action\" value=\"keep\" data-testid=\"portal-keep\">Keep my plan</button></form>"));
        } else {
            body.push_str(&format!("<form method=\"post\"><input type=\"hidden\" name=\"subscription\" value=\"{sub_id}\"><button name=\"action\" value=\"cancel\" data-testid=\"portal-cancel\">Cancel at period end</button></form>"));
        }
        let options: String = plans
            .iter()
            .filter(|p| p["id"] != price["id"] && p["currency"] == price["currency"])
            .map(|p| {
                let product = product_name(&state, p).unwrap_or("Plan");
                let selected = if pending == p["id"].as_str() { " selected" } else { "" };
                format!(
                    "<option value=\"{}\"{selected}>{} — {}</option>",
                    escape(p["id"].as_str().unwrap_or_default()),
                    escape(product),
                    money(p["unit_amount"].as_i64().unwrap_or(0), p["currency"].as_str().unwrap_or("usd"))
                )
            })
            .collect();
        if !options.is_empty() {
            body.push_str(&format!(
                "<form method=\"post\"><input type=\"hidden\" name=\"subscription\" value=\"{sub_id}\"><label for=\"price-{sub_id}\">Switch plan at period end</label>\
                 <select id=\"price-{sub_id}\" name=\"price\">{options}</select><button name=\"action\" value=\"switch\" data-testid=\"portal-switch\">Switch at period end</button></form>"
            ));
        }
        body.push_str("</section>");
    }
    body.push_str(&format!(
        "<h2>Payment method</h2><p>Card ending {}</p><form method=\"post\"><label for=\"card\">New card number</label>\
         <input id=\"card\" name=\"card\" placeholder=\"4242 4242 4242 4242\"><button name=\"action\" value=\"card\">Update card</button></form>{back}",
        escape(card)
    ));
    page(StatusCode::OK, "Billing", &body)
}

async fn portal(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>) -> Response {
    portal_page(&emulator, &id, None)
}

async fn manage(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>, body: Bytes) -> Response {
    let fields = form(&body);
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let customer = {
        let state = emulator.lock();
        match state.find("billing_portal.session", &id) {
            Some(session) => session["customer"].as_str().unwrap_or_default().to_owned(),
            None => return gone("This portal session does not exist."),
        }
    };
    let subscription = field("subscription");
    let done = emulator.change(|state, at| {
        // A portal session manages its own customer's subscriptions only.
        let owned = state.find("subscription", &subscription).is_some_and(|s| s["customer"] == customer.as_str());
        match field("action").as_str() {
            "cancel" | "keep" | "switch" if !owned => Err("No such subscription.".to_owned()),
            "cancel" => billing::cancel_at_period_end(state, at, &subscription, true)
                .map(|_| "Your plan ends at the end of the period.".to_owned())
                .map_err(|f| f.message().to_owned()),
            "keep" => billing::cancel_at_period_end(state, at, &subscription, false)
                .map(|_| "Your plan renews as before.".to_owned())
                .map_err(|f| f.message().to_owned()),
            "switch" => billing::switch_at_period_end(state, at, &subscription, &field("price"))
                .map(|()| "The new plan starts at the end of the period.".to_owned())
                .map_err(|f| f.message().to_owned()),
            "card" => match Card::read(&field("card")) {
                Some(Card::Declined) => Err(billing::DECLINED.to_owned()),
                Some(card) => {
                    billing::save_card(state, &customer, card, card == Card::FailsLater);
                    Ok("Card updated.".to_owned())
                }
                None => {
                    Err("Use a test card: 4242 4242 4242 4242, or 4000 0000 0000 0341 to fail renewals.".to_owned())
                }
            },
            _ => Err("Unknown action.".to_owned()),
        }
    });
    match done {
        Ok(Ok(notice)) | Ok(Err(notice)) => portal_page(&emulator, &id, Some(&notice)),
        Err(error) => unsaved(&error),
    }
}

async fn onboarding(State(emulator): State<Arc<Emulator>>, Path(link): Path<String>) -> Response {
    let state = emulator.lock();
    let Some(private) = state.private.get(&link).filter(|p| p["account"].is_string()) else {
        return gone("This onboarding link does not exist.");
    };
    if let Some(refresh) = billing::spent_link(&state, now(), &link) {
        return Redirect::to(&refresh).into_response();
    }
    let account = escape(private["account"].as_str().unwrap_or_default());
    let body = format!(
        "<h1>Get paid</h1><p>Connected account <code data-testid=\"connect-account\">{account}</code>.</p>\
         <p>Stripe would ask for identity and a bank account here. The emulated Stripe takes them as given.</p>\
         <form method=\"post\"><button type=\"submit\" data-testid=\"connect-submit\">Agree and submit</button></form>"
    );
    page(StatusCode::OK, "Onboarding", &body)
}

async fn onboard(State(emulator): State<Arc<Emulator>>, Path(link): Path<String>) -> Response {
    if !emulator.lock().private.get(&link).is_some_and(|p| p["account"].is_string()) {
        return gone("This onboarding link does not exist.");
    }
    match emulator.change(|state, at| billing::complete_onboarding(state, at, &link)) {
        Ok(Ok(next)) | Ok(Err(next)) => Redirect::to(&next).into_response(),
        Err(error) => unsaved(&error),
    }
}
