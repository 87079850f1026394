//! Reading Stripe events leniently.
//!
//! Webhook endpoints can sit on any API version, and fields move between versions
//! (the billing period moved from the subscription to its items; invoices lost
//! `payment_intent` and `subscription` to `payments` and `parent`). So events are
//! read as JSON and only the fields tollgate needs are picked, from wherever the
//! version at hand puts them. A missing field is reported by name, never guessed.

use crate::ids::{EventId, InvalidId};
use crate::time::Timestamp;
use serde_json::Value;
use thiserror::Error;

/// A Stripe event: the envelope, with the object it carries left as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Stripe's event id: deliveries of one event share it.
    pub id: EventId,
    /// `invoice.paid`, `customer.subscription.updated`, …
    pub event_type: String,
    /// When Stripe created the event: the order in which events are applied.
    pub created: Timestamp,
    /// The API version the endpoint renders events in.
    pub api_version: Option<String>,
    /// Live or test mode.
    pub livemode: bool,
    /// `data.object`: the object the event is about.
    pub object: Value,
}

/// A signed payload that is not a Stripe event.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("the payload is not JSON")]
    /// Not JSON at all.
    NotJson,
    #[error("the payload is not a Stripe event: {0}")]
    /// JSON, but not shaped like an event; says what is missing.
    NotAnEvent(&'static str),
    #[error("the event id is invalid: {0}")]
    /// An `id` that is not an event id.
    BadId(#[from] InvalidId),
}

impl Event {
    /// Reads the envelope of a delivery.
    pub fn parse(payload: &[u8]) -> Result<Self, PayloadError> {
        let mut value: Value = serde_json::from_slice(payload).map_err(|_| PayloadError::NotJson)?;
        if value.get("object").and_then(Value::as_str) != Some("event") {
            return Err(PayloadError::NotAnEvent("\"object\" is not \"event\""));
        }
        let id = value.get("id").and_then(Value::as_str).ok_or(PayloadError::NotAnEvent("no \"id\""))?;
        let id = EventId::parse(id)?;
        let event_type = text(&value, &["type"]).ok_or(PayloadError::NotAnEvent("no \"type\""))?;
        let created = integer(&value, &["created"]).ok_or(PayloadError::NotAnEvent("no \"created\""))?;
        let created =
            Timestamp::from_untrusted(created).map_err(|_| PayloadError::NotAnEvent("\"created\" is out of range"))?;
        let api_version = text(&value, &["api_version"]);
        let livemode = value.get("livemode").and_then(Value::as_bool).unwrap_or(false);
        let object = value
            .pointer_mut("/data/object")
            .filter(|object| object.is_object())
            .map(Value::take)
            .ok_or(PayloadError::NotAnEvent("no \"data.object\""))?;
        Ok(Self { id, event_type, created, api_version, livemode, object })
    }
}

/// Whether this stack takes live-mode events: `STRIPE_LIVEMODE` (`true`/`false`) when set,
/// else the prefix of `STRIPE_SECRET_KEY` (`sk_live_`/`rk_live_`), else test mode. A
/// `STRIPE_LIVEMODE` that contradicts the key is refused: one of them is a mistake.
pub fn stack_livemode(secret_key: Option<&str>, livemode: Option<&str>) -> Result<bool, &'static str> {
    let from_key = secret_key.map(|key| key.starts_with("sk_live_") || key.starts_with("rk_live_"));
    let from_setting = match livemode.map(str::trim).filter(|value| !value.is_empty()) {
        None => None,
        Some(value) if value.eq_ignore_ascii_case("true") || value == "1" => Some(true),
        Some(value) if value.eq_ignore_ascii_case("false") || value == "0" => Some(false),
        Some(_) => return Err("STRIPE_LIVEMODE must be true or false"),
    };
    match (from_setting, from_key) {
        (Some(setting), Some(key)) if setting != key => {
            Err("STRIPE_LIVEMODE contradicts the mode of STRIPE_SECRET_KEY")
        }
        (setting, key) => Ok(setting.or(key).unwrap_or(false)),
    }
}

/// Why an event of the other mode is not applied: recorded with it as `skipped`.
pub fn mode_mismatch(event_livemode: bool, stack_livemode: bool) -> Option<&'static str> {
    match (event_livemode, stack_livemode) {
        (true, false) => Some("a live-mode event reached a test-mode stack"),
        (false, true) => Some("a test-mode event reached a live-mode stack"),
        _ => None,
    }
}

/// The string at `path`, if there is one and it is not empty.
pub fn text(value: &Value, path: &[&str]) -> Option<String> {
    at(value, path).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The integer at `path`.
pub fn integer(value: &Value, path: &[&str]) -> Option<i64> {
    at(value, path).and_then(Value::as_i64)
}

/// The value at `path`; an id-or-expanded-object field reads as its `id`.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |node, key| node.get(key))
}

/// An expandable field: Stripe sends either the id or the whole object.
pub fn id_of(value: &Value, path: &[&str]) -> Option<String> {
    let field = at(value, path)?;
    match field {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Object(_) => text(field, &["id"]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_mode_comes_from_the_setting_or_the_key() {
        assert_eq!(stack_livemode(None, None), Ok(false));
        assert_eq!(stack_livemode(Some("sk_live_x"), None), Ok(true));
        assert_eq!(stack_livemode(Some("rk_live_x"), None), Ok(true));
        assert_eq!(stack_livemode(Some("sk_test_x"), None), Ok(false));
        assert_eq!(stack_livemode(None, Some("true")), Ok(true));
        assert_eq!(stack_livemode(Some("sk_live_x"), Some("TRUE")), Ok(true));
        assert!(stack_livemode(Some("sk_test_x"), Some("true")).is_err());
        assert!(stack_livemode(None, Some("yes please")).is_err());
        assert!(mode_mismatch(true, false).is_some());
        assert_eq!(mode_mismatch(false, false), None);
    }

    #[test]
    fn a_minimal_event_parses_and_extra_fields_are_ignored() {
        let event = Event::parse(
            br#"{"id":"evt_1","object":"event","type":"invoice.paid","created":5,"livemode":false,
                "future_field":{"x":1},"data":{"object":{"id":"in_1"}}}"#,
        )
        .unwrap();
        assert_eq!(event.id.as_str(), "evt_1");
        assert_eq!(event.created, Timestamp(5));
        assert_eq!(text(&event.object, &["id"]).as_deref(), Some("in_1"));
    }

    #[test]
    fn what_is_not_an_event_is_refused_with_a_reason() {
        assert_eq!(Event::parse(b"{not json"), Err(PayloadError::NotJson));
        assert!(matches!(Event::parse(br#"{"object":"charge"}"#), Err(PayloadError::NotAnEvent(_))));
        assert!(matches!(
            Event::parse(br#"{"object":"event","id":"evt_1","type":"x","created":1}"#),
            Err(PayloadError::NotAnEvent(_))
        ));
        assert!(matches!(
            Event::parse(br#"{"object":"event","id":"ch_1","type":"x","created":1,"data":{"object":{}}}"#),
            Err(PayloadError::BadId(_))
        ));
    }

    #[test]
    fn expandable_fields_read_as_ids() {
        let value: Value = serde_json::json!({"a": "cus_1", "b": {"id": "cus_2"}, "c": null});
        assert_eq!(id_of(&value, &["a"]).as_deref(), Some("cus_1"));
        assert_eq!(id_of(&value, &["b"]).as_deref(), Some("cus_2"));
        assert_eq!(id_of(&value, &["c"]), None);
    }
}
