//! Reading what the user gives: tokens, key files, passphrases and times.

use std::io::{IsTerminal, Read};
use std::path::Path;

use zeroize::Zeroizing;

use crate::args::PassphraseArgs;
use crate::failure::Failure;

/// Reads a `TOKEN|FILE|-` argument: `-` is standard input, an existing path is a file,
/// text that looks like a token is the token itself.
pub fn token(arg: &str) -> Result<String, Failure> {
    let limit = licet_verifier::text::MAX_TEXT_BYTES;
    if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .take(limit as u64 + 1)
            .read_to_string(&mut text)
            .map_err(|e| Failure::error("IO_ERROR", format!("standard input: {e}")))?;
        return Ok(text);
    }
    let path = Path::new(arg);
    if path.is_file() {
        return token_file(path);
    }
    let t = arg.trim_start();
    let looks_like_token = t.starts_with("-----BEGIN")
        || ["LIC-", "MCH-", "LSE-"]
            .iter()
            .any(|p| t.get(..4).is_some_and(|h| h.eq_ignore_ascii_case(p)));
    if looks_like_token {
        Ok(arg.to_owned())
    } else {
        Err(Failure::error(
            "IO_ERROR",
            format!("{arg}: no such file, and not a token (tokens start with LIC-, MCH- or LSE-)"),
        ))
    }
}

/// Reads a token file. An oversized token is a token error (exit 1), as it is from standard
/// input or an argument, where the verifier finds it; only a file that cannot be read is
/// exit 2.
pub fn token_file(path: &Path) -> Result<String, Failure> {
    licet_verifier::os::read_token_file(path).map_err(|e| match e {
        licet_verifier::Error::TooLarge { .. } => Failure::invalid(e.code(), e.to_string()),
        _ => Failure::error(e.code(), e.to_string()),
    })
}

/// Reads a text file, naming it in the error.
pub fn read_file(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::error("IO_ERROR", format!("{}: {e}", path.display())))
}

/// Reads a policy file (`licet mint license --policy`): JSON when its name ends in `.json`,
/// TOML otherwise, checked as the server checks a policy (`licet::policy::Terms::check`).
///
/// # Errors
/// `IO_ERROR` when it cannot be read; `POLICY_INVALID` naming the file and the field.
pub fn policy(path: &Path) -> Result<licet::policy::Terms, Failure> {
    let text = read_file(path)?;
    let bad = |e: String| {
        Failure::error(
            "POLICY_INVALID",
            format!(
                "{}: {e} (the terms are listed in docs/policies.md)",
                path.display()
            ),
        )
    };
    let terms: licet::policy::Terms = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?
    } else {
        // One line, as every error of the CLI: the message and where, not toml's drawing.
        toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .and_then(|r| text.get(..r.start))
                .map_or(1, |before| before.matches('\n').count() + 1);
            bad(format!("line {line}: {}", e.message()))
        })?
    };
    terms.check().map_err(|e| bad(e.to_string()))?;
    Ok(terms)
}

/// Reads a keyring (signature.pem).
pub fn keyring(path: &Path) -> Result<licet_verifier::Keyring, Failure> {
    // Read here rather than with `Keyring::from_pem_file`, so that the message can name the
    // flag to fix.
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::error(
            "IO_ERROR",
            format!(
                "{}: {e}; give the vendor's public keys (signature.pem, from `licet keys generate`) with --pubkey",
                path.display()
            ),
        )
    })?;
    licet_verifier::Keyring::from_pem(&text)
        .map_err(|e| Failure::error(e.code(), format!("{}: {e}", path.display())))
}

/// The keyring of `--pubkey`, or, with `--root`, the keys that `--pubkey`'s endorsements
/// by that pinned root vouch for at `now` (`docs/token-format.md` §13.1).
pub fn keyring_with_root(
    pubkey: &Path,
    root: Option<&Path>,
    now: u64,
) -> Result<licet_verifier::Keyring, Failure> {
    let Some(root) = root else {
        return keyring(pubkey);
    };
    let root_key = keyring(root)?;
    let [root_key] = root_key.keys() else {
        return Err(Failure::error(
            "KEYRING_INVALID",
            format!(
                "{}: a root file holds exactly one PUBLIC KEY (root.pem from `licet keys generate --root`)",
                root.display()
            ),
        ));
    };
    let text = read_file(pubkey)?;
    licet_verifier::Keyring::from_root(root_key, &text, now)
        .map_err(|e| Failure::error(e.code(), format!("{}: {e}", pubkey.display())))
}

/// The passphrase of an existing key: `--passphrase-file`, else `LICET_KEY_PASSPHRASE`,
/// else a prompt when standard input is a terminal.
pub fn passphrase(args: &PassphraseArgs, what: &str) -> Result<Option<Zeroizing<String>>, Failure> {
    if let Some(path) = &args.passphrase_file {
        let text = Zeroizing::new(read_file(path)?);
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(Failure::error(
                "PASSPHRASE_REQUIRED",
                format!("{}: the passphrase file is empty", path.display()),
            ));
        }
        return Ok(Some(Zeroizing::new(line.to_owned())));
    }
    if let Ok(p) = std::env::var("LICET_KEY_PASSPHRASE")
        && !p.is_empty()
    {
        return Ok(Some(Zeroizing::new(p)));
    }
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password(format!("Passphrase for {what}: "))
            .map_err(|e| Failure::error("IO_ERROR", format!("reading the passphrase: {e}")))?;
        return Ok(Some(Zeroizing::new(p)));
    }
    Ok(None)
}

