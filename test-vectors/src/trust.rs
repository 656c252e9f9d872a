//! Vectors of the signed documents of `docs/token-format.md` §13: endorsements of signing
//! keys by a root key, keyrings built from a pinned root, revocation lists and
//! deactivation receipts. They go to
//! `test-vectors/trust-vectors.json`, a file of their own: the bindings run
//! `vectors.json` and do not yet read these kinds.

use std::collections::BTreeMap;

use ciborium::value::Value;
use licet_keys::SigningKey;
use licet_verifier::{RevocationList, endorsement, hex, revocation};
use serde_json::{Value as Json, json};

use crate::{
    EXPIRES, ISSUED, Keys, NOW, PRODUCT, cbor, decode, full_license, id, int, issue, machine,
    perpetual_license, protected, seed,
};

/// The root keys of the vectors: the vendor's, pinned by applications, and another.
pub struct Roots {
    /// The vendor's root (Ed25519), `keys/root.pem`; its public key `keys/root.pub.pem`.
    pub root: SigningKey,
    /// Another vendor's root, `keys/other-root.pem`.
    pub other: SigningKey,
}

impl Roots {
    /// Derives the root keys from fixed seeds.
    pub fn new() -> Roots {
        Roots {
            root: SigningKey::ed25519_from_seed(&seed("root")).expect("ed25519"),
            other: SigningKey::ed25519_from_seed(&seed("other-root")).expect("ed25519"),
        }
    }
}

impl Default for Roots {
    fn default() -> Self {
        Roots::new()
    }
}

/// When an expired endorsement ended: a day before [`NOW`].
const ENDED: u64 = NOW - 86_400;

fn endorse(root: &SigningKey, key: &SigningKey, from: u64, until: u64) -> Vec<u8> {
    licet::endorse(root, key.public_spki_der(), from, until).expect("endorse")
}

/// The `signature.pem` a server with a root serves: the root's public key, then each
/// signing key's endorsement and public key.
pub fn endorsed_signature_pem(keys: &Keys, roots: &Roots) -> String {
    format!(
        "# licet TEST keys (test-vectors/): the root, then each signing key's endorsement and key.\n{}{}{}{}{}",
        roots.root.public_pem(),
        endorsement::to_pem(&endorse(&roots.root, &keys.ed, ISSUED, EXPIRES)),
        keys.ed.public_pem(),
        endorsement::to_pem(&endorse(&roots.root, &keys.rsa, ISSUED, EXPIRES)),
        keys.rsa.public_pem(),
    )
}

/// Signs a payload given as CBOR with `key`, as the issuing side signs documents.
fn signed(key: &SigningKey, payload: &Value) -> Vec<u8> {
    crate::raw_token(
        key,
        &protected(key_alg(key), key.kid()),
        Value::Map(vec![]),
        &cbor(payload),
    )
}

fn key_alg(key: &SigningKey) -> i64 {
    match key.algorithm() {
        licet_verifier::Algorithm::EdDsa => -8,
        licet_verifier::Algorithm::Ps256 => -37,
    }
}

fn endorsement_vectors(keys: &Keys, roots: &Roots) -> Vec<Json> {
    let valid = |name: &str, description: &str, key: &SigningKey| {
        json!({
            "name": name,
            "description": description,
            "endorsement": endorsement::to_pem(&endorse(&roots.root, key, ISSUED, EXPIRES)),
            "now": NOW,
            "result": {
                "valid": true,
                "kid": hex(key.kid()),
                "alg": key.algorithm().name(),
                "root_kid": hex(roots.root.kid()),
                "issued_at": ISSUED,
                "expires_at": EXPIRES,
            },
        })
    };
    let refused = |name: &str, description: &str, bytes: Vec<u8>, error: &str| {
        json!({
            "name": name,
            "description": description,
            "endorsement": endorsement::to_pem(&bytes),
            "now": NOW,
            "result": {"valid": false, "error": error},
        })
    };
    let good = endorse(&roots.root, &keys.ed, ISSUED, EXPIRES);
    let payload = decode(&licet_verifier::envelope::open(&good).expect("open").payload);
    let with_kid = |kid: &[u8]| {
        let mut p = payload.clone();
        if let Value::Map(top) = &mut p
            && let Some((_, Value::Map(m))) = top.iter_mut().find(|(k, _)| *k == int(-65537))
            && let Some((_, v)) = m.iter_mut().find(|(k, _)| *k == int(11))
        {
            *v = Value::Bytes(kid.to_vec());
        }
        p
    };
    let mut tampered = good.clone();
    // The last byte of the endorsed key's SPKI, inside the signed payload.
    let spki = keys.ed.public_spki_der();
    let at = tampered
        .windows(spki.len())
        .position(|w| w == spki)
        .expect("spki in the endorsement")
        + spki.len()
        - 1;
    tampered[at] ^= 0x01;
    vec![
        valid(
            "endorsement-ed25519",
            "the root endorses the Ed25519 signing key until 2030-03-17",
            &keys.ed,
        ),
        valid(
            "endorsement-rsa",
            "the root endorses the RSA-2048 signing key: the endorsed key's algorithm is independent of the root's",
            &keys.rsa,
        ),
        refused(
            "endorsement-other-root",
            "another vendor's root endorses the signing key: its kid is not the pinned root's",
            endorse(&roots.other, &keys.ed, ISSUED, EXPIRES),
            "ENDORSEMENT_UNTRUSTED",
        ),
        refused(
            "endorsement-expired",
            "an endorsement that ended a day before now (beyond the 60 s leeway)",
            endorse(&roots.root, &keys.ed, ISSUED, ENDED),
            "ENDORSEMENT_EXPIRED",
        ),
        refused(
            "endorsement-key-changed",
            "one bit of the endorsed key changed after signing",
            tampered,
            "SIGNATURE_INVALID",
        ),
        refused(
            "endorsement-kid-not-the-keys",
            "correctly signed, but the kid (key 11) is not the first 8 bytes of SHA-256 over the SPKI",
            signed(&roots.root, &with_kid(keys.rsa.kid())),
            "TOKEN_MALFORMED",
        ),
        refused(
            "endorsement-is-a-license",
            "a license token signed by the root, given as an endorsement: another kind",
            issue(full_license(), &roots.root).bytes().to_vec(),
            "TOKEN_MALFORMED",
        ),
    ]
}

