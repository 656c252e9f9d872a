//! A C ABI over `licet-verifier`: check a licet token offline from C, C++ or any language
//! with a C FFI. All logic stays in the verifier; this crate is a thin shell that checks
//! every argument, catches every panic ([`panic`]) and spells out who owns what.
//!
//! The header `include/licet.h` is generated from this file by cbindgen
//! (`cbindgen.toml`) and committed; CI regenerates it and fails on any difference.
//!
//! Ownership, in one place (the header repeats it per function):
//! - `licet_keyring_from_pem` gives a `licet_keyring *`: free it with `licet_keyring_free`.
//! - `licet_verify` gives a `licet_claims *`: free it with `licet_claims_free`.
//! - `licet_claims_to_json` and `licet_claims_metadata_json` give a `char *`: free it with
//!   `licet_string_free`.
//! - Every `licet_str` and `const uint8_t *` an accessor returns is borrowed from the
//!   claims and lives until `licet_claims_free`; every `const char *` of
//!   `licet_status_code` is static.
//! - `licet_fingerprint` writes into a `LICET_FINGERPRINT_LEN`-byte buffer the caller owns.
//! - Inputs are only borrowed for the call.
//!
//! Nothing here reads a clock, a file or the environment, except `licet_fingerprint`,
//! whose whole job is to read this machine's identity (through `licet-app`, the one copy of
//! that code) when the application calls it.

// The workspace forbids unsafe code; this crate cannot (see its Cargo.toml).
#![allow(unsafe_code)]
// C names (`licet_keyring`, `LICET_OK`), as the header shows them.
#![allow(non_camel_case_types)]

mod ffi;
mod json;
mod panic;

use std::ffi::{CString, c_char};

use licet_verifier::{Claims, Error, Expectations, Keyring, Kind, KindClaims, LicenseType};

pub use ffi::LICET_MAX_INPUT_LEN;
use ffi::{NulStr, reference, text};
use panic::boundary;

/// The default clock tolerance, in seconds, for `licet_expectations.leeway`.
pub const LICET_DEFAULT_LEEWAY: u64 = 60;
/// The largest token accepted, in bytes of its text or file form; a longer one is
/// `LICET_TOKEN_TOO_LARGE` without being read.
pub const LICET_MAX_TOKEN_LEN: usize = 16_640;
// Literals, because cbindgen writes only literal constants into the header; the build
// fails if they ever differ from the verifier's.
const _: () = assert!(LICET_DEFAULT_LEEWAY == licet_verifier::DEFAULT_LEEWAY);
const _: () = assert!(LICET_MAX_TOKEN_LEN == licet_verifier::text::MAX_TEXT_BYTES);
const _: () = assert!(LICET_ID_LEN == licet_verifier::claims::ID_LEN);
const _: () = assert!(LICET_FINGERPRINT_LEN == licet_verifier::claims::FINGERPRINT_LEN);

/// Length of an id (`licet_claims_id`, `licet_claims_license_id`), in bytes.
pub const LICET_ID_LEN: usize = 16;
/// Length of a machine fingerprint hash, in bytes.
pub const LICET_FINGERPRINT_LEN: usize = 32;
/// The longest product name, in bytes (as a token can carry): `licet_fingerprint` refuses
/// a longer one, and an empty one, with `LICET_INVALID_ARGUMENT`.
pub const LICET_MAX_PRODUCT_LEN: usize = 64;
const _: () = assert!(LICET_MAX_PRODUCT_LEN == licet_verifier::claims::limits::PRODUCT);

/// `licet_expectations.kind` and `licet_claims_kind`: a license token.
pub const LICET_KIND_LICENSE: u32 = 1;
/// A machine activation token.
pub const LICET_KIND_MACHINE: u32 = 2;
/// A floating-seat lease token.
pub const LICET_KIND_LEASE: u32 = 3;

/// `licet_claims_license_type`: not a license, or a license that states no type.
pub const LICET_LICENSE_TYPE_NONE: u32 = 0;
/// A time-limited evaluation.
pub const LICET_LICENSE_TYPE_TRIAL: u32 = 1;
/// Paid for a period.
pub const LICET_LICENSE_TYPE_SUBSCRIPTION: u32 = 2;
/// Bought once.
pub const LICET_LICENSE_TYPE_PERPETUAL: u32 = 3;

