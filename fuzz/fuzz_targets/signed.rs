//! The signed documents of token-format §13: an endorsement and a revocation list, each
//! decoded from the same bytes (their envelope, then their payload's one layout).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = licet_verifier::Endorsement::decode_unverified(data);
    let _ = licet_verifier::RevocationList::decode_unverified(data);
});
