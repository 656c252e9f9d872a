//! The COSE_Sign1 envelope (RFC 9052 §4.2): parsed strictly with `coset`, built in the one
//! canonical form the format allows.

use alloc::vec::Vec;

use coset::{
    CborSerializable, CoseSign1, Header, HeaderBuilder, ProtectedHeader, TaggedCborSerializable,
    iana,
};

use crate::error::Error;
use crate::keyring::Kid;

/// The largest binary token accepted, in bytes. The biggest legal token (RSA-4096 signature,
/// every field at its limit) stays well below it; the cap is checked before any decoding.
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
        .clone()
        .ok_or(Error::malformed("payload is detached"))?;
    let signed_data = sign1.tbs_data(b"");
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
    let signature = sign1.signature.clone();
    if assemble(alg, &kid, &payload, signature.clone())? != bytes {
        return Err(Error::malformed("token is not in canonical CBOR form"));
    }
    Ok(Envelope {
        alg,
        kid,
        signed_data,
        payload,
        signature,
    })
}
