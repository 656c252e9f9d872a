//! Air-gapped activation by file: a request goes from the customer's machine to the vendor,
//! a signed machine token comes back and is imported.
//!
//! The request is JSON the customer can read before sending (nothing hidden leaves the
//! machine): the license key, the machine's salted fingerprint hash, a machine name, the
//! platform, a random nonce and the time it was made, plus a SHA-256 digest over those
//! fields so that an edited or damaged request is refused. The digest is not a signature
//! (the customer has no key): what makes a forged request useless is that the response is
//! bound to the fingerprint in it, and import checks that fingerprint against the machine
//! it runs on. The nonce becomes the machine token's id, tying the response to its request.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use licet_verifier::{Claims, Expectations, Fingerprint, Keyring, Kind, Verified, hex, unhex};

use crate::{Builder, Error, SigningKey, Token};

/// The request format version.
pub const REQUEST_VERSION: u32 = 1;
/// Largest request file accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Default validity of an offline machine token, in days (capped by the license's expiry).
pub const DEFAULT_DAYS: u64 = 365;

/// An activation request, as written to the request file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Always [`REQUEST_VERSION`].
    pub licet_request: u32,
    /// The license key (text form).
    pub license: String,
    /// The machine's fingerprint hash for the license's product, hex.
    pub fingerprint: String,
    /// A human name for the machine (its host name unless the customer gave another).
    pub name: String,
    /// Operating system and architecture, e.g. `linux-x86_64`.
    pub platform: String,
    /// 16 random bytes, hex: the id the activation will get.
    pub nonce: String,
    /// When the request was made, seconds since 1970.
    pub created_at: u64,
    /// SHA-256 over the fields above, hex (see [`Request::digest_of`]).
    pub digest: String,
}

impl Request {
    /// Makes a request for `license` from the machine with fingerprint `fingerprint`.
    ///
    /// # Errors
    /// [`Error::Key`] when no random nonce can be drawn.
    pub fn new(
        license: &str,
        fingerprint: &Fingerprint,
        name: &str,
        now: u64,
    ) -> Result<Request, Error> {
        let mut r = Request {
            licet_request: REQUEST_VERSION,
            license: text_form(license),
            fingerprint: hex(fingerprint),
            name: name.to_owned(),
            platform: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
            nonce: hex(&crate::new_id()?),
            created_at: now,
            digest: String::new(),
        };
        r.digest = r.digest_of();
        Ok(r)
    }

    /// The digest of the request's fields: SHA-256 over `licet-request-v1` and each field as
    /// `name=value`, one per line, in the order of the struct.
    pub fn digest_of(&self) -> String {
        let text = format!(
            "licet-request-v1\nlicet_request={}\nlicense={}\nfingerprint={}\nname={}\nplatform={}\nnonce={}\ncreated_at={}\n",
            self.licet_request,
            self.license,
            self.fingerprint,
            self.name,
            self.platform,
            self.nonce,
            self.created_at
        );
        hex(&Sha256::digest(text.as_bytes()))
    }

    /// The request as pretty JSON, for the request file.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads a request file and checks it is whole and unedited.
    ///
    /// # Errors
    /// [`Error::Request`] when it is not a request of this version,
    /// [`Error::RequestTampered`] when its digest does not match its fields.
    pub fn parse(text: &str) -> Result<Request, Error> {
        let r: Request = read_json(text, "not a licet activation request")?;
        if r.licet_request != REQUEST_VERSION {
            return Err(Error::Request {
                reason: format!(
                    "request version {} is not supported (expected {REQUEST_VERSION})",
                    r.licet_request
                ),
            });
        }
        if !crate::ct_eq(r.digest.as_bytes(), r.digest_of().as_bytes()) {
            return Err(Error::RequestTampered);
        }
        Ok(r)
    }

    /// The fingerprint as bytes.
    ///
    /// # Errors
    /// [`Error::Request`] when it is not 64 hex digits.
    pub fn fingerprint_bytes(&self) -> Result<Fingerprint, Error> {
        unhex(&self.fingerprint).ok_or_else(|| Error::Request {
            reason: "fingerprint is not 64 hex digits".into(),
        })
    }

    /// The nonce as bytes.
    ///
    /// # Errors
    /// [`Error::Request`] when it is not 32 hex digits.
    pub fn nonce_bytes(&self) -> Result<[u8; 16], Error> {
        unhex(&self.nonce).ok_or_else(|| Error::Request {
            reason: "nonce is not 32 hex digits".into(),
        })
    }
}

/// The deactivation request format version.
pub const DEACTIVATION_VERSION: u32 = 1;
/// The name of the machine token file an application keeps in its store folder.
pub const MACHINE_TOKEN_FILE: &str = "machine.lic";

