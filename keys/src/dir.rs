//! A vendor's key directory: the current signing key, the public keys still valid for
//! verification, and the keys retired by rotation.
//!
//! ```text
//! DIR/signing-key.pem          the key that signs (0600; PKCS#8, encrypted if asked)
//! DIR/signature.pem            every public key still valid for verification (publish this)
//! DIR/retired/<kid>.pem        signing keys replaced by `rotate` (0600), kept, never deleted
//! ```
//!
//! Every file is written to a temporary file in the same directory and renamed into place,
//! so a crash leaves either the old file or the new one, never half of one
//! ([`licet_app::write_file`]).

use std::fs;
use std::path::{Path, PathBuf};

use licet_verifier::{Keyring, hex};

use crate::{Error, SigningKey};

/// The signing key's file name.
pub const SIGNING_KEY: &str = "signing-key.pem";
/// The public keyring's file name.
pub const SIGNATURE_PEM: &str = "signature.pem";
/// The folder of retired signing keys.
pub const RETIRED: &str = "retired";
/// The root key's file name (`licet keys generate --root`): kept offline.
pub const ROOT_KEY: &str = "root-key.pem";
/// The root's public key file name: what an application pins.
pub const ROOT_PEM: &str = "root.pem";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// [`licet_app::write_file`] (atomic, with its mode set before any byte is written), with
/// this crate's error.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    licet_app::write_file(path, contents, mode).map_err(|e| match e {
        licet_app::Error::Io { path, message } => Error::Io { path, message },
        // `licet_app::Error` is non-exhaustive: anything new is still a file that could
        // not be written.
        other => Error::Io {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    })
}

fn create_dir(dir: &Path) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(io(dir))
}

/// The key files of one vendor.
#[derive(Debug, Clone)]
pub struct KeyDir {
    dir: PathBuf,
}

impl KeyDir {
    /// The key directory at `dir` (nothing is read or created yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        KeyDir { dir: dir.into() }
    }

    /// `DIR/signing-key.pem`.
    pub fn signing_key_path(&self) -> PathBuf {
        self.dir.join(SIGNING_KEY)
    }

    /// `DIR/signature.pem`.
    pub fn signature_pem_path(&self) -> PathBuf {
        self.dir.join(SIGNATURE_PEM)
    }

    /// `DIR/root-key.pem`.
    pub fn root_key_path(&self) -> PathBuf {
        self.dir.join(ROOT_KEY)
    }

    /// `DIR/root.pem`.
    pub fn root_pem_path(&self) -> PathBuf {
        self.dir.join(ROOT_PEM)
    }

    /// Writes a new root key (`root-key.pem`, 0600) and its public key (`root.pem`), which
    /// applications pin (`docs/key-rotation.md`). Refuses to replace an existing root key
    /// unless `force`.
    ///
    /// # Errors
    /// [`Error::Exists`], [`Error::Io`], or an encoding error.
    pub fn create_root(
        &self,
        key: &SigningKey,
        passphrase: Option<&[u8]>,
        force: bool,
    ) -> Result<(), Error> {
        self.create_pair(
            &self.root_key_path(),
            &self.root_pem_path(),
            key,
            passphrase,
            force,
        )
    }

    /// Writes a new signing key and a `signature.pem` holding only its public key.
    /// Refuses to replace an existing signing key unless `force`.
    ///
    /// # Errors
    /// [`Error::Exists`], [`Error::Io`], or an encoding error.
    pub fn create(
        &self,
        key: &SigningKey,
        passphrase: Option<&[u8]>,
        force: bool,
    ) -> Result<(), Error> {
        self.create_pair(
            &self.signing_key_path(),
            &self.signature_pem_path(),
            key,
            passphrase,
            force,
        )
    }

    /// Writes `key` to `key_path` (0600) and its public key to `public_path`.
    fn create_pair(
        &self,
        key_path: &Path,
        public_path: &Path,
        key: &SigningKey,
        passphrase: Option<&[u8]>,
        force: bool,
    ) -> Result<(), Error> {
        create_dir(&self.dir)?;
        if !force && key_path.exists() {
            return Err(Error::Exists {
                path: key_path.to_path_buf(),
            });
        }
        write_private(key_path, key, passphrase)?;
        write_file(public_path, key.public_pem().as_bytes(), 0o644)
    }

    /// Reads the current signing key.
    ///
    /// # Errors
    /// As [`SigningKey::from_pem`], or [`Error::Io`].
    pub fn signing_key(&self, passphrase: Option<&[u8]>) -> Result<SigningKey, Error> {
        read_signing_key(&self.signing_key_path(), passphrase)
    }

    /// Reads `signature.pem` as text.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn signature_pem(&self) -> Result<String, Error> {
        let path = self.signature_pem_path();
        fs::read_to_string(&path).map_err(io(&path))
    }

    /// Rotates: `new` becomes the signing key, the old signing key file moves (as it is,
    /// still encrypted if it was) to `retired/<kid>.pem`, and `signature.pem` gets the new
    /// public key first while keeping every key it held, so tokens signed by the old key
    /// still verify. Returns the retired key's file.
    ///
    /// # Errors
    /// [`Error::Io`] (nothing is changed when the old key cannot be read), or an
    /// encoding error.
    pub fn rotate(&self, new: &SigningKey, passphrase: Option<&[u8]>) -> Result<PathBuf, Error> {
        let key_path = self.signing_key_path();
        let old_pem = fs::read_to_string(&key_path).map_err(io(&key_path))?;
        let old_public = self.signature_pem()?;
        // The retired file is named by the old key's kid, read from signature.pem's first
        // key when the old key is encrypted (its public part is not readable without the
        // passphrase); the keyring also proves the existing signature.pem is sound before
        // anything is changed.
        let keyring = Keyring::from_pem(&old_public).map_err(|e| Error::InvalidKey {
            reason: format!("{}: {e}", self.signature_pem_path().display()),
        })?;
        let old_kid = match SigningKey::from_pem(&old_pem, passphrase) {
            Ok(k) => *k.kid(),
            Err(_) => *keyring
                .keys()
                .first()
                .map(|k| k.kid())
                .ok_or(Error::InvalidKey {
                    reason: "signature.pem holds no key".into(),
                })?,
        };
        let retired_dir = self.dir.join(RETIRED);
        create_dir(&retired_dir)?;
        let retired = retired_dir.join(format!("{}.pem", hex(&old_kid)));
        write_file(&retired, old_pem.as_bytes(), 0o600)?;
        let mut public = new.public_pem();
        public.push_str(&old_public);
        write_file(&self.signature_pem_path(), public.as_bytes(), 0o644)?;
        write_private(&key_path, new, passphrase)?;
        Ok(retired)
    }
}

