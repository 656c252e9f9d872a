//! Vendor signing keys for licet: Ed25519 (the default) and RSA-PSS.
//!
//! A key is named by its `kid` (the first 8 bytes of SHA-256 over its public key's
//! SubjectPublicKeyInfo DER, as `docs/token-format.md` defines). Secret bytes are zeroized
//! when dropped and never shown by `Debug`.

use std::fmt;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use licet_verifier::{Algorithm, Kid};
use pkcs8::LineEnding;
use pkcs8::spki::EncodePublicKey;
use rand::rngs::SysRng;
use rand::{SeedableRng, TryCryptoRng, TryRng};
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use sha2::Sha256;
use zeroize::Zeroizing;

pub mod dir;

/// Default RSA modulus size, in bits.
pub const RSA_DEFAULT_BITS: usize = 3072;

/// What went wrong with a key.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The PEM text is not a private key licet can use.
    InvalidKey {
        /// What exactly is wrong.
        reason: String,
    },
    /// An RSA size outside 2048..=4096 bits was asked for.
    BadRsaSize {
        /// The size asked for.
        bits: usize,
    },
    /// The operating system's random number generator failed.
    Random,
    /// Signing failed.
    Sign,
    /// The key file is encrypted and no passphrase was given.
    PassphraseRequired,
    /// The passphrase does not decrypt the key file (or the file is damaged).
    WrongPassphrase,
    /// A file could not be read or written.
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// A key file exists already and `force` was not given.
    Exists {
        /// The file that would have been overwritten.
        path: std::path::PathBuf,
    },
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidKey { .. } => "KEY_INVALID",
            Error::BadRsaSize { .. } => "KEY_SIZE_UNSUPPORTED",
            Error::Random => "RANDOM_FAILED",
            Error::Sign => "SIGN_FAILED",
            Error::PassphraseRequired => "PASSPHRASE_REQUIRED",
            Error::WrongPassphrase => "PASSPHRASE_WRONG",
            Error::Io { .. } => "IO_ERROR",
            Error::Exists { .. } => "KEY_EXISTS",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidKey { reason } => write!(f, "signing key cannot be used: {reason}"),
            Error::BadRsaSize { bits } => write!(
                f,
                "RSA keys of {bits} bits are not supported; use 2048 to 4096 bits (3072 is the default)"
            ),
            Error::Random => f.write_str("the operating system's random number generator failed"),
            Error::Sign => f.write_str("signing failed"),
            Error::PassphraseRequired => f.write_str(
                "the signing key is encrypted; give its passphrase (prompt, LICET_KEY_PASSPHRASE or --passphrase-file)",
            ),
            Error::WrongPassphrase => f.write_str(
                "the passphrase does not decrypt the signing key (wrong passphrase, or a damaged key file)",
            ),
            Error::Io { path, message } => write!(f, "{}: {message}", path.display()),
            Error::Exists { path } => write!(
                f,
                "{} exists already; refusing to overwrite a signing key (use --force to replace it, after keeping a backup)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {}

// A handful of keys live per process; boxing the Ed25519 key would only add an indirection.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Ed25519(ed25519_dalek::SigningKey),
    Rsa(Box<rsa::pss::SigningKey<Sha256>>),
}

/// A vendor's private signing key.
pub struct SigningKey {
    inner: Inner,
    spki_der: Vec<u8>,
    kid: Kid,
}

impl fmt::Debug for SigningKey {
    // Never the secret: only what names the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.algorithm().name())
            .field("kid", &licet_verifier::hex(&self.kid))
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn from_inner(inner: Inner) -> Result<Self, Error> {
        let spki_der = match &inner {
            Inner::Ed25519(k) => k.verifying_key().to_public_key_der(),
            Inner::Rsa(k) => k.as_ref().as_ref().to_public_key().to_public_key_der(),
        }
        .map_err(|_| Error::InvalidKey {
            reason: "public key cannot be encoded".into(),
        })?
        .into_vec();
        let kid = licet_verifier::keyring::kid_of_spki(&spki_der);
        Ok(SigningKey {
            inner,
            spki_der,
            kid,
        })
    }