/// The result of a call. `LICET_OK` is 0; the verifier's refusals follow, each with the
/// same code string as Rust's `Error::code()` (`licet_status_code`); then this binding's
/// own errors.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum licet_status {
    /// Success.
    LICET_OK = 0,
    /// `TOKEN_MALFORMED`: not a well-formed licet token.
    LICET_TOKEN_MALFORMED = 1,
    /// `TOKEN_TOO_LARGE`: larger than any token; not decoded.
    LICET_TOKEN_TOO_LARGE = 2,
    /// `TOKEN_UNSUPPORTED_VERSION`: made for a newer format version.
    LICET_TOKEN_UNSUPPORTED_VERSION = 3,
    /// `KEY_UNKNOWN`: signed by a key not in the keyring.
    LICET_KEY_UNKNOWN = 4,
    /// `ALG_UNSUPPORTED`: an algorithm the format does not allow.
    LICET_ALG_UNSUPPORTED = 5,
    /// `ALG_MISMATCH`: the algorithm does not match the key's type.
    LICET_ALG_MISMATCH = 6,
    /// `SIGNATURE_INVALID`: the signature does not verify.
    LICET_SIGNATURE_INVALID = 7,
    /// `TOKEN_EXPIRED`: the expiry has passed.
    LICET_TOKEN_EXPIRED = 8,
    /// `TOKEN_NOT_YET_VALID`: not valid yet.
    LICET_TOKEN_NOT_YET_VALID = 9,
    /// `CLOCK_ROLLBACK`: the clock is behind a time already seen.
    LICET_CLOCK_ROLLBACK = 10,
    /// `WRONG_KIND`: another kind of token than the one asked for.
    LICET_WRONG_KIND = 11,
    /// `WRONG_PRODUCT`: a token for another product.
    LICET_WRONG_PRODUCT = 12,
    /// `FINGERPRINT_MISMATCH`: a machine token of another machine.
    LICET_FINGERPRINT_MISMATCH = 13,
    /// `KEYRING_INVALID`: the public key text could not be used.
    LICET_KEYRING_INVALID = 14,
    /// `IO_ERROR`: a file could not be read.
    LICET_IO_ERROR = 15,
    /// `NULL_ARGUMENT`: a required pointer argument is NULL.
    LICET_NULL_ARGUMENT = 100,
    /// `INVALID_UTF8`: a string argument is not UTF-8.
    LICET_INVALID_UTF8 = 101,
    /// `INVALID_ARGUMENT`: an argument is out of range (an unknown kind, a length over
    /// `LICET_MAX_INPUT_LEN`).
    LICET_INVALID_ARGUMENT = 102,
    /// `PANIC`: a bug inside the library was caught at the boundary; please report it.
    LICET_PANIC = 103,
    /// `UNKNOWN_ERROR`: a refusal this version of the binding has no status for (a newer
    /// verifier); treat it as a refusal.
    LICET_UNKNOWN_ERROR = 104,
    /// `FINGERPRINT_UNAVAILABLE`: `licet_fingerprint` found no machine id (the same code
    /// as `licet fingerprint`'s); setting `LICET_MACHINE_ID` to a stable value unique to
    /// the machine is the way out.
    LICET_FINGERPRINT_UNAVAILABLE = 105,
}

/// Every status with its code string: the one table both directions read.
const CODES: [(licet_status, &std::ffi::CStr); 22] = {
    use licet_status::*;
    [
        (LICET_OK, c"OK"),
        (LICET_TOKEN_MALFORMED, c"TOKEN_MALFORMED"),
        (LICET_TOKEN_TOO_LARGE, c"TOKEN_TOO_LARGE"),
        (
            LICET_TOKEN_UNSUPPORTED_VERSION,
            c"TOKEN_UNSUPPORTED_VERSION",
        ),
        (LICET_KEY_UNKNOWN, c"KEY_UNKNOWN"),
        (LICET_ALG_UNSUPPORTED, c"ALG_UNSUPPORTED"),
        (LICET_ALG_MISMATCH, c"ALG_MISMATCH"),
        (LICET_SIGNATURE_INVALID, c"SIGNATURE_INVALID"),
        (LICET_TOKEN_EXPIRED, c"TOKEN_EXPIRED"),
        (LICET_TOKEN_NOT_YET_VALID, c"TOKEN_NOT_YET_VALID"),
        (LICET_CLOCK_ROLLBACK, c"CLOCK_ROLLBACK"),
        (LICET_WRONG_KIND, c"WRONG_KIND"),
        (LICET_WRONG_PRODUCT, c"WRONG_PRODUCT"),
        (LICET_FINGERPRINT_MISMATCH, c"FINGERPRINT_MISMATCH"),
        (LICET_KEYRING_INVALID, c"KEYRING_INVALID"),
        (LICET_IO_ERROR, c"IO_ERROR"),
        (LICET_NULL_ARGUMENT, c"NULL_ARGUMENT"),
        (LICET_INVALID_UTF8, c"INVALID_UTF8"),
        (LICET_INVALID_ARGUMENT, c"INVALID_ARGUMENT"),
        (LICET_PANIC, c"PANIC"),
        (LICET_UNKNOWN_ERROR, c"UNKNOWN_ERROR"),
        (LICET_FINGERPRINT_UNAVAILABLE, c"FINGERPRINT_UNAVAILABLE"),
    ]
};

