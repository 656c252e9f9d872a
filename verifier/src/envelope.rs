//! The COSE_Sign1 envelope (RFC 9052 §4.2): parsed strictly with `coset`, built in the one
//! canonical form the format allows.

use alloc::vec::Vec;

use coset::{
    CborSerializable, CoseSign1, Header, HeaderBuilder, ProtectedHeader, TaggedCborSerializable,
    iana,
};

use crate::cbor;
use crate::error::Error;
use crate::keyring::Kid;

/// The largest binary token accepted, in bytes, checked before any decoding. The claim
/// limits alone would allow about 9.9 KB (every field at its limit, RSA-4096), so the
/// issuing side refuses to sign a token over it (`docs/token-format.md` §6.4).
pub const MAX_TOKEN_BYTES: usize = 8192;

/// A signature algorithm licet accepts. Nothing else is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Ed25519 (COSE `EdDSA`, -8): the default.
    EdDsa,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (COSE `PS256`, -37).
    Ps256,
}

impl Algorithm {
    /// The COSE algorithm name (`EdDSA`, `PS256`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Ps256 => "PS256",
        }
    }

    fn iana(self) -> iana::Algorithm {
        match self {
            Algorithm::EdDsa => iana::Algorithm::EdDSA,
            Algorithm::Ps256 => iana::Algorithm::PS256,
        }
    }
}

/// A token taken apart, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The algorithm from the protected header.
    pub alg: Algorithm,
    /// The key id from the protected header.
    pub kid: Kid,
    /// The Sig_structure the signature covers (RFC 9052 §4.4), over the protected header
    /// bytes exactly as received and an empty external AAD.
    pub signed_data: Vec<u8>,
    /// The payload (the CWT claims set, still encoded).
    pub payload: Vec<u8>,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

/// The protected header of a token: `{1: alg, 4: kid}` and nothing else.
fn header(alg: Algorithm, kid: &Kid) -> Header {
    HeaderBuilder::new()
        .algorithm(alg.iana())
        .key_id(kid.to_vec())
        .build()
}

/// The Sig_structure to sign for a token with this algorithm, key and payload. The issuing
/// side signs exactly these bytes and hands the signature to [`assemble`].
pub fn signing_input(alg: Algorithm, kid: &Kid, payload: &[u8]) -> Vec<u8> {
    unsigned(alg, kid, payload).tbs_data(b"")
}

fn unsigned(alg: Algorithm, kid: &Kid, payload: &[u8]) -> CoseSign1 {
    CoseSign1 {
        protected: ProtectedHeader {
            original_data: None,
            header: header(alg, kid),
        },
        unprotected: Header::default(),
        payload: Some(payload.to_vec()),
        signature: Vec::new(),
    }
}

/// Puts a token together from its parts: a tagged COSE_Sign1.
///
/// # Errors
/// [`Error::Malformed`] only if the CBOR encoder fails, which it does not for these inputs.
pub fn assemble(
    alg: Algorithm,
    kid: &Kid,
    payload: &[u8],
    signature: Vec<u8>,
) -> Result<Vec<u8>, Error> {
    let mut sign1 = unsigned(alg, kid, payload);
    sign1.signature = signature;
    sign1
        .to_tagged_vec()
        .map_err(|_| Error::malformed("token cannot be encoded"))
}

/// Takes a binary token apart, refusing anything but the one canonical form.
///
/// # Errors
/// [`Error::TooLarge`] over [`MAX_TOKEN_BYTES`], [`Error::AlgUnsupported`] for any algorithm
/// but EdDSA and PS256, [`Error::Malformed`] for everything else.
pub fn open(bytes: &[u8]) -> Result<Envelope, Error> {
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(Error::TooLarge {
            len: bytes.len(),
            max: MAX_TOKEN_BYTES,
        });
    }
    match open_canonical(bytes) {
        Some(envelope) => Ok(envelope),
        None => Err(diagnose(bytes)),
    }
}

/// The tag, the array head and the protected header of a token, up to its key id: the one
/// canonical encoding of `d2 84 bstr({1: alg, 4: h'…8 bytes…'}) …` for each algorithm.
const EDDSA_HEAD: [u8; 8] = [0xd2, 0x84, 0x4d, 0xa2, 0x01, 0x27, 0x04, 0x48];
const PS256_HEAD: [u8; 9] = [0xd2, 0x84, 0x4e, 0xa2, 0x01, 0x38, 0x24, 0x04, 0x48];

/// Matches `bytes` against the one canonical layout of a token, byte for byte: tag 18, a
/// 4-array, one of the two protected headers above with an 8-byte kid, an empty
/// unprotected map, the payload and the signature as byte strings with shortest-form
/// lengths (RFC 8949 §4.2.1), and nothing after. Whatever it accepts is exactly
/// `assemble(alg, kid, payload, signature)`, so it accepts nothing the full parse in
/// [`diagnose`] would refuse; it only skips building and re-encoding a CBOR tree (measured
/// in `docs/benchmarks.md`).
fn open_canonical(bytes: &[u8]) -> Option<Envelope> {
    let (alg, rest) = if let Some(rest) = bytes.strip_prefix(EDDSA_HEAD.as_slice()) {
        (Algorithm::EdDsa, rest)
    } else {
        (Algorithm::Ps256, bytes.strip_prefix(PS256_HEAD.as_slice())?)
    };
    let (kid, rest) = rest.split_first_chunk::<8>()?;
    // The protected header as a byte string, exactly as received, for the Sig_structure.
    let protected_len = bytes.len().checked_sub(rest.len())?;
    let protected = bytes.get(2..protected_len)?;
    let rest = rest.strip_prefix(&[0xa0])?;
    let mut reader = cbor::Reader::new(rest);
    let payload = reader.bytes()?;
    // The payload as a byte string, head included, for the Sig_structure.
    let payload_item = rest.get(..rest.len().checked_sub(reader.rest().len())?)?;
    let signature = reader.bytes()?;
    if !reader.rest().is_empty() {
        return None;
    }
    // Sig_structure (RFC 9052 §4.4): ["Signature1", protected, external_aad = h'', payload],
    // the same bytes `CoseSign1::tbs_data` makes, taken from the token instead of re-encoded.
    let mut signed_data = Vec::with_capacity(
        SIG_STRUCTURE_HEAD
            .len()
            .saturating_add(protected.len())
            .saturating_add(payload_item.len())
            .saturating_add(1),
    );
    signed_data.extend_from_slice(&SIG_STRUCTURE_HEAD);
    signed_data.extend_from_slice(protected);
    signed_data.push(0x40);
    signed_data.extend_from_slice(payload_item);
    Some(Envelope {
        alg,
        kid: *kid,
        signed_data,
        payload: payload.to_vec(),
        signature: signature.to_vec(),
    })
}

