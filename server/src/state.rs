//! What every handler shares: storage, the signing key, the admin token's hash, the clock.

use std::sync::Arc;

use licet::{Claims, KindClaims, LicenseType, SigningKey, Token};
use licet_verifier::Keyring;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::keystore::{KeyError, KeyFiles, Published};
use crate::model::License;
use crate::storage::Storage;
use crate::store::id_bytes;

/// A source of the current time, in seconds since 1970 (tests inject their own).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(licet_verifier::Expectations::now_from_system_clock)
}

/// The keys in force at one moment: the one that signs, and those published.
pub struct Keys {
    /// The key that signs.
    pub key: SigningKey,
    /// `signature.pem`: the root, the endorsements and every public key still published.
    pub signature_pem: String,
    /// The published signing keys, parsed, to check tokens clients present (a retired
    /// key's tokens are refused).
    pub keyring: Keyring,
    /// The published keys, current first (empty with a fixed `--signing-key`).
    pub published: Vec<Published>,
}

/// Where the keys come from: a key directory that may change under the server (a
/// rotation by this process, by `licet-server keys rotate`, or by another process sharing
/// the directory), or one fixed key.
struct Source {
    files: KeyFiles,
    passphrase: Option<zeroize::Zeroizing<String>>,
    /// When the directory was last looked at, and what it looked like.
    seen: std::sync::Mutex<(std::time::Instant, String)>,
}

/// How often a server looks whether another process changed the key directory. One
/// small read and two directory listings a second cost nothing beside a request; a
/// rotation made elsewhere is signed with here within this time.
pub const KEYS_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Signs tokens and publishes the keys that check them.
pub struct Signer {
    keys: std::sync::RwLock<Arc<Keys>>,
    source: Option<Source>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &licet_verifier::hex(self.keys().key.kid()))
            .finish_non_exhaustive()
    }
}

/// The state handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Storage: redb or PostgreSQL.
    pub store: Storage,
    /// Token signing.
    pub signer: Arc<Signer>,
    /// SHA-256 of the bootstrap admin token.
    pub admin_token_sha256: [u8; 32],
    /// Named admin tokens' uses not yet written.
    pub last_use: Arc<crate::core::tokens::LastUse>,
    /// The deny list the client routes check.
    pub deny: Arc<crate::denylist::DenyList>,
    /// The clock.
    pub clock: Clock,
}

impl AppState {
    /// Now.
    pub fn now(&self) -> u64 {
        (self.clock)()
    }
}

/// The claims of a license record, as its tokens carry them.
///
/// # Errors
/// [`ApiError::Internal`] when the stored id is damaged.
pub fn license_claims(l: &License, issued_at: u64) -> Result<Claims, ApiError> {
    Ok(Claims {
        issuer: None,
        customer: l.customer.clone(),
        product: l.product.clone(),
        expires_at: l.expires_at,
        not_before: None,
        issued_at,
        id: id_bytes(&l.id).ok_or(ApiError::Internal)?,
        features: l.features.clone(),
        metadata: l.metadata.clone(),
        kind: KindClaims::License {
            license_type: l.license_type.as_deref().and_then(LicenseType::from_name),
            max_machines: l.max_machines,
            max_leases: l.max_leases,
        },
    })
}

/// The SHA-256 of a token's binary form: how a presented key is found, without checking
/// its signature again (the server matches the exact bytes it issued).
pub fn key_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Decodes a license key's text or file form to its binary form.
///
/// # Errors
/// [`ApiError::KeyInvalid`] when it is not a token at all.
pub fn key_bytes(key: &str) -> Result<Vec<u8>, ApiError> {
    match licet_verifier::text::decode(key) {
        Ok((licet_verifier::Kind::License, bytes)) => Ok(bytes),
        _ => Err(ApiError::KeyInvalid),
    }
}

impl Signer {
    /// A signer with one fixed key (`--signing-key`), publishing `signature_pem`.
    ///
    /// # Errors
    /// A message when `signature_pem` is not a keyring or lacks the key's public key.
    pub fn fixed(key: SigningKey, signature_pem: String) -> Result<Signer, String> {
        let keyring =
            Keyring::from_pem(&signature_pem).map_err(|e| format!("signature.pem: {e}"))?;
        if keyring.get(key.kid()).is_none() {
            return Err("signature.pem beside the signing key does not hold its public key; run `licet keys public` and add it".into());
        }
        Ok(Signer {
            keys: std::sync::RwLock::new(Arc::new(Keys {
                key,
                signature_pem,
                keyring,
                published: Vec::new(),
            })),
            source: None,
        })
    }

    /// A signer over a key directory ([`KeyFiles`]), read now and again whenever it changes.
    ///
    /// # Errors
    /// As [`KeyFiles::load`].
    pub fn from_files(
        files: KeyFiles,
        passphrase: Option<zeroize::Zeroizing<String>>,
    ) -> Result<Signer, KeyError> {
        let stamp = files.stamp();
        let loaded = files.load(passphrase.as_ref().map(|p| p.as_bytes()))?;
        Ok(Signer {
            keys: std::sync::RwLock::new(Arc::new(Keys {
                key: loaded.key,
                signature_pem: loaded.signature_pem,
                keyring: loaded.keyring,
                published: loaded.published,
            })),
            source: Some(Source {
                files,
                passphrase,
                seen: std::sync::Mutex::new((std::time::Instant::now(), stamp)),
            }),
        })
    }

