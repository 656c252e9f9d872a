//! The records the server keeps. Stored as JSON in redb values (`docs/api.md` documents
//! the schema); times are seconds since 1970.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A product: the name is the `aud` claim of every token issued for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Unique name.
    pub name: String,
    /// Shown to end users when a check fails, when set.
    pub support_message: Option<String>,
    /// When it was created.
    pub created_at: u64,
    /// When it was last changed.
    pub updated_at: u64,
    /// The policy keyless trials of it are made from (`POST /v1/trials`), when it offers
    /// them: a policy of this product of type `trial` with a duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_policy: Option<String>,
}

/// A keyless trial given: the one trial license of a fingerprint for a product, for
/// ever (`core::trials`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    /// The product.
    pub product: String,
    /// The machine's fingerprint hash, hex.
    pub fingerprint: String,
    /// The trial license's id, hex.
    pub license_id: String,
    /// When it was given.
    pub created_at: u64,
}

/// A license's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Usable.
    Active,
    /// Temporarily refused; can be reinstated.
    Suspended,
    /// Refused for good.
    Revoked,
}

/// Defaults and ranges of a license's settings: one definition with the CLI's policies.
pub use licet::policy::{Overrides, Terms, defaults, limits};

/// A policy: a product's named licensing model (`docs/policies.md`). Licenses made from it
/// read every term they do not override from it, each time they are used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The product it belongs to.
    pub product: String,
    /// Its name, unique within the product.
    pub name: String,
    /// Its terms.
    pub terms: Terms,
    /// When it was created.
    pub created_at: u64,
    /// When it was last changed.
    pub updated_at: u64,
}

/// A license, with its effective terms in its fields (its policy's, with its own overrides
/// in their place: `crate::core::policies::effective`, applied by storage on every read so
/// that no rule sees anything else).
///
/// Stored as a [`LicenseRecord`]: the policy's name and the overrides, never the effective
/// values, so that a change of the policy reaches every license that does not override it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "LicenseRecord", into = "LicenseRecord")]
pub struct License {
    /// 16 random bytes, hex.
    pub id: String,
    /// The signed license token (text form) the customer holds.
    pub key: String,
    /// The product's name.
    pub product: String,
    /// The policy it was made from (a name within its product), if any.
    pub policy: Option<String>,
    /// What it sets itself over its policy (a license made before policies overrides
    /// everything).
    pub overrides: Overrides,
    /// trial / subscription / perpetual, when set.
    pub license_type: Option<String>,
    /// Active, suspended or revoked.
    pub status: Status,
    /// Enabled features.
    pub features: Vec<String>,
    /// Expiry; `None` is perpetual.
    pub expires_at: Option<u64>,
    /// Most machines; `None` is unlimited.
    pub max_machines: Option<u64>,
    /// Most concurrent leases; `None` is unlimited.
    pub max_leases: Option<u64>,
    /// Default lease length, seconds.
    pub lease_ttl: u64,
    /// Longest lease, seconds.
    pub lease_ttl_max: u64,
    /// Machine check-in interval, seconds.
    pub check_in_interval: u64,
    /// Most machine deactivations per `deactivation_period`; `None` is unlimited.
    pub deactivation_limit: Option<u64>,
    /// The rolling window deactivations are counted over, seconds.
    pub deactivation_period: u64,
    /// How long a freed activation stays unusable, seconds.
    pub activation_cooldown: u64,
    /// How long past its expiry or a missed check-in it is still served, with a warning,
    /// seconds; 0: none.
    pub grace_period: u64,
    /// Customer, when set.
    pub customer: Option<String>,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, String>,
    /// When it was created.
    pub created_at: u64,
    /// When it was last changed.
    pub updated_at: u64,
}

impl License {
    /// Puts the effective terms (`terms`, computed from the policy and the overrides) in the
    /// license's fields.
    pub fn set_terms(&mut self, terms: Terms) {
        self.license_type = terms.license_type;
        self.features = terms.features;
        self.max_machines = terms.max_machines;
        self.max_leases = terms.max_leases;
        self.lease_ttl = terms.lease_ttl;
        self.lease_ttl_max = terms.lease_ttl_max;
        self.check_in_interval = terms.check_in_interval;
        self.deactivation_limit = terms.deactivation_limit;
        self.deactivation_period = terms.deactivation_period;
        self.activation_cooldown = terms.activation_cooldown;
        self.grace_period = terms.grace_period;
    }