fn root_keyring_vectors(keys: &Keys, roots: &Roots) -> Vec<Json> {
    let license_ed = issue(full_license(), &keys.ed).text();
    let license_rsa = issue(full_license(), &keys.rsa).text();
    let expect = json!({"kind": "license", "product": PRODUCT, "now": NOW, "leeway": 60});
    let vector = |name: &str, description: &str, pem: String, token: &str, result: Json| {
        json!({
            "name": name,
            "description": description,
            "signature_pem": pem,
            "token": token,
            "expect": expect,
            "result": result,
        })
    };
    let ok = json!({"valid": true});
    let refused = |code: &str| json!({"valid": false, "error": code});
    let rsa_part = format!(
        "{}{}",
        endorsement::to_pem(&endorse(&roots.root, &keys.rsa, ISSUED, EXPIRES)),
        keys.rsa.public_pem()
    );
    let with_ed = |e: Vec<u8>| {
        format!(
            "{}{}{}{rsa_part}",
            roots.root.public_pem(),
            endorsement::to_pem(&e),
            keys.ed.public_pem()
        )
    };
    vec![
        vector(
            "root-keyring-ed25519",
            "the served signature.pem (keys/endorsed-signature.pem) under the pinned root: an Ed25519 license verifies",
            endorsed_signature_pem(keys, roots),
            &license_ed,
            ok.clone(),
        ),
        vector(
            "root-keyring-ps256",
            "the same file: a PS256 license verifies through the RSA key's endorsement",
            endorsed_signature_pem(keys, roots),
            &license_rsa,
            ok,
        ),
        vector(
            "root-keyring-endorsement-expired",
            "the Ed25519 key's endorsement ended a day ago: its tokens are refused with the endorsement's code",
            with_ed(endorse(&roots.root, &keys.ed, ISSUED, ENDED)),
            &license_ed,
            refused("ENDORSEMENT_EXPIRED"),
        ),
        vector(
            "root-keyring-other-root",
            "the Ed25519 key is endorsed by another root: its tokens are refused",
            with_ed(endorse(&roots.other, &keys.ed, ISSUED, EXPIRES)),
            &license_ed,
            refused("ENDORSEMENT_UNTRUSTED"),
        ),
        vector(
            "root-keyring-bare-key",
            "the Ed25519 key is in the file as a PUBLIC KEY but has no endorsement: with a pinned root it counts for nothing",
            format!(
                "{}{}{rsa_part}",
                roots.root.public_pem(),
                keys.ed.public_pem()
            ),
            &license_ed,
            refused("KEY_UNKNOWN"),
        ),
    ]
}

/// A revocation list as the vectors make it, signed with `key`.
fn list(
    key: &SigningKey,
    sequence: u64,
    licenses: Vec<[u8; 16]>,
    machines: Vec<[u8; 16]>,
) -> Vec<u8> {
    licet::sign_revocations(
        &RevocationList {
            kid: *key.kid(),
            issuer: "Acme Software GmbH".into(),
            issued_at: NOW - 3600,
            sequence,
            next_update: NOW + 86_400,
            licenses,
            machines,
        },
        key,
    )
    .expect("sign")
}