    /// The keys in force, after a look at the key directory when the last one is older
    /// than [`KEYS_RECHECK`].
    pub fn keys(&self) -> Arc<Keys> {
        if let Some(src) = &self.source {
            let due = src
                .seen
                .lock()
                .map(|seen| seen.0.elapsed() >= KEYS_RECHECK)
                .unwrap_or(true);
            if due {
                self.reload(false);
            }
        }
        self.keys
            .read()
            .map(|k| Arc::clone(&k))
            .unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    /// Reads the key directory again when it changed (or always, with `force`). A
    /// directory that cannot be read keeps the keys in force and logs why: a server
    /// keeps signing rather than fail every request over a file being copied in.
    fn reload(&self, force: bool) {
        let Some(src) = &self.source else { return };
        let Ok(mut seen) = src.seen.lock() else {
            return;
        };
        let stamp = src.files.stamp();
        seen.0 = std::time::Instant::now();
        if !force && stamp == seen.1 {
            return;
        }
        match src
            .files
            .load(src.passphrase.as_ref().map(|p| p.as_bytes()))
        {
            Ok(l) => {
                let kid = licet_verifier::hex(l.key.kid());
                let keys = Arc::new(Keys {
                    key: l.key,
                    signature_pem: l.signature_pem,
                    keyring: l.keyring,
                    published: l.published,
                });
                if let Ok(mut k) = self.keys.write() {
                    *k = keys;
                }
                seen.1 = stamp;
                tracing::info!(current = %kid, "signing keys reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "the key directory changed but cannot be read; still signing with the keys loaded before");
            }
        }
    }

    /// The key directory, unless the key is fixed.
    ///
    /// # Errors
    /// [`KeyError::Fixed`].
    pub fn files(&self) -> Result<&KeyFiles, KeyError> {
        self.source
            .as_ref()
            .map(|s| &s.files)
            .ok_or(KeyError::Fixed)
    }

    /// The passphrase new keys are encrypted with.
    pub fn passphrase(&self) -> Option<&[u8]> {
        self.source
            .as_ref()
            .and_then(|s| s.passphrase.as_ref())
            .map(|p| p.as_bytes())
    }

    /// Reads the key directory now (after this process changed it).
    pub fn refresh(&self) {
        self.reload(true);
    }

    /// Signs claims.
    ///
    /// Every input that ends up in a token is checked against the format's limits where it
    /// enters (the admin API's license settings, a lease's client id), so claims that still
    /// fail here are the server's fault, not the client's: the cause is logged and the
    /// answer is a 500, never a `BAD_REQUEST` the client could not have avoided.
    ///
    /// # Errors
    /// [`ApiError::Internal`] when the claims cannot be encoded or signing fails.
    pub fn sign(&self, claims: Claims) -> Result<Token, ApiError> {
        licet::issue(claims, &self.keys().key).map_err(|e| {
            tracing::error!(error = %e, "signing a token");
            ApiError::Internal
        })
    }

    /// Signs a new license's claims, leaving room under the format's binary cap for the
    /// machine and lease tokens that will be derived from it: a license that would get
    /// none is refused when it is created (the vendor's input), not at its first activation.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] naming the size and what to shorten; otherwise as [`Signer::sign`].
    pub fn sign_license(&self, claims: Claims) -> Result<Token, ApiError> {
        let cap = licet_verifier::envelope::MAX_TOKEN_BYTES;
        let max = cap.saturating_sub(licet::DERIVED_TOKEN_GROWTH);
        let too_large = |len: usize| {
            ApiError::BadRequest(format!(
                "the license's claims make a license key of {len} bytes; at most {max} are \
                 allowed, so that its machine and lease tokens stay under the format's \
                 {cap}-byte cap: shorten its features, metadata or customer"
            ))
        };
        match licet::issue(claims, &self.keys().key) {
            Ok(t) if t.bytes().len() > max => Err(too_large(t.bytes().len())),
            Ok(t) => Ok(t),
            Err(licet::Error::Claims(licet_verifier::Error::TooLarge { len, .. })) => {
                Err(too_large(len))
            }
            Err(e) => {
                tracing::error!(error = %e, "signing a license");
                Err(ApiError::Internal)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_the_server_cannot_sign_are_its_fault_not_the_clients() {
        let key = SigningKey::generate_ed25519().expect("key");
        let signature_pem = key.public_pem();
        let signer = Signer::fixed(key, signature_pem).expect("signer");
        let mut claims = Claims {
            issuer: None,
            customer: None,
            product: "cad".into(),
            expires_at: None,
            not_before: None,
            issued_at: 1,
            id: [7; 16],
            features: Vec::new(),
            metadata: Default::default(),
            kind: KindClaims::License {
                license_type: None,
                max_machines: None,
                max_leases: None,
            },
        };
        assert!(signer.sign(claims.clone()).is_ok());
        // A time past the format's range, as an unbounded setting once produced.
        claims.expires_at = Some(u64::MAX);
        assert_eq!(signer.sign(claims.clone()), Err(ApiError::Internal));
        claims.expires_at = None;
        claims.product = String::new();
        assert_eq!(signer.sign(claims), Err(ApiError::Internal));
    }
}
