//! The HTTP face of [`CoreError`]: every failure, bad JSON and unknown routes included,
//! answers `{"error": {"code", "message", "support_message"?}}` with a stable code and the
//! status chosen here, the one place that maps the domain's errors to HTTP.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use crate::core::error::{CoreError, WithSupport};

/// The name the HTTP layer (and the embedding API: `licet_server::ApiError`) gives the
/// domain's error: the same enum, not a second one.
pub use crate::core::error::CoreError as ApiError;

/// The HTTP status of an error.
pub fn status(e: &CoreError) -> StatusCode {
    match e {
        ApiError::KeyInvalid
        | ApiError::MachineNotFound
        | ApiError::LeaseInvalid
        | ApiError::NotFound(_)
        | ApiError::SigningKeyUnknown(_) => StatusCode::NOT_FOUND,
        ApiError::KeyExpired
        | ApiError::KeySuspended
        | ApiError::KeyRevoked
        | ApiError::FingerprintMismatch
        | ApiError::ScopeMissing { .. }
        | ApiError::Denied
        | ApiError::MachineLicenseMismatch
        | ApiError::CheckInMissed { .. }
        | ApiError::TrialsNotOffered { .. } => StatusCode::FORBIDDEN,
        ApiError::ActivationLimitReached { .. }
        | ApiError::LeaseLimitReached { .. }
        | ApiError::Conflict(_)
        | ApiError::SigningKeyCurrent(_)
        | ApiError::SigningKeyFixed => StatusCode::CONFLICT,
        ApiError::LeaseExpired | ApiError::LeaseReleased => StatusCode::GONE,
        ApiError::BadRequest(_)
        | ApiError::RequestInvalid(_)
        | ApiError::RequestTampered
        | ApiError::EndorsementRefused(_) => StatusCode::BAD_REQUEST,
        ApiError::NonceReused
        | ApiError::RequestReplayed { .. }
        | ApiError::DeactivationLimitReached { .. }
        | ApiError::ActivationCooldown { .. } => StatusCode::CONFLICT,
        ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
        ApiError::Timeout | ApiError::StorageUnavailable | ApiError::NotReady => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for WithSupport {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.error.code(), "message": self.error.message()});
        if let Some(s) = self.support {
            body["support_message"] = json!(s);
        }
        if let Some(t) = self.error.retry_at() {
            body["retry_at"] = json!(licet::json::rfc3339(t));
        }
        (status(&self.error), Json(json!({ "error": body }))).into_response()
    }
}

impl IntoResponse for CoreError {
    fn into_response(self) -> Response {
        self.with_support(None).into_response()
    }
}
