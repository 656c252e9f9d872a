//! The little CBOR (RFC 8949) that licet needs, written by hand: a writer of the one
//! deterministic encoding (§4.2.1: every head in its shortest form, every length definite),
//! a strict reader of exactly that encoding, and a lenient walk used only to say why a
//! token that is not in that encoding is refused.
//!
//! A general CBOR library (ciborium, and coset on top of it) was the verifier's largest
//! part on a microcontroller, about 69 KB of a 200 KB firmware with its float formatting
//! (`docs/benchmarks.md`), for a format that has exactly one encoding of each token. The
//! strict reader hands out string contents as sub-slices of the input and never allocates.

use alloc::vec::Vec;

/// Major types (RFC 8949 §3.1).
pub(crate) mod major {
    pub const UINT: u8 = 0;
    pub const NINT: u8 = 1;
    pub const BYTES: u8 = 2;
    pub const TEXT: u8 = 3;
    pub const ARRAY: u8 = 4;
    pub const MAP: u8 = 5;
    pub const TAG: u8 = 6;
    pub const SIMPLE: u8 = 7;
}

/// Deepest nesting the lenient walk follows; a token has three levels.
pub(crate) const MAX_DEPTH: usize = 16;

/// One head: its major type and its argument, `None` for an indefinite length (additional
/// information 31), and whether it was written in its shortest form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    major: u8,
    arg: Option<u64>,
    shortest: bool,
}

/// Decodes the head at the front of `bytes`: the head and what follows it. `None` for a
/// head cut short and for the reserved additional information 28 to 30.
fn head(bytes: &[u8]) -> Option<(Head, &[u8])> {
    let (&initial, rest) = bytes.split_first()?;
    let major = initial.wrapping_shr(5);
    let info = initial & 0x1f;
    let (arg, rest, shortest) = match info {
        0..=23 => (Some(u64::from(info)), rest, true),
        24 => {
            let (&[b], rest) = rest.split_first_chunk::<1>()?;
            // Simple values below 32 in the two-byte form are not well-formed (§3.3).
            (Some(u64::from(b)), rest, b >= 24)
        }
        25 => {
            let (b, rest) = rest.split_first_chunk::<2>()?;
            let n = u16::from_be_bytes(*b);
            (Some(u64::from(n)), rest, n > 0xff)
        }
        26 => {
            let (b, rest) = rest.split_first_chunk::<4>()?;
            let n = u32::from_be_bytes(*b);
            (Some(u64::from(n)), rest, n > 0xffff)
        }
        27 => {
            let (b, rest) = rest.split_first_chunk::<8>()?;
            let n = u64::from_be_bytes(*b);
            (Some(n), rest, n > 0xffff_ffff)
        }
        31 => (None, rest, true),
        _ => return None,
    };
    // Floats (major 7, 25 to 27) have no shorter form in this sense, and the strict reader
    // never asks for one.
    Some((
        Head {
            major,
            arg,
            shortest,
        },
        rest,
    ))
}

