//! The API on Stripe's wire format: `Authorization: Bearer sk_…`, form-encoded bodies,
//! `Stripe-Version`, `Idempotency-Key` replay (same key, same parameters: the first answer
//! again; other parameters: an `idempotency_error`), list paging, and error objects with
//! `type`, `code`, `message` and `param`.

use crate::failure::Failure;
use crate::params::Params;
use crate::resources::route;
use crate::store::{Replay, new_id};
use crate::{Emulator, LoggedRequest, now};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as Shared};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/v1/{*path}", any(handle))
        .route("/emulator/advance", post(advance))
        .route("/emulator/requests", get(requests))
}

fn respond(status: StatusCode, body: &Value, replayed: bool) -> Response {
    let mut response = (status, [("content-type", "application/json")], body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert("stripe-version", tollgate_core::STRIPE_API_VERSION.parse().expect("a header value"));
    if let Ok(id) = new_id("req").parse() {
        headers.insert("request-id", id);
    }
    if replayed {
        headers.insert("idempotent-replayed", "true".parse().expect("a header value"));
    }
    response
}

fn refuse(failure: &Failure) -> Response {
    respond(failure.status, &failure.body(), false)
}

/// `YYYY-MM-DD`, optionally followed by a release name (`2026-09-30.endive`).
fn well_formed_version(version: &[u8]) -> bool {
    let (date, name) = match version.iter().position(|&byte| byte == b'.') {
        Some(dot) => (&version[..dot], Some(&version[dot + 1..])),
        None => (version, None),
    };
    let date_shape = date.len() == 10
        && date
            .iter()
            .enumerate()
            .all(|(i, byte)| if i == 4 || i == 7 { *byte == b'-' } else { byte.is_ascii_digit() });
    let name_shape = name.is_none_or(|name| (1..=32).contains(&name.len()) && name.iter().all(u8::is_ascii_lowercase));
    date_shape && name_shape
}

fn authorized(emulator: &Emulator, headers: &HeaderMap) -> Result<(), Failure> {
    let presented = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(key) if emulator.key_matches(key) => Ok(()),
        Some(_) => Err(Failure::new(StatusCode::UNAUTHORIZED, "invalid_request_error", "Invalid API Key provided.")),
        None => Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "You did not provide an API key. Provide it in the Authorization header, using Bearer auth.",
        )),
    }
}

/// `GET /emulator/requests`: the request log, oldest first.
async fn requests(Shared(emulator): Shared<Arc<Emulator>>, headers: HeaderMap) -> Response {
    if let Err(failure) = authorized(&emulator, &headers) {
        return refuse(&failure);
    }
    respond(StatusCode::OK, &json!({"object": "list", "data": emulator.requests()}), false)
}

/// Answers an API request of the account and logs it, with the status it got. A request
/// without the account's key is refused unlogged, as Stripe shows it nowhere in the account.
async fn handle(
    Shared(emulator): Shared<Arc<Emulator>>,
    Path(path): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(failure) = authorized(&emulator, &headers) {
        return refuse(&failure);
    }
    let params = if method == Method::POST {
        Params::decode(&body)
    } else {
        Params::decode(uri.query().unwrap_or_default().as_bytes())
    };
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let idempotency_key = header("idempotency-key");
    let response = answer(&emulator, &path, &method, &headers, &params, idempotency_key.clone());
    emulator.requests.record(LoggedRequest {
        method: method.to_string(),
        path: format!("/v1/{path}"),
        params: params.pairs().to_vec(),
        idempotency_key,
        stripe_version: header("stripe-version"),
        status: response.status().as_u16(),
    });
    response
}