impl From<&Error> for licet_status {
    fn from(e: &Error) -> licet_status {
        // Through the code string, so that a variant added to the verifier's
        // non-exhaustive enum maps by its code once the table has it.
        CODES
            .iter()
            .find(|(_, code)| code.to_bytes() == e.code().as_bytes())
            .map_or(licet_status::LICET_UNKNOWN_ERROR, |(s, _)| *s)
    }
}

/// A string borrowed from Rust: `len` bytes of UTF-8 at `data`, followed by a NUL byte (so
/// `data` is also a C string, unless the text contains NUL itself). An absent value is
/// `{NULL, 0}`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct licet_str {
    /// The bytes, or NULL when absent.
    pub data: *const c_char,
    /// Their length, without the NUL.
    pub len: usize,
}

const NO_STR: licet_str = licet_str {
    data: std::ptr::null(),
    len: 0,
};

/// What the application expects of a token. Zero it, then set every field.
#[repr(C)]
#[derive(Debug)]
pub struct licet_expectations {
    /// `LICET_KIND_LICENSE`, `LICET_KIND_MACHINE` or `LICET_KIND_LEASE`.
    pub kind: u32,
    /// The product this application is (UTF-8, `product_len` bytes; not NUL-terminated
    /// necessarily). Required.
    pub product: *const c_char,
    /// Length of `product`, in bytes.
    pub product_len: usize,
    /// NULL, or this machine's `LICET_FINGERPRINT_LEN`-byte fingerprint hash (from
    /// `licet_fingerprint`), which a machine token must be bound to. Set it for machine
    /// tokens.
    pub fingerprint: *const u8,
    /// The current time, in seconds since the Unix epoch. The library never reads a clock.
    pub now: u64,
    /// Clock tolerance, in seconds (`LICET_DEFAULT_LEEWAY` unless you have a reason).
    pub leeway: u64,
    /// NULL, or the latest time this application has seen (it keeps it, for example in
    /// its settings); a `now` before it beyond the leeway is `LICET_CLOCK_ROLLBACK`.
    pub last_seen: *const u64,
}

/// A keyring: the vendor's public keys (`signature.pem`). Parse it once and reuse it;
/// it is immutable, so several threads may verify with it at once.
pub struct licet_keyring {
    inner: Keyring,
}

// What the header promises of `licet_keyring` ("several threads may verify with it at
// once") holds only while `Keyring` is `Send + Sync`; this stops the build if it stops.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Keyring>();
};

/// The claims of a verified token. Owned by the caller; free with `licet_claims_free`.
pub struct licet_claims {
    claims: Claims,
    product: NulStr,
    customer: Option<NulStr>,
    issuer: Option<NulStr>,
    client_id: Option<NulStr>,
    features: Vec<NulStr>,
}

impl licet_claims {
    fn new(claims: Claims) -> licet_claims {
        let client_id = match &claims.kind {
            KindClaims::Lease { client_id, .. } => client_id.as_deref().map(NulStr::new),
            _ => None,
        };
        licet_claims {
            product: NulStr::new(&claims.product),
            customer: claims.customer.as_deref().map(NulStr::new),
            issuer: claims.issuer.as_deref().map(NulStr::new),
            features: claims.features.iter().map(|f| NulStr::new(f)).collect(),
            client_id,
            claims,
        }
    }
}

/// The stable code string of a status (`"TOKEN_EXPIRED"`, `"OK"`, ...): the same strings
/// as Rust's `Error::code()`, the server's JSON and the CLI. Static: never free it.
/// `"UNKNOWN_STATUS"` for a number that is no status.
#[unsafe(no_mangle)]
pub extern "C" fn licet_status_code(status: u32) -> *const c_char {
    boundary(c"PANIC".as_ptr(), || {
        CODES
            .iter()
            .find(|(s, _)| *s as u32 == status)
            .map_or(c"UNKNOWN_STATUS".as_ptr(), |(_, code)| code.as_ptr())
    })
}