    /// A new Ed25519 key from the operating system's random number generator.
    ///
    /// # Errors
    /// [`Error::Random`] when the generator fails.
    pub fn generate_ed25519() -> Result<Self, Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        SysRng
            .try_fill_bytes(seed.as_mut())
            .map_err(|_| Error::Random)?;
        Self::ed25519_from_seed(&seed)
    }

    /// An Ed25519 key from a 32-byte seed (deterministic; for test keys).
    ///
    /// # Errors
    /// Never in practice; the signature is uniform with the other constructors.
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> Result<Self, Error> {
        Self::from_inner(Inner::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed)))
    }

    /// A new RSA key of `bits` bits (2048 to 4096).
    ///
    /// # Errors
    /// [`Error::BadRsaSize`] outside that range, [`Error::Random`] when the generator fails.
    pub fn generate_rsa(bits: usize) -> Result<Self, Error> {
        Self::generate_rsa_with(&mut SysRng, bits)
    }

    /// A new RSA key from the given generator (a seeded one gives test keys).
    ///
    /// # Errors
    /// As [`SigningKey::generate_rsa`].
    pub fn generate_rsa_with<R: TryCryptoRng + ?Sized>(
        rng: &mut R,
        bits: usize,
    ) -> Result<Self, Error> {
        if !(licet_verifier::keyring::RSA_MIN_BITS..=licet_verifier::keyring::RSA_MAX_BITS)
            .contains(&bits)
        {
            return Err(Error::BadRsaSize { bits });
        }
        let key = rsa::PrivateKey::new(rng, bits).map_err(|_| Error::Random)?;
        Self::from_inner(Inner::Rsa(Box::new(rsa::pss::SigningKey::new(key))))
    }

    /// Reads an unencrypted PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for anything else (a public key, a damaged file, another
    /// algorithm, an RSA size outside 2048..=4096); [`Error::PassphraseRequired`] for an
    /// encrypted key.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, Error> {
        Self::from_pem(pem, None)
    }

    /// Whether `pem` is an encrypted private key (`-----BEGIN ENCRYPTED PRIVATE KEY-----`),
    /// so that a caller knows to ask for a passphrase.
    pub fn pem_is_encrypted(pem: &str) -> bool {
        first_block(pem).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    }

    /// Reads a PKCS#8 PEM private key, encrypted (PBES2) or not.
    ///
    /// # Errors
    /// [`Error::PassphraseRequired`] when it is encrypted and no passphrase is given,
    /// [`Error::WrongPassphrase`] when the passphrase does not decrypt it,
    /// [`Error::InvalidKey`] when it is not a private key licet can use (for example a
    /// public key or a truncated file).
    pub fn from_pem(pem: &str, passphrase: Option<&[u8]>) -> Result<Self, Error> {
        let trimmed = first_block(pem);
        if trimmed.starts_with("-----BEGIN PUBLIC KEY-----") {
            return Err(Error::InvalidKey {
                reason: "this is a public key (signature.pem); signing needs the private key (signing-key.pem)".into(),
            });
        }
        let (label, der) = pkcs8::SecretDocument::from_pem(trimmed).map_err(|_| Error::InvalidKey {
            reason: "not a complete PEM private key (damaged or truncated; expected '-----BEGIN PRIVATE KEY-----')".into(),
        })?;
        match label {
            "PRIVATE KEY" => Self::from_pkcs8_der(der.as_bytes()),
            "ENCRYPTED PRIVATE KEY" => {
                let passphrase = passphrase.ok_or(Error::PassphraseRequired)?;
                let info =
                    pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_bytes()).map_err(|_| {
                        Error::InvalidKey {
                            reason: "the encrypted key's structure is damaged".into(),
                        }
                    })?;
                let plain = info
                    .decrypt(passphrase)
                    .map_err(|_| Error::WrongPassphrase)?;
                Self::from_pkcs8_der(plain.as_bytes())
            }
            other => Err(Error::InvalidKey {
                reason: format!("the PEM block is '{other}', not 'PRIVATE KEY'"),
            }),
        }
    }

    /// The key as PKCS#8 PEM encrypted with `passphrase` (PBES2: scrypt and AES-256-CBC),
    /// in memory that is zeroized when dropped.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if encoding fails, [`Error::Random`] if no salt can be drawn.
    pub fn to_pkcs8_encrypted_pem(&self, passphrase: &[u8]) -> Result<Zeroizing<String>, Error> {
        let plain = self.to_pkcs8_der()?;
        let info = pkcs8::PrivateKeyInfoRef::try_from(plain.as_bytes()).map_err(|_| {
            Error::InvalidKey {
                reason: "private key cannot be encoded".into(),
            }
        })?;
        let doc = info.encrypt(passphrase).map_err(|_| Error::Random)?;
        doc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .map_err(|_| Error::InvalidKey {
                reason: "private key cannot be encoded".into(),
            })
    }

    fn to_pkcs8_der(&self) -> Result<pkcs8::SecretDocument, Error> {
        let bad = |_| Error::InvalidKey {
            reason: "private key cannot be encoded".into(),
        };
        match &self.inner {
            // PKCS#8 v1 (RFC 5208, no embedded public key): what OpenSSL 3.0 and
            // Python's `cryptography` read; v2 (RFC 5958), dalek's default, they refuse.
            Inner::Ed25519(k) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: k.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_der()
            .map_err(bad),
            Inner::Rsa(k) => k.as_ref().as_ref().to_pkcs8_der().map_err(bad),
        }
    }

    /// Reads an unencrypted PKCS#8 DER private key.
    ///
    /// # Errors
    /// As [`SigningKey::from_pkcs8_pem`].
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            return Self::from_inner(Inner::Ed25519(k));
        }
        let key = rsa::PrivateKey::from_pkcs8_der(der).map_err(|_| Error::InvalidKey {
            reason: "not an Ed25519 or RSA PKCS#8 private key".into(),
        })?;
        // The modulus's length in bits, not its length in bytes times 8, which would let a
        // 2041- to 2047-bit key through (issue 9, point 9).
        let bits =
            usize::try_from(rsa::traits::PublicKeyParts::n(&key).bit_width()).unwrap_or(usize::MAX);
        if !(licet_verifier::keyring::RSA_MIN_BITS..=licet_verifier::keyring::RSA_MAX_BITS)
            .contains(&bits)
        {
            return Err(Error::BadRsaSize { bits });
        }
        Self::from_inner(Inner::Rsa(Box::new(rsa::pss::SigningKey::new(key))))
    }

    /// The key as unencrypted PKCS#8 PEM, in memory that is zeroized when dropped.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if encoding fails.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, Error> {
        let bad = |_| Error::InvalidKey {
            reason: "private key cannot be encoded".into(),
        };
        self.to_pkcs8_der()?
            .to_pem("PRIVATE KEY", LineEnding::LF)
            .map_err(bad)
    }

    /// The public key as SubjectPublicKeyInfo DER.
    pub fn public_spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The public key as a `PUBLIC KEY` PEM block, as `signature.pem` holds it.
    pub fn public_pem(&self) -> String {
        pkcs8::der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &self.spki_der)
            .unwrap_or_default()
    }

    /// The key id.
    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.inner {
            Inner::Ed25519(_) => Algorithm::EdDsa,
            Inner::Rsa(_) => Algorithm::Ps256,
        }
    }

    /// Signs `message` (RSA-PSS draws its salt from the operating system's generator).
    ///
    /// # Errors
    /// [`Error::Sign`] or [`Error::Random`].
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.sign_with_rng(&mut SysRng, message)
    }

    /// Signs `message`, taking RSA-PSS salt from `rng` (a seeded generator makes test
    /// vectors repeatable; Ed25519 needs no randomness).
    ///
    /// # Errors
    /// [`Error::Sign`].
    pub fn sign_with_rng<R: TryCryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        message: &[u8],
    ) -> Result<Vec<u8>, Error> {
        match &self.inner {
            Inner::Ed25519(k) => {
                use ed25519_dalek::Signer;
                Ok(k.sign(message).to_bytes().to_vec())
            }
            Inner::Rsa(k) => k
                .try_sign_with_rng(rng, message)
                .map(|s| s.to_vec())
                .map_err(|_| Error::Sign),
        }
    }
}

