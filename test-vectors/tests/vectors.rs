//! Runs every vector in `test-vectors/vectors.json` through `licet-verifier`, and checks
//! that the committed vector files are exactly what the generator makes today (so the
//! format cannot change without the vectors changing with it).

use std::path::Path;

use licet_test_vectors::{Keys, claims_json, expectations, files};
use licet_verifier::Keyring;
use serde_json::Value;

fn dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(dir().join("vectors.json")).expect("vectors.json");
    serde_json::from_str(&text).expect("vectors.json is JSON")
}

#[test]
fn committed_files_match_the_generator() {
    let keys = Keys::load(&dir().join("keys"));
    for (path, want) in files(&keys) {
        let have = std::fs::read_to_string(dir().join(path)).unwrap_or_default();
        assert!(
            have == want,
            "test-vectors/{path} differs from what the generator makes; run `cargo run -p licet-test-vectors --bin make-vectors` and review the change (and docs/token-format.md with it)"
        );
    }
}

#[test]
fn every_vector_gives_its_expected_result() {
    let m = manifest();
    let keyring = Keyring::from_pem(
        &std::fs::read_to_string(dir().join(m["signature_pem"].as_str().expect("path")))
            .expect("signature.pem"),
    )
    .expect("keyring");
    let vectors = m["vectors"].as_array().expect("vectors");
    assert!(vectors.len() >= 40, "the manifest lost vectors");
    let mut codes_seen = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for v in vectors {
        let name = v["name"].as_str().expect("name");
        let e = &v["expect"];
        let expect = expectations(e);
        // A vector with its own keyring: the concatenation of the files it names, which
        // may itself be refused (KEYRING_INVALID) before any token is read.
        let own = v["keyring"].as_array().map(|files| {
            let text: String = files
                .iter()
                .map(|f| {
                    std::fs::read_to_string(dir().join(f.as_str().expect("path")))
                        .expect("keyring file")
                })
                .collect();
            Keyring::from_pem(&text)
        });
        let got = match &own {
            None => keyring.verify(v["token"].as_str().expect("token"), &expect),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(ring)) => ring.verify(v["token"].as_str().expect("token"), &expect),
        };
        let r = &v["result"];
        // Every disagreement is collected, so that one run names them all.
        let verdict = match (r["valid"].as_bool().expect("valid"), got) {
            (true, Ok(ok)) if claims_json(&ok.claims) == r["claims"] => Ok("VALID".to_string()),
            (true, Ok(_)) => Err("claims differ".to_string()),
            (true, Err(e)) => Err(format!("expected valid, got {} ({e})", e.code())),
            (false, got) => {
                let want = r["error"].as_str().expect("error code");
                match got {
                    Err(e) if e.code() == want => Ok(want.to_string()),
                    Err(e) => Err(format!("expected {want}, got {} ({e})", e.code())),
                    Ok(_) => Err(format!("expected {want}, but it verified")),
                }
            }
        };
        match verdict {
            Ok(code) => {
                codes_seen.insert(code);
            }
            Err(why) => failures.push(format!("vector {name}: {why}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for code in [
        "VALID",
        "TOKEN_MALFORMED",
        "TOKEN_TOO_LARGE",
        "TOKEN_UNSUPPORTED_VERSION",
        "KEY_UNKNOWN",
        "ALG_UNSUPPORTED",
        "ALG_MISMATCH",
        "SIGNATURE_INVALID",
        "TOKEN_EXPIRED",
        "TOKEN_NOT_YET_VALID",
        "CLOCK_ROLLBACK",
        "WRONG_KIND",
        "WRONG_PRODUCT",
        "FINGERPRINT_MISMATCH",
        "KEYRING_INVALID",
    ] {
        assert!(codes_seen.contains(code), "no vector covers {code}");
    }
}

#[test]
fn the_compactness_example_stays_within_the_spec_budget() {
    let m = manifest();
    let v = m["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .find(|v| v["name"] == "license-ed25519")
        .expect("license-ed25519");
    let text = v["token"].as_str().expect("token");
    let bytes = licet_verifier::text::decode(text).expect("decodes").1;
    assert!(
        bytes.len() <= 200,
        "binary form is {} bytes, the spec allows 200",
        bytes.len()
    );
    assert!(
        text.len() <= 320,
        "text form is {} characters, the spec allows 320",
        text.len()
    );
}
