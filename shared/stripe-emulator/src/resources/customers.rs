//! Customers: created, read, updated (metadata merged as Stripe merges it) and listed by email.

use super::*;

pub(super) fn route(state: &mut State, call: Call) -> Result<Value, Failure> {
    let Call { at, method, path, params, .. } = call;
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
        _ => Err(unrecognized(method, path)),
    }
}
