//! Builds licet's test vectors: deterministic test-only keys and a manifest of tokens of
//! every kind and algorithm with the time to check them at and the expected result.
//!
//! `cargo run -p licet-test-vectors --bin make-vectors` writes them into `test-vectors/`;
//! the tests in `tests/` check that the committed files are exactly what this code makes,
//! and run every vector through `licet-verifier`. The expected results are stated here, by
//! intent, never read back from the verifier.

#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use ciborium::value::Value;
use licet::{Claims, KindClaims, LicenseType, Token};
use licet_keys::SigningKey;
use licet_verifier::{Expectations, Kind, hex, text};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

pub mod trust;

/// The time most vectors are checked at: 2027-01-15T08:00:00Z.
pub const NOW: u64 = 1_800_000_000;
/// When most vector tokens were issued: 2026-09-21.
pub const ISSUED: u64 = 1_790_000_000;
/// When most expiring vector tokens expire: 2030-03-17.
pub const EXPIRES: u64 = 1_900_000_000;
/// The product of the vectors.
pub const PRODUCT: &str = "acme-studio-pro";
/// The seed the RSA test key was generated from (`make-vectors` makes it once if missing).
pub const RSA_SEED: u64 = 0x11ce7;

/// Test public keys made by hand (see `test-vectors/README.md`), for the keyring vectors.
const SMALL_ORDER_KEY: &str = "ed25519-small-order.pub.pem";

/// The test keys, loaded from (or, for Ed25519, derived as) the files in `test-vectors/keys/`.
pub struct Keys {
    /// Ed25519, in `signature.pem`.
    pub ed: SigningKey,
    /// RSA-2048, in `signature.pem`.
    pub rsa: SigningKey,
    /// Ed25519 of "another vendor": not in `signature.pem`.
    pub other: SigningKey,
    /// The kid of `keys/ed25519-small-order.pub.pem`, the identity point as an Ed25519
    /// public key (made by hand; there is no private key).
    pub small_order_kid: [u8; 8],
}

pub(crate) fn seed(name: &str) -> [u8; 32] {
    Sha256::digest(format!("licet test vector key {name}").as_bytes()).into()
}

impl Keys {
    /// Loads the keys; the RSA key comes from `dir/rsa-2048.pem` (made if missing).
    pub fn load(dir: &Path) -> Keys {
        let rsa_path = dir.join("rsa-2048.pem");
        let rsa = match std::fs::read_to_string(&rsa_path) {
            Ok(pem) => SigningKey::from_pkcs8_pem(&pem).expect("committed RSA test key"),
            Err(_) => {
                let key = SigningKey::generate_rsa_with(&mut licet_keys::test_rng(RSA_SEED), 2048)
                    .expect("RSA test key");
                std::fs::create_dir_all(dir).expect("keys dir");
                std::fs::write(&rsa_path, key.to_pkcs8_pem().expect("pem").as_bytes())
                    .expect("write RSA key");
                key
            }
        };
        let small_order = std::fs::read_to_string(dir.join(SMALL_ORDER_KEY))
            .expect("the committed small-order test key");
        let small_order = licet_verifier::Keyring::from_pem(&small_order).expect("a keyring");
        Keys {
            small_order_kid: *small_order.keys()[0].kid(),
            ed: SigningKey::ed25519_from_seed(&seed("ed25519")).expect("ed25519"),
            rsa,
            other: SigningKey::ed25519_from_seed(&seed("other-vendor")).expect("ed25519"),
        }
    }

    /// `signature.pem`: the public keys of `ed` and `rsa`.
    pub fn signature_pem(&self) -> String {
        format!(
            "# licet TEST keys (test-vectors/): never trust these for real licenses.\n{}{}",
            self.ed.public_pem(),
            self.rsa.public_pem()
        )
    }
}

pub(crate) fn id(n: u8) -> [u8; 16] {
    let mut id = [0u8; 16];
    id.copy_from_slice(&Sha256::digest([b'i', b'd', n])[..16]);
    id
}

fn fingerprint(n: u8) -> [u8; 32] {
    Sha256::digest([b'f', b'p', n]).into()
}

/// The license of the compactness target in the spec.
pub fn full_license() -> Claims {
    Claims {
        issuer: None,
        customer: Some("cus_8842".into()),
        product: PRODUCT.into(),
        expires_at: Some(EXPIRES),
        not_before: None,
        issued_at: ISSUED,
        id: id(1),
        features: vec![
            "batch-render".into(),
            "cloud-sync".into(),
            "export-pdf".into(),
        ],
        metadata: BTreeMap::new(),
        kind: KindClaims::License {
            license_type: Some(LicenseType::Subscription),
            max_machines: None,
            max_leases: None,
        },
    }
}

pub(crate) fn perpetual_license() -> Claims {
    Claims {
        customer: None,
        expires_at: None,
        features: vec![],
        id: id(2),
        kind: KindClaims::License {
            license_type: None,
            max_machines: None,
            max_leases: None,
        },
        ..full_license()
    }
}

fn rich_license() -> Claims {
    let mut metadata = BTreeMap::new();
    metadata.insert("seats-note".into(), "lab A".into());
    metadata.insert("po".into(), "PO-2026-117".into());
    metadata.insert("region".into(), "eu".into());
    Claims {
        issuer: Some("Acme Software GmbH".into()),
        not_before: Some(ISSUED + 3600),
        id: id(3),
        metadata,
        kind: KindClaims::License {
            license_type: Some(LicenseType::Trial),
            max_machines: Some(10),
            max_leases: Some(5),
        },
        ..full_license()
    }
}

