//! Stripe's own published example objects (`fixtures3.json` of stripe/openapi), the shape
//! every object the emulator makes starts from.

use serde_json::Value;

pub fn get(name: &str) -> Value {
    let text = match name {
        "account" => include_str!("../fixtures/account.json"),
        "account_link" => include_str!("../fixtures/account_link.json"),
        "billing_meter" => include_str!("../fixtures/billing_meter.json"),
        "billing_meter_event" => include_str!("../fixtures/billing_meter_event.json"),
        "billing_portal_session" => include_str!("../fixtures/billing_portal_session.json"),
        "charge" => include_str!("../fixtures/charge.json"),
        "checkout_session" => include_str!("../fixtures/checkout_session.json"),
        "customer" => include_str!("../fixtures/customer.json"),
        "event" => include_str!("../fixtures/event.json"),
        "invoice" => include_str!("../fixtures/invoice.json"),
        "payment_intent" => include_str!("../fixtures/payment_intent.json"),
        "price" => include_str!("../fixtures/price.json"),
        "product" => include_str!("../fixtures/product.json"),
        "refund" => include_str!("../fixtures/refund.json"),
        "subscription" => include_str!("../fixtures/subscription.json"),
        "subscription_item" => include_str!("../fixtures/subscription_item.json"),
        "transfer" => include_str!("../fixtures/transfer.json"),
        other => unreachable!("no fixture {other}"),
    };
    serde_json::from_str(text).expect("the fixtures are JSON")
}

/// Fills `fields` into `object` (a fixture, or an object made from one), replacing what
/// the fixture had there.
pub fn set(object: &mut Value, fields: Value) {
    if let (Some(object), Value::Object(fields)) = (object.as_object_mut(), fields) {
        object.extend(fields);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_fixture_is_an_object_of_its_kind() {
        for (name, kind) in [
            ("account", "account"),
            ("charge", "charge"),
            ("checkout_session", "checkout.session"),
            ("customer", "customer"),
            ("event", "event"),
            ("invoice", "invoice"),
            ("payment_intent", "payment_intent"),
            ("price", "price"),
            ("refund", "refund"),
            ("subscription", "subscription"),
            ("transfer", "transfer"),
        ] {
            assert_eq!(super::get(name)["object"], kind, "{name}");
        }
    }
}
