//! Finding the public vectors (Wycheproof, COSE WG examples) that live outside the
//! repository, in `../shared/vectors` next to it.
//!
//! They are read in place and never copied in: they belong to their upstream projects and
//! keep their own licenses there. The tests that need them are `#[ignore]`d, so that a
//! plain `cargo test` says in its summary that they did not run (a skip that counted as a
//! pass made a run without them look like a full one); `cargo test -- --include-ignored`
//! runs them. Without the folder they then say so and pass, except under CI (`CI` set, as
//! `.ci/run` and CI services do), where a missing folder is a failure.

#![allow(dead_code)] // each test binary uses its own subset

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable `.ci/run` sets to the shared vectors folder.
pub const ENV: &str = "LICET_SHARED_VECTORS";

/// The shared vectors folder, or `None` (after saying so on stderr) when it is absent.
///
/// # Panics
/// When `LICET_SHARED_VECTORS` is set but does not name a folder (a broken CI set-up, not
/// a clone without the vectors), or when the vectors are absent under CI: neither may pass
/// as a skip.
pub fn shared_vectors(test: &str) -> Option<PathBuf> {
    let fallback = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    let env = std::env::var_os(ENV).filter(|v| !v.is_empty());
    match locate(env, ci(), &fallback) {
        Ok(Some(dir)) => Some(dir),
        Ok(None) => {
            // Written to stderr directly rather than with `eprintln!`, which the test
            // harness captures and shows only for failing tests: a skip must be visible.
            let line = format!(
                "SKIPPED {test}: shared public vectors not found (set {ENV} or put them at {})\n",
                fallback.display()
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
        Err(why) => panic!("{test}: {why}"),
    }
}

/// Whether this is a CI run: `CI` set to anything but empty, `0` or `false`.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Where the vectors are: `env` (the value of [`ENV`]) when set, else `fallback` when it is
/// a folder, else nowhere (`Ok(None)`, a skip) outside CI.
///
/// # Errors
/// When `env` is not a folder, or under CI (`ci`) when there are no vectors.
pub fn locate(env: Option<OsString>, ci: bool, fallback: &Path) -> Result<Option<PathBuf>, String> {
    if let Some(dir) = env {
        let dir = PathBuf::from(dir);
        if !dir.is_dir() {
            return Err(format!(
                "{ENV}={} is not a folder; unset it or point it at the shared vectors",
                dir.display()
            ));
        }
        return Ok(Some(dir));
    }
    if fallback.is_dir() {
        return Ok(Some(fallback.to_path_buf()));
    }
    if ci {
        return Err(format!(
            "CI is set but the shared public vectors are missing (set {ENV} or put them at {}); a CI run without them is not a full run",
            fallback.display()
        ));
    }
    Ok(None)
}

/// Reads a JSON file of the shared vectors.
///
/// # Panics
/// When the file is missing or is not JSON: the folder exists, so that is a real failure.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Decodes a hex string from a vector file.
///
/// # Panics
/// When it is not hex: the vector file is damaged.
pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?} in a vector file: {e}"))
}
