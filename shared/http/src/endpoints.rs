//! `/api/me/webhook-endpoint`: where the signed-in account's deliveries go. Setting it
//! answers the signing secret, once; reading it never does.

use crate::Auth;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Guarded, JsonBody, Shared, User};
use crate::views::{NewWebhookEndpointView, WebhookEndpointView};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::put;
use http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;
use tollgate_app::endpoints::{EndpointError, Endpoints};
use tollgate_app::ports::webhook_endpoints::WebhookEndpoints;
use utoipa::ToSchema;

/// The endpoint to deliver to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointBody {
    /// `https://…` (plain `http://` only to 127.0.0.1 or localhost on `tollgate dev`).
    url: String,
}

/// The account owners' endpoint routes.
pub fn router<S: WebhookEndpoints + 'static>(auth: Arc<Auth>, endpoints: Arc<Endpoints<S>>) -> Router {
    Router::new()
        .route("/api/me/webhook-endpoint", put(set::<S>).get(get::<S>).delete(remove::<S>))
        .with_state(Guarded::new(auth, endpoints))
}

impl From<EndpointError> for ApiError {
    fn from(error: EndpointError) -> Self {
        let message = error.to_string();
        match error {
            EndpointError::Invalid(_) | EndpointError::NotPublic(_) | EndpointError::Unresolved(_) => {
                ApiError::Refused { code: "invalid_webhook_url", field: "url", message }
            }
            EndpointError::Store(store) => ApiError::from_port(&store),
        }
    }
}

#[utoipa::path(
    put,
    path = "/api/me/webhook-endpoint",
    tag = "webhooks",
    summary = "Sets where the account's deliveries go; answers the signing secret, once",
    request_body = EndpointBody,
    responses(
        (status = 200, description = "the endpoint with its new `whsec_` secret (shown only now; setting it again makes another)", body = NewWebhookEndpointView),
        (status = 400, description = "`invalid_webhook_url`: not https, or resolving to a loopback, private or link-local address", body = ErrorResponse),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn set<S: WebhookEndpoints>(
    State(endpoints): Shared<Arc<Endpoints<S>>>,
    User(account): User,
    JsonBody(body): JsonBody<EndpointBody>,
) -> Result<Json<NewWebhookEndpointView>, ApiError> {
    Ok(Json(NewWebhookEndpointView::from(&endpoints.set(&account, &body.url).await?)))
}

#[utoipa::path(
    get,
    path = "/api/me/webhook-endpoint",
    tag = "webhooks",
    summary = "Where the account's deliveries go (never the secret)",
    responses(
        (status = 200, description = "the endpoint", body = WebhookEndpointView),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 404, description = "none is set", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get<S: WebhookEndpoints>(
    State(endpoints): Shared<Arc<Endpoints<S>>>,
    User(account): User,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    let endpoint = endpoints.get(&account).await?.ok_or(ApiError::NotFound("webhook endpoint"))?;
    Ok(Json(WebhookEndpointView::from(&endpoint)))
}

#[utoipa::path(
    delete,
    path = "/api/me/webhook-endpoint",
    tag = "webhooks",
    summary = "Removes the account's endpoint: nothing is delivered any more",
    responses(
        (status = 204, description = "removed"),
        (status = 401, description = "no valid bearer token", body = ErrorResponse),
        (status = 404, description = "none is set", body = ErrorResponse),
        (status = 503, description = "storage unavailable: retry after `Retry-After`", body = ErrorResponse)
    ),
    security(("bearer" = []))
)]
pub(crate) async fn remove<S: WebhookEndpoints>(
    State(endpoints): Shared<Arc<Endpoints<S>>>,
    User(account): User,
) -> Result<StatusCode, ApiError> {
    if endpoints.remove(&account).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("webhook endpoint"))
    }
}
