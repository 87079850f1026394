//! The outermost layer of every router: it names each request, runs it in a span carrying
//! that name, and completes every error answer — ours, and the bare ones axum and
//! tower-http give (no route, wrong method, body too large, timeout) — as one JSON shape
//! with `request_id`, so an operator can find the log lines behind a customer's report.

use crate::error::{ErrorBody, ErrorResponse};
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use rand::Rng;
use serde_json::json;
use tracing::Instrument;

/// The header a request id arrives in and is answered in.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
const MAX_REQUEST_ID_LEN: usize = 128;

/// The request id the platform gave (API Gateway's, else Lambda's), put in the request's
/// extensions by the platform's adapter. Without one, a caller's `x-request-id` is kept
/// when it is plain text, else one is made.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub(crate) async fn finish(request: Request, next: Next) -> Response {
    let id = request_id(&request);
    // At the error level, so the id is on every line a request logs, whatever the filter
    // (the use cases' spans, which add event, run and account ids, are too).
    let span =
        tracing::error_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = next.run(request).instrument(span.clone()).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        let _entered = span.enter();
        response = completed(response, &id);
    }
    named(response, &id)
}

/// The answer to a request refused before it reached a router (its body could not be
/// read whole), in the same shape and with the same request id rules.
pub fn refusal(parts: &http::request::Parts, error: crate::error::ApiError) -> Response {
    use axum::response::IntoResponse;
    let id = id_of(&parts.extensions, &parts.headers);
    named(completed(error.into_response(), &id), &id)
}

/// `response` with its request id in the `X-Request-Id` header, and marked so that no
/// browser guesses another type than the one it declares.
fn named(mut response: Response, id: &str) -> Response {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn request_id(request: &Request) -> String {
    id_of(request.extensions(), request.headers())
}

fn id_of(extensions: &http::Extensions, headers: &http::HeaderMap) -> String {
    if let Some(RequestId(id)) = extensions.get::<RequestId>() {
        return id.clone();
    }
    let given = headers.get(REQUEST_ID_HEADER).and_then(|value| value.to_str().ok());
    match given {
        // Kept only as plain text: it goes into logs and a JSON body.
        Some(id) if plain(id) => id.to_owned(),
        _ => format!("{:032x}", rand::rng().random::<u128>()),
    }
}

fn plain(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':'))
}

/// The error body, with `request_id`, in place of whatever the response carried.
fn completed(response: Response, id: &str) -> Response {
    let (mut parts, _) = response.into_parts();
    let mut body = match parts.extensions.remove::<ErrorBody>() {
        Some(ErrorBody(body)) => body,
        None => bare(parts.status),
    };
    body["error"]["request_id"] = json!(id);
    if parts.status == StatusCode::SERVICE_UNAVAILABLE && !parts.headers.contains_key(header::RETRY_AFTER) {
        parts.headers.insert(header::RETRY_AFTER, HeaderValue::from(crate::error::UNAVAILABLE_RETRY_AFTER));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, Body::from(bytes))
}

/// The answers axum and tower-http give on their own, in tollgate's codes.
fn bare(status: StatusCode) -> serde_json::Value {
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the payload is larger than 1 MiB"),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long"),
        StatusCode::SERVICE_UNAVAILABLE => {
            ("temporarily_unavailable", "tollgate cannot take this right now; retry later")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "the body must be JSON"),
        status if status.is_server_error() => ("internal_error", "tollgate failed to answer"),
        _ => ("invalid_request", "the request was refused"),
    };
    ErrorResponse::new(code, message.to_owned(), None).to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_request_ids_are_kept() {
        assert!(plain("abc-123_x.y:z"));
        assert!(!plain(""));
        assert!(!plain("a\"b"));
        assert!(!plain("line\nbreak"));
        assert!(!plain(&"a".repeat(MAX_REQUEST_ID_LEN + 1)));
    }
}