/// Parses a keyring from the text of `signature.pem` (`pem_len` bytes of UTF-8, at most
/// `LICET_MAX_INPUT_LEN`). On `LICET_OK`, `*keyring_out` is a new keyring that the caller
/// owns and frees with `licet_keyring_free`; on any other status it is set to NULL.
///
/// # Safety
/// `pem` must be readable for `pem_len` bytes; `keyring_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_keyring_from_pem(
    pem: *const c_char,
    pem_len: usize,
    keyring_out: *mut *mut licet_keyring,
) -> licet_status {
    boundary(licet_status::LICET_PANIC, || {
        if keyring_out.is_null() {
            return licet_status::LICET_NULL_ARGUMENT;
        }
        // SAFETY: checked non-null above; the caller guarantees it is writable.
        unsafe { keyring_out.write(std::ptr::null_mut()) };
        // SAFETY: the caller guarantees `pem` is readable for `pem_len` bytes.
        let pem = unsafe {
            text(
                pem,
                pem_len,
                LICET_MAX_INPUT_LEN,
                licet_status::LICET_INVALID_ARGUMENT,
            )
        };
        let pem = match pem {
            Ok(pem) => pem,
            Err(status) => return status,
        };
        match Keyring::from_pem(pem) {
            Ok(inner) => {
                let keyring = Box::into_raw(Box::new(licet_keyring { inner }));
                // SAFETY: checked non-null above; the caller guarantees it is writable.
                unsafe { keyring_out.write(keyring) };
                licet_status::LICET_OK
            }
            Err(e) => licet_status::from(&e),
        }
    })
}

/// Frees a keyring from `licet_keyring_from_pem`. NULL is allowed and does nothing.
///
/// # Safety
/// `keyring` must be NULL or a keyring from `licet_keyring_from_pem` not freed yet, and
/// no other thread may be using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_keyring_free(keyring: *mut licet_keyring) {
    boundary((), || {
        if !keyring.is_null() {
            // SAFETY: by the contract, `keyring` came from `Box::into_raw` in
            // `licet_keyring_from_pem` and is freed only once.
            drop(unsafe { Box::from_raw(keyring) });
        }
    });
}

/// Verifies a token in its text form (`LIC-...`) or file form (`-----BEGIN LICET ...`),
/// `token_len` bytes, against `expect`. The library reads no clock, file or environment:
/// `expect->now` is the time.
///
/// On `LICET_OK` the token is valid and, when `claims_out` is not NULL, `*claims_out` is
/// its claims, which the caller owns and frees with `licet_claims_free`. On any other
/// status the token must not be trusted and `*claims_out` (if given) is set to NULL. A
/// token longer than `LICET_MAX_TOKEN_LEN` is `LICET_TOKEN_TOO_LARGE` without being read.
///
/// # Safety
/// `keyring` must be a live keyring; `token` readable for `token_len` bytes; `expect` a
/// valid `licet_expectations` whose pointers follow its field docs; `claims_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_verify(
    keyring: *const licet_keyring,
    token: *const c_char,
    token_len: usize,
    expect: *const licet_expectations,
    claims_out: *mut *mut licet_claims,
) -> licet_status {
    boundary(licet_status::LICET_PANIC, || {
        if !claims_out.is_null() {
            // SAFETY: not null; the caller guarantees it is writable.
            unsafe { claims_out.write(std::ptr::null_mut()) };
        }
        // SAFETY: the caller guarantees each pointer per this function's contract.
        let verified = unsafe { verify(keyring, token, token_len, expect) };
        match verified {
            Ok(claims) => {
                if !claims_out.is_null() {
                    let claims = Box::into_raw(Box::new(licet_claims::new(claims)));
                    // SAFETY: not null; the caller guarantees it is writable.
                    unsafe { claims_out.write(claims) };
                }
                licet_status::LICET_OK
            }
            Err(status) => status,
        }
    })
}