/// A deactivation request, as written to the file `licet offline deactivate` makes on the
/// machine being retired, for the vendor's server (`licet offline release`).
///
/// Like [`Request`], JSON the customer can read, with a SHA-256 digest over the fields so
/// that an edited or damaged request is refused. The machine token inside is signed by
/// the vendor: it names the activation to free, and cannot be made up. The digest becomes
/// part of the receipt, which so names the one request it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deactivation {
    /// Always [`DEACTIVATION_VERSION`].
    pub licet_deactivation: u32,
    /// The license key (text form).
    pub license: String,
    /// The machine token that was stored on the machine (text form).
    pub machine_token: String,
    /// 16 random bytes, hex: this request's own id, so that a replay is recognised.
    pub nonce: String,
    /// When the request was made (and the token removed), seconds since 1970.
    pub created_at: u64,
    /// SHA-256 over the fields above, hex (see [`Deactivation::digest_of`]).
    pub digest: String,
}

impl Deactivation {
    /// Makes a deactivation request for `machine_token` of `license`.
    ///
    /// # Errors
    /// [`Error::Key`] when no random nonce can be drawn.
    pub fn new(license: &str, machine_token: &str, now: u64) -> Result<Deactivation, Error> {
        let mut d = Deactivation {
            licet_deactivation: DEACTIVATION_VERSION,
            license: text_form(license),
            machine_token: text_form(machine_token),
            nonce: hex(&crate::new_id()?),
            created_at: now,
            digest: String::new(),
        };
        d.digest = d.digest_of();
        Ok(d)
    }

    /// The digest of the fields: SHA-256 over `licet-deactivation-v1` and each field as
    /// `name=value`, one per line, in the order of the struct.
    pub fn digest_of(&self) -> String {
        let text = format!(
            "licet-deactivation-v1\nlicet_deactivation={}\nlicense={}\nmachine_token={}\nnonce={}\ncreated_at={}\n",
            self.licet_deactivation, self.license, self.machine_token, self.nonce, self.created_at
        );
        hex(&Sha256::digest(text.as_bytes()))
    }

    /// The request as pretty JSON, for the request file.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads a deactivation request file and checks it is whole and unedited.
    ///
    /// # Errors
    /// [`Error::Request`] when it is not a deactivation request of this version,
    /// [`Error::RequestTampered`] when its digest does not match its fields.
    pub fn parse(text: &str) -> Result<Deactivation, Error> {
        let d: Deactivation = read_json(
            text,
            "not a licet deactivation request (send the file `licet offline deactivate` wrote)",
        )?;
        if d.licet_deactivation != DEACTIVATION_VERSION {
            return Err(Error::Request {
                reason: format!(
                    "deactivation request version {} is not supported (expected {DEACTIVATION_VERSION})",
                    d.licet_deactivation
                ),
            });
        }
        if !crate::ct_eq(d.digest.as_bytes(), d.digest_of().as_bytes()) {
            return Err(Error::RequestTampered);
        }
        Ok(d)
    }

    /// The nonce as bytes.
    ///
    /// # Errors
    /// [`Error::Request`] when it is not 32 hex digits.
    pub fn nonce_bytes(&self) -> Result<[u8; 16], Error> {
        unhex(&self.nonce).ok_or_else(|| Error::Request {
            reason: "nonce is not 32 hex digits".into(),
        })
    }

    /// The digest as bytes (what a receipt names).
    ///
    /// # Errors
    /// [`Error::Request`] when it is not 64 hex digits.
    pub fn digest_bytes(&self) -> Result<[u8; 32], Error> {
        unhex(&self.digest).ok_or_else(|| Error::Request {
            reason: "digest is not 64 hex digits".into(),
        })
    }
}

/// Removes the stored machine token of `product` (written by [`store_machine_token`]);
/// returns its path, or `None` when there was none.
///
/// # Errors
/// [`Error::Io`].
pub fn remove_machine_token(product: &str) -> Result<Option<PathBuf>, Error> {
    let path = licet_app::store_dir(product)
        .map_err(app_io)?
        .join(MACHINE_TOKEN_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(Some(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io {
            path,
            message: e.to_string(),
        }),
    }
}

/// Reads the stored machine token of `product`, or `None` when there is none.
///
/// # Errors
/// [`Error::Io`].
pub fn stored_machine_token(product: &str) -> Result<Option<String>, Error> {
    let path = licet_app::store_dir(product)
        .map_err(app_io)?
        .join(MACHINE_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io {
            path,
            message: e.to_string(),
        }),
    }
}

/// A request file's JSON, its size checked first; `what` says what it is not.
fn read_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, Error> {
    if text.len() > MAX_REQUEST_BYTES {
        return Err(Error::Request {
            reason: format!(
                "the file is larger than any request ({MAX_REQUEST_BYTES} bytes at most)"
            ),
        });
    }
    serde_json::from_str(text).map_err(|e| Error::Request {
        reason: format!("{what}: {e}"),
    })
}

