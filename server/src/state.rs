//! What every handler shares: storage, the signing key, the admin token's hash, the clock.

use std::sync::Arc;

use licet::{Claims, KindClaims, LicenseType, SigningKey, Token};
use licet_verifier::Keyring;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::model::License;
use crate::storage::Storage;
use crate::store::id_bytes;

/// A source of the current time, in seconds since 1970 (tests inject their own).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(licet_verifier::Expectations::now_from_system_clock)
}

/// Signs tokens and publishes the keys that check them.
pub struct Signer {
    /// The key that signs.
    pub key: SigningKey,
    /// `signature.pem`: every public key still valid for verification.
    pub signature_pem: String,
    /// The same keys, parsed, to check tokens clients present.
    pub keyring: Keyring,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key", &self.key)
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
        licet::issue(claims, &self.key).map_err(|e| {
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
        match licet::issue(claims, &self.key) {
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
        let keyring = Keyring::from_pem(&signature_pem).expect("keyring");
        let signer = Signer {
            key,
            signature_pem,
            keyring,
        };
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
