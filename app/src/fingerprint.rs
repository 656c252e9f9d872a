//! This machine's fingerprint: a stable machine identifier read from the operating system,
//! hashed and salted per product.
//!
//! Sources, in order:
//! - `LICET_MACHINE_ID` in the environment, when set (containers whose machine id is not
//!   stable, and tests);
//! - Linux: `/etc/machine-id`, then `/var/lib/dbus/machine-id` (systemd's per-install id,
//!   stable across reboots);
//! - macOS: `IOPlatformUUID` from `ioreg -rd1 -c IOPlatformExpertDevice`;
//! - Windows: `MachineGuid` under `HKLM\SOFTWARE\Microsoft\Cryptography` (via `reg query`);
//! - otherwise, or when none is readable: an error that says so ([`Unavailable`]). licet
//!   never falls back to a random or a MAC-based id: a fingerprint that changes silently
//!   would lock a paying customer out.
//!
//! The fingerprint is `SHA-256("licet-fingerprint-v1" 0x00 product 0x00 machine-id)`: two
//! vendors (two products) see unrelated values for the same machine, and the raw machine id
//! never leaves it.

use sha2::{Digest, Sha256};

use licet_verifier::Fingerprint;

/// No machine id could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// The sources tried.
    pub tried: String,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no machine id could be read (tried {}); set LICET_MACHINE_ID to a stable value unique to this machine",
            self.tried
        )
    }
}

impl std::error::Error for Unavailable {}

/// The raw machine id (never sent anywhere; only its salted hash is).
///
/// # Errors
/// [`Unavailable`] when no source gives one.
pub fn machine_id() -> Result<String, Unavailable> {
    if let Ok(id) = std::env::var("LICET_MACHINE_ID") {
        let id = id.trim().to_owned();
        if !id.is_empty() {
            return Ok(id);
        }
    }
    let mut tried = vec!["LICET_MACHINE_ID"];
    if cfg!(target_os = "linux") || cfg!(target_os = "freebsd") {
        for path in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
            tried.push(path);
            if let Ok(s) = std::fs::read_to_string(path) {
                let s = s.trim();
                if !s.is_empty() {
                    return Ok(s.to_owned());
                }
            }
        }
    }
    if cfg!(target_os = "macos") {
        tried.push("ioreg IOPlatformUUID");
        if let Ok(out) = std::process::Command::new("ioreg")
            .args(["-rd1", "-c", "IOPlatformExpertDevice"])
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            if let Some(v) = text
                .lines()
                .find(|l| l.contains("IOPlatformUUID"))
                .and_then(|line| line.split('"').nth(3))
            {
                return Ok(v.to_owned());
            }
        }
    }
    if cfg!(windows) {
        tried.push("registry MachineGuid");
        if let Ok(out) = std::process::Command::new("reg")
            .args([
                "query",
                r"HKLM\SOFTWARE\Microsoft\Cryptography",
                "/v",
                "MachineGuid",
            ])
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            if let Some(v) = text
                .lines()
                .find(|l| l.contains("MachineGuid"))
                .and_then(|l| l.split_whitespace().last())
            {
                return Ok(v.to_owned());
            }
        }
    }
    Err(Unavailable {
        tried: tried.join(", "),
    })
}

/// The fingerprint of the machine with id `machine_id`, for `product`.
pub fn fingerprint_of(product: &str, machine_id: &str) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(b"licet-fingerprint-v1\0");
    h.update(product.as_bytes());
    h.update(b"\0");
    h.update(machine_id.as_bytes());
    h.finalize().into()
}

/// This machine's fingerprint for `product`.
///
/// # Errors
/// [`Unavailable`] when no machine id can be read.
pub fn fingerprint(product: &str) -> Result<Fingerprint, Unavailable> {
    Ok(fingerprint_of(product, &machine_id()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salted_per_product() {
        let a = fingerprint_of("acme-studio-pro", "4c4c4544");
        assert_eq!(a, fingerprint_of("acme-studio-pro", "4c4c4544"));
        assert_ne!(a, fingerprint_of("other-vendor-app", "4c4c4544"));
        assert_ne!(a, fingerprint_of("acme-studio-pro", "4c4c4545"));
        // The separator keeps "ab"+"c" and "a"+"bc" apart.
        assert_ne!(fingerprint_of("ab", "c"), fingerprint_of("a", "bc"));
    }
}
