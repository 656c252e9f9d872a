//! `licet-server keys …`: the data directory's signing keys, managed from the shell on the
//! server's machine. Each command works on the files (`licet_server::keystore`), so it
//! needs no running server; a running one (and every process sharing the directory)
//! signs with the result within a second. The admin API (`/v1/admin/keys/…`) does the same
//! and writes the audit log.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use licet_server::keystore::{KeyError, KeyFiles, Published};

/// The key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Lists the published signing keys, current first.
    List {
        #[command(flatten)]
        dir: DirArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Makes a new signing key current; the old ones stay published (tokens they signed
    /// keep verifying) until `retire`. Without --key a new Ed25519 key is generated. With
    /// --root (the root key file) and --until, the root endorses the new key; with
    /// --endorsement, the endorsement made offline for --key (`licet keys endorse`) is
    /// added. Either way DATA/root.pem must hold the root's public key (--root puts it
    /// there when it is missing).
    Rotate {
        #[command(flatten)]
        dir: DirArgs,
        /// The new signing key (`licet keys generate`), instead of a generated one.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// The root's endorsement of --key (a LICET ENDORSEMENT PEM file).
        #[arg(long, value_name = "FILE", requires = "key", conflicts_with = "root")]
        endorsement: Option<PathBuf>,
        /// The root key, to endorse the new key now (its passphrase: LICET_ROOT_PASSPHRASE).
        #[arg(long, value_name = "FILE", requires = "until")]
        root: Option<PathBuf>,
        /// The endorsement's last day, YYYY-MM-DD (UTC), with --root.
        #[arg(long, value_name = "DATE", requires = "root")]
        until: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Adds the root's endorsement of a published key (from `licet keys endorse`).
    Endorse {
        #[command(flatten)]
        dir: DirArgs,
        /// The key's kid (16 hex digits; `licet-server keys list`).
        kid: String,
        /// The endorsement (a LICET ENDORSEMENT PEM file).
        #[arg(long, value_name = "FILE")]
        endorsement: PathBuf,
    },
    /// Stops publishing and trusting a key that is not the current one: tokens it signed
    /// no longer verify against the served signature.pem (re-issue the licenses it signed
    /// first: POST /v1/admin/licenses/{id}/reissue). Its files move to DATA/retired/.
    Retire {
        #[command(flatten)]
        dir: DirArgs,
        /// The key's kid (16 hex digits; `licet-server keys list`).
        kid: String,
    },
}

/// Where the keys are.
#[derive(Debug, clap::Args)]
pub struct DirArgs {
    /// Data directory (holding keys/, endorsements/, current).
    #[arg(long, env = "LICET_DATA", default_value = "licet-data")]
    data: PathBuf,
    /// File holding the signing keys' passphrase (first line); else LICET_KEY_PASSPHRASE.
    #[arg(long, env = "LICET_PASSPHRASE_FILE", value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

impl DirArgs {
    fn passphrase(&self) -> Result<Option<zeroize::Zeroizing<String>>, String> {
        passphrase_from(self.passphrase_file.as_deref(), "LICET_KEY_PASSPHRASE")
    }
}

fn passphrase_from(
    file: Option<&Path>,
    env: &str,
) -> Result<Option<zeroize::Zeroizing<String>>, String> {
    if let Some(p) = file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        );
        return Ok(Some(zeroize::Zeroizing::new(
            text.lines().next().unwrap_or("").to_owned(),
        )));
    }
    Ok(std::env::var(env)
        .ok()
        .filter(|p| !p.is_empty())
        .map(zeroize::Zeroizing::new))
}

/// The key directory, migrated from the single-key layout if need be (never generated:
/// a directory with no key is one the server never started on).
fn open(dir: &DirArgs) -> Result<(KeyFiles, Option<zeroize::Zeroizing<String>>), String> {
    let files = KeyFiles::new(&dir.data);
    let passphrase = dir.passphrase()?;
    files
        .prepare(passphrase.as_ref().map(|p| p.as_bytes()), true)
        .map_err(|e| match e {
            KeyError::Files(m) if !dir.data.exists() || !files.exists() => format!(
                "{m}; is --data right? A server creates its first key when it starts (or `licet-server init`)"
            ),
            other => other.to_string(),
        })?;
    Ok((files, passphrase))
}

fn read(path: &Path) -> Result<zeroize::Zeroizing<String>, String> {
    std::fs::read_to_string(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn now() -> u64 {
    licet_verifier::Expectations::now_from_system_clock()
}

/// The end of a YYYY-MM-DD day (UTC), in seconds since 1970.
fn end_of_day(text: &str) -> Result<u64, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(text, &format)
        .map_err(|_| format!("--until {text}: not a date; write YYYY-MM-DD, e.g. 2030-12-31"))?;
    let t = day
        .with_hms(23, 59, 59)
        .map_err(|e| e.to_string())?
        .assume_utc()
        .unix_timestamp();
    u64::try_from(t).map_err(|_| format!("--until {text}: before 1970"))
}

fn show(published: &[Published], json: bool) {
    if json {
        println!("{}", serde_json::json!({ "keys": published }));
        return;
    }
    for k in published {
        let until = k
            .endorsed_until
            .map(|t| format!(", endorsed until {}", licet::json::rfc3339(t)))
            .unwrap_or_default();
        let role = if k.current {
            "current: signs new tokens"
        } else {
            "published: checks older tokens"
        };
        let private = if k.private { "" } else { ", public key only" };
        println!("{} {} ({role}{private}{until})", k.kid, k.algorithm);
    }
}

/// Runs a key command: exit 0 done, 1 refused (the message says why), 2 bad input or files.
pub fn run(cmd: KeysCommand) -> ExitCode {
    match execute(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn refused(e: KeyError) -> (u8, String) {
    let code = match e {
        KeyError::Files(_) => 2,
        _ => 1,
    };
    (code, e.to_string())
}

fn execute(cmd: KeysCommand) -> Result<(), (u8, String)> {
    let bad = |m: String| (2u8, m);
    match cmd {
        KeysCommand::List { dir, json } => {
            let (files, p) = open(&dir).map_err(bad)?;
            let loaded = files
                .load(p.as_ref().map(|p| p.as_bytes()))
                .map_err(refused)?;
            show(&loaded.published, json);
        }
        KeysCommand::Rotate {
            dir,
            key,
            endorsement,
            root,
            until,
            json,
        } => {
            let (files, p) = open(&dir).map_err(bad)?;
            let passphrase = p.as_ref().map(|p| p.as_bytes());
            let new = match &key {
                Some(path) => Some(
                    licet::SigningKey::from_pem(&read(path).map_err(bad)?, passphrase)
                        .map_err(|e| bad(format!("{}: {e}", path.display())))?,
                ),
                None => None,
            };
            let now = now();
            let (new, endorsement) = match (root, until, endorsement) {
                (Some(root), Some(until), _) => {
                    let until = end_of_day(&until).map_err(bad)?;
                    if until <= now {
                        return Err(bad(
                            "--until is not in the future; an endorsement must end after today"
                                .into(),
                        ));
                    }
                    let root_pass = passphrase_from(None, "LICET_ROOT_PASSPHRASE").map_err(bad)?;
                    let root_key = licet::SigningKey::from_pem(
                        &read(&root).map_err(bad)?,
                        root_pass.as_ref().map(|p| p.as_bytes()),
                    )
                    .map_err(|e| bad(format!("{}: {e}", root.display())))?;
                    files.set_root(&root_key).map_err(refused)?;
                    let new = match new {
                        Some(k) => k,
                        None => {
                            licet::SigningKey::generate_ed25519().map_err(|e| bad(e.to_string()))?
                        }
                    };
                    let e = licet::endorse(&root_key, new.public_spki_der(), now, until)
                        .map_err(|e| bad(e.to_string()))?;
                    (Some(new), Some(e))
                }
                (_, _, Some(path)) => {
                    let bytes = licet_verifier::endorsement::from_pem(&read(&path).map_err(bad)?)
                        .map_err(|e| bad(format!("{}: {e}", path.display())))?;
                    (new, Some(bytes))
                }
                _ => (new, None),
            };
            let kid = files
                .rotate(new, endorsement.as_deref(), passphrase, now)
                .map_err(refused)?;
            let loaded = files.load(passphrase).map_err(refused)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"kid": kid, "keys": loaded.published})
                );
            } else {
                println!("New current signing key {kid}; the others stay published until retired:");
                show(&loaded.published, false);
            }
        }
        KeysCommand::Endorse {
            dir,
            kid,
            endorsement,
        } => {
            let (files, _) = open(&dir).map_err(bad)?;
            let bytes = licet_verifier::endorsement::from_pem(&read(&endorsement).map_err(bad)?)
                .map_err(|e| bad(format!("{}: {e}", endorsement.display())))?;
            files.endorse(&kid, &bytes, now()).map_err(refused)?;
            println!("Endorsement of {kid} added: GET /signature.pem serves it");
        }
        KeysCommand::Retire { dir, kid } => {
            let (files, _) = open(&dir).map_err(bad)?;
            files.retire(&kid).map_err(refused)?;
            println!(
                "Retired {kid}: no longer published nor trusted; its files are in {}",
                dir.data.join(licet_server::keystore::RETIRED).display()
            );
        }
    }
    Ok(())
}
