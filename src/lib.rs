//! The issuing side of licet: turns claims into signed license, machine and lease tokens.
//!
//! This is the one place tokens are made; the CLI and the server both call it. The claim
//! types and their encoding come from `licet-verifier`, so what is issued here is exactly
//! what the verifier reads.
//!
//! ```
//! use licet::{Claims, KindClaims, LicenseType, Token};
//! use licet_keys::SigningKey;
//! use licet_verifier::{Expectations, Keyring, Kind};
//!
//! let key = SigningKey::generate_ed25519()?;
//! let claims = Claims {
//!     issuer: None,
//!     customer: Some("cus_8842".into()),
//!     product: "acme-studio-pro".into(),
//!     expires_at: Some(1_900_000_000),
//!     not_before: None,
//!     issued_at: 1_790_000_000,
//!     id: licet::new_id()?,
//!     features: vec!["export-pdf".into(), "cloud-sync".into()],
//!     metadata: Default::default(),
//!     kind: KindClaims::License {
//!         license_type: Some(LicenseType::Subscription),
//!         max_machines: Some(3),
//!         max_leases: None,
//!     },
//! };
//! let token: Token = licet::issue(claims, &key)?;
//! println!("{}", token.text()); // LIC-…
//!
//! let keyring = Keyring::from_pem(&key.public_pem())?;
//! let ok = keyring.verify(&token.text(), &Expectations::new(Kind::License, "acme-studio-pro", 1_800_000_000))?;
//! assert!(ok.claims.has_feature("cloud-sync"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

pub use licet_keys::SigningKey;
use licet_verifier::envelope;
pub use licet_verifier::{Claims, Fingerprint, Id, Kind, KindClaims, LicenseType};
use rand::TryCryptoRng;

pub mod builder;
pub mod json;
pub mod offline;
pub mod policy;

pub use builder::Builder;

/// Why a token could not be issued, or an offline activation step failed.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The claims break a rule of the format (a limit, a missing field).
    Claims(licet_verifier::Error),
    /// The key failed to sign, or randomness was not available.
    Key(licet_keys::Error),
    /// A token presented for checking (a license in a request, a response) is not valid.
    License(licet_verifier::Error),
    /// An activation request file is not one licet can read.
    Request {
        /// What is wrong with it.
        reason: String,
    },
    /// An activation request was changed after it was made.
    RequestTampered,
    /// This machine's fingerprint cannot be read.
    Fingerprint(licet_app::Unavailable),
    /// A policy's terms (or a license's overrides of them) are out of range or contradict
    /// each other (`docs/policies.md`).
    Policy {
        /// The field to fix, as the API and policy files name it.
        field: &'static str,
        /// What it must be.
        reason: String,
    },
    /// A file could not be read or written.
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's message.
        message: String,
    },
}

