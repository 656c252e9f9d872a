//! The offline activation request file a vendor receives from a customer.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = std::str::from_utf8(data).map(licet::offline::Request::parse);
});
