//! The signature layer against Project Wycheproof (C2SP/wycheproof, `testvectors_v1/`):
//! every Ed25519 case through `PublicKey::from_spki_der` + `PublicKey::verify(EdDsa, …)`
//! and every RSA-PSS 2048/SHA-256/MGF1-SHA-256/salt-32 case through the PS256 path.
//!
//! Our answer must agree with every "valid" and "invalid" case. "acceptable" cases (legal
//! but discouraged inputs) may go either way by Wycheproof's rules; licet's verifier is
//! strict, so it refuses them, and the tests assert that choice. The two files pinned in
//! `../shared/vectors` hold no "acceptable" case today (88 valid + 63 invalid Ed25519,
//! 63 valid + 45 invalid RSA-PSS); the rule is there for a future update of the files.
//!
//! A key that `from_spki_der` itself refuses counts as "every signature under it rejected".

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use licet_verifier::{Algorithm, PublicKey};

/// What the verifier did with each Wycheproof result class.
#[derive(Default, Debug)]
struct Tally {
    /// `result` ("valid", "invalid", "acceptable") → (accepted, rejected).
    by_result: BTreeMap<String, (usize, usize)>,
    /// Groups whose key `from_spki_der` refused.
    keys_refused: usize,
    /// Cases that disagree with Wycheproof, as one line each.
    disagreements: Vec<String>,
}

impl Tally {
    fn cases(&self) -> usize {
        self.by_result.values().map(|(a, r)| a + r).sum()
    }
}

/// Runs every case of one Wycheproof file through `alg`; keys come from `publicKeyDer`
/// (SubjectPublicKeyInfo DER), the form a vendor's `signature.pem` holds.
fn run(file: &Path, alg: Algorithm) -> (Tally, usize) {
    let doc = common::read_json(file);
    let declared = doc["numberOfTests"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .expect("numberOfTests");
    let mut tally = Tally::default();
    for group in doc["testGroups"].as_array().expect("testGroups") {
        let der = common::unhex(group["publicKeyDer"].as_str().expect("publicKeyDer"));
        let key = match PublicKey::from_spki_der(&der) {
            Ok(key) => {
                assert_eq!(key.algorithm(), alg, "key type of {}", file.display());
                Some(key)
            }
            Err(e) => {
                assert_eq!(e.code(), "KEYRING_INVALID", "{e}");
                tally.keys_refused += 1;
                None
            }
        };
        for case in group["tests"].as_array().expect("tests") {
            let id = case["tcId"].as_u64().expect("tcId");
            let result = case["result"].as_str().expect("result");
            let msg = common::unhex(case["msg"].as_str().expect("msg"));
            let sig = common::unhex(case["sig"].as_str().expect("sig"));
            let accepted = match &key {
                Some(key) => match key.verify(alg, &msg, &sig) {
                    Ok(()) => true,
                    Err(e) => {
                        // A failed check says only that it failed (STYLE.md, "Errors").
                        assert_eq!(e.code(), "SIGNATURE_INVALID", "tcId {id}: {e}");
                        false
                    }
                },
                None => false,
            };
            let entry = tally.by_result.entry(result.to_owned()).or_default();
            if accepted {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
            let agrees = match result {
                "valid" => accepted,
                "invalid" => !accepted,
                // Our chosen behaviour for "acceptable": refuse (strict verification).
                "acceptable" => !accepted,
                other => panic!("tcId {id}: unknown result {other:?}"),
            };
            if !agrees {
                tally.disagreements.push(format!(
                    "tcId {id} ({result}, {}, flags {}): we {}",
                    case["comment"].as_str().unwrap_or(""),
                    case["flags"],
                    if accepted { "accept" } else { "reject" }
                ));
            }
        }
    }
    (tally, declared)
}

fn check(name: &str, alg: Algorithm, min_cases: usize) {
    let Some(dir) = common::shared_vectors(name) else {
        return;
    };
    let file = dir.join("wycheproof").join(name);
    let (tally, declared) = run(&file, alg);
    println!(
        "{name}: {} cases, (accepted, rejected) by result {:?}, {} keys refused at load",
        tally.cases(),
        tally.by_result,
        tally.keys_refused
    );
    assert!(
        tally.disagreements.is_empty(),
        "{name}: {} case(s) disagree with Wycheproof:\n{}",
        tally.disagreements.len(),
        tally.disagreements.join("\n")
    );
    // Guards against a truncated or emptied file passing silently.
    assert_eq!(
        tally.cases(),
        declared,
        "{name}: cases run vs numberOfTests"
    );
    assert!(
        tally.cases() >= min_cases,
        "{name}: only {} cases ran, expected at least {min_cases}",
        tally.cases()
    );
    let valid = tally.by_result.get("valid").copied().unwrap_or_default();
    let invalid = tally.by_result.get("invalid").copied().unwrap_or_default();
    assert!(
        valid.0 > 0 && invalid.1 > 0,
        "{name}: both classes must be exercised"
    );
}

#[test]
#[ignore = "reads the public vectors in ../shared/vectors: run with -- --include-ignored"]
fn ed25519_agrees_with_wycheproof() {
    // 151 cases today: 88 valid, 63 invalid. `verify_strict` refuses non-canonical S,
    // small-order R and keys, and truncated or padded signatures, as the invalid ones need.
    check("ed25519_test.json", Algorithm::EdDsa, 150);
}

#[test]
#[ignore = "reads the public vectors in ../shared/vectors: run with -- --include-ignored"]
fn rsa_pss_2048_sha256_agrees_with_wycheproof() {
    // 108 cases today: 63 valid, 45 invalid (modified padding, PKCS#1 v1.5 signatures
    // offered as PSS, wrong lengths). Keys are 2048-bit rsaEncryption SPKI, within
    // licet's 2048..=4096 range, so none is refused at load.
    check(
        "rsa_pss_2048_sha256_mgf1_32_test.json",
        Algorithm::Ps256,
        100,
    );
}

/// A key never checks a signature of the other algorithm, whatever the bytes: the
/// algorithm comes from the token header and must match the key's type.
#[test]
#[ignore = "reads the public vectors in ../shared/vectors: run with -- --include-ignored"]
fn a_key_refuses_the_other_algorithm() {
    let Some(dir) = common::shared_vectors("a_key_refuses_the_other_algorithm") else {
        return;
    };
    for (name, alg, other) in [
        ("ed25519_test.json", Algorithm::EdDsa, Algorithm::Ps256),
        (
            "rsa_pss_2048_sha256_mgf1_32_test.json",
            Algorithm::Ps256,
            Algorithm::EdDsa,
        ),
    ] {
        let doc = common::read_json(&dir.join("wycheproof").join(name));
        let group = &doc["testGroups"][0];
        let key = PublicKey::from_spki_der(&common::unhex(
            group["publicKeyDer"].as_str().expect("publicKeyDer"),
        ))
        .expect("key");
        let case = group["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .find(|c| c["result"] == "valid")
            .expect("a valid case");
        let msg = common::unhex(case["msg"].as_str().expect("msg"));
        let sig = common::unhex(case["sig"].as_str().expect("sig"));
        key.verify(alg, &msg, &sig).expect("valid case verifies");
        let err = key.verify(other, &msg, &sig).expect_err("other algorithm");
        assert_eq!(err.code(), "ALG_MISMATCH", "{name}");
    }
}
