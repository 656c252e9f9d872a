//! The one error type of the verifier, with the stable codes the server, the CLI and the
//! docs share.

use alloc::string::String;
use core::fmt;

use crate::claims::Kind;

/// Why a token, or a keyring, was refused.
///
/// Every variant has a stable [`Error::code`] string. Messages say what is wrong and what
/// to do; a signature failure says only that it failed, so that an attacker learns nothing
/// from the message that the code does not already say.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The bytes are not a well-formed licet token (bad text form, bad CBOR, a field of the
    /// wrong type, a non-canonical encoding, trailing bytes, an unknown field, ...).
    Malformed {
        /// What exactly is wrong, for logs and support.
        reason: &'static str,
    },
    /// The input is larger than any token this version issues; it was not decoded.
    TooLarge {
        /// Length of the input, in bytes.
        len: usize,
        /// The largest length accepted for that form.
        max: usize,
    },
    /// The token was made for a newer format version than this verifier understands.
    UnsupportedVersion {
        /// The version the token declares.
        version: u64,
    },
    /// The token was signed by a key that is not in the keyring.
    KeyUnknown,
    /// The token asks for an algorithm this format does not allow.
    AlgUnsupported,
    /// The token's algorithm does not match the type of the key that its `kid` names
    /// (for example an RSA key asked to check an EdDSA token).
    AlgMismatch,
    /// The signature does not verify.
    SignatureInvalid,
    /// The token's expiry has passed.
    Expired {
        /// `exp`, in seconds since the Unix epoch.
        expired_at: u64,
        /// The time the check was made at.
        now: u64,
    },
    /// The token is not valid yet (`nbf` is in the future).
    NotYetValid {
        /// `nbf`, in seconds since the Unix epoch.
        valid_from: u64,
        /// The time the check was made at.
        now: u64,
    },
    /// The clock is behind a time already seen (the caller's last-seen time, or the
    /// token's own issue time): it was most likely set back.
    ClockRollback {
        /// The time the check was made at.
        now: u64,
        /// The later time already seen.
        seen: u64,
    },
    /// The token is of another kind than the one asked for.
    WrongKind {
        /// The kind the caller asked for.
        expected: Kind,
        /// The kind the token is.
        found: Kind,
    },
    /// The token is for another product.
    WrongProduct {
        /// The product the caller asked for.
        expected: String,
        /// The product the token names.
        found: String,
    },
    /// The machine token is bound to another machine's fingerprint.
    FingerprintMismatch,
    /// The public key text (`signature.pem`) could not be used.
    KeyringInvalid {
        /// What exactly is wrong.
        reason: String,
    },
    /// A signing key's endorsement was not made by the pinned root key (another vendor's
    /// root, or a forged endorsement): the key is not trusted.
    EndorsementUntrusted,
    /// A signing key's endorsement by the pinned root has expired: the key is no longer
    /// trusted until the vendor publishes a new endorsement.
    EndorsementExpired {
        /// The endorsement's `exp`, in seconds since the Unix epoch.
        expired_at: u64,
        /// The time the check was made at.
        now: u64,
    },
    /// A revocation list was signed by a key the keyring does not hold: another vendor's
    /// list, or one made by someone else.
    RevocationsUntrusted,
    /// A revocation list is older (a lower sequence number) than one this application has
    /// already seen: someone is replaying an old list to undo a revocation.
    RevocationsStale {
        /// The list's sequence number.
        sequence: u64,
        /// The highest sequence number already seen.
        seen: u64,
    },
    /// The license (or, for a machine token, the activation) is on the vendor's
    /// revocation list.
    Revoked {
        /// Whether the machine activation, rather than the whole license, was revoked.
        machine: bool,
    },
    /// A token file could not be read (only with the `std` feature).
    Io {
        /// The file and the operating system's message.
        reason: String,
    },
}

