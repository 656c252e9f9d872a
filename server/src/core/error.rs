//! The domain's one error type: why a rule refused, or why storage could not answer.
//!
//! Each variant has a stable `code()` (the strings of `docs/api.md`, the CLI and the client
//! library). Nothing here knows HTTP: `crate::error` maps each variant to a status and a
//! JSON body, in that one place. The enum also holds the few refusals only the HTTP layer
//! raises (a body too large, a timeout, no such route, a wrong admin token), so that every
//! code the server answers with is listed once.

/// Why a request was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreError {
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
    /// An offline activation request is not one licet can read.
    RequestInvalid(String),
    /// An offline activation request was edited after it was made (its digest does not
    /// match its fields).
    RequestTampered,
    /// An offline activation request's nonce already names another machine of the
    /// license: the request was edited to activate a second machine.
    NonceReused,
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
    /// Too many client requests from one source address or for one license key: the
    /// server's rate limits (`--ip-rate`, `--key-rate`) refused this one.
    RateLimited {
        /// Seconds until a request would be let through.
        retry_after: u64,
    },
    /// `GET /readyz`: the database did not answer a read in time.
    NotReady,
    /// The admin token is valid but lacks the scope the route needs.
    ScopeMissing {
        /// The scope the route needs (`licenses:write`, …).
        needed: &'static str,
    },
    /// The request matches the deny list (its address, fingerprint or license).
    Denied,
    /// No published signing key has this kid.
    SigningKeyUnknown(String),
    /// The signing key named is the current one, which cannot be retired.
    SigningKeyCurrent(String),
    /// An endorsement that does not fit the key, the root, or the time.
    EndorsementRefused(String),
    /// The server signs with a fixed `--signing-key`, so it cannot rotate.
    SigningKeyFixed,
    /// An offline deactivation request whose machine token belongs to another license
    /// than the request's license key.
    MachineLicenseMismatch,
    /// An offline deactivation request answered before: its nonce is recorded.
    RequestReplayed {
        /// When it was answered.
        at: u64,
    },
    /// The license's machines were deactivated as often as its policy allows within the
    /// rolling period; nothing changed.
    DeactivationLimitReached {
        /// Deactivations allowed per period.
        limit: u64,
        /// The period, in seconds.
        period: u64,
        /// When the oldest deactivation counted leaves the period (one more is possible);
        /// `None` when the limit is 0 (the customer may never deactivate).
        retry_at: Option<u64>,
    },
    /// The activation this request needs was freed by a deactivation less than the
    /// license's cooldown ago; nothing changed.
    ActivationCooldown {
        /// When an activation is possible again.
        retry_at: u64,
    },
    /// The machine missed its check-in deadline, and the license's grace period after it
    /// is over too.
    CheckInMissed {
        /// When the machine was to check in by.
        due: u64,
        /// When the grace period after that ended.
        grace_ended_at: u64,
    },
    /// A keyless trial asked of a product that offers none (it names no trial policy).
    TrialsNotOffered {
        /// The product.
        product: String,
    },
}

impl From<crate::keystore::KeyError> for CoreError {
    fn from(e: crate::keystore::KeyError) -> Self {
        use crate::keystore::KeyError;
        match e {
            KeyError::Unknown(kid) => CoreError::SigningKeyUnknown(kid),
            KeyError::Current(kid) => CoreError::SigningKeyCurrent(kid),
            KeyError::Endorsement(m) => CoreError::EndorsementRefused(m),
            KeyError::Fixed => CoreError::SigningKeyFixed,
            KeyError::Files(m) => {
                tracing::error!(error = %m, "the key directory");
                CoreError::Internal
            }
        }
    }
}