/// The body of `licet_verify`, with `?` for the argument checks.
///
/// # Safety
/// As `licet_verify`.
unsafe fn verify(
    keyring: *const licet_keyring,
    token: *const c_char,
    token_len: usize,
    expect: *const licet_expectations,
) -> Result<Claims, licet_status> {
    // SAFETY: by the contract, a non-null `keyring` is live and only read during the call.
    let keyring = unsafe { reference(keyring)? };
    // SAFETY: by the contract, a non-null `expect` is a valid `licet_expectations`.
    let e = unsafe { reference(expect)? };
    // Too long is refused with the verifier's own code, as Rust's `verify` would.
    // SAFETY: by the contract, `token` is readable for `token_len` bytes.
    let token = unsafe {
        text(
            token,
            token_len,
            LICET_MAX_TOKEN_LEN,
            licet_status::LICET_TOKEN_TOO_LARGE,
        )?
    };
    let kind = match e.kind {
        LICET_KIND_LICENSE => Kind::License,
        LICET_KIND_MACHINE => Kind::Machine,
        LICET_KIND_LEASE => Kind::Lease,
        _ => return Err(licet_status::LICET_INVALID_ARGUMENT),
    };
    // SAFETY: by `licet_expectations`' field docs, `product` is readable for `product_len`.
    let product = unsafe {
        text(
            e.product,
            e.product_len,
            LICET_MAX_INPUT_LEN,
            licet_status::LICET_INVALID_ARGUMENT,
        )?
    };
    let mut expect = Expectations::new(kind, product, e.now).leeway(e.leeway);
    if !e.fingerprint.is_null() {
        // SAFETY: by the field docs, a non-null `fingerprint` points to
        // LICET_FINGERPRINT_LEN readable bytes; `[u8; N]` has alignment 1.
        let fp = unsafe { e.fingerprint.cast::<[u8; LICET_FINGERPRINT_LEN]>().read() };
        expect = expect.fingerprint(fp);
    }
    if !e.last_seen.is_null() {
        // SAFETY: by the field docs, a non-null `last_seen` points to a valid `uint64_t`;
        // `read_unaligned` needs no alignment from the caller.
        expect = expect.last_seen(unsafe { e.last_seen.read_unaligned() });
    }
    keyring
        .inner
        .verify(token, &expect)
        .map(|v| v.claims)
        .map_err(|e| licet_status::from(&e))
}

/// Writes this machine's fingerprint hash for `product` (`product_len` bytes of UTF-8, 1
/// to `LICET_MAX_PRODUCT_LEN`) to `fingerprint_out`, `LICET_FINGERPRINT_LEN` bytes owned by
/// the caller; pass them as `licet_expectations.fingerprint` to check a machine token, or
/// print them as 64 lower-case hex digits, as `licet fingerprint --product P` does, to send
/// them for activation. Each product sees an unrelated value for the same machine, and the
/// raw machine id never leaves the library.
///
/// This is the one call that reads the machine: `LICET_MACHINE_ID` from the environment
/// when set, else the operating system's machine id (`/etc/machine-id` on Linux,
/// `IOPlatformUUID` on macOS, `MachineGuid` on Windows). `LICET_FINGERPRINT_UNAVAILABLE`
/// when there is none; `LICET_NULL_ARGUMENT`, `LICET_INVALID_UTF8` or
/// `LICET_INVALID_ARGUMENT` (empty or too long) for a bad product. On any status but
/// `LICET_OK` a non-NULL `fingerprint_out` is zeroed.
///
/// # Safety
/// `product` must be readable for `product_len` bytes (when not NULL and `product_len` is
/// at most `LICET_MAX_PRODUCT_LEN`); `fingerprint_out` NULL or writable for
/// `LICET_FINGERPRINT_LEN` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_fingerprint(
    product: *const c_char,
    product_len: usize,
    fingerprint_out: *mut u8,
) -> licet_status {
    boundary(licet_status::LICET_PANIC, || {
        if fingerprint_out.is_null() {
            return licet_status::LICET_NULL_ARGUMENT;
        }
        let out = fingerprint_out.cast::<[u8; LICET_FINGERPRINT_LEN]>();
        // SAFETY: not null; the caller guarantees LICET_FINGERPRINT_LEN writable bytes, and
        // `[u8; N]` has alignment 1.
        unsafe { out.write([0; LICET_FINGERPRINT_LEN]) };
        // SAFETY: the caller guarantees `product` is readable for `product_len` bytes.
        let product = unsafe {
            text(
                product,
                product_len,
                LICET_MAX_PRODUCT_LEN,
                licet_status::LICET_INVALID_ARGUMENT,
            )
        };
        let product = match product {
            Ok("") => return licet_status::LICET_INVALID_ARGUMENT,
            Ok(product) => product,
            Err(status) => return status,
        };
        match licet_app::fingerprint(product) {
            Ok(fp) => {
                // SAFETY: as the write above.
                unsafe { out.write(fp) };
                licet_status::LICET_OK
            }
            Err(_) => licet_status::LICET_FINGERPRINT_UNAVAILABLE,
        }
    })
}

