//! A root key's endorsement of a signing key (`docs/token-format.md` §13.1).
//!
//! A vendor keeps a root key offline and endorses each signing key with it for a time. An
//! application that pins only the root builds its keyring with [`Keyring::from_root`]
//! from the vendor's `signature.pem`: a signing key counts only through a valid, unexpired
//! endorsement by that root, so the vendor can rotate signing keys without shipping a new
//! root. Tokens are unchanged: they carry only the signing key's kid.

use alloc::string::String;
use alloc::vec::Vec;

use crate::cbor::{Reader, Writer};
use crate::envelope::{self, Algorithm, MAX_TOKEN_BYTES};
use crate::error::Error;
use crate::keyring::{KID_LEN, Keyring, Kid, PublicKey, kid_of_spki};
use crate::signed::{self, KIND_ENDORSEMENT};
use crate::verify::DEFAULT_LEEWAY;

/// The PEM label of an endorsement block in `signature.pem`.
pub const PEM_LABEL: &str = "LICET ENDORSEMENT";

/// Licet-claim keys of an endorsement.
const KEY_SPKI: u64 = 10;
const KEY_KID: u64 = 11;

/// What an endorsement states, read from its signed payload.
#[derive(Debug, Clone)]
pub struct Endorsement {
    /// The endorsed signing key.
    pub key: PublicKey,
    /// The kid of the root key that signed the endorsement.
    pub root_kid: Kid,
    /// When the endorsement was made (`iat`).
    pub issued_at: u64,
    /// Until when the signing key is trusted (`exp`).
    pub expires_at: u64,
}

/// The payload (a CWT claims set) of an endorsement of the key whose SubjectPublicKeyInfo
/// DER is `spki`, for the issuing side to sign with the root key.
///
/// # Errors
/// [`Error::KeyringInvalid`] when `spki` is not a key licet accepts;
/// [`Error::Malformed`] when `expires_at` is not after `issued_at`.
pub fn payload(spki: &[u8], issued_at: u64, expires_at: u64) -> Result<Vec<u8>, Error> {
    let key = PublicKey::from_spki_der(spki)?;
    if expires_at <= issued_at {
        return Err(Error::malformed(
            "an endorsement must end after it is made (exp after iat)",
        ));
    }
    let mut w = Writer::new();
    // Deterministic order (RFC 8949 §4.2.1): exp (4), iat (6), then the licet claim.
    w.map(3).uint(4).uint(expires_at).uint(6).uint(issued_at);
    signed::write_licet_head(&mut w, 4, KIND_ENDORSEMENT);
    w.uint(KEY_SPKI).bytes(spki).uint(KEY_KID).bytes(key.kid());
    Ok(w.into_bytes())
}

/// Reads an endorsement's payload, strictly: the one layout [`payload`] writes.
fn read(payload: &[u8]) -> Result<(PublicKey, u64, u64), Error> {
    let bad = || Error::malformed("not the canonical encoding of an endorsement (§13.1)");
    let mut r = Reader::new(payload);
    if r.map() != Some(3) || r.uint() != Some(4) {
        return Err(bad());
    }
    let expires_at = r.uint().ok_or_else(bad)?;
    if r.uint() != Some(6) {
        return Err(bad());
    }
    let issued_at = r.uint().ok_or_else(bad)?;
    signed::read_licet_head(&mut r, 4, KIND_ENDORSEMENT)?;
    if r.uint() != Some(KEY_SPKI) {
        return Err(bad());
    }
    let spki = r.bytes().ok_or_else(bad)?;
    if r.uint() != Some(KEY_KID) {
        return Err(bad());
    }
    let kid = r.bytes().ok_or_else(bad)?;
    if !r.rest().is_empty() || kid.len() != KID_LEN || expires_at <= issued_at {
        return Err(bad());
    }
    let key = PublicKey::from_spki_der(spki)?;
    if kid != key.kid().as_slice() || kid_of_spki(spki) != *key.kid() {
        return Err(Error::malformed(
            "the endorsement's kid is not its key's (§4: SHA-256 of the SPKI, 8 bytes)",
        ));
    }
    Ok((key, issued_at, expires_at))
}

