//! A reader for deterministically encoded CBOR (RFC 8949 §4.2.1): every head in its shortest
//! form, every length definite. It reads a token that is already in licet's one canonical
//! form without building a CBOR tree (`docs/benchmarks.md` has the measurement that asked
//! for it). It says only "yes, this" or "no": anything it refuses goes to the full parse
//! with `coset`, which says what is wrong.

/// Major types (RFC 8949 §3.1).
const UINT: u8 = 0;
const NINT: u8 = 1;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;

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

    /// Reads a head of major type `major` and returns its argument, if the head is in its
    /// shortest form. Indefinite lengths, reserved values and longer forms are refused.
    fn head(&mut self, major: u8) -> Option<u64> {
        let (&initial, rest) = self.rest.split_first()?;
        if initial >> 5 != major {
            return None;
        }
        // Each longer head only for an argument too big for the shorter ones: the shortest
        // form, so that one value has one encoding.
        let (argument, least, rest) = match initial & 0x1f {
            info @ 0..=23 => (u64::from(info), 0, rest),
            24 => {
                let (&n, rest) = rest.split_first()?;
                (u64::from(n), 24, rest)
            }
            25 => {
                let (n, rest) = rest.split_first_chunk::<2>()?;
                (u64::from(u16::from_be_bytes(*n)), 0x100, rest)
            }
            26 => {
                let (n, rest) = rest.split_first_chunk::<4>()?;
                (u64::from(u32::from_be_bytes(*n)), 0x1_0000, rest)
            }
            27 => {
                let (n, rest) = rest.split_first_chunk::<8>()?;
                (u64::from_be_bytes(*n), 0x1_0000_0000, rest)
            }
            // 28 to 30 are reserved, 31 is an indefinite length.
            _ => return None,
        };
        if argument < least {
            return None;
        }
        self.rest = rest;
        Some(argument)
    }

    /// An unsigned integer.
    pub(crate) fn uint(&mut self) -> Option<u64> {
        self.head(UINT)
    }

    /// A negative integer, as `n` for the value `-1 - n`.
    pub(crate) fn nint(&mut self) -> Option<u64> {
        self.head(NINT)
    }

    fn content(&mut self, major: u8) -> Option<&'a [u8]> {
        let len = usize::try_from(self.head(major)?).ok()?;
        let content = self.rest.get(..len)?;
        self.rest = self.rest.get(len..)?;
        Some(content)
    }

    /// A byte string.
    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        self.content(BYTES)
    }

    /// A text string (valid UTF-8).
    pub(crate) fn text(&mut self) -> Option<&'a str> {
        core::str::from_utf8(self.content(TEXT)?).ok()
    }

    /// The head of an array: its number of items.
    pub(crate) fn array(&mut self) -> Option<u64> {
        self.head(ARRAY)
    }

    /// The head of a map: its number of entries.
    pub(crate) fn map(&mut self) -> Option<u64> {
        self.head(MAP)
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
    }

    #[test]
    fn definite_lengths_and_types() {
        let mut r = Reader::new(&[0x62, b'h', b'i', 0x41, 7, 0x9f, 0xbf]);
        assert_eq!(r.text(), Some("hi"));
        assert_eq!(r.bytes(), Some(&[7u8][..]));
        assert_eq!(r.array(), None);
        assert_eq!(Reader::new(&[0xbf]).map(), None);
        assert_eq!(Reader::new(&[0x5f, 0x41, 7, 0xff]).bytes(), None);
        assert_eq!(Reader::new(&[0x62, 0xff, 0xfe]).text(), None);
        assert_eq!(Reader::new(&[0x43, 1]).bytes(), None);
        assert_eq!(Reader::new(&[0x01]).nint(), None);
    }
}