pub(crate) fn machine() -> Claims {
    Claims {
        customer: None,
        expires_at: Some(NOW + 7 * 86_400),
        id: id(4),
        kind: KindClaims::Machine {
            license_id: id(1),
            fingerprint: fingerprint(1),
            grace_ends_at: None,
        },
        ..full_license()
    }
}

/// A machine token issued in its license's grace period (format version 2, §8): the
/// license expired an hour before `NOW`, its grace ends 14 days after that, and the token
/// runs to the next check-in, a day from `NOW`.
pub(crate) fn machine_in_grace() -> Claims {
    Claims {
        expires_at: Some(NOW + 86_400),
        issued_at: NOW - 60,
        kind: KindClaims::Machine {
            license_id: id(1),
            fingerprint: fingerprint(1),
            grace_ends_at: Some(NOW - 3600 + 14 * 86_400),
        },
        ..machine()
    }
}

fn lease() -> Claims {
    Claims {
        customer: None,
        issued_at: NOW - 60,
        expires_at: Some(NOW + 540),
        id: id(5),
        kind: KindClaims::Lease {
            license_id: id(3),
            client_id: Some("build-agent-7".into()),
        },
        ..full_license()
    }
}

/// What a vector should do.
pub enum Outcome {
    /// Verify, giving these claims.
    Valid(Box<Claims>),
    /// Fail with this code; `signature` says whether the signature itself is valid
    /// (`Some(true)`), invalid (`Some(false)`), or cannot be checked (`None`).
    Error(&'static str, Option<bool>),
}

/// One vector before it is written as JSON.
pub struct Vector {
    pub name: &'static str,
    pub description: &'static str,
    pub token: String,
    pub kind: Kind,
    pub now: u64,
    pub leeway: u64,
    pub fingerprint: Option<[u8; 32]>,
    pub last_seen: Option<u64>,
    pub product: &'static str,
    pub outcome: Outcome,
    /// Files of `test-vectors/` whose concatenation is the keyring to check this vector
    /// with, instead of the manifest's `signature_pem`.
    pub keyring: Option<Vec<&'static str>>,
}

impl Vector {
    fn new(
        name: &'static str,
        description: &'static str,
        token: String,
        kind: Kind,
        outcome: Outcome,
    ) -> Vector {
        Vector {
            name,
            description,
            token,
            kind,
            now: NOW,
            leeway: licet_verifier::DEFAULT_LEEWAY,
            fingerprint: None,
            last_seen: None,
            product: PRODUCT,
            outcome,
            keyring: None,
        }
    }

    fn keyring(mut self, files: &[&'static str]) -> Vector {
        self.keyring = Some(files.to_vec());
        self
    }
}

/// Claims as the manifest writes them (the spec's "claims in JSON", §7.3).
pub use licet::json::claims_json;

pub(crate) fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).expect("cbor");
    out
}

pub(crate) fn decode(bytes: &[u8]) -> Value {
    ciborium::from_reader(bytes).expect("cbor")
}

pub(crate) fn int(n: i64) -> Value {
    Value::Integer(n.into())
}

/// A token built by hand from its parts, correctly signed by `key` over the protected
/// bytes and payload as given: for vectors whose fault is in the structure, not the signature.
pub fn raw_token(
    key: &SigningKey,
    protected: &[u8],
    unprotected: Value,
    payload: &[u8],
) -> Vec<u8> {
    let tbs = cbor(&Value::Array(vec![
        Value::Text("Signature1".into()),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(vec![]),
        Value::Bytes(payload.to_vec()),
    ]));
    let sig = key
        .sign_with_rng(&mut licet_keys::test_rng(7), &tbs)
        .expect("sign");
    cbor(&Value::Tag(
        18,
        Box::new(Value::Array(vec![
            Value::Bytes(protected.to_vec()),
            unprotected,
            Value::Bytes(payload.to_vec()),
            Value::Bytes(sig),
        ])),
    ))
}

/// A token assembled from its parts with the signature as given (not computed).
fn token_with_signature(protected: &[u8], payload: &[u8], signature: &[u8]) -> Vec<u8> {
    cbor(&Value::Tag(
        18,
        Box::new(Value::Array(vec![
            Value::Bytes(protected.to_vec()),
            Value::Map(vec![]),
            Value::Bytes(payload.to_vec()),
            Value::Bytes(signature.to_vec()),
        ])),
    ))
}

/// Claims with every limit of §7.4 at its maximum: about 9 KB once signed, over the
/// binary cap of §6.4.
fn largest_license() -> Claims {
    let name = |c: char| c.to_string().repeat(128);
    Claims {
        issuer: Some(name('i')),
        customer: Some(name('c')),
        product: "p".repeat(64),
        expires_at: Some(i64::MAX as u64),
        not_before: Some(i64::MAX as u64),
        issued_at: i64::MAX as u64,
        id: id(6),
        features: (0..64)
            .map(|i| format!("{i:02}{}", "f".repeat(62)))
            .collect(),
        metadata: (0..16)
            .map(|i| (format!("{i:02}{}", "k".repeat(30)), "v".repeat(256)))
            .collect(),
        kind: KindClaims::License {
            license_type: Some(LicenseType::Perpetual),
            max_machines: Some(u64::MAX),
            max_leases: Some(u64::MAX),
        },
    }
}

