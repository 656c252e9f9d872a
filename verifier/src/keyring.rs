//! The vendor's public keys, read from `signature.pem`, and the signature check.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use ed25519_dalek::VerifyingKey as Ed25519Key;
use pkcs8::der::Decode;
use pkcs8::spki::{DecodePublicKey, SubjectPublicKeyInfoRef};
#[cfg(feature = "rsa")]
use rsa::PublicKey as RsaPublicKey;
#[cfg(feature = "rsa")]
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

use crate::envelope::Algorithm;
use crate::error::Error;

/// Length of a key id.
pub const KID_LEN: usize = 8;

/// A key id: the first 8 bytes of SHA-256 over the key's SubjectPublicKeyInfo DER. It names
/// a key so that a keyring can hold several during a rotation; it is not a security
/// boundary (the signature is).
pub type Kid = [u8; KID_LEN];

/// Smallest RSA modulus accepted, in bits.
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits.
pub const RSA_MAX_BITS: usize = 4096;

/// Most keys in one keyring; a rotation keeps a handful at most.
pub const MAX_KEYS: usize = 64;

const OID_ED25519: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_RSA: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The key id of a public key given as SubjectPublicKeyInfo DER.
pub fn kid_of_spki(spki_der: &[u8]) -> Kid {
    let digest = Sha256::digest(spki_der);
    let mut kid = [0u8; KID_LEN];
    kid.copy_from_slice(digest.get(..KID_LEN).unwrap_or(&[0; KID_LEN]));
    kid
}

#[derive(Clone)]
enum Inner {
    Ed25519(Ed25519Key),
    #[cfg(feature = "rsa")]
    Rsa(rsa::pss::VerifyingKey<Sha256>),
}

/// One public key of the vendor.
#[derive(Clone)]
pub struct PublicKey {
    kid: Kid,
    inner: Inner,
}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PublicKey")
            .field("alg", &self.algorithm().name())
            .field("kid", &crate::hex(&self.kid))
            .finish()
    }
}

impl PublicKey {
    /// Reads a key from SubjectPublicKeyInfo DER: Ed25519, or RSA of 2048 to 4096 bits.
    ///
    /// # Errors
    /// [`Error::KeyringInvalid`] for anything else.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, Error> {
        let invalid = |reason: &str| Error::KeyringInvalid {
            reason: String::from(reason),
        };
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|_| invalid("a PUBLIC KEY block is not valid SubjectPublicKeyInfo DER"))?;
        let inner = if spki.algorithm.oid == OID_ED25519 {
            Inner::Ed25519(
                Ed25519Key::from_public_key_der(der)
                    .map_err(|_| invalid("an Ed25519 public key is not a valid curve point"))?,
            )
        } else if spki.algorithm.oid == OID_RSA {
            rsa_key(der)?
        } else {
            return Err(invalid(
                "a key is neither Ed25519 nor RSA; licet accepts only those",
            ));
        };
        Ok(PublicKey {
            kid: kid_of_spki(der),
            inner,
        })
    }

    /// This key's id.
    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    /// The one algorithm this key checks.
    pub fn algorithm(&self) -> Algorithm {
        match self.inner {
            Inner::Ed25519(_) => Algorithm::EdDsa,
            #[cfg(feature = "rsa")]
            Inner::Rsa(_) => Algorithm::Ps256,
        }
    }

    /// Checks `signature` over `message` with the given algorithm.
    ///
    /// # Errors
    /// [`Error::AlgMismatch`] when `alg` is not this key's algorithm (an RSA key is never
    /// asked to check an EdDSA signature, nor the reverse); [`Error::SignatureInvalid`]
    /// when the signature does not verify.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        if alg != self.algorithm() {
            return Err(Error::AlgMismatch);
        }
        match &self.inner {
            Inner::Ed25519(key) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| Error::SignatureInvalid)?;
                // verify_strict refuses small-order keys and R, and non-canonical S, so a
                // signature has exactly one valid form.
                key.verify_strict(message, &sig)
                    .map_err(|_| Error::SignatureInvalid)
            }
            #[cfg(feature = "rsa")]
            Inner::Rsa(key) => {
                use rsa::signature::Verifier;
                let sig = rsa::pss::Signature::try_from(signature)
                    .map_err(|_| Error::SignatureInvalid)?;
                key.verify(message, &sig)
                    .map_err(|_| Error::SignatureInvalid)
            }
        }
    }
}

