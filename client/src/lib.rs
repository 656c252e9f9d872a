//! The client side of licet for applications: activate this machine, check in, deactivate,
//! hold a floating seat that is renewed in the background, and start offline from the
//! last good tokens.
//!
//! Everything the server sends is verified with [`licet_verifier`] against the keyring the
//! application ships (`include_str!("signature.pem")`) before it is used or stored; keys
//! fetched at run time are never trusted. The last good machine and lease tokens, and the
//! latest time seen (against a clock set back), are kept in a small file per product and
//! user (`licet_app::store_dir`, which honours `LICET_HOME`), so that the next start
//! works without the network: [`Client::load_machine`].
//!
//! ```no_run
//! use licet_client::{Client, SeatStatus};
//! use licet_verifier::Keyring;
//!
//! // In an application: include_str!("signature.pem"), the vendor's public keys.
//! let keyring = Keyring::from_pem(include_str!("../../test-vectors/keys/signature.pem"))?;
//! let license_key = "LIC-…"; // what the customer entered
//! let client = Client::builder("https://license.example.com", "acme-studio-pro", license_key, keyring)
//!     .build()?;
//!
//! // Start offline when this machine was activated before; else activate online.
//! let machine = match client.load_machine() {
//!     Ok(m) => m,
//!     Err(e) if e.code() == "OFFLINE" => client.activate()?,
//!     Err(e) => return Err(e.into()),
//! };
//! println!("licensed until {}", machine.check_in_before());
//! // In a grace period: keep running, and tell the user why and until when.
//! if let Some(grace) = machine.grace() {
//!     eprintln!("{}: renew or check in before {}", grace.code(), grace.ends_at());
//! }
//!
//! // A floating seat, renewed in the background at half its remaining time.
//! let seat = client.hold_seat()?;
//! // ... the application works, and looks at the seat now and then:
//! if let SeatStatus::Lost(e) = seat.status() {
//!     eprintln!("the seat was lost: {e}");
//! }
//! seat.release()?; // also done, best effort, when the seat is dropped
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `docs/floating-licenses.md` in the repository explains leases, their TTL, renewal and
//! the offline checks together.

#![forbid(unsafe_code)]

mod error;
mod http;
mod seat;
mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use licet_verifier::{Claims, Expectations, Fingerprint, Keyring, Kind, hex};

pub use error::Error;
pub use licet_verifier;
pub use seat::{Seat, SeatStatus};

use http::Http;
use store::Store;

/// The clock the client checks tokens against: seconds since 1970.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Default time limit of one request to the server, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Talks to the licensing server for one product and license key, and keeps its tokens.
///
/// Cheap to clone (the clones share one connection pool and one store); `Send + Sync`.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: Http,
    server: String,
    keyring: Keyring,
    product: String,
    license_key: String,
    license: Claims,
    fingerprint: Fingerprint,
    store: Store,
    clock: Clock,
    leeway: u64,
    machine_name: Option<String>,
    client_id: Option<String>,
    lease_ttl: Option<u64>,
}

impl std::fmt::Debug for Client {
    // The license key is the customer's credential: it is left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.inner.server)
            .field("product", &self.inner.product)
            .field("license_id", &hex(&self.inner.license.id))
            .field("store", &self.inner.store.dir())
            .finish_non_exhaustive()
    }
}

/// Sets up a [`Client`]: see [`Client::builder`].
pub struct ClientBuilder {
    server: String,
    product: String,
    license_key: String,
    keyring: Keyring,
    store_dir: Option<PathBuf>,
    fingerprint: Option<Fingerprint>,
    timeout: Duration,
    clock: Option<Clock>,
    leeway: u64,
    machine_name: Option<String>,
    client_id: Option<String>,
    lease_ttl: Option<u64>,
    ca_pem: Option<Vec<u8>>,
}

