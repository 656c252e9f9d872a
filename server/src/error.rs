//! The one error type of the server: every failure, bad JSON and unknown routes included,
//! answers `{"error": {"code", "message", "support_message"?}}` with a stable code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why a request was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The license key is not one this server issued.
    KeyInvalid,
    /// The license has expired.
    KeyExpired,
    /// The license is suspended.
    KeySuspended,
    /// The license is revoked.
    KeyRevoked,
    /// Every activation the license allows is in use.
    ActivationLimitReached {
        /// The license's limit.
        max: u64,
    },
    /// No such machine is activated on the license.
    MachineNotFound,
    /// The machine token or fingerprint belongs to another machine.
    FingerprintMismatch,
    /// Every floating seat of the license is held.
    LeaseLimitReached {
        /// The license's limit.
        max: u64,
    },
    /// The lease token is not one this server issued, or it was replaced by a renewal.
    LeaseInvalid,
    /// The lease has expired.
    LeaseExpired,
    /// The lease was released.
    LeaseReleased,
    /// The request is malformed: bad JSON, a missing or out-of-range field.
    BadRequest(String),
    /// The request body is larger than allowed.
    PayloadTooLarge,
    /// The admin token is missing or wrong.
    Unauthorized,
    /// No such route, or no such record.
    NotFound(String),
    /// The record exists already (for example a product name).
    Conflict(String),
    /// The request took too long.
    Timeout,
    /// The server cannot use its storage now (a full disk, an I/O error, the database being
    /// reopened): the request was not applied.
    StorageUnavailable,
    /// Something failed inside the server; the cause is logged, not shown.
    Internal,
}

impl ApiError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::KeyInvalid => "KEY_INVALID",
            ApiError::KeyExpired => "KEY_EXPIRED",
            ApiError::KeySuspended => "KEY_SUSPENDED",
            ApiError::KeyRevoked => "KEY_REVOKED",
            ApiError::ActivationLimitReached { .. } => "ACTIVATION_LIMIT_REACHED",
            ApiError::MachineNotFound => "MACHINE_NOT_FOUND",
            ApiError::FingerprintMismatch => "FINGERPRINT_MISMATCH",
            ApiError::LeaseLimitReached { .. } => "LEASE_LIMIT_REACHED",
            ApiError::LeaseInvalid => "LEASE_INVALID",
            ApiError::LeaseExpired => "LEASE_EXPIRED",
            ApiError::LeaseReleased => "LEASE_RELEASED",
            ApiError::BadRequest(_) => "BAD_REQUEST",
            ApiError::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ApiError::Unauthorized => "UNAUTHORIZED",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::Timeout => "TIMEOUT",
            ApiError::StorageUnavailable => "STORAGE_UNAVAILABLE",
            ApiError::Internal => "INTERNAL",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::KeyInvalid
            | ApiError::MachineNotFound
            | ApiError::LeaseInvalid
            | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::KeyExpired
            | ApiError::KeySuspended
            | ApiError::KeyRevoked
            | ApiError::FingerprintMismatch => StatusCode::FORBIDDEN,
            ApiError::ActivationLimitReached { .. }
            | ApiError::LeaseLimitReached { .. }
            | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::LeaseExpired | ApiError::LeaseReleased => StatusCode::GONE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Timeout | ApiError::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What is wrong and what to do, for the client.
    pub fn message(&self) -> String {
        match self {
            ApiError::KeyInvalid => "this license key is not known to the server; check it was copied whole".into(),
            ApiError::KeyExpired => "this license has expired; renew it with your vendor".into(),
            ApiError::KeySuspended => "this license is suspended; contact your vendor".into(),
            ApiError::KeyRevoked => "this license has been revoked".into(),
            ApiError::ActivationLimitReached { max } => format!(
                "every activation of this license is in use (limit: {max}); deactivate a machine first"
            ),
            ApiError::MachineNotFound => "this machine is not activated on this license; activate it first".into(),
            ApiError::FingerprintMismatch => "the machine token belongs to another machine".into(),
            ApiError::LeaseLimitReached { max } => format!(
                "every floating seat of this license is in use (limit: {max}); try again when one is released"
            ),
            ApiError::LeaseInvalid => {
                "this lease token is not current (unknown, or replaced by a renewal); obtain a new lease".into()
            }
            ApiError::LeaseExpired => "this lease has expired; obtain a new lease".into(),
            ApiError::LeaseReleased => "this lease was released; obtain a new lease".into(),
            ApiError::BadRequest(m) => m.clone(),
            ApiError::PayloadTooLarge => "the request body is too large".into(),
            ApiError::Unauthorized => "missing or wrong admin token (Authorization: Bearer <token>)".into(),
            ApiError::NotFound(m) => m.clone(),
            ApiError::Conflict(m) => m.clone(),
            ApiError::Timeout => "the request took too long; try again".into(),
            ApiError::StorageUnavailable => "the server cannot use its storage right now (disk full or an I/O error) and did not apply this request; retry later, with back-off (the operator sees the cause in GET /healthz and the server log)".into(),
            ApiError::Internal => "internal error; the server log has the cause".into(),
        }
    }

    /// Adds the product's support message to the response.
    pub fn with_support(self, support: Option<String>) -> WithSupport {
        WithSupport {
            error: self,
            support,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for ApiError {}

/// An error with the product's support message.
#[derive(Debug)]
pub struct WithSupport {
    /// The error.
    pub error: ApiError,
    /// The support message, when the product has one.
    pub support: Option<String>,
}

impl IntoResponse for WithSupport {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.error.code(), "message": self.error.message()});
        if let Some(s) = self.support {
            body["support_message"] = json!(s);
        }
        (self.error.status(), Json(json!({ "error": body }))).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.with_support(None).into_response()
    }
}

impl From<redb::Error> for ApiError {
    fn from(e: redb::Error) -> Self {
        tracing::error!(error = %e, "storage error");
        match e {
            // The disk, not the request: the writer reopens the database, so a retry can succeed.
            redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
                ApiError::StorageUnavailable
            }
            _ => ApiError::Internal,
        }
    }
}

macro_rules! storage_error {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                ApiError::from(redb::Error::from(e))
            }
        }
    )*};
}
storage_error!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError
);
