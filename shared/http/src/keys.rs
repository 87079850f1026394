//! `/api/keys`, `/api/me` for key owners; `/internal/keys/{hash}` and `/internal/usage`
//! for the edge, signed with `EDGE_SECRET`.

use crate::Auth;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{EdgeSigned, Guarded, OptionalJsonBody, Shared, User, parse_json};
use crate::views::{
    KeyList, KeyRecordView, KeyView, MeLimitsView, NewKeyView, RevokedKey, StandingView, UsageAccepted,
};
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;
use tollgate_app::keys::{KeyStore, Keys, KeysError};
use tollgate_core::api_key::{KeyHash, KeyMode};
use tollgate_core::edge;
use tollgate_core::ids::KeyId;
use tollgate_core::metering::UsageBatch;
use utoipa::ToSchema;

/// Batches in one flush: a Durable Object flushes every few seconds, so this is generous.
const MAX_BATCHES: usize = 1_000;

/// The key owners' routes.
pub fn owner_router<S: KeyStore + 'static>(auth: Arc<Auth>, keys: Arc<Keys<S>>) -> Router {
    Router::new()
        .route("/api/keys", post(create::<S>).get(list::<S>))
        .route("/api/keys/first", post(reveal_first::<S>))
        .route("/api/keys/{id}", delete(revoke::<S>))
        .route("/api/me", get(standing::<S>))
        .route("/api/me/limits", get(limits::<S>))
        .with_state(Guarded::new(auth, keys))
}

/// The edge's routes, each signed with `EDGE_SECRET`.
pub fn edge_router<S: KeyStore + 'static>(keys: Arc<Keys<S>>) -> Router {
    Router::new()
        .route(&format!("{}{{hash}}", edge::KEYS_PATH), get(key_record::<S>))
        .route(edge::USAGE_PATH, post(usage::<S>))
        .with_state(keys)
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKeyRequest {
    /// `live` (default) or `test`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    mode: Option<KeyMode>,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct UsageUpload {
    /// At most 1,000 of `{id, key_id, account_id, period_start, calls, credits}`.
    #[schema(value_type = Vec<Object>)]
    batches: Vec<UsageBatch>,
}