impl ClientBuilder {
    /// Trusts only the certificate authorities in `pem` (one or more PEM `CERTIFICATE`
    /// blocks) for `https://` servers, instead of the Mozilla root store: for a licensing
    /// server whose certificate a private, on-premises PKI issued. Checked by
    /// [`ClientBuilder::build`] (`CONFIG_INVALID` when it holds no certificate).
    #[must_use]
    pub fn ca_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Keeps the tokens in `dir` instead of `licet_app::store_dir(product)`.
    #[must_use]
    pub fn store_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.store_dir = Some(dir.into());
        self
    }

    /// Uses this fingerprint hash instead of this machine's (`licet_app::fingerprint`).
    #[must_use]
    pub fn fingerprint(mut self, fingerprint: Fingerprint) -> Self {
        self.fingerprint = Some(fingerprint);
        self
    }

    /// Time limit of one request, connection included (default [`DEFAULT_TIMEOUT`]).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The clock tokens are checked against (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Tolerance for the difference between this machine's clock and the server's, in
    /// seconds (default [`licet_verifier::DEFAULT_LEEWAY`]).
    #[must_use]
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// A name for this machine, shown to the vendor with its activation.
    #[must_use]
    pub fn machine_name(mut self, name: impl Into<String>) -> Self {
        self.machine_name = Some(name.into());
        self
    }

    /// The client id put in lease tokens (1 to 128 bytes), shown to the vendor with the seat.
    #[must_use]
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// The lease length to ask for, in seconds (default: the license's; the server caps it).
    #[must_use]
    pub fn lease_ttl(mut self, seconds: u64) -> Self {
        self.lease_ttl = Some(seconds);
        self
    }

    /// Checks the license key against the keyring (signature and product: the key must be
    /// this vendor's license for this product) and makes the client. Nothing is sent.
    ///
    /// # Errors
    /// [`Error::Token`] when the license key is not a valid license of this product,
    /// [`Error::Config`] for a bad server URL, [`Error::Fingerprint`] when this machine's
    /// id cannot be read, [`Error::StoreIo`] when there is no per-user folder.
    pub fn build(self) -> Result<Client, Error> {
        let http = Http::new(&self.server, self.timeout, self.ca_pem.as_deref())?;
        let fingerprint = self.fingerprint_hash()?;
        let dir = self.dir()?;
        // The license's own times are the server's business (it refuses an expired one);
        // here only "is this the vendor's license for this product" is asked, so it is
        // checked as of its issue time, like the server does.
        let issued_at = licet_verifier::decode_unverified(&self.license_key)?
            .claims
            .issued_at;
        let license = self
            .keyring
            .verify(
                &self.license_key,
                &Expectations::new(Kind::License, &self.product, issued_at),
            )?
            .claims;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                server: self.server,
                keyring: self.keyring,
                product: self.product,
                license_key: self.license_key,
                license,
                fingerprint,
                store: Store::new(dir),
                clock: self.clock.unwrap_or_else(|| {
                    Arc::new(licet_verifier::Expectations::now_from_system_clock)
                }),
                leeway: self.leeway,
                machine_name: self.machine_name,
                client_id: self.client_id,
                lease_ttl: self.lease_ttl,
            }),
        })
    }
}

impl ClientBuilder {
    /// This machine's fingerprint hash: the one set, else this machine's for the product.
    fn fingerprint_hash(&self) -> Result<Fingerprint, Error> {
        match self.fingerprint {
            Some(f) => Ok(f),
            None => licet_app::fingerprint(&self.product).map_err(Error::Fingerprint),
        }
    }

    /// The store folder: the one set, else the per-user folder of the product.
    fn dir(&self) -> Result<PathBuf, Error> {
        match &self.store_dir {
            Some(d) => Ok(d.clone()),
            None => licet_app::store_dir(&self.product).map_err(|e| match e {
                licet_app::Error::Io { path, message } => Error::StoreIo { path, message },
                other => Error::StoreIo {
                    path: PathBuf::from("<per-user data folder>"),
                    message: other.to_string(),
                },
            }),
        }
    }

    /// Starts (or takes up again) this machine's keyless trial of the product
    /// (`POST /v1/trials`): the server gives each machine one trial license per product,
    /// for ever, bound to this machine. The license key and the machine token are
    /// verified with the keyring and both are stored, so that later calls (check-in,
    /// validation, [`Client::load_machine`]) work as with a key the customer typed, and
    /// [`ClientBuilder::resume_trial`] starts without the network. Asked again, the
    /// server answers the same trial with a fresh token; once it has expired,
    /// `KEY_EXPIRED` (and the stored machine token is removed), never a fresh trial.
    /// Start from [`Client::trial`] (the builder's license key is not used).
    ///
    /// # Errors
    /// The server's refusal (`TRIALS_NOT_OFFERED`, `KEY_EXPIRED`, …), and those of
    /// [`ClientBuilder::build`] and [`Client::activate`].
    pub fn start_trial(mut self) -> Result<(Client, Machine), Error> {
        let http = Http::new(&self.server, self.timeout, self.ca_pem.as_deref())?;
        let fingerprint = self.fingerprint_hash()?;
        self.fingerprint = Some(fingerprint);
        let store = Store::new(self.dir()?);
        let body = json!({"product": self.product, "fingerprint": hex(&fingerprint)});
        let (status, v) = http.post("/v1/trials", &body).inspect_err(|e| {
            if MACHINE_GONE.contains(&e.code()) {
                let _ = store.update(|s| s.machine_token = None);
            }
        })?;
        self.license_key = string_field(&v, "license_key", status)?;
        let key = self.license_key.clone();
        let client = self.build()?;
        let machine = client.machine_answer(Ok((status, v)))?;
        client
            .inner
            .store
            .update(|s| s.trial_license_key = Some(key))?;
        Ok((client, machine))
    }