/// Reads items off the front of a byte slice, accepting only the deterministic encoding.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// What is left to read.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Moves past the next head if it is of major type `want`, definite and in its shortest
    /// form (so that one value has one encoding, RFC 8949 §4.2.1: `18 17` for 23 and
    /// `19 00 ff` for 255 are refused); otherwise reads nothing, so that the caller may
    /// try another type (a map key is an unsigned or a negative integer).
    fn take(&mut self, want: u8) -> Option<u64> {
        let (h, rest) = head(self.rest)?;
        if h.major != want || !h.shortest {
            return None;
        }
        let n = h.arg?;
        self.rest = rest;
        Some(n)
    }

    /// The content of a byte or text string: a sub-slice of the input.
    fn string(&mut self, want: u8) -> Option<&'a [u8]> {
        let before = self.rest;
        let len = usize::try_from(self.take(want)?).ok();
        let content = len.and_then(|len| self.rest.split_at_checked(len));
        match content {
            Some((content, rest)) => {
                self.rest = rest;
                Some(content)
            }
            None => {
                self.rest = before;
                None
            }
        }
    }

    /// An unsigned integer.
    pub(crate) fn uint(&mut self) -> Option<u64> {
        self.take(major::UINT)
    }

    /// A negative integer, as `n` for the value `-1 - n`.
    pub(crate) fn nint(&mut self) -> Option<u64> {
        self.take(major::NINT)
    }

    /// A byte string: its content, a sub-slice of the input.
    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        self.string(major::BYTES)
    }

    /// A text string (valid UTF-8): its content, a sub-slice of the input.
    pub(crate) fn text(&mut self) -> Option<&'a str> {
        let before = self.rest;
        let text = core::str::from_utf8(self.string(major::TEXT)?).ok();
        if text.is_none() {
            self.rest = before;
        }
        text
    }

    /// The head of an array: its number of items.
    pub(crate) fn array(&mut self) -> Option<u64> {
        self.take(major::ARRAY)
    }

    /// The head of a map: its number of entries.
    pub(crate) fn map(&mut self) -> Option<u64> {
        self.take(major::MAP)
    }
}

