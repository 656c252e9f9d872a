//! A reader for deterministically encoded CBOR (RFC 8949 §4.2.1): every head in its shortest
//! form, every length definite. It reads a token that is already in licet's one canonical
//! form without building a CBOR tree (`docs/benchmarks.md` has the measurement that asked
//! for it). It says only "yes, this" or "no": anything it refuses goes to the full parse
//! with `coset`, which says what is wrong.
//!
//! The heads are decoded by `ciborium-ll` (the low-level layer of ciborium, which `coset`
//! is built on); this module adds only the strictness the format asks for and hands out
//! string contents as sub-slices of the input.

use ciborium_ll::{Decoder, Encoder, Header};

/// The longest CBOR head: the initial byte and an 8-byte argument.
const MAX_HEAD: usize = 9;

/// Reads items off the front of a byte slice.
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

    /// The next head and what follows it, without moving past it, if the head is in its
    /// shortest form. Indefinite lengths are refused by the callers (a `None` length);
    /// reserved values, a head cut short and a length beyond `usize` by `ciborium-ll`.
    fn peek(&self) -> Option<(Header, &'a [u8])> {
        // A decoder for each head, over what is left: a `Decoder` owns its reader and can
        // move past string content only by copying it out, and the content is wanted here
        // as a sub-slice of the input, not copied, with no buffer sized by its length.
        let mut decoder = Decoder::from(self.rest);
        let header = decoder.pull().ok()?;
        let received = decoder.offset();
        // Shortest form, so that one value has one encoding (RFC 8949 §4.2.1): the head
        // must be as long as the one `ciborium-ll`'s encoder, which always writes the
        // shortest head, writes for the header its decoder read. A longer form of the same
        // value (`18 17` for 23, `19 00 ff` for 255) is refused; two heads of one length for
        // one value are the same bytes.
        let mut canonical = [0u8; MAX_HEAD];
        let mut unused: &mut [u8] = &mut canonical;
        Encoder::from(&mut unused).push(header).ok()?;
        if MAX_HEAD.checked_sub(unused.len())? != received {
            return None;
        }
        Some((header, self.rest.get(received..)?))
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

#[cfg(test)]
mod tests {
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

    /// A head of another type is left in place, for the next try; one taken is gone.
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
    }
}
