//! Reading arguments from C: every pointer checked for null and every length for size
//! before a slice is made, and every string for UTF-8.

use std::ffi::c_char;

use crate::licet_status;

/// The largest string or byte argument accepted (1 MiB), other than a token (whose cap is
/// the format's). A length beyond it is a caller's bug (an uninitialised or negative
/// `size_t`), refused before any byte is read rather than trusted.
pub const LICET_MAX_INPUT_LEN: usize = 1 << 20;

/// Borrows `len` bytes at `ptr`, refusing a null pointer and a length over `max`.
///
/// # Safety
/// When `ptr` is not null and `len <= max`, `ptr` must be valid for reads of `len` bytes
/// for `'a`, and not written during it (the contract the header states for every
/// pointer-and-length pair).
pub(crate) unsafe fn bytes<'a>(
    ptr: *const c_char,
    len: usize,
    max: usize,
    too_long: licet_status,
) -> Result<&'a [u8], licet_status> {
    if ptr.is_null() {
        return Err(licet_status::LICET_NULL_ARGUMENT);
    }
    if len > max {
        return Err(too_long);
    }
    // SAFETY: `ptr` is not null and, by this function's contract, valid for `len` bytes;
    // `len <= max <= LICET_MAX_INPUT_LEN` fits in `isize`, as `from_raw_parts` requires.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// As [`bytes`], and the bytes must be UTF-8.
///
/// # Safety
/// As [`bytes`].
pub(crate) unsafe fn text<'a>(
    ptr: *const c_char,
    len: usize,
    max: usize,
    too_long: licet_status,
) -> Result<&'a str, licet_status> {
    // SAFETY: the caller's contract is this function's.
    let b = unsafe { bytes(ptr, len, max, too_long)? };
    std::str::from_utf8(b).map_err(|_| licet_status::LICET_INVALID_UTF8)
}

/// Borrows the `T` at `ptr`, refusing null.
///
/// # Safety
/// When not null, `ptr` must point to a valid, aligned `T` that lives for `'a` and is not
/// written during it.
pub(crate) unsafe fn reference<'a, T>(ptr: *const T) -> Result<&'a T, licet_status> {
    // SAFETY: by this function's contract, a non-null `ptr` is a valid `T` for `'a`.
    unsafe { ptr.as_ref() }.ok_or(licet_status::LICET_NULL_ARGUMENT)
}

/// A string owned by Rust and kept with a NUL after it, so that C can use `data` as a C
/// string too (unless the text itself contains NUL; `len` is always right).
pub(crate) struct NulStr(Box<[u8]>);

impl NulStr {
    pub(crate) fn new(s: &str) -> NulStr {
        let mut v = Vec::with_capacity(s.len().saturating_add(1));
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        NulStr(v.into_boxed_slice())
    }

    pub(crate) fn as_ffi(&self) -> crate::licet_str {
        crate::licet_str {
            data: self.0.as_ptr().cast(),
            len: self.0.len().saturating_sub(1),
        }
    }
}
