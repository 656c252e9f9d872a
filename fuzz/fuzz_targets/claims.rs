//! The CWT claims set inside a token (a debug assertion in `from_payload` also checks that
//! its fast path accepts only the canonical encoding of valid claims).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = licet_verifier::Claims::from_payload(data);
});
