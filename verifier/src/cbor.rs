//! The little CBOR (RFC 8949) that licet needs: a writer of the one deterministic encoding
//! (§4.2.1: every head in its shortest form, every length definite), a strict reader of
//! exactly that encoding, and a lenient walk used only to say why a token that is not in
//! that encoding is refused.
//!
//! Every head, read or written, goes through `ciborium-ll`: the low-level layer of
//! ciborium, maintained with it, `no_std` and allocation-free, which decodes a head into a
//! [`Header`] and encodes a [`Header`] in its shortest form. What is ours is only what the
//! format asks for on top of it: the strictness (shortest heads, definite lengths, the
//! types each place allows), the walk over nested items and the sub-slicing, so that the
//! strict reader hands out string contents as slices of the input and never allocates.
//!
//! The general CBOR library above it (ciborium, and coset on top) is not used: it was the
//! verifier's largest part on a microcontroller, about 69 KB of a 200 KB firmware with its
//! float formatting (`docs/benchmarks.md`), for a format that has exactly one encoding of
//! each token.

use alloc::vec::Vec;
use ciborium_ll::{Decoder, Encoder, Header};

/// Deepest nesting the lenient walk follows; a token has three levels.
pub(crate) const MAX_DEPTH: usize = 16;

/// The longest CBOR head: the initial byte and an 8-byte argument.
const MAX_HEAD: usize = 9;

/// Decodes the head at the front of `bytes` with `ciborium-ll`: the header, the length of
/// its head, and what follows the head. `None` for a head cut short, the reserved
/// additional information 28 to 30, an indefinite integer or tag, and a length beyond
/// `usize`.
fn head(bytes: &[u8]) -> Option<(Header, usize, &[u8])> {
    // A decoder for each head, over what is left: a `Decoder` owns its reader and can move
    // past string content only by copying it out, and the content is wanted here as a
    // sub-slice of the input, not copied, with no buffer sized by its length.
    let mut decoder = Decoder::from(bytes);
    let header = decoder.pull().ok()?;
    let len = decoder.offset();
    Some((header, len, bytes.get(len..)?))
}

/// The head `ciborium-ll`'s encoder writes for `header`, which is always the shortest one,
/// written into `buf`. `None` for a float, which licet never writes and never reads
/// strictly (so that the firmware does not carry the encoder's float narrowing), and if it
/// did not fit, which no head fails to.
fn encode(header: Header, buf: &mut [u8; MAX_HEAD]) -> Option<&[u8]> {
    if matches!(header, Header::Float(_)) {
        return None;
    }
    let mut free: &mut [u8] = &mut buf[..];
    Encoder::from(&mut free).push(header).ok()?;
    let len = MAX_HEAD.checked_sub(free.len())?;
    buf.get(..len)
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

    /// The next header and what follows its head, without moving past it, if the head is
    /// in its shortest form. Indefinite lengths are refused by the callers (a `None`
    /// length); floats, simple values and tags by the callers too.
    fn peek(&self) -> Option<(Header, &'a [u8])> {
        let (header, received, rest) = head(self.rest)?;
        // Shortest form, so that one value has one encoding (RFC 8949 §4.2.1): the head
        // must be as long as the one `ciborium-ll`'s encoder writes for the header its
        // decoder read. A longer form of the same value (`18 17` for 23, `19 00 ff` for
        // 255) is refused; two heads of one length for one value are the same bytes.
        // A float is never read here: `encode` refuses it.
        let mut buf = [0u8; MAX_HEAD];
        if encode(header, &mut buf)?.len() != received {
            return None;
        }
        Some((header, rest))
    }

    /// Moves past the next head if `want` takes its header; otherwise reads nothing, so
    /// that the caller may try another type (a map key is an unsigned or a negative integer).
    fn take<T>(&mut self, want: impl FnOnce(Header) -> Option<T>) -> Option<T> {
        let (header, rest) = self.peek()?;
        let value = want(header)?;
        self.rest = rest;
        Some(value)
    }

    /// An unsigned integer.
    pub(crate) fn uint(&mut self) -> Option<u64> {
        self.take(|h| match h {
            Header::Positive(n) => Some(n),
            _ => None,
        })
    }

    /// A negative integer, as `n` for the value `-1 - n`.
    pub(crate) fn nint(&mut self) -> Option<u64> {
        self.take(|h| match h {
            Header::Negative(n) => Some(n),
            _ => None,
        })
    }

    /// A byte string: its content, a sub-slice of the input.
    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let (Header::Bytes(Some(len)), rest) = self.peek()? else {
            return None;
        };
        let (content, rest) = rest.split_at_checked(len)?;
        self.rest = rest;
        Some(content)
    }

    /// A text string (valid UTF-8): its content, a sub-slice of the input.
    pub(crate) fn text(&mut self) -> Option<&'a str> {
        let (Header::Text(Some(len)), rest) = self.peek()? else {
            return None;
        };
        let (content, rest) = rest.split_at_checked(len)?;
        let text = core::str::from_utf8(content).ok()?;
        self.rest = rest;
        Some(text)
    }

    /// The head of an array: its number of items.
    pub(crate) fn array(&mut self) -> Option<u64> {
        self.take(|h| match h {
            Header::Array(Some(n)) => u64::try_from(n).ok(),
            _ => None,
        })
    }

    /// The head of a map: its number of entries.
    pub(crate) fn map(&mut self) -> Option<u64> {
        self.take(|h| match h {
            Header::Map(Some(n)) => u64::try_from(n).ok(),
            _ => None,
        })
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
    let (header, _, rest) = head(bytes)?;
    Some(match header {
        Header::Positive(n) => (Item::Int(Ok(n)), rest),
        Header::Negative(n) => (Item::Int(Err(n)), rest),
        Header::Bytes(Some(len)) => {
            let (content, rest) = rest.split_at_checked(len)?;
            (Item::Bytes(content), rest)
        }
        Header::Text(Some(len)) => {
            let (content, rest) = rest.split_at_checked(len)?;
            (Item::Text(content), rest)
        }
        Header::Array(Some(n)) => (Item::Array(u64::try_from(n).ok()?), rest),
        Header::Map(Some(n)) => (Item::Map(u64::try_from(n).ok()?), rest),
        _ => (Item::Other, skip(bytes, MAX_DEPTH)?),
    })
}