/// An RSA key of 2048 to 4096 bits from SubjectPublicKeyInfo DER, for PS256.
#[cfg(feature = "rsa")]
fn rsa_key(der: &[u8]) -> Result<Inner, Error> {
    let invalid = |reason: &str| Error::KeyringInvalid {
        reason: String::from(reason),
    };
    let key = RsaPublicKey::from_public_key_der(der)
        .map_err(|_| invalid("an RSA public key cannot be decoded"))?;
    // The modulus's own length in bits: its length in bytes times 8 would pass a
    // 2041- to 2047-bit key as 2048 bits (`docs/token-format.md` §3).
    let bits = key.n().bit_width();
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&usize::try_from(bits).unwrap_or(usize::MAX)) {
        return Err(Error::KeyringInvalid {
            reason: format!("an RSA key has {bits} bits; licet accepts 2048 to 4096"),
        });
    }
    // PS256 as COSE defines it: SHA-256, MGF1 with SHA-256, salt as long as the hash.
    Ok(Inner::Rsa(rsa::pss::VerifyingKey::new(key)))
}

/// Without the `rsa` feature an RSA key is refused by name, so that a firmware built
/// Ed25519-only says why the vendor's RSA `signature.pem` does not load.
#[cfg(not(feature = "rsa"))]
fn rsa_key(_der: &[u8]) -> Result<Inner, Error> {
    Err(Error::KeyringInvalid {
        reason: String::from(
            "an RSA key, and this build of licet-verifier has no RSA support: enable its `rsa` feature, or publish an Ed25519 key",
        ),
    })
}

/// The public keys a vendor publishes in `signature.pem`, looked up by key id.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: Vec<PublicKey>,
    /// Keys whose endorsement was refused, and why (only from [`Keyring::from_root`]).
    refused: Vec<(Kid, Error)>,
}

/// The labels a `signature.pem` may hold: public keys (§4) and endorsements (§13.1).
const LABELS: [&str; 2] = ["PUBLIC KEY", crate::endorsement::PEM_LABEL];

/// Calls `each` with the number, label and decoded content of every PEM block of
/// `signature.pem`, in order. Text outside the blocks is ignored (RFC 7468 §2); a block
/// of any other label, a private key above all, makes the whole file invalid (§4).
pub(crate) fn read_blocks(
    text: &str,
    mut each: impl FnMut(usize, &str, Vec<u8>) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut block: Option<(usize, String)> = None;
    let mut count = 0usize;
    for line in text.lines() {
        let trimmed = line.trim();
        match &mut block {
            None if trimmed.starts_with("-----BEGIN ") => {
                count = count.saturating_add(1);
                let label = trimmed
                    .trim_start_matches("-----BEGIN ")
                    .trim_end_matches('-');
                if !trimmed.ends_with("-----") || !LABELS.contains(&label) {
                    return Err(Error::KeyringInvalid {
                        reason: format!(
                            "block {count} is '{}', not a PUBLIC KEY; signature.pem must hold only public keys and endorsements (never ship a private key)",
                            trimmed.trim_matches('-').trim_start_matches("BEGIN ")
                        ),
                    });
                }
                let mut s = String::from(trimmed);
                s.push('\n');
                block = Some((count, s));
            }
            None => {}
            Some((n, s)) => {
                s.push_str(trimmed);
                s.push('\n');
                if trimmed.starts_with("-----END ") {
                    let n = *n;
                    let (label, der) = pem_rfc7468::decode_vec(s.as_bytes()).map_err(|_| {
                        Error::KeyringInvalid {
                            reason: format!(
                                "block {n} is not valid PEM (damaged base64 or END line)"
                            ),
                        }
                    })?;
                    each(n, label, der)?;
                    block = None;
                } else if s.len() > 4096 {
                    return Err(Error::KeyringInvalid {
                        reason: format!("block {n} has no END line"),
                    });
                }
            }
        }
    }
    if let Some((n, _)) = block {
        return Err(Error::KeyringInvalid {
            reason: format!("block {n} has no END line"),
        });
    }
    Ok(())
}

/// The blocks of a `signature.pem`, in order: each one's label (`PUBLIC KEY` or
/// `LICET ENDORSEMENT`) and decoded content, checked as [`Keyring::from_pem`] checks the
/// file (any other label refused). For a tool that takes a published file apart (the
/// server moving one into its key directory), never to trust a key.
///
/// # Errors
/// [`Error::KeyringInvalid`] naming the block at fault.
pub fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    read_blocks(text, |_, label, der| {
        out.push((String::from(label), der));
        Ok(())
    })?;
    Ok(out)
}