    /// The client of this machine's trial from the license key
    /// [`ClientBuilder::start_trial`] stored, without the network: then
    /// [`Client::load_machine`] starts offline. Start from [`Client::trial`].
    ///
    /// # Errors
    /// `OFFLINE` when no trial was started here; those of [`ClientBuilder::build`].
    pub fn resume_trial(mut self) -> Result<Client, Error> {
        let state = Store::new(self.dir()?).read()?;
        self.license_key = state.trial_license_key.ok_or(Error::Offline {
            what: "trial license key",
        })?;
        self.build()
    }
}

/// An activated machine: a verified machine token bound to this machine's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    token: String,
    claims: Claims,
    /// The end of the check-in grace the server answered `CHECK_IN_OVERDUE` with.
    overdue_until: Option<u64>,
}

/// A grace period running (`docs/policies.md`, "Grace periods"): the application should
/// warn the user and keep working until [`Grace::ends_at`], not stop.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grace {
    /// The license has expired and is in its grace period (`KEY_IN_GRACE`). Known offline
    /// too: the machine token carries the grace end.
    KeyInGrace {
        /// When the grace period ends, seconds since 1970.
        ends_at: u64,
    },
    /// This machine checked in late, within the grace after its deadline
    /// (`CHECK_IN_OVERDUE`); the server's answer to this request said so.
    CheckInOverdue {
        /// When the grace period would have ended, seconds since 1970.
        ends_at: u64,
    },
}

impl Grace {
    /// The server's code for it: `KEY_IN_GRACE` or `CHECK_IN_OVERDUE`.
    pub fn code(&self) -> &'static str {
        match self {
            Grace::KeyInGrace { .. } => "KEY_IN_GRACE",
            Grace::CheckInOverdue { .. } => "CHECK_IN_OVERDUE",
        }
    }

    /// When the grace period ends, seconds since 1970.
    pub fn ends_at(&self) -> u64 {
        match self {
            Grace::KeyInGrace { ends_at } | Grace::CheckInOverdue { ends_at } => *ends_at,
        }
    }
}

impl Machine {
    /// The machine token (text form `MCH-…`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Its verified claims (product, features, license id, …).
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The activation id, hex.
    pub fn id(&self) -> String {
        hex(&self.claims.id)
    }

    /// The check-in deadline, seconds since 1970: the token is valid offline until then,
    /// and [`Client::check_in`] gives a new one.
    pub fn check_in_before(&self) -> u64 {
        self.claims.expires_at.unwrap_or(u64::MAX)
    }

    /// Whether the license enables `feature`.
    pub fn has_feature(&self, feature: &str) -> bool {
        self.claims.has_feature(feature)
    }

    /// The grace period this machine runs in, if any: the license's, which its token
    /// carries (so [`Client::load_machine`] knows it offline), else a late check-in's, which
    /// only the answer of [`Client::activate`] or [`Client::check_in`] tells.
    pub fn grace(&self) -> Option<Grace> {
        match (self.claims.grace_ends_at(), self.overdue_until) {
            (Some(ends_at), _) => Some(Grace::KeyInGrace { ends_at }),
            (None, Some(ends_at)) => Some(Grace::CheckInOverdue { ends_at }),
            (None, None) => None,
        }
    }
}

/// A floating seat's lease: a verified lease token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    token: String,
    claims: Claims,
    /// When to consider it gone, on this machine's monotonic clock (see [`Lease::remaining`]).
    deadline: Instant,
}

impl Lease {
    /// The lease token (text form `LSE-…`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Its verified claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The lease id, hex.
    pub fn id(&self) -> String {
        hex(&self.claims.id)
    }

