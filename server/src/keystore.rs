//! The server's signing keys on disk: several at once, one current, the others published
//! until they are retired (`docs/key-rotation.md`, "On the licensing server").
//!
//! ```text
//! DIR/keys/<kid>.pem                  a signing key (0600; encrypted when the server has a
//!                                     passphrase), or only a public key (kept from an older
//!                                     signature.pem when a data directory is migrated)
//! DIR/endorsements/<kid>.pem          the root's endorsement of that key, when there is one
//! DIR/root.pem                        the root's public key, when the vendor has a root
//! DIR/current                         the kid of the key that signs, replaced atomically
//! DIR/retired/<kid>.pem               retired keys and their endorsements: kept (0600), no
//! DIR/retired/<kid>.endorsement.pem   longer published, no longer trusted
//! DIR/session-secret                  the admin console's session key material (0600)
//! ```
//!
//! Every file is written by [`licet_app::write_file`] (a temporary file renamed into place,
//! then the directory synced), so a reader sees the old file or the new one. Several server
//! processes may share the directory (`docs/scale-out.md`): `current` is created with
//! [`licet_app::write_file_new`], so two processes starting at once on an empty directory
//! agree on one key, and each process notices a change by another through [`KeyFiles::stamp`].

use std::fs;
use std::path::{Path, PathBuf};

use licet::SigningKey;
use licet_verifier::endorsement::{self, Endorsement};
use licet_verifier::keyring::pem_blocks;
use licet_verifier::{Keyring, Kid, PublicKey, hex};
use zeroize::Zeroizing;

/// The folder of published keys.
pub const KEYS: &str = "keys";
/// The folder of endorsements.
pub const ENDORSEMENTS: &str = "endorsements";
/// The folder of retired keys and endorsements.
pub const RETIRED: &str = "retired";
/// The file naming the current kid.
pub const CURRENT: &str = "current";
/// The root's public key.
pub const ROOT: &str = "root.pem";
/// The console's session key material.
pub const SESSION_SECRET: &str = "session-secret";
/// The file whose lock (`flock`) orders the changes of the key files: a rotation, an
/// endorsement and a retirement, by any process over this directory (the server's API and
/// `licet-server keys` run at once), happen one after the other, so that a retirement
/// never moves away a key that a rotation has just made current.
pub const LOCK: &str = "keys.lock";

/// Why a key operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// No published key has this kid.
    Unknown(String),
    /// The key is the current one: rotate first.
    Current(String),
    /// An endorsement that does not fit (another key, another root, expired, damaged).
    Endorsement(String),
    /// The server signs with a fixed `--signing-key`: its keys are managed outside.
    Fixed,
    /// A file is damaged or cannot be read or written; the message names it.
    Files(String),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Unknown(kid) => write!(
                f,
                "no published signing key has kid {kid}; list them with `licet-server keys list`"
            ),
            KeyError::Current(kid) => write!(
                f,
                "{kid} is the current signing key; rotate first (`licet-server keys rotate`), then retire it"
            ),
            KeyError::Endorsement(m) => write!(f, "endorsement refused: {m}"),
            KeyError::Fixed => f.write_str(
                "this server signs with a fixed --signing-key; start it without --signing-key to let it hold and rotate its keys in its data directory",
            ),
            KeyError::Files(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for KeyError {}

/// The words of a refusal, for [`crate::core::CoreError`]'s message (one text per refusal).
impl From<crate::core::CoreError> for KeyError {
    fn from(e: crate::core::CoreError) -> Self {
        use crate::core::CoreError;
        match e {
            CoreError::SigningKeyUnknown(k) => KeyError::Unknown(k),
            CoreError::SigningKeyCurrent(k) => KeyError::Current(k),
            CoreError::EndorsementRefused(m) => KeyError::Endorsement(m),
            CoreError::SigningKeyFixed => KeyError::Fixed,
            other => KeyError::Files(other.message()),
        }
    }
}

fn files(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |e| KeyError::Files(format!("{}: {e}", path.display()))
}

fn write(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    licet_app::write_file(path, contents, mode).map_err(|e| KeyError::Files(e.to_string()))
}

fn create_dir(dir: &Path) -> Result<(), KeyError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(files(dir))
}

