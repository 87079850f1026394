//! What a handler needs from a request, each checked once: the signed-in user, the admin,
//! the edge's signature, and the body read whole and typed, naming the field at fault.

use crate::Auth;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tollgate_app::keys::Keys;
use tollgate_core::edge;
use tollgate_core::ids::AccountId;

/// The state of every router whose routes take bearer tokens: who may call, and the use
/// cases the routes call (one, or a capability's few in a struct), reached through `Deref`.
pub(crate) struct Guarded<T> {
    pub(crate) auth: Arc<Auth>,
    use_cases: T,
}

impl<T> Guarded<T> {
    pub(crate) fn new(auth: Arc<Auth>, use_cases: T) -> Arc<Self> {
        Arc::new(Self { auth, use_cases })
    }
}

impl<T> std::ops::Deref for Guarded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.use_cases
    }
}

/// A handler's state: `State(operator): Shared<Operator<S>>`.
pub(crate) type Shared<T> = axum::extract::State<Arc<Guarded<T>>>;

/// The signed-in account: the JWT's `sub`.
pub struct User(pub AccountId);

/// A caller whose JWT carries the admin role.
pub struct Admin;

impl<T: Send + Sync> FromRequestParts<Arc<Guarded<T>>> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Guarded<T>>) -> Result<Self, ApiError> {
        let Auth { verifier, clock } = state.auth.as_ref();
        let identity = verifier.bearer(&parts.headers, clock.now()).await?;
        AccountId::parse_user(&identity.sub).map(User).map_err(|_| ApiError::Unauthorized)
    }
}

impl<T: Send + Sync> FromRequestParts<Arc<Guarded<T>>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Guarded<T>>) -> Result<Self, ApiError> {
        let Auth { verifier, clock } = state.auth.as_ref();
        let identity = verifier.bearer(&parts.headers, clock.now()).await?;
        if identity.admin { Ok(Admin) } else { Err(ApiError::Forbidden) }
    }
}

/// The whole body, at most the router's body limit.
pub struct RawBody(pub Bytes);

impl<St: Send + Sync> FromRequest<St> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &St) -> Result<Self, ApiError> {
        Bytes::from_request(request, state).await.map(RawBody).map_err(body_error)
    }
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::IncompleteBody
    }
}

/// A JSON body read into `T`, naming a bad field by its path (`batches[3].calls`).
pub struct JsonBody<T>(pub T);

impl<St: Send + Sync, T: DeserializeOwned> FromRequest<St> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &St) -> Result<Self, ApiError> {
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// As [`JsonBody`], but an empty body reads as `T::default()`.
pub struct OptionalJsonBody<T>(pub T);

impl<St: Send + Sync, T: DeserializeOwned + Default> FromRequest<St> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &St) -> Result<Self, ApiError> {
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        parse_json(&bytes).map(OptionalJsonBody)
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde reads a struct from an array of its fields in order; every body here is an object.
    if bytes.trim_ascii_start().starts_with(b"[") {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        // `.` is the document itself; `?` a place the parser never reached (cut-off JSON).
        let field = if path == "." || path == "?" { "body".to_owned() } else { path };
        ApiError::invalid(field, &error.into_inner().to_string())
    })
}

/// The query string read into `T`.
pub struct Params<T>(pub T);

impl<St: Send + Sync, T: DeserializeOwned> FromRequestParts<St> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, ApiError> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(params)| Params(params))
            .map_err(|rejection| ApiError::invalid("query", &rejection.body_text()))
    }
}

/// A body the edge signed with `EDGE_SECRET`: the signature covers method, path and body,
/// so it is checked before anything else is read.
pub struct EdgeSigned(pub Bytes);

impl<S: Send + Sync> FromRequest<Arc<Keys<S>>> for EdgeSigned {
    type Rejection = ApiError;

    async fn from_request(request: Request, keys: &Arc<Keys<S>>) -> Result<Self, ApiError> {
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        let signature = request.headers().get(edge::SIGNATURE_HEADER).and_then(|value| value.to_str().ok());
        let signature = signature.map(str::to_owned);
        let RawBody(bytes) = RawBody::from_request(request, keys).await?;
        edge::verify(&keys.edge.secret, signature.as_deref(), method.as_str(), &path, &bytes, keys.clock.now())
            .map_err(|error| ApiError::Signature { header: "Tollgate-Signature", error })?;
        Ok(EdgeSigned(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)] // read only through `Debug`: the test is about which field fails
    struct Outer {
        items: Vec<Inner>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        calls: u64,
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_too_large() {
        use http_body_util::Limited;
        let long = axum::body::Body::new(Limited::new(axum::body::Body::from("too long"), 3));
        assert!(matches!(RawBody::from_request(Request::new(long), &()).await, Err(ApiError::PayloadTooLarge)));
    }

    #[test]
    fn a_bad_field_is_named_by_its_path() {
        let field = |body: &[u8]| match parse_json::<Outer>(body).unwrap_err() {
            ApiError::InvalidRequest { field, .. } => field.into_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(br#"{"items":[{"calls":1},{"calls":"x"}]}"#), "items[1].calls");
        assert_eq!(field(b"7"), "body");
        assert_eq!(field(b"{"), "body");
    }
}
