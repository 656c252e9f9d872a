//! The text form (`LIC-…`) and the file form (armored) of a token, as pasted by a user.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = std::str::from_utf8(data).map(licet_verifier::text::decode);
});
