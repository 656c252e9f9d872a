//! Puts memory.x where cortex-m-rt's link.x finds it, checks that the firmware's
//! signature.pem is the example key of test-vectors/, and writes the bare firmware's input.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

const VECTORS: &str = "../../test-vectors";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    for f in [
        "memory.x",
        "signature.pem",
        "../../test-vectors/keys/signature.pem",
        "../../test-vectors/example-license.txt",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }

    // The firmware's key is the first block of the vectors' keyring (the Ed25519 key), so
    // that the firmware checks the same example token as every other binding.
    let ours = public_key_blocks(&read("signature.pem"));
    let vectors = public_key_blocks(&read(&format!("{VECTORS}/keys/signature.pem")));
    assert!(
        ours.len() == 1 && vectors.first() == ours.first(),
        "bindings/embedded/signature.pem must be exactly the first PUBLIC KEY block of test-vectors/keys/signature.pem"
    );
    let (_, spki) = pem_rfc7468::decode_vec(ours[0].as_bytes()).expect("PEM");
    let key = &spki[spki.len() - 32..];

    // The bytes the example license's signature covers, taken apart by the verifier itself.
    let token = read(&format!("{VECTORS}/example-license.txt"));
    let unverified = licet_verifier::decode_unverified(token.trim()).expect("example token");
    let envelope = licet_verifier::envelope::open(&unverified.bytes).expect("envelope");
    let mut src = String::new();
    let bytes = |v: &[u8]| {
        v.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b}, ");
            s
        })
    };
    let _ = writeln!(
        src,
        "const SIGNED: &[u8] = &[{}];",
        bytes(&envelope.signed_data)
    );
    let _ = writeln!(
        src,
        "const SIGNATURE: [u8; 64] = [{}];",
        bytes(&envelope.signature)
    );
    let _ = writeln!(src, "const KEY: [u8; 32] = [{}];", bytes(key));
    fs::write(out.join("bare_input.rs"), src).expect("write bare_input.rs");
}

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Each `PUBLIC KEY` block, BEGIN to END line, trimmed of the text around it.
fn public_key_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line == "-----BEGIN PUBLIC KEY-----" {
            current = Some(String::new());
        }
        if let Some(block) = &mut current {
            block.push_str(line);
            block.push('\n');
            if line == "-----END PUBLIC KEY-----" {
                blocks.extend(current.take());
            }
        }
    }
    blocks
}