/// Frees claims from `licet_verify`, and with them every string and id an accessor
/// returned. NULL is allowed and does nothing.
///
/// # Safety
/// `claims` must be NULL or claims from `licet_verify` not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_free(claims: *mut licet_claims) {
    boundary((), || {
        if !claims.is_null() {
            // SAFETY: by the contract, from `Box::into_raw` in `licet_verify`, freed once.
            drop(unsafe { Box::from_raw(claims) });
        }
    });
}

/// Runs an accessor on claims that may be NULL: `absent` for NULL or a panic.
///
/// # Safety
/// `claims` must be NULL or live claims from `licet_verify`.
unsafe fn with_claims<T: Copy>(
    claims: *const licet_claims,
    absent: T,
    f: impl FnOnce(&licet_claims) -> T,
) -> T {
    boundary(absent, || {
        // SAFETY: by the contract, non-null `claims` are live claims.
        match unsafe { reference(claims) } {
            Ok(c) => f(c),
            Err(_) => absent,
        }
    })
}

/// The token's kind (`LICET_KIND_*`); 0 for NULL claims.
///
/// # Safety
/// `claims` must be NULL or live claims from `licet_verify` (so for every accessor below).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_kind(claims: *const licet_claims) -> u32 {
    // SAFETY: this function's contract.
    unsafe {
        with_claims(claims, 0, |c| match c.claims.kind() {
            Kind::License => LICET_KIND_LICENSE,
            Kind::Machine => LICET_KIND_MACHINE,
            Kind::Lease => LICET_KIND_LEASE,
        })
    }
}

/// The product (`aud`). Borrowed from `claims`.
///
/// # Safety
/// As `licet_claims_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_product(claims: *const licet_claims) -> licet_str {
    // SAFETY: this function's contract.
    unsafe { with_claims(claims, NO_STR, |c| c.product.as_ffi()) }
}

/// The customer, or `{NULL, 0}` when the token names none. Borrowed from `claims`.
///
/// # Safety
/// As `licet_claims_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_customer(claims: *const licet_claims) -> licet_str {
    // SAFETY: this function's contract.
    unsafe {
        with_claims(claims, NO_STR, |c| {
            c.customer.as_ref().map_or(NO_STR, NulStr::as_ffi)
        })
    }
}

/// The issuer, or `{NULL, 0}` when the token names none. Borrowed from `claims`.
///
/// # Safety
/// As `licet_claims_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_issuer(claims: *const licet_claims) -> licet_str {
    // SAFETY: this function's contract.
    unsafe {
        with_claims(claims, NO_STR, |c| {
            c.issuer.as_ref().map_or(NO_STR, NulStr::as_ffi)
        })
    }
}

/// A lease's client id, or `{NULL, 0}` (other kinds, or none stated). Borrowed.
///
/// # Safety
/// As `licet_claims_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_client_id(claims: *const licet_claims) -> licet_str {
    // SAFETY: this function's contract.
    unsafe {
        with_claims(claims, NO_STR, |c| {
            c.client_id.as_ref().map_or(NO_STR, NulStr::as_ffi)
        })
    }
}

/// The token's id: `LICET_ID_LEN` bytes borrowed from `claims`; NULL for NULL claims.
///
/// # Safety
/// As `licet_claims_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_id(claims: *const licet_claims) -> *const u8 {
    // SAFETY: this function's contract.
    unsafe { with_claims(claims, std::ptr::null(), |c| c.claims.id.as_ptr()) }
}

/// The license these claims belong to (`LICET_ID_LEN` bytes, borrowed): the token's own id
/// for a license token. NULL for NULL claims.
///
/// # Safety
/// As `licet_claims_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_license_id(claims: *const licet_claims) -> *const u8 {
    // SAFETY: this function's contract.
    unsafe { with_claims(claims, std::ptr::null(), |c| c.claims.license_id().as_ptr()) }
}

/// A machine token's fingerprint hash (`LICET_FINGERPRINT_LEN` bytes, borrowed); NULL
/// for other kinds.
///
/// # Safety
/// As `licet_claims_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_fingerprint(claims: *const licet_claims) -> *const u8 {
    // SAFETY: this function's contract.
    unsafe {
        with_claims(claims, std::ptr::null(), |c| match &c.claims.kind {
            KindClaims::Machine { fingerprint, .. } => fingerprint.as_ptr(),
            _ => std::ptr::null(),
        })
    }
}