/// Writes a private key file (0600), encrypted when a passphrase is given.
///
/// # Errors
/// [`Error::Io`], or an encoding error.
pub fn write_private(
    path: &Path,
    key: &SigningKey,
    passphrase: Option<&[u8]>,
) -> Result<(), Error> {
    let pem = match passphrase {
        Some(p) => key.to_pkcs8_encrypted_pem(p)?,
        None => key.to_pkcs8_pem()?,
    };
    write_file(path, pem.as_bytes(), 0o600)
}

/// Reads a private key file, encrypted or not.
///
/// # Errors
/// [`Error::Io`], or as [`SigningKey::from_pem`].
pub fn read_signing_key(path: &Path, passphrase: Option<&[u8]>) -> Result<SigningKey, Error> {
    let pem = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(io(path))?);
    SigningKey::from_pem(&pem, passphrase).map_err(|e| match e {
        Error::InvalidKey { reason } => Error::InvalidKey {
            reason: format!("{}: {reason}", path.display()),
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_refuses_to_overwrite_and_writes_0600() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = KeyDir::new(tmp.path().join("keys"));
        let key = SigningKey::generate_ed25519().expect("key");
        dir.create(&key, None, false).expect("create");
        let again = SigningKey::generate_ed25519().expect("key");
        assert!(matches!(
            dir.create(&again, None, false),
            Err(Error::Exists { .. })
        ));
        assert_eq!(dir.signing_key(None).expect("read").kid(), key.kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.signing_key_path())
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        dir.create(&again, None, true).expect("forced");
        assert_eq!(dir.signing_key(None).expect("read").kid(), again.kid());
    }

    #[test]
    fn encrypted_keys_need_the_right_passphrase() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = KeyDir::new(tmp.path());
        let key = SigningKey::generate_ed25519().expect("key");
        dir.create(&key, Some(b"correct horse"), false)
            .expect("create");
        let pem = fs::read_to_string(dir.signing_key_path()).expect("read");
        assert!(SigningKey::pem_is_encrypted(&pem));
        assert!(matches!(
            dir.signing_key(None),
            Err(Error::PassphraseRequired)
        ));
        assert!(matches!(
            dir.signing_key(Some(b"wrong")),
            Err(Error::WrongPassphrase)
        ));
        assert_eq!(
            dir.signing_key(Some(b"correct horse"))
                .expect("decrypts")
                .kid(),
            key.kid()
        );
    }

    #[test]
    fn rotate_keeps_old_public_keys_and_retires_the_old_key() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = KeyDir::new(tmp.path());
        let old = SigningKey::generate_ed25519().expect("key");
        dir.create(&old, None, false).expect("create");
        let new = SigningKey::generate_ed25519().expect("key");
        let retired = dir.rotate(&new, None).expect("rotate");
        assert_eq!(dir.signing_key(None).expect("read").kid(), new.kid());
        let ring = Keyring::from_pem(&dir.signature_pem().expect("pem")).expect("keyring");
        assert_eq!(ring.len(), 2);
        assert!(ring.get(old.kid()).is_some() && ring.get(new.kid()).is_some());
        assert_eq!(
            read_signing_key(&retired, None).expect("retired").kid(),
            old.kid()
        );
    }
}
