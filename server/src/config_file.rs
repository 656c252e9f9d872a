//! The configuration file (`--config FILE`, `LICET_CONFIG`): TOML whose keys are the
//! settings of [`Config`], named as their flags with `_` for `-` (`body_limit = 65536` is
//! `--body-limit 65536`).
//!
//! Each setting has one definition, its clap argument: the file's values become that
//! argument's default, so clap's own order makes flags > environment > file > built-in
//! default, and each value is checked by the flag's own parser (same ranges, same
//! messages). The known keys are the arguments' ids, so a flag added later is a file key at
//! once, and a key that is no flag is refused naming its line.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Command, CommandFactory};

use crate::Config;

/// The arguments of [`Config`] that are no key of the file: `config` (a file cannot name
/// another) and clap's own.
const NOT_KEYS: &[&str] = &["config", "help", "version"];

/// The settings whose value is a file the server reads at start: `check-config` requires
/// each to be readable.
const FILE_KEYS: &[&str] = &[
    "signing_key",
    "passphrase_file",
    "tls_cert",
    "tls_key",
    "admin_token_file",
];

/// One setting of the file: its key, the line it is on, and its value(s) as the flag would
/// take them.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key, a [`Config`] argument's id.
    pub key: String,
    /// The 1-based line of the key.
    pub line: usize,
    /// The value as flag values (an array gives several).
    pub values: Vec<String>,
}

/// What is wrong with the file: the line (0 when it is the whole file), the key (empty for a
/// file that does not parse), and a message. It never repeats a value of `database` (which
/// may hold a password).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// 1-based, 0 for the whole file.
    pub line: usize,
    /// The key, or empty.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// A read and checked configuration file.
#[derive(Debug, Clone)]
pub struct FileSettings {
    /// The file.
    pub path: PathBuf,
    /// Its settings, in key order.
    pub entries: Vec<Entry>,
}

/// The keys a file may set: every argument of [`Config`] but `config` and clap's own.
pub fn keys() -> Vec<String> {
    Config::command()
        .get_arguments()
        .map(|a| a.get_id().as_str().to_owned())
        .filter(|id| !NOT_KEYS.contains(&id.as_str()))
        .collect()
}

/// The file named by `--config FILE` or `--config=FILE` among `args` (before any `--`),
/// else by `LICET_CONFIG`.
pub fn path_from(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(p) = a.to_str().and_then(|s| s.strip_prefix("--config=")) {
            return Some(PathBuf::from(p));
        }
    }
    std::env::var_os("LICET_CONFIG")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// Reads `path` and checks each key and value as the flags check them.
///
/// # Errors
/// Every problem found (the file unreadable or not TOML, an unknown key, a value of the
/// wrong type or out of range, a TLS certificate without its key).
pub fn read(path: &Path) -> Result<FileSettings, Vec<Problem>> {
    let whole = |message: String| {
        vec![Problem {
            line: 0,
            key: String::new(),
            message,
        }]
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| whole(format!("cannot read {}: {e}", path.display())))?;
    let table: BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>> = toml::from_str(&text)
        .map_err(|e| {
            // The parser's own text quotes the broken line, which may hold the database
            // URL's password: only its message and the line number are shown.
            let line = e.span().map_or(0, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            });
            vec![Problem {
                line,
                key: String::new(),
                message: format!("not TOML: {}", e.message().trim()),
            }]
        })?;
    let cmd = Config::command();
    let known = keys();
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (key, value) in &table {
        let line = text[..key.span().start].matches('\n').count() + 1;
        let name = key.get_ref().clone();
        let mut problem = |message: String| {
            problems.push(Problem {
                line,
                key: name.clone(),
                message,
            });
        };
        if !known.contains(&name) {
            problem(match nearest(&name, &known) {
                Some(k) => format!("unknown key '{name}'; did you mean '{k}'?"),
                None => format!(
                    "unknown key '{name}' (the keys are the flags of licet-server --help, with _ for -: {})",
                    known.join(", ")
                ),
            });
            continue;
        }
        let values = match flag_values(value.get_ref()) {
            Ok(v) => v,
            Err(m) => {
                problem(m);
                continue;
            }
        };
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_id() == name.as_str())
            .expect("a known key is an argument");
        if values.len() > 1 && arg.get_value_delimiter().is_none() {
            problem("takes one value, not an array".to_owned());
            continue;
        }
        // The flag alone, given the value on a command line: its parser, its range.
        let alone = Command::new("licet-server")
            .arg(arg.clone().requires(clap::builder::Resettable::Reset));
        let long = arg.get_long().unwrap_or(arg.get_id().as_str());
        for v in &values {
            if let Err(e) = alone.clone().try_get_matches_from([
                OsString::from("licet-server"),
                format!("--{long}={v}").into(),
            ]) {
                problem(clap_message(&e));
            }
        }
        entries.push(Entry {
            key: name,
            line,
            values,
        });
    }
    let has = |k: &str| entries.iter().any(|e| e.key == k);
    for (one, other) in [("tls_cert", "tls_key"), ("tls_key", "tls_cert")] {
        if has(one) && !has(other) {
            let line = entries.iter().find(|e| e.key == one).map_or(0, |e| e.line);
            problems.push(Problem {
                line,
                key: one.to_owned(),
                message: format!("{one} needs {other} too"),
            });
        }
    }
    problems.sort_by_key(|p| p.line);
    if problems.is_empty() {
        Ok(FileSettings {
            path: path.to_path_buf(),
            entries,
        })
    } else {
        Err(problems)
    }
}

