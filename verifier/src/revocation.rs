//! The vendor's signed revocation list (`docs/token-format.md` §13.2): the license ids and
//! machine activation ids it has revoked, with a sequence number that only grows.
//!
//! An application checks a verified token against a verified list with
//! [`RevocationList::check`], and keeps the highest sequence it has seen so that an older
//! list, replayed to undo a revocation, is refused ([`Error::RevocationsStale`]).

use alloc::string::String;
use alloc::vec::Vec;

use crate::cbor::Reader;
use crate::claims::{Claims, ID_LEN, Id, KindClaims};
use crate::envelope;
use crate::error::Error;
use crate::keyring::{Keyring, Kid};
use crate::signed::{self, KIND_REVOCATIONS};

/// The PEM label of a revocation list file.
pub const PEM_LABEL: &str = "LICET REVOCATIONS";

/// The largest revocation list accepted, in bytes of its binary form, checked before any
/// decoding: room for 65,000 revoked ids (16 bytes each), far more than a vendor revokes.
pub const MAX_REVOCATION_BYTES: usize = 1 << 20;

/// Licet-claim keys of a revocation list.
const KEY_SEQUENCE: u64 = 12;
const KEY_NEXT_UPDATE: u64 = 13;
const KEY_LICENSES: u64 = 14;
const KEY_MACHINES: u64 = 15;

/// A revocation list whose signature and form were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationList {
    /// The kid of the key that signed it.
    pub kid: Kid,
    /// `iss`: the vendor.
    pub issuer: String,
    /// `iat`: when the list was signed.
    pub issued_at: u64,
    /// The list's sequence number: every new list has a higher one.
    pub sequence: u64,
    /// When the vendor will publish the next list at the latest.
    pub next_update: u64,
    /// Revoked license ids, sorted, unique.
    pub licenses: Vec<Id>,
    /// Revoked machine activation ids (machine tokens' `cti`), sorted, unique.
    pub machines: Vec<Id>,
}

/// Ids as the list carries them: one byte string of 16-byte ids, sorted ascending and
/// unique, so that one set of ids has one encoding and a lookup is a binary search.
fn ids_bytes(ids: &[Id]) -> Result<Vec<u8>, Error> {
    if !ids.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
        return Err(Error::malformed("revoked ids must be sorted and unique"));
    }
    Ok(ids.concat())
}

fn read_ids(bytes: &[u8]) -> Option<Vec<Id>> {
    if !bytes.len().is_multiple_of(ID_LEN) {
        return None;
    }
    let ids: Vec<Id> = bytes
        .chunks_exact(ID_LEN)
        .map(|c| Id::try_from(c).ok())
        .collect::<Option<_>>()?;
    ids.windows(2)
        .all(|w| matches!(w, [a, b] if a < b))
        .then_some(ids)
}

impl RevocationList {
    /// The payload (a CWT claims set) of this list, for the issuing side to sign. `kid`
    /// is not part of it (the envelope carries the signer's kid).
    ///
    /// # Errors
    /// [`Error::Malformed`] for an issuer empty or over 128 bytes, or ids not sorted and
    /// unique.
    pub fn to_payload(&self) -> Result<Vec<u8>, Error> {
        let mut w = signed::write_issued_head(&self.issuer, self.issued_at, 6, KIND_REVOCATIONS)?;
        w.uint(KEY_SEQUENCE)
            .uint(self.sequence)
            .uint(KEY_NEXT_UPDATE)
            .uint(self.next_update)
            .uint(KEY_LICENSES)
            .bytes(&ids_bytes(&self.licenses)?)
            .uint(KEY_MACHINES)
            .bytes(&ids_bytes(&self.machines)?);
        Ok(w.into_bytes())
    }

    fn read(kid: Kid, payload: &[u8]) -> Result<RevocationList, Error> {
        let bad = || Error::malformed("not the canonical encoding of a revocation list (§13.2)");
        let mut r = Reader::new(payload);
        let (issuer, issued_at) =
            signed::read_issued_head(&mut r, 6, KIND_REVOCATIONS)?.ok_or_else(bad)?;
        if r.uint() != Some(KEY_SEQUENCE) {
            return Err(bad());
        }
        let sequence = r.uint().ok_or_else(bad)?;
        if r.uint() != Some(KEY_NEXT_UPDATE) {
            return Err(bad());
        }
        let next_update = r.uint().ok_or_else(bad)?;
        if r.uint() != Some(KEY_LICENSES) {
            return Err(bad());
        }
        let licenses = r.bytes().and_then(read_ids).ok_or_else(bad)?;
        if r.uint() != Some(KEY_MACHINES) {
            return Err(bad());
        }
        let machines = r.bytes().and_then(read_ids).ok_or_else(bad)?;
        if !r.rest().is_empty() {
            return Err(bad());
        }
        Ok(RevocationList {
            kid,
            issuer: String::from(issuer),
            issued_at,
            sequence,
            next_update,
            licenses,
            machines,
        })
    }