/// A published key, as the admin API lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Published {
    /// Its kid, hex.
    pub kid: String,
    /// `EdDSA` or `PS256`.
    pub algorithm: &'static str,
    /// Whether it signs new tokens.
    pub current: bool,
    /// Whether the server holds its private key (a key kept from an old signature.pem
    /// has only its public key).
    pub private: bool,
    /// Until when the root endorses it (seconds since 1970), when it has an endorsement.
    pub endorsed_until: Option<u64>,
}

/// What the directory holds, read and checked.
pub struct Loaded {
    /// The key that signs.
    pub key: SigningKey,
    /// `signature.pem`: the root, the endorsements, then the public keys (current first).
    pub signature_pem: String,
    /// The published keys, parsed, to check tokens clients present.
    pub keyring: Keyring,
    /// The published keys, current first.
    pub published: Vec<Published>,
}

/// The key files of one server.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    dir: PathBuf,
}

/// A kid from its hex form, or `None`.
pub fn parse_kid(text: &str) -> Option<Kid> {
    licet_verifier::unhex::<8>(text.trim())
}

impl KeyFiles {
    /// The key files under `dir` (nothing is read yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        KeyFiles { dir: dir.into() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Waits for, then holds, the lock of the key files ([`LOCK`]) until the file returned
    /// is dropped.
    fn lock(&self) -> Result<fs::File, KeyError> {
        let path = self.path(LOCK);
        let mut o = fs::OpenOptions::new();
        o.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let f = o.open(&path).map_err(files(&path))?;
        f.lock().map_err(files(&path))?;
        Ok(f)
    }

    fn key_path(&self, kid: &str) -> PathBuf {
        self.dir.join(KEYS).join(format!("{kid}.pem"))
    }

    fn endorsement_path(&self, kid: &str) -> PathBuf {
        self.dir.join(ENDORSEMENTS).join(format!("{kid}.pem"))
    }

    /// Whether this directory holds keys in this layout (its `current` file exists).
    pub fn exists(&self) -> bool {
        self.path(CURRENT).exists()
    }

    /// The current kid, hex, as `current` names it.
    ///
    /// # Errors
    /// [`KeyError::Files`] when `current` is missing or does not hold a kid.
    pub fn current_kid(&self) -> Result<String, KeyError> {
        let path = self.path(CURRENT);
        let text = fs::read_to_string(&path).map_err(files(&path))?;
        let kid = text.trim();
        parse_kid(kid).ok_or_else(|| {
            KeyError::Files(format!(
                "{}: does not hold a kid (16 hex digits)",
                path.display()
            ))
        })?;
        Ok(kid.to_owned())
    }

