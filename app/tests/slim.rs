//! The application side stays slim (issue 12, point 1): what an application compiles in
//! when it embeds `licet-client` holds none of the vendor's side, and `licet-app` without
//! its `store` feature is the fingerprint alone.
//!
//! Read from `cargo tree` (the real resolver, the committed `Cargo.lock`), normal edges
//! only: dev-dependencies never reach an application.
//!
//! `crypto-primes` (RSA's prime search) is still listed: `rsa` 0.10 depends on it
//! unconditionally, and the verifier checks PS256. Nothing in the client calls key
//! generation, so its code is not linked; the crate itself goes when RSA is a feature of
//! the verifier (issue 12, point 5).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Each package of `cargo tree -p <package> -e normal <extra>` with its enabled features:
/// `name -> features`, for the host target.
fn tree(package: &str, extra: &[&str]) -> Vec<(String, BTreeSet<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let out = Command::new(cargo)
        .args(["tree", "--locked", "-e", "normal", "--prefix", "none"])
        .args(["--format", "{p}|{f}", "-p", package])
        .arg("--manifest-path")
        .arg(&workspace)
        .args(extra)
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo tree failed: {stderr}");
    let text = String::from_utf8(out.stdout).expect("cargo tree prints UTF-8");
    let packages: Vec<_> = text
        .lines()
        .filter_map(|line| {
            let (p, f) = line.split_once('|')?;
            let name = p.split_whitespace().next()?.to_owned();
            let features = f
                .split_whitespace()
                .next()
                .unwrap_or("")
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect();
            Some((name, features))
        })
        .collect();
    // A tree this small would mean the format changed and nothing is being checked.
    assert!(
        packages.iter().any(|(n, _)| n == "licet-verifier") && packages.len() > 5,
        "cargo tree printed no tree:\n{text}"
    );
    packages
}

fn offenders(
    tree: &[(String, BTreeSet<String>)],
    banned: &[&str],
    banned_features: &[(&str, &str)],
) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (name, features) in tree {
        if banned.contains(&name.as_str()) {
            found.insert(name.clone());
        }
        for (package, feature) in banned_features {
            if name == package && features.contains(*feature) {
                found.insert(format!("{package} feature {feature}"));
            }
        }
    }
    found
}

/// An application that embeds `licet-client` compiles in neither the issuing crate, the
/// vendor's keys, the encrypted-key code (PKCS#5, scrypt), nor a random source for key
/// generation (`rand`, RSA's `getrandom`).
#[test]
fn the_client_carries_nothing_of_the_vendors_side() {
    let found = offenders(
        &tree("licet-client", &[]),
        &["licet", "licet-keys", "scrypt", "pkcs5", "rand"],
        &[
            ("rsa", "getrandom"),
            ("rsa", "std"),
            ("pkcs8", "encryption"),
            ("ed25519-dalek", "rand_core"),
        ],
    );
    assert!(
        found.is_empty(),
        "licet-client's normal dependencies include {found:?}: an application would compile \
         in the vendor's side; take it from licet-app or licet-verifier instead \
         (`cargo tree -p licet-client -e normal -i <name>` shows why)"
    );
}

/// The fingerprint alone (`default-features = false`, as a binding that only needs it)
/// pulls neither the store's `dirs` and `tempfile` nor anything of the vendor's side.
#[test]
fn the_fingerprint_alone_needs_no_store() {
    let found = offenders(
        &tree("licet-app", &["--no-default-features"]),
        &[
            "dirs",
            "tempfile",
            "licet",
            "licet-keys",
            "scrypt",
            "pkcs5",
            "rand",
        ],
        &[],
    );
    assert!(
        found.is_empty(),
        "licet-app without `store` depends on {found:?}"
    );
}
