//! Events, listed and filtered as Stripe lists them; Billing Meters (one active meter per
//! event name), and meter events, an identifier counted once.

use super::*;

pub(super) fn route(state: &mut State, call: Call) -> Result<Value, Failure> {
    let Call { at, method, path, params, .. } = call;
    match (method.as_str(), path) {
        ("POST", ["billing", "meters"]) => create_meter(state, at, params),
        ("GET", ["billing", "meters", id]) => get_object(state, "billing.meter", id),
        ("GET", ["billing", "meters"]) => {
            let status = params.get("status");
            let found: Vec<Value> = state
                .newest_first("billing.meter")
                .filter(|meter| status.is_none_or(|status| meter["status"] == status))
                .cloned()
                .collect();
            page(found, params, "/v1/billing/meters")
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

fn create_meter(state: &mut State, at: i64, params: &Params) -> Result<Value, Failure> {
    let display_name = params.required("display_name")?;
    let event_name = params.required("event_name")?;
    let formula = params.required("default_aggregation[formula]")?;
    if !matches!(formula, "sum" | "count" | "last") {
        return Err(Failure::invalid(&format!("Invalid default_aggregation[formula]: {formula}"))
            .param("default_aggregation[formula]"));
    }
    let customer_key = params.get("customer_mapping[event_payload_key]").unwrap_or("stripe_customer_id");
    if params.get("customer_mapping[type]").is_some_and(|kind| kind != "by_id") {
        return Err(Failure::invalid("customer_mapping[type] must be by_id.").param("customer_mapping[type]"));
    }
    if state.newest_first("billing.meter").any(|meter| meter["event_name"] == event_name && meter["status"] == "active")
    {
        let message = format!("An active meter with event_name `{event_name}` already exists.");
        return Err(Failure::coded("resource_already_exists", &message).param("event_name"));
    }
    let mut meter = fixtures::get("billing_meter");
    set(
        &mut meter,
        json!({"id": new_id("mtr"), "created": at, "updated": at, "livemode": false, "display_name": display_name,
        "event_name": event_name, "default_aggregation": {"formula": formula},
        "customer_mapping": {"event_payload_key": customer_key, "type": "by_id"},
        "value_settings": {"event_payload_key": params.get("value_settings[event_payload_key]").unwrap_or("value")},
        "status": "active", "status_transitions": {"deactivated_at": Value::Null}}),
    );
    Ok(state.insert(meter))
}
