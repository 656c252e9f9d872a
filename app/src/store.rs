//! Where an application keeps its tokens, and how it writes them: the per-user folder of a
//! product ([`store_dir`]) and the atomic private file writer ([`write_file`]), which the
//! vendor's key files (`licet-keys`) and the CLI's output files use too.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use licet_verifier::hex;

/// A file or folder could not be found, read or written.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `IO_ERROR`: the operating system refused (or, for [`store_dir`], this platform has
    /// no per-user data folder and `LICET_HOME` is unset).
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's message, or what to do.
        message: String,
    },
}

impl Error {
    /// The stable code of this error: `IO_ERROR`, as the other crates name it.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "IO_ERROR",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Where the tokens of `product` are kept for this user:
/// `$LICET_HOME/<product>/` when `LICET_HOME` is set, else the platform's per-user data
/// folder (`~/.local/share/licet/<product>/` on Linux, `~/Library/Application
/// Support/licet/<product>/` on macOS, `%APPDATA%\licet\<product>\` on Windows). A
/// product name with characters other than letters, digits, `.`, `_` and `-` is written
/// as its hex, so that no product name can point outside the folder. Nothing is created.
///
/// # Errors
/// [`Error::Io`] when the platform has no per-user data folder and `LICET_HOME` is unset.
pub fn store_dir(product: &str) -> Result<PathBuf, Error> {
    let base = match std::env::var_os("LICET_HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home),
        _ => dirs::data_dir()
            .map(|d| d.join("licet"))
            .ok_or_else(|| Error::Io {
                path: PathBuf::from("<per-user data folder>"),
                message: "this platform has no per-user data folder; set LICET_HOME".into(),
            })?,
    };
    let safe = !product.is_empty()
        && !product.starts_with('.')
        && product
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let name = if safe {
        product.to_owned()
    } else {
        hex(product.as_bytes())
    };
    Ok(base.join(name))
}

/// Writes `contents` to `path` atomically, with `mode` (Unix permissions) set before any
/// byte is written, so a secret is never readable by others even for a moment.
///
/// The temporary file gets a random name in the target's own directory (so the rename is
/// atomic), never one derived from the process id: a leftover from a killed process whose
/// id comes back (PID 1 in every container) must not block every later write. The file
/// and then its directory are synced, so that the new name survives a power cut.
///
/// # Errors
/// [`Error::Io`].
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    write(path, contents, mode, true).map(|_| ())
}

/// As [`write_file`], but only when nothing is at `path` yet: returns `false`, and leaves
/// the file there untouched, when one is. The check and the rename are one step (a hard
/// link, which fails if the name exists), so of two processes creating the same file at
/// once exactly one wins and the other reads what the winner wrote.
///
/// # Errors
/// [`Error::Io`].
pub fn write_file_new(path: &Path, contents: &[u8], mode: u32) -> Result<bool, Error> {
    write(path, contents, mode, false)
}

fn write(path: &Path, contents: &[u8], mode: u32, replace: bool) -> Result<bool, Error> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    // On any error the temporary file is removed when it is dropped.
    let mut tmp = builder.tempfile_in(parent).map_err(io(path))?;
    tmp.write_all(contents).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    if replace {
        tmp.persist(path).map_err(|e| io(path)(e.error))?;
    } else {
        match tmp.persist_noclobber(path) {
            Ok(_) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(io(path)(e.error)),
        }
    }
    sync_dir(parent).map_err(io(parent))?;
    Ok(true)
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leftover_temporary_file_does_not_block_writes() {
        // What a process killed mid-write by an earlier version left behind, named by the
        // process id that this process now has (PID 1 in a container, again and again).
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("client.json");
        let leftover = tmp
            .path()
            .join(format!(".client.json.tmp-{}", std::process::id()));
        fs::write(&leftover, "half a file").expect("leftover");
        write_file(&path, b"{}", 0o600).expect("written despite the leftover");
        write_file(&path, b"{\"v\":2}", 0o600).expect("and again");
        assert_eq!(fs::read_to_string(&path).expect("read"), "{\"v\":2}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file of ours is left: only the target and the old leftover.
        let mut names: Vec<String> = fs::read_dir(tmp.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                format!(".client.json.tmp-{}", std::process::id()),
                "client.json".to_owned()
            ]
        );
    }

    #[test]
    fn write_file_new_keeps_what_is_there() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("current");
        assert!(write_file_new(&path, b"first", 0o600).expect("created"));
        assert!(!write_file_new(&path, b"second", 0o600).expect("no error"));
        assert_eq!(fs::read_to_string(&path).expect("read"), "first");
        // Only the file: the loser's temporary file is gone.
        assert_eq!(fs::read_dir(tmp.path()).expect("list").count(), 1);
    }
}