/// `pem` from its first `-----BEGIN` line on. Text before the first block is allowed (RFC
/// 7468 §2): a `# comment` line above a key must neither hide that the file is a public key
/// nor make a good key unreadable.
fn first_block(pem: &str) -> &str {
    pem.find("-----BEGIN")
        .and_then(|at| pem.get(at..))
        .unwrap_or(pem)
}

/// The SubjectPublicKeyInfo DER of a public key file holding one `PUBLIC KEY` block (as
/// `licet keys public` writes it), checked to be a key licet accepts: what an endorsement
/// (`licet keys endorse`) carries.
///
/// # Errors
/// [`Error::InvalidKey`] for anything else.
pub fn public_spki_from_pem(pem: &str) -> Result<Vec<u8>, Error> {
    let bad = |reason: String| Error::InvalidKey { reason };
    let (label, der) = pkcs8::der::pem::decode_vec(first_block(pem).trim().as_bytes())
        .map_err(|_| bad("not a single PEM block (give one PUBLIC KEY)".into()))?;
    if label != "PUBLIC KEY" {
        return Err(bad(format!("a {label} block, not a PUBLIC KEY")));
    }
    licet_verifier::PublicKey::from_spki_der(&der).map_err(|e| bad(e.to_string()))?;
    Ok(der)
}

