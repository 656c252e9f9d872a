//! Request extractors whose rejections are [`ApiError`]s, so that a bad body, query string
//! or path answers in the one JSON error shape like every other failure. Handlers use these,
//! never axum's own `Json`, `Query` or `Path`, whose rejections are plain text.

// The one place axum's own extractors may be used (server/clippy.toml): each is wrapped
// here so that its rejection is an ApiError.
#![allow(clippy::disallowed_types)]

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// JSON body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::PayloadTooLarge;
    }
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::BadRequest(
            "send the body as JSON with 'Content-Type: application/json'".into(),
        ),
        JsonRejection::JsonDataError(e) => {
            ApiError::BadRequest(format!("invalid request: {}", e.body_text()))
        }
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::BadRequest(format!("malformed JSON: {}", e.body_text()))
        }
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// Query string.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r) => Err(query_rejection(&r)),
        }
    }
}

fn query_rejection(r: &QueryRejection) -> ApiError {
    ApiError::BadRequest(format!("invalid query string: {}", r.body_text()))
}

/// Path parameters.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(r) => Err(path_rejection(&r)),
        }
    }
}

fn path_rejection(r: &PathRejection) -> ApiError {
    // A route whose parameters do not fit its handler is the server's fault, not the
    // client's.
    if r.status().is_server_error() {
        tracing::error!(error = %r.body_text(), "path parameters do not fit the handler");
        return ApiError::Internal;
    }
    ApiError::BadRequest(format!(
        "invalid path: {}; ids are 32 hex digits and names UTF-8 (percent-encoded in the URL)",
        r.body_text()
    ))
}
