//! The `licet` Python module: offline verification of licet tokens, a thin PyO3 shell over
//! `licet-verifier`.
//!
//! Every decision is the verifier's: this crate only turns Python arguments into an
//! [`Expectations`], calls [`licet_verifier::Keyring::verify`], and turns the result into a
//! [`Claims`] object or a `licet.VerifyError` carrying the verifier's stable code. Python
//! arguments of the wrong type or value are refused with `TypeError` or `ValueError` before
//! the verifier is called; nothing here can panic on what Python passes (PyO3 also turns a
//! panic into a Python exception rather than letting it unwind into the interpreter).
//!
//! The Python API is written out in `licet.pyi` beside this crate's `Cargo.toml`, which
//! maturin ships in the wheel with `py.typed`; keep the two in step.

use std::collections::BTreeMap;

use licet_verifier::claims::limits;
use licet_verifier::{DEFAULT_LEEWAY, Error, Expectations, Kind, KindClaims, hex, unhex};
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyString};
use pyo3::{create_exception, intern};

create_exception!(
    licet,
    VerifyError,
    PyException,
    "A token or a keyring was refused.\n\n\
     `code` is the stable, machine-readable reason (for example `TOKEN_EXPIRED`), the same \
     string as the Rust verifier's `Error::code()`, the server's and the CLI's; the message \
     (`str(error)`) says what is wrong and what to do."
);

/// Turns a verifier error into `licet.VerifyError` with its `code` attribute set.
fn verify_error(py: Python<'_>, e: &Error) -> PyErr {
    coded_error(py, e.code(), e.to_string())
}

/// `licet.VerifyError(message)` with its `code` attribute set. The code lives in the
/// instance's `__dict__`, which `BaseException.__reduce__` pickles with the arguments, so
/// a pickled error keeps it.
fn coded_error(py: Python<'_>, code: &'static str, message: String) -> PyErr {
    let err = VerifyError::new_err(message);
    match err.value(py).setattr(intern!(py, "code"), code) {
        Ok(()) => err,
        // Setting an attribute on a fresh exception instance fails only when Python is out
        // of memory; that error is the one to raise then.
        Err(other) => other,
    }
}

/// The vendor's public keys, read once from its `signature.pem` and reused for every check.
///
/// Make one with `Keyring.from_pem(text)`; it cannot be changed afterwards, so one keyring
/// may be shared by every thread of the application.
#[pyclass(frozen, module = "licet")]
struct Keyring(licet_verifier::Keyring);

#[pymethods]
impl Keyring {
    /// Reads a keyring from the text of `signature.pem` (one or more `PUBLIC KEY` blocks:
    /// Ed25519, or RSA of 2048 to 4096 bits).
    ///
    /// Raises `VerifyError` with code `KEYRING_INVALID` when the text is not a usable
    /// keyring, and `TypeError` when `text` is not a `str`.
    #[staticmethod]
    fn from_pem(py: Python<'_>, text: &str) -> PyResult<Keyring> {
        licet_verifier::Keyring::from_pem(text)
            .map(Keyring)
            .map_err(|e| verify_error(py, &e))
    }

    /// Verifies a token in its text form (`LIC-…`, `MCH-…`, `LSE-…`) or its file form
    /// (`-----BEGIN LICET …`) and returns its claims.
    ///
    /// `kind` is the kind of token required (`"license"`, `"machine"` or `"lease"`) and
    /// `product` the product this application is. `fingerprint` (64 hex digits, or 32
    /// bytes) is this machine's fingerprint hash, `licet.fingerprint(product)`; set it for
    /// machine tokens, or a machine token from another machine passes. `now` is the time to check at, in whole seconds
    /// since 1970; when it is `None`, the system clock is read, and only then. `last_seen` is
    /// the latest time this application has already seen (kept by it), to refuse a clock set
    /// back; `leeway` the tolerance for clock differences, in seconds (`None`: 60, the
    /// verifier's default).
    ///
    /// Raises `VerifyError` (with its `code`) when the token is refused, `TypeError` or
    /// `ValueError` when an argument is of the wrong type or out of range.
    #[pyo3(signature = (token, *, kind, product, fingerprint=None, now=None, last_seen=None, leeway=None))]
    #[allow(clippy::too_many_arguments)] // The Python signature: keyword arguments.
    fn verify(
        &self,
        py: Python<'_>,
        token: &str,
        kind: &str,
        product: &str,
        fingerprint: Option<&Bound<'_, PyAny>>,
        now: Option<&Bound<'_, PyAny>>,
        last_seen: Option<&Bound<'_, PyAny>>,
        leeway: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Claims> {
        let kind = Kind::from_name(kind).ok_or_else(|| {
            PyValueError::new_err(format!(
                "kind must be 'license', 'machine' or 'lease', not {kind:?}"
            ))
        })?;
        let now = match now {
            Some(now) => seconds("now", now)?,
            None => Expectations::now_from_system_clock(),
        };
        let leeway = match leeway {
            Some(leeway) => seconds("leeway", leeway)?,
            None => DEFAULT_LEEWAY,
        };
        let mut expect = Expectations::new(kind, product, now).leeway(leeway);
        if let Some(f) = fingerprint {
            expect = expect.fingerprint(fingerprint_hash(f)?);
        }
        if let Some(t) = last_seen {
            expect = expect.last_seen(seconds("last_seen", t)?);
        }
        // The check holds no Python object and takes tens of microseconds (an RSA key more):
        // other Python threads may run meanwhile.
        py.detach(|| self.0.verify(token, &expect))
            .map(|verified| Claims(verified.claims))
            .map_err(|e| verify_error(py, &e))
    }

    /// The ids of the keys, as 16 hex digits each (the `kid` a token names).
    #[getter]
    fn kids(&self) -> Vec<String> {
        self.0.keys().iter().map(|k| hex(k.kid())).collect()
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }

    fn __repr__(&self) -> String {
        format!("<licet.Keyring kids={:?}>", self.kids())
    }
}

/// A time in whole seconds since 1970 (`now`, `last_seen`) or a number of seconds (`leeway`).
///
/// `bool` is refused although Python counts it as an `int`, and so is `float`: a fractional
/// time would have to be rounded one way or the other, and `time.time()` passed by mistake
/// should be seen rather than truncated silently.
fn seconds(name: &str, value: &Bound<'_, PyAny>) -> PyResult<u64> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int (whole seconds), not {}; for the current time pass int(time.time()) or None",
            type_name(value)
        )));
    }
    value.extract::<u64>().map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be from 0 to 2**64 - 1 seconds, not {}",
            value.str().map(|s| s.to_string()).unwrap_or_default()
        ))
    })
}

