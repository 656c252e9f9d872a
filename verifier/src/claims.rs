//! The claims a token carries, and their one CBOR encoding (a CWT claims set, RFC 8392).
//!
//! The issuing side encodes with [`Claims::to_payload`] and the verifier decodes with
//! [`Claims::from_payload`]; both live here so that the two can never drift apart.
//! `docs/token-format.md` is the normative description of what this module does.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::cbor::{self, Item};
use crate::error::Error;

/// The token format version this crate writes for every token without a grace end, and
/// for every signed document (§13).
pub const FORMAT_VERSION: u64 = 1;

/// The format version of a machine token that carries a grace end (key 16,
/// `docs/token-format.md` §7.2 and §8): version 1 plus that one key. A token carries
/// version 2 exactly when it carries the key, so one set of claims keeps one encoding,
/// and a verifier that knows only version 1 refuses it as `TOKEN_UNSUPPORTED_VERSION`
/// ("update the application") rather than as malformed.
pub const GRACE_VERSION: u64 = 2;

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
    /// Version 2, machine tokens only: when the license's grace period ends.
    pub const GRACE_ENDS_AT: u64 = 16;
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
        /// When the grace period this token was issued in ends: set only in a token
        /// issued after its license expired, while the vendor's grace period lets it run
        /// (`docs/token-format.md` §7.2, key 16). The application should warn, not stop;
        /// the token's `exp` is never later than this.
        grace_ends_at: Option<u64>,
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

    /// When the grace period of a machine token ends, if it was issued in one: the
    /// license has expired and the vendor lets the application run until then, with a
    /// warning. `None` for a token issued under a valid license (and for license and
    /// lease tokens, which never carry it).
    pub fn grace_ends_at(&self) -> Option<u64> {
        match &self.kind {
            KindClaims::Machine { grace_ends_at, .. } => *grace_ends_at,
            _ => None,
        }
    }

    /// The format version these claims are written in: [`GRACE_VERSION`] when they carry
    /// a grace end, else [`FORMAT_VERSION`].
    pub fn format_version(&self) -> u64 {
        if self.grace_ends_at().is_some() {
            GRACE_VERSION
        } else {
            FORMAT_VERSION
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
            KindClaims::Machine { grace_ends_at, .. } => {
                let Some(exp) = self.expires_at else {
                    return Err(Error::malformed(
                        "a machine token has no check-in deadline (exp)",
                    ));
                };
                if let Some(g) = *grace_ends_at
                    && (g > max_time || g < exp)
                {
                    return Err(Error::malformed(
                        "the grace end is out of range or before the token's expiry (exp)",
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
        let (license_type, max_machines, max_leases, license_id, fingerprint, client_id) =
            match &self.kind {
                KindClaims::License {
                    license_type,
                    max_machines,
                    max_leases,
                } => (*license_type, *max_machines, *max_leases, None, None, None),
                KindClaims::Machine {
                    license_id,
                    fingerprint,
                    ..
                } => (None, None, None, Some(license_id), Some(fingerprint), None),
                KindClaims::Lease {
                    license_id,
                    client_id,
                } => (
                    None,
                    None,
                    None,
                    Some(license_id),
                    None,
                    client_id.as_deref(),
                ),
            };
        let features = (!self.features.is_empty()).then_some(&self.features);
        let metadata = (!self.metadata.is_empty()).then_some(&self.metadata);
        // Deterministic CBOR (RFC 8949 §4.2.1) orders map keys by their encoded bytes:
        // the unsigned keys 1 to 7 first, then the licet claim's negative key; inside the
        // licet claim 0 to 9; and text keys shorter first, then bytewise. Absent claims
        // and empty lists are left out, so that one set of claims has one encoding.
        let mut w = cbor::Writer::new();
        let top = [
            self.issuer.is_some(),
            self.customer.is_some(),
            true,
            self.expires_at.is_some(),
            self.not_before.is_some(),
            true,
            true,
            true,
        ];
        w.map(top.iter().filter(|b| **b).count());
        if let Some(s) = &self.issuer {
            w.uint(1).text(s);
        }
        if let Some(s) = &self.customer {
            w.uint(2).text(s);
        }
        w.uint(3).text(&self.product);
        if let Some(t) = self.expires_at {
            w.uint(4).uint(t);
        }
        if let Some(t) = self.not_before {
            w.uint(5).uint(t);
        }
        w.uint(6).uint(self.issued_at);
        w.uint(7).bytes(&self.id);
        w.nint(LICET_CLAIM.unsigned_abs().saturating_sub(1));
        let licet = [
            true,
            true,
            features.is_some(),
            license_id.is_some(),
            fingerprint.is_some(),
            license_type.is_some(),
            max_machines.is_some(),
            max_leases.is_some(),
            client_id.is_some(),
            metadata.is_some(),
            self.grace_ends_at().is_some(),
        ];
        w.map(licet.iter().filter(|b| **b).count());
        w.uint(key::VERSION).uint(self.format_version());
        w.uint(key::KIND).uint(self.kind().number());
        if let Some(features) = features {
            w.uint(key::FEATURES).array(features.len());
            for f in features {
                w.text(f);
            }
        }
        if let Some(id) = license_id {
            w.uint(key::LICENSE_ID).bytes(id);
        }
        if let Some(f) = fingerprint {
            w.uint(key::FINGERPRINT).bytes(f);
        }
        if let Some(t) = license_type {
            w.uint(key::LICENSE_TYPE).uint(t.number());
        }
        if let Some(n) = max_machines {
            w.uint(key::MAX_MACHINES).uint(n);
        }
        if let Some(n) = max_leases {
            w.uint(key::MAX_LEASES).uint(n);
        }
        if let Some(c) = client_id {
            w.uint(key::CLIENT_ID).text(c);
        }
        if let Some(metadata) = metadata {
            let mut entries: Vec<(&String, &String)> = metadata.iter().collect();
            entries.sort_by(|a, b| (a.0.len(), a.0).cmp(&(b.0.len(), b.0)));
            w.uint(key::METADATA).map(entries.len());
            for (k, v) in entries {
                w.text(k).text(v);
            }
        }
        if let Some(t) = self.grace_ends_at() {
            w.uint(key::GRACE_ENDS_AT).uint(t);
        }
        Ok(w.into_bytes())
    }

    /// Decodes a token payload, strictly: required claims present, no unknown claims, every
    /// value of the right type and in bounds, and the bytes exactly the canonical encoding of
    /// what they hold (so that one set of claims has exactly one encoding).
    ///
    /// # Errors
    /// [`Error::UnsupportedVersion`] for a token of a newer format, [`Error::Malformed`]
    /// for everything else that is wrong.
    pub fn from_payload(payload: &[u8]) -> Result<Claims, Error> {
        if let Some(claims) = read_canonical(payload) {
            // Debug builds (every test, every vector) check the promise `read_canonical`
            // makes: what it accepts is the canonical encoding of valid claims.
            debug_assert!(claims.to_payload().is_ok_and(|p| p == payload));
            return Ok(claims);
        }
        // §8: the version is read before any other claim or key is interpreted, so that a
        // later version may add claims or change their types and still be told apart
        // (`TOKEN_UNSUPPORTED_VERSION`, "update the application") from a broken token.
        let version = declared_version(payload)?;
        if version != FORMAT_VERSION && version != GRACE_VERSION {
            return Err(Error::UnsupportedVersion { version });
        }
        // Version 1, and not the one canonical encoding of valid claims: a wrong type, a
        // claim twice or unknown, a limit passed, a longer integer form, another key order.
        // Each is refused so that a token cannot be re-encoded into a second valid token
        // and every implementation agrees on what was signed. What exactly is wrong is not
        // told apart here: a full CBOR parser only for that was most of the verifier's
        // size on a microcontroller, and [`Claims::check`] on the claims the issuer meant
        // names a limit before signing.
        Err(Error::malformed(
            "claims are not the canonical encoding of valid version 1 or 2 claims (token-format §5, §7)",
        ))
    }
}

/// The format version a payload declares: key 0 of the licet claim (−65537), found with
/// nothing else in the payload read or checked. The envelope that leads to it is the one
/// thing fixed for every version (§8), so heads of any length are read here, and any
/// other claim is skipped whatever it holds.
fn declared_version(payload: &[u8]) -> Result<u64, Error> {
    let not_claims = Error::malformed("claims are not a valid CWT claims set");
    let Some((Item::Map(n), mut rest)) = cbor::lenient(payload) else {
        return Err(not_claims);
    };
    let licet_key = LICET_CLAIM.unsigned_abs().saturating_sub(1);
    let mut licet = None;
    for _ in 0..n {
        let (name, _) = cbor::lenient(rest).ok_or(not_claims.clone())?;
        let value = cbor::skip(rest, cbor::MAX_DEPTH).ok_or(not_claims.clone())?;
        let after = cbor::skip(value, cbor::MAX_DEPTH).ok_or(not_claims.clone())?;
        if licet.is_none() && name == Item::Int(Err(licet_key)) {
            licet = Some(value);
        }
        rest = after;
    }
    let licet = licet.ok_or(Error::malformed("token has no licet claim"))?;
    let Some((Item::Map(n), mut rest)) = cbor::lenient(licet) else {
        return Err(Error::malformed("the licet claim is not a map"));
    };
    for _ in 0..n {
        let (k, _) = cbor::lenient(rest).ok_or(not_claims.clone())?;
        let value = cbor::skip(rest, cbor::MAX_DEPTH).ok_or(not_claims.clone())?;
        if k == Item::Int(Ok(key::VERSION)) {
            return match cbor::lenient(value) {
                Some((Item::Int(Ok(version)), _)) => Ok(version),
                _ => Err(Error::malformed("version is not an unsigned integer")),
            };
        }
        rest = cbor::skip(value, cbor::MAX_DEPTH).ok_or(not_claims.clone())?;
    }
    Err(Error::malformed("the licet claim has no version"))
}

/// Reads claims in their one canonical encoding, exactly as [`Claims::to_payload`] writes
/// it, straight from the bytes: every key in the order `to_payload` writes it (so no key
/// twice and none unknown), every head in shortest form, empty features and metadata
/// absent rather than empty, and the claims passing [`Claims::check`]. Anything else is
/// `None`, and [`Claims::from_payload`] then reads only the declared version, to tell a
/// later format from a broken token. This is the path every valid token takes; it avoids building and
/// re-encoding a CBOR tree, which was most of the verifier's own time
/// (`docs/benchmarks.md`).
fn read_canonical(payload: &[u8]) -> Option<Claims> {
    let mut r = cbor::Reader::new(payload);
    let (mut issuer, mut customer, mut product) = (None, None, None);
    let (mut expires_at, mut not_before, mut issued_at, mut id) = (None, None, None, None);
    let mut licet = None;
    // Keys 1 (iss) to 7 (cti), then the licet claim, in that order: the deterministic
    // order of their encodings (RFC 8949 §4.2.1), and the order `to_payload` writes.
    let mut last = 0u64;
    for _ in 0..r.map()? {
        let key = match r.uint() {
            Some(k @ 1..=7) => k,
            Some(_) => return None,
            None if r.nint()? == LICET_CLAIM.unsigned_abs().checked_sub(1)? => 8,
            None => return None,
        };
        if key <= last {
            return None;
        }
        last = key;
        match key {
            1 => issuer = Some(String::from(r.text()?)),
            2 => customer = Some(String::from(r.text()?)),
            3 => product = Some(String::from(r.text()?)),
            4 => expires_at = Some(r.uint()?),
            5 => not_before = Some(r.uint()?),
            6 => issued_at = Some(r.uint()?),
            7 => id = Some(Id::try_from(r.bytes()?).ok()?),
            _ => licet = Some(read_licet(&mut r)?),
        }
    }
    if !r.rest().is_empty() {
        return None;
    }
    let (features, metadata, kind) = licet?;
    let claims = Claims {
        issuer,
        customer,
        product: product?,
        expires_at,
        not_before,
        issued_at: issued_at?,
        id: id?,
        features,
        metadata,
        kind,
    };
    claims.check().ok()?;
    Some(claims)
}

/// The licet claim map, for [`read_canonical`]: keys in increasing order, only those of
/// the token's kind, version 1, or version 2 with a grace end (another version goes to the
/// full parse, which names it).
fn read_licet(
    r: &mut cbor::Reader<'_>,
) -> Option<(Vec<String>, BTreeMap<String, String>, KindClaims)> {
    let mut version = None;
    let mut kind = None;
    let mut grace_ends_at = None;
    let mut features = Vec::new();
    let mut metadata = BTreeMap::new();
    let (mut license_type, mut max_machines, mut max_leases) = (None, None, None);
    let (mut license_id, mut fingerprint, mut client_id) = (None, None, None);
    let mut next = 0u64;
    for _ in 0..r.map()? {
        let k = r.uint()?;
        if k < next {
            return None;
        }
        next = k.checked_add(1)?;
        match k {
            key::VERSION => version = Some(r.uint()?),
            key::KIND => kind = Some(Kind::from_number(r.uint()?)?),
            key::FEATURES => {
                let n = r.array()?;
                // `to_payload` leaves out an empty list; a token never has one.
                if n == 0 || n > limits::FEATURES as u64 {
                    return None;
                }
                for _ in 0..n {
                    features.push(String::from(r.text()?));
                }
            }
            key::LICENSE_ID => license_id = Some(Id::try_from(r.bytes()?).ok()?),
            key::FINGERPRINT => fingerprint = Some(Fingerprint::try_from(r.bytes()?).ok()?),
            key::LICENSE_TYPE => license_type = Some(LicenseType::from_number(r.uint()?)?),
            key::MAX_MACHINES => max_machines = Some(r.uint()?),
            key::MAX_LEASES => max_leases = Some(r.uint()?),
            key::CLIENT_ID => client_id = Some(String::from(r.text()?)),
            key::METADATA => {
                let n = r.map()?;
                if n == 0 || n > limits::METADATA_ENTRIES as u64 {
                    return None;
                }
                let mut previous: Option<&str> = None;
                for _ in 0..n {
                    let (k, v) = (r.text()?, r.text()?);
                    // Text keys in deterministic order: shorter first, then bytewise.
                    if previous.is_some_and(|p| (p.len(), p) >= (k.len(), k)) {
                        return None;
                    }
                    previous = Some(k);
                    metadata.insert(String::from(k), String::from(v));
                }
            }
            key::GRACE_ENDS_AT => grace_ends_at = Some(r.uint()?),
            _ => return None,
        }
    }
    // Version 2 is version 1 plus the grace end: each with its own keys only.
    match version? {
        FORMAT_VERSION if grace_ends_at.is_none() => {}
        GRACE_VERSION if grace_ends_at.is_some() => {}
        _ => return None,
    }
    // Only the fields of the token's own kind.
    let license_fields = license_type.is_some() || max_machines.is_some() || max_leases.is_some();
    let kind = match kind? {
        Kind::License | Kind::Lease if grace_ends_at.is_some() => return None,
        Kind::License if license_id.is_none() && fingerprint.is_none() && client_id.is_none() => {
            KindClaims::License {
                license_type,
                max_machines,
                max_leases,
            }
        }
        Kind::Machine if !license_fields && client_id.is_none() => KindClaims::Machine {
            license_id: license_id?,
            fingerprint: fingerprint?,
            grace_ends_at,
        },
        Kind::Lease if !license_fields && fingerprint.is_none() => KindClaims::Lease {
            license_id: license_id?,
            client_id,
        },
        _ => return None,
    };
    Some((features, metadata, kind))
}

fn check_text(s: &str, max: usize, what: &'static str) -> Result<(), Error> {
    if s.is_empty() || s.len() > max {
        return Err(Error::malformed(what));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;
    use ciborium::value::Value;

    fn license() -> Claims {
        Claims {
            issuer: None,
            customer: Some("cus_8842".into()),
            product: "acme-studio-pro".into(),
            expires_at: Some(1_900_000_000),
            not_before: None,
            issued_at: 1_790_000_000,
            id: [7; ID_LEN],
            features: alloc::vec!["batch-render".into(), "cloud-sync".into()],
            metadata: BTreeMap::new(),
            kind: KindClaims::License {
                license_type: Some(LicenseType::Subscription),
                max_machines: None,
                max_leases: None,
            },
        }
    }

    fn shapes() -> Vec<Claims> {
        let mut metadata = BTreeMap::new();
        metadata.insert("po".into(), "PO-2026-117".into());
        metadata.insert("region".into(), "".into());
        metadata.insert("seats-note".into(), "lab A".into());
        alloc::vec![
            license(),
            Claims {
                customer: None,
                expires_at: None,
                features: Vec::new(),
                kind: KindClaims::License {
                    license_type: None,
                    max_machines: None,
                    max_leases: None,
                },
                ..license()
            },
            Claims {
                issuer: Some("Acme Software GmbH".into()),
                not_before: Some(1_790_003_600),
                metadata,
                kind: KindClaims::License {
                    license_type: Some(LicenseType::Trial),
                    max_machines: Some(10),
                    max_leases: Some(u64::MAX),
                },
                ..license()
            },
            Claims {
                kind: KindClaims::Machine {
                    license_id: [1; ID_LEN],
                    fingerprint: [2; FINGERPRINT_LEN],
                    grace_ends_at: None,
                },
                ..license()
            },
            Claims {
                kind: KindClaims::Machine {
                    license_id: [1; ID_LEN],
                    fingerprint: [2; FINGERPRINT_LEN],
                    grace_ends_at: Some(1_900_000_000 + 14 * 86_400),
                },
                ..license()
            },
            Claims {
                kind: KindClaims::Lease {
                    license_id: [1; ID_LEN],
                    client_id: Some("host-7".into()),
                },
                ..license()
            },
            Claims {
                features: Vec::new(),
                kind: KindClaims::Lease {
                    license_id: [1; ID_LEN],
                    client_id: None,
                },
                ..license()
            },
        ]
    }

    /// Every valid token takes the direct path, which reads exactly what `to_payload` wrote.
    #[test]
    fn canonical_claims_take_the_direct_path() {
        for claims in shapes() {
            let payload = claims.to_payload().unwrap();
            assert_eq!(read_canonical(&payload), Some(claims.clone()));
            assert_eq!(Claims::from_payload(&payload).unwrap(), claims);
        }
    }

    fn edit(claims: &Claims, f: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
        let mut value: Value =
            ciborium::de::from_reader(&claims.to_payload().unwrap()[..]).unwrap();
        let Value::Map(top) = &mut value else {
            panic!()
        };
        let Some((_, Value::Map(licet))) = top.last_mut() else {
            panic!()
        };
        f(licet);
        let mut out = Vec::new();
        ciborium::ser::into_writer(&value, &mut out).unwrap();
        out
    }

    /// Version 2 is version 1 plus key 16 in a machine token, and nothing else: the key
    /// under version 1, version 2 without it, the key in another kind, or a grace end
    /// before `exp` is each malformed.
    #[test]
    fn version_2_is_exactly_a_machine_token_with_a_grace_end() {
        let grace = shapes()
            .into_iter()
            .find(|c| c.grace_ends_at().is_some())
            .unwrap();
        let payload = grace.to_payload().unwrap();
        assert_eq!(Claims::from_payload(&payload).unwrap(), grace);
        assert_eq!(grace.format_version(), GRACE_VERSION);
        let malformed = |p: Vec<u8>| Claims::from_payload(&p).unwrap_err().code();
        let key16 = |m: &mut Vec<(Value, Value)>| {
            m.push((Value::from(16u64), Value::from(2_000_000_000u64)));
        };
        let mut plain = grace.clone();
        if let KindClaims::Machine { grace_ends_at, .. } = &mut plain.kind {
            *grace_ends_at = None;
        }
        assert_eq!(
            malformed(edit(&grace, |m| m[0].1 = Value::from(1u64))),
            "TOKEN_MALFORMED"
        );
        assert_eq!(
            malformed(edit(&plain, |m| m[0].1 = Value::from(2u64))),
            "TOKEN_MALFORMED"
        );
        assert_eq!(
            malformed(edit(&license(), |m| {
                m[0].1 = Value::from(2u64);
                key16(m);
            })),
            "TOKEN_MALFORMED"
        );
        let mut early = grace.clone();
        early.expires_at = Some(2_100_000_000);
        assert!(early.to_payload().is_err());
    }

    /// §8: a later version may add claims, add keys to the licet claim or change what a
    /// claim holds; the version is read first, so each is `TOKEN_UNSUPPORTED_VERSION`, not
    /// `TOKEN_MALFORMED`. Version 1 with the same additions stays malformed.
    #[test]
    fn a_later_version_is_named_whatever_else_it_changes() {
        type Edit<'a> = &'a dyn Fn(&mut Vec<(Value, Value)>);
        let top = |version: u64, f: Edit<'_>| {
            let payload = edit(&license(), |m| m[0].1 = Value::from(version));
            let mut value: Value = ciborium::de::from_reader(&payload[..]).unwrap();
            let Value::Map(claims) = &mut value else {
                panic!()
            };
            f(claims);
            let mut out = Vec::new();
            ciborium::ser::into_writer(&value, &mut out).unwrap();
            out
        };
        let new_claim = |m: &mut Vec<(Value, Value)>| {
            m.insert(6, (Value::from(8u64), Value::Map(Vec::new())));
        };
        let aud_as_array = |m: &mut Vec<(Value, Value)>| {
            m[1].1 = Value::Array(alloc::vec![Value::Text("acme-studio-pro".into())]);
        };
        let new_licet_key = |version: u64| {
            edit(&license(), |m| {
                m[0].1 = Value::from(version);
                m.push((Value::from(10u64), Value::Bool(true)));
            })
        };
        for (payload, v1) in [
            (top(3, &new_claim), top(1, &new_claim)),
            (top(3, &aud_as_array), top(1, &aud_as_array)),
            (new_licet_key(3), new_licet_key(1)),
        ] {
            assert_eq!(
                Claims::from_payload(&payload).unwrap_err(),
                Error::UnsupportedVersion { version: 3 }
            );
            assert_eq!(
                Claims::from_payload(&v1).unwrap_err().code(),
                "TOKEN_MALFORMED"
            );
        }
    }

    /// What is not canonical, or not valid, leaves the direct path and gets the full
    /// parse's verdict.
    #[test]
    fn anything_else_gets_the_full_parse() {
        let mut long_head = license().to_payload().unwrap();
        assert_eq!(long_head[0], 0xa6);
        long_head.splice(0..1, [0xb8, 0x06]);
        let mut trailing = license().to_payload().unwrap();
        trailing.push(0);
        let cases: [(Vec<u8>, &str); 5] = [
            (long_head, "TOKEN_MALFORMED"),
            (trailing, "TOKEN_MALFORMED"),
            (
                // An empty feature list, which `to_payload` leaves out.
                edit(
                    &Claims {
                        features: Vec::new(),
                        ..license()
                    },
                    |m| {
                        m.insert(2, (Value::from(2u64), Value::Array(Vec::new())));
                    },
                ),
                "TOKEN_MALFORMED",
            ),
            (
                edit(&license(), |m| m[0].1 = Value::from(3u64)),
                "TOKEN_UNSUPPORTED_VERSION",
            ),
            (edit(&license(), |m| m.swap(0, 1)), "TOKEN_MALFORMED"),
        ];
        for (payload, code) in cases {
            assert_eq!(read_canonical(&payload), None);
            assert_eq!(Claims::from_payload(&payload).unwrap_err().code(), code);
        }
    }
}
