//! Finding the public vectors (Wycheproof, COSE WG examples) that live outside the
//! repository, in `../shared/vectors` next to it.
//!
//! They are read in place and never copied in: they belong to their upstream projects and
//! keep their own licenses there. On a clone without that folder the tests that need them
//! say so and pass; CI always has it (`.ci/run` exports `LICET_SHARED_VECTORS`).

use std::io::Write;
use std::path::PathBuf;

/// The environment variable `.ci/run` sets to the shared vectors folder.
pub const ENV: &str = "LICET_SHARED_VECTORS";

/// The shared vectors folder, or `None` (after saying so on stderr) when it is absent.
///
/// # Panics
/// When `LICET_SHARED_VECTORS` is set but does not name a folder: that is a broken CI
/// set-up, not a clone without the vectors, and must not pass as a skip.
pub fn shared_vectors(test: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV) {
        let dir = PathBuf::from(dir);
        assert!(
            dir.is_dir(),
            "{ENV}={} is not a folder; unset it or point it at the shared vectors",
            dir.display()
        );
        return Some(dir);
    }
    let fallback = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    if fallback.is_dir() {
        return Some(fallback);
    }
    // Written to stderr directly rather than with `eprintln!`, which the test harness
    // captures and shows only for failing tests: a skip must be visible in every run.
    let line = format!(
        "SKIPPED {test}: shared public vectors not found (set {ENV} or put them at {})\n",
        fallback.display()
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    None
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
