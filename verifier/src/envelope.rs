//! The COSE_Sign1 envelope (RFC 9052 §4.2): read and built in the one canonical form the
//! format allows, byte for byte, with the hand-written CBOR of [`crate::cbor`].

use alloc::vec::Vec;

use crate::cbor::{self, Item};
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
    /// Verified only with the `rsa` feature; without it such a token is
    /// [`Error::AlgUnsupported`].
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

    /// The COSE algorithm number as CBOR writes it: `n` for the negative integer `-1 - n`.
    fn cose_nint(self) -> u64 {
        match self {
            Algorithm::EdDsa => 7,  // -8
            Algorithm::Ps256 => 36, // -37
        }
    }

    /// Whether this build verifies the algorithm: PS256 needs the `rsa` feature.
    fn supported(self) -> Result<Algorithm, Error> {
        match self {
            Algorithm::EdDsa => Ok(self),
            Algorithm::Ps256 if cfg!(feature = "rsa") => Ok(self),
            Algorithm::Ps256 => Err(Error::AlgUnsupported),
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

/// The protected header of a token, `{1: alg, 4: kid}` and nothing else, encoded.
fn protected_header(alg: Algorithm, kid: &Kid) -> Vec<u8> {
    let mut w = cbor::Writer::new();
    w.map(2).uint(1).nint(alg.cose_nint()).uint(4).bytes(kid);
    w.into_bytes()
}

/// The Sig_structure to sign for a token with this algorithm, key and payload. The issuing
/// side signs exactly these bytes and hands the signature to [`assemble`].
pub fn signing_input(alg: Algorithm, kid: &Kid, payload: &[u8]) -> Vec<u8> {
    // RFC 9052 §4.4: ["Signature1", protected, external_aad = h'', payload].
    let mut w = cbor::Writer::new();
    w.array(4)
        .text("Signature1")
        .bytes(&protected_header(alg, kid))
        .bytes(&[])
        .bytes(payload);
    w.into_bytes()
}

/// Puts a token together from its parts: a tagged COSE_Sign1.
///
/// # Errors
/// None today: the encoding cannot fail. The `Result` is kept so that a later limit can be
/// checked here without changing the callers.
pub fn assemble(
    alg: Algorithm,
    kid: &Kid,
    payload: &[u8],
    signature: Vec<u8>,
) -> Result<Vec<u8>, Error> {
    // Tag 18 (COSE_Sign1), then [protected, unprotected = {}, payload, signature].
    let mut w = cbor::Writer::new();
    w.tag(18)
        .array(4)
        .bytes(&protected_header(alg, kid))
        .map(0)
        .bytes(payload)
        .bytes(&signature);
    Ok(w.into_bytes())
}

/// Takes a binary token apart, refusing anything but the one canonical form.
///
/// # Errors
/// [`Error::TooLarge`] over [`MAX_TOKEN_BYTES`], [`Error::AlgUnsupported`] for any algorithm
/// but EdDSA and PS256, [`Error::Malformed`] for everything else.
pub fn open(bytes: &[u8]) -> Result<Envelope, Error> {
    open_capped(bytes, MAX_TOKEN_BYTES)
}

/// As [`open`] with another size cap: a revocation list is a signed document of the same
/// envelope that may be far larger than any token (`docs/token-format.md` §13).
pub(crate) fn open_capped(bytes: &[u8], max: usize) -> Result<Envelope, Error> {
    if bytes.len() > max {
        return Err(Error::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    match open_canonical(bytes) {
        Some(envelope) => {
            envelope.alg.supported()?;
            Ok(envelope)
        }
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
/// [`diagnose`] would refuse.
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
    // the same bytes [`signing_input`] makes, taken from the token instead of re-encoded.
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

/// Says why a token that is not in the canonical layout is refused, in the order of
/// `docs/token-format.md` §9: what a general COSE decoder would refuse first (structure,
/// trailing bytes, a header parameter twice), then the algorithm (so that a well-formed
/// COSE_Sign1 with another algorithm is `ALG_UNSUPPORTED` whatever else its header holds),
/// then the key id and the rest of the header, then the canonical form. Heads of any
/// length are read here, as a general decoder reads them; only the verdict is wanted, so
/// nothing is kept.
fn diagnose(bytes: &[u8]) -> Error {
    let structure = Error::malformed("not a valid COSE_Sign1 structure");
    let Some(rest) = bytes.strip_prefix(&[0xd2]) else {
        return Error::malformed("not a tagged COSE_Sign1 (tag 18)");
    };
    let Some((Item::Array(4), rest)) = cbor::lenient(rest) else {
        return structure;
    };
    let Some((Item::Bytes(protected), rest)) = cbor::lenient(rest) else {
        return structure;
    };
    let Some((Item::Map(unprotected), _)) = cbor::lenient(rest) else {
        return structure;
    };
    let Some(rest) = cbor::skip(rest, cbor::MAX_DEPTH) else {
        return structure;
    };
    // The payload is a byte string, or nil when detached.
    let (payload, rest) = match cbor::lenient(rest) {
        Some((Item::Bytes(p), rest)) => (Some(p), rest),
        Some((Item::Other, after)) if rest.first() == Some(&0xf6) => (None, after),
        _ => return structure,
    };
    let Some((Item::Bytes(_signature), rest)) = cbor::lenient(rest) else {
        return structure;
    };
    if !rest.is_empty() {
        return Error::malformed("trailing bytes after the token");
    }
    let header = match read_header(protected) {
        Ok(header) => header,
        Err(e) => return e,
    };
    let alg = match header.alg {
        Some(Item::Int(Err(n))) if n == Algorithm::EdDsa.cose_nint() => Algorithm::EdDsa,
        Some(Item::Int(Err(n))) if n == Algorithm::Ps256.cose_nint() => Algorithm::Ps256,
        // Another number, or a text label (RFC 9052 §3.1 allows both).
        Some(Item::Int(_) | Item::Text(_)) => return Error::AlgUnsupported,
        Some(_) => return structure,
        None => return Error::malformed("protected header has no algorithm"),
    };
    if let Err(e) = alg.supported() {
        return e;
    }
    let Some(Ok(kid)) = header.kid.map(Kid::try_from) else {
        return Error::malformed("protected header has no 8-byte key id");
    };
    // Anything else in a header (crit, content type, IV, counter signatures, private
    // parameters) is refused: this version defines none of them, and a verifier that
    // ignored a critical one would misread the token.
    if header.others {
        return Error::malformed("protected header carries parameters other than alg and kid");
    }
    if unprotected != 0 {
        return Error::malformed("unprotected header is not empty");
    }
    if payload.is_none() {
        return Error::malformed("payload is detached");
    }
    // Long-form lengths, a reordered header: what a general decoder accepts and the one
    // encoding of §5 does not.
    if protected != protected_header(alg, &kid).as_slice() {
        return Error::malformed("protected header is not in canonical CBOR form");
    }
    Error::malformed("token is not in canonical CBOR form")
}

/// What [`diagnose`] needs of a protected header.
struct Header<'a> {
    alg: Option<Item<'a>>,
    kid: Option<&'a [u8]>,
    others: bool,
}

/// Reads a protected header leniently: a map (an empty byte string is an empty map,
/// RFC 9052 §3) with integer or text labels, each label once.
fn read_header(protected: &[u8]) -> Result<Header<'_>, Error> {
    let structure = Error::malformed("not a valid COSE_Sign1 structure");
    let mut header = Header {
        alg: None,
        kid: None,
        others: false,
    };
    if protected.is_empty() {
        return Ok(header);
    }
    let Some((Item::Map(n), mut rest)) = cbor::lenient(protected) else {
        return Err(structure);
    };
    // At most one label per two bytes; a larger count is cut short anyway.
    if n > protected.len() as u64 {
        return Err(structure);
    }
    let mut labels: Vec<Item<'_>> = Vec::new();
    for _ in 0..n {
        let (label, after) = cbor::lenient(rest).ok_or(structure.clone())?;
        let (value, after_value) = cbor::lenient(after).ok_or(structure.clone())?;
        let end = cbor::skip(after, cbor::MAX_DEPTH).ok_or(structure.clone())?;
        if !matches!(label, Item::Int(_) | Item::Text(_)) {
            return Err(structure);
        }
        if labels.contains(&label) {
            return Err(Error::malformed("a header parameter appears twice"));
        }
        labels.push(label);
        match label {
            Item::Int(Ok(1)) => header.alg = Some(value),
            Item::Int(Ok(4)) => match value {
                Item::Bytes(kid) if after_value == end => header.kid = Some(kid),
                _ => return Err(structure),
            },
            _ => header.others = true,
        }
        rest = end;
    }
    if !rest.is_empty() {
        return Err(structure);
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use coset::{CoseSign1, HeaderBuilder, TaggedCborSerializable, iana};

    const KID: Kid = [1, 2, 3, 4, 5, 6, 7, 8];

    /// The token coset (an independent COSE implementation, a dev-dependency only) builds
    /// from the same parts.
    fn coset_token(alg: Algorithm, payload: &[u8], signature: &[u8]) -> CoseSign1 {
        let alg = match alg {
            Algorithm::EdDsa => iana::Algorithm::EdDSA,
            Algorithm::Ps256 => iana::Algorithm::PS256,
        };
        coset::CoseSign1Builder::new()
            .protected(
                HeaderBuilder::new()
                    .algorithm(alg)
                    .key_id(KID.to_vec())
                    .build(),
            )
            .payload(payload.to_vec())
            .signature(signature.to_vec())
            .build()
    }

    /// `assemble` and `signing_input` write what coset writes, and `open_canonical` reads
    /// it back, at every length boundary of a CBOR byte string.
    #[test]
    fn canonical_layout_is_what_coset_writes() {
        for alg in [Algorithm::EdDsa, Algorithm::Ps256] {
            for len in [0usize, 1, 23, 24, 255, 256, 4000] {
                let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let signature = alloc::vec![0x5a; if alg == Algorithm::EdDsa { 64 } else { 256 }];
                let token = assemble(alg, &KID, &payload, signature.clone()).unwrap();
                let reference = coset_token(alg, &payload, &signature);
                assert_eq!(token, reference.clone().to_tagged_vec().unwrap());
                assert_eq!(signing_input(alg, &KID, &payload), reference.tbs_data(b""));
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
    /// misses the fast path and is refused by the diagnosis.
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
        assert_eq!(
            open(&long).unwrap_err(),
            Error::malformed("token is not in canonical CBOR form")
        );
    }

    /// Each refusal of the diagnosis, in the order of `docs/token-format.md` §9.
    #[test]
    fn diagnosis_names_the_first_fault() {
        let header = |entries: &[u8]| {
            let mut w = cbor::Writer::new();
            w.bytes(entries);
            w.into_bytes()
        };
        let token = |protected: &[u8], unprotected: &[u8], tail: &[u8]| {
            [&[0xd2, 0x84][..], protected, unprotected, tail].concat()
        };
        let tail = [0x43, b'a', b'b', b'c', 0x41, 0];
        let kid = [0x04, 0x48, 1, 2, 3, 4, 5, 6, 7, 8];
        let es256 = header(&[&[0xa2, 0x01, 0x26][..], &kid].concat());
        let eddsa_crit = header(&[&[0xa3, 0x01, 0x27][..], &kid, &[0x02, 0x81, 0x18, 99]].concat());
        let eddsa_long = header(&[&[0xa2, 0x01, 0x38, 0x07][..], &kid].concat());
        let eddsa_twice = header(&[0xa2, 0x01, 0x27, 0x01, 0x27]);
        let text_alg = header(&[&[0xa2, 0x01, 0x62, b'h', b'i'][..], &kid].concat());
        let no_kid = header(&[0xa1, 0x01, 0x27]);
        let malformed = |r| Error::malformed(r);
        let cases: [(Vec<u8>, Error); 10] = [
            (token(&es256, &[0xa0], &tail), Error::AlgUnsupported),
            (token(&text_alg, &[0xa0], &tail), Error::AlgUnsupported),
            (
                token(&es256, &[0xa0], &[&tail[..], &[0]].concat()),
                malformed("trailing bytes after the token"),
            ),
            (
                token(&eddsa_twice, &[0xa0], &tail),
                malformed("a header parameter appears twice"),
            ),
            (
                token(&no_kid, &[0xa0], &tail),
                malformed("protected header has no 8-byte key id"),
            ),
            (
                token(&eddsa_crit, &[0xa0], &tail),
                malformed("protected header carries parameters other than alg and kid"),
            ),
            (
                token(&eddsa_long, &[0xa1, 0x04, 0x41, 0], &tail),
                malformed("unprotected header is not empty"),
            ),
            (
                token(&eddsa_long, &[0xa0], &[0xf6, 0x41, 0]),
                malformed("payload is detached"),
            ),
            (
                token(&eddsa_long, &[0xa0], &tail),
                malformed("protected header is not in canonical CBOR form"),
            ),
            (
                token(&eddsa_long, &[0xa0], &tail[..3]),
                malformed("not a valid COSE_Sign1 structure"),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(open(&bytes).unwrap_err(), want, "{bytes:02x?}");
        }
        assert_eq!(
            open(&[0x84, 0x40, 0xa0, 0x40, 0x40]).unwrap_err(),
            malformed("not a tagged COSE_Sign1 (tag 18)")
        );
    }

    /// Without the `rsa` feature a PS256 token is refused as an algorithm this build does
    /// not verify, before its key is looked up; with it, it opens.
    #[test]
    fn ps256_needs_the_rsa_feature() {
        let token = assemble(Algorithm::Ps256, &KID, b"abc", alloc::vec![0; 256]).unwrap();
        let got = open(&token).map(|e| e.alg);
        if cfg!(feature = "rsa") {
            assert_eq!(got, Ok(Algorithm::Ps256));
        } else {
            assert_eq!(got, Err(Error::AlgUnsupported));
        }
    }
}
