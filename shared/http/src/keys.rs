//! `/api/keys`, `/api/me` for key owners; `/internal/keys/{hash}` and `/internal/usage`
//! for the edge, signed with `EDGE_SECRET`.

use crate::error::ApiError;
use crate::{json_response, ok_json};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tollgate_app::App;
use tollgate_app::keys::{EdgeLink, KeysError};
use tollgate_app::ports::accounts::Accounts;
use tollgate_app::ports::api_keys::ApiKeys;
use tollgate_app::ports::purchases::Purchases;
use tollgate_app::ports::queue::Queue;
use tollgate_app::ports::usage::Usage;
use tollgate_core::api_key::{KeyHash, KeyMode};
use tollgate_core::edge;
use tollgate_core::ids::{AccountId, KeyId};
use tollgate_core::metering::UsageBatch;

/// Batches in one flush: a Durable Object flushes every few seconds, so this is generous.
const MAX_BATCHES: usize = 1_000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewKeyRequest {
    #[serde(default)]
    mode: Option<KeyMode>,
}

#[derive(Deserialize)]
struct UsageUpload {
    batches: Vec<UsageBatch>,
}

impl From<KeysError> for ApiError {
    fn from(error: KeysError) -> Self {
        match error {
            KeysError::NoSuchKey => ApiError::NotFound("key"),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

/// The signed-in owner's routes: `rest` follows `/api`.
pub(crate) async fn owner<S: ApiKeys + Accounts + Usage + Purchases>(
    app: &App<S>,
    edge: &EdgeLink,
    account: &AccountId,
    method: &Method,
    rest: &[&str],
    body: &Bytes,
) -> Result<Response<Bytes>, ApiError> {
    match (method, rest) {
        (&Method::POST, ["keys"]) => {
            let request: NewKeyRequest = if body.iter().all(u8::is_ascii_whitespace) {
                NewKeyRequest::default()
            } else {
                serde_json::from_slice(body).map_err(|e| ApiError::invalid("mode", &e.to_string()))?
            };
            let created = app.create_key(account, request.mode.unwrap_or(KeyMode::Live)).await?;
            Ok(json_response(StatusCode::CREATED, &created))
        }
        (&Method::GET, ["keys"]) => Ok(ok_json(&json!({ "keys": app.list_keys(account).await? }))),
        (&Method::DELETE, ["keys", id]) => {
            let id = KeyId::parse(id).map_err(|_| ApiError::NotFound("key"))?;
            let revoked = app.revoke_key(account, &id).await?;
            let edge_notified = edge.revoked(&revoked.hash, app.clock.now()).await;
            Ok(ok_json(&json!({ "id": revoked.id, "revoked_at": revoked.revoked_at, "edge_notified": edge_notified })))
        }
        (&Method::GET, ["me"]) => Ok(ok_json(&app.standing(account).await?)),
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// The edge's routes. The signature covers method, path and body, so it is checked
/// before anything else is read.
pub(crate) async fn internal<S: ApiKeys + Accounts + Usage + Purchases + Queue>(
    app: &App<S>,
    edge: &EdgeLink,
    request: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let path = request.uri().path();
    let signature = request.headers().get(edge::SIGNATURE_HEADER).and_then(|value| value.to_str().ok());
    edge::verify(&edge.secret, signature, request.method().as_str(), path, request.body(), app.clock.now())?;
    match (request.method(), path.strip_prefix(edge::KEYS_PATH)) {
        (&Method::GET, Some(hash)) => {
            let hash =
                KeyHash::parse(hash).map_err(|_| ApiError::invalid("hash", "must be 64 lowercase hex digits"))?;
            let record = app.key_record(&hash).await?;
            Ok(record.map_or_else(
                || ApiError::Absent { code: "unknown_key", message: "no such key".into() }.into_response(),
                |record| ok_json(&record),
            ))
        }
        (&Method::POST, None) if path == edge::USAGE_PATH => {
            let upload: UsageUpload =
                serde_json::from_slice(request.body()).map_err(|e| ApiError::invalid("batches", &e.to_string()))?;
            if upload.batches.len() > MAX_BATCHES {
                return Err(ApiError::invalid("batches", &format!("at most {MAX_BATCHES} per request")));
            }
            if let Some(reason) = upload.batches.iter().find_map(|batch| batch.check().err()) {
                return Err(ApiError::invalid("batches", reason));
            }
            Ok(ok_json(&json!({ "accepted": app.accept_usage(&upload.batches).await? })))
        }
        (_, Some(_)) => Err(ApiError::MethodNotAllowed),
        _ if path == edge::USAGE_PATH => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::NotFound("route")),
    }
}