pub(crate) fn protected(alg: i64, kid: &[u8]) -> Vec<u8> {
    cbor(&Value::Map(vec![
        (int(1), int(alg)),
        (int(4), Value::Bytes(kid.to_vec())),
    ]))
}

pub(crate) fn issue(c: Claims, key: &SigningKey) -> Token {
    licet::issue_with_rng(c, key, &mut licet_keys::test_rng(1)).expect("issue")
}

/// Replaces the first occurrence of `from` in `bytes` with `to`.
fn patch(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

/// Edits the decoded licet claim map of a payload.
fn edit_licet(payload: &[u8], f: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    let mut v = decode(payload);
    if let Value::Map(top) = &mut v
        && let Some((_, Value::Map(m))) = top.iter_mut().find(|(k, _)| *k == int(-65537))
    {
        f(m);
    }
    cbor(&v)
}

fn edit_top(payload: &[u8], f: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    let mut v = decode(payload);
    if let Value::Map(top) = &mut v {
        f(top);
    }
    cbor(&v)
}

fn lic(bytes: &[u8]) -> String {
    text::encode_text(Kind::License, bytes)
}

/// Every vector, in a fixed order.
pub fn vectors(keys: &Keys) -> Vec<Vector> {
    use Outcome::{Error as E, Valid};
    let mut v = Vec::new();
    let full = issue(full_license(), &keys.ed);
    let full_payload = full_license().to_payload().expect("payload");
    let ed_prot = protected(-8, keys.ed.kid());
    let rsa_prot = protected(-37, keys.rsa.kid());

    // Valid tokens of every kind and algorithm.
    v.push(Vector::new(
        "license-ed25519",
        "the spec's compactness example: subscription with three features, expiry and customer",
        full.text(),
        Kind::License,
        Valid(Box::new(full_license())),
    ));
    v.push(Vector::new(
        "license-ed25519-file",
        "the same license in its file form",
        full.file(),
        Kind::License,
        Valid(Box::new(full_license())),
    ));
    let mut lower = full.text().to_ascii_lowercase();
    lower.insert_str(20, " -\n  ");
    v.push(Vector::new(
        "license-ed25519-lowercase-grouped",
        "text form in lower case with white space and group separators",
        lower,
        Kind::License,
        Valid(Box::new(full_license())),
    ));
    v.push(Vector::new(
        "license-ed25519-perpetual",
        "no expiry (perpetual), no features, nothing optional",
        issue(perpetual_license(), &keys.ed).text(),
        Kind::License,
        Valid(Box::new(perpetual_license())),
    ));
    v.push(Vector::new(
        "license-ps256",
        "the compactness example signed with RSA-PSS",
        issue(full_license(), &keys.rsa).text(),
        Kind::License,
        Valid(Box::new(full_license())),
    ));
    v.push(Vector::new(
        "license-ed25519-rich",
        "every license claim: issuer, nbf, type, limits, metadata",
        issue(rich_license(), &keys.ed).text(),
        Kind::License,
        Valid(Box::new(rich_license())),
    ));
    let mut m = Vector::new(
        "machine-ed25519",
        "a machine activation checked against its own fingerprint",
        issue(machine(), &keys.ed).text(),
        Kind::Machine,
        Valid(Box::new(machine())),
    );
    m.fingerprint = Some(fingerprint(1));
    v.push(m);
    let mut m = Vector::new(
        "machine-ps256",
        "a machine activation signed with RSA-PSS",
        issue(machine(), &keys.rsa).file(),
        Kind::Machine,
        Valid(Box::new(machine())),
    );
    m.fingerprint = Some(fingerprint(1));
    v.push(m);
    let mut m = Vector::new(
        "machine-ed25519-grace",
        "a machine token issued in its license's grace period: version 2, with a grace end",
        issue(machine_in_grace(), &keys.ed).text(),
        Kind::Machine,
        Valid(Box::new(machine_in_grace())),
    );
    m.fingerprint = Some(fingerprint(1));
    v.push(m);
    let grace_payload = machine_in_grace().to_payload().expect("payload");
    let mch = |payload: &[u8]| {
        text::encode_text(
            Kind::Machine,
            &raw_token(&keys.ed, &ed_prot, Value::Map(vec![]), payload),
        )
    };
    v.push(Vector::new(
        "machine-grace-version-1",
        "a grace end (key 16) under format version 1, which has no such key (signed)",
        mch(&edit_licet(&grace_payload, |m| m[0].1 = int(1))),
        Kind::Machine,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    v.push(Vector::new(
        "machine-grace-version-2-without-it",
        "format version 2 without the grace end that is all version 2 adds (signed)",
        mch(&edit_licet(&grace_payload, |m| {
            m.retain(|(k, _)| *k != int(16));
        })),
        Kind::Machine,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    v.push(Vector::new(
        "machine-grace-before-exp",
        "a grace end before the token's own expiry (signed)",
        mch(&edit_licet(&grace_payload, |m| {
            if let Some((_, g)) = m.iter_mut().find(|(k, _)| *k == int(16)) {
                *g = Value::Integer((NOW + 60).into());
            }
        })),
        Kind::Machine,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    v.push(Vector::new(
        "machine-grace-beyond-i63",
        "a grace end of 2^63, past the largest time a token may carry (signed)",
        mch(&edit_licet(&grace_payload, |m| {
            if let Some((_, g)) = m.iter_mut().find(|(k, _)| *k == int(16)) {
                *g = Value::Integer((1u64 << 63).into());
            }
        })),
        Kind::Machine,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    v.push(Vector::new(
        "license-grace-key",
        "a grace end (key 16) in a license token under version 2: only machine tokens carry it (signed)",
        lic(&raw_token(
            &keys.ed,
            &ed_prot,
            Value::Map(vec![]),
            &edit_licet(&full_payload, |m| {
                m[0].1 = int(2);
                m.push((int(16), Value::Integer((NOW + 86_400).into())));
            }),
        )),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    v.push(Vector::new(
        "lease-ed25519",
        "a floating seat with a client id",
        issue(lease(), &keys.ed).text(),
        Kind::Lease,
        Valid(Box::new(lease())),
    ));
    v.push(Vector::new(
        "lease-ps256",
        "a floating seat signed with RSA-PSS",
        issue(lease(), &keys.rsa).text(),
        Kind::Lease,
        Valid(Box::new(lease())),
    ));
    let mut edge = Vector::new(
        "license-expiry-within-leeway",
        "checked 59 s after exp with the default 60 s leeway",
        full.text(),
        Kind::License,
        Valid(Box::new(full_license())),
    );
    edge.now = EXPIRES + 59;
    v.push(edge);

    // Times.
    let mut e = Vector::new(
        "license-expired",
        "checked at exp + leeway: expired (RFC 8392: not on or after exp)",
        full.text(),
        Kind::License,
        E("TOKEN_EXPIRED", Some(true)),
    );
    e.now = EXPIRES + 60;
    v.push(e);
    let mut e = Vector::new(
        "license-not-yet-valid",
        "checked before nbf - leeway",
        issue(rich_license(), &keys.ed).text(),
        Kind::License,
        E("TOKEN_NOT_YET_VALID", Some(true)),
    );
    e.now = ISSUED + 3600 - 61;
    v.push(e);
    let mut e = Vector::new(
        "clock-rollback-last-seen",
        "now is earlier than the caller's last-seen time by more than the leeway",
        full.text(),
        Kind::License,
        E("CLOCK_ROLLBACK", Some(true)),
    );
    e.last_seen = Some(NOW + 3600);
    v.push(e);
    let mut e = Vector::new(
        "clock-rollback-issued-in-future",
        "now is before the token's iat by more than the leeway",
        full.text(),
        Kind::License,
        E("CLOCK_ROLLBACK", Some(true)),
    );
    e.now = ISSUED - 61;
    v.push(e);
    let mut e = Vector::new(
        "lease-expired",
        "a lease checked after its short expiry",
        issue(lease(), &keys.ed).text(),
        Kind::Lease,
        E("TOKEN_EXPIRED", Some(true)),
    );
    e.now = NOW + 600;
    v.push(e);

    // Kind, product, fingerprint.
    v.push(Vector::new(
        "wrong-kind",
        "a license presented where a machine token is required",
        full.text(),
        Kind::Machine,
        E("WRONG_KIND", Some(true)),
    ));
    let lease_as_license = issue(lease(), &keys.ed);
    v.push(Vector::new(
        "wrong-kind-lease-for-license",
        "a lease presented where a license is required",
        lease_as_license.text(),
        Kind::License,
        E("WRONG_KIND", Some(true)),
    ));
    let mut e = Vector::new(
        "wrong-product",
        "a valid license for another product",
        full.text(),
        Kind::License,
        E("WRONG_PRODUCT", Some(true)),
    );
    e.product = "acme-studio-lite";
    v.push(e);
    let mut e = Vector::new(
        "fingerprint-mismatch",
        "a machine token checked on another machine",
        issue(machine(), &keys.ed).text(),
        Kind::Machine,
        E("FINGERPRINT_MISMATCH", Some(true)),
    );
    e.fingerprint = Some(fingerprint(2));
    v.push(e);

    // Keys and algorithms.
    v.push(Vector::new(
        "key-unknown",
        "signed by another vendor's key",
        issue(full_license(), &keys.other).text(),
        Kind::License,
        E("KEY_UNKNOWN", Some(true)),
    ));
    v.push(Vector::new(
        "alg-unsupported-es256",
        "alg ES256 (-7): not accepted by licet",
        lic(&raw_token(
            &keys.ed,
            &protected(-7, keys.ed.kid()),
            Value::Map(vec![]),
            &full_payload,
        )),
        Kind::License,
        E("ALG_UNSUPPORTED", None),
    ));
    v.push(Vector::new(
        "alg-mismatch-eddsa-on-rsa-key",
        "alg EdDSA but kid names the RSA key (signed by the Ed25519 key)",
        lic(&raw_token(
            &keys.ed,
            &protected(-8, keys.rsa.kid()),
            Value::Map(vec![]),
            &full_payload,
        )),
        Kind::License,
        E("ALG_MISMATCH", None),
    ));
    v.push(Vector::new(
        "alg-mismatch-ps256-on-ed25519-key",
        "alg PS256 but kid names the Ed25519 key (signed by the RSA key)",
        lic(&raw_token(
            &keys.rsa,
            &protected(-37, keys.ed.kid()),
            Value::Map(vec![]),
            &full_payload,
        )),
        Kind::License,
        E("ALG_MISMATCH", None),
    ));

    // Signatures.
    let mut bytes = full.bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    v.push(Vector::new(
        "signature-bit-flipped",
        "last bit of the Ed25519 signature flipped",
        lic(&bytes),
        Kind::License,
        E("SIGNATURE_INVALID", Some(false)),
    ));
    let rsa_full = issue(full_license(), &keys.rsa);
    let mut bytes = rsa_full.bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    v.push(Vector::new(
        "signature-bit-flipped-ps256",
        "a bit of the RSA-PSS signature flipped",
        lic(&bytes),
        Kind::License,
        E("SIGNATURE_INVALID", Some(false)),
    ));
    let tampered = patch(full.bytes(), b"cus_8842", b"cus_0001");
    v.push(Vector::new(
        "payload-tampered",
        "customer changed after signing (Ed25519)",
        lic(&tampered),
        Kind::License,
        E("SIGNATURE_INVALID", Some(false)),
    ));
    let tampered = patch(rsa_full.bytes(), b"cloud-sync", b"cloud-synd");
    v.push(Vector::new(
        "payload-tampered-ps256",
        "a feature changed after signing (RSA-PSS)",
        lic(&tampered),
        Kind::License,
        E("SIGNATURE_INVALID", Some(false)),
    ));
    let zero_sig = {
        let mut b = full.bytes().to_vec();
        let n = b.len();
        b[n - 64..].fill(0);
        b
    };
    v.push(Vector::new(
        "signature-zero",
        "an all-zero Ed25519 signature",
        lic(&zero_sig),
        Kind::License,
        E("SIGNATURE_INVALID", Some(false)),
    ));
    v.push(Vector::new(
        "signature-ps256-wrong-length",
        "an RSA-PSS signature one byte short (made by hand)",
        lic(&{
            let t = raw_token(&keys.rsa, &rsa_prot, Value::Map(vec![]), &full_payload);
            let mut val = decode(&t);
            if let Value::Tag(_, inner) = &mut val
                && let Value::Array(a) = inner.as_mut()
                && let Some(Value::Bytes(s)) = a.get_mut(3)
            {
                s.pop();
            }
            cbor(&val)
        }),
        Kind::License,
        E("SIGNATURE_INVALID", Some(false)),
    ));

    // Version.
    let v3 = edit_licet(&full_payload, |m| m[0].1 = int(3));
    v.push(Vector::new(
        "unsupported-version",
        "a correctly signed token declaring format version 3",
        lic(&raw_token(&keys.ed, &ed_prot, Value::Map(vec![]), &v3)),
        Kind::License,
        E("TOKEN_UNSUPPORTED_VERSION", Some(true)),
    ));

    // Structure: each correctly signed, so only the structural rule refuses it.
    let signed = |payload: &[u8]| lic(&raw_token(&keys.ed, &ed_prot, Value::Map(vec![]), payload));
    let long_iat = patch(&full_payload, &[0x06, 0x1a], &[0x06, 0x1b, 0, 0, 0, 0]);
    v.push(Vector::new(
        "non-canonical-integer",
        "iat in the 8-byte integer form (signed)",
        signed(&long_iat),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    let dup = edit_top(&full_payload, |m| {
        let aud = m.iter().find(|(k, _)| *k == int(3)).cloned().expect("aud");
        m.insert(3, aud);
    });
    v.push(Vector::new(
        "duplicate-claim",
        "aud twice (signed)",
        signed(&dup),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    let unknown = edit_top(&full_payload, |m| {
        let at = m.len() - 1;
        m.insert(at, (int(8), Value::Map(vec![])));
    });
    v.push(Vector::new(
        "unknown-claim",
        "an extra claim 8 (cnf) this format does not define (signed)",
        signed(&unknown),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    let unknown_field = edit_licet(&full_payload, |m| m.push((int(42), Value::Bool(true))));
    v.push(Vector::new(
        "unknown-licet-field",
        "an extra key 42 in the licet claim (signed)",
        signed(&unknown_field),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    let unsorted = edit_licet(&full_payload, |m| {
        if let Some((_, Value::Array(f))) = m.iter_mut().find(|(k, _)| *k == int(2)) {
            f.reverse();
        }
    });
    v.push(Vector::new(
        "features-unsorted",
        "features not in sorted order (signed)",
        signed(&unsorted),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    let float_exp = edit_top(&full_payload, |m| {
        if let Some((_, e)) = m.iter_mut().find(|(k, _)| *k == int(4)) {
            *e = Value::Float(EXPIRES as f64);
        }
    });
    v.push(Vector::new(
        "float-time",
        "exp as a float (signed)",
        signed(&float_exp),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    let crit = cbor(&Value::Map(vec![
        (int(1), int(-8)),
        (int(2), Value::Array(vec![int(-65538)])),
        (int(4), Value::Bytes(keys.ed.kid().to_vec())),
        (int(-65538), Value::Bool(true)),
    ]));
    v.push(Vector::new(
        "unknown-critical-header",
        "protected header with crit naming an unknown parameter (signed)",
        lic(&raw_token(
            &keys.ed,
            &crit,
            Value::Map(vec![]),
            &full_payload,
        )),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    let unprot = Value::Map(vec![(int(4), Value::Bytes(keys.ed.kid().to_vec()))]);
    v.push(Vector::new(
        "unprotected-header-not-empty",
        "kid repeated in the unprotected header",
        lic(&raw_token(&keys.ed, &ed_prot, unprot, &full_payload)),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    let reordered = cbor(&Value::Map(vec![
        (int(4), Value::Bytes(keys.ed.kid().to_vec())),
        (int(1), int(-8)),
    ]));
    v.push(Vector::new(
        "protected-header-reordered",
        "protected header keys out of canonical order (signed)",
        lic(&raw_token(
            &keys.ed,
            &reordered,
            Value::Map(vec![]),
            &full_payload,
        )),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    let no_licet = edit_top(&full_payload, |m| m.retain(|(k, _)| *k != int(-65537)));
    v.push(Vector::new(
        "not-a-licet-token",
        "a plain CWT with no licet claim (signed)",
        signed(&no_licet),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    ));

    let good = full.bytes();
    v.push(Vector::new(
        "truncated",
        "the last 10 bytes cut off",
        lic(&good[..good.len() - 10]),
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    v.push(Vector::new(
        "truncated-to-header",
        "only the first 12 bytes",
        lic(&good[..12]),
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    v.push(Vector::new(
        "trailing-bytes",
        "a zero byte after the token",
        lic(&[good, &[0u8]].concat()),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    let mut tag17 = good.to_vec();
    tag17[0] = 0xd1;
    v.push(Vector::new(
        "wrong-tag",
        "tag 17 (COSE_Mac0) instead of 18",
        lic(&tag17),
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    v.push(Vector::new(
        "untagged",
        "the COSE_Sign1 array without its tag",
        lic(&good[1..]),
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    let mut bad_char = full.text();
    bad_char.replace_range(30..31, "U");
    v.push(Vector::new(
        "bad-base32-character",
        "a U, outside the Crockford alphabet",
        bad_char,
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    let mut bad_punct = full.text();
    bad_punct.replace_range(30..31, "=");
    v.push(Vector::new(
        "bad-base32-padding",
        "an = sign: no padding in the text form",
        bad_punct,
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    let t = full.text();
    let mut bits = t.clone();
    // The last character holds unused low bits (the length is not a multiple of 8);
    // setting one of them must be refused.
    let last = bits.pop().expect("nonempty");
    let alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let pos = alphabet.find(last).expect("crockford");
    bits.push(alphabet.as_bytes()[pos | 1] as char);
    assert_ne!(bits, t, "the unused-bits vector must differ from the token");
    v.push(Vector::new(
        "base32-unused-bits-set",
        "the last character with an unused bit set",
        bits,
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    v.push(Vector::new(
        "wrong-prefix",
        "a license's text under the machine prefix",
        full.text().replacen("LIC-", "MCH-", 1),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    v.push(Vector::new(
        "no-prefix",
        "the base32 without any prefix",
        full.text()[4..].to_string(),
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    v.push(Vector::new(
        "armor-mismatch",
        "file form whose END line names another kind",
        full.file().replace("END LICET LICENSE", "END LICET LEASE"),
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    v.push(Vector::new(
        "text-around-white-space",
        "the text form with spaces, a tab and line breaks before and after it",
        format!(" \t\n{}\r\n ", full.text()),
        Kind::License,
        Valid(Box::new(full_license())),
    ));
    v.push(Vector::new(
        "armor-text-on-begin-line",
        "the file form with the token starting on the BEGIN line",
        full.file().replacen("-----\n", "-----", 1),
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    v.push(Vector::new(
        "oversized",
        "20000 characters: refused before decoding",
        format!("LIC-{}", "0".repeat(20_000)),
        Kind::License,
        E("TOKEN_TOO_LARGE", None),
    ));
    v.push(Vector::new(
        "empty",
        "an empty string",
        String::new(),
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));

    // §9 check 10 comes before kind, product and times: a prefix or armor naming another
    // kind is TOKEN_MALFORMED whatever else would fail after it.
    let as_machine = full.text().replacen("LIC-", "MCH-", 1);
    v.push(Vector::new(
        "wrong-prefix-expected-kind",
        "a license's text under the machine prefix, checked as a machine token",
        as_machine.clone(),
        Kind::Machine,
        E("TOKEN_MALFORMED", Some(true)),
    ));
    let mut e = Vector::new(
        "wrong-prefix-wrong-product",
        "a license's text under the machine prefix, checked for another product",
        as_machine.clone(),
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    );
    e.product = "acme-studio-lite";
    v.push(e);
    let mut e = Vector::new(
        "wrong-prefix-expired",
        "a license's text under the machine prefix, checked after its expiry",
        as_machine,
        Kind::License,
        E("TOKEN_MALFORMED", Some(true)),
    );
    e.now = EXPIRES + 3600;
    v.push(e);
    v.push(Vector::new(
        "wrong-armor-expected-kind",
        "a license in a MACHINE armor with the MCH- prefix, checked as a machine token",
        full.file()
            .replace("LICET LICENSE", "LICET MACHINE")
            .replacen("LIC-", "MCH-", 1),
        Kind::Machine,
        E("TOKEN_MALFORMED", Some(true)),
    ));

    // §8: the version is read before any other claim or key.
    let v3_claim = edit_top(&v3, |m| {
        let at = m.len() - 1;
        m.insert(at, (int(8), Value::Map(vec![])));
    });
    v.push(Vector::new(
        "unsupported-version-new-claim",
        "format version 3 with a claim (8) versions 1 and 2 do not define (signed)",
        signed(&v3_claim),
        Kind::License,
        E("TOKEN_UNSUPPORTED_VERSION", Some(true)),
    ));
    let v3_key = edit_licet(&v3, |m| m.push((int(10), Value::Bool(true))));
    v.push(Vector::new(
        "unsupported-version-new-licet-key",
        "format version 3 with a licet claim key (10) versions 1 and 2 do not define (signed)",
        signed(&v3_key),
        Kind::License,
        E("TOKEN_UNSUPPORTED_VERSION", Some(true)),
    ));

    // Keyrings (§3, §4): a key outside the rules makes the whole signature.pem invalid.
    v.push(
        Vector::new(
            "keyring-rsa-2047",
            "signature.pem with a 2047-bit RSA key (256 bytes of modulus, yet under 2048 bits)",
            issue(full_license(), &keys.rsa).text(),
            Kind::License,
            E("KEYRING_INVALID", None),
        )
        .keyring(&["keys/signature.pem", "keys/rsa-2047.pub.pem"]),
    );
    v.push(
        Vector::new(
            "keyring-rsa-4097",
            "signature.pem with a 4097-bit RSA key",
            issue(full_license(), &keys.rsa).text(),
            Kind::License,
            E("KEYRING_INVALID", None),
        )
        .keyring(&["keys/signature.pem", "keys/rsa-4097.pub.pem"]),
    );
    v.push(
        Vector::new(
            "keyring-rsa-4096",
            "signature.pem with a 4096-bit RSA key beside the vendor's: accepted",
            full.text(),
            Kind::License,
            Valid(Box::new(full_license())),
        )
        .keyring(&["keys/signature.pem", "keys/rsa-4096.pub.pem"]),
    );
    v.push(
        Vector::new(
            "keyring-third-key-type",
            "signature.pem with an ECDSA P-256 key beside the vendor's",
            full.text(),
            Kind::License,
            E("KEYRING_INVALID", None),
        )
        .keyring(&["keys/signature.pem", "keys/p256.pub.pem"]),
    );
    // The identity point as key and as R, with S = 0: the cofactorless equation holds for
    // every message, so only the strict rules of §3 refuse it.
    let mut forged = vec![0u8; 64];
    forged[0] = 1;
    v.push(
        Vector::new(
            "small-order-key",
            "signature.pem holding a small-order Ed25519 key, and a token 'signed' by it",
            lic(&token_with_signature(
                &protected(-8, &keys.small_order_kid),
                &full_payload,
                &forged,
            )),
            Kind::License,
            E("SIGNATURE_INVALID", Some(false)),
        )
        .keyring(&["keys/signature.pem", "keys/ed25519-small-order.pub.pem"]),
    );

    // Signatures of the wrong length are invalid signatures, not malformed tokens.
    let short = {
        let b = full.bytes();
        let n = b.len();
        token_with_signature(&ed_prot, &full_payload, &b[n - 64..n - 1])
    };
    v.push(Vector::new(
        "signature-eddsa-wrong-length",
        "an Ed25519 signature one byte short",
        lic(&short),
        Kind::License,
        E("SIGNATURE_INVALID", Some(false)),
    ));
    // The claims' canonical form is checked after the signature (§9 checks 7 and 9).
    let sig = &full.bytes()[full.bytes().len() - 64..];
    v.push(Vector::new(
        "non-canonical-claims-unsigned",
        "iat in the 8-byte form, under the signature of the canonical claims",
        lic(&token_with_signature(&ed_prot, &long_iat, sig)),
        Kind::License,
        E("SIGNATURE_INVALID", Some(false)),
    ));

    // Size caps (§6.4): the text cap counts every byte given, white space included; the
    // binary cap applies to a correctly signed token too.
    let text = full.text();
    let pad = text::MAX_TEXT_BYTES - text.len();
    v.push(Vector::new(
        "text-at-cap-with-white-space",
        "the text form followed by white space up to exactly 16640 bytes",
        format!("{text}{}", " ".repeat(pad)),
        Kind::License,
        Valid(Box::new(full_license())),
    ));
    v.push(Vector::new(
        "text-over-cap-with-white-space",
        "the text form followed by white space up to 16641 bytes: white space counts",
        format!("{text}{}", " ".repeat(pad + 1)),
        Kind::License,
        E("TOKEN_TOO_LARGE", None),
    ));
    let largest = largest_license().to_payload().expect("payload");
    let largest = raw_token(&keys.ed, &ed_prot, Value::Map(vec![]), &largest);
    assert!(largest.len() > licet_verifier::envelope::MAX_TOKEN_BYTES);
    v.push(Vector::new(
        "binary-over-cap-signed",
        "every limit of §7.4 at its maximum, signed: over the 8192-byte binary cap",
        lic(&largest),
        Kind::License,
        E("TOKEN_TOO_LARGE", None),
    ));

    // What the text decoder accepts (§6.2), and what it does not.
    let aliased: String = {
        let t = full.text();
        let (_, body) = t.split_at(4);
        let mut n = 0;
        let body: String = body
            .chars()
            .map(|c| match c {
                '1' => {
                    n += 1;
                    if n % 2 == 0 { 'i' } else { 'L' }
                }
                '0' => 'o',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        format!(
            "lic-{}\t{}\x0c{}\r\n",
            &body[..10],
            &body[10..20],
            &body[20..]
        )
    };
    assert!(aliased.contains('i') && aliased.contains('L') && aliased.contains('o'));
    v.push(Vector::new(
        "license-ed25519-aliases",
        "lower-case prefix, Crockford's aliases (i, L for 1, o for 0), tab, form feed, CR LF",
        aliased,
        Kind::License,
        Valid(Box::new(full_license())),
    ));
    let mut vt = full.text();
    vt.insert(20, '\x0b');
    v.push(Vector::new(
        "white-space-vertical-tab",
        "a vertical tab (not ASCII white space in §6.2's sense) inside the base32",
        vt,
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    let mut nbsp = full.text();
    nbsp.insert(20, '\u{a0}');
    v.push(Vector::new(
        "white-space-no-break-space",
        "a no-break space (U+00A0, not ASCII) inside the base32",
        nbsp,
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    // §6.3: spaces and tabs, and only those, may end the BEGIN line and start the END line.
    let file = full.file();
    let body = file
        .strip_prefix("-----BEGIN LICET LICENSE-----\n")
        .and_then(|b| b.strip_suffix("-----END LICET LICENSE-----\n"))
        .expect("armor");
    v.push(Vector::new(
        "armor-white-space-around-lines",
        "file form with spaces and a tab after BEGIN and before END, CRLF, body in lower case",
        format!(
            "\n-----BEGIN LICET LICENSE----- \t\r\n{} \t-----END LICET LICENSE-----\r\n",
            body.to_ascii_lowercase()
                .replace("lic-", "LIC-")
                .replace('\n', "\r\n")
        ),
        Kind::License,
        Valid(Box::new(full_license())),
    ));
    v.push(Vector::new(
        "armor-form-feed-after-begin",
        "file form with a form feed ending the BEGIN line",
        file.replacen("LICENSE-----\n", "LICENSE-----\x0c\n", 1),
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    v.push(Vector::new(
        "white-space-before-dash",
        "a space between the prefix and its dash",
        full.text().replacen("LIC-", "LIC -", 1),
        Kind::License,
        E("TOKEN_MALFORMED", None),
    ));
    v
}

/// The expectations of a vector (or of a Python-minted token), read back from the
/// manifest's `expect` object: the one reader of the shape [`manifest`] writes.
///
/// # Panics
/// When `e` is not that shape (a broken manifest is a failed test).
pub fn expectations(e: &Json) -> Expectations<'_> {
    let kind = Kind::from_name(e["kind"].as_str().expect("kind")).expect("kind name");
    let mut expect = Expectations::new(
        kind,
        e["product"].as_str().expect("product"),
        e["now"].as_u64().expect("now"),
    )
    .leeway(e["leeway"].as_u64().expect("leeway"));
    if let Some(f) = e["fingerprint"].as_str() {
        expect = expect.fingerprint(licet_verifier::unhex(f).expect("fingerprint: 64 hex digits"));
    }
    if let Some(t) = e["last_seen"].as_u64() {
        expect = expect.last_seen(t);
    }
    expect
}

/// The manifest, as written to `test-vectors/vectors.json`.
pub fn manifest(keys: &Keys) -> Json {
    let vectors: Vec<Json> = vectors(keys)
        .into_iter()
        .map(|v| {
            let expect = json!({
                "kind": v.kind.name(),
                "product": v.product,
                "now": v.now,
                "leeway": v.leeway,
                "fingerprint": v.fingerprint.map(|f| hex(&f)),
                "last_seen": v.last_seen,
            });
            let result = match &v.outcome {
                Outcome::Valid(c) => {
                    let mut c = c.clone();
                    c.normalize();
                    json!({"valid": true, "signature": "valid", "claims": claims_json(&c)})
                }
                Outcome::Error(code, sig) => json!({
                    "valid": false,
                    "error": code,
                    "signature": match sig { Some(true) => "valid", Some(false) => "invalid", None => "unchecked" },
                }),
            };
            let mut out = json!({
                "name": v.name,
                "description": v.description,
                "token": v.token,
                "expect": expect,
                "result": result,
            });
            if let Some(files) = &v.keyring {
                out["keyring"] = json!(files);
            }
            out
        })
        .collect();
    json!({
        "comment": "licet token test vectors; made by `cargo run -p licet-test-vectors --bin make-vectors`. TEST KEYS ONLY.",
        "format_version": licet_verifier::claims::FORMAT_VERSION,
        "signature_pem": "keys/signature.pem",
        "keys": [
            {"name": "ed25519", "alg": "EdDSA", "kid": hex(keys.ed.kid()), "private_key": "keys/ed25519.pem", "in_signature_pem": true},
            {"name": "rsa-2048", "alg": "PS256", "kid": hex(keys.rsa.kid()), "private_key": "keys/rsa-2048.pem", "in_signature_pem": true},
            {"name": "other-vendor", "alg": "EdDSA", "kid": hex(keys.other.kid()), "private_key": "keys/other-vendor.pem", "in_signature_pem": false},
        ],
        "vectors": vectors,
    })
}

/// Every file `make-vectors` writes, by path relative to `test-vectors/`.
pub fn files(keys: &Keys) -> BTreeMap<&'static str, String> {
    let mut files = BTreeMap::new();
    let pem = |k: &SigningKey| k.to_pkcs8_pem().expect("pem").to_string();
    files.insert("keys/ed25519.pem", pem(&keys.ed));
    files.insert("keys/rsa-2048.pem", pem(&keys.rsa));
    files.insert("keys/other-vendor.pem", pem(&keys.other));
    files.insert("keys/signature.pem", keys.signature_pem());
    files.insert(
        "example-license.txt",
        issue(full_license(), &keys.ed).text(),
    );
    trust::files(keys, &mut files);
    files.insert(
        "vectors.json",
        serde_json::to_string_pretty(&manifest(keys)).expect("json") + "\n",
    );
    files
}