/// The `PUBLIC KEY` PEM block of SubjectPublicKeyInfo DER, as [`SigningKey::public_pem`]
/// writes it (for a public key held without its private key).
///
/// # Errors
/// [`Error::InvalidKey`] when the DER is not a key licet accepts.
pub fn public_pem_of_spki(der: &[u8]) -> Result<String, Error> {
    licet_verifier::PublicKey::from_spki_der(der).map_err(|e| Error::InvalidKey {
        reason: e.to_string(),
    })?;
    pkcs8::der::pem::encode_string("PUBLIC KEY", LineEnding::LF, der).map_err(|e| {
        Error::InvalidKey {
            reason: e.to_string(),
        }
    })
}

/// A repeatable generator for test keys and test signatures: never for real keys.
pub fn test_rng(seed: u64) -> impl TryCryptoRng {
    rand::rngs::ChaCha20Rng::seed_from_u64(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_before_the_block_is_skipped() {
        let key = SigningKey::ed25519_from_seed(&[7; 32]).expect("key");
        let pem = format!("# a comment\n{}", key.to_pkcs8_pem().expect("pem").as_str());
        assert_eq!(
            SigningKey::from_pem(&pem, None).expect("reads").kid(),
            key.kid()
        );
        let public = format!("# licet keys\n{}", key.public_pem());
        let err = SigningKey::from_pem(&public, None).expect_err("a public key");
        assert!(err.to_string().contains("this is a public key"), "{err}");
        let encrypted = key.to_pkcs8_encrypted_pem(b"passphrase").expect("pem");
        assert!(SigningKey::pem_is_encrypted(&format!(
            "# note\n{}",
            encrypted.as_str()
        )));
    }
}

#[cfg(test)]
mod pkcs8_form {
    use super::*;

    #[test]
    fn ed25519_keys_are_written_as_pkcs8_v1_and_read_back() {
        let key = SigningKey::ed25519_from_seed(&[7; 32]).expect("key");
        let pem = key.to_pkcs8_pem().expect("pem");
        let (_, der) = pkcs8::SecretDocument::from_pem(&pem).expect("pem");
        let info = pkcs8::PrivateKeyInfoRef::try_from(der.as_bytes()).expect("pkcs8");
        // v1 (no embedded public key): OpenSSL 3.0 and Python's cryptography refuse v2.
        assert_eq!(info.version(), pkcs8::Version::V1);
        assert_eq!(
            SigningKey::from_pkcs8_pem(&pem).expect("reads back").kid(),
            key.kid()
        );
    }
}

#[cfg(test)]
mod rsa_size {
    use super::*;

    /// A 2047-bit modulus is 256 bytes long, as a 2048-bit one is: the size must be read
    /// in bits, or the key passes (issue 9, point 9).
    #[test]
    fn a_2047_bit_key_is_refused() {
        let pem = include_str!("../../test-vectors/keys/rsa-2047.pem");
        match SigningKey::from_pem(pem, None) {
            Err(Error::BadRsaSize { bits }) => assert_eq!(bits, 2047),
            other => panic!("a 2047-bit key must be refused, got {other:?}"),
        }
    }
}
