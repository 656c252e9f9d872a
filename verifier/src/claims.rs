//! The claims a token carries, and their one CBOR encoding (a CWT claims set, RFC 8392).
//!
//! The issuing side encodes with [`Claims::to_payload`] and the verifier decodes with
//! [`Claims::from_payload`]; both live here so that the two can never drift apart.
//! `docs/token-format.md` is the normative description of what this module does.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use ciborium::value::Value;
use coset::CborSerializable;
use coset::cwt::{ClaimName, ClaimsSet, Timestamp};

use crate::error::Error;

/// The token format version this crate reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// The CWT claim key of the licet claim map. Keys below -65536 are private use in the
/// IANA CWT Claims registry (RFC 8392 §9.1), so this never collides with a registered claim.
pub const LICET_CLAIM: i64 = -65537;

/// Keys inside the licet claim map (`docs/token-format.md`, "The licet claim").
mod key {
    pub const VERSION: u64 = 0;
    pub const KIND: u64 = 1;
    pub const FEATURES: u64 = 2;
    pub const LICENSE_ID: u64 = 3;
    pub const FINGERPRINT: u64 = 4;
    pub const LICENSE_TYPE: u64 = 5;
    pub const MAX_MACHINES: u64 = 6;
    pub const MAX_LEASES: u64 = 7;
    pub const CLIENT_ID: u64 = 8;
    pub const METADATA: u64 = 9;
}

/// Limits that keep tokens small and decoding bounded; the issuing side refuses to go past
/// them and the verifier refuses tokens that do.
pub mod limits {
    /// Longest product name, in bytes.
    pub const PRODUCT: usize = 64;
    /// Longest feature name, in bytes.
    pub const FEATURE: usize = 64;
    /// Most features in one token.
    pub const FEATURES: usize = 64;
    /// Longest issuer, customer or client id, in bytes.
    pub const NAME: usize = 128;
    /// Most metadata entries.
    pub const METADATA_ENTRIES: usize = 16;
    /// Longest metadata key, in bytes.
    pub const METADATA_KEY: usize = 32;
    /// Longest metadata value, in bytes.
    pub const METADATA_VALUE: usize = 256;
}

/// Length of every id (license, machine, lease): 16 random bytes.
pub const ID_LEN: usize = 16;
/// Length of a machine fingerprint hash.
pub const FINGERPRINT_LEN: usize = 32;

/// A 16-byte identifier of a license, a machine activation or a lease.
pub type Id = [u8; ID_LEN];
/// A 32-byte hash of a machine's fingerprint, salted per product.
pub type Fingerprint = [u8; FINGERPRINT_LEN];

/// The three kinds of token. The kind is a signed claim, so one kind can never pass for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A license: what a customer bought.
    License,
    /// A machine activation, bound to one machine's fingerprint.
    Machine,
    /// A floating seat, held for a short time.
    Lease,
}

impl Kind {
    /// All kinds, in their numeric order.
    pub const ALL: [Kind; 3] = [Kind::License, Kind::Machine, Kind::Lease];

    /// The lower-case name used in docs, the CLI and JSON (`license`, `machine`, `lease`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::License => "license",
            Kind::Machine => "machine",
            Kind::Lease => "lease",
        }
    }

    /// Parses a name as returned by [`Kind::name`].
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn number(self) -> u64 {
        match self {
            Kind::License => 1,
            Kind::Machine => 2,
            Kind::Lease => 3,
        }
    }

    fn from_number(n: u64) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.number() == n)
    }
}

/// The commercial type of a license.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LicenseType {
    /// A time-limited evaluation.
    Trial,
    /// Paid for a period, renewed by the vendor.
    Subscription,
    /// Bought once, valid for ever (an expiry may still bound updates).
    Perpetual,
}

impl LicenseType {
    /// All license types, in their numeric order.
    pub const ALL: [LicenseType; 3] = [
        LicenseType::Trial,
        LicenseType::Subscription,
        LicenseType::Perpetual,
    ];

