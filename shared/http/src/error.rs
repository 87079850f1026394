//! The one place where errors become HTTP answers: a status, a stable machine-readable
//! `code`, and a message safe to show. Causes go to the log, never to the client.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use thiserror::Error;
use tollgate_app::alerting::ChangeError;
use tollgate_app::checkout::CheckoutError;
use tollgate_app::ingest::IngestError;
use tollgate_app::orchestrator::OrchestrateError;
use tollgate_app::payouts::PayoutsError;
use tollgate_app::ports::accounts::AccountsError;
use tollgate_app::ports::alerts::AlertsError;
use tollgate_app::ports::checkouts::PaymentsError;
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::event_log::EventLogError;
use tollgate_app::ports::ledger::LedgerError;
use tollgate_app::ports::purchases::PurchasesError;
use tollgate_app::ports::stripe_time::StripeTimeError;
use tollgate_app::premium::PremiumError;
use tollgate_app::reconcile::ReconcileError;
use tollgate_app::replay::ReplayError;
use tollgate_core::signature::SignatureError;
use utoipa::ToSchema;

#[derive(Debug, Error)]
pub enum ApiError {
    /// A signed request whose signature (in `header`) does not check out.
    #[error("{}", error.message(header))]
    Signature { header: &'static str, error: SignatureError },
    #[error("the payload is not a Stripe event: {0}")]
    InvalidPayload(String),
    #[error("the payload is larger than 1 MiB")]
    PayloadTooLarge,
    /// The body stopped arriving before it was complete.
    #[error("the request body stalled before it was complete")]
    BodyTimeout,
    /// The body could not be read whole: the client went away or sent it malformed.
    #[error("the request body was cut short or malformed")]
    IncompleteBody,
    #[error("{field} {reason}")]
    InvalidRequest { field: Cow<'static, str>, reason: String },
    /// A field well formed but refused, with its own code (`invalid_webhook_url`).
    #[error("{message}")]
    Refused { code: &'static str, field: &'static str, message: String },
    /// A customer run's input that does not meet its workflow's schema: `field` is the JSON
    /// pointer of the first field at fault.
    #[error("{reason}")]
    InvalidInput { pointer: String, reason: String },
    /// A workflow subscription's params that fail its schema: `field` is the JSON pointer.
    #[error("{reason}")]
    InvalidParams { pointer: String, reason: String },
    /// Payment needed first (`quota_exceeded`, `insufficient_balance`).
    #[error("{message}")]
    PaymentRequired { code: &'static str, message: String },
    /// Signed in, but the account may not (`not_entitled`); `membership` names the catalog
    /// SKU that would let it.
    #[error("{message}")]
    Denied { code: &'static str, message: String, membership: Option<String> },
    /// A body part larger than allowed, with its own code (`output_too_large`).
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("this needs the admin role")]
    Forbidden,
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request is valid but the state forbids it (`workflow_exists`, `already_running`).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A cap is reached (`daily_cap_reached`, `concurrency_cap_reached`): try later.
    #[error("{message}")]
    CapReached { code: &'static str, message: String },
    #[error("the callback token does not open this run")]
    InvalidToken,
    /// No such thing, with its own code (`unknown_sku`, `no_customer`).
    #[error("{message}")]
    Absent { code: &'static str, message: String },
    /// Too many requests from one account; `Retry-After` says when to come back.
    #[error("{message}")]
    RateLimited { retry_after: u32, message: String },
    /// Stripe refused what we asked (a bug or a misconfiguration on our side).
    #[error("the payment provider refused the request")]
    PaymentProvider(String),
    /// Storage or queue trouble: retrying later can succeed (Stripe will).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A fault retrying cannot cure (stored data that does not read back, a missing table):
    /// the body's `request_id` names the log line with the cause.
    #[error("internal fault: {0}")]
    Internal(String),
}

impl ApiError {
    /// A use case's failure in a port, by the port error's kind, the one place kinds become
    /// answers: one that can pass is `503` with `Retry-After`, a refusal by an outside
    /// service `502`, any other `500 internal_error`.
    pub fn from_port(error: &(dyn std::error::Error + 'static)) -> Self {
        match PortError::kind_in(error) {
            Some(ErrorKind::Refused) => ApiError::PaymentProvider(error.to_string()),
            Some(kind) if !kind.is_transient() => ApiError::Internal(error.to_string()),
            _ => ApiError::Unavailable(error.to_string()),
        }
    }

    pub fn invalid(field: impl Into<Cow<'static, str>>, reason: &str) -> Self {
        ApiError::InvalidRequest { field: field.into(), reason: reason.to_owned() }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Signature { error, .. } => (StatusCode::BAD_REQUEST, error.code()),
            ApiError::InvalidPayload(_) => (StatusCode::BAD_REQUEST, "invalid_payload"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::IncompleteBody => (StatusCode::BAD_REQUEST, "incomplete_body"),
            ApiError::InvalidRequest { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::Refused { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::InvalidInput { .. } => (StatusCode::BAD_REQUEST, "invalid_input"),
            ApiError::InvalidParams { .. } => (StatusCode::BAD_REQUEST, "invalid_params"),
            ApiError::PaymentRequired { code, .. } => (StatusCode::PAYMENT_REQUIRED, code),
            ApiError::Denied { code, .. } => (StatusCode::FORBIDDEN, code),
            ApiError::TooLarge { code, .. } => (StatusCode::PAYLOAD_TOO_LARGE, code),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::CapReached { code, .. } => (StatusCode::TOO_MANY_REQUESTS, code),
            ApiError::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
            ApiError::Absent { code, .. } => (StatusCode::NOT_FOUND, code),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::PaymentProvider(_) => (StatusCode::BAD_GATEWAY, "payment_provider_error"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }

    /// What the client may read. Internal causes stay in the log.
    fn public_message(&self) -> String {
        match self {
            ApiError::Unavailable(_) => "tollgate cannot take this right now; retry later".to_owned(),
            ApiError::Internal(_) => "tollgate failed to answer; quote the request_id when reporting it".to_owned(),
            ApiError::PaymentProvider(_) => "the payment provider refused the request".to_owned(),
            other => other.to_string(),
        }
    }
}

/// The body of every error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `invalid_request`, `not_found`, `method_not_allowed`…
    pub code: String,
    /// Safe to show; never an internal cause.
    pub message: String,
    /// The body field at fault (`invalid_request` only), by its path: `batches[3].calls`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The membership SKU that would open what was refused (`not_entitled` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub membership: Option<String>,
    /// Names the request in the logs (also the `X-Request-Id` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorResponse {
    pub(crate) fn new(code: &str, message: String, field: Option<String>) -> Self {
        ErrorResponse {
            error: ErrorDetail { code: code.to_owned(), message, field, membership: None, request_id: None },
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The JSON error a response carries, for [`crate::finish`] to complete with the request id.
#[derive(Clone)]
pub(crate) struct ErrorBody(pub Value);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(code, error = %self, "request failed");
        } else {
            tracing::info!(code, status = status.as_u16(), "request refused");
        }
        let field = match &self {
            ApiError::InvalidRequest { field, .. } => Some(field.clone().into_owned()),
            ApiError::Refused { field, .. } => Some((*field).to_owned()),
            ApiError::InvalidInput { pointer, .. } | ApiError::InvalidParams { pointer, .. } => Some(pointer.clone()),
            _ => None,
        };
        let mut body = ErrorResponse::new(code, self.public_message(), field);
        if let ApiError::Denied { membership, .. } = &self {
            body.error.membership.clone_from(membership);
        }
        let body = body.to_value();
        let mut response = status.into_response();
        match &self {
            ApiError::RateLimited { retry_after, .. } => {
                response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from(*retry_after));
            }
            ApiError::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from(UNAVAILABLE_RETRY_AFTER));
            }
            _ => {}
        }
        response.extensions_mut().insert(ErrorBody(body));
        response
    }
}

/// Seconds a client is asked to wait after a transient failure of storage or a queue.
pub const UNAVAILABLE_RETRY_AFTER: u32 = 5;

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Signature(error) => ApiError::Signature { header: "Stripe-Signature", error },
            IngestError::Payload(error) => ApiError::InvalidPayload(error.to_string()),
            IngestError::EventLog(error) => ApiError::from_port(&error),
            IngestError::Intake(error) => ApiError::from_port(&error),
        }
    }
}

impl From<OrchestrateError> for ApiError {
    fn from(error: OrchestrateError) -> Self {
        let message = error.to_string();
        let from_port = ApiError::from_port(&error);
        match error {
            OrchestrateError::Invalid { field, reason } => ApiError::InvalidRequest { field: field.into(), reason },
            OrchestrateError::NotFound(what) => ApiError::NotFound(what),
            OrchestrateError::AlreadyExists => ApiError::Conflict { code: "workflow_exists", message },
            OrchestrateError::AlreadyRunning => ApiError::Conflict { code: "already_running", message },
            OrchestrateError::DailyCapReached(_) => ApiError::CapReached { code: "daily_cap_reached", message },
            OrchestrateError::ConcurrencyCapReached(_) => {
                ApiError::CapReached { code: "concurrency_cap_reached", message }
            }
            OrchestrateError::InvalidToken => ApiError::InvalidToken,
            OrchestrateError::Workflows(_)
            | OrchestrateError::Runs(_)
            | OrchestrateError::Alerts(_)
            | OrchestrateError::Queue(_)
            | OrchestrateError::Ledger(_)
            | OrchestrateError::Accounts(_)
            | OrchestrateError::Tallies(_)
            | OrchestrateError::CustomerRuns(_)
            | OrchestrateError::WebhookEndpoints(_)
            | OrchestrateError::WebhookDeliveries(_)
            | OrchestrateError::PremiumChoices(_) => from_port,
            OrchestrateError::OutputTooLarge { .. } => ApiError::TooLarge { code: "output_too_large", message },
        }
    }
}

impl From<PremiumError> for ApiError {
    fn from(error: PremiumError) -> Self {
        let message = error.to_string();
        match error {
            PremiumError::NoMembership { membership } => {
                let membership = membership.map(|sku| sku.to_string());
                let message = match &membership {
                    Some(sku) => format!("{message}: the {sku} membership does"),
                    None => message,
                };
                ApiError::Denied { code: "not_entitled", message, membership }
            }
            PremiumError::TooMany { .. } => ApiError::Conflict { code: "too_many", message },
            PremiumError::NotPremium { index, .. } => {
                ApiError::Absent { code: "not_found", message: format!("workflows[{index}]: {message}") }
            }
            PremiumError::Repeated { index, .. } => {
                ApiError::InvalidRequest { field: format!("workflows[{index}]").into(), reason: message }
            }
            PremiumError::Accounts(error) => ApiError::from_port(&error),
            PremiumError::Workflows(error) => ApiError::from_port(&error),
            PremiumError::Choices(error) => ApiError::from_port(&error),
        }
    }
}

impl From<CheckoutError> for ApiError {
    fn from(error: CheckoutError) -> Self {
        let message = error.to_string();
        let from_port = ApiError::from_port(&error);
        match error {
            CheckoutError::Invalid(invalid) => {
                ApiError::InvalidRequest { field: invalid.field.into(), reason: invalid.reason }
            }
            CheckoutError::UnknownSku => ApiError::Absent { code: "unknown_sku", message },
            CheckoutError::InvalidParams(refusal) => {
                ApiError::InvalidParams { pointer: refusal.pointer, reason: message }
            }
            CheckoutError::NoCustomer => ApiError::Absent { code: "no_customer", message },
            CheckoutError::AlreadySubscribed => ApiError::Conflict { code: "already_subscribed", message },
            CheckoutError::RateLimited { retry_after } => ApiError::RateLimited { retry_after, message },
            CheckoutError::NotSynced(_)
            | CheckoutError::Stripe(_)
            | CheckoutError::Accounts(_)
            | CheckoutError::RateLimits(_)
            | CheckoutError::Tallies(_)
            | CheckoutError::WorkflowSubscriptions(_)
            | CheckoutError::Workflows(_) => from_port,
        }
    }
}

impl From<PaymentsError> for ApiError {
    fn from(error: PaymentsError) -> Self {
        ApiError::from_port(&error)
    }
}

impl From<ReconcileError> for ApiError {
    fn from(error: ReconcileError) -> Self {
        match error {
            ReconcileError::Stripe(stripe) => stripe.into(),
            // Stripe served something that is not an event: Stripe's fault, not the request's.
            ReconcileError::Payload(payload) => ApiError::PaymentProvider(payload.to_string()),
            other => ApiError::from_port(&other),
        }
    }
}

impl From<ReplayError> for ApiError {
    fn from(error: ReplayError) -> Self {
        match error {
            ReplayError::Unknown(_) => ApiError::NotFound("event"),
            ReplayError::Stripe(stripe) => stripe.into(),
            ReplayError::Payload(payload) => ApiError::PaymentProvider(payload.to_string()),
            other => ApiError::from_port(&other),
        }
    }
}

impl From<PayoutsError> for ApiError {
    fn from(error: PayoutsError) -> Self {
        match error {
            PayoutsError::Stripe(stripe) => stripe.into(),
            other => ApiError::from_port(&other),
        }
    }
}

impl From<StripeTimeError> for ApiError {
    fn from(error: StripeTimeError) -> Self {
        match error {
            StripeTimeError::UnknownCustomer(_) => ApiError::NotFound("customer"),
            StripeTimeError::Failed(_) => ApiError::Unavailable(error.to_string()),
        }
    }
}

impl From<PurchasesError> for ApiError {
    fn from(error: PurchasesError) -> Self {
        ApiError::from_port(&error)
    }
}

impl From<ChangeError> for ApiError {
    fn from(error: ChangeError) -> Self {
        let message = error.to_string();
        match error {
            ChangeError::NotFound => ApiError::NotFound("alert"),
            ChangeError::Invalid(_) => ApiError::Conflict { code: "invalid_transition", message },
            ChangeError::Alerts(error) => ApiError::from_port(&error),
        }
    }
}

impl From<AlertsError> for ApiError {
    fn from(error: AlertsError) -> Self {
        ApiError::from_port(&error)
    }
}

impl From<EventLogError> for ApiError {
    fn from(error: EventLogError) -> Self {
        ApiError::from_port(&error)
    }
}

impl From<AccountsError> for ApiError {
    fn from(error: AccountsError) -> Self {
        ApiError::from_port(&error)
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        ApiError::from_port(&error)
    }
}