    /// When the server lets the seat go unless the lease is renewed, seconds since 1970.
    pub fn expires_at(&self) -> u64 {
        self.claims.expires_at.unwrap_or(u64::MAX)
    }

    /// How long the lease still holds, measured on this machine's monotonic clock from when
    /// it was received, so that neither a clock change nor the server's clock being ahead
    /// makes it look longer than it is. One second is kept back for the server's whole-second
    /// clock (a lease of `ttl` seconds may end up to a second early in real time).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// `received`: when the request that brought it was sent (or now, for a stored one);
    /// `length`: its validity from then, in seconds.
    fn new(token: String, claims: Claims, received: Instant, length: u64) -> Lease {
        let length = Duration::from_secs(length.saturating_sub(1));
        Lease {
            token,
            claims,
            deadline: received.checked_add(length).unwrap_or(received),
        }
    }
}

/// The online state of the license, as `POST /v1/validate` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LicenseStatus {
    /// Whether the license can be used now (and this machine is activated on it).
    pub valid: bool,
    /// `VALID`; `KEY_IN_GRACE` or `CHECK_IN_OVERDUE` (valid, in a grace period that ends
    /// at `grace_ends_at`: warn, do not stop); or the code saying why not (`KEY_SUSPENDED`,
    /// `MACHINE_NOT_FOUND`, `CHECK_IN_MISSED`, …).
    pub code: String,
    /// When the grace period ends (RFC 3339), while one runs.
    #[serde(default)]
    pub grace_ends_at: Option<String>,
    /// `active`, `suspended` or `revoked`.
    pub status: String,
    /// The enabled features.
    #[serde(default)]
    pub features: Vec<String>,
    /// The license's expiry (RFC 3339), if any.
    pub expires_at: Option<String>,
    /// Activations used and allowed.
    pub machines: Usage,
    /// Seats held and allowed.
    pub leases: Usage,
}

/// Used and allowed counts (`allowed: None` is unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Usage {
    /// In use now.
    pub used: u64,
    /// The limit, if any.
    pub allowed: Option<u64>,
}

/// Server codes after which a stored machine token must no longer be used offline: the
/// server says this machine, or the whole license, may not run.
const MACHINE_GONE: [&str; 6] = [
    "MACHINE_NOT_FOUND",
    "KEY_INVALID",
    "KEY_REVOKED",
    "KEY_SUSPENDED",
    "KEY_EXPIRED",
    "CHECK_IN_MISSED",
];

impl Client {
    /// Starts setting up a client for `product` with `license_key`, talking to `server`
    /// (`https://…`, or `http://…` on a trusted network) and verifying with `keyring`, the
    /// vendor's public keys built into the application.
    pub fn builder(
        server: impl Into<String>,
        product: impl Into<String>,
        license_key: impl Into<String>,
        keyring: Keyring,
    ) -> ClientBuilder {
        ClientBuilder {
            server: server.into(),
            product: product.into(),
            license_key: license_key.into(),
            keyring,
            store_dir: None,
            fingerprint: None,
            timeout: DEFAULT_TIMEOUT,
            clock: None,
            leeway: licet_verifier::DEFAULT_LEEWAY,
            machine_name: None,
            client_id: None,
            lease_ttl: None,
            ca_pem: None,
        }
    }

    /// Starts setting up a client for this machine's keyless trial of `product`, talking
    /// to `server` and verifying with `keyring`: finish with
    /// [`ClientBuilder::start_trial`] (online) or [`ClientBuilder::resume_trial`]
    /// (offline, from the stored trial).
    pub fn trial(
        server: impl Into<String>,
        product: impl Into<String>,
        keyring: Keyring,
    ) -> ClientBuilder {
        Self::builder(server, product, String::new(), keyring)
    }

    /// The verified claims of the license key.
    pub fn license(&self) -> &Claims {
        &self.inner.license
    }

