//! Writes licet's test vectors into `test-vectors/` (run from anywhere in the workspace).

use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let keys = licet_test_vectors::Keys::load(&dir.join("keys"));
    for (path, contents) in licet_test_vectors::files(&keys) {
        let path = dir.join(path);
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        println!("wrote {}", path.display());
    }
}
