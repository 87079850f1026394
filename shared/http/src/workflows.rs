//! Reading workflow registrations and patches from JSON, naming the field at fault.

use crate::error::ApiError;
use serde_json::{Map, Value};
use tollgate_app::orchestrator::WorkflowPatch;
use tollgate_core::cron::Schedule;
use tollgate_core::ids::WorkflowId;
use tollgate_core::workflow::{DEFAULT_TIMEOUT_SECONDS, WebhookUrl, WorkflowSpec};

const FIELDS: [&str; 8] = ["id", "name", "webhook_url", "schedule", "timezone", "enabled", "premium", "timeout_s"];

fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => {
            if let Some(unknown) = object.keys().find(|key| !FIELDS.contains(&key.as_str())) {
                return Err(ApiError::invalid("body", &format!("has an unknown field {unknown:?}")));
            }
            Ok(object)
        }
        _ => Err(ApiError::invalid("body", "must be a JSON object")),
    }
}

fn text<'a>(object: &'a Map<String, Value>, field: &'static str) -> Result<Option<&'a str>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(ApiError::invalid(field, "must be a string")),
    }
}

fn flag(object: &Map<String, Value>, field: &'static str) -> Result<Option<bool>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(_) => Err(ApiError::invalid(field, "must be true or false")),
    }
}

/// `"schedule": "0 9 * * *"` with an optional `"timezone"`, or `"schedule": {"cron", "timezone"}`.
fn schedule(object: &Map<String, Value>) -> Result<Option<Schedule>, ApiError> {
    let zone = text(object, "timezone")?;
    let (cron, zone) = match object.get("schedule") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(cron)) => (cron.as_str(), zone.unwrap_or("UTC")),
        Some(Value::Object(inner)) => {
            let cron = inner.get("cron").and_then(Value::as_str);
            let inner_zone = inner.get("timezone").and_then(Value::as_str);
            (
                cron.ok_or_else(|| ApiError::invalid("schedule", "needs a cron expression"))?,
                inner_zone.or(zone).unwrap_or("UTC"),
            )
        }
        Some(_) => return Err(ApiError::invalid("schedule", "must be a cron string or {\"cron\",\"timezone\"}")),
    };
    Schedule::parse(cron, zone).map(Some).map_err(|error| ApiError::invalid("schedule", &error.to_string()))
}

fn url(object: &Map<String, Value>) -> Result<Option<WebhookUrl>, ApiError> {
    text(object, "webhook_url")?
        .map(|value| WebhookUrl::parse(value).map_err(|error| ApiError::invalid("webhook_url", &error.to_string())))
        .transpose()
}

fn timeout(object: &Map<String, Value>) -> Result<Option<u32>, ApiError> {
    match object.get("timeout_s") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|value| u32::try_from(value).ok())
            .map(Some)
            .ok_or_else(|| ApiError::invalid("timeout_s", "must be a whole number of seconds")),
    }
}

/// A registration: `id`, `name`, `webhook_url` and `schedule` are required.
pub fn spec(body: &[u8]) -> Result<WorkflowSpec, ApiError> {
    let object = object(body)?;
    let required = |field| ApiError::invalid(field, "is required");
    let id = text(&object, "id")?.ok_or_else(|| required("id"))?;
    Ok(WorkflowSpec {
        id: WorkflowId::parse(id).map_err(|error| ApiError::invalid("id", &error.to_string()))?,
        name: text(&object, "name")?.ok_or_else(|| required("name"))?.to_owned(),
        webhook_url: url(&object)?.ok_or_else(|| required("webhook_url"))?,
        schedule: schedule(&object)?.ok_or_else(|| required("schedule"))?,
        enabled: flag(&object, "enabled")?.unwrap_or(true),
        premium: flag(&object, "premium")?.unwrap_or(false),
        timeout_s: timeout(&object)?.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
    })
}

/// A change: any field but `id`.
pub fn patch(body: &[u8]) -> Result<WorkflowPatch, ApiError> {
    let object = object(body)?;
    if object.contains_key("id") {
        return Err(ApiError::invalid("id", "cannot be changed"));
    }
    Ok(WorkflowPatch {
        name: text(&object, "name")?.map(str::to_owned),
        webhook_url: url(&object)?,
        schedule: schedule(&object)?,
        enabled: flag(&object, "enabled")?,
        premium: flag(&object, "premium")?,
        timeout_s: timeout(&object)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(result: Result<impl std::fmt::Debug, ApiError>) -> String {
        match result.unwrap_err() {
            ApiError::InvalidRequest { field, .. } => field.into_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_registration_names_the_bad_field() {
        let ok = br#"{"id":"w","name":"W","webhook_url":"http://127.0.0.1:1/x","schedule":"*/5 * * * *","timezone":"Europe/Paris"}"#;
        let spec = spec(ok).unwrap();
        assert_eq!((spec.enabled, spec.premium, spec.timeout_s), (true, false, DEFAULT_TIMEOUT_SECONDS));
        assert_eq!(spec.schedule.spec().timezone, "Europe/Paris");
        assert_eq!(field(super::spec(br#"{"name":"W"}"#)), "id");
        assert_eq!(
            field(super::spec(br#"{"id":"w","name":"W","webhook_url":"x","schedule":"* * * * *"}"#)),
            "webhook_url"
        );
        assert_eq!(
            field(super::spec(br#"{"id":"w","name":"W","webhook_url":"http://a/","schedule":"* * *"}"#)),
            "schedule"
        );
        assert_eq!(field(super::spec(br#"{"id":"w","nmae":"W"}"#)), "body");
        assert_eq!(field(super::patch(br#"{"enabled":"yes"}"#)), "enabled");
        assert_eq!(field(super::patch(br#"{"timeout_s":-1}"#)), "timeout_s");
        assert_eq!(field(super::patch(br#"{"id":"other"}"#)), "id");
    }
}
