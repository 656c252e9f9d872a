//! `signature.pem`: the keyring an application is built with or reads from a file.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = std::str::from_utf8(data).map(licet_verifier::Keyring::from_pem);
});