    /// The license's effective terms, as its fields hold them.
    pub fn terms(&self) -> Terms {
        Terms {
            license_type: self.license_type.clone(),
            duration: None,
            features: self.features.clone(),
            max_machines: self.max_machines,
            max_leases: self.max_leases,
            lease_ttl: self.lease_ttl,
            lease_ttl_max: self.lease_ttl_max,
            check_in_interval: self.check_in_interval,
            deactivation_limit: self.deactivation_limit,
            deactivation_period: self.deactivation_period,
            activation_cooldown: self.activation_cooldown,
            grace_period: self.grace_period,
        }
    }
}

/// A license as stored: its policy's name and its overrides, not the effective values.
/// The overrides' fields sit at the top level, where a record made before policies holds
/// its values: such a record reads as overriding every field, and answers as before.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LicenseRecord {
    id: String,
    key: String,
    product: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    status: Status,
    expires_at: Option<u64>,
    #[serde(flatten)]
    overrides: Overrides,
    customer: Option<String>,
    metadata: BTreeMap<String, String>,
    created_at: u64,
    updated_at: u64,
}

impl From<LicenseRecord> for License {
    /// The license with its overrides over the defaults; storage then reads its policy,
    /// when it has one, and puts the effective terms in (`crate::storage::resolve`).
    fn from(r: LicenseRecord) -> Self {
        let terms = r.overrides.apply(&Terms::default());
        let mut l = License {
            id: r.id,
            key: r.key,
            product: r.product,
            policy: r.policy,
            overrides: r.overrides,
            license_type: None,
            status: r.status,
            features: Vec::new(),
            expires_at: r.expires_at,
            max_machines: None,
            max_leases: None,
            lease_ttl: 0,
            lease_ttl_max: 0,
            check_in_interval: 0,
            deactivation_limit: None,
            deactivation_period: 0,
            activation_cooldown: 0,
            grace_period: 0,
            customer: r.customer,
            metadata: r.metadata,
            created_at: r.created_at,
            updated_at: r.updated_at,
        };
        l.set_terms(terms);
        l
    }
}

impl From<License> for LicenseRecord {
    fn from(l: License) -> Self {
        LicenseRecord {
            id: l.id,
            key: l.key,
            product: l.product,
            policy: l.policy,
            status: l.status,
            expires_at: l.expires_at,
            overrides: l.overrides,
            customer: l.customer,
            metadata: l.metadata,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

/// An activated machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// 16 random bytes, hex: the machine token's id.
    pub id: String,
    /// The license's id, hex.
    pub license_id: String,
    /// The fingerprint hash, hex.
    pub fingerprint: String,
    /// A name, when the client gave one.
    pub name: Option<String>,
    /// Platform, when given.
    pub platform: Option<String>,
    /// User, when given.
    pub user: Option<String>,
    /// When it was activated.
    pub activated_at: u64,
    /// When it last checked in (or was activated).
    pub last_check_in: u64,
}

/// A machine deactivation, kept while it matters: for the license's deactivation limit
/// and activation cooldown (`docs/policies.md`), and while the freed machine's last token
/// is valid, so that the signed revocation list names it (`GET /v1/revocations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deactivation {
    /// The license's id, hex.
    pub license_id: String,
    /// The freed activation's id, hex (its machine tokens' `cti`).
    pub machine_id: String,
    /// The machine's fingerprint hash, hex.
    pub fingerprint: String,
    /// When it was deactivated.
    pub at: u64,
    /// When the last machine token it could hold expires: until then its id is revoked.
    pub token_expires_at: u64,
    /// Whether the vendor's admin freed it: then it counts against neither the limit nor
    /// the cooldown (the vendor's way round them), and is still listed as revoked.
    #[serde(default)]
    pub by_admin: bool,
}

/// One entry of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Position in the log (assigned when written).
    #[serde(default)]
    pub seq: u64,
    /// When it happened.
    pub at: u64,
    /// What happened, e.g. `license.create`, `machine.activate`, `request.refused`.
    pub action: String,
    /// Who: `admin`, `client` or `server`.
    pub actor: String,
    /// The license concerned, hex id, when there is one.
    pub license_id: Option<String>,
    /// Details (never a secret: no license key, no admin token).
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event caused by a client request (`seq` is assigned when it is written).
    pub fn client(
        at: u64,
        action: &str,
        license_id: Option<&str>,
        detail: serde_json::Value,
    ) -> Self {
        Self::by("client", at, action, license_id, detail)
    }