    /// This machine's fingerprint hash for the product.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.inner.fingerprint
    }

    /// Where the tokens are stored.
    pub fn store_dir(&self) -> &std::path::Path {
        self.inner.store.dir()
    }

    fn now(&self) -> u64 {
        (self.inner.clock)()
    }

    /// Activates this machine (or, when it is already activated, gets a fresh token without
    /// using another activation), verifies the machine token and stores it.
    ///
    /// # Errors
    /// The server's refusal (`ACTIVATION_LIMIT_REACHED`, `KEY_EXPIRED`, …), [`Error::Network`],
    /// [`Error::Token`] / [`Error::Mismatch`] when the token does not verify,
    /// [`Error::StoreIo`] when it cannot be stored.
    pub fn activate(&self) -> Result<Machine, Error> {
        let i = &self.inner;
        let mut body = json!({
            "license_key": i.license_key,
            "fingerprint": hex(&i.fingerprint),
            "platform": format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        });
        if let Some(name) = &i.machine_name {
            body["name"] = json!(name);
        }
        let answer = i.http.post("/v1/activate", &body);
        self.machine_answer(answer)
    }

    /// Checks in: a fresh machine token with a new deadline, verified and stored. When the
    /// server says this machine or license may no longer be used, the stored token is
    /// removed, so the application no longer starts offline on it.
    ///
    /// # Errors
    /// As [`Client::activate`] (`MACHINE_NOT_FOUND` when the machine was deactivated).
    ///
    /// Then it fetches the vendor's signed revocation list (`GET /v1/revocations`),
    /// verifies it with the keyring, refuses one older than the list already kept
    /// (`REVOCATIONS_STALE`), and keeps it in the store folder (`revocations.pem`), where
    /// [`Client::revocations`] reads it offline. A list that revokes this license or this
    /// machine removes the stored machine token and is `LICENSE_REVOKED` /
    /// `MACHINE_REVOKED`.
    pub fn check_in(&self) -> Result<Machine, Error> {
        let i = &self.inner;
        let body = json!({"license_key": i.license_key, "fingerprint": hex(&i.fingerprint)});
        let answer = i.http.post("/v1/check-in", &body);
        let machine = self.machine_answer(answer)?;
        let list = self.fetch_revocations()?;
        if let Err(e) = list.check(&machine.claims) {
            let _ = i.store.update(|s| s.machine_token = None);
            return Err(e.into());
        }
        Ok(machine)
    }

    /// Fetches, verifies and keeps the vendor's revocation list (see [`Client::check_in`]).
    ///
    /// # Errors
    /// [`Error::Network`], [`Error::BadResponse`], [`Error::Token`] with
    /// `REVOCATIONS_UNTRUSTED`, `REVOCATIONS_STALE`, …, [`Error::StoreIo`].
    pub fn fetch_revocations(&self) -> Result<licet_verifier::RevocationList, Error> {
        let i = &self.inner;
        let text = i.http.get_text("/v1/revocations")?;
        let seen = i.store.read().ok().and_then(|s| s.revocation_sequence);
        let list = licet_verifier::RevocationList::verify_pem(&i.keyring, &text, seen)?;
        let path = i.store.dir().join(store::REVOCATIONS);
        std::fs::create_dir_all(i.store.dir()).map_err(|e| Error::store(&path, e))?;
        licet_app::write_file(&path, text.as_bytes(), 0o600).map_err(|e| Error::store(&path, e))?;
        i.store
            .update(|s| s.revocation_sequence = Some(list.sequence))?;
        Ok(list)
    }

    /// The revocation list kept at the last check-in, verified again with the keyring (and
    /// its sequence against the one kept): `None` before the first check-in.
    ///
    /// # Errors
    /// [`Error::Token`] when the kept file no longer verifies, [`Error::StoreIo`].
    pub fn revocations(&self) -> Result<Option<licet_verifier::RevocationList>, Error> {
        let i = &self.inner;
        let path = i.store.dir().join(store::REVOCATIONS);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::store(&path, e)),
        };
        let seen = i.store.read()?.revocation_sequence;
        Ok(Some(licet_verifier::RevocationList::verify_pem(
            &i.keyring, &text, seen,
        )?))
    }

    fn machine_answer(&self, answer: Result<(u16, Value), Error>) -> Result<Machine, Error> {
        let (status, v) = answer.inspect_err(|e| {
            if MACHINE_GONE.contains(&e.code()) {
                let _ = self.inner.store.update(|s| s.machine_token = None);
            }
        })?;
        let token = string_field(&v, "machine_token", status)?;
        let now = self.now();
        let mut machine = self.verify_machine(token, now, None)?;
        if v["code"] == "CHECK_IN_OVERDUE" {
            machine.overdue_until = v["grace_ends_at"]
                .as_str()
                .and_then(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .and_then(|t| u64::try_from(t.unix_timestamp()).ok());
        }
        // The server's fresh token vouches for this clock (its issue time was checked
        // against `now`), so `last_seen` is set to `now`, even if a wrong clock had pushed
        // it further ahead before.
        self.inner.store.update(|s| {
            s.machine_token = Some(machine.token.clone());
            s.last_seen = now;
        })?;
        Ok(machine)
    }

    /// Deactivates this machine, freeing its activation, and removes the stored token.
    ///
    /// # Errors
    /// The server's refusal (`MACHINE_NOT_FOUND`: the stored token is removed all the
    /// same), [`Error::Network`], [`Error::StoreIo`].
    pub fn deactivate(&self) -> Result<(), Error> {
        let i = &self.inner;
        let body = json!({"license_key": i.license_key, "fingerprint": hex(&i.fingerprint)});
        let result = i.http.post("/v1/deactivate", &body);
        if result.is_ok()
            || result
                .as_ref()
                .is_err_and(|e| MACHINE_GONE.contains(&e.code()))
        {
            i.store.update(|s| s.machine_token = None)?;
        }
        result.map(|_| ())
    }

    /// Starts offline: the stored machine token (or the one `licet offline import` stored),
    /// verified with the application's keyring against this machine's fingerprint, the
    /// clock, and the latest time seen before (a clock set back is `CLOCK_ROLLBACK`).
    ///
    /// # Errors
    /// [`Error::Offline`] when nothing is stored, [`Error::Token`] when the stored token is
    /// not valid now (`TOKEN_EXPIRED`: check in online; `CLOCK_ROLLBACK`; …),
    /// [`Error::StoreIo`].
    pub fn load_machine(&self) -> Result<Machine, Error> {
        let state = self.inner.store.read()?;
        let token = state
            .machine_token
            .or_else(|| self.inner.store.offline_machine_token())
            .ok_or(Error::Offline {
                what: "machine token",
            })?;
        let now = self.now();
        let machine = self.verify_machine(token, now, Some(state.last_seen))?;
        self.touch(now);
        Ok(machine)
    }

    /// Remembers `now` as seen. Best effort: a store that cannot be written (a read-only
    /// home) weakens the clock check but must not stop a licensed application.
    fn touch(&self, now: u64) {
        let _ = self
            .inner
            .store
            .update(|s| s.last_seen = s.last_seen.max(now));
    }

    fn expect(&self, kind: Kind, now: u64, last_seen: Option<u64>) -> Expectations<'_> {
        let mut e = Expectations::new(kind, &self.inner.product, now).leeway(self.inner.leeway);
        if let Some(seen) = last_seen.filter(|s| *s > 0) {
            e = e.last_seen(seen);
        }
        e
    }

    fn verify_machine(
        &self,
        token: String,
        now: u64,
        last_seen: Option<u64>,
    ) -> Result<Machine, Error> {
        let expect = self
            .expect(Kind::Machine, now, last_seen)
            .fingerprint(self.inner.fingerprint);
        let claims = self.inner.keyring.verify(&token, &expect)?.claims;
        if claims.license_id() != &self.inner.license.id {
            return Err(Error::Mismatch {
                reason: "the machine token is for another license",
            });
        }
        Ok(Machine {
            token,
            claims,
            overdue_until: None,
        })
    }

    fn verify_lease(&self, token: String, now: u64, origin: Origin) -> Result<Lease, Error> {
        let last_seen = match origin {
            Origin::Server { .. } => None,
            Origin::Store { last_seen } => Some(last_seen),
        };
        let claims = self
            .inner
            .keyring
            .verify(&token, &self.expect(Kind::Lease, now, last_seen))?
            .claims;
        if claims.license_id() != &self.inner.license.id {
            return Err(Error::Mismatch {
                reason: "the lease token is for another license",
            });
        }
        let exp = claims.expires_at.unwrap_or(0);
        let (received, length) = match origin {
            // A fresh lease runs for its length from about when the request was sent;
            // measured from there, the server's and this machine's clocks do not matter.
            Origin::Server { sent } => (sent, exp.saturating_sub(claims.issued_at)),
            // A stored one, for what is left of it by this machine's clock.
            Origin::Store { .. } => (Instant::now(), exp.saturating_sub(now)),
        };
        Ok(Lease::new(token, claims, received, length))
    }

    /// The license's online state, with this machine's activation.
    ///
    /// # Errors
    /// `KEY_INVALID` from the server, [`Error::Network`], [`Error::BadResponse`].
    pub fn validate(&self) -> Result<LicenseStatus, Error> {
        let i = &self.inner;
        let body = json!({"license_key": i.license_key, "fingerprint": hex(&i.fingerprint)});
        let (status, v) = i.http.post("/v1/validate", &body)?;
        serde_json::from_value(v).map_err(|e| Error::BadResponse {
            status,
            message: e.to_string(),
        })
    }

    /// Obtains a floating seat's lease, verified. Not stored and not renewed: for that use
    /// [`Client::hold_seat`].
    ///
    /// # Errors
    /// `LEASE_LIMIT_REACHED` (every seat is held) and the license's refusals from the
    /// server, [`Error::Network`], [`Error::Token`] / [`Error::Mismatch`].
    pub fn obtain_lease(&self) -> Result<Lease, Error> {
        let i = &self.inner;
        let mut body = json!({"license_key": i.license_key});
        if let Some(c) = &i.client_id {
            body["client_id"] = json!(c);
        }
        if let Some(t) = i.lease_ttl {
            body["ttl"] = json!(t);
        }
        let sent = Instant::now();
        let (status, v) = i.http.post("/v1/leases/obtain", &body)?;
        let token = string_field(&v, "lease_token", status)?;
        self.verify_lease(token, self.now(), Origin::Server { sent })
    }

    /// Renews a lease: a new token with a new expiry, verified. The old token is refused
    /// by the server from then on.
    ///
    /// # Errors
    /// `LEASE_EXPIRED`, `LEASE_RELEASED`, `LEASE_INVALID` (replaced by a renewal) and the
    /// license's refusals from the server, [`Error::Network`], [`Error::Token`] /
    /// [`Error::Mismatch`].
    pub fn renew_lease(&self, lease: &Lease) -> Result<Lease, Error> {
        let i = &self.inner;
        // The request id is derived from the token being renewed, so a retry after a lost
        // answer repeats the very same request and the server answers it with the same new
        // token (instead of LEASE_INVALID, which would cost the seat until its TTL).
        let request_id = {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(lease.token.as_bytes());
            licet_verifier::hex(digest.get(..16).unwrap_or_default())
        };
        let mut body = json!({"lease_token": lease.token, "request_id": request_id});
        if let Some(t) = i.lease_ttl {
            body["ttl"] = json!(t);
        }
        let sent = Instant::now();
        let (status, v) = i.http.post("/v1/leases/renew", &body)?;
        let token = string_field(&v, "lease_token", status)?;
        let renewed = self.verify_lease(token, self.now(), Origin::Server { sent })?;
        if renewed.claims.id != lease.claims.id {
            return Err(Error::Mismatch {
                reason: "the renewed lease has another id",
            });
        }
        Ok(renewed)
    }

    /// Releases a lease: the seat is free for others at once.
    ///
    /// # Errors
    /// `LEASE_EXPIRED`, `LEASE_RELEASED`, `LEASE_INVALID` from the server (the seat is not
    /// held either way), [`Error::Network`].
    pub fn release_lease(&self, lease: &Lease) -> Result<(), Error> {
        let body = json!({"lease_token": lease.token});
        self.inner
            .http
            .post("/v1/leases/release", &body)
            .map(|_| ())
    }

    /// The stored lease, verified offline: a seat that a previous run of this application
    /// held and had not released (it crashed, or lost the network), still within its time.
    ///
    /// # Errors
    /// [`Error::Offline`] when none is stored, [`Error::Token`] when it is not valid now
    /// (`TOKEN_EXPIRED` once its time is over), [`Error::StoreIo`].
    pub fn load_lease(&self) -> Result<Lease, Error> {
        let state = self.inner.store.read()?;
        let token = state.lease_token.ok_or(Error::Offline {
            what: "lease token",
        })?;
        let now = self.now();
        let lease = self.verify_lease(
            token,
            now,
            Origin::Store {
                last_seen: state.last_seen,
            },
        )?;
        self.touch(now);
        Ok(lease)
    }

    /// Holds a floating seat: takes the seat a previous run of this application left
    /// behind when it is still live (so that a crash and restart does not take two seats),
    /// else obtains one, and renews it in a background thread at about half its remaining
    /// time until the [`Seat`] is released or dropped.
    ///
    /// Only one process per store keeps its lease in the store (a lock file says which);
    /// a second instance of the application on the same machine and user gets a seat of
    /// its own that is not stored.
    ///
    /// # Errors
    /// As [`Client::obtain_lease`]; [`Error::StoreIo`] when the seat lock cannot be opened.
    pub fn hold_seat(&self) -> Result<Seat, Error> {
        self.hold_seat_with(|_| {})
    }

    /// As [`Client::hold_seat`], calling `on_change` from the renewal thread after each
    /// renewal, when the seat is lost and when it is released. It should return quickly.
    ///
    /// # Errors
    /// As [`Client::hold_seat`].
    pub fn hold_seat_with(
        &self,
        on_change: impl FnMut(&SeatStatus) + Send + 'static,
    ) -> Result<Seat, Error> {
        let lock = self.inner.store.try_seat_lock()?;
        let lease = match lock {
            Some(_) => match self.resume_lease()? {
                Some(lease) => lease,
                None => self.obtain_lease()?,
            },
            None => self.obtain_lease()?,
        };
        if lock.is_some() {
            // Best effort: the stored lease only lets a restart take this seat back; a
            // store that cannot be written must not cost the seat just obtained.
            let _ = self.store_lease(Some(&lease));
        }
        Ok(seat::start(self.clone(), lease, lock, Box::new(on_change)))
    }

    /// Renews the stored lease when it is still live; `None` when there is none or the
    /// server no longer knows it as current.
    fn resume_lease(&self) -> Result<Option<Lease>, Error> {
        let Ok(stored) = self.load_lease() else {
            return Ok(None);
        };
        match self.renew_lease(&stored) {
            Ok(lease) => Ok(Some(lease)),
            Err(e) if is_final(&e) => {
                self.store_lease(None)?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn store_lease(&self, lease: Option<&Lease>) -> Result<(), Error> {
        let now = self.now();
        self.inner
            .store
            .update(|s| {
                s.lease_token = lease.map(|l| l.token.clone());
                s.last_seen = s.last_seen.max(now);
            })
            .map(|_| ())
    }
}

/// Where a lease token comes from.
#[derive(Debug, Clone, Copy)]
enum Origin {
    /// An answer of the server to a request sent at `sent`.
    Server { sent: Instant },
    /// The store, with the latest time seen.
    Store { last_seen: u64 },
}

/// Whether retrying the same request cannot help: a refusal from the server (4xx), or a
/// token that does not verify. Network failures, timeouts and 5xx answers may pass.
fn is_final(e: &Error) -> bool {
    match e {
        Error::Server { status, .. } => (400..500).contains(status),
        Error::Token(_) | Error::Mismatch { .. } => true,
        _ => false,
    }
}

fn string_field(v: &Value, name: &str, status: u16) -> Result<String, Error> {
    v.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::BadResponse {
            status,
            message: format!("no '{name}' in the answer"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status: u16, code: &str) -> Error {
        Error::Server {
            status,
            code: code.into(),
            message: String::new(),
            support_message: None,
        }
    }

    #[test]
    fn what_is_worth_retrying() {
        assert!(is_final(&server(410, "LEASE_EXPIRED")));
        assert!(is_final(&server(404, "LEASE_INVALID")));
        assert!(is_final(&Error::Token(
            licet_verifier::Error::SignatureInvalid
        )));
        assert!(!is_final(&server(503, "TIMEOUT")));
        assert!(!is_final(&server(500, "INTERNAL")));
        assert!(!is_final(&Error::Network {
            message: "refused".into()
        }));
    }

    #[test]
    fn server_urls() {
        assert!(Http::new("http://127.0.0.1:5480/", DEFAULT_TIMEOUT, None).is_ok());
        for bad in ["127.0.0.1:5480", "ftp://host", ""] {
            let e = Http::new(bad, DEFAULT_TIMEOUT, None)
                .err()
                .expect("refused");
            assert_eq!(e.code(), "CONFIG_INVALID", "{bad}");
        }
        assert_eq!(
            Http::new("https://license.example.com", DEFAULT_TIMEOUT, None).is_ok(),
            cfg!(feature = "https")
        );
        if cfg!(feature = "https") {
            let e = Http::new(
                "https://license.example.com",
                DEFAULT_TIMEOUT,
                Some(b"not a certificate".as_slice()),
            )
            .err()
            .expect("a CA file without a certificate is refused");
            assert_eq!(e.code(), "CONFIG_INVALID");
            assert!(e.to_string().contains("CERTIFICATE"), "{e}");
        }
    }
}