/// A license as its one-line text form, whichever form it was given in: the request is
/// JSON, and a file form (armor lines and all) squeezed into one string would no longer
/// decode. Text that does not decode is kept, without white space, for the vendor's check
/// to refuse with its own reason.
fn text_form(license: &str) -> String {
    match licet_verifier::text::decode(license) {
        Ok((kind, bytes)) => licet_verifier::text::encode_text(kind, &bytes),
        Err(_) => license.split_whitespace().collect(),
    }
}

/// The vendor's answer to a request: checks the license inside it against `keyring` (the
/// vendor's own keys) at `now`, then signs a machine token bound to the request's
/// fingerprint, valid for `days` days but never past the license's expiry.
///
/// # Errors
/// [`Error::Request`] / [`Error::RequestTampered`] for a bad request, [`Error::License`]
/// when the license is not valid (not the vendor's, expired, ...), [`Error::Claims`] or
/// [`Error::Key`] when signing fails.
pub fn respond(
    request: &Request,
    key: &SigningKey,
    keyring: &Keyring,
    days: u64,
    now: u64,
) -> Result<Token, Error> {
    let license = check_license(&request.license, keyring, now)?;
    let deadline = now.saturating_add(days.saturating_mul(86_400));
    let deadline = license.expires_at.map_or(deadline, |exp| deadline.min(exp));
    Builder::machine(
        &license,
        request.nonce_bytes()?,
        request.fingerprint_bytes()?,
        deadline,
    )
    .issued_at(now)
    .sign(key)
}

/// Verifies a license token (text or file form) against `keyring` at `now`, for whatever
/// product it names.
///
/// # Errors
/// [`Error::License`] with the verifier's error.
pub fn check_license(license: &str, keyring: &Keyring, now: u64) -> Result<Claims, Error> {
    let product = licet_verifier::decode_unverified(license)
        .map_err(Error::License)?
        .claims
        .product;
    keyring
        .verify(license, &Expectations::new(Kind::License, &product, now))
        .map(|v| v.claims)
        .map_err(Error::License)
}

/// Checks a response (a machine token, text or file form) on the customer's machine: signed
/// by a key of `keyring`, a machine token, valid at `now`, and bound to this machine's
/// fingerprint for its product (`machine_id` is this machine's raw id).
///
/// # Errors
/// [`Error::License`] with the verifier's error (for example `FINGERPRINT_MISMATCH` for a
/// response made for another machine).
pub fn check_response(
    token: &str,
    keyring: &Keyring,
    machine_id: &str,
    now: u64,
) -> Result<Verified, Error> {
    let product = licet_verifier::decode_unverified(token)
        .map_err(Error::License)?
        .claims
        .product;
    let fingerprint = licet_app::fingerprint_of(&product, machine_id);
    keyring
        .verify(
            token,
            &Expectations::new(Kind::Machine, &product, now).fingerprint(fingerprint),
        )
        .map_err(Error::License)
}

/// Stores a verified machine token (file form) as `machine.lic` in
/// [`licet_app::store_dir`] for its
/// product, replacing an older one atomically. Returns the file's path.
///
/// # Errors
/// [`Error::Io`].
pub fn store_machine_token(verified: &Verified, token_file_form: &str) -> Result<PathBuf, Error> {
    let dir = licet_app::store_dir(&verified.claims.product).map_err(app_io)?;
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        message: e.to_string(),
    })?;
    let path = dir.join(MACHINE_TOKEN_FILE);
    licet_app::write_file(&path, token_file_form.as_bytes(), 0o600).map_err(app_io)?;
    Ok(path)
}

/// A file error of the application side, as this crate's.
fn app_io(e: licet_app::Error) -> Error {
    match e {
        licet_app::Error::Io { path, message } => Error::Io { path, message },
        other => Error::Io {
            path: PathBuf::from("<per-user data folder>"),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_holds_the_text_form_whatever_form_it_was_given() {
        let key = SigningKey::ed25519_from_seed(&[9; 32]).expect("key");
        let license = Builder::license("acme-studio-pro")
            .expect("builder")
            .sign(&key)
            .expect("license");
        let keyring = Keyring::from_pem(&key.public_pem()).expect("keyring");
        for given in [license.text(), license.file()] {
            let r = Request::new(&given, &[7; 32], "box", 1_800_000_000).expect("request");
            assert_eq!(r.license, license.text());
            let parsed = Request::parse(&r.to_json()).expect("parses");
            respond(
                &parsed,
                &key,
                &keyring,
                30,
                licet_verifier::Expectations::now_from_system_clock(),
            )
            .expect("the vendor can answer it");
        }
    }
}