    /// An event caused by an admin request.
    pub fn admin(
        at: u64,
        action: &str,
        license_id: Option<&str>,
        detail: serde_json::Value,
    ) -> Self {
        Self::by("admin", at, action, license_id, detail)
    }

    /// An event of the server's own (retention), actor `server`.
    pub fn by_server(at: u64, action: &str, detail: serde_json::Value) -> Self {
        Self::by("server", at, action, None, detail)
    }

    fn by(
        actor: &str,
        at: u64,
        action: &str,
        license_id: Option<&str>,
        detail: serde_json::Value,
    ) -> Self {
        AuditEvent {
            seq: 0,
            at,
            action: action.to_owned(),
            actor: actor.to_owned(),
            license_id: license_id.map(str::to_owned),
            detail,
        }
    }
}

/// A floating seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// 16 random bytes, hex: the lease token's id.
    pub id: String,
    /// The license's id, hex.
    pub license_id: String,
    /// The client that holds it, when it said.
    pub client_id: Option<String>,
    /// When it was obtained.
    pub created_at: u64,
    /// When it expires (moved by each renewal).
    pub expires_at: u64,
    /// When it was released, if it was.
    pub released_at: Option<u64>,
    /// How many times it was renewed.
    pub renewals: u64,
    /// SHA-256 of the current lease token's binary form, hex: a token replaced by a renewal
    /// no longer matches, and is refused online.
    pub token_sha256: String,
    /// The last renewal made with a `request_id`, so that a client whose answer was lost
    /// can repeat that same request and get the same token back (`None` once released).
    #[serde(default)]
    pub retry: Option<RenewRetry>,
}

/// What a repeated renewal answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewRetry {
    /// The client's id for that renewal.
    pub request_id: String,
    /// SHA-256 of the token that renewal presented, hex.
    pub previous_sha256: String,
    /// The token it was answered with (text form).
    pub token: String,
}

impl Lease {
    /// `active`, `released` or `expired`, at `now`.
    pub fn state(&self, now: u64) -> &'static str {
        if self.released_at.is_some() {
            "released"
        } else if now >= self.expires_at {
            "expired"
        } else {
            "active"
        }
    }
}

/// A named admin token: a credential for the admin API limited to its scopes
/// (`docs/operations.md` §5). The secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminToken {
    /// 16 random bytes, hex.
    pub id: String,
    /// Unique name, chosen by whoever created it (`webshop`, `support-team`).
    pub name: String,
    /// What it may do (`licenses:write`, …, `admin`). Kept as strings so that a record
    /// written by a newer server with a scope this one does not know still loads (the
    /// unknown scope then grants nothing).
    pub scopes: Vec<String>,
    /// SHA-256 of the secret, hex.
    pub secret_sha256: String,
    /// When it was created.
    pub created_at: u64,
    /// When it was last used, to the minute (see `core::tokens::LastUse`).
    pub last_used_at: Option<u64>,
}

/// What a deny-list entry matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DenyKind {
    /// A machine fingerprint hash (64 hex digits).
    Fingerprint,
    /// A source address range (CIDR, IPv4 or IPv6; a single address is a /32 or /128).
    Ip,
    /// A license, by id (32 hex digits).
    License,
}

impl DenyKind {
    /// The name the API and the audit log use.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyKind::Fingerprint => "fingerprint",
            DenyKind::Ip => "ip",
            DenyKind::License => "license",
        }
    }
}

/// An entry of the deny list: client requests that match it are refused `DENIED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenyEntry {
    /// 16 random bytes, hex.
    pub id: String,
    /// What `value` is.
    pub kind: DenyKind,
    /// The fingerprint (lowercase hex), the CIDR range (normalised, e.g. `203.0.113.0/24`)
    /// or the license id (lowercase hex).
    pub value: String,
    /// Why (shown to admins and in the audit log, never to the client).
    pub reason: String,
    /// When it stops applying, if ever.
    pub expires_at: Option<u64>,
    /// When it was added.
    pub created_at: u64,
}