/// One item read leniently, for the diagnosis of a refused token: heads of any length,
/// as a general decoder would accept them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    /// An integer: `Ok(n)` for `n`, `Err(n)` for `-1 - n`.
    Int(Result<u64, u64>),
    /// A definite byte string.
    Bytes(&'a [u8]),
    /// A definite text string (not checked for UTF-8).
    Text(&'a [u8]),
    /// A definite array head, its items not yet read.
    Array(u64),
    /// A definite map head, its entries not yet read.
    Map(u64),
    /// Anything else, already skipped whole: a tag and its content, a simple value or a
    /// float, an indefinite string, array or map.
    Other,
}

/// Reads the next item leniently; `None` if it is not well-formed (cut short, reserved
/// values, nested deeper than [`MAX_DEPTH`]).
pub(crate) fn lenient(bytes: &[u8]) -> Option<(Item<'_>, &[u8])> {
    let (h, rest) = head(bytes)?;
    let string = |len: u64| rest.split_at_checked(usize::try_from(len).ok()?);
    Some(match (h.major, h.arg) {
        (major::UINT, Some(n)) => (Item::Int(Ok(n)), rest),
        (major::NINT, Some(n)) => (Item::Int(Err(n)), rest),
        (major::BYTES, Some(len)) => {
            let (content, rest) = string(len)?;
            (Item::Bytes(content), rest)
        }
        (major::TEXT, Some(len)) => {
            let (content, rest) = string(len)?;
            (Item::Text(content), rest)
        }
        (major::ARRAY, Some(n)) => (Item::Array(n), rest),
        (major::MAP, Some(n)) => (Item::Map(n), rest),
        _ => (Item::Other, skip(bytes, MAX_DEPTH)?),
    })
}

/// Skips one whole item, nested items included, without reading anything into memory.
pub(crate) fn skip(bytes: &[u8], depth: usize) -> Option<&[u8]> {
    let depth = depth.checked_sub(1)?;
    let (h, mut rest) = head(bytes)?;
    match (h.major, h.arg) {
        (major::UINT | major::NINT, Some(_)) => Some(rest),
        (major::BYTES | major::TEXT, Some(len)) => rest.get(usize::try_from(len).ok()?..),
        (major::ARRAY | major::MAP, Some(n)) => {
            let items = if h.major == major::MAP {
                n.checked_mul(2)?
            } else {
                n
            };
            // Every item is at least one byte: a count beyond what is left is cut short,
            // and the loop below is bounded by the input, not by the count.
            if items > rest.len() as u64 {
                return None;
            }
            for _ in 0..items {
                rest = skip(rest, depth)?;
            }
            Some(rest)
        }
        (major::TAG, Some(_)) => skip(rest, depth),
        (major::SIMPLE, Some(_)) => Some(rest),
        // Indefinite: items (for strings, definite chunks of the same type) up to a break.
        (major::BYTES | major::TEXT | major::ARRAY | major::MAP, None) => loop {
            if let Some(after) = rest.strip_prefix(&[0xff]) {
                return Some(after);
            }
            if matches!(h.major, major::BYTES | major::TEXT) {
                let (chunk, _) = head(rest)?;
                if chunk.major != h.major || chunk.arg.is_none() {
                    return None;
                }
            }
            rest = skip(rest, depth)?;
        },
        _ => None,
    }
}

/// Writes the deterministic encoding (RFC 8949 §4.2.1) into a `Vec`.
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Writer { out: Vec::new() }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// A head in its shortest form.
    pub(crate) fn head(&mut self, major: u8, n: u64) -> &mut Self {
        let m = major.wrapping_shl(5);
        match n {
            // Each arm's range makes its cast exact.
            0..=23 => self.out.push(m | n as u8),
            24..=0xff => self.out.extend_from_slice(&[m | 24, n as u8]),
            0x100..=0xffff => {
                self.out.push(m | 25);
                self.out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.out.push(m | 26);
                self.out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            _ => {
                self.out.push(m | 27);
                self.out.extend_from_slice(&n.to_be_bytes());
            }
        }
        self
    }

    pub(crate) fn uint(&mut self, n: u64) -> &mut Self {
        self.head(major::UINT, n)
    }

    /// The integer `-1 - n`.
    pub(crate) fn nint(&mut self, n: u64) -> &mut Self {
        self.head(major::NINT, n)
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.head(major::BYTES, b.len() as u64);
        self.out.extend_from_slice(b);
        self
    }

    pub(crate) fn text(&mut self, s: &str) -> &mut Self {
        self.head(major::TEXT, s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
        self
    }

    pub(crate) fn array(&mut self, n: usize) -> &mut Self {
        self.head(major::ARRAY, n as u64)
    }

    pub(crate) fn map(&mut self, n: usize) -> &mut Self {
        self.head(major::MAP, n as u64)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn shortest_forms_only() {
        assert_eq!(Reader::new(&[0x17]).uint(), Some(23));
        assert_eq!(Reader::new(&[0x18, 24]).uint(), Some(24));
        assert_eq!(Reader::new(&[0x18, 23]).uint(), None);
        assert_eq!(Reader::new(&[0x19, 1, 0]).uint(), Some(256));
        assert_eq!(Reader::new(&[0x19, 0, 0xff]).uint(), None);
        assert_eq!(Reader::new(&[0x1a, 0, 1, 0, 0]).uint(), Some(65536));
        assert_eq!(Reader::new(&[0x1a, 0, 0, 0xff, 0xff]).uint(), None);
        assert_eq!(
            Reader::new(&[0x1b, 0, 0, 0, 1, 0, 0, 0, 0]).uint(),
            Some(1 << 32)
        );
        assert_eq!(
            Reader::new(&[0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).uint(),
            None
        );
        assert_eq!(Reader::new(&[0x1c]).uint(), None);
        assert_eq!(Reader::new(&[0x3a, 0, 1, 0, 0]).nint(), Some(65536));
        // Lengths and counts too, not only integers.
        assert_eq!(Reader::new(&[0x58, 1, 7]).bytes(), None);
        assert_eq!(Reader::new(&[0x78, 1, b'a']).text(), None);
        assert_eq!(Reader::new(&[0x98, 0]).array(), None);
        assert_eq!(Reader::new(&[0xb9, 0, 1]).map(), None);
        assert_eq!(Reader::new(&[0x58, 24]).bytes(), None);
        let long = [[0x58, 24].as_slice(), &[0; 24]].concat();
        assert_eq!(Reader::new(&long).bytes(), Some(&[0u8; 24][..]));
    }

    #[test]
    fn definite_lengths_and_types() {
        let mut r = Reader::new(&[0x62, b'h', b'i', 0x41, 7, 0x9f, 0xbf]);
        assert_eq!(r.text(), Some("hi"));
        assert_eq!(r.bytes(), Some(&[7u8][..]));
        assert_eq!(r.array(), None);
        assert_eq!(Reader::new(&[0xbf]).map(), None);
        assert_eq!(Reader::new(&[0x5f, 0x41, 7, 0xff]).bytes(), None);
        assert_eq!(Reader::new(&[0x7f, 0x61, b'a', 0xff]).text(), None);
        assert_eq!(Reader::new(&[0x62, 0xff, 0xfe]).text(), None);
        assert_eq!(Reader::new(&[0x43, 1]).bytes(), None);
        assert_eq!(Reader::new(&[0x01]).nint(), None);
        // No tags, simple values or floats anywhere the reader is asked for an item.
        assert_eq!(Reader::new(&[0xc0, 0x01]).uint(), None);
        assert_eq!(Reader::new(&[0xd2, 0x80]).array(), None);
        assert_eq!(Reader::new(&[0xf5]).uint(), None);
        assert_eq!(Reader::new(&[0xf9, 0x3c, 0x00]).uint(), None);
        assert_eq!(Reader::new(&[0xff]).map(), None);
    }

    /// A head of another type, or a string cut short, is left in place; one taken is gone.
    #[test]
    fn a_miss_reads_nothing() {
        let mut r = Reader::new(&[0x3a, 0, 1, 0, 0, 0x01]);
        assert_eq!(r.uint(), None);
        assert_eq!(r.rest().len(), 6);
        assert_eq!(r.nint(), Some(65536));
        assert_eq!(r.rest(), &[0x01]);
        assert_eq!(r.uint(), Some(1));
        assert!(r.rest().is_empty());
        assert_eq!(r.uint(), None);
        let mut cut = Reader::new(&[0x43, 1, 2]);
        assert_eq!(cut.bytes(), None);
        assert_eq!(cut.rest().len(), 3);
    }

    /// The writer writes what the reader reads, at every boundary of the head's length.
    #[test]
    fn writer_writes_shortest_heads() {
        for n in [
            0u64,
            23,
            24,
            255,
            256,
            65535,
            65536,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut w = Writer::new();
            w.uint(n).nint(n);
            let bytes = w.into_bytes();
            let mut r = Reader::new(&bytes);
            assert_eq!((r.uint(), r.nint()), (Some(n), Some(n)));
            assert!(r.rest().is_empty());
        }
        let mut w = Writer::new();
        w.map(1).text("k").bytes(&[1, 2]).array(0);
        assert_eq!(
            w.into_bytes(),
            [0xa1, 0x61, b'k', 0x42, 1, 2, 0x80].as_slice()
        );
    }

    #[test]
    fn lenient_walk_takes_long_heads_and_skips_the_rest() {
        assert_eq!(lenient(&[0x18, 5, 0]), Some((Item::Int(Ok(5)), &[0u8][..])));
        assert_eq!(
            lenient(&[0x59, 0, 1, 9]),
            Some((Item::Bytes(&[9]), &[][..]))
        );
        // A tag over an indefinite array holding a float and an indefinite text string.
        let nested = [
            0xc1, 0x9f, 0xf9, 0x3c, 0x00, 0x7f, 0x61, b'a', 0xff, 0xff, 7,
        ];
        assert_eq!(lenient(&nested), Some((Item::Other, &[7u8][..])));
        // Cut short, a wrong chunk type, a lone break, and nesting past the limit.
        assert_eq!(skip(&[0x82, 0x01], MAX_DEPTH), None);
        assert_eq!(skip(&[0x5f, 0x61, b'a', 0xff], MAX_DEPTH), None);
        assert_eq!(skip(&[0xff], MAX_DEPTH), None);
        assert_eq!(skip(&[0x81; 40], MAX_DEPTH), None);
        assert_eq!(
            skip(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 4),
            None
        );
    }
}