    /// The lower-case name (`trial`, `subscription`, `perpetual`).
    pub fn name(self) -> &'static str {
        match self {
            LicenseType::Trial => "trial",
            LicenseType::Subscription => "subscription",
            LicenseType::Perpetual => "perpetual",
        }
    }

    /// Parses a name as returned by [`LicenseType::name`].
    pub fn from_name(name: &str) -> Option<LicenseType> {
        LicenseType::ALL.into_iter().find(|t| t.name() == name)
    }

    fn number(self) -> u64 {
        match self {
            LicenseType::Trial => 0,
            LicenseType::Subscription => 1,
            LicenseType::Perpetual => 2,
        }
    }

    fn from_number(n: u64) -> Option<LicenseType> {
        LicenseType::ALL.into_iter().find(|t| t.number() == n)
    }
}

/// What only one kind of token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindClaims {
    /// Claims of a license token.
    License {
        /// Trial, subscription or perpetual, when the vendor said.
        license_type: Option<LicenseType>,
        /// How many machines may be activated; `None` is unlimited.
        max_machines: Option<u64>,
        /// How many floating seats may be held at once; `None` is unlimited.
        max_leases: Option<u64>,
    },
    /// Claims of a machine token.
    Machine {
        /// The license this activation belongs to.
        license_id: Id,
        /// The machine's fingerprint hash the token is bound to.
        fingerprint: Fingerprint,
    },
    /// Claims of a lease token.
    Lease {
        /// The license whose seat this is.
        license_id: Id,
        /// The client that holds the seat, when it said.
        client_id: Option<String>,
    },
}

impl KindClaims {
    /// The kind of token these claims belong to.
    pub fn kind(&self) -> Kind {
        match self {
            KindClaims::License { .. } => Kind::License,
            KindClaims::Machine { .. } => Kind::Machine,
            KindClaims::Lease { .. } => Kind::Lease,
        }
    }
}

/// Every claim of a licet token, typed.
///
/// `id` is the CWT `cti`: the license id in a license token, the activation id in a machine
/// token, the lease id in a lease token. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `iss`: who issued the token (the vendor), when set.
    pub issuer: Option<String>,
    /// `sub`: the customer, when set.
    pub customer: Option<String>,
    /// `aud`: the product the token is for; an application checks it is its own.
    pub product: String,
    /// `exp`: when the token stops being valid. `None` (licenses only) is perpetual.
    /// For a machine token it is the check-in deadline.
    pub expires_at: Option<u64>,
    /// `nbf`: the token is not valid before this time, when set.
    pub not_before: Option<u64>,
    /// `iat`: when the token was issued.
    pub issued_at: u64,
    /// `cti`: this token's id.
    pub id: Id,
    /// Enabled features, sorted and without duplicates.
    pub features: Vec<String>,
    /// Small free-form metadata.
    pub metadata: BTreeMap<String, String>,
    /// What only this kind of token carries.
    pub kind: KindClaims,
}

impl Claims {
    /// The kind of this token.
    pub fn kind(&self) -> Kind {
        self.kind.kind()
    }

    /// Whether `feature` is enabled.
    pub fn has_feature(&self, feature: &str) -> bool {
        self.features
            .binary_search_by(|f| f.as_str().cmp(feature))
            .is_ok()
    }

    /// The license these claims belong to: the token's own id for a license token.
    pub fn license_id(&self) -> &Id {
        match &self.kind {
            KindClaims::License { .. } => &self.id,
            KindClaims::Machine { license_id, .. } | KindClaims::Lease { license_id, .. } => {
                license_id
            }
        }
    }

    /// Sorts and de-duplicates `features`, so that claims built by hand encode canonically.
    pub fn normalize(&mut self) {
        self.features.sort();
        self.features.dedup();
    }

