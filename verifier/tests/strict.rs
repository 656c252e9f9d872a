//! Ed25519 is checked strictly (`verify_strict`): a signature that only the lax check
//! accepts is refused. The Wycheproof file cannot tell the two apart, so this case is made
//! here: the identity point as public key and as R, with S = 0, satisfies the cofactorless
//! equation [S]B = R + [k]A for every message.

use ed25519_dalek::Verifier;
use licet_verifier::{Algorithm, PublicKey};

fn spki(x: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(x);
    der
}

#[test]
fn small_order_key_and_r_are_refused() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&identity);
    // The lax check accepts this forgery; the strict one must not.
    let lax = ed25519_dalek::VerifyingKey::from_bytes(&identity).expect("a curve point");
    assert!(
        lax.verify(b"any message", &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok(),
        "the forgery should pass the lax check, or this test proves nothing"
    );
    match PublicKey::from_spki_der(&spki(&identity)) {
        Err(e) => assert_eq!(e.code(), "KEYRING_INVALID"),
        Ok(key) => {
            let err = key
                .verify(Algorithm::EdDsa, b"any message", &sig)
                .expect_err("a small-order forgery must be refused");
            assert_eq!(err.code(), "SIGNATURE_INVALID");
        }
    }
}