fn answer(
    emulator: &Emulator,
    path: &str,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
    key: Option<String>,
) -> Response {
    // Stripe takes every version its SDKs send, so the emulator does too: the objects keep
    // the shapes of the version it implements, which the `Stripe-Version` answer names.
    if let Some(version) = headers.get("stripe-version")
        && !well_formed_version(version.as_bytes())
    {
        let message = format!(
            "Invalid Stripe API version: {}. Versions look like {}.",
            String::from_utf8_lossy(version.as_bytes()),
            tollgate_core::STRIPE_API_VERSION
        );
        return refuse(&Failure::coded("api_version_invalid", &message).param("Stripe-Version"));
    }
    let segments: Vec<&str> = path.split('/').collect();
    if method != Method::POST {
        let mut state = emulator.lock();
        return match route(&mut state, now(), &emulator.settings.public_base, method, &segments, params) {
            Ok(object) => respond(StatusCode::OK, &object, false),
            Err(failure) => refuse(&failure),
        };
    }
    let fingerprint = params.fingerprint(method, path);
    let base = emulator.settings.public_base.clone();
    let answered = emulator.change(|state, at| {
        if let Some(key) = &key
            && let Some(replay) = state.replays.get(key)
        {
            if replay.fingerprint != fingerprint {
                let message = "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than the one used for the original request.";
                return Err(Failure::new(StatusCode::BAD_REQUEST, "idempotency_error", message));
            }
            return Ok((StatusCode::from_u16(replay.status).unwrap_or(StatusCode::OK), replay.body.clone(), true));
        }
        let (status, body) = match route(state, at, &base, method, &segments, params) {
            Ok(object) => (StatusCode::OK, object),
            Err(failure) => (failure.status, failure.body()),
        };
        // Stripe saves the answer of any request that ran, refusals too, but not a 5xx.
        if let Some(key) = key.clone().filter(|_| !status.is_server_error()) {
            state.replays.insert(key, Replay { fingerprint: fingerprint.clone(), status: status.as_u16(), body: body.clone(), at });
        }
        Ok((status, body, false))
    });
    match answered {
        Ok(Ok((status, body, replayed))) => respond(status, &body, replayed),
        Ok(Err(failure)) => refuse(&failure),
        Err(error) => {
            tracing::error!(%error, "the emulated Stripe could not save its state");
            refuse(&Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "The emulated Stripe could not save its state.",
            ))
        }
    }
}

/// `POST /emulator/advance` (`by`: a span like `30d`; `customer`): see `StripeTime::advance`.
async fn advance(Shared(emulator): Shared<Arc<Emulator>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(failure) = authorized(&emulator, &headers) {
        return refuse(&failure);
    }
    let params = Params::decode(&body);
    let by = match params.get("by").map(span_seconds).transpose() {
        Ok(by) => by,
        Err(reason) => return refuse(&Failure::invalid(&format!("by {reason}")).param("by")),
    };
    match emulator.advance(params.get("customer"), by) {
        Ok(advanced) => {
            respond(StatusCode::OK, &json!({"renewed": advanced.renewed, "invoices": advanced.invoices}), false)
        }
        Err(tollgate_app::ports::stripe_time::StripeTimeError::UnknownCustomer(id)) => {
            refuse(&Failure::no_such("customer", &id).param("customer"))
        }
        Err(error) => refuse(&Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", &error.to_string())),
    }
}

/// A span like `31d` or `12h`, in seconds.
fn span_seconds(text: &str) -> Result<i64, String> {
    let span = humantime::parse_duration(text.trim()).map_err(|e| format!("must be a span like 31d or 12h: {e}"))?;
    i64::try_from(span.as_secs()).map_err(|_| "is too long a span".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_well_formed_version_is_taken() {
        for version in ["2026-09-30.endive", "2026-10-28.endive", "2020-08-27", "2017-05-25"] {
            assert!(well_formed_version(version.as_bytes()), "{version}");
        }
        for version in ["", "latest", "2026-9-30", "2026-09-30.", "2026-09-30.Endive", "2026-09-30.endive\u{1}"] {
            assert!(!well_formed_version(version.as_bytes()), "{version:?}");
        }
    }
}
