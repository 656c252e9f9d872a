//! Offline verification of licet tokens: licenses, machine activations and floating-seat
//! leases, signed by a software vendor and checked by the application against the vendor's
//! published `signature.pem`, with no network.
//!
//! A token is a tagged COSE_Sign1 (RFC 9052) whose payload is a CWT claims set (RFC 8392),
//! signed with Ed25519 or RSA-PSS (PS256). `docs/token-format.md` in the repository is the
//! normative specification.
//!
//! The crate is `#![no_std]` with `alloc`; the `std` feature (on by default) adds the system
//! clock and reading token files, and the `rsa` feature (on by default) PS256. Without
//! `rsa` (`default-features = false`, as on a microcontroller) an RSA key in
//! `signature.pem` is `KEYRING_INVALID` and a PS256 token `ALG_UNSUPPORTED`. The verifier never reads a clock, a file or the
//! environment on its own: `now` is an argument.
//!
//! ```
//! use licet_verifier::{Expectations, Keyring, Kind};
//!
//! // In an application: `include_str!("signature.pem")`.
//! let keyring = Keyring::from_pem(include_str!("../../test-vectors/keys/signature.pem"))?;
//! let token = include_str!("../../test-vectors/example-license.txt");
//!
//! let now = 1_800_000_000; // or Expectations::now_from_system_clock() with `std`
//! let verified = keyring.verify(token, &Expectations::new(Kind::License, "acme-studio-pro", now))?;
//! assert!(verified.claims.has_feature("export-pdf"));
//! assert!(!verified.claims.has_feature("render-farm"));
//!
//! // The same token a year after it expired:
//! let err = keyring
//!     .verify(token, &Expectations::new(Kind::License, "acme-studio-pro", 1_932_000_000))
//!     .unwrap_err();
//! assert_eq!(err.code(), "TOKEN_EXPIRED");
//! # Ok::<(), licet_verifier::Error>(())
//! ```
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod cbor;
pub mod claims;
pub mod endorsement;
pub mod envelope;
mod error;
pub mod keyring;
#[cfg(feature = "std")]
pub mod os;
pub mod receipt;
pub mod revocation;
mod signed;
pub mod text;
mod verify;

pub use claims::{Claims, Fingerprint, Id, Kind, KindClaims, LicenseType};
pub use endorsement::Endorsement;
pub use envelope::Algorithm;
pub use error::Error;
pub use keyring::{Keyring, Kid, PublicKey};
pub use receipt::Receipt;
pub use revocation::RevocationList;
pub use verify::{DEFAULT_LEEWAY, Expectations, Unverified, Verified, decode_unverified};

/// Lower-case hex of `bytes`, for showing ids, key ids and fingerprints.
pub fn hex(bytes: &[u8]) -> alloc::string::String {
    use core::fmt::Write;
    let mut s = alloc::string::String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses exactly `2 * N` hex digits (either case) into `N` bytes: ids, key ids and
/// fingerprints as [`hex`] writes them. `None` for any other length or character (a `+`
/// sign included, which `u8::from_str_radix` would let through).
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let digits = s.as_bytes();
    if digits.len() != N.checked_mul(2)? {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        // Both nibbles are below 16, so neither the shift nor the `or` can overflow.
        *byte = nibble(*hi)?.wrapping_shl(4) | nibble(*lo)?;
    }
    Some(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(c.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Some(c.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}

#[cfg(test)]
mod hex_tests {
    use super::{hex, unhex};

    #[test]
    fn unhex_reads_what_hex_writes_and_nothing_else() {
        let bytes = [0x00, 0x7f, 0xa5, 0xff];
        assert_eq!(unhex::<4>(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex::<4>("007FA5FF"), Some(bytes));
        assert_eq!(unhex::<4>("007fa5f"), None, "odd length");
        assert_eq!(unhex::<4>("007fa5ff00"), None, "too long");
        assert_eq!(unhex::<2>("+f0a"), None, "a sign is not a digit");
        assert_eq!(unhex::<2>("0g0a"), None);
        assert_eq!(unhex::<2>("é0"), None);
    }
}
