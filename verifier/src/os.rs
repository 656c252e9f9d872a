//! Conveniences that need an operating system (the `std` feature).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::Error;
use crate::keyring::Keyring;
use crate::text::MAX_TEXT_BYTES;
use crate::verify::{Expectations, Verified};

impl Expectations<'_> {
    /// The system clock, in seconds since the Unix epoch (0 if it reads before 1970).
    pub fn now_from_system_clock() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

impl Keyring {
    /// Reads `signature.pem` from a file.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::KeyringInvalid`] when it is
    /// not a keyring.
    pub fn from_pem_file(path: impl AsRef<std::path::Path>) -> Result<Keyring, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            reason: std::format!("the keyring {}: {e}", path.display()),
        })?;
        Keyring::from_pem(&text)
    }

    /// Reads a token file (file form or text form) and verifies it.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, else as [`Keyring::verify`].
    pub fn verify_file(
        &self,
        path: impl AsRef<std::path::Path>,
        expect: &Expectations<'_>,
    ) -> Result<Verified, Error> {
        let text = read_token_file(path.as_ref())?;
        self.verify(&text, expect)
    }
}

/// Reads a token file, refusing one larger than any token before reading it whole.
///
/// # Errors
/// [`Error::Io`] or [`Error::TooLarge`].
pub fn read_token_file(path: &std::path::Path) -> Result<std::string::String, Error> {
    use std::io::Read;
    let io = |e: std::io::Error| Error::Io {
        reason: std::format!("the token file {}: {e}", path.display()),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = std::string::String::new();
    let cap = u64::try_from(MAX_TEXT_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(cap).read_to_string(&mut text).map_err(io)?;
    if text.len() > MAX_TEXT_BYTES {
        // Only the first bytes past the cap were read: the message gives the file's size.
        let len = std::fs::metadata(path)
            .ok()
            .and_then(|m| usize::try_from(m.len()).ok())
            .unwrap_or(text.len());
        return Err(Error::TooLarge {
            len,
            max: MAX_TEXT_BYTES,
        });
    }
    Ok(text)
}