    /// Checks the limits and required fields of the format. The issuing side calls this
    /// before signing; the verifier calls it on every decoded token.
    ///
    /// # Errors
    /// [`Error::Malformed`] naming the first field out of bounds.
    pub fn check(&self) -> Result<(), Error> {
        check_text(
            &self.product,
            limits::PRODUCT,
            "product (aud) is empty or too long",
        )?;
        if let Some(s) = &self.issuer {
            check_text(s, limits::NAME, "issuer (iss) is empty or too long")?;
        }
        if let Some(s) = &self.customer {
            check_text(s, limits::NAME, "customer (sub) is empty or too long")?;
        }
        let max_time = i64::MAX.unsigned_abs();
        let times = [Some(self.issued_at), self.expires_at, self.not_before];
        if times.into_iter().flatten().any(|t| t > max_time) {
            return Err(Error::malformed("a time is out of range"));
        }
        if self.features.len() > limits::FEATURES {
            return Err(Error::malformed("too many features"));
        }
        for f in &self.features {
            check_text(f, limits::FEATURE, "a feature name is empty or too long")?;
        }
        if !self
            .features
            .windows(2)
            .all(|w| matches!(w, [a, b] if a < b))
        {
            return Err(Error::malformed("features are not sorted and unique"));
        }
        if self.metadata.len() > limits::METADATA_ENTRIES {
            return Err(Error::malformed("too many metadata entries"));
        }
        for (k, v) in &self.metadata {
            check_text(
                k,
                limits::METADATA_KEY,
                "a metadata key is empty or too long",
            )?;
            if v.len() > limits::METADATA_VALUE {
                return Err(Error::malformed("a metadata value is too long"));
            }
        }
        match &self.kind {
            KindClaims::License { .. } => {}
            KindClaims::Machine { .. } => {
                if self.expires_at.is_none() {
                    return Err(Error::malformed(
                        "a machine token has no check-in deadline (exp)",
                    ));
                }
            }
            KindClaims::Lease { client_id, .. } => {
                if self.expires_at.is_none() {
                    return Err(Error::malformed("a lease token has no expiry (exp)"));
                }
                if let Some(c) = client_id {
                    check_text(c, limits::NAME, "client id is empty or too long")?;
                }
            }
        }
        Ok(())
    }

