//! Only ed25519-dalek's `verify_strict` of the bytes the example license signs, with no
//! token format around it: the baseline that `docs/benchmarks.md` compares the full
//! firmware with. build.rs takes the bytes out of the example token on the host.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use ed25519_dalek::{Signature, VerifyingKey};
use licet_embedded::{exit_success, fail, init_heap, measure};

// SIGNED (the COSE Sig_structure), SIGNATURE and KEY, written by build.rs.
include!(concat!(env!("OUT_DIR"), "/bare_input.rs"));

fn verify(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(key).is_ok_and(|key| {
        key.verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    })
}

#[entry]
fn main() -> ! {
    init_heap();
    let (valid, usage) = measure(|| verify(&KEY, SIGNED, &SIGNATURE));
    if !valid {
        fail("verify_strict refused the example's signature");
    }
    hprintln!("bare verify_strict: valid");
    let mut flipped = SIGNATURE;
    flipped[63] ^= 1;
    if verify(&KEY, SIGNED, &flipped) {
        fail("verify_strict accepted a flipped signature");
    }
    hprintln!("bare tampered: refused");
    hprintln!(
        "measured: peak heap {} bytes, stack {} bytes",
        usage.peak_heap,
        usage.stack
    );
    exit_success()
}