/// Beyond [`read`], what `check-config` checks: each file a setting names is readable, the
/// data directory (if there) is a directory, and the TLS certificate and key load.
pub fn check(settings: &FileSettings) -> Vec<Problem> {
    let mut problems = Vec::new();
    let value = |k: &str| {
        settings
            .entries
            .iter()
            .find(|e| e.key == k)
            .map(|e| (e.line, PathBuf::from(&e.values[0])))
    };
    for key in FILE_KEYS {
        if let Some((line, p)) = value(key)
            && let Err(e) = std::fs::File::open(&p).and_then(|f| {
                if f.metadata()?.is_file() {
                    Ok(())
                } else {
                    Err(std::io::Error::other("not a regular file"))
                }
            })
        {
            problems.push(Problem {
                line,
                key: (*key).to_owned(),
                message: format!("{}: {e}", p.display()),
            });
        }
    }
    if let Some((line, p)) = value("data")
        && p.exists()
        && !p.is_dir()
    {
        problems.push(Problem {
            line,
            key: "data".to_owned(),
            message: format!("{} is not a directory", p.display()),
        });
    }
    if problems.is_empty()
        && let (Some((line, cert)), Some((_, key))) = (value("tls_cert"), value("tls_key"))
        && let Err(e) = crate::tls::Tls::load(&cert, &key)
    {
        problems.push(Problem {
            line,
            key: "tls_cert".to_owned(),
            message: e,
        });
    }
    problems
}

/// `cmd` (the server's command, whose arguments or whose `init` subcommand's arguments are
/// [`Config`]'s) with the file's values as the defaults of their arguments.
pub fn apply(mut cmd: Command, settings: &FileSettings) -> Command {
    for e in &settings.entries {
        if cmd.get_arguments().any(|a| a.get_id() == e.key.as_str()) {
            cmd = cmd.mut_arg(e.key.as_str(), |a| default_from(a, e));
        }
    }
    if cmd.find_subcommand("init").is_some() {
        cmd = cmd.mut_subcommand("init", |sub| apply(sub, settings));
    }
    cmd
}

fn default_from(arg: clap::Arg, e: &Entry) -> clap::Arg {
    let arg = arg.default_values(e.values.iter().cloned());
    // --help shows defaults; this one may hold a password.
    if e.key == "database" {
        arg.hide_default_value(true)
    } else {
        arg
    }
}

/// The known key closest to `name` (a typo of it: at most a third of its letters, and at
/// least one, edited away), if there is one; `-` is taken for `_` first, since a key copied
/// from a flag is the commonest slip.
fn nearest<'k>(name: &str, known: &'k [String]) -> Option<&'k str> {
    let name = name.replace('-', "_");
    let most = (name.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| (edits(&name, k), k))
        .filter(|(d, _)| *d <= most)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

