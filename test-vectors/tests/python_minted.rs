//! Tokens minted by the independent Python implementation (`test-vectors/conformance/check.py`,
//! with pycose) must verify with `licet-verifier` and give the claims Python meant.
//!
//! The committed `conformance/python-minted.json` is always checked; a freshly minted file is
//! checked too when `LICET_PYTHON_MINTED` names it (`conformance/run.sh` does that).

use std::path::{Path, PathBuf};

use licet_test_vectors::{claims_json, expectations};
use licet_verifier::Keyring;
use serde_json::Value;

fn dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Verifies every token of a minted file in each of its forms; returns (tokens, forms).
fn verify_minted(path: &Path) -> (usize, usize) {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let m: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let pem_path = dir().join(m["signature_pem"].as_str().expect("signature_pem"));
    let keyring = Keyring::from_pem(&std::fs::read_to_string(&pem_path).expect("signature.pem"))
        .expect("keyring");
    let tokens = m["tokens"].as_array().expect("tokens");
    assert!(
        tokens.len() >= 2,
        "{}: expected an EdDSA and a PS256 token",
        path.display()
    );
    let mut forms_checked = 0;
    for t in tokens {
        let name = t["name"].as_str().expect("name");
        let e = &t["expect"];
        let expect = expectations(e);
        // The issuer's text form, then the same bytes as the spec lets a person write
        // them (file form with CRLF; lower case, separators and aliases).
        let forms = std::iter::once(&t["token"])
            .chain(t["other_forms"].as_array().into_iter().flatten())
            .map(|f| f.as_str().expect("token text"));
        for (i, form) in forms.enumerate() {
            let ok = keyring.verify(form, &expect).unwrap_or_else(|err| {
                panic!(
                    "{}: Python-minted {name} ({}), form {i}, refused: {} ({err})",
                    path.display(),
                    t["alg"],
                    err.code()
                )
            });
            assert_eq!(
                claims_json(&ok.claims),
                t["claims"],
                "{}: Python-minted {name}, form {i}: claims differ",
                path.display()
            );
            forms_checked += 1;
        }
    }
    (tokens.len(), forms_checked)
}

#[test]
fn committed_python_minted_tokens_verify() {
    let (n, forms) = verify_minted(&dir().join("conformance/python-minted.json"));
    println!("verified {n} committed Python-minted tokens in {forms} forms");
}

#[test]
fn freshly_python_minted_tokens_verify() {
    match std::env::var_os("LICET_PYTHON_MINTED") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            let (n, forms) = verify_minted(&path);
            println!(
                "verified {n} fresh Python-minted tokens in {forms} forms from {}",
                path.display()
            );
        }
        _ => println!(
            "skipped: LICET_PYTHON_MINTED is not set (test-vectors/conformance/run.sh sets it)"
        ),
    }
}
