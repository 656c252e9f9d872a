use licet_verifier::{Error, Expectations, Keyring, Kind, Verified};

/// The vendor's public key, built into the firmware (Ed25519: the verifier is built
/// without its `rsa` feature).
const SIGNATURE_PEM: &str = include_str!("../signature.pem");

/// Checks a license token for this product at `now`, seconds since 1970, from the
/// device's real-time clock: the verifier reads no clock itself.
pub fn check_license(token: &str, now: u64) -> Result<Verified, Error> {
    let keyring = Keyring::from_pem(SIGNATURE_PEM)?;
    keyring.verify(
        token,
        &Expectations::new(Kind::License, "acme-studio-pro", now),
    )
}
