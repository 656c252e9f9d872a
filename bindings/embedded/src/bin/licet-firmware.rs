//! Verifies the example license token on a Cortex-M4 and prints the verdict, its claims,
//! two refusals, and what one verify cost in heap and stack. `ci.sh` checks the output.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use licet_embedded::{exit_success, fail, init_heap, measure};
use licet_verifier::envelope::{self, Algorithm};
use licet_verifier::{Error, Keyring, text};

/// `check_license`: the example of `docs/bindings.md` ("Embedded Rust"), word for word
/// (`ci.sh` checks that the two are the same).
#[path = "../example.rs"]
mod example;

/// The example license (`test-vectors/example-license.txt`): Ed25519, `acme-studio-pro`,
/// issued 1 790 000 000, expiring 1 900 000 000.
const TOKEN: &str = include_str!("../../../../test-vectors/example-license.txt");
/// A fixed time inside the license's term, as a device's clock would give it.
const NOW: u64 = 1_800_000_000;

#[entry]
fn main() -> ! {
    init_heap();
    let token = TOKEN.trim();

    let (verdict, usage) = measure(|| example::check_license(token, NOW));
    match verdict {
        Ok(verified) => {
            let claims = &verified.claims;
            hprintln!("license: valid");
            hprintln!("product: {}", claims.product);
            hprintln!("customer: {}", claims.customer.as_deref().unwrap_or("-"));
            hprintln!("expires: {}", claims.expires_at.unwrap_or(0));
            let mut features = claims.features.iter();
            if let Some(first) = features.next() {
                hprintln!("features: {}", first);
                for f in features {
                    hprintln!("features: {}", f);
                }
            }
        }
        Err(e) => fail(e.code()),
    }
    hprintln!(
        "measured: peak heap {} bytes, stack {} bytes",
        usage.peak_heap,
        usage.stack
    );

    let (kind, mut bytes) = text::decode(token).unwrap_or_else(|e| fail(e.code()));
    // The same claims and signature under a PS256 header: this build has no RSA.
    let parts = envelope::open(&bytes).unwrap_or_else(|e| fail(e.code()));
    let ps256 = envelope::assemble(
        Algorithm::Ps256,
        &parts.kid,
        &parts.payload,
        parts.signature,
    )
    .unwrap_or_else(|e| fail(e.code()));
    let ps256 = text::encode_text(kind, &ps256);
    hprintln!("ps256: {}", refusal(example::check_license(&ps256, NOW)));
    // The same token with the last bit of its signature flipped must be refused.
    match bytes.last_mut() {
        Some(last) => *last ^= 1,
        None => fail("empty token"),
    }
    let tampered = text::encode_text(kind, &bytes);
    hprintln!(
        "tampered: {}",
        refusal(example::check_license(&tampered, NOW))
    );
    // ... and the valid token after its expiry.
    hprintln!(
        "expired: {}",
        refusal(example::check_license(token, 1_932_000_000))
    );
    // The vendors' keyring with its RSA key: refused by a verifier built without `rsa`,
    // saying so.
    match Keyring::from_pem(include_str!("../../../../test-vectors/keys/signature.pem")) {
        Ok(_) => fail("an RSA keyring was accepted without the rsa feature"),
        Err(e @ Error::KeyringInvalid { .. }) => hprintln!("rsa keyring: {} ({})", e.code(), e),
        Err(e) => fail(e.code()),
    }

    exit_success()
}

/// The code of a refusal; a token that passes here is a failure of the run.
fn refusal<T>(result: Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => fail("a token that must be refused was accepted"),
        Err(e) => e.code(),
    }
}