    /// Encodes the claims as the CBOR payload of a token, in the one canonical form
    /// (RFC 8949 §4.2.1 core deterministic encoding).
    ///
    /// # Errors
    /// [`Error::Malformed`] when [`Claims::check`] fails.
    pub fn to_payload(&self) -> Result<Vec<u8>, Error> {
        self.check()?;
        let mut licet: Vec<(Value, Value)> = Vec::with_capacity(8);
        let mut put = |k: u64, v: Value| licet.push((Value::Integer(k.into()), v));
        put(key::VERSION, Value::Integer(FORMAT_VERSION.into()));
        put(key::KIND, Value::Integer(self.kind().number().into()));
        if !self.features.is_empty() {
            put(
                key::FEATURES,
                Value::Array(self.features.iter().cloned().map(Value::Text).collect()),
            );
        }
        match &self.kind {
            KindClaims::License {
                license_type,
                max_machines,
                max_leases,
            } => {
                if let Some(t) = license_type {
                    put(key::LICENSE_TYPE, Value::Integer(t.number().into()));
                }
                if let Some(n) = max_machines {
                    put(key::MAX_MACHINES, Value::Integer((*n).into()));
                }
                if let Some(n) = max_leases {
                    put(key::MAX_LEASES, Value::Integer((*n).into()));
                }
            }
            KindClaims::Machine {
                license_id,
                fingerprint,
            } => {
                put(key::LICENSE_ID, Value::Bytes(license_id.to_vec()));
                put(key::FINGERPRINT, Value::Bytes(fingerprint.to_vec()));
            }
            KindClaims::Lease {
                license_id,
                client_id,
            } => {
                put(key::LICENSE_ID, Value::Bytes(license_id.to_vec()));
                if let Some(c) = client_id {
                    put(key::CLIENT_ID, Value::Text(c.clone()));
                }
            }
        }
        if !self.metadata.is_empty() {
            let mut entries: Vec<(&String, &String)> = self.metadata.iter().collect();
            // Deterministic CBOR orders map keys by their encoded bytes; for text strings
            // that is shorter first, then bytewise (RFC 8949 §4.2.1).
            entries.sort_by(|a, b| (a.0.len(), a.0).cmp(&(b.0.len(), b.0)));
            put(
                key::METADATA,
                Value::Map(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Value::Text(k.clone()), Value::Text(v.clone())))
                        .collect(),
                ),
            );
        }
        let set = ClaimsSet {
            issuer: self.issuer.clone(),
            subject: self.customer.clone(),
            audience: Some(self.product.clone()),
            expiration_time: self.expires_at.map(seconds),
            not_before: self.not_before.map(seconds),
            issued_at: Some(seconds(self.issued_at)),
            cwt_id: Some(self.id.to_vec()),
            rest: alloc::vec![(ClaimName::PrivateUse(LICET_CLAIM), Value::Map(licet))],
        };
        set.to_vec()
            .map_err(|_| Error::malformed("claims cannot be encoded"))
    }

    /// Decodes a token payload, strictly: required claims present, no unknown claims, every
    /// value of the right type and in bounds, and the bytes exactly the canonical encoding of
    /// what they hold (so that one set of claims has exactly one encoding).
    ///
    /// # Errors
    /// [`Error::UnsupportedVersion`] for a token of a newer format, [`Error::Malformed`]
    /// for everything else that is wrong.
    pub fn from_payload(payload: &[u8]) -> Result<Claims, Error> {
        let set = ClaimsSet::from_slice(payload).map_err(|e| match e {
            coset::CoseError::DuplicateMapKey => Error::malformed("a claim appears twice"),
            coset::CoseError::ExtraneousData => Error::malformed("trailing bytes after the claims"),
            _ => Error::malformed("claims are not a valid CWT claims set"),
        })?;
        let mut licet = None;
        for (name, value) in set.rest {
            match name {
                ClaimName::PrivateUse(LICET_CLAIM) => licet = Some(value),
                _ => {
                    return Err(Error::malformed(
                        "token carries a claim this format does not define",
                    ));
                }
            }
        }
        let licet = licet.ok_or(Error::malformed("token has no licet claim"))?;
        let Value::Map(entries) = licet else {
            return Err(Error::malformed("the licet claim is not a map"));
        };
        // Read the version first: a newer format may mean anything by the other keys.
        let version = entries
            .iter()
            .find(|(k, _)| int_of(k) == Some(key::VERSION))
            .ok_or(Error::malformed("the licet claim has no version"))?;
        let version = uint(&version.1, "version is not an unsigned integer")?;
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { version });
        }

        let mut fields: BTreeMap<u64, Value> = BTreeMap::new();
        for (k, v) in entries {
            let k = int_of(&k).ok_or(Error::malformed(
                "a licet claim key is not a small unsigned integer",
            ))?;
            if k > key::METADATA {
                return Err(Error::malformed(
                    "the licet claim has a field this version does not define",
                ));
            }
            if fields.insert(k, v).is_some() {
                return Err(Error::malformed("a licet claim field appears twice"));
            }
        }
        let mut take = |k: u64| fields.remove(&k);
        let kind = take(key::KIND).ok_or(Error::malformed("the licet claim has no kind"))?;
        let kind = Kind::from_number(uint(&kind, "kind is not an unsigned integer")?)
            .ok_or(Error::malformed("unknown token kind"))?;
        let features = match take(key::FEATURES) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::Text(s) => Ok(s),
                    _ => Err(Error::malformed("a feature is not a text string")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(Error::malformed("features are not an array")),
        };
        let metadata = match take(key::METADATA) {
            None => BTreeMap::new(),
            Some(Value::Map(items)) => {
                let mut map = BTreeMap::new();
                for (k, v) in items {
                    match (k, v) {
                        (Value::Text(k), Value::Text(v)) => {
                            if map.insert(k, v).is_some() {
                                return Err(Error::malformed("a metadata key appears twice"));
                            }
                        }
                        _ => return Err(Error::malformed("metadata is not a map of text to text")),
                    }
                }
                map
            }
            Some(_) => return Err(Error::malformed("metadata is not a map")),
        };
        let kind_claims = match kind {
            Kind::License => KindClaims::License {
                license_type: match take(key::LICENSE_TYPE) {
                    None => None,
                    Some(v) => Some(
                        LicenseType::from_number(uint(
                            &v,
                            "license type is not an unsigned integer",
                        )?)
                        .ok_or(Error::malformed("unknown license type"))?,
                    ),
                },
                max_machines: take(key::MAX_MACHINES)
                    .map(|v| uint(&v, "max machines is not an unsigned integer"))
                    .transpose()?,
                max_leases: take(key::MAX_LEASES)
                    .map(|v| uint(&v, "max leases is not an unsigned integer"))
                    .transpose()?,
            },
            Kind::Machine => KindClaims::Machine {
                license_id: fixed(
                    take(key::LICENSE_ID),
                    "license id is missing or not 16 bytes",
                )?,
                fingerprint: fixed(
                    take(key::FINGERPRINT),
                    "fingerprint is missing or not 32 bytes",
                )?,
            },
            Kind::Lease => KindClaims::Lease {
                license_id: fixed(
                    take(key::LICENSE_ID),
                    "license id is missing or not 16 bytes",
                )?,
                client_id: match take(key::CLIENT_ID) {
                    None => None,
                    Some(Value::Text(s)) => Some(s),
                    Some(_) => return Err(Error::malformed("client id is not a text string")),
                },
            },
        };
        fields.remove(&key::VERSION);
        if !fields.is_empty() {
            return Err(Error::malformed(
                "the licet claim has a field that does not belong to this kind",
            ));
        }

        let claims = Claims {
            issuer: set.issuer,
            customer: set.subject,
            product: set
                .audience
                .ok_or(Error::malformed("token has no product (aud)"))?,
            expires_at: set.expiration_time.map(time_of).transpose()?,
            not_before: set.not_before.map(time_of).transpose()?,
            issued_at: time_of(
                set.issued_at
                    .ok_or(Error::malformed("token has no issue time (iat)"))?,
            )?,
            id: fixed(
                set.cwt_id.map(Value::Bytes),
                "token id (cti) is missing or not 16 bytes",
            )?,
            features,
            metadata,
            kind: kind_claims,
        };
        claims.check()?;
        // One set of claims, one encoding: anything else (longer integer forms, indefinite
        // lengths, another key order) is refused, so that a token cannot be re-encoded into
        // a second valid token and every implementation agrees on what was signed.
        if claims.to_payload()? != payload {
            return Err(Error::malformed("claims are not in canonical CBOR form"));
        }
        Ok(claims)
    }
}

