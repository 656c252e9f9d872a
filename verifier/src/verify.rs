//! Checking a token against what the application expects.

use alloc::string::String;
use alloc::vec::Vec;

use subtle::ConstantTimeEq;

use crate::claims::{Claims, Fingerprint, Kind, KindClaims};
use crate::envelope::{self, Algorithm};
use crate::error::Error;
use crate::keyring::{Keyring, Kid};
use crate::text;

/// Default tolerance for clock differences between the issuer and this machine, in seconds.
pub const DEFAULT_LEEWAY: u64 = 60;

/// What the application expects of a token. `now` is an argument (the verifier never reads
/// a clock unless its `std` feature's [`Expectations::now_from_system_clock`] is used), so
/// that checks are repeatable and work on machines with no clock API.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    /// The kind of token required.
    pub kind: Kind,
    /// The product the application is; the token's `aud` must equal it exactly.
    pub product: &'a str,
    /// For a machine token: this machine's fingerprint hash. Applications should always
    /// set it; without it, a machine token from another machine would pass.
    pub fingerprint: Option<Fingerprint>,
    /// The current time, in seconds since the Unix epoch.
    pub now: u64,
    /// Tolerance for clock differences, in seconds, on `exp`, `nbf` and `iat`.
    pub leeway: u64,
    /// The latest time this application has seen (kept by the caller, for example in its
    /// settings file). A `now` earlier than it, beyond the leeway, means the clock was set
    /// back, and is refused with [`Error::ClockRollback`].
    pub last_seen: Option<u64>,
}

impl<'a> Expectations<'a> {
    /// Expect a token of `kind` for `product`, checked at `now` with the default leeway.
    pub fn new(kind: Kind, product: &'a str, now: u64) -> Self {
        Expectations {
            kind,
            product,
            fingerprint: None,
            now,
            leeway: DEFAULT_LEEWAY,
            last_seen: None,
        }
    }

    /// Requires the machine token to be bound to this fingerprint hash.
    #[must_use]
    pub fn fingerprint(mut self, fingerprint: Fingerprint) -> Self {
        self.fingerprint = Some(fingerprint);
        self
    }

    /// Sets the clock tolerance, in seconds.
    #[must_use]
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Sets the latest time already seen, to detect a clock set back.
    #[must_use]
    pub fn last_seen(mut self, time: u64) -> Self {
        self.last_seen = Some(time);
        self
    }
}

/// A token whose signature and claims passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The algorithm it was signed with.
    pub alg: Algorithm,
    /// The id of the key that signed it.
    pub kid: Kid,
    /// Its claims.
    pub claims: Claims,
}

/// A token decoded without any check of its signature or times: for display only, never
/// for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    /// The algorithm the header names.
    pub alg: Algorithm,
    /// The key id the header names.
    pub kid: Kid,
    /// The claims, as the token states them.
    pub claims: Claims,
    /// The binary token.
    pub bytes: Vec<u8>,
}

impl Keyring {
    /// Verifies a token in its text form (`LIC-…`) or file form (`-----BEGIN LICET …`).
    ///
    /// # Errors
    /// The first check that fails, as an [`Error`] with a stable code.
    pub fn verify(&self, token: &str, expect: &Expectations<'_>) -> Result<Verified, Error> {
        let (announced, bytes) = text::decode(token)?;
        let verified = self.authenticate(&bytes)?;
        // §9 check 10, before kind, product and times: a prefix or armor naming another
        // kind than the signed one is a damaged or doctored token, whatever the caller
        // expected, and must not be reported as if the token were merely of the wrong kind.
        if announced != verified.claims.kind() {
            return Err(Error::malformed(
                "the text prefix names another kind than the signed claims",
            ));
        }
        check_claims(&verified.claims, expect)?;
        Ok(verified)
    }

    /// Verifies a binary token (the tagged COSE_Sign1 bytes).
    ///
    /// The order of the checks is part of the format (`docs/token-format.md`, "Verifying"):
    /// size, structure, key, algorithm, signature, claims, kind, product, times, fingerprint.
    /// Nothing in the payload is interpreted before the signature has been checked.
    ///
    /// # Errors
    /// The first check that fails, as an [`Error`] with a stable code.
    pub fn verify_bytes(&self, bytes: &[u8], expect: &Expectations<'_>) -> Result<Verified, Error> {
        let verified = self.authenticate(bytes)?;
        check_claims(&verified.claims, expect)?;
        Ok(verified)
    }

    /// §9 checks 1 and 3 to 9: the envelope, the key, the signature, the version and the
    /// claims, with nothing compared yet with what the caller expects.
    fn authenticate(&self, bytes: &[u8]) -> Result<Verified, Error> {
        let env = envelope::open(bytes)?;
        let key = self.key_for(&env.kid)?;
        key.verify(env.alg, &env.signed_data, &env.signature)?;
        let claims = Claims::from_payload(&env.payload)?;
        Ok(Verified {
            alg: env.alg,
            kid: env.kid,
            claims,
        })
    }
}

fn check_claims(claims: &Claims, expect: &Expectations<'_>) -> Result<(), Error> {
    if claims.kind() != expect.kind {
        return Err(Error::WrongKind {
            expected: expect.kind,
            found: claims.kind(),
        });
    }
    if claims.product != expect.product {
        return Err(Error::WrongProduct {
            expected: String::from(expect.product),
            found: claims.product.clone(),
        });
    }
    let now = expect.now;
    let late_now = now.saturating_add(expect.leeway);
    if let Some(seen) = expect.last_seen
        && late_now < seen
    {
        return Err(Error::ClockRollback { now, seen });
    }
    // A token cannot have been issued after the present: if it seems so, this clock is
    // behind the issuer's by more than the leeway, most likely set back to stretch a term.
    if late_now < claims.issued_at {
        return Err(Error::ClockRollback {
            now,
            seen: claims.issued_at,
        });
    }
    if let Some(nbf) = claims.not_before
        && late_now < nbf
    {
        return Err(Error::NotYetValid {
            valid_from: nbf,
            now,
        });
    }
    if let Some(exp) = claims.expires_at {
        // RFC 8392 §3.1.4: the token must not be accepted on or after `exp`.
        if now >= exp.saturating_add(expect.leeway) {
            return Err(Error::Expired {
                expired_at: exp,
                now,
            });
        }
    }
    if let (Some(want), KindClaims::Machine { fingerprint, .. }) =
        (&expect.fingerprint, &claims.kind)
        && !bool::from(want.ct_eq(fingerprint))
    {
        return Err(Error::FingerprintMismatch);
    }
    Ok(())
}

/// Decodes a token's text or file form without checking its signature, times or anything
/// else: for showing what a token says (`licet inspect`), never for deciding to run.
///
/// # Errors
/// [`Error::TooLarge`], [`Error::Malformed`], [`Error::AlgUnsupported`] or
/// [`Error::UnsupportedVersion`] when it cannot be read at all.
pub fn decode_unverified(token: &str) -> Result<Unverified, Error> {
    let (announced, bytes) = text::decode(token)?;
    let env = envelope::open(&bytes)?;
    let claims = Claims::from_payload(&env.payload)?;
    if announced != claims.kind() {
        return Err(Error::malformed(
            "the text prefix names another kind than the claims",
        ));
    }
    Ok(Unverified {
        alg: env.alg,
        kid: env.kid,
        claims,
        bytes,
    })
}