/// A fingerprint hash given as 64 hex digits (as `licet` prints it) or as its 32 bytes.
fn fingerprint_hash(value: &Bound<'_, PyAny>) -> PyResult<licet_verifier::Fingerprint> {
    let wrong = || {
        PyValueError::new_err(
            "fingerprint must be 64 hex digits or 32 bytes (the machine's fingerprint hash)",
        )
    };
    if let Ok(text) = value.cast::<PyString>() {
        unhex(&text.to_cow()?).ok_or_else(wrong)
    } else if let Ok(bytes) = value.cast::<PyBytes>() {
        bytes.as_bytes().try_into().map_err(|_| wrong())
    } else {
        Err(PyTypeError::new_err(format!(
            "fingerprint must be a str of 64 hex digits, 32 bytes or None, not {}",
            type_name(value)
        )))
    }
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| String::from("an unknown type"))
}

/// This machine's fingerprint hash for `product`, as 64 lower-case hex digits: the value
/// `licet fingerprint --product P` prints, to send for activation and to pass as
/// `fingerprint=` when verifying a machine token. Each product sees an unrelated value for
/// the same machine.
///
/// This function reads the machine's identity, because that is what it is called for:
/// `LICET_MACHINE_ID` from the environment when set, else the operating system's machine id
/// (`/etc/machine-id` on Linux, `IOPlatformUUID` on macOS, `MachineGuid` on Windows).
///
/// Raises `ValueError` when `product` is empty or longer than a token's product may be (64
/// bytes of UTF-8), `TypeError` when it is not a `str`, and `VerifyError` with code
/// `FINGERPRINT_UNAVAILABLE` when the machine has no readable id.
#[pyfunction]
fn fingerprint(py: Python<'_>, product: &str) -> PyResult<String> {
    if product.is_empty() || product.len() > limits::PRODUCT {
        return Err(PyValueError::new_err(format!(
            "product must be 1 to {} bytes of UTF-8, not {}",
            limits::PRODUCT,
            product.len()
        )));
    }
    licet_app::fingerprint(product)
        .map(|fp| hex(&fp))
        // The same code as `licet fingerprint`'s and the C ABI's.
        .map_err(|e| coded_error(py, "FINGERPRINT_UNAVAILABLE", e.to_string()))
}

/// The claims of a token that passed every check.
///
/// Times are whole seconds since 1970; ids, fingerprints and key ids are lower-case hex.
/// Every attribute exists for every kind of token, `None` where that kind has no such claim.
/// `to_dict()` gives them in the JSON shape of the specification (token-format §7.3).
#[pyclass(frozen, eq, module = "licet")]
#[derive(PartialEq)]
struct Claims(licet_verifier::Claims);