impl Endorsement {
    /// Verifies an endorsement (its binary form) against the pinned `root` at `now`
    /// (seconds since 1970), with the default leeway.
    ///
    /// # Errors
    /// In this order: [`Error::TooLarge`], [`Error::Malformed`] or
    /// [`Error::AlgUnsupported`] for a damaged envelope; [`Error::EndorsementUntrusted`]
    /// when another key than `root` signed it; [`Error::AlgMismatch`] or
    /// [`Error::SignatureInvalid`] when the root's signature does not verify;
    /// [`Error::UnsupportedVersion`], [`Error::Malformed`] or [`Error::KeyringInvalid`]
    /// for its payload; [`Error::EndorsementExpired`] once `exp` has passed.
    pub fn verify(bytes: &[u8], root: &PublicKey, now: u64) -> Result<Endorsement, Error> {
        let env = envelope::open_capped(bytes, MAX_TOKEN_BYTES)?;
        if env.kid != *root.kid() {
            return Err(Error::EndorsementUntrusted);
        }
        root.verify(env.alg, &env.signed_data, &env.signature)?;
        let (key, issued_at, expires_at) = read(&env.payload)?;
        if now >= expires_at.saturating_add(DEFAULT_LEEWAY) {
            return Err(Error::EndorsementExpired {
                expired_at: expires_at,
                now,
            });
        }
        Ok(Endorsement {
            key,
            root_kid: env.kid,
            issued_at,
            expires_at,
        })
    }

    /// Reads an endorsement without checking its signature or its time: for showing what
    /// a file says (`licet keys endorse`, `licet inspect`), never for trusting a key.
    ///
    /// # Errors
    /// As [`Endorsement::verify`] for what does not concern the root.
    pub fn decode_unverified(bytes: &[u8]) -> Result<(Algorithm, Endorsement), Error> {
        let env = envelope::open_capped(bytes, MAX_TOKEN_BYTES)?;
        let (key, issued_at, expires_at) = read(&env.payload)?;
        Ok((
            env.alg,
            Endorsement {
                key,
                root_kid: env.kid,
                issued_at,
                expires_at,
            },
        ))
    }

    /// The kid the payload names, read without any check: only to say which key a
    /// refused endorsement was for, so that a token naming that key gets the refusal's
    /// code instead of `KEY_UNKNOWN`. The token is refused either way.
    fn named_kid(bytes: &[u8]) -> Option<Kid> {
        let env = envelope::open_capped(bytes, MAX_TOKEN_BYTES).ok()?;
        read(&env.payload).ok().map(|(key, _, _)| *key.kid())
    }
}

/// The binary form of the endorsement in a file's `LICET ENDORSEMENT` PEM block (the first
/// one), size checked before decoding.
///
/// # Errors
/// [`Error::TooLarge`] or [`Error::Malformed`].
pub fn from_pem(text: &str) -> Result<Vec<u8>, Error> {
    signed::from_pem(text, PEM_LABEL, MAX_TOKEN_BYTES)
}

/// The PEM block of an endorsement, for `signature.pem`.
pub fn to_pem(bytes: &[u8]) -> String {
    signed::to_pem(PEM_LABEL, bytes)
}

impl Keyring {
    /// The keyring of an application that pins only the vendor's `root` key: the signing
    /// keys that `signature_pem`'s `LICET ENDORSEMENT` blocks endorse, each only if the
    /// endorsement was signed by `root` and has not expired at `now`. `PUBLIC KEY` blocks
    /// are checked as §4 says but trusted for nothing: only an endorsement makes a key
    /// count. A token signed by a key whose endorsement was refused gets the refusal's
    /// code ([`Error::EndorsementUntrusted`], [`Error::EndorsementExpired`], …) rather than
    /// `KEY_UNKNOWN`.
    ///
    /// # Errors
    /// [`Error::KeyringInvalid`] for a `signature.pem` that §4 refuses, a damaged
    /// endorsement block, or a file with no endorsement at all.
    pub fn from_root(root: &PublicKey, signature_pem: &str, now: u64) -> Result<Keyring, Error> {
        let mut keyring = Keyring::default();
        let mut endorsements = 0usize;
        crate::keyring::read_blocks(signature_pem, |n, label, der| {
            if label != PEM_LABEL {
                // A PUBLIC KEY block: valid, as §4 requires of the file, and not trusted.
                return PublicKey::from_spki_der(&der).map(|_| ());
            }
            endorsements = endorsements.saturating_add(1);
            match Endorsement::verify(&der, root, now) {
                Ok(e) => keyring.add(e.key),
                Err(
                    e @ (Error::EndorsementUntrusted
                    | Error::EndorsementExpired { .. }
                    | Error::SignatureInvalid
                    | Error::AlgMismatch),
                ) => {
                    if let Some(kid) = Endorsement::named_kid(&der) {
                        keyring.refuse(kid, e);
                    }
                    Ok(())
                }
                Err(e) => Err(Error::KeyringInvalid {
                    reason: alloc::format!("block {n}, an endorsement: {e}"),
                }),
            }
        })?;
        if endorsements == 0 {
            return Err(Error::KeyringInvalid {
                reason: String::from(
                    "no LICET ENDORSEMENT block: with a pinned root, give the vendor's signature.pem that holds its endorsements",
                ),
            });
        }
        Ok(keyring)
    }
}