/// When the token was issued (`iat`), in seconds since the Unix epoch; 0 for NULL claims.
///
/// # Safety
/// As `licet_claims_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_issued_at(claims: *const licet_claims) -> u64 {
    // SAFETY: this function's contract.
    unsafe { with_claims(claims, 0, |c| c.claims.issued_at) }
}

/// Writes an optional number to `out`: true when present (and `out` not NULL).
///
/// # Safety
/// `claims` as `licet_claims_kind`; `out` NULL or writable.
unsafe fn optional(
    claims: *const licet_claims,
    out: *mut u64,
    field: impl FnOnce(&Claims) -> Option<u64>,
) -> bool {
    // SAFETY: the caller's contract.
    let value = unsafe { with_claims(claims, None, |c| field(&c.claims)) };
    match (value, out.is_null()) {
        (Some(v), false) => {
            // SAFETY: not null; the caller guarantees it is writable. Unaligned allowed.
            unsafe { out.write_unaligned(v) };
            true
        }
        _ => false,
    }
}

/// The expiry (`exp`): true and `*out` set when the token has one; false when it never
/// expires (or `claims` or `out` is NULL).
///
/// # Safety
/// `claims` as `licet_claims_kind`; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_expires_at(
    claims: *const licet_claims,
    out: *mut u64,
) -> bool {
    // SAFETY: this function's contract.
    unsafe { optional(claims, out, |c| c.expires_at) }
}

/// The start of validity (`nbf`): true and `*out` set when the token has one.
///
/// # Safety
/// As `licet_claims_expires_at`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_not_before(
    claims: *const licet_claims,
    out: *mut u64,
) -> bool {
    // SAFETY: this function's contract.
    unsafe { optional(claims, out, |c| c.not_before) }
}

/// A license's machine limit: true and `*out` set when it states one.
///
/// # Safety
/// As `licet_claims_expires_at`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_max_machines(
    claims: *const licet_claims,
    out: *mut u64,
) -> bool {
    // SAFETY: this function's contract.
    unsafe {
        optional(claims, out, |c| match c.kind {
            KindClaims::License { max_machines, .. } => max_machines,
            _ => None,
        })
    }
}

/// A license's floating-seat limit: true and `*out` set when it states one.
///
/// # Safety
/// As `licet_claims_expires_at`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_max_leases(
    claims: *const licet_claims,
    out: *mut u64,
) -> bool {
    // SAFETY: this function's contract.
    unsafe {
        optional(claims, out, |c| match c.kind {
            KindClaims::License { max_leases, .. } => max_leases,
            _ => None,
        })
    }
}

/// A license's type (`LICET_LICENSE_TYPE_*`); `LICET_LICENSE_TYPE_NONE` when it states
/// none, for other kinds and for NULL claims.
///
/// # Safety
/// As `licet_claims_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_license_type(claims: *const licet_claims) -> u32 {
    // SAFETY: this function's contract.
    unsafe {
        with_claims(claims, LICET_LICENSE_TYPE_NONE, |c| match c.claims.kind {
            KindClaims::License {
                license_type: Some(t),
                ..
            } => match t {
                LicenseType::Trial => LICET_LICENSE_TYPE_TRIAL,
                LicenseType::Subscription => LICET_LICENSE_TYPE_SUBSCRIPTION,
                LicenseType::Perpetual => LICET_LICENSE_TYPE_PERPETUAL,
            },
            _ => LICET_LICENSE_TYPE_NONE,
        })
    }
}

/// How many features the token enables (sorted, no duplicates).
///
/// # Safety
/// As `licet_claims_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_features_len(claims: *const licet_claims) -> usize {
    // SAFETY: this function's contract.
    unsafe { with_claims(claims, 0, |c| c.features.len()) }
}

/// Feature number `index` (from 0), borrowed from `claims`; `{NULL, 0}` when `index` is
/// not below `licet_claims_features_len`.
///
/// # Safety
/// As `licet_claims_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_feature(
    claims: *const licet_claims,
    index: usize,
) -> licet_str {
    // SAFETY: this function's contract.
    unsafe {
        with_claims(claims, NO_STR, |c| {
            c.features.get(index).map_or(NO_STR, NulStr::as_ffi)
        })
    }
}

/// Whether the token enables `feature` (`feature_len` bytes of UTF-8). False for NULL
/// claims or feature, or invalid UTF-8.
///
/// # Safety
/// As `licet_claims_kind`; `feature` readable for `feature_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_has_feature(
    claims: *const licet_claims,
    feature: *const c_char,
    feature_len: usize,
) -> bool {
    boundary(false, || {
        // SAFETY: the caller guarantees `feature` is readable for `feature_len` bytes.
        let feature = unsafe {
            text(
                feature,
                feature_len,
                LICET_MAX_INPUT_LEN,
                licet_status::LICET_INVALID_ARGUMENT,
            )
        };
        let Ok(feature) = feature else { return false };
        // SAFETY: this function's contract.
        unsafe { with_claims(claims, false, |c| c.claims.has_feature(feature)) }
    })
}

