//! Events, listed and filtered as Stripe lists them, and Billing meter events, an
//! identifier counted once.

use super::*;

pub(super) fn route(state: &mut State, call: Call) -> Result<Value, Failure> {
    let Call { at, method, path, params, .. } = call;
    match (method.as_str(), path) {
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
        _ => Err(unrecognized(method, path)),
    }
}