#[pymethods]
impl Claims {
    /// `"license"`, `"machine"` or `"lease"`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind().name()
    }

    /// The product the token is for (already checked to be the one asked for).
    #[getter]
    fn product(&self) -> &str {
        &self.0.product
    }

    /// Who issued the token (the vendor), when it says.
    #[getter]
    fn issuer(&self) -> Option<&str> {
        self.0.issuer.as_deref()
    }

    /// The customer, when the token says.
    #[getter]
    fn customer(&self) -> Option<&str> {
        self.0.customer.as_deref()
    }

    /// When the token was issued.
    #[getter]
    fn issued_at(&self) -> u64 {
        self.0.issued_at
    }

    /// When the token stops being valid; `None` for a perpetual license. For a machine
    /// token it is the check-in deadline.
    #[getter]
    fn expires_at(&self) -> Option<u64> {
        self.0.expires_at
    }

    /// The token is not valid before this time, when set.
    #[getter]
    fn not_before(&self) -> Option<u64> {
        self.0.not_before
    }

    /// This token's id (32 hex digits): the license's, the activation's or the lease's.
    #[getter]
    fn id(&self) -> String {
        hex(&self.0.id)
    }

    /// The license this token belongs to (32 hex digits): its own `id` for a license token.
    #[getter]
    fn license_id(&self) -> String {
        hex(self.0.license_id())
    }

    /// The enabled features, sorted, each once.
    #[getter]
    fn features(&self) -> Vec<String> {
        self.0.features.clone()
    }

    /// The vendor's free-form metadata (a new dict on each access).
    #[getter]
    fn metadata(&self) -> BTreeMap<String, String> {
        self.0.metadata.clone()
    }

    /// `"trial"`, `"subscription"` or `"perpetual"` when a license says; else `None`.
    #[getter]
    fn license_type(&self) -> Option<&'static str> {
        match &self.0.kind {
            KindClaims::License { license_type, .. } => license_type.map(|t| t.name()),
            _ => None,
        }
    }

    /// How many machines a license may activate; `None` is unlimited (and for other kinds).
    #[getter]
    fn max_machines(&self) -> Option<u64> {
        match &self.0.kind {
            KindClaims::License { max_machines, .. } => *max_machines,
            _ => None,
        }
    }

    /// How many floating seats a license may have at once; `None` is unlimited (and for
    /// other kinds).
    #[getter]
    fn max_leases(&self) -> Option<u64> {
        match &self.0.kind {
            KindClaims::License { max_leases, .. } => *max_leases,
            _ => None,
        }
    }

    /// The fingerprint hash a machine token is bound to (64 hex digits); `None` for other
    /// kinds.
    #[getter]
    fn fingerprint(&self) -> Option<String> {
        match &self.0.kind {
            KindClaims::Machine { fingerprint, .. } => Some(hex(fingerprint)),
            _ => None,
        }
    }

    /// The client that holds a lease, when it said; `None` for other kinds.
    #[getter]
    fn client_id(&self) -> Option<&str> {
        match &self.0.kind {
            KindClaims::Lease { client_id, .. } => client_id.as_deref(),
            _ => None,
        }
    }

    /// Whether `feature` is enabled.
    fn has_feature(&self, feature: &str) -> bool {
        self.0.has_feature(feature)
    }

    /// The claims as a new dict in the JSON shape of the specification (token-format §7.3):
    /// the keys every kind has, then `license_type`, `max_machines` and `max_leases` for a
    /// license, `license_id` and `fingerprint` for a machine token, `license_id` and
    /// `client_id` for a lease.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("kind", self.kind())?;
        d.set_item("product", self.product())?;
        d.set_item("issued_at", self.issued_at())?;
        d.set_item("id", self.id())?;
        d.set_item("issuer", self.issuer())?;
        d.set_item("customer", self.customer())?;
        d.set_item("expires_at", self.expires_at())?;
        d.set_item("not_before", self.not_before())?;
        d.set_item("features", self.features())?;
        d.set_item("metadata", self.metadata())?;
        match &self.0.kind {
            KindClaims::License { .. } => {
                d.set_item("license_type", self.license_type())?;
                d.set_item("max_machines", self.max_machines())?;
                d.set_item("max_leases", self.max_leases())?;
            }
            KindClaims::Machine { grace_ends_at, .. } => {
                d.set_item("license_id", self.license_id())?;
                d.set_item("fingerprint", self.fingerprint())?;
                if let Some(g) = grace_ends_at {
                    d.set_item("grace_ends_at", g)?;
                }
            }
            KindClaims::Lease { .. } => {
                d.set_item("license_id", self.license_id())?;
                d.set_item("client_id", self.client_id())?;
            }
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "<licet.Claims kind={:?} product={:?} id={:?} expires_at={}>",
            self.kind(),
            self.product(),
            self.id(),
            self.expires_at()
                .map_or_else(|| String::from("None"), |t| t.to_string()),
        )
    }
}

/// Offline verification of licet license, machine and lease tokens.
///
/// Read the vendor's `signature.pem` once with `Keyring.from_pem(text)`, then check each
/// token with `keyring.verify(token, kind=..., product=...)`, which returns its `Claims` or
/// raises `VerifyError` with a stable `code`. `fingerprint(product)` gives this machine's
/// fingerprint hash, for machine tokens.
#[pymodule]
mod licet {
    #[pymodule_export]
    use super::{Claims, Keyring, VerifyError, fingerprint};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("DEFAULT_LEEWAY", super::DEFAULT_LEEWAY)
    }

    use pyo3::prelude::*;
}