    /// What changes when another process rotates, retires or endorses: `current`'s text
    /// and the names in `keys/` and `endorsements/`. Cheap (one small read, two listings),
    /// so a server compares it often and reloads only when it differs.
    pub fn stamp(&self) -> String {
        let mut s = fs::read_to_string(self.path(CURRENT)).unwrap_or_default();
        for sub in [KEYS, ENDORSEMENTS] {
            let mut names: Vec<String> = fs::read_dir(self.path(sub))
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n.ends_with(".pem"))
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            s.push('|');
            s.push_str(&names.join(","));
        }
        s.push_str(if self.path(ROOT).exists() {
            "|root"
        } else {
            "|"
        });
        s
    }

    /// Makes sure the directory holds keys in this layout: as it is when `current` exists;
    /// else migrated from the older layout (`signing-key.pem` and `signature.pem` beside
    /// it, left in place but no longer read); else a new Ed25519 key, unless `has_licenses`
    /// (a new key would make every license issued fail: restore the old one). Returns
    /// whether a new key was generated.
    ///
    /// # Errors
    /// [`KeyError::Files`] naming what is wrong and what to do.
    pub fn prepare(&self, passphrase: Option<&[u8]>, has_licenses: bool) -> Result<bool, KeyError> {
        if self.exists() {
            return Ok(false);
        }
        let legacy = licet_keys::dir::KeyDir::new(&self.dir);
        if legacy.signing_key_path().exists() {
            self.migrate(&legacy, passphrase)?;
            return Ok(false);
        }
        if has_licenses {
            return Err(KeyError::Files(format!(
                "{} holds no signing key ({} is missing) but the database already holds licenses signed by one; restore the key directory from your backup, or pass --signing-key",
                self.dir.display(),
                self.path(CURRENT).display()
            )));
        }
        let key = SigningKey::generate_ed25519().map_err(|e| KeyError::Files(e.to_string()))?;
        let kid = hex(key.kid());
        self.write_key(&key, passphrase)?;
        if self.claim_current(&kid)? {
            tracing::info!(%kid, dir = %self.dir.display(), "generated a new Ed25519 signing key");
            Ok(true)
        } else {
            // Another process started at the same moment and its key won: ours was never
            // current and never signed anything, so it goes.
            let _ = fs::remove_file(self.key_path(&kid));
            Ok(false)
        }
    }

    /// Writes `current` only when there is none; whether this call wrote it.
    fn claim_current(&self, kid: &str) -> Result<bool, KeyError> {
        create_dir(&self.dir)?;
        licet_app::write_file_new(&self.path(CURRENT), format!("{kid}\n").as_bytes(), 0o644)
            .map_err(|e| KeyError::Files(e.to_string()))
    }

    /// The older layout's key, its other public keys, its endorsements and its root into
    /// this one. The key file is copied byte for byte (still encrypted if it was).
    fn migrate(
        &self,
        legacy: &licet_keys::dir::KeyDir,
        passphrase: Option<&[u8]>,
    ) -> Result<(), KeyError> {
        let key_path = legacy.signing_key_path();
        let pem = Zeroizing::new(fs::read_to_string(&key_path).map_err(files(&key_path))?);
        let key = SigningKey::from_pem(&pem, passphrase)
            .map_err(|e| KeyError::Files(format!("{}: {e}", key_path.display())))?;
        let kid = hex(key.kid());
        create_dir(&self.path(KEYS))?;
        write(&self.key_path(&kid), pem.as_bytes(), 0o600)?;
        let published = legacy.signature_pem().unwrap_or_else(|_| key.public_pem());
        let mut roots: Vec<Kid> = Vec::new();
        let mut publics: Vec<(Kid, Vec<u8>)> = Vec::new();
        let blocks = pem_blocks(&published).map_err(|e| {
            KeyError::Files(format!("{}: {e}", legacy.signature_pem_path().display()))
        })?;
        for (label, der) in blocks {
            if label == endorsement::PEM_LABEL {
                let (_, e) = Endorsement::decode_unverified(&der).map_err(|e| {
                    KeyError::Files(format!(
                        "{}: an endorsement: {e}",
                        legacy.signature_pem_path().display()
                    ))
                })?;
                roots.push(e.root_kid);
                create_dir(&self.path(ENDORSEMENTS))?;
                write(
                    &self.endorsement_path(&hex(e.key.kid())),
                    endorsement::to_pem(&der).as_bytes(),
                    0o644,
                )?;
            } else if label == "PUBLIC KEY" {
                let k = PublicKey::from_spki_der(&der).map_err(|e| {
                    KeyError::Files(format!("{}: {e}", legacy.signature_pem_path().display()))
                })?;
                publics.push((*k.kid(), der));
            }
        }
        for (k, der) in publics {
            let pem = public_pem(&der)?;
            if roots.contains(&k) {
                // The root's public key, which an older signature.pem put first.
                write(&self.path(ROOT), pem.as_bytes(), 0o644)?;
            } else if k != *key.kid() {
                write(&self.key_path(&hex(&k)), pem.as_bytes(), 0o644)?;
            }
        }
        if self.claim_current(&kid)? {
            tracing::info!(%kid, dir = %self.dir.display(), "moved the signing key to the rotating layout (keys/, current); signing-key.pem and signature.pem are no longer read");
        }
        Ok(())
    }

    fn write_key(&self, key: &SigningKey, passphrase: Option<&[u8]>) -> Result<(), KeyError> {
        create_dir(&self.path(KEYS))?;
        licet_keys::dir::write_private(&self.key_path(&hex(key.kid())), key, passphrase)
            .map_err(|e| KeyError::Files(e.to_string()))
    }

    /// Reads every published key, the endorsements and the root, and checks that they
    /// make one `signature.pem` whose current key this server holds privately.
    ///
    /// # Errors
    /// [`KeyError::Files`] naming the damaged or unreadable file.
    pub fn load(&self, passphrase: Option<&[u8]>) -> Result<Loaded, KeyError> {
        let current = self.current_kid()?;
        let keys_dir = self.path(KEYS);
        let mut names: Vec<String> = fs::read_dir(&keys_dir)
            .map_err(files(&keys_dir))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".pem") && !n.starts_with('.'))
            .collect();
        names.sort();
        let mut signing: Option<SigningKey> = None;
        let mut entries: Vec<(String, String, Option<String>, Published)> = Vec::new();
        for name in names {
            let path = keys_dir.join(&name);
            let text = match fs::read_to_string(&path) {
                Ok(t) => Zeroizing::new(t),
                // Gone since the listing: the key of a process that lost the race to make
                // the first key, removed by it (it was never current nor published).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(files(&path)(e)),
            };
            let (public, private) = if text.contains("PRIVATE KEY") {
                let k = SigningKey::from_pem(&text, passphrase)
                    .map_err(|e| KeyError::Files(format!("{}: {e}", path.display())))?;
                (k.public_pem(), Some(k))
            } else {
                (text.to_string(), None)
            };
            let ring = Keyring::from_pem(&public)
                .map_err(|e| KeyError::Files(format!("{}: {e}", path.display())))?;
            let Some(k) = ring.keys().first() else {
                return Err(KeyError::Files(format!("{}: holds no key", path.display())));
            };
            let kid = hex(k.kid());
            if name != format!("{kid}.pem") {
                return Err(KeyError::Files(format!(
                    "{}: holds the key {kid}, not the one its name says; rename it {kid}.pem",
                    path.display()
                )));
            }
            let e_path = self.endorsement_path(&kid);
            let endorsement = match fs::read_to_string(&e_path) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(files(&e_path)(e)),
            };
            let endorsed_until = match &endorsement {
                Some(t) => Some(
                    endorsement::from_pem(t)
                        .and_then(|b| Endorsement::decode_unverified(&b))
                        .map_err(|e| KeyError::Files(format!("{}: {e}", e_path.display())))?
                        .1
                        .expires_at,
                ),
                None => None,
            };
            let is_current = kid == current;
            let info = Published {
                kid: kid.clone(),
                algorithm: k.algorithm().name(),
                current: is_current,
                private: private.is_some(),
                endorsed_until,
            };
            if is_current {
                signing = private;
            }
            entries.push((kid, public, endorsement, info));
        }
        let key = signing.ok_or_else(|| {
            KeyError::Files(format!(
                "{} names {current}, but {} is missing or holds no private key",
                self.path(CURRENT).display(),
                self.key_path(&current).display()
            ))
        })?;
        // Current first: an application that takes the first key, and a person reading
        // the file, see the one that signs.
        entries.sort_by_key(|e| !e.3.current);
        let mut pem = match fs::read_to_string(self.path(ROOT)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(files(&self.path(ROOT))(e)),
        };
        for (_, _, e, _) in &entries {
            if let Some(e) = e {
                pem.push_str(e);
            }
        }
        for (_, public, _, _) in &entries {
            pem.push_str(public);
        }
        let keyring = keyring_of(&pem)
            .map_err(|e| KeyError::Files(format!("{}: {e}", self.dir.display())))?;
        Ok(Loaded {
            key,
            signature_pem: pem,
            keyring,
            published: entries.into_iter().map(|e| e.3).collect(),
        })
    }

    /// The root's public key, when the vendor placed one.
    ///
    /// # Errors
    /// [`KeyError::Files`] for a damaged file.
    pub fn root(&self) -> Result<Option<PublicKey>, KeyError> {
        let path = self.path(ROOT);
        match fs::read_to_string(&path) {
            Ok(t) => {
                let ring = Keyring::from_pem(&t)
                    .map_err(|e| KeyError::Files(format!("{}: {e}", path.display())))?;
                Ok(ring.keys().first().cloned())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(files(&path)(e)),
        }
    }

    /// Installs the root's public key (from its private key) where there is none; refuses
    /// another root than the one already there.
    ///
    /// # Errors
    /// [`KeyError::Endorsement`] for another root; [`KeyError::Files`].
    pub fn set_root(&self, root: &SigningKey) -> Result<(), KeyError> {
        match self.root()? {
            Some(r) if r.kid() == root.kid() => Ok(()),
            Some(r) => Err(KeyError::Endorsement(format!(
                "{} holds the root {}, not {}; this directory's applications pin that one",
                self.path(ROOT).display(),
                hex(r.kid()),
                hex(root.kid())
            ))),
            None => write(&self.path(ROOT), root.public_pem().as_bytes(), 0o644),
        }
    }

    /// Checks that `bytes` is an endorsement of `kid` by this directory's root, valid at
    /// `now`, and returns its PEM block.
    fn check_endorsement(&self, kid: &Kid, bytes: &[u8], now: u64) -> Result<String, KeyError> {
        let root = self.root()?.ok_or_else(|| {
            KeyError::Endorsement(format!(
                "{} is missing: copy the root's public key (root.pem) there first, so that endorsements are checked against it",
                self.path(ROOT).display()
            ))
        })?;
        let e = Endorsement::verify(bytes, &root, now)
            .map_err(|e| KeyError::Endorsement(format!("{} ({})", e, e.code())))?;
        if e.key.kid() != kid {
            return Err(KeyError::Endorsement(format!(
                "it endorses the key {}, not {}",
                hex(e.key.kid()),
                hex(kid)
            )));
        }
        Ok(endorsement::to_pem(bytes))
    }

    /// Makes `new` (or a new Ed25519 key) the current key, with `endorsement` (its binary
    /// form) when given; the keys published before stay published. Returns the new kid.
    ///
    /// # Errors
    /// [`KeyError::Endorsement`] for an endorsement that does not fit (nothing is
    /// changed); [`KeyError::Files`].
    pub fn rotate(
        &self,
        new: Option<SigningKey>,
        endorsement: Option<&[u8]>,
        passphrase: Option<&[u8]>,
        now: u64,
    ) -> Result<String, KeyError> {
        let _lock = self.lock()?;
        let key = match new {
            Some(k) => k,
            None => SigningKey::generate_ed25519().map_err(|e| KeyError::Files(e.to_string()))?,
        };
        let kid = hex(key.kid());
        let e_pem = endorsement
            .map(|b| self.check_endorsement(key.kid(), b, now))
            .transpose()?;
        self.write_key(&key, passphrase)?;
        if let Some(pem) = e_pem {
            create_dir(&self.path(ENDORSEMENTS))?;
            write(&self.endorsement_path(&kid), pem.as_bytes(), 0o644)?;
        }
        // Last, and atomically: until this rename every process keeps signing with the
        // previous key; after it, each picks up the new one at its next look.
        write(&self.path(CURRENT), format!("{kid}\n").as_bytes(), 0o644)?;
        Ok(kid)
    }

    /// Adds (or replaces) the endorsement of a published key.
    ///
    /// # Errors
    /// [`KeyError::Unknown`], [`KeyError::Endorsement`], [`KeyError::Files`].
    pub fn endorse(&self, kid: &str, bytes: &[u8], now: u64) -> Result<(), KeyError> {
        let k = parse_kid(kid).ok_or_else(|| KeyError::Unknown(kid.to_owned()))?;
        let _lock = self.lock()?;
        if !self.key_path(kid).exists() {
            return Err(KeyError::Unknown(kid.to_owned()));
        }
        let pem = self.check_endorsement(&k, bytes, now)?;
        create_dir(&self.path(ENDORSEMENTS))?;
        write(&self.endorsement_path(kid), pem.as_bytes(), 0o644)
    }

    /// Stops publishing and trusting a key: its files move to `retired/`. The current key
    /// cannot be retired.
    ///
    /// # Errors
    /// [`KeyError::Unknown`], [`KeyError::Current`], [`KeyError::Files`].
    pub fn retire(&self, kid: &str) -> Result<(), KeyError> {
        let kid = kid.trim().to_ascii_lowercase();
        let _lock = self.lock()?;
        if parse_kid(&kid).is_none() || !self.key_path(&kid).exists() {
            return Err(KeyError::Unknown(kid));
        }
        if self.current_kid()? == kid {
            return Err(KeyError::Current(kid));
        }
        let retired = self.path(RETIRED);
        create_dir(&retired)?;
        let e = self.endorsement_path(&kid);
        if e.exists() {
            let to = retired.join(format!("{kid}.endorsement.pem"));
            fs::rename(&e, &to).map_err(files(&e))?;
        }
        let from = self.key_path(&kid);
        let to = retired.join(format!("{kid}.pem"));
        fs::rename(&from, &to).map_err(files(&from))?;
        for d in [retired, self.path(KEYS), self.path(ENDORSEMENTS)] {
            sync_dir(&d)?;
        }
        Ok(())
    }

    /// The console's session key material: read, or made once (by whichever process
    /// starts first), so that a rotation or a restart signs no one out and every process
    /// over this directory accepts the others' sessions.
    ///
    /// # Errors
    /// [`KeyError::Files`].
    pub fn session_secret(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let path = self.path(SESSION_SECRET);
        if !path.exists() {
            let secret = Zeroizing::new(
                licet_verifier::hex(&licet::new_id().map_err(|e| KeyError::Files(e.to_string()))?)
                    + &licet_verifier::hex(
                        &licet::new_id().map_err(|e| KeyError::Files(e.to_string()))?,
                    ),
            );
            create_dir(&self.dir)?;
            licet_app::write_file_new(&path, secret.as_bytes(), 0o600)
                .map_err(|e| KeyError::Files(e.to_string()))?;
        }
        fs::read(&path).map(Zeroizing::new).map_err(files(&path))
    }
}