impl Keyring {
    /// Reads `signature.pem`: one or more `PUBLIC KEY` blocks (SubjectPublicKeyInfo, RFC 7468).
    /// Text outside the blocks is ignored, as RFC 7468 allows; any other block label, a
    /// private key above all, is refused.
    ///
    /// ```
    /// let keyring = licet_verifier::Keyring::from_pem(
    ///     "-----BEGIN PUBLIC KEY-----\n\
    ///      MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
    ///      -----END PUBLIC KEY-----\n",
    /// )?;
    /// assert_eq!(keyring.len(), 1);
    /// # Ok::<(), licet_verifier::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::KeyringInvalid`] naming the block at fault.
    pub fn from_pem(text: &str) -> Result<Keyring, Error> {
        let mut keyring = Keyring::default();
        read_blocks(text, |n, label, der| {
            // An endorsement (§13.1) is for keyrings built from a pinned root: a keyring
            // of bare public keys already trusts every key in the file, so it skips them.
            if label != "PUBLIC KEY" {
                return Ok(());
            }
            let key = PublicKey::from_spki_der(&der).map_err(|e| match e {
                Error::KeyringInvalid { reason } => Error::KeyringInvalid {
                    reason: format!("block {n}: {reason}"),
                },
                other => other,
            })?;
            keyring.add(key)
        })?;
        if keyring.keys.is_empty() {
            return Err(Error::KeyringInvalid {
                reason: String::from(
                    "no PUBLIC KEY block found; give the vendor's signature.pem (one or more -----BEGIN PUBLIC KEY----- blocks)",
                ),
            });
        }
        Ok(keyring)
    }

    /// Records why the key `kid` is not in the keyring (its endorsement was refused), so
    /// that a token naming it is refused with that code rather than `KEY_UNKNOWN`.
    pub(crate) fn refuse(&mut self, kid: Kid, why: Error) {
        if self.refused.len() < MAX_KEYS {
            self.refused.push((kid, why));
        }
    }

    /// The key with this id, or why there is none: the refusal of its endorsement when
    /// there was one, [`Error::KeyUnknown`] otherwise.
    pub(crate) fn key_for(&self, kid: &Kid) -> Result<&PublicKey, Error> {
        self.get(kid).ok_or_else(|| {
            self.refused
                .iter()
                .find(|(k, _)| k == kid)
                .map_or(Error::KeyUnknown, |(_, why)| why.clone())
        })
    }

    /// Adds a key. A key already present is kept once.
    ///
    /// # Errors
    /// [`Error::KeyringInvalid`] past [`MAX_KEYS`] keys.
    pub fn add(&mut self, key: PublicKey) -> Result<(), Error> {
        if self.get(key.kid()).is_some() {
            return Ok(());
        }
        if self.keys.len() >= MAX_KEYS {
            return Err(Error::KeyringInvalid {
                reason: format!("more than {MAX_KEYS} keys"),
            });
        }
        self.keys.push(key);
        Ok(())
    }

    /// The key with this id, if the keyring holds it.
    pub fn get(&self, kid: &Kid) -> Option<&PublicKey> {
        self.keys.iter().find(|k| k.kid() == kid)
    }

    /// The keys, in the order they were read.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// How many keys the keyring holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the keyring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    fn refused(pem: &str) -> String {
        match Keyring::from_pem(pem) {
            Err(Error::KeyringInvalid { reason }) => reason,
            other => panic!("expected KEYRING_INVALID, got {other:?}"),
        }
    }

    /// RSA sizes are counted in bits (§3: 2048 to 4096): a 2047-bit modulus has as many
    /// bytes as a 2048-bit one, and must still be refused.
    #[test]
    fn rsa_keys_of_2048_to_4096_bits_only() {
        let r = refused(include_str!("../../test-vectors/keys/rsa-2047.pub.pem"));
        assert!(r.contains("2047 bits"), "{r}");
        let r = refused(include_str!("../../test-vectors/keys/rsa-4097.pub.pem"));
        assert!(r.contains("4097 bits"), "{r}");
        let ok =
            Keyring::from_pem(include_str!("../../test-vectors/keys/rsa-4096.pub.pem")).unwrap();
        assert_eq!(ok.keys()[0].algorithm(), Algorithm::Ps256);
        // The 2048-bit boundary: the vendor test key.
        Keyring::from_pem(include_str!("../../test-vectors/keys/signature.pem")).unwrap();
    }

    /// A key of a third type (here ECDSA P-256) makes the whole `signature.pem` invalid,
    /// even beside good keys (§4).
    #[test]
    fn a_third_key_type_invalidates_the_keyring() {
        let pem = [
            include_str!("../../test-vectors/keys/signature.pem"),
            include_str!("../../test-vectors/keys/p256.pub.pem"),
        ]
        .concat();
        let r = refused(&pem);
        assert!(r.contains("neither Ed25519 nor RSA"), "{r}");
    }
}