fn revocation_vectors(keys: &Keys) -> Vec<Json> {
    let mut licenses = vec![id(2), id(3), id(9)];
    licenses.sort();
    let machines = vec![id(4)];
    let good = list(&keys.ed, 7, licenses.clone(), machines.clone());
    let license = issue(full_license(), &keys.ed).text();
    let perpetual = issue(perpetual_license(), &keys.ed).text();
    let machine_token = issue(machine(), &keys.ed).text();
    let checks = json!([
        {"token": license, "kind": "license", "result": "valid"},
        {"token": perpetual, "kind": "license", "result": "LICENSE_REVOKED"},
        {"token": machine_token, "kind": "machine", "result": "MACHINE_REVOKED"},
    ]);
    let valid = json!({
        "valid": true,
        "kid": hex(keys.ed.kid()),
        "issuer": "Acme Software GmbH",
        "issued_at": NOW - 3600,
        "sequence": 7,
        "next_update": NOW + 86_400,
        "licenses": licenses.iter().map(|i| hex(i)).collect::<Vec<_>>(),
        "machines": machines.iter().map(|i| hex(i)).collect::<Vec<_>>(),
        "checks": checks,
    });
    let refused = |code: &str| json!({"valid": false, "error": code});
    let vector = |name: &str, description: &str, bytes: &[u8], last: Option<u64>, result: Json| {
        json!({
            "name": name,
            "description": description,
            "revocations": revocation::to_pem(bytes),
            "last_sequence": last,
            "result": result,
        })
    };
    // Ids out of order, correctly signed: one set of ids has one encoding (§13.2).
    let payload = decode(&licet_verifier::envelope::open(&good).expect("open").payload);
    let mut unsorted = payload.clone();
    if let Value::Map(top) = &mut unsorted
        && let Some((_, Value::Map(m))) = top.iter_mut().find(|(k, _)| *k == int(-65537))
        && let Some((_, v)) = m.iter_mut().find(|(k, _)| *k == int(14))
    {
        let mut reversed = licenses.clone();
        reversed.reverse();
        *v = Value::Bytes(reversed.concat());
    }
    let mut tampered = good.clone();
    let at = tampered
        .windows(16)
        .position(|w| w == id(4))
        .expect("machine id in the list");
    tampered[at] ^= 0x01;
    vec![
        vector(
            "revocations-valid",
            "sequence 7, three revoked licenses and one revoked activation, last seen 5; the license of license-ed25519 is not revoked, the perpetual license and the machine token's activation are",
            &good,
            Some(5),
            valid.clone(),
        ),
        vector(
            "revocations-same-sequence",
            "the same list read again (last seen 7): accepted",
            &good,
            Some(7),
            valid,
        ),
        vector(
            "revocations-stale",
            "a list of sequence 7 after one of sequence 8 was seen: an old list replayed to undo a revocation",
            &good,
            Some(8),
            refused("REVOCATIONS_STALE"),
        ),
        vector(
            "revocations-other-vendor",
            "a list signed by another vendor's key (keys/other-vendor.pem), not in signature.pem",
            &list(&keys.other, 9, vec![], vec![]),
            None,
            refused("REVOCATIONS_UNTRUSTED"),
        ),
        vector(
            "revocations-id-changed",
            "one bit of the revoked activation id changed after signing",
            &tampered,
            None,
            refused("SIGNATURE_INVALID"),
        ),
        vector(
            "revocations-unsorted",
            "correctly signed, but the license ids are in descending order",
            &signed(&keys.ed, &unsorted),
            None,
            refused("TOKEN_MALFORMED"),
        ),
        vector(
            "revocations-is-an-endorsement",
            "an endorsement signed by a key of signature.pem, given as a revocation list: another kind",
            &endorse(&keys.ed, &keys.rsa, ISSUED, EXPIRES),
            None,
            refused("TOKEN_MALFORMED"),
        ),
    ]
}

/// A receipt as the vectors make it (§13.3), signed with `key`.
fn receipt(key: &SigningKey) -> licet_verifier::Receipt {
    licet_verifier::Receipt {
        kid: *key.kid(),
        issuer: "licet-server".into(),
        issued_at: NOW - 60,
        license_id: id(1),
        machine_id: id(4),
        fingerprint: [0xf1; 32],
        request_digest: [0xd9; 32],
    }
}

