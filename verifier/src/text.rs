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
    // ASCII white space only, as inside the base32 (`docs/token-format.md` §6.2): `trim()`
    // would also drop non-ASCII white space (U+00A0, U+3000, ...) and VT at the ends while
    // the same characters are refused everywhere else.
    let input = input.trim_ascii();
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
        // The armor lines are lines of their own (§6.3): the body starts after a line
        // break and ends with one.
        let body = body.trim_start_matches([' ', '\t']);
        let body = body
            .strip_prefix("\r\n")
            .or_else(|| body.strip_prefix('\n'))
            .ok_or(Error::malformed(
                "text follows the BEGIN line on the same line",
            ))?;
        if !body.trim_end_matches([' ', '\t']).ends_with('\n') {
            return Err(Error::malformed(
                "the END line does not start a line of its own",
            ));
        }
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
    let text = text.trim_ascii_start();
    let (head, body) = text
        .split_once('-')
        .ok_or(Error::malformed("no kind prefix (LIC-, MCH- or LSE-)"))?;
    let kind = Kind::ALL
        .into_iter()
        .find(|k| prefix(*k).eq_ignore_ascii_case(head))
        .ok_or(Error::malformed(
            "unknown kind prefix; expected LIC-, MCH- or LSE-",
        ))?;
    // Decoded in one pass, with no copy of the text: this runs on every verify
    // (`docs/benchmarks.md`).
    let mut bytes = Vec::with_capacity((body.len() / 8).saturating_mul(5).saturating_add(5));
    // The bits read but not yet written out, and how many there are: fewer than 8 between
    // digits, so never more than 12 (the saturating operations below never saturate).
    let mut pending: u32 = 0;
    let mut pending_bits: u32 = 0;
    let mut digits = false;
    for c in body.bytes() {
        let value = match DIGITS.get(usize::from(c)).copied().unwrap_or(INVALID) {
            SKIP => continue,
            INVALID => {
                return Err(Error::malformed(
                    "a character is not in the Crockford base32 alphabet",
                ));
            }
            value => u32::from(value),
        };
        digits = true;
        pending = (pending << 5) | value;
        pending_bits = pending_bits.saturating_add(5);
        if pending_bits >= 8 {
            pending_bits = pending_bits.saturating_sub(8);
            bytes.push((pending >> pending_bits) as u8);
            pending &= !(u32::MAX << pending_bits);
        }
    }
    if !digits {
        return Err(Error::malformed("the token text is empty after its prefix"));
    }
    // A base32 length that cannot come from whole bytes (a last digit that completes no
    // byte), or non-zero unused bits at the end, would decode to the same bytes as the
    // proper text: refuse them so one token has one text.
    if pending_bits >= 5 || pending != 0 {
        return Err(Error::malformed(
            "the base32 text has a bad length or unused bits set",
        ));
    }
    Ok((kind, bytes))
}

/// A character to skip: `-` group separators and ASCII white space.
const SKIP: u8 = 0xfe;
/// A character that is not allowed in the base32.
const INVALID: u8 = 0xff;

/// The value of each byte as a Crockford base32 digit: upper or lower case, with `I` and `L`
/// read as `1` and `O` as `0`; `U` and everything else is [`INVALID`].
// Evaluated at compile time, where an index out of bounds is a build error, not a panic.
#[allow(clippy::indexing_slicing)]
const DIGITS: [u8; 256] = {
    let mut table = [INVALID; 256];
    let alphabet = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        table[alphabet[i].to_ascii_lowercase() as usize] = i as u8;
        i += 1;
    }
    let mut aliases: &[(u8, u8)] = &[(b'I', 1), (b'L', 1), (b'O', 0)];
    while let [(c, value), rest @ ..] = aliases {
        table[*c as usize] = *value;
        table[c.to_ascii_lowercase() as usize] = *value;
        aliases = rest;
    }
    let mut skips: &[u8] = b"- \t\n\x0c\r";
    while let [c, rest @ ..] = skips {
        table[*c as usize] = SKIP;
        skips = rest;
    }
    table
};