impl Error {
    /// The stable, machine-readable code of this error. These strings never change meaning;
    /// the server's JSON errors and the CLI's output use the same ones.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Malformed { .. } => "TOKEN_MALFORMED",
            Error::TooLarge { .. } => "TOKEN_TOO_LARGE",
            Error::UnsupportedVersion { .. } => "TOKEN_UNSUPPORTED_VERSION",
            Error::KeyUnknown => "KEY_UNKNOWN",
            Error::AlgUnsupported => "ALG_UNSUPPORTED",
            Error::AlgMismatch => "ALG_MISMATCH",
            Error::SignatureInvalid => "SIGNATURE_INVALID",
            Error::Expired { .. } => "TOKEN_EXPIRED",
            Error::NotYetValid { .. } => "TOKEN_NOT_YET_VALID",
            Error::ClockRollback { .. } => "CLOCK_ROLLBACK",
            Error::WrongKind { .. } => "WRONG_KIND",
            Error::WrongProduct { .. } => "WRONG_PRODUCT",
            Error::FingerprintMismatch => "FINGERPRINT_MISMATCH",
            Error::KeyringInvalid { .. } => "KEYRING_INVALID",
            Error::EndorsementUntrusted => "ENDORSEMENT_UNTRUSTED",
            Error::EndorsementExpired { .. } => "ENDORSEMENT_EXPIRED",
            Error::RevocationsUntrusted => "REVOCATIONS_UNTRUSTED",
            Error::RevocationsStale { .. } => "REVOCATIONS_STALE",
            Error::Revoked { machine: false } => "LICENSE_REVOKED",
            Error::Revoked { machine: true } => "MACHINE_REVOKED",
            Error::Io { .. } => "IO_ERROR",
        }
    }

    pub(crate) const fn malformed(reason: &'static str) -> Self {
        Error::Malformed { reason }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed { reason } => write!(
                f,
                "not a valid licet token: {reason}; copy the whole token again, exactly as issued"
            ),
            Error::TooLarge { len, max } => write!(
                f,
                "input of {len} bytes is larger than any licet token ({max} at most); check that the right file was given"
            ),
            Error::UnsupportedVersion { version } => write!(
                f,
                "token format version {version} is newer than this verifier understands (version {}); update the application",
                crate::claims::FORMAT_VERSION
            ),
            Error::KeyUnknown => f.write_str(
                "token was signed by a key that is not in signature.pem; use the vendor's current signature.pem",
            ),
            Error::AlgUnsupported => f.write_str(
                "token uses a signature algorithm licet does not accept (only EdDSA and PS256)",
            ),
            Error::AlgMismatch => f.write_str(
                "token's algorithm does not match the type of the key it names; the token was not made by licet",
            ),
            Error::SignatureInvalid => f.write_str("signature is invalid"),
            Error::Expired { expired_at, now } => write!(
                f,
                "token expired at {expired_at} (it is now {now}, seconds since 1970); renew the license or check in again"
            ),
            Error::NotYetValid { valid_from, now } => write!(
                f,
                "token is valid only from {valid_from} (it is now {now}, seconds since 1970); check the system clock"
            ),
            Error::ClockRollback { now, seen } => write!(
                f,
                "system clock reads {now}, earlier than {seen} already seen; set the clock to the correct time"
            ),
            Error::WrongKind { expected, found } => write!(
                f,
                "expected a {} token but this is a {} token; use the right token",
                expected.name(),
                found.name()
            ),
            Error::WrongProduct { expected, found } => write!(
                f,
                "token is for product '{found}', not '{expected}'; use a token issued for this product"
            ),
            Error::FingerprintMismatch => f.write_str(
                "machine token is bound to another machine; activate this machine to get its own token",
            ),
            Error::KeyringInvalid { reason } => write!(f, "signature.pem cannot be used: {reason}"),
            Error::EndorsementUntrusted => f.write_str(
                "the signing key's endorsement was not made by the pinned root key; use the vendor's own signature.pem",
            ),
            Error::EndorsementExpired { expired_at, now } => write!(
                f,
                "the signing key's endorsement expired at {expired_at} (it is now {now}, seconds since 1970); get the vendor's current signature.pem"
            ),
            Error::RevocationsUntrusted => f.write_str(
                "the revocation list was signed by a key not in signature.pem; use the list from this vendor's server",
            ),
            Error::RevocationsStale { sequence, seen } => write!(
                f,
                "the revocation list has sequence {sequence}, older than {seen} already seen; fetch the current list"
            ),
            Error::Revoked { machine: false } => f.write_str(
                "this license was revoked by the vendor; contact the vendor",
            ),
            Error::Revoked { machine: true } => f.write_str(
                "this machine's activation was revoked by the vendor; activate again or contact the vendor",
            ),
            Error::Io { reason } => write!(
                f,
                "cannot read {reason}; check the path and that this user may read it"
            ),
        }
    }
}

impl core::error::Error for Error {}
