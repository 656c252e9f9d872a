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
    /// `license`, valid until `check_in_deadline`. The activation id is `activation_id`.
    ///
    /// It inherits what an application reads from the license (`docs/token-format.md`
    /// §7.5): product, issuer, customer, features and metadata. The caller keeps the
    /// deadline within the license's expiry.
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
                grace_ends_at: None,
            },
        );
        b.inherit(license);
        b.claims.expires_at = Some(check_in_deadline);
        b
    }

    /// What a machine or lease token carries over from its license: everything the
    /// application reads from a license that the token's kind can hold (§7.5). The
    /// license's type and limits cannot be carried: version 1 allows them in license
    /// tokens only, and a version-1 verifier refuses them anywhere else.
    fn inherit(&mut self, license: &Claims) {
        self.claims.issuer = license.issuer.clone();
        self.claims.customer = license.customer.clone();
        self.claims.features = license.features.clone();
        self.claims.metadata = license.metadata.clone();
    }

    /// A lease (floating seat) of `license`, valid until `expires_at`, with a new random
    /// lease id. It inherits the license's claims as [`Builder::machine`] does.
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
        b.inherit(license);
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

    /// Sets the end of the grace period the machine token is issued in (machine tokens
    /// only): the license has expired and the vendor lets it run until `t`. The token is
    /// then version 2 (`docs/token-format.md` §8); its expiry must not be later than `t`.
    pub fn grace_ends_at(mut self, t: u64) -> Self {
        if let KindClaims::Machine { grace_ends_at, .. } = &mut self.claims.kind {
            *grace_ends_at = Some(t);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Machine and lease tokens carry every claim of the license that their kind can hold
    /// (issue 9, point 13: the metadata used to be dropped).
    #[test]
    fn machine_and_lease_tokens_inherit_the_license_claims() {
        let license = Builder::license("acme-studio-pro")
            .expect("id")
            .issuer("Acme")
            .customer("cus_1")
            .features(["export-pdf", "cloud-sync"])
            .meta("order", "A-1042")
            .meta("region", "eu")
            .expires_at(1_900_000_000)
            .claims()
            .clone();
        let machine = Builder::machine(&license, [1; 16], [2; 32], 1_800_000_000);
        let lease = Builder::lease(&license, 1_800_000_000).expect("id");
        for c in [machine.claims(), lease.claims()] {
            assert_eq!(c.product, license.product);
            assert_eq!(c.issuer, license.issuer);
            assert_eq!(c.customer, license.customer);
            assert_eq!(c.features, license.features);
            assert_eq!(c.metadata, license.metadata);
            assert_eq!(c.license_id(), &license.id);
        }
    }
}