/// A new passphrase (for `--encrypt`): as [`passphrase`], but a prompt asks twice.
pub fn new_passphrase(args: &PassphraseArgs) -> Result<Zeroizing<String>, Failure> {
    if args.passphrase_file.is_none()
        && std::env::var("LICET_KEY_PASSPHRASE").map_or(true, |p| p.is_empty())
        && std::io::stdin().is_terminal()
    {
        let a = Zeroizing::new(
            rpassword::prompt_password("New passphrase: ")
                .map_err(|e| Failure::error("IO_ERROR", format!("reading the passphrase: {e}")))?,
        );
        let b = Zeroizing::new(
            rpassword::prompt_password("Repeat it: ")
                .map_err(|e| Failure::error("IO_ERROR", format!("reading the passphrase: {e}")))?,
        );
        if a != b {
            return Err(Failure::error(
                "PASSPHRASE_MISMATCH",
                "the two passphrases differ; nothing was written",
            ));
        }
        return check_new(a);
    }
    match passphrase(args, "the new key")? {
        Some(p) => check_new(p),
        None => Err(Failure::error(
            "PASSPHRASE_REQUIRED",
            "--encrypt needs a passphrase: use --passphrase-file FILE, LICET_KEY_PASSPHRASE, or run in a terminal to be asked",
        )),
    }
}

fn check_new(p: Zeroizing<String>) -> Result<Zeroizing<String>, Failure> {
    if p.chars().count() < 8 {
        return Err(Failure::error(
            "PASSPHRASE_TOO_SHORT",
            "the passphrase must have at least 8 characters; nothing was written",
        ));
    }
    Ok(p)
}

/// Loads a signing key, asking for its passphrase only when it is encrypted.
pub fn signing_key(path: &Path, pass: &PassphraseArgs) -> Result<licet::SigningKey, Failure> {
    signing_key_and_passphrase(path, pass).map(|(key, _)| key)
}

/// Loads a signing key as [`signing_key`] does, and gives back the passphrase that opened
/// it (`None` for a key that is not encrypted), so that it is asked for only once.
pub fn signing_key_and_passphrase(
    path: &Path,
    pass: &PassphraseArgs,
) -> Result<(licet::SigningKey, Option<Zeroizing<String>>), Failure> {
    let pem = Zeroizing::new(read_file(path)?);
    let passphrase = if licet::SigningKey::pem_is_encrypted(&pem) {
        Some(passphrase(pass, &path.display().to_string())?.ok_or_else(|| {
            Failure::error(
                "PASSPHRASE_REQUIRED",
                format!(
                    "{} is encrypted; give its passphrase with --passphrase-file FILE or LICET_KEY_PASSPHRASE",
                    path.display()
                ),
            )
        })?)
    } else {
        None
    };
    let key = licet::SigningKey::from_pem(&pem, passphrase.as_ref().map(|p| p.as_bytes()))
        .map_err(|e| Failure::error(e.code(), format!("{}: {e}", path.display())))?;
    Ok((key, passphrase))
}

/// Parses a time: `@SECONDS`, `YYYY-MM-DD` (midnight UTC at its start) or RFC 3339.
pub fn time(s: &str) -> Result<u64, Failure> {
    let bad = || {
        Failure::error(
            "BAD_TIME",
            format!("'{s}' is not a time; use 2027-01-15, 2027-01-15T08:00:00Z or @1800000000"),
        )
    };
    if let Some(secs) = s.strip_prefix('@') {
        return secs.parse().map_err(|_| bad());
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, fmt) {
        return u64::try_from(d.midnight().assume_utc().unix_timestamp()).map_err(|_| bad());
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad())?;
    u64::try_from(t.unix_timestamp()).map_err(|_| bad())
}

/// Parses an expiry: a date means valid through that whole day (UTC), so the token
/// expires at the next midnight; an RFC 3339 time or @SECONDS is exact.
pub fn expiry(s: &str) -> Result<u64, Failure> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    if time::Date::parse(s, fmt).is_ok() {
        return Ok(time(s)?.saturating_add(86_400));
    }
    time(s)
}

/// Parses a 32-byte hex fingerprint.
pub fn fingerprint(s: &str) -> Result<licet_verifier::Fingerprint, Failure> {
    let s = s.trim();
    let bad = || {
        Failure::error(
            "BAD_FINGERPRINT",
            format!("'{s}' is not a fingerprint: expected 64 hex digits"),
        )
    };
    licet_verifier::unhex(s).ok_or_else(bad)
}

/// Now, from the system clock.
pub fn now() -> u64 {
    licet_verifier::Expectations::now_from_system_clock()
}

/// Refuses an `--out` file that exists, unless `force`: checked before any work (a
/// passphrase asked, a server asked) as well as by [`write_out`].
pub fn refuse_existing(path: &Path, force: bool) -> Result<(), Failure> {
    if !force && path.exists() {
        return Err(Failure::error(
            "FILE_EXISTS",
            format!(
                "{} exists already; choose another --out file, or add --force to replace it",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Writes an output file, refusing to replace an existing one unless `force`: an `--out`
/// that names the wrong file (a signing key, say) must never destroy it.
pub fn write_out(path: &Path, contents: &[u8], force: bool) -> Result<(), Failure> {
    refuse_existing(path, force)?;
    licet_app::write_file(path, contents, 0o644).map_err(Failure::from)
}
