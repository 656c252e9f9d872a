//! The licensing core: every rule the server applies, once, over the storage interface.
//!
//! Plain async functions over typed requests and results: [`client`] (validate, activate,
//! check in, deactivate), [`leases`] (obtain, renew, release, validate, and the admin's
//! lease view), [`admin`] (products, licenses, machines, the audit log) and [`trials`]
//! (keyless trials). They call
//! storage only through [`crate::storage::Backend`] and its transactions; they know
//! nothing of HTTP (the handlers in `crate::routes` parse requests, call these and map the
//! results; `crate::error` maps [`CoreError`] to a status) and nothing of any database. Time is
//! an argument (`now`, seconds since 1970), never read here, so that tests set the clock.
//!
//! Why a module tree of the server crate and not a crate of its own: the core's domain
//! types are the server's model types (`crate::model`) and its signing is the server's
//! [`crate::state::Signer`]; a crate would only move them, and nothing outside the server
//! calls the core yet.

pub mod admin;
pub mod client;
pub mod deactivations;
pub mod deny;
pub mod error;
pub mod keys;
pub mod leases;
pub mod policies;
pub mod retention;
pub mod revocations;
pub mod tokens;
pub mod trials;

#[cfg(test)]
mod tests;

pub use error::{CoreError, WithSupport};

use crate::model::{License, Status};

/// The refusal a license's state gives at `now`, if any.
pub fn refusal(l: &License, now: u64) -> Option<CoreError> {
    match l.status {
        Status::Revoked => Some(CoreError::KeyRevoked),
        Status::Suspended => Some(CoreError::KeySuspended),
        Status::Active if l.expires_at.is_some_and(|e| now >= e) => Some(CoreError::KeyExpired),
        Status::Active => None,
    }
}

/// Parses a record's 16-byte id from its 32 hex digits.
pub fn id_bytes(hex: &str) -> Option<[u8; 16]> {
    licet_verifier::unhex(hex)
}
