//! The COSE_Sign1 envelope of a binary token.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = licet_verifier::envelope::open(data);
});
