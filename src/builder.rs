//! Builders for license, machine and lease claims.

use std::collections::BTreeMap;

use licet_verifier::{Claims, Fingerprint, Id, KindClaims, LicenseType};

use crate::{Error, SigningKey, Token};

/// Builds the claims of one token, then signs them.
///
/// ```
/// # fn main() -> Result<(), licet::Error> {
/// let key = licet::SigningKey::generate_ed25519()?;
/// let license = licet::Builder::license("acme-studio-pro")?
///     .features(["export-pdf", "cloud-sync"])
///     .expires_at(1_900_000_000)
///     .max_machines(3)
///     .customer("cus_8842")
///     .sign(&key)?;
/// assert!(license.text().starts_with("LIC-"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Builder {
    claims: Claims,
}

fn now() -> u64 {
    licet_verifier::Expectations::now_from_system_clock()
}

impl Builder {
    fn new(product: &str, id: Id, kind: KindClaims) -> Builder {
        Builder {
            claims: Claims {
                issuer: None,
                customer: None,
                product: product.to_owned(),
                expires_at: None,
                not_before: None,
                issued_at: now(),
                id,
                features: Vec::new(),
                metadata: BTreeMap::new(),
                kind,
            },
        }
    }

    /// A license for `product` with a new random license id, issued now, perpetual until
    /// an expiry is set.
    ///
    /// # Errors
    /// [`Error::Key`] when no random id can be drawn.
    pub fn license(product: &str) -> Result<Builder, Error> {
        Ok(Builder::new(
            product,
            crate::new_id()?,
            KindClaims::License {
                license_type: None,
                max_machines: None,
                max_leases: None,
            },
        ))
    }

    /// A machine token for the machine whose fingerprint hash is `fingerprint`, under
    /// `license` (its product, features and customer are copied), valid until
    /// `check_in_deadline`. The activation id is `activation_id`.
    pub fn machine(
        license: &Claims,
        activation_id: Id,
        fingerprint: Fingerprint,
        check_in_deadline: u64,
    ) -> Builder {
        let mut b = Builder::new(
            &license.product,
            activation_id,
            KindClaims::Machine {
                license_id: *license.license_id(),
                fingerprint,
            },
        );
        b.claims.features = license.features.clone();
        b.claims.customer = license.customer.clone();
        b.claims.issuer = license.issuer.clone();
        b.claims.expires_at = Some(check_in_deadline);
        b
    }

    /// A lease (floating seat) of `license`, valid until `expires_at`, with a new random
    /// lease id.
    ///
    /// # Errors
    /// [`Error::Key`] when no random id can be drawn.
    pub fn lease(license: &Claims, expires_at: u64) -> Result<Builder, Error> {
        let mut b = Builder::new(
            &license.product,
            crate::new_id()?,
            KindClaims::Lease {
                license_id: *license.license_id(),
                client_id: None,
            },
        );
        b.claims.features = license.features.clone();
        b.claims.customer = license.customer.clone();
        b.claims.issuer = license.issuer.clone();
        b.claims.expires_at = Some(expires_at);
        Ok(b)
    }

    /// Sets the token's id (`cti`).
    pub fn id(mut self, id: Id) -> Self {
        self.claims.id = id;
        self
    }

    /// Sets the issue time (default: now).
    pub fn issued_at(mut self, t: u64) -> Self {
        self.claims.issued_at = t;
        self
    }

    /// Sets the expiry.
    pub fn expires_at(mut self, t: u64) -> Self {
        self.claims.expires_at = Some(t);
        self
    }

    /// Sets or clears the expiry.
    pub fn expiry(mut self, t: Option<u64>) -> Self {
        self.claims.expires_at = t;
        self
    }

    /// Sets the time before which the token is not valid.
    pub fn not_before(mut self, t: u64) -> Self {
        self.claims.not_before = Some(t);
        self
    }

    /// Sets the issuer (the vendor's name).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.claims.issuer = Some(issuer.into());
        self
    }

    /// Sets the customer.
    pub fn customer(mut self, customer: impl Into<String>) -> Self {
        self.claims.customer = Some(customer.into());
        self
    }

    /// Replaces the features (they are sorted and de-duplicated when signed).
    pub fn features<S: Into<String>>(mut self, features: impl IntoIterator<Item = S>) -> Self {
        self.claims.features = features.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a metadata entry.
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.claims.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the license type (licenses only; ignored for other kinds).
    pub fn license_type(mut self, t: LicenseType) -> Self {
        if let KindClaims::License { license_type, .. } = &mut self.claims.kind {
            *license_type = Some(t);
        }
        self
    }

    /// Sets the most machines that may be activated (licenses only).
    pub fn max_machines(mut self, n: u64) -> Self {
        if let KindClaims::License { max_machines, .. } = &mut self.claims.kind {
            *max_machines = Some(n);
        }
        self
    }

    /// Sets the most floating seats held at once (licenses only).
    pub fn max_leases(mut self, n: u64) -> Self {
        if let KindClaims::License { max_leases, .. } = &mut self.claims.kind {
            *max_leases = Some(n);
        }
        self
    }

    /// Sets the client id (leases only).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        if let KindClaims::Lease { client_id, .. } = &mut self.claims.kind {
            *client_id = Some(id.into());
        }
        self
    }

    /// The claims built so far.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// Checks the claims against the format's rules and signs them.
    ///
    /// # Errors
    /// As [`crate::issue`].
    pub fn sign(self, key: &SigningKey) -> Result<Token, Error> {
        crate::issue(self.claims, key)
    }
}
