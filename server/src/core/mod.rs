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

use crate::model::{License, Machine, Status};

/// The refusal a license's state gives at `now`, if any: the rule of floating seats,
/// which have no grace period (a seat is minutes long and clipped at the license's
/// expiry). Machines are refused by [`machine_refusal`].
pub fn refusal(l: &License, now: u64) -> Option<CoreError> {
    match l.status {
        Status::Revoked => Some(CoreError::KeyRevoked),
        Status::Suspended => Some(CoreError::KeySuspended),
        Status::Active if l.expires_at.is_some_and(|e| now >= e) => Some(CoreError::KeyExpired),
        Status::Active => None,
    }
}

/// When an expired license's grace period ends, if `now` is within it: the license has
/// expired, is neither suspended nor revoked, and its grace period (`grace_period`
/// seconds after `expires_at`) has not run out. Its machines are then still validated,
/// activated and checked in, with the warning `KEY_IN_GRACE`.
pub fn grace_end(l: &License, now: u64) -> Option<u64> {
    let expired = l.expires_at?;
    let end = expired.saturating_add(l.grace_period);
    (l.status == Status::Active && expired <= now && now < end).then_some(end)
}

/// The refusal a license's state gives a machine (validate, activate, check in) at
/// `now`: that of [`refusal`], except within the license's grace period ([`grace_end`]).
pub fn machine_refusal(l: &License, now: u64) -> Option<CoreError> {
    match grace_end(l, now) {
        Some(_) => None,
        None => refusal(l, now),
    }
}

/// When a machine must check in by: its last check-in plus the license's check-in
/// interval (capped for records stored before the admin API bounded the interval).
pub fn check_in_due(l: &License, m: &Machine) -> u64 {
    let interval = l
        .check_in_interval
        .min(crate::model::limits::CHECK_IN_INTERVAL);
    m.last_check_in.saturating_add(interval)
}

/// A machine's lateness at `now`, under a license with a grace period: `Ok(None)` on
/// time, `Ok(Some(end))` when it missed its check-in deadline less than the grace period
/// ago (answered with the warning `CHECK_IN_OVERDUE`, `end` the grace end), and
/// `CHECK_IN_MISSED` after that. A license without a grace period keeps the rule it always
/// had: the server takes a late check-in whenever it comes, and the machine token's own
/// expiry is the only deadline.
///
/// # Errors
/// [`CoreError::CheckInMissed`] once the grace period after the deadline is over.
pub fn check_in_standing(l: &License, m: &Machine, now: u64) -> Result<Option<u64>, CoreError> {
    if l.grace_period == 0 {
        return Ok(None);
    }
    let due = check_in_due(l, m);
    let end = due.saturating_add(l.grace_period);
    if now < due {
        Ok(None)
    } else if now < end {
        Ok(Some(end))
    } else {
        Err(CoreError::CheckInMissed {
            due,
            grace_ended_at: end,
        })
    }
}

/// A warning a client answer carries instead of a refusal: a grace period is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grace {
    /// The license has expired; its machines are refused from `ends_at` (`KEY_IN_GRACE`).
    KeyInGrace {
        /// When the grace period ends.
        ends_at: u64,
    },
    /// The machine missed its check-in deadline; it is refused from `ends_at` unless it
    /// checks in (`CHECK_IN_OVERDUE`).
    CheckInOverdue {
        /// When the grace period ends.
        ends_at: u64,
    },
}

impl Grace {
    /// The stable code of the warning.
    pub fn code(self) -> &'static str {
        match self {
            Grace::KeyInGrace { .. } => "KEY_IN_GRACE",
            Grace::CheckInOverdue { .. } => "CHECK_IN_OVERDUE",
        }
    }

    /// When the grace period ends.
    pub fn ends_at(self) -> u64 {
        match self {
            Grace::KeyInGrace { ends_at } | Grace::CheckInOverdue { ends_at } => ends_at,
        }
    }

    /// The warning for a machine of `l` at `now`, the license's first (it is the larger
    /// matter: a check-in does not end it), and `CHECK_IN_MISSED` when the machine is past
    /// its grace. `m` is the machine as it was before this request.
    ///
    /// # Errors
    /// [`CoreError::CheckInMissed`].
    pub fn of(l: &License, m: Option<&Machine>, now: u64) -> Result<Option<Grace>, CoreError> {
        let overdue = m
            .map(|m| check_in_standing(l, m, now))
            .transpose()?
            .flatten();
        Ok(match (grace_end(l, now), overdue) {
            (Some(ends_at), _) => Some(Grace::KeyInGrace { ends_at }),
            (None, Some(ends_at)) => Some(Grace::CheckInOverdue { ends_at }),
            (None, None) => None,
        })
    }
}

/// Parses a record's 16-byte id from its 32 hex digits.
pub fn id_bytes(hex: &str) -> Option<[u8; 16]> {
    licet_verifier::unhex(hex)
}
