//! Helpers for running the real `licet` binary in a sandbox.
//!
//! Every [`Sandbox`] is a fresh temporary directory used as the working directory, with
//! `LICET_HOME`, `HOME` and `XDG_DATA_HOME` pointing inside it and a fixed
//! `LICET_MACHINE_ID`, so no test reads or writes the real home or depends on the machine
//! it runs on. `LICET_KEY_PASSPHRASE` is removed unless a test sets it. Standard input is
//! a pipe, never a terminal, so nothing ever waits at a prompt.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use assert_cmd::assert::Assert;
use serde_json::Value;
use tempfile::TempDir;

/// The machine id every sandbox starts with.
pub const MACHINE_A: &str = "machine-a-0f3c9e";
/// The product most tests use.
pub const PRODUCT: &str = "acme-studio-pro";

/// `test-vectors/` of the workspace.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors")
}

/// One test's private working directory.
pub struct Sandbox {
    dir: TempDir,
    machine_id: String,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temporary directory"),
            machine_id: MACHINE_A.into(),
        }
    }

    /// The sandbox's root (the commands' working directory).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the sandbox.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Where `offline import` stores tokens (`LICET_HOME`).
    pub fn licet_home(&self) -> PathBuf {
        self.path("licet-home")
    }

    /// Changes the machine id later commands run with.
    pub fn set_machine_id(&mut self, id: &str) {
        self.machine_id = id.into();
    }

    /// A `licet` command ready to run in the sandbox.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::from_std(self.std_cmd());
        cmd.timeout(std::time::Duration::from_secs(60));
        cmd
    }

    /// The same as [`Sandbox::cmd`], as a plain [`std::process::Command`], for a test that
    /// sets up the standard streams itself.
    pub fn std_cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_licet"));
        cmd.current_dir(self.root())
            .env("LICET_HOME", self.licet_home())
            .env("LICET_MACHINE_ID", &self.machine_id)
            .env("HOME", self.path("home"))
            .env("XDG_DATA_HOME", self.path("home/.local/share"))
            .env_remove("LICET_KEY_PASSPHRASE");
        cmd
    }

    /// Runs `licet LINE` (LINE split as a shell would, see [`words`]).
    pub fn licet(&self, line: &str) -> Assert {
        self.cmd().args(words(line)).assert()
    }

    /// Runs `licet LINE` with extra environment variables.
    pub fn licet_env(&self, env: &[(&str, &str)], line: &str) -> Assert {
        let mut cmd = self.cmd();
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(words(line)).assert()
    }

    /// Runs `licet LINE` with `input` on standard input.
    pub fn licet_stdin(&self, input: &str, line: &str) -> Assert {
        self.cmd().args(words(line)).write_stdin(input).assert()
    }

    /// Runs `licet LINE`, asserts success and an empty stderr, and returns stdout.
    pub fn ok(&self, line: &str) -> String {
        stdout(&self.licet(line).success().stderr(""))
    }

    /// As [`Sandbox::ok`], parsing stdout as JSON.
    pub fn ok_json(&self, line: &str) -> Value {
        json(&self.ok(line))
    }

    /// Runs `licet LINE` and checks a failure: exit code `exit`, nothing on stdout,
    /// `error[CODE]: …` on stderr. Returns stderr.
    pub fn fails(&self, line: &str, exit: i32, code: &str) -> String {
        expect_failure(self.licet(line), exit, code)
    }

    /// As [`Sandbox::fails`], with extra environment variables.
    pub fn fails_env(&self, env: &[(&str, &str)], line: &str, exit: i32, code: &str) -> String {
        expect_failure(self.licet_env(env, line), exit, code)
    }

    /// Runs `licet LINE --json` and checks a failure reported as JSON on stdout, with exit
    /// code `exit`, `"ok": false`, the error code `code` and nothing on stderr. Returns
    /// the JSON.
    pub fn fails_json(&self, line: &str, exit: i32, code: &str) -> Value {
        expect_json_failure(self.licet(&format!("{line} --json")), exit, code)
    }

    /// Writes a file in the sandbox.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }

    /// Reads a file of the sandbox.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Copies `test-vectors/keys/NAME` into the sandbox; returns its relative path.
    pub fn test_key(&self, name: &str) -> String {
        let rel = format!("test-keys/{name}");
        let text = std::fs::read_to_string(vectors_dir().join("keys").join(name))
            .unwrap_or_else(|e| panic!("test-vectors/keys/{name}: {e}"));
        self.write(&rel, &text);
        rel
    }

    /// Makes an Ed25519 key in `keys/` and returns its kid.
    pub fn keys(&self) -> String {
        self.ok_json("keys generate --json")["kid"]
            .as_str()
            .expect("kid")
            .to_owned()
    }

    /// Mints a license for [`PRODUCT`] (with `extra` options) with `keys/signing-key.pem`
    /// and returns its text form.
    pub fn license(&self, extra: &str) -> String {
        self.ok(&format!(
            "mint license --key keys/signing-key.pem --product {PRODUCT} {extra}"
        ))
        .trim()
        .to_owned()
    }

    /// This machine's fingerprint for `product`, as `licet fingerprint` prints it.
    pub fn fingerprint(&self, product: &str) -> String {
        self.ok(&format!("fingerprint --product {product}"))
            .trim()
            .to_owned()
    }
}

/// Splits a command line into words as a POSIX shell would for the simple cases used
/// here: blanks separate words, '…' and "…" quote (no escapes inside), '' is an empty
/// word.
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unclosed quote in: {line}");
    if in_word {
        out.push(word);
    }
    out
}

/// Checks a failure reported on stderr; returns stderr.
pub fn expect_failure(assert: Assert, exit: i32, code: &str) -> String {
    let assert = assert.code(exit).stdout("");
    let err = stderr(&assert);
    assert!(
        err.starts_with(&format!("error[{code}]: ")),
        "expected error[{code}] on stderr, got: {err}"
    );
    // One line that says what is wrong and what to do.
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

/// Checks a failure reported as JSON on stdout; returns the JSON.
pub fn expect_json_failure(assert: Assert, exit: i32, code: &str) -> Value {
    let assert = assert.code(exit).stderr("");
    let v = json(&stdout(&assert));
    assert_eq!(v["ok"], false, "{v:#}");
    assert_eq!(v["error"]["code"], code, "{v:#}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "a message: {v:#}"
    );
    v
}

/// The standard output of a finished command.
pub fn stdout(assert: &Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).expect("UTF-8 stdout")
}

/// The standard error of a finished command.
pub fn stderr(assert: &Assert) -> String {
    String::from_utf8(assert.get_output().stderr.clone()).expect("UTF-8 stderr")
}

/// Parses JSON output.
pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Seconds since 1970, now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Unix permission bits of a file.
#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The base64 body of a PEM file (the lines between BEGIN and END, joined).
pub fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::trim)
        .collect()
}

/// Decodes standard base64 (for reading key bytes in tests).
pub fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("not base64: {c}"));
        acc = (acc << 6) | u32::try_from(v).expect("small");
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).expect("a byte"));
        }
    }
    out
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