fn seconds(t: u64) -> Timestamp {
    // `Claims::check` runs before any encoding and refuses times beyond i64.
    Timestamp::WholeSeconds(i64::try_from(t).unwrap_or(i64::MAX))
}

fn time_of(t: Timestamp) -> Result<u64, Error> {
    match t {
        Timestamp::WholeSeconds(s) => {
            u64::try_from(s).map_err(|_| Error::malformed("a time is before 1970"))
        }
        Timestamp::FractionalSeconds(_) => Err(Error::malformed("a time is not whole seconds")),
    }
}

fn check_text(s: &str, max: usize, what: &'static str) -> Result<(), Error> {
    if s.is_empty() || s.len() > max {
        return Err(Error::malformed(what));
    }
    Ok(())
}

fn int_of(v: &Value) -> Option<u64> {
    match v {
        Value::Integer(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

fn uint(v: &Value, what: &'static str) -> Result<u64, Error> {
    int_of(v).ok_or(Error::malformed(what))
}

fn fixed<const N: usize>(v: Option<Value>, what: &'static str) -> Result<[u8; N], Error> {
    match v {
        Some(Value::Bytes(b)) => {
            <[u8; N]>::try_from(b.as_slice()).map_err(|_| Error::malformed(what))
        }
        _ => Err(Error::malformed(what)),
    }
}