fn receipt_vectors(keys: &Keys) -> Vec<Json> {
    let sign =
        |r: &licet_verifier::Receipt, key: &SigningKey| licet::sign_receipt(r, key).expect("sign");
    let good = sign(&receipt(&keys.ed), &keys.ed);
    let r = receipt(&keys.ed);
    let valid = |key: &SigningKey| {
        json!({
            "valid": true,
            "kid": hex(key.kid()),
            "issuer": r.issuer,
            "released_at": r.issued_at,
            "license_id": hex(&r.license_id),
            "machine_id": hex(&r.machine_id),
            "fingerprint": hex(&r.fingerprint),
            "request_digest": hex(&r.request_digest),
        })
    };
    let refused = |code: &str| json!({"valid": false, "error": code});
    let vector = |name: &str, description: &str, bytes: &[u8], result: Json| {
        json!({
            "name": name,
            "description": description,
            "receipt": licet_verifier::receipt::to_pem(bytes),
            "result": result,
        })
    };
    let mut tampered = good.clone();
    let at = tampered
        .windows(16)
        .position(|w| w == id(4))
        .expect("machine id in the receipt");
    tampered[at] ^= 0x01;
    // A digest one byte short, correctly signed: the claims must be exactly §13.3's.
    let payload = decode(&licet_verifier::envelope::open(&good).expect("open").payload);
    let mut short = payload.clone();
    if let Value::Map(top) = &mut short
        && let Some((_, Value::Map(m))) = top.iter_mut().find(|(k, _)| *k == int(-65537))
        && let Some((_, v)) = m.iter_mut().find(|(k, _)| *k == int(23))
    {
        *v = Value::Bytes(vec![0xd9; 31]);
    }
    // RSA-PSS draws a random salt: the RSA receipt's claims, as the issuing side makes
    // them, are signed again with the generator's seeded salt so the file is the same at
    // every run (the committed-files test compares it byte for byte).
    let rsa_payload = decode(
        &licet_verifier::envelope::open(&sign(&receipt(&keys.rsa), &keys.rsa))
            .expect("open")
            .payload,
    );
    let rsa_receipt = signed(&keys.rsa, &rsa_payload);
    vec![
        vector(
            "receipt-valid",
            "activation 04… of license 01… freed 60 s before now, for the request whose digest is d9…, signed by the Ed25519 key",
            &good,
            valid(&keys.ed),
        ),
        vector(
            "receipt-rsa",
            "the same receipt signed by the RSA key",
            &rsa_receipt,
            valid(&keys.rsa),
        ),
        vector(
            "receipt-other-vendor",
            "a receipt signed by another vendor's key (keys/other-vendor.pem), not in signature.pem",
            &sign(&receipt(&keys.other), &keys.other),
            refused("KEY_UNKNOWN"),
        ),
        vector(
            "receipt-machine-changed",
            "one bit of the freed activation's id changed after signing",
            &tampered,
            refused("SIGNATURE_INVALID"),
        ),
        vector(
            "receipt-short-digest",
            "correctly signed, but the request digest is 31 bytes",
            &signed(&keys.ed, &short),
            refused("TOKEN_MALFORMED"),
        ),
        vector(
            "receipt-is-a-revocation-list",
            "a revocation list signed by a key of signature.pem, given as a receipt: another kind",
            &list(&keys.ed, 1, vec![], vec![]),
            refused("TOKEN_MALFORMED"),
        ),
    ]
}

/// The manifest of `trust-vectors.json`.
pub fn manifest(keys: &Keys) -> Json {
    let roots = Roots::new();
    json!({
        "comment": "licet test vectors of the signed documents (docs/token-format.md §13); made by `cargo run -p licet-test-vectors --bin make-vectors`. TEST KEYS ONLY.",
        "format_version": licet_verifier::claims::FORMAT_VERSION,
        "root": "keys/root.pub.pem",
        "signature_pem": "keys/signature.pem",
        "endorsed_signature_pem": "keys/endorsed-signature.pem",
        "keys": [
            {"name": "root", "alg": "EdDSA", "kid": hex(roots.root.kid()), "private_key": "keys/root.pem"},
            {"name": "other-root", "alg": "EdDSA", "kid": hex(roots.other.kid()), "private_key": "keys/other-root.pem"},
        ],
        "endorsements": endorsement_vectors(keys, &roots),
        "root_keyrings": root_keyring_vectors(keys, &roots),
        "revocations": revocation_vectors(keys),
        "receipts": receipt_vectors(keys),
    })
}

/// Adds the files of these vectors to `files`.
pub fn files(keys: &Keys, files: &mut BTreeMap<&'static str, String>) {
    let roots = Roots::new();
    let pem = |k: &SigningKey| k.to_pkcs8_pem().expect("pem").to_string();
    files.insert("keys/root.pem", pem(&roots.root));
    files.insert("keys/root.pub.pem", roots.root.public_pem());
    files.insert("keys/other-root.pem", pem(&roots.other));
    files.insert(
        "keys/endorsed-signature.pem",
        endorsed_signature_pem(keys, &roots),
    );
    files.insert(
        "trust-vectors.json",
        serde_json::to_string_pretty(&manifest(keys)).expect("json") + "\n",
    );
}