impl From<KeysError> for ApiError {
    fn from(error: KeysError) -> Self {
        match error {
            KeysError::NoSuchKey => ApiError::NotFound("key"),
            KeysError::KeyLimitReached { .. } => {
                ApiError::Conflict { code: "key_limit_reached", message: error.to_string() }
            }
            other => ApiError::from_port(&other),
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/keys",
    tag = "keys",
    summary = "Create an API key, shown once",
    request_body(content = Option<NewKeyRequest>),
    responses(
        (status = 201, description = "the key, shown this once", body = NewKeyView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 409, description = "`key_limit_reached`: the plan's `max_keys` unrevoked keys exist", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create<S: KeyStore>(
    State(owners): Shared<Arc<Keys<S>>>,
    User(account): User,
    OptionalJsonBody(request): OptionalJsonBody<NewKeyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let created = owners.create_key(&account, request.mode.unwrap_or(KeyMode::Live)).await?;
    Ok((StatusCode::CREATED, Json(NewKeyView::from(created))))
}

#[utoipa::path(
    get,
    path = "/api/keys",
    tag = "keys",
    summary = "The signed-in owner's keys, never a key itself",
    responses(
        (status = 200, description = "the keys, oldest first", body = KeyList),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list<S: KeyStore>(
    State(owners): Shared<Arc<Keys<S>>>,
    User(account): User,
) -> Result<Json<KeyList>, ApiError> {
    let keys = owners.list_keys(&account).await?;
    let first_key_waiting = owners.first_key_waiting(&account).await?;
    Ok(Json(KeyList { keys: keys.iter().map(KeyView::from).collect(), first_key_waiting }))
}

#[utoipa::path(
    post,
    path = "/api/keys/first",
    tag = "keys",
    summary = "Show, once, the first key an API plan's subscription made",
    responses(
        (status = 200, description = "the key, shown this once", body = NewKeyView),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 404, description = "`no_first_key`: none waits (shown already, revoked, or never made)", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn reveal_first<S: KeyStore>(
    State(owners): Shared<Arc<Keys<S>>>,
    User(account): User,
) -> Result<Json<NewKeyView>, ApiError> {
    let shown = owners.reveal_first_key(&account).await?;
    let message = "no first key waits to be shown".to_owned();
    Ok(Json(NewKeyView::from(shown.ok_or(ApiError::Absent { code: "no_first_key", message })?)))
}

#[utoipa::path(
    delete,
    path = "/api/keys/{id}",
    tag = "keys",
    summary = "Revoke a key",
    params(("id" = String, Path, description = "the key id")),
    responses(
        (status = 200, description = "revoked (again: the first time stays)", body = RevokedKey),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 404, description = "no such thing", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn revoke<S: KeyStore>(
    State(owners): Shared<Arc<Keys<S>>>,
    User(account): User,
    Path(id): Path<String>,
) -> Result<Json<RevokedKey>, ApiError> {
    let id = KeyId::parse(&id).map_err(|_| ApiError::NotFound("key"))?;
    let revoked = owners.revoke_key(&account, &id).await?;
    Ok(Json(RevokedKey::new(&revoked.key, revoked.edge_notified)))
}

#[utoipa::path(
    get,
    path = "/api/me",
    tag = "keys",
    summary = "The signed-in owner's plan, limits and usage",
    responses(
        (status = 200, description = "the plan and the period so far", body = StandingView),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn standing<S: KeyStore>(
    State(owners): Shared<Arc<Keys<S>>>,
    User(account): User,
) -> Result<Json<StandingView>, ApiError> {
    Ok(Json(StandingView::from(&owners.standing(&account).await?)))
}

#[utoipa::path(
    get,
    path = "/api/me/limits",
    tag = "keys",
    summary = "Every meter of the signed-in owner's plan, and whether a call of each may pass now",
    responses(
        (status = 200, description = "each meter's standing and `can_use`", body = MeLimitsView),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn limits<S: KeyStore>(
    State(owners): Shared<Arc<Keys<S>>>,
    User(account): User,
) -> Result<Json<MeLimitsView>, ApiError> {
    Ok(Json(MeLimitsView::from(&owners.standing(&account).await?)))
}

/// The signature is checked before the hash is read.
#[utoipa::path(
    get,
    path = "/internal/keys/{hash}",
    tag = "edge",
    summary = "A key's record, for the edge",
    params(("hash" = String, Path, description = "the key's SHA-256, 64 lowercase hex digits")),
    responses(
        (status = 200, description = "the key's record", body = KeyRecordView),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 404, description = "`unknown_key`", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("tollgate_signature" = []))
)]
pub(crate) async fn key_record<S: KeyStore>(
    State(keys): State<Arc<Keys<S>>>,
    Path(hash): Path<String>,
    _: EdgeSigned,
) -> Result<Json<KeyRecordView>, ApiError> {
    let hash = KeyHash::parse(&hash).map_err(|_| ApiError::invalid("hash", "must be 64 lowercase hex digits"))?;
    let record = keys.key_record(&hash).await?;
    record
        .map(|record| Json(KeyRecordView::from(&record)))
        .ok_or_else(|| ApiError::Absent { code: "unknown_key", message: "no such key".into() })
}

#[utoipa::path(
    post,
    path = "/internal/usage",
    tag = "edge",
    summary = "The edge's usage batches",
    request_body(content = UsageUpload),
    responses(
        (status = 200, description = "the batches queued", body = UsageAccepted),
        (status = 400, description = "a bad field, named", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("tollgate_signature" = []))
)]
pub(crate) async fn usage<S: KeyStore>(
    State(keys): State<Arc<Keys<S>>>,
    EdgeSigned(body): EdgeSigned,
) -> Result<Json<UsageAccepted>, ApiError> {
    let upload: UsageUpload = parse_json(&body)?;
    if upload.batches.len() > MAX_BATCHES {
        return Err(ApiError::invalid("batches", &format!("at most {MAX_BATCHES} per request")));
    }
    if let Some(reason) = upload.batches.iter().find_map(|batch| batch.check().err()) {
        return Err(ApiError::invalid("batches", reason));
    }
    Ok(Json(UsageAccepted { accepted: keys.accept_usage(&upload.batches).await? }))
}
