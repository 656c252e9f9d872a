//! The token store: the last good machine and lease tokens and the latest time seen, in one
//! small JSON file per product and user, so that the application can start offline.
//!
//! ```text
//! <store dir>/client.json   {"version":1,"machine_token":"MCH-…","lease_token":"LSE-…","last_seen":1800000000}
//! <store dir>/seat.lock     held (advisory lock) by the process whose seat the stored lease is
//! <store dir>/machine.lic   written by `licet offline import`; read when client.json has no machine token
//! ```
//!
//! The file is rewritten whole, to a temporary file renamed into place with mode 0600, so a
//! crash leaves the old file or the new one, never half of one. Nothing in it is trusted: a
//! token read back is verified again like one from the network. `last_seen` is a deterrent
//! against setting the clock back, not a proof (a user can edit or delete the file — and
//! with it the machine token, which then needs the server again).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The store file's name.
pub(crate) const FILE: &str = "client.json";
/// The seat lock's file name.
pub(crate) const SEAT_LOCK: &str = "seat.lock";
/// The machine token `licet offline import` writes (air-gapped activation).
pub(crate) const OFFLINE_MACHINE: &str = "machine.lic";
/// The vendor's revocation list, as fetched at check-in (PEM file form).
pub(crate) const REVOCATIONS: &str = "revocations.pem";
/// The store format version.
const VERSION: u32 = 1;
/// Larger than any store the client writes (two tokens of at most 16 KiB of text each).
const MAX_BYTES: u64 = 64 * 1024;

/// What the store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    #[serde(default)]
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_token: Option<String>,
    /// The latest time this client has seen, seconds since 1970 (0: none yet).
    #[serde(default)]
    pub last_seen: u64,
    /// The sequence of the revocation list kept beside the store (`revocations.pem`):
    /// an older list is refused (`REVOCATIONS_STALE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_sequence: Option<u64>,
    /// The license key of this machine's keyless trial (`Client::start_trial`), so that the
    /// application can start again without the network (`ClientBuilder::resume_trial`).
    /// Verified again like any key when it is read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_license_key: Option<String>,
}

pub(crate) struct Store {
    dir: PathBuf,
    /// Serialises read-modify-write within the process: the renewal thread and the
    /// application's thread both update the file, and one must not undo the other's change.
    lock: Mutex<()>,
}

impl Store {
    pub(crate) fn new(dir: PathBuf) -> Store {
        Store {
            dir,
            lock: Mutex::new(()),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// The stored state; empty when there is no store yet.
    ///
    /// # Errors
    /// [`Error::StoreIo`] when the file cannot be read or is not a store.
    pub(crate) fn read(&self) -> Result<State, Error> {
        let path = self.path();
        let text = match read_capped(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(Error::store(path, e)),
        };
        let state: State = serde_json::from_str(&text).map_err(|e| {
            Error::store(
                &path,
                format!("not a licet client store ({e}); delete it and go online once"),
            )
        })?;
        if state.version > VERSION {
            return Err(Error::store(
                path,
                format!(
                    "store version {} is newer than this client understands ({VERSION}); update the application",
                    state.version
                ),
            ));
        }
        Ok(state)
    }

    /// Applies `f` to the stored state and writes it back atomically. A store that cannot
    /// be read is started afresh: this is called after the server answered, so what is
    /// written is good, and a damaged file should not lock a paying user out.
    ///
    /// # Errors
    /// [`Error::StoreIo`] when the file cannot be written.
    pub(crate) fn update(&self, f: impl FnOnce(&mut State)) -> Result<State, Error> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut state = self.read().unwrap_or_default();
        f(&mut state);
        state.version = VERSION;
        create_dir(&self.dir)?;
        let json = serde_json::to_string(&state).map_err(|e| Error::store(self.path(), e))?;
        licet_app::write_file(&self.path(), json.as_bytes(), 0o600)
            .map_err(|e| Error::store(self.path(), e))?;
        Ok(state)
    }

    /// The machine token `licet offline import` stored, if any.
    pub(crate) fn offline_machine_token(&self) -> Option<String> {
        licet_verifier::os::read_token_file(&self.dir.join(OFFLINE_MACHINE)).ok()
    }

    /// Tries to take the seat lock: `Some(file)` (the lock lasts as long as the file is
    /// open) when no other process of this store holds a seat, `None` when one does.
    ///
    /// # Errors
    /// [`Error::StoreIo`] when the lock file cannot be opened.
    pub(crate) fn try_seat_lock(&self) -> Result<Option<fs::File>, Error> {
        create_dir(&self.dir)?;
        let path = self.dir.join(SEAT_LOCK);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::store(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(Error::store(path, e)),
        }
    }
}

fn read_capped(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    fs::File::open(path)?
        .take(MAX_BYTES)
        .read_to_string(&mut text)?;
    Ok(text)
}

fn create_dir(dir: &Path) -> Result<(), Error> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| Error::store(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_mode_and_damaged_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path().join("p"));
        assert_eq!(store.read().expect("empty"), State::default());
        store
            .update(|s| {
                s.machine_token = Some("MCH-X".into());
                s.last_seen = 7;
            })
            .expect("write");
        let s = store.read().expect("read");
        assert_eq!(s.machine_token.as_deref(), Some("MCH-X"));
        assert_eq!((s.version, s.last_seen), (VERSION, 7));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path())
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(store.path(), "{not json").expect("damage");
        assert_eq!(store.read().expect_err("damaged").code(), "STORE_IO");
        // An update after a good answer from the server repairs it.
        store.update(|s| s.last_seen = 9).expect("repair");
        assert_eq!(store.read().expect("read").last_seen, 9);
    }

    #[test]
    fn one_seat_lock_per_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path().to_path_buf());
        let held = store.try_seat_lock().expect("open").expect("free");
        assert!(store.try_seat_lock().expect("open").is_none(), "held");
        drop(held);
        assert!(store.try_seat_lock().expect("open").is_some(), "free again");
    }
}
