//! The server's signed receipt of an offline deactivation (`docs/token-format.md` §13.3):
//! which activation of which license was freed, when, and for which request.
//!
//! A customer who retires an air-gapped machine sends its deactivation request
//! (`licet offline deactivate`) to the vendor's server, which frees the activation and
//! answers with a receipt the customer keeps as proof. The receipt names the request by
//! its digest, so it proves that this request was presented and the activation freed; it
//! cannot prove that no copy of the machine token was kept (`docs/offline-activation.md`).

use alloc::string::String;
use alloc::vec::Vec;

use crate::cbor::Reader;
use crate::claims::{FINGERPRINT_LEN, Fingerprint, ID_LEN, Id};
use crate::envelope::{self, MAX_TOKEN_BYTES};
use crate::error::Error;
use crate::keyring::{Keyring, Kid};
use crate::signed::{self, KIND_RECEIPT};

/// The PEM label of a receipt file.
pub const PEM_LABEL: &str = "LICET RECEIPT";

/// Licet-claim keys of a receipt (20 on: the numbers below 20 are other documents' or
/// kept for token claims).
const KEY_LICENSE: u64 = 20;
const KEY_MACHINE: u64 = 21;
const KEY_FINGERPRINT: u64 = 22;
const KEY_REQUEST: u64 = 23;

/// What a receipt states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The kid of the key that signed it.
    pub kid: Kid,
    /// `iss`: the server that freed the activation.
    pub issuer: String,
    /// `iat`: when the activation was freed.
    pub issued_at: u64,
    /// The license whose activation was freed.
    pub license_id: Id,
    /// The freed activation: the machine token's `cti`.
    pub machine_id: Id,
    /// The machine's fingerprint hash for the product.
    pub fingerprint: Fingerprint,
    /// SHA-256 of the deactivation request (its digest field, as bytes).
    pub request_digest: [u8; 32],
}

fn fixed<const N: usize>(r: &mut Reader<'_>) -> Option<[u8; N]> {
    r.bytes().and_then(|b| <[u8; N]>::try_from(b).ok())
}

impl Receipt {
    /// The payload (a CWT claims set), for the issuing side to sign (`kid` is the
    /// envelope's, not the payload's).
    ///
    /// # Errors
    /// [`Error::Malformed`] for an issuer empty or over 128 bytes.
    pub fn to_payload(&self) -> Result<Vec<u8>, Error> {
        let mut w = signed::write_issued_head(&self.issuer, self.issued_at, 6, KIND_RECEIPT)?;
        w.uint(KEY_LICENSE)
            .bytes(&self.license_id)
            .uint(KEY_MACHINE)
            .bytes(&self.machine_id)
            .uint(KEY_FINGERPRINT)
            .bytes(&self.fingerprint)
            .uint(KEY_REQUEST)
            .bytes(&self.request_digest);
        Ok(w.into_bytes())
    }

    fn read(kid: Kid, payload: &[u8]) -> Result<Receipt, Error> {
        let bad = || Error::malformed("not the canonical encoding of a receipt (§13.3)");
        let mut r = Reader::new(payload);
        let (issuer, issued_at) =
            signed::read_issued_head(&mut r, 6, KIND_RECEIPT)?.ok_or_else(bad)?;
        if r.uint() != Some(KEY_LICENSE) {
            return Err(bad());
        }
        let license_id = fixed::<ID_LEN>(&mut r).ok_or_else(bad)?;
        if r.uint() != Some(KEY_MACHINE) {
            return Err(bad());
        }
        let machine_id = fixed::<ID_LEN>(&mut r).ok_or_else(bad)?;
        if r.uint() != Some(KEY_FINGERPRINT) {
            return Err(bad());
        }
        let fingerprint = fixed::<FINGERPRINT_LEN>(&mut r).ok_or_else(bad)?;
        if r.uint() != Some(KEY_REQUEST) {
            return Err(bad());
        }
        let request_digest = fixed::<32>(&mut r).ok_or_else(bad)?;
        if !r.rest().is_empty() {
            return Err(bad());
        }
        Ok(Receipt {
            kid,
            issuer: String::from(issuer),
            issued_at,
            license_id,
            machine_id,
            fingerprint,
            request_digest,
        })
    }

    /// Verifies a receipt's binary form with the vendor's keyring (the one tokens are
    /// verified with). A receipt does not expire: it records a past event.
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::Malformed`] or [`Error::AlgUnsupported`] for a damaged
    /// envelope; [`Error::KeyUnknown`] when a key the keyring does not hold signed it;
    /// [`Error::AlgMismatch`] or [`Error::SignatureInvalid`]; [`Error::UnsupportedVersion`]
    /// or [`Error::Malformed`] for its payload.
    pub fn verify(keyring: &Keyring, bytes: &[u8]) -> Result<Receipt, Error> {
        let env = envelope::open_capped(bytes, MAX_TOKEN_BYTES)?;
        let key = keyring.get(&env.kid).ok_or(Error::KeyUnknown)?;
        key.verify(env.alg, &env.signed_data, &env.signature)?;
        Receipt::read(env.kid, &env.payload)
    }

    /// As [`Receipt::verify`], from the PEM file form (`-----BEGIN LICET RECEIPT-----`).
    ///
    /// # Errors
    /// As [`Receipt::verify`]; [`Error::Malformed`] when the text holds no such block.
    pub fn verify_pem(keyring: &Keyring, text: &str) -> Result<Receipt, Error> {
        Receipt::verify(
            keyring,
            &signed::from_pem(text, PEM_LABEL, MAX_TOKEN_BYTES)?,
        )
    }
}

/// The PEM file form of a signed receipt.
pub fn to_pem(bytes: &[u8]) -> String {
    signed::to_pem(PEM_LABEL, bytes)
}