/// Writes a new NUL-terminated string to `*out`, owned by the caller.
///
/// # Safety
/// `claims` as `licet_claims_kind`; `out` NULL or writable.
unsafe fn write_json(
    claims: *const licet_claims,
    out: *mut *mut c_char,
    make: impl FnOnce(&Claims) -> String,
) -> licet_status {
    boundary(licet_status::LICET_PANIC, || {
        if out.is_null() {
            return licet_status::LICET_NULL_ARGUMENT;
        }
        // SAFETY: not null; the caller guarantees it is writable.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: the caller's contract: NULL or live claims.
        let Ok(c) = (unsafe { reference(claims) }) else {
            return licet_status::LICET_NULL_ARGUMENT;
        };
        // JSON escapes NUL as \u0000, so the text never contains one.
        let Ok(s) = CString::new(make(&c.claims)) else {
            return licet_status::LICET_PANIC;
        };
        // SAFETY: not null; the caller guarantees it is writable.
        unsafe { out.write(s.into_raw()) };
        licet_status::LICET_OK
    })
}

/// The claims as one JSON object, in the shape of `docs/token-format.md` §7.3 (keys
/// sorted, no white space; ids and fingerprints in lower-case hex, times in seconds). On
/// `LICET_OK`, `*json_out` is a new string the caller frees with `licet_string_free`.
///
/// # Safety
/// `claims` NULL or live claims; `json_out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_to_json(
    claims: *const licet_claims,
    json_out: *mut *mut c_char,
) -> licet_status {
    // SAFETY: this function's contract.
    unsafe { write_json(claims, json_out, json::claims) }
}

/// The metadata as a JSON object of strings (`{}` when none). On `LICET_OK`, `*json_out`
/// is a new string the caller frees with `licet_string_free`.
///
/// # Safety
/// As `licet_claims_to_json`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_claims_metadata_json(
    claims: *const licet_claims,
    json_out: *mut *mut c_char,
) -> licet_status {
    // SAFETY: this function's contract.
    unsafe { write_json(claims, json_out, json::metadata) }
}

/// Frees a string from `licet_claims_to_json` or `licet_claims_metadata_json`. NULL is
/// allowed and does nothing.
///
/// # Safety
/// `s` must be NULL or such a string, not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_string_free(s: *mut c_char) {
    boundary((), || {
        if !s.is_null() {
            // SAFETY: by the contract, from `CString::into_raw` in `write_json`, freed once.
            drop(unsafe { CString::from_raw(s) });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verifier_code_maps_to_a_status_with_the_same_string() {
        let errors = [
            Error::KeyUnknown,
            Error::AlgUnsupported,
            Error::AlgMismatch,
            Error::SignatureInvalid,
            Error::FingerprintMismatch,
            Error::Expired {
                expired_at: 1,
                now: 2,
            },
            Error::NotYetValid {
                valid_from: 2,
                now: 1,
            },
            Error::ClockRollback { now: 1, seen: 2 },
            Error::TooLarge { len: 2, max: 1 },
            Error::UnsupportedVersion { version: 9 },
            Error::KeyringInvalid { reason: "x".into() },
            Error::Io { reason: "x".into() },
            Error::WrongKind {
                expected: Kind::License,
                found: Kind::Lease,
            },
            Error::WrongProduct {
                expected: "a".into(),
                found: "b".into(),
            },
        ];
        for e in &errors {
            let status = licet_status::from(e);
            assert_ne!(status, licet_status::LICET_UNKNOWN_ERROR, "{}", e.code());
            // SAFETY: licet_status_code returns a static C string.
            let code = unsafe { std::ffi::CStr::from_ptr(licet_status_code(status as u32)) };
            assert_eq!(code.to_str(), Ok(e.code()));
        }
    }

    #[test]
    fn every_status_has_one_distinct_code() {
        let mut seen = std::collections::BTreeSet::new();
        for (status, code) in CODES {
            assert!(seen.insert(code), "{code:?} twice");
            let back = CODES.iter().find(|(s, _)| *s as u32 == status as u32);
            assert_eq!(back.map(|(_, c)| *c), Some(code));
        }
    }
}