impl Error {
    /// The stable code of this error (the underlying crate's code).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Claims(e) | Error::License(e) => e.code(),
            Error::Key(e) => e.code(),
            Error::Request { .. } => "REQUEST_INVALID",
            Error::RequestTampered => "REQUEST_TAMPERED",
            Error::Fingerprint(_) => "FINGERPRINT_UNAVAILABLE",
            Error::Policy { .. } => "POLICY_INVALID",
            Error::Io { .. } => "IO_ERROR",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The verifier's advice for a malformed token ("copy the whole token again")
            // is wrong for claims being issued: say what to change instead.
            Error::Claims(licet_verifier::Error::Malformed { reason }) => write!(
                f,
                "cannot issue this token: {reason}; change that value (the limits are in docs/token-format.md §7.4)"
            ),
            Error::Claims(licet_verifier::Error::TooLarge { len, max }) => write!(
                f,
                "cannot issue this token: it would be {len} bytes, over the format's cap of {max} (docs/token-format.md §6.4); use fewer or shorter features, metadata or names"
            ),
            Error::Claims(e) => write!(f, "cannot issue this token: {e}"),
            Error::Key(e) => write!(f, "{e}"),
            Error::License(e) => write!(f, "{e}"),
            Error::Request { reason } => write!(f, "activation request cannot be used: {reason}"),
            Error::RequestTampered => f.write_str(
                "the request was changed after it was made (its digest does not match); make a new request on the machine (`licet offline request`, or `licet offline deactivate` for a deactivation)",
            ),
            Error::Fingerprint(e) => write!(f, "{e}"),
            Error::Policy { field, reason } => write!(f, "{field} {reason}"),
            Error::Io { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

impl From<licet_verifier::Error> for Error {
    fn from(e: licet_verifier::Error) -> Self {
        Error::Claims(e)
    }
}

impl From<licet_keys::Error> for Error {
    fn from(e: licet_keys::Error) -> Self {
        Error::Key(e)
    }
}

/// A signed token, in its binary form, with its text and file forms at hand.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    kind: Kind,
    bytes: Vec<u8>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("kind", &self.kind)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl Token {
    /// The kind of token.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The binary form: a tagged COSE_Sign1.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The text form (`LIC-…`, `MCH-…`, `LSE-…`), for license keys and copy-paste.
    pub fn text(&self) -> String {
        licet_verifier::text::encode_text(self.kind, &self.bytes)
    }

    /// The file form (`-----BEGIN LICET LICENSE-----` …), for sending as a file.
    pub fn file(&self) -> String {
        licet_verifier::text::encode_file(self.kind, &self.bytes)
    }
}

/// Signs `claims` with `key`. Features are sorted and de-duplicated first; every limit of
/// the format is checked before anything is signed.
///
/// # Errors
/// [`Error::Claims`] when the claims break the format, [`Error::Key`] when signing fails.
pub fn issue(claims: Claims, key: &SigningKey) -> Result<Token, Error> {
    issue_inner(claims, key, |key, msg| key.sign(msg))
}

/// As [`issue`], drawing RSA-PSS salt from `rng`: a seeded generator gives repeatable test
/// vectors. Never use a seeded generator for real tokens.
///
/// # Errors
/// As [`issue`].
pub fn issue_with_rng<R: TryCryptoRng + ?Sized>(
    claims: Claims,
    key: &SigningKey,
    rng: &mut R,
) -> Result<Token, Error> {
    issue_inner(claims, key, |key, msg| key.sign_with_rng(rng, msg))
}

fn issue_inner(
    mut claims: Claims,
    key: &SigningKey,
    sign: impl FnOnce(&SigningKey, &[u8]) -> Result<Vec<u8>, licet_keys::Error>,
) -> Result<Token, Error> {
    claims.normalize();
    let payload = claims.to_payload()?;
    let bytes = sign_payload(&payload, key, sign)?;
    // The limits of §7.4 do not keep every token under the binary cap of §6.4 (64 long
    // features and 16 long metadata entries reach about 9 KB): a token no verifier would
    // read is refused here rather than handed out.
    if bytes.len() > envelope::MAX_TOKEN_BYTES {
        return Err(Error::Claims(licet_verifier::Error::TooLarge {
            len: bytes.len(),
            max: envelope::MAX_TOKEN_BYTES,
        }));
    }
    Ok(Token {
        kind: claims.kind(),
        bytes,
    })
}

/// The COSE_Sign1 envelope (§2) around `payload`, signed by `key`: what every token and
/// signed document shares.
fn sign_payload(
    payload: &[u8],
    key: &SigningKey,
    sign: impl FnOnce(&SigningKey, &[u8]) -> Result<Vec<u8>, licet_keys::Error>,
) -> Result<Vec<u8>, Error> {
    let alg = key.algorithm();
    let signature = sign(key, &envelope::signing_input(alg, key.kid(), payload))?;
    Ok(envelope::assemble(alg, key.kid(), payload, signature)?)
}

/// A `root` key's endorsement of the signing key whose SubjectPublicKeyInfo DER is
/// `spki`, valid from `issued_at` until `expires_at` (`docs/token-format.md` §13.1): the
/// binary form; [`licet_verifier::endorsement::to_pem`] gives the block for `signature.pem`.
///
/// # Errors
/// [`Error::Claims`] for a key licet does not accept or an end not after the start,
/// [`Error::Key`] when signing fails.
pub fn endorse(
    root: &SigningKey,
    spki: &[u8],
    issued_at: u64,
    expires_at: u64,
) -> Result<Vec<u8>, Error> {
    let payload = licet_verifier::endorsement::payload(spki, issued_at, expires_at)?;
    sign_payload(&payload, root, |key, msg| key.sign(msg))
}

/// Signs a revocation list with `key` (`docs/token-format.md` §13.2): the binary form;
/// [`licet_verifier::revocation::to_pem`] gives the file form. `list.kid` is ignored (the
/// envelope names `key`).
///
/// # Errors
/// [`Error::Claims`] for an issuer out of bounds or ids not sorted and unique, or a list
/// over [`licet_verifier::revocation::MAX_REVOCATION_BYTES`]; [`Error::Key`] when signing
/// fails.
pub fn sign_revocations(
    list: &licet_verifier::RevocationList,
    key: &SigningKey,
) -> Result<Vec<u8>, Error> {
    let bytes = sign_payload(&list.to_payload()?, key, |key, msg| key.sign(msg))?;
    let max = licet_verifier::revocation::MAX_REVOCATION_BYTES;
    if bytes.len() > max {
        return Err(Error::Claims(licet_verifier::Error::TooLarge {
            len: bytes.len(),
            max,
        }));
    }
    Ok(bytes)
}

/// Signs a deactivation receipt with `key` (`docs/token-format.md` §13.3): the binary
/// form; [`licet_verifier::receipt::to_pem`] gives the file form. `receipt.kid` is ignored
/// (the envelope names `key`).
///
/// # Errors
/// [`Error::Claims`] for an issuer out of bounds; [`Error::Key`] when signing fails.
pub fn sign_receipt(receipt: &licet_verifier::Receipt, key: &SigningKey) -> Result<Vec<u8>, Error> {
    sign_payload(&receipt.to_payload()?, key, |key, msg| key.sign(msg))
}

/// How many bytes larger than its license a machine or lease token can be
/// (`docs/token-format.md` §6.4): a lease token adds the license id, a client id of up to
/// its limit and an expiry. An issuer that hands out a license must leave this much room
/// under the binary cap, or the license would get no machine or lease token.
pub const DERIVED_TOKEN_GROWTH: usize = 159;

/// A new random 16-byte id for a license, a machine activation or a lease.
///
/// # Errors
/// [`Error::Key`] when the operating system's generator fails.
pub fn new_id() -> Result<Id, Error> {
    use rand::TryRng;
    let mut id = [0u8; 16];
    rand::rngs::SysRng
        .try_fill_bytes(&mut id)
        .map_err(|_| Error::Key(licet_keys::Error::Random))?;
    Ok(id)
}

/// Compares two byte strings in constant time (for secrets and digests).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Claims with every limit of §7.4 at its maximum.
    fn largest(kind: KindClaims) -> Claims {
        let name = |c: char| c.to_string().repeat(128);
        Claims {
            issuer: Some(name('i')),
            customer: Some(name('c')),
            product: "p".repeat(64),
            expires_at: Some(i64::MAX as u64),
            not_before: Some(i64::MAX as u64),
            issued_at: i64::MAX as u64,
            id: [0xff; 16],
            features: (0..64)
                .map(|i| format!("{i:02}{}", "f".repeat(62)))
                .collect(),
            metadata: (0..16)
                .map(|i| (format!("{i:02}{}", "k".repeat(30)), "v".repeat(256)))
                .collect(),
            kind,
        }
    }

    /// The issuer never hands out a token over the binary cap that every verifier applies
    /// first (§6.4), though each claim is within its own limit; it says how large it would
    /// have been. A token just under the cap is issued and verifies.
    #[test]
    fn a_token_over_the_binary_cap_is_refused() {
        let key = SigningKey::ed25519_from_seed(&[9; 32]).expect("key");
        let license = KindClaims::License {
            license_type: Some(LicenseType::Perpetual),
            max_machines: Some(u64::MAX),
            max_leases: Some(u64::MAX),
        };
        let err = issue(largest(license.clone()), &key).expect_err("over the cap");
        assert_eq!(err.code(), "TOKEN_TOO_LARGE");
        match &err {
            Error::Claims(licet_verifier::Error::TooLarge { len, max }) => {
                assert!(*len > 8192 && *max == 8192, "{len} {max}");
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("use fewer or shorter"), "{err}");

        // Fewer features: under the cap, issued, and read back by the verifier.
        let mut fits = largest(license);
        fits.features.truncate(40);
        let token = issue(fits, &key).expect("under the cap");
        assert!(token.bytes().len() <= envelope::MAX_TOKEN_BYTES);
        let ring = licet_verifier::Keyring::from_pem(&key.public_pem()).expect("ring");
        let product = "p".repeat(64);
        let expect = licet_verifier::Expectations::new(Kind::License, &product, i64::MAX as u64);
        ring.verify(&token.text(), &expect).expect("verifies");
    }
}
