//! Runs every vector of `test-vectors/trust-vectors.json` (endorsements, keyrings from a
//! pinned root, revocation lists, deactivation receipts; `docs/token-format.md` §13) through
//! `licet-verifier`.

use std::path::Path;

use licet_test_vectors::expectations;
use licet_verifier::{Endorsement, Keyring, RevocationList, endorsement, hex};
use serde_json::{Value, json};

fn dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn manifest() -> Value {
    let text =
        std::fs::read_to_string(dir().join("trust-vectors.json")).expect("trust-vectors.json");
    serde_json::from_str(&text).expect("JSON")
}

fn file(m: &Value, key: &str) -> String {
    std::fs::read_to_string(dir().join(m[key].as_str().expect("path"))).expect("file")
}

fn root(m: &Value) -> licet_verifier::PublicKey {
    Keyring::from_pem(&file(m, "root")).expect("root").keys()[0].clone()
}

#[test]
fn every_endorsement_vector_gives_its_expected_result() {
    let m = manifest();
    let root = root(&m);
    let vectors = m["endorsements"].as_array().expect("endorsements");
    assert!(vectors.len() >= 7, "the manifest lost vectors");
    for v in vectors {
        let name = v["name"].as_str().expect("name");
        let bytes = endorsement::from_pem(v["endorsement"].as_str().expect("pem")).expect(name);
        let got = Endorsement::verify(&bytes, &root, v["now"].as_u64().expect("now"));
        let have = match got {
            Ok(e) => json!({
                "valid": true,
                "kid": hex(e.key.kid()),
                "alg": e.key.algorithm().name(),
                "root_kid": hex(&e.root_kid),
                "issued_at": e.issued_at,
                "expires_at": e.expires_at,
            }),
            Err(e) => json!({"valid": false, "error": e.code()}),
        };
        assert_eq!(have, v["result"], "vector {name}");
    }
}

#[test]
fn every_root_keyring_vector_gives_its_expected_result() {
    let m = manifest();
    let root = root(&m);
    let vectors = m["root_keyrings"].as_array().expect("root_keyrings");
    assert!(vectors.len() >= 5, "the manifest lost vectors");
    for v in vectors {
        let name = v["name"].as_str().expect("name");
        let expect = expectations(&v["expect"]);
        let keyring =
            Keyring::from_root(&root, v["signature_pem"].as_str().expect("pem"), expect.now)
                .expect(name);
        let have = match keyring.verify(v["token"].as_str().expect("token"), &expect) {
            Ok(_) => json!({"valid": true}),
            Err(e) => json!({"valid": false, "error": e.code()}),
        };
        assert_eq!(have, v["result"], "vector {name}");
    }
    // The committed served file is one of them.
    assert_eq!(
        file(&m, "endorsed_signature_pem"),
        vectors[0]["signature_pem"].as_str().expect("pem")
    );
}

#[test]
fn every_revocation_vector_gives_its_expected_result() {
    let m = manifest();
    let keyring = Keyring::from_pem(&file(&m, "signature_pem")).expect("keyring");
    let vectors = m["revocations"].as_array().expect("revocations");
    assert!(vectors.len() >= 7, "the manifest lost vectors");
    for v in vectors {
        let name = v["name"].as_str().expect("name");
        let got = RevocationList::verify_pem(
            &keyring,
            v["revocations"].as_str().expect("pem"),
            v["last_sequence"].as_u64(),
        );
        let have = match got {
            Ok(list) => {
                let checks: Vec<Value> = v["result"]["checks"]
                    .as_array()
                    .expect("checks")
                    .iter()
                    .map(|c| {
                        let token = c["token"].as_str().expect("token");
                        let kind =
                            licet_verifier::Kind::from_name(c["kind"].as_str().expect("kind"))
                                .expect("kind");
                        let expect = licet_verifier::Expectations::new(
                            kind,
                            licet_test_vectors::PRODUCT,
                            licet_test_vectors::NOW,
                        );
                        let claims = keyring
                            .verify(token, &expect)
                            .expect("a valid token")
                            .claims;
                        let result = match list.check(&claims) {
                            Ok(()) => "valid",
                            Err(e) => e.code(),
                        };
                        json!({"token": token, "kind": c["kind"], "result": result})
                    })
                    .collect();
                json!({
                    "valid": true,
                    "kid": hex(&list.kid),
                    "issuer": list.issuer,
                    "issued_at": list.issued_at,
                    "sequence": list.sequence,
                    "next_update": list.next_update,
                    "licenses": list.licenses.iter().map(|i| hex(i)).collect::<Vec<_>>(),
                    "machines": list.machines.iter().map(|i| hex(i)).collect::<Vec<_>>(),
                    "checks": checks,
                })
            }
            Err(e) => json!({"valid": false, "error": e.code()}),
        };
        assert_eq!(have, v["result"], "vector {name}");
    }
}

/// The size `docs/benchmarks.md` gives for a list of 10,000 revoked ids: 16 bytes an id
/// and a fixed overhead, binary and PEM (run with `--nocapture` to see the numbers).
#[test]
fn a_list_of_10000_revoked_ids_is_16_bytes_an_id() {
    use sha2::{Digest, Sha256};
    let key = licet_keys::SigningKey::ed25519_from_seed(&[3; 32]).expect("key");
    let mut ids: Vec<[u8; 16]> = (0u32..10_000)
        .map(|n| {
            let mut id = [0u8; 16];
            id.copy_from_slice(&Sha256::digest(n.to_be_bytes())[..16]);
            id
        })
        .collect();
    ids.sort();
    let list = RevocationList {
        kid: *key.kid(),
        issuer: "Acme Software GmbH".into(),
        issued_at: licet_test_vectors::NOW,
        sequence: 1,
        next_update: licet_test_vectors::NOW + 86_400,
        licenses: ids,
        machines: Vec::new(),
    };
    let bytes = licet::sign_revocations(&list, &key).expect("sign");
    let pem = licet_verifier::revocation::to_pem(&bytes);
    let overhead = bytes.len() - 10_000 * 16;
    println!(
        "10,000 revoked license ids: {} bytes binary ({overhead} bytes besides the ids), {} bytes PEM",
        bytes.len(),
        pem.len()
    );
    assert!(overhead < 200, "{overhead} bytes of overhead");
    let keyring = Keyring::from_pem(&key.public_pem()).expect("keyring");
    let back = RevocationList::verify_pem(&keyring, &pem, None).expect("verifies");
    assert_eq!(back.licenses.len(), 10_000);
}

#[test]
fn every_receipt_vector_gives_its_expected_result() {
    let m = manifest();
    let keyring = Keyring::from_pem(&file(&m, "signature_pem")).expect("keyring");
    let vectors = m["receipts"].as_array().expect("receipts");
    assert!(vectors.len() >= 6, "the manifest lost vectors");
    for v in vectors {
        let name = v["name"].as_str().expect("name");
        let got =
            licet_verifier::Receipt::verify_pem(&keyring, v["receipt"].as_str().expect("pem"));
        let have = match got {
            Ok(r) => json!({
                "valid": true,
                "kid": hex(&r.kid),
                "issuer": r.issuer,
                "released_at": r.issued_at,
                "license_id": hex(&r.license_id),
                "machine_id": hex(&r.machine_id),
                "fingerprint": hex(&r.fingerprint),
                "request_digest": hex(&r.request_digest),
            }),
            Err(e) => json!({"valid": false, "error": e.code()}),
        };
        assert_eq!(have, v["result"], "vector {name}");
    }
}