/// Skips one whole item, nested items included, without reading anything into memory.
pub(crate) fn skip(bytes: &[u8], depth: usize) -> Option<&[u8]> {
    let depth = depth.checked_sub(1)?;
    let (header, _, mut rest) = head(bytes)?;
    match header {
        Header::Positive(_) | Header::Negative(_) | Header::Simple(_) | Header::Float(_) => {
            Some(rest)
        }
        Header::Bytes(Some(len)) | Header::Text(Some(len)) => rest.get(len..),
        Header::Array(Some(n)) | Header::Map(Some(n)) => {
            let items = if matches!(header, Header::Map(_)) {
                n.checked_mul(2)?
            } else {
                n
            };
            // Every item is at least one byte: a count beyond what is left is cut short,
            // and the loop below is bounded by the input, not by the count.
            if items > rest.len() {
                return None;
            }
            for _ in 0..items {
                rest = skip(rest, depth)?;
            }
            Some(rest)
        }
        Header::Tag(_) => skip(rest, depth),
        // Indefinite: items (for strings, definite chunks of the same type) up to a break.
        Header::Bytes(None) | Header::Text(None) | Header::Array(None) | Header::Map(None) => {
            loop {
                let (next, _, after) = head(rest)?;
                if next == Header::Break {
                    return Some(after);
                }
                let chunk_ok = match header {
                    Header::Bytes(_) => matches!(next, Header::Bytes(Some(_))),
                    Header::Text(_) => matches!(next, Header::Text(Some(_))),
                    _ => true,
                };
                if !chunk_ok {
                    return None;
                }
                rest = skip(rest, depth)?;
            }
        }
        Header::Break => None,
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

    /// A head in its shortest form, as `ciborium-ll` encodes it.
    fn head(&mut self, header: Header) -> &mut Self {
        let mut buf = [0u8; MAX_HEAD];
        // Every head fits in `MAX_HEAD` bytes, so `encode` always gives one.
        if let Some(head) = encode(header, &mut buf) {
            self.out.extend_from_slice(head);
        }
        self
    }

    pub(crate) fn uint(&mut self, n: u64) -> &mut Self {
        self.head(Header::Positive(n))
    }

    /// The integer `-1 - n`.
    pub(crate) fn nint(&mut self, n: u64) -> &mut Self {
        self.head(Header::Negative(n))
    }

    /// A tag; its content is what is written next.
    pub(crate) fn tag(&mut self, n: u64) -> &mut Self {
        self.head(Header::Tag(n))
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.head(Header::Bytes(Some(b.len())));
        self.out.extend_from_slice(b);
        self
    }

    pub(crate) fn text(&mut self, s: &str) -> &mut Self {
        self.head(Header::Text(Some(s.len())));
        self.out.extend_from_slice(s.as_bytes());
        self
    }

    pub(crate) fn array(&mut self, n: usize) -> &mut Self {
        self.head(Header::Array(Some(n)))
    }

    pub(crate) fn map(&mut self, n: usize) -> &mut Self {
        self.head(Header::Map(Some(n)))
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
