//! Refusals as Stripe words them: error objects with `type`, `code`, `message`, `param`
//! and `doc_url`, shared by the API and the billing rules behind it.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// A refusal as Stripe words it.
#[derive(Debug)]
pub struct Failure {
    pub(crate) status: StatusCode,
    kind: &'static str,
    code: Option<String>,
    message: String,
    param: Option<String>,
}

impl Failure {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: &str) -> Self {
        Self { status, kind, code: None, message: message.to_owned(), param: None }
    }

    pub fn invalid(message: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub fn coded(code: &str, message: &str) -> Self {
        Self { code: Some(code.to_owned()), ..Self::invalid(message) }
    }

    pub fn missing(param: &str) -> Self {
        Self::coded("parameter_missing", &format!("Missing required param: {param}.")).param(param)
    }

    pub fn no_such(kind: &str, id: &str) -> Self {
        let message = format!("No such {kind}: '{id}'");
        Self { status: StatusCode::NOT_FOUND, code: Some("resource_missing".into()), ..Self::invalid(&message) }
            .param("id")
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn param(self, param: &str) -> Self {
        Self { param: Some(param.to_owned()), ..self }
    }

    pub(crate) fn body(&self) -> Value {
        let mut error = json!({"type": self.kind, "message": self.message});
        if let Some(code) = &self.code {
            error["code"] = json!(code);
            error["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")));
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        json!({"error": error})
    }
}
