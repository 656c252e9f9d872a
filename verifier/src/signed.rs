//! What the signed documents that are not tokens share: the root's endorsement of a
//! signing key ([`crate::endorsement`]) and the revocation list ([`crate::revocation`]).
//!
//! They use the token envelope (a tagged COSE_Sign1, `docs/token-format.md` §2) and the
//! licet claim's version and kind keys (§7.2), with kind numbers no token has, so that a
//! document can never pass for a token nor one kind of document for another. They travel
//! as RFC 7468 PEM blocks (base64, read by `pem-rfc7468`), not as base32 text: they are
//! files, never typed by a person (§13).

use alloc::string::String;
use alloc::vec::Vec;

use crate::cbor::{Reader, Writer};
use crate::claims::{FORMAT_VERSION, LICET_CLAIM};
use crate::error::Error;

/// The licet claim's kind (key 1) of an endorsement.
pub(crate) const KIND_ENDORSEMENT: u64 = 4;
/// The licet claim's kind (key 1) of a revocation list.
pub(crate) const KIND_REVOCATIONS: u64 = 5;
/// The licet claim's kind (key 1) of a deactivation receipt.
pub(crate) const KIND_RECEIPT: u64 = 6;

/// The licet claim's key as CBOR writes a negative integer: `n` for `-1 - n`.
fn licet_nint() -> u64 {
    LICET_CLAIM.unsigned_abs().saturating_sub(1)
}

/// Writes the licet claim's key and the head of its map with `entries` entries, the
/// version and the kind: what every document's licet claim starts with.
pub(crate) fn write_licet_head(w: &mut Writer, entries: usize, kind: u64) {
    w.nint(licet_nint())
        .map(entries)
        .uint(0)
        .uint(FORMAT_VERSION)
        .uint(1)
        .uint(kind);
}

/// Reads what [`write_licet_head`] writes, refusing another version
/// (`TOKEN_UNSUPPORTED_VERSION`, as for tokens, §8) and another kind or layout
/// (`TOKEN_MALFORMED`).
pub(crate) fn read_licet_head(r: &mut Reader<'_>, entries: u64, kind: u64) -> Result<(), Error> {
    let bad = Error::malformed("not the canonical encoding of this kind of signed document (§13)");
    if r.nint() != Some(licet_nint()) || r.map() != Some(entries) || r.uint() != Some(0) {
        return Err(bad);
    }
    let version = r.uint().ok_or(bad.clone())?;
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion { version });
    }
    if r.uint() != Some(1) || r.uint() != Some(kind) {
        return Err(Error::malformed(
            "a signed document of another kind than the one asked for",
        ));
    }
    Ok(())
}

/// Starts the payload of a document issued by someone, as revocation lists and receipts
/// are: a map of `iss` (1), `iat` (6) and the licet claim, in that (canonical) order, up
/// to the licet claim's head with `entries` entries of `kind`.
///
/// # Errors
/// [`Error::Malformed`] for an issuer empty or over 128 bytes.
pub(crate) fn write_issued_head(
    issuer: &str,
    issued_at: u64,
    entries: usize,
    kind: u64,
) -> Result<Writer, Error> {
    if issuer.is_empty() || issuer.len() > crate::claims::limits::NAME {
        return Err(Error::malformed("issuer (iss) is empty or too long"));
    }
    let mut w = Writer::new();
    w.map(3).uint(1).text(issuer).uint(6).uint(issued_at);
    write_licet_head(&mut w, entries, kind);
    Ok(w)
}

/// Reads what [`write_issued_head`] writes: the issuer and the time; `None` for another
/// layout, and the licet head's errors as [`read_licet_head`] gives them.
pub(crate) fn read_issued_head<'a>(
    r: &mut Reader<'a>,
    entries: u64,
    kind: u64,
) -> Result<Option<(&'a str, u64)>, Error> {
    if r.map() != Some(3) || r.uint() != Some(1) {
        return Ok(None);
    }
    let Some(issuer) = r.text() else {
        return Ok(None);
    };
    if issuer.is_empty() || issuer.len() > crate::claims::limits::NAME || r.uint() != Some(6) {
        return Ok(None);
    }
    let Some(issued_at) = r.uint() else {
        return Ok(None);
    };
    read_licet_head(r, entries, kind)?;
    Ok(Some((issuer, issued_at)))
}

/// The binary form of a document from its PEM block labelled `label`, the size checked
/// before anything is decoded. Text around the block is ignored (RFC 7468 §2).
///
/// # Errors
/// [`Error::TooLarge`] when the text could not hold a document of at most `max` bytes,
/// [`Error::Malformed`] when no valid block with that label is found.
pub(crate) fn from_pem(text: &str, label: &str, max: usize) -> Result<Vec<u8>, Error> {
    // base64 takes 4 characters for 3 bytes, and lines of 64 characters a line break.
    let max_text = max
        .saturating_div(3)
        .saturating_add(1)
        .saturating_mul(4)
        .saturating_mul(65)
        .saturating_div(64)
        .saturating_add(256);
    if text.len() > max_text {
        return Err(Error::TooLarge {
            len: text.len(),
            max: max_text,
        });
    }
    let mut begin = String::from("-----BEGIN ");
    begin.push_str(label);
    begin.push_str("-----");
    let start = text.find(begin.as_str()).ok_or(Error::malformed(
        "no PEM block with the expected label (-----BEGIN LICET …-----)",
    ))?;
    let block = text.get(start..).unwrap_or_default();
    let (found, der) = pem_rfc7468::decode_vec(block.trim_end().as_bytes())
        .or_else(|_| {
            // Text after the END line: cut it off and try again.
            let mut end = String::from("-----END ");
            end.push_str(label);
            end.push_str("-----");
            let cut = block
                .find(end.as_str())
                .map(|i| i.saturating_add(end.len()))
                .ok_or(pem_rfc7468::Error::PostEncapsulationBoundary)?;
            pem_rfc7468::decode_vec(block.get(..cut).unwrap_or_default().as_bytes())
        })
        .map_err(|_| Error::malformed("the PEM block is damaged (base64 or END line)"))?;
    if found != label {
        return Err(Error::malformed("the PEM block has another label"));
    }
    if der.len() > max {
        return Err(Error::TooLarge {
            len: der.len(),
            max,
        });
    }
    Ok(der)
}

/// The PEM block of a document: its binary form in base64 under `label`, 64 characters a
/// line, LF line ends.
pub(crate) fn to_pem(label: &str, bytes: &[u8]) -> String {
    // Encoding into a String can only fail for a label RFC 7468 forbids; ours are fixed.
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, bytes).unwrap_or_default()
}