/// `84 6a "Signature1"`: a 4-array and its first element, the context string.
const SIG_STRUCTURE_HEAD: [u8; 12] = [
    0x84, 0x6a, b'S', b'i', b'g', b'n', b'a', b't', b'u', b'r', b'e', b'1',
];

/// The full parse with `coset`, run only on a token that is not in the canonical layout, to
/// say what is wrong with it.
fn diagnose(bytes: &[u8]) -> Error {
    match open_with_coset(bytes) {
        Err(e) => e,
        // Every check passed yet the layout did not match: refuse rather than guess.
        Ok(()) => Error::malformed("token is not in canonical CBOR form"),
    }
}

fn open_with_coset(bytes: &[u8]) -> Result<(), Error> {
    if bytes.first() != Some(&0xd2) {
        return Err(Error::malformed("not a tagged COSE_Sign1 (tag 18)"));
    }
    let sign1 = CoseSign1::from_tagged_slice(bytes).map_err(|e| match e {
        coset::CoseError::ExtraneousData => Error::malformed("trailing bytes after the token"),
        coset::CoseError::DuplicateMapKey => Error::malformed("a header parameter appears twice"),
        _ => Error::malformed("not a valid COSE_Sign1 structure"),
    })?;
    let h = &sign1.protected.header;
    let alg = match &h.alg {
        Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::EdDSA)) => {
            Algorithm::EdDsa
        }
        Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::PS256)) => {
            Algorithm::Ps256
        }
        Some(_) => return Err(Error::AlgUnsupported),
        None => return Err(Error::malformed("protected header has no algorithm")),
    };
    let kid: Kid = h
        .key_id
        .as_slice()
        .try_into()
        .map_err(|_| Error::malformed("protected header has no 8-byte key id"))?;
    // Anything else in a header (crit, content type, IV, counter signatures, private
    // parameters) is refused: this version defines none of them, and a verifier that
    // ignored a critical one would misread the token.
    if *h != header(alg, &kid) {
        return Err(Error::malformed(
            "protected header carries parameters other than alg and kid",
        ));
    }
    if !sign1.unprotected.is_empty() {
        return Err(Error::malformed("unprotected header is not empty"));
    }
    let payload = sign1
        .payload
        .ok_or(Error::malformed("payload is detached"))?;
    // The protected header and the whole message must be byte for byte the canonical
    // encoding of what they hold; this refuses long-form lengths, indefinite lengths and a
    // reordered header, which `coset` would otherwise accept.
    let canonical_protected = header(alg, &kid)
        .to_vec()
        .map_err(|_| Error::malformed("header cannot be encoded"))?;
    if sign1.protected.original_data.as_deref() != Some(canonical_protected.as_slice()) {
        return Err(Error::malformed(
            "protected header is not in canonical CBOR form",
        ));
    }
    if assemble(alg, &kid, &payload, sign1.signature)? != bytes {
        return Err(Error::malformed("token is not in canonical CBOR form"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    const KID: Kid = [1, 2, 3, 4, 5, 6, 7, 8];

    /// The hand-matched layout in `open_canonical` is exactly what `assemble` (coset) writes
    /// and what `signing_input` signs, at every length boundary of a CBOR byte string.
    #[test]
    fn canonical_layout_is_what_coset_writes() {
        for alg in [Algorithm::EdDsa, Algorithm::Ps256] {
            for len in [0usize, 1, 23, 24, 255, 256, 4000] {
                let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let signature = alloc::vec![0x5a; if alg == Algorithm::EdDsa { 64 } else { 256 }];
                let token = assemble(alg, &KID, &payload, signature.clone()).unwrap();
                let env = open_canonical(&token).unwrap();
                assert_eq!(env.alg, alg);
                assert_eq!(env.kid, KID);
                assert_eq!(env.payload, payload);
                assert_eq!(env.signature, signature);
                assert_eq!(env.signed_data, signing_input(alg, &KID, &payload));
            }
        }
    }

    /// A token that coset accepts but that is not canonical (a long-form payload length)
    /// misses the fast path and is refused by the full parse.
    #[test]
    fn non_canonical_token_is_refused() {
        let token = assemble(Algorithm::EdDsa, &KID, b"abc", alloc::vec![0; 64]).unwrap();
        let at = EDDSA_HEAD.len() + KID.len() + 1;
        assert_eq!(token[at], 0x43);
        let mut long = token[..at].to_vec();
        long.extend_from_slice(&[0x58, 3]);
        long.extend_from_slice(&token[at + 1..]);
        assert!(open_canonical(&long).is_none());
        assert!(CoseSign1::from_tagged_slice(&long).is_ok());
        assert_eq!(open(&long).unwrap_err().code(), "TOKEN_MALFORMED");
    }
}