fn sync_dir(dir: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    if dir.exists() {
        fs::File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(files(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The keyring that checks tokens clients present: the `PUBLIC KEY` blocks of the served
/// file except the root's (a root signs no token).
fn keyring_of(pem: &str) -> Result<Keyring, licet_verifier::Error> {
    let mut roots: Vec<Kid> = Vec::new();
    let mut keys: Vec<PublicKey> = Vec::new();
    for (label, der) in pem_blocks(pem)? {
        if label == endorsement::PEM_LABEL {
            if let Ok((_, e)) = Endorsement::decode_unverified(&der) {
                roots.push(e.root_kid);
            }
        } else {
            keys.push(PublicKey::from_spki_der(&der)?);
        }
    }
    let mut ring = Keyring::default();
    for k in keys {
        if !roots.contains(k.kid()) {
            ring.add(k)?;
        }
    }
    Ok(ring)
}

/// The `PUBLIC KEY` PEM block of SubjectPublicKeyInfo DER.
fn public_pem(der: &[u8]) -> Result<String, KeyError> {
    licet_keys::public_pem_of_spki(der).map_err(|e| KeyError::Files(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A retirement waits while another process changes the key files (holds their lock),
    /// so that it decides on the files as that change left them: here the key it was
    /// asked to retire has become current meanwhile, and it is refused.
    #[test]
    fn a_retirement_waits_for_a_rotation_in_progress() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let files = KeyFiles::new(tmp.path().join("data"));
        files.prepare(None, false).expect("prepare");
        let old = files.current_kid().expect("current");
        let next = SigningKey::generate_ed25519().expect("key");
        let next_kid = hex(next.kid());
        files
            .write_key(&next, None)
            .expect("a published key, not current");
        let held = files.lock().expect("lock");
        let retiring = {
            let (files, kid) = (files.clone(), next_kid.clone());
            std::thread::spawn(move || files.retire(&kid))
        };
        // What a rotation to `next` does while it holds the lock.
        std::thread::sleep(std::time::Duration::from_millis(200));
        write(
            &files.path(CURRENT),
            format!("{next_kid}\n").as_bytes(),
            0o644,
        )
        .expect("current");
        drop(held);
        assert!(
            matches!(retiring.join().expect("thread"), Err(KeyError::Current(k)) if k == next_kid),
            "the retirement saw the key files before the rotation"
        );
        assert!(files.key_path(&next_kid).exists());
        files.retire(&old).expect("the previous key retires");
    }

    /// Processes starting at once on an empty directory: exactly one key is made current
    /// and kept, whoever wins, and every one of them loads that key.
    #[test]
    fn starts_at_the_same_moment_agree_on_one_key() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (dir, barrier) = (dir.clone(), std::sync::Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let files = KeyFiles::new(dir);
                    barrier.wait();
                    let generated = files.prepare(None, false).expect("prepare");
                    let kid = hex(files.load(None).expect("load").key.kid());
                    (generated, kid)
                })
            })
            .collect();
        let results: Vec<(bool, String)> = threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        assert_eq!(results.iter().filter(|r| r.0).count(), 1, "{results:?}");
        assert!(results.iter().all(|r| r.1 == results[0].1), "{results:?}");
        let keys = fs::read_dir(dir.join(KEYS)).expect("keys").count();
        assert_eq!(keys, 1, "the losers removed the keys they made");
    }

    #[test]
    fn rotate_retire_and_endorse_refuse_what_does_not_fit() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let files = KeyFiles::new(tmp.path());
        files.prepare(None, false).expect("prepare");
        let first = files.current_kid().expect("kid");
        assert_eq!(files.retire(&first), Err(KeyError::Current(first.clone())));
        assert!(matches!(
            files.retire("0123456789abcdef"),
            Err(KeyError::Unknown(_))
        ));
        assert!(matches!(
            files.retire("../../etc"),
            Err(KeyError::Unknown(_))
        ));
        // An endorsement needs root.pem; then it must be by that root and of that key.
        let root = SigningKey::generate_ed25519().expect("root");
        let other_root = SigningKey::generate_ed25519().expect("root");
        let next = SigningKey::ed25519_from_seed(&[5; 32]).expect("key");
        let again = || Some(SigningKey::ed25519_from_seed(&[5; 32]).expect("key"));
        let now = 1_800_000_000;
        let by_other =
            licet::endorse(&other_root, next.public_spki_der(), now, now + 1000).expect("e");
        let before = files.stamp();
        assert!(matches!(
            files.rotate(again(), Some(&by_other), None, now),
            Err(KeyError::Endorsement(_))
        ));
        files.set_root(&root).expect("root");
        let stamp = files.stamp();
        assert!(matches!(
            files.rotate(again(), Some(&by_other), None, now),
            Err(KeyError::Endorsement(m)) if m.contains("ENDORSEMENT_UNTRUSTED")
        ));
        let of_first = licet::endorse(
            &root,
            files.load(None).expect("load").key.public_spki_der(),
            now,
            now + 1000,
        )
        .expect("e");
        assert!(matches!(
            files.rotate(again(), Some(&of_first), None, now),
            Err(KeyError::Endorsement(m)) if m.contains("not")
        ));
        let expired =
            licet::endorse(&root, next.public_spki_der(), now - 1000, now - 500).expect("e");
        assert!(matches!(
            files.rotate(again(), Some(&expired), None, now),
            Err(KeyError::Endorsement(m)) if m.contains("ENDORSEMENT_EXPIRED")
        ));
        assert_eq!(files.stamp(), stamp, "no refused rotation changed a file");
        assert_ne!(before, stamp, "root.pem counts in the stamp");
        let good = licet::endorse(&root, next.public_spki_der(), now, now + 1000).expect("e");
        let kid = files
            .rotate(again(), Some(&good), None, now)
            .expect("rotate");
        let loaded = files.load(None).expect("load");
        assert_eq!(hex(loaded.key.kid()), kid);
        let pinned = Keyring::from_root(
            &PublicKey::from_spki_der(root.public_spki_der()).expect("root"),
            &loaded.signature_pem,
            now,
        )
        .expect("from root");
        assert!(pinned.get(next.kid()).is_some());
        assert!(
            loaded.keyring.get(root.kid()).is_none(),
            "a root signs no token"
        );
        files.retire(&first).expect("retire");
        assert_eq!(files.load(None).expect("load").published.len(), 1);
        assert!(
            tmp.path()
                .join(RETIRED)
                .join(format!("{first}.pem"))
                .exists()
        );
    }
}