    /// Verifies a revocation list's binary form with the vendor's keyring. `last_sequence`
    /// is the highest sequence this application has already accepted (keep it with the
    /// list); a list below it is refused, one equal to it is the same list read again.
    ///
    /// # Errors
    /// [`Error::TooLarge`] over [`MAX_REVOCATION_BYTES`]; [`Error::Malformed`] or
    /// [`Error::AlgUnsupported`] for a damaged envelope; [`Error::RevocationsUntrusted`]
    /// when a key the keyring does not hold signed it (another vendor's list);
    /// [`Error::AlgMismatch`] or [`Error::SignatureInvalid`]; [`Error::UnsupportedVersion`]
    /// or [`Error::Malformed`] for its payload; [`Error::RevocationsStale`] for a sequence
    /// below `last_sequence`.
    pub fn verify(
        keyring: &Keyring,
        bytes: &[u8],
        last_sequence: Option<u64>,
    ) -> Result<RevocationList, Error> {
        let env = envelope::open_capped(bytes, MAX_REVOCATION_BYTES)?;
        let key = keyring.get(&env.kid).ok_or(Error::RevocationsUntrusted)?;
        key.verify(env.alg, &env.signed_data, &env.signature)?;
        let list = RevocationList::read(env.kid, &env.payload)?;
        if let Some(seen) = last_sequence
            && list.sequence < seen
        {
            return Err(Error::RevocationsStale {
                sequence: list.sequence,
                seen,
            });
        }
        Ok(list)
    }

    /// As [`RevocationList::verify`], from the PEM file form (`-----BEGIN LICET
    /// REVOCATIONS-----`).
    ///
    /// # Errors
    /// As [`RevocationList::verify`]; [`Error::Malformed`] when the text holds no such block.
    pub fn verify_pem(
        keyring: &Keyring,
        text: &str,
        last_sequence: Option<u64>,
    ) -> Result<RevocationList, Error> {
        let bytes = signed::from_pem(text, PEM_LABEL, MAX_REVOCATION_BYTES)?;
        RevocationList::verify(keyring, &bytes, last_sequence)
    }

    /// Reads a list without checking its signature: for showing what a file says
    /// (`licet revocations inspect`), never for a decision.
    ///
    /// # Errors
    /// As [`RevocationList::verify_pem`] for what does not concern the keyring.
    pub fn decode_unverified_pem(text: &str) -> Result<RevocationList, Error> {
        let bytes = signed::from_pem(text, PEM_LABEL, MAX_REVOCATION_BYTES)?;
        RevocationList::decode_unverified(&bytes)
    }

    /// As [`RevocationList::decode_unverified_pem`], from the binary form.
    ///
    /// # Errors
    /// As [`RevocationList::verify`] for what does not concern the keyring.
    pub fn decode_unverified(bytes: &[u8]) -> Result<RevocationList, Error> {
        let env = envelope::open_capped(bytes, MAX_REVOCATION_BYTES)?;
        RevocationList::read(env.kid, &env.payload)
    }

    /// Whether the license `id` is revoked.
    pub fn license_revoked(&self, id: &Id) -> bool {
        self.licenses.binary_search(id).is_ok()
    }

    /// Whether the machine activation `id` (a machine token's `cti`) is revoked.
    pub fn machine_revoked(&self, id: &Id) -> bool {
        self.machines.binary_search(id).is_ok()
    }

    /// Checks a verified token's claims against the list: its license (for any kind) and,
    /// for a machine token, its activation.
    ///
    /// # Errors
    /// [`Error::Revoked`] (`LICENSE_REVOKED` or `MACHINE_REVOKED`).
    pub fn check(&self, claims: &Claims) -> Result<(), Error> {
        if self.license_revoked(claims.license_id()) {
            return Err(Error::Revoked { machine: false });
        }
        if matches!(claims.kind, KindClaims::Machine { .. }) && self.machine_revoked(&claims.id) {
            return Err(Error::Revoked { machine: true });
        }
        Ok(())
    }
}

/// The PEM file form of a signed revocation list.
pub fn to_pem(bytes: &[u8]) -> String {
    signed::to_pem(PEM_LABEL, bytes)
}
