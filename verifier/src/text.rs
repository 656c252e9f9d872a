//! The text form (kind prefix + Crockford base32) and the armored file form of a token.

use alloc::string::String;
use alloc::vec::Vec;

use base32::Alphabet;

use crate::claims::Kind;
use crate::envelope::MAX_TOKEN_BYTES;
use crate::error::Error;

/// The largest text or file form accepted, in bytes, checked before anything is decoded:
/// the base32 of [`MAX_TOKEN_BYTES`] with room for line breaks, separators and armor.
pub const MAX_TEXT_BYTES: usize = MAX_TOKEN_BYTES * 2 + 256;

/// Characters per line of the file form's body.
const LINE: usize = 64;

/// The text prefix of a kind (`LIC`, `MCH`, `LSE`), written before a `-`.
pub fn prefix(kind: Kind) -> &'static str {
    match kind {
        Kind::License => "LIC",
        Kind::Machine => "MCH",
        Kind::Lease => "LSE",
    }
}

/// The word of a kind in the file form's armor lines (`LICENSE`, `MACHINE`, `LEASE`).
pub fn armor_label(kind: Kind) -> &'static str {
    match kind {
        Kind::License => "LICENSE",
        Kind::Machine => "MACHINE",
        Kind::Lease => "LEASE",
    }
}

/// The text form of a binary token: `PREFIX-` and upper-case Crockford base32, no padding,
/// no separators.
pub fn encode_text(kind: Kind, bytes: &[u8]) -> String {
    let mut s = String::from(prefix(kind));
    s.push('-');
    s.push_str(&base32::encode(Alphabet::Crockford, bytes));
    s
}

/// The file form: the text form wrapped at 64 characters between
/// `-----BEGIN LICET <KIND>-----` and `-----END LICET <KIND>-----` lines.
pub fn encode_file(kind: Kind, bytes: &[u8]) -> String {
    let text = encode_text(kind, bytes);
    let label = armor_label(kind);
    let mut s = String::with_capacity(text.len().saturating_mul(2).saturating_add(64));
    s.push_str("-----BEGIN LICET ");
    s.push_str(label);
    s.push_str("-----\n");
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(LINE));
        s.push_str(line);
        s.push('\n');
        rest = tail;
    }
    s.push_str("-----END LICET ");
    s.push_str(label);
    s.push_str("-----\n");
    s
}

/// Decodes the text form or the file form, whichever `input` is. Returns the kind its
/// prefix (and armor) announce, and the binary token. The announced kind is not signed:
/// the verifier compares it with the signed kind.
///
/// Lower case, white space and `-` group separators are accepted in the base32, as are
/// Crockford's aliases (`I` and `L` read as `1`, `O` as `0`); anything else is refused, as
/// is base32 whose unused final bits are not zero (so one token has one text).
///
/// # Errors
/// [`Error::TooLarge`] or [`Error::Malformed`].
pub fn decode(input: &str) -> Result<(Kind, Vec<u8>), Error> {
    if input.len() > MAX_TEXT_BYTES {
        return Err(Error::TooLarge {
            len: input.len(),
            max: MAX_TEXT_BYTES,
        });
    }
    let input = input.trim();
    if let Some(rest) = input.strip_prefix("-----BEGIN LICET ") {
        let (label, rest) = rest.split_once("-----").ok_or(Error::malformed(
            "armor BEGIN line is not closed with -----",
        ))?;
        let kind = Kind::ALL
            .into_iter()
            .find(|k| armor_label(*k) == label)
            .ok_or(Error::malformed("armor names no known token kind"))?;
        let end = ["-----END LICET ", label, "-----"].concat();
        let body = rest.strip_suffix(end.as_str()).ok_or(Error::malformed(
            "armor END line is missing or does not match BEGIN",
        ))?;
        let (text_kind, bytes) = decode_text(body)?;
        if text_kind != kind {
            return Err(Error::malformed(
                "armor label and text prefix name different kinds",
            ));
        }
        return Ok((kind, bytes));
    }
    decode_text(input)
}

fn decode_text(text: &str) -> Result<(Kind, Vec<u8>), Error> {
    let text = text.trim_start();
    let (head, body) = text
        .split_once('-')
        .ok_or(Error::malformed("no kind prefix (LIC-, MCH- or LSE-)"))?;
    let kind = Kind::ALL
        .into_iter()
        .find(|k| prefix(*k).eq_ignore_ascii_case(head))
        .ok_or(Error::malformed(
            "unknown kind prefix; expected LIC-, MCH- or LSE-",
        ))?;
    let mut canonical = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '-' => {}
            c if c.is_ascii_whitespace() => {}
            'i' | 'I' | 'l' | 'L' => canonical.push('1'),
            'o' | 'O' => canonical.push('0'),
            c if c.is_ascii_alphanumeric() && !matches!(c, 'u' | 'U') => {
                canonical.push(c.to_ascii_uppercase());
            }
            _ => {
                return Err(Error::malformed(
                    "a character is not in the Crockford base32 alphabet",
                ));
            }
        }
    }
    if canonical.is_empty() {
        return Err(Error::malformed("the token text is empty after its prefix"));
    }
    let bytes = base32::decode(Alphabet::Crockford, &canonical)
        .ok_or(Error::malformed("the base32 text cannot be decoded"))?;
    // A base32 length that cannot come from whole bytes, or non-zero unused bits at the
    // end, decode to the same bytes as the proper text: refuse them so one token has one text.
    if base32::encode(Alphabet::Crockford, &bytes) != canonical {
        return Err(Error::malformed(
            "the base32 text has a bad length or unused bits set",
        ));
    }
    Ok((kind, bytes))
}