impl CoreError {
    /// One value of every variant, for the lists of codes (the OpenAPI document's error
    /// schema). The match below stops compiling when a variant is added, as a reminder to
    /// add it to the list too.
    pub fn every() -> Vec<CoreError> {
        let s = String::new;
        let all = vec![
            CoreError::KeyInvalid,
            CoreError::KeyExpired,
            CoreError::KeySuspended,
            CoreError::KeyRevoked,
            CoreError::ActivationLimitReached { max: 0 },
            CoreError::MachineNotFound,
            CoreError::FingerprintMismatch,
            CoreError::LeaseLimitReached { max: 0 },
            CoreError::LeaseInvalid,
            CoreError::LeaseExpired,
            CoreError::LeaseReleased,
            CoreError::RequestInvalid(s()),
            CoreError::RequestTampered,
            CoreError::NonceReused,
            CoreError::BadRequest(s()),
            CoreError::PayloadTooLarge,
            CoreError::Unauthorized,
            CoreError::NotFound(s()),
            CoreError::Conflict(s()),
            CoreError::Timeout,
            CoreError::StorageUnavailable,
            CoreError::Internal,
            CoreError::RateLimited { retry_after: 0 },
            CoreError::NotReady,
            CoreError::ScopeMissing { needed: "" },
            CoreError::Denied,
            CoreError::SigningKeyUnknown(s()),
            CoreError::SigningKeyCurrent(s()),
            CoreError::EndorsementRefused(s()),
            CoreError::SigningKeyFixed,
            CoreError::MachineLicenseMismatch,
            CoreError::RequestReplayed { at: 0 },
            CoreError::DeactivationLimitReached {
                limit: 0,
                period: 0,
                retry_at: None,
            },
            CoreError::ActivationCooldown { retry_at: 0 },
            CoreError::TrialsNotOffered { product: s() },
            CoreError::CheckInMissed {
                due: 0,
                grace_ended_at: 0,
            },
        ];
        for e in &all {
            match e {
                CoreError::KeyInvalid
                | CoreError::KeyExpired
                | CoreError::KeySuspended
                | CoreError::KeyRevoked
                | CoreError::ActivationLimitReached { .. }
                | CoreError::MachineNotFound
                | CoreError::FingerprintMismatch
                | CoreError::LeaseLimitReached { .. }
                | CoreError::LeaseInvalid
                | CoreError::LeaseExpired
                | CoreError::LeaseReleased
                | CoreError::RequestInvalid(_)
                | CoreError::RequestTampered
                | CoreError::NonceReused
                | CoreError::BadRequest(_)
                | CoreError::PayloadTooLarge
                | CoreError::Unauthorized
                | CoreError::NotFound(_)
                | CoreError::Conflict(_)
                | CoreError::Timeout
                | CoreError::StorageUnavailable
                | CoreError::Internal
                | CoreError::RateLimited { .. }
                | CoreError::NotReady
                | CoreError::ScopeMissing { .. }
                | CoreError::Denied
                | CoreError::SigningKeyUnknown(_)
                | CoreError::SigningKeyCurrent(_)
                | CoreError::EndorsementRefused(_)
                | CoreError::SigningKeyFixed
                | CoreError::MachineLicenseMismatch
                | CoreError::RequestReplayed { .. }
                | CoreError::DeactivationLimitReached { .. }
                | CoreError::ActivationCooldown { .. }
                | CoreError::TrialsNotOffered { .. }
                | CoreError::CheckInMissed { .. } => {}
            }
        }
        all
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::KeyInvalid => "KEY_INVALID",
            CoreError::KeyExpired => "KEY_EXPIRED",
            CoreError::KeySuspended => "KEY_SUSPENDED",
            CoreError::KeyRevoked => "KEY_REVOKED",
            CoreError::ActivationLimitReached { .. } => "ACTIVATION_LIMIT_REACHED",
            CoreError::MachineNotFound => "MACHINE_NOT_FOUND",
            CoreError::FingerprintMismatch => "FINGERPRINT_MISMATCH",
            CoreError::LeaseLimitReached { .. } => "LEASE_LIMIT_REACHED",
            CoreError::LeaseInvalid => "LEASE_INVALID",
            CoreError::LeaseExpired => "LEASE_EXPIRED",
            CoreError::LeaseReleased => "LEASE_RELEASED",
            CoreError::RequestInvalid(_) => "REQUEST_INVALID",
            CoreError::RequestTampered => "REQUEST_TAMPERED",
            CoreError::NonceReused => "NONCE_REUSED",
            CoreError::BadRequest(_) => "BAD_REQUEST",
            CoreError::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            CoreError::Unauthorized => "UNAUTHORIZED",
            CoreError::NotFound(_) => "NOT_FOUND",
            CoreError::Conflict(_) => "CONFLICT",
            CoreError::Timeout => "TIMEOUT",
            CoreError::StorageUnavailable => "STORAGE_UNAVAILABLE",
            CoreError::Internal => "INTERNAL",
            CoreError::RateLimited { .. } => "RATE_LIMITED",
            CoreError::NotReady => "NOT_READY",
            CoreError::ScopeMissing { .. } => "SCOPE_MISSING",
            CoreError::Denied => "DENIED",
            CoreError::SigningKeyUnknown(_) => "SIGNING_KEY_UNKNOWN",
            CoreError::SigningKeyCurrent(_) => "SIGNING_KEY_CURRENT",
            CoreError::EndorsementRefused(_) => "ENDORSEMENT_REFUSED",
            CoreError::SigningKeyFixed => "SIGNING_KEY_FIXED",
            CoreError::MachineLicenseMismatch => "MACHINE_LICENSE_MISMATCH",
            CoreError::RequestReplayed { .. } => "REQUEST_REPLAYED",
            CoreError::DeactivationLimitReached { .. } => "DEACTIVATION_LIMIT_REACHED",
            CoreError::ActivationCooldown { .. } => "ACTIVATION_COOLDOWN",
            CoreError::TrialsNotOffered { .. } => "TRIALS_NOT_OFFERED",
            CoreError::CheckInMissed { .. } => "CHECK_IN_MISSED",
        }
    }

    /// What is wrong and what to do, for the client.
    pub fn message(&self) -> String {
        match self {
            CoreError::KeyInvalid => "this license key is not known to the server; check it was copied whole".into(),
            CoreError::KeyExpired => "this license has expired; renew it with your vendor".into(),
            CoreError::KeySuspended => "this license is suspended; contact your vendor".into(),
            CoreError::KeyRevoked => "this license has been revoked".into(),
            CoreError::ActivationLimitReached { max } => format!(
                "every activation of this license is in use (limit: {max}); deactivate a machine first"
            ),
            CoreError::MachineNotFound => "this machine is not activated on this license; activate it first".into(),
            CoreError::FingerprintMismatch => "the machine token belongs to another machine".into(),
            CoreError::LeaseLimitReached { max } => format!(
                "every floating seat of this license is in use (limit: {max}); try again when one is released"
            ),
            CoreError::LeaseInvalid => {
                "this lease token is not current (unknown, or replaced by a renewal); obtain a new lease".into()
            }
            CoreError::LeaseExpired => "this lease has expired; obtain a new lease".into(),
            CoreError::LeaseReleased => "this lease was released; obtain a new lease".into(),
            CoreError::RequestInvalid(m) => m.clone(),
            CoreError::RequestTampered => "the request was changed after it was made (its digest does not match); make a new request on the machine (`licet offline request`, or `licet offline deactivate` for a deactivation)".into(),
            CoreError::MachineLicenseMismatch => "the machine token in this deactivation request belongs to another license than the request's license key; deactivate the machine with its own license".into(),
            CoreError::RequestReplayed { at } => format!(
                "this deactivation request was answered already (at {at}, seconds since 1970): its activation is free and nothing changed now; the receipt was the answer then"
            ),
            CoreError::NonceReused => "this request's nonce already activated another machine; make a new request with `licet offline request` on the machine to activate".into(),
            CoreError::BadRequest(m) => m.clone(),
            CoreError::PayloadTooLarge => "the request body is too large".into(),
            CoreError::Unauthorized => "missing or wrong admin token (Authorization: Bearer <token>)".into(),
            CoreError::NotFound(m) => m.clone(),
            CoreError::Conflict(m) => m.clone(),
            CoreError::Timeout => "the request took too long; try again".into(),
            CoreError::StorageUnavailable => "the server cannot use its storage right now (disk full or an I/O error) and did not apply this request; retry later, with back-off (the operator sees the cause in GET /healthz and the server log)".into(),
            CoreError::Internal => "internal error; the server log has the cause".into(),
            CoreError::RateLimited { retry_after } => format!(
                "too many requests from this address or for this license key; retry after {retry_after} s (the Retry-After header)"
            ),
            CoreError::NotReady => "the database did not answer a read in time; this server should get no traffic until GET /readyz answers 200".into(),
            CoreError::ScopeMissing { needed } => format!(
                "this admin token may not do this: the route needs the scope '{needed}' (or 'admin'); ask an administrator for a token with it"
            ),
            CoreError::Denied => "this server refuses requests from this machine, address or license; contact your vendor".into(),
            e @ (CoreError::SigningKeyUnknown(_)
            | CoreError::SigningKeyCurrent(_)
            | CoreError::EndorsementRefused(_)
            | CoreError::SigningKeyFixed) => crate::keystore::KeyError::from(e.clone()).to_string(),
            CoreError::DeactivationLimitReached { limit, period, retry_at } => match retry_at {
                Some(t) => format!(
                    "this license's machines were deactivated {limit} times within {} (its limit); the next deactivation is possible from {}, or the vendor can deactivate the machine",
                    period_text(*period),
                    licet::json::rfc3339(*t)
                ),
                None => "this license allows no deactivation by the customer; the vendor can deactivate the machine".into(),
            },
            CoreError::ActivationCooldown { retry_at } => format!(
                "the activation this machine needs was freed too recently (the license's cooldown); activate again from {}",
                licet::json::rfc3339(*retry_at)
            ),
            CoreError::CheckInMissed { due, grace_ended_at } => format!(
                "this machine was to check in by {} and its grace period ended at {}; deactivate it and activate it again, or ask your vendor",
                licet::json::rfc3339(*due),
                licet::json::rfc3339(*grace_ended_at)
            ),
            CoreError::TrialsNotOffered { product } => format!(
                "product '{product}' offers no trials; ask your vendor for a license key"
            ),
        }
    }

    /// When a refused request is possible again, for the refusals that know (the limits
    /// of deactivations and of a freed activation's reuse).
    pub fn retry_at(&self) -> Option<u64> {
        match self {
            CoreError::DeactivationLimitReached { retry_at, .. } => *retry_at,
            CoreError::ActivationCooldown { retry_at } => Some(*retry_at),
            _ => None,
        }
    }

    /// Adds the product's support message to the refusal.
    pub fn with_support(self, support: Option<String>) -> WithSupport {
        WithSupport {
            error: self,
            support,
        }
    }
}

/// A period in days when it is whole days, else in seconds.
fn period_text(secs: u64) -> String {
    match (secs / 86_400, secs % 86_400) {
        (1, 0) => "1 day".into(),
        (d, 0) => format!("{d} days"),
        _ => format!("{secs} seconds"),
    }
}

impl std::fmt::Display for CoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for CoreError {}

/// An error with the product's support message.
#[derive(Debug)]
pub struct WithSupport {
    /// The error.
    pub error: CoreError,
    /// The support message, when the product has one.
    pub support: Option<String>,
}