/// Levenshtein distance: the insertions, deletions and substitutions that turn `a` into `b`.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The file's value as the flag's value(s): strings as they are, numbers and booleans
/// written out, an array as several values.
fn flag_values(v: &toml::Value) -> Result<Vec<String>, String> {
    let scalar = |v: &toml::Value| match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!(
            "a {} is no value of a setting: give a string, a whole number or true/false",
            other.type_str()
        )),
    };
    match v {
        toml::Value::Array(a) => a.iter().map(scalar).collect(),
        other => scalar(other).map(|s| vec![s]),
    }
}

/// Clap's message for a refused value, without its `error: ` prefix and its advice to try
/// --help.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.key.is_empty()) {
            (0, true) => f.write_str(&self.message),
            (0, false) => write!(f, "{}: {}", self.key, self.message),
            (l, true) => write!(f, "line {l}: {}", self.message),
            (l, false) => write!(f, "line {l}: {}: {}", self.key, self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/licet-server.toml");

    /// Each key line of the example (`key = value`, or `#key = value` commented out) with
    /// the comment paragraph above it (a blank line starts a new one; key lines do not, so
    /// `tls_cert` and `tls_key` share theirs).
    fn documented(text: &str) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        let mut block = String::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                block.clear();
            } else if line == "#" || line.starts_with("# ") {
                block.push_str(line);
                block.push('\n');
            } else {
                let (key, value) = line
                    .trim_start_matches('#')
                    .split_once(" = ")
                    .unwrap_or_else(|| panic!("neither a comment nor a key: {line:?}"));
                out.push((key.to_owned(), value.to_owned(), block.clone()));
            }
        }
        out
    }

    /// docs/licet-server.toml names every setting once and nothing else, each with its flag,
    /// its variable and its true default; it is a good file as it is and with every line
    /// uncommented.
    #[test]
    fn the_example_file_documents_every_setting_once() {
        let text = std::fs::read_to_string(EXAMPLE).expect("docs/licet-server.toml");
        let documented = documented(&text);
        let mut names: Vec<&str> = documented.iter().map(|(k, _, _)| k.as_str()).collect();
        names.sort_unstable();
        let mut keys = keys();
        keys.sort_unstable();
        assert_eq!(names, keys, "documented keys vs clap's arguments");
        let cmd = Config::command();
        for (key, _, block) in &documented {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_id() == key.as_str())
                .expect("a key");
            let flag = format!("--{}", arg.get_long().expect("a long flag"));
            let env = arg.get_env().expect("a variable").to_string_lossy();
            assert!(
                block.contains(&format!("{flag}, {env}")),
                "{key}: its comment names {flag}, {env}:\n{block}"
            );
            let said = block
                .split_once("Default: ")
                .unwrap_or_else(|| panic!("{key}: no Default: in\n{block}"))
                .1
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .trim_end_matches('.')
                .trim_matches('"');
            let truth = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(",");
            let truth = if truth.is_empty() {
                "none".into()
            } else {
                truth
            };
            assert_eq!(said, truth, "{key}'s default");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let all = dir.path().join("all.toml");
        let uncommented: String = text
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => rest,
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&all, uncommented).expect("write");
        for file in [Path::new(EXAMPLE), &all] {
            let settings = read(file).unwrap_or_else(|p| panic!("{}: {p:?}", file.display()));
            assert!(!settings.entries.is_empty());
        }
        assert_eq!(read(&all).map(|s| s.entries.len()).ok(), Some(keys.len()));
    }

    #[test]
    fn nearest_takes_a_typo_not_a_stranger() {
        let known = keys();
        assert_eq!(nearest("body_limt", &known), Some("body_limit"));
        assert_eq!(nearest("ip-rate", &known), Some("ip_rate"));
        assert_eq!(nearest("tls_certificate", &known), None);
        assert_eq!(nearest("colour", &known), None);
        assert_eq!(edits("kitten", "sitting"), 3);
    }
}
