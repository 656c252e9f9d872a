//! `docs/cli.md` and `docs/key-rotation.md` are sessions a newcomer can type: this test
//! types them.
//!
//! Every ```` ```console ```` block of the page is one part of a single session, run in
//! order in one temporary directory. A line `$ command` is run (continued on the next line
//! when it ends with `\`); the lines after it, up to the next `$`, are what it must print
//! (stdout, then stderr). A command that fails must be followed by `$ echo $?` showing its
//! exit code, so the page never hides a failure.
//!
//! Output is compared with the page after masking every word that holds a digit (keys,
//! ids, tokens, times and sizes differ on each run; the words around them may not). A
//! line `…` on the page stands for any number of lines.
//!
//! The commands the page may use: `licet`, `cat FILE…`, `ls DIR`, `echo TEXT [> FILE]`,
//! `echo $?`, `export NAME=VALUE`, `NAME=VALUE command` and `> FILE` / `< FILE`.
//!
//! Set `LICET_BLESS_DOCS=1` to rewrite the page's outputs with what the commands print
//! now (then review the diff).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Sandbox, words};

/// The machine id the page was recorded on (the example of machine-id(5)).
const RECORDED_MACHINE_ID: &str = "b08dfa6083e7567a1921a715000001fb";
/// Where `offline import` stores tokens on the recorded machine.
const RECORDED_LICET_HOME: &str = "/home/alice/.local/share/licet";
/// The platform the page was recorded on, as requests name it.
const RECORDED_PLATFORM: &str = "linux-x86_64";

/// One `$ command` and the output the page shows for it.
struct Step {
    command: String,
    expected: Vec<String>,
    /// Line numbers (0-based) of the expected output in the page, for blessing.
    lines: std::ops::Range<usize>,
}

fn parse(page: &str) -> Vec<Step> {
    let lines: Vec<&str> = page.lines().collect();
    let mut steps: Vec<Step> = Vec::new();
    let mut in_block = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if !in_block {
            in_block = line.trim() == "```console";
            i += 1;
            continue;
        }
        if line.trim() == "```" {
            in_block = false;
            i += 1;
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ ") {
            let mut command = cmd.to_owned();
            while command.ends_with('\\') {
                command.pop();
                i += 1;
                command.push(' ');
                command.push_str(lines[i].trim());
            }
            steps.push(Step {
                command,
                expected: Vec::new(),
                lines: i + 1..i + 1,
            });
        } else {
            let step = steps.last_mut().expect("output before any command");
            step.expected.push(line.to_owned());
            step.lines.end = i + 1;
        }
        i += 1;
    }
    steps
}

/// Every word that holds a digit becomes `#`. A word is a run of ASCII letters, digits,
/// `+` and `/`, so that a line of base64 is one word.
fn mask(line: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.bytes().any(|b| b.is_ascii_digit()) {
            out.push('#');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in line.trim_end().chars() {
        if c.is_ascii_alphanumeric() || c == '+' || c == '/' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Whether `actual` matches the page's `expected` lines (`…` matching any number).
fn matches(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e.trim() == "…" => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| mask(e) == mask(a) && matches(rest, more)),
    }
}

struct Shell<'a> {
    sandbox: &'a Sandbox,
    env: BTreeMap<String, String>,
    status: i32,
}

impl Shell<'_> {
    /// Runs one command line; returns its exit code and output lines.
    fn run(&mut self, line: &str) -> (i32, Vec<String>) {
        let mut words = words(line);
        let mut env = self.env.clone();
        while let Some((k, v)) = words.first().and_then(|w| w.split_once('=')) {
            if !k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                break;
            }
            env.insert(k.to_owned(), v.to_owned());
            words.remove(0);
        }
        let (mut stdin, mut stdout_to) = (None, None);
        if let Some(at) = words.iter().position(|w| w == "<") {
            stdin = Some(self.sandbox.read(&words[at + 1]));
            words.drain(at..at + 2);
        }
        if let Some(at) = words.iter().position(|w| w == ">") {
            stdout_to = Some(words[at + 1].clone());
            words.drain(at..at + 2);
        }
        let (status, out, err) = match words.first().map(String::as_str) {
            Some("licet") => {
                let mut cmd = self.sandbox.cmd();
                for (k, v) in &env {
                    cmd.env(k, v);
                }
                cmd.args(&words[1..]);
                if let Some(input) = stdin {
                    cmd.write_stdin(input);
                }
                let out = cmd.output().expect("run licet");
                (
                    out.status.code().expect("exit code"),
                    String::from_utf8(out.stdout).expect("UTF-8"),
                    String::from_utf8(out.stderr).expect("UTF-8"),
                )
            }
            Some("echo") if words.get(1).map(String::as_str) == Some("$?") => {
                (0, format!("{}\n", self.status), String::new())
            }
            Some("echo") => (0, format!("{}\n", words[1..].join(" ")), String::new()),
            Some("cat") => {
                let text: String = words[1..].iter().map(|f| self.sandbox.read(f)).collect();
                (0, text, String::new())
            }
            Some("ls") => {
                let dir = self.sandbox.path(words.get(1).map_or(".", String::as_str));
                let mut names: Vec<String> = std::fs::read_dir(&dir)
                    .unwrap_or_else(|e| panic!("ls {}: {e}", dir.display()))
                    .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                (
                    0,
                    names.iter().map(|n| format!("{n}\n")).collect(),
                    String::new(),
                )
            }
            Some("export") => {
                for w in &words[1..] {
                    let (k, v) = w.split_once('=').expect("export NAME=VALUE");
                    self.env.insert(k.to_owned(), v.to_owned());
                }
                (0, String::new(), String::new())
            }
            other => panic!("a page uses a command this test cannot run: {other:?}"),
        };
        self.status = status;
        let out = match stdout_to {
            Some(file) => {
                self.sandbox.write(&file, &out);
                String::new()
            }
            None => out,
        };
        let home = self.sandbox.licet_home().to_string_lossy().into_owned();
        let platform = format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH);
        let text = format!("{out}{err}")
            .replace(&home, RECORDED_LICET_HOME)
            .replace(&platform, RECORDED_PLATFORM);
        (status, text.lines().map(str::to_owned).collect())
    }
}

#[test]
fn docs_cli_md_session_runs_as_written() {
    replay("cli.md", 30);
}

#[test]
fn docs_key_rotation_md_session_runs_as_written() {
    replay("key-rotation.md", 10);
}

/// Runs every console block of `docs/NAME` as one session and compares the output.
fn replay(name: &str, min_steps: usize) {
    let page_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name);
    let page = std::fs::read_to_string(&page_path).expect("the page");
    let steps = parse(&page);
    assert!(
        steps.len() >= min_steps,
        "only {} commands found",
        steps.len()
    );
    let mut sandbox = Sandbox::new();
    sandbox.set_machine_id(RECORDED_MACHINE_ID);
    let mut shell = Shell {
        sandbox: &sandbox,
        env: BTreeMap::new(),
        status: 0,
    };
    let bless = std::env::var_os("LICET_BLESS_DOCS").is_some();
    let mut blessed: Vec<(std::ops::Range<usize>, Vec<String>)> = Vec::new();
    let mut failed_status: Option<(String, i32)> = None;
    let mut problems = Vec::new();

    for step in &steps {
        if let Some((cmd, status)) = failed_status.take() {
            assert_eq!(
                step.command, "echo $?",
                "`{cmd}` exited with {status}: the page must show it with `echo $?` next"
            );
        }
        let (status, actual) = shell.run(&step.command);
        if status != 0 {
            failed_status = Some((step.command.clone(), status));
        }
        let ok = if step.command == "echo $?" {
            actual == step.expected // exit codes are compared exactly, never masked
        } else {
            matches(&step.expected, &actual)
        };
        if !ok {
            problems.push(format!(
                "$ {}\n--- the page shows:\n{}\n--- the command printed:\n{}\n",
                step.command,
                step.expected.join("\n"),
                actual.join("\n")
            ));
        }
        if bless {
            blessed.push((step.lines.clone(), bless_output(&step.expected, &actual)));
        }
    }
    if let Some((cmd, status)) = failed_status {
        panic!("`{cmd}` exited with {status}: the page must show it with `echo $?`");
    }
    if bless {
        let mut lines: Vec<String> = page.lines().map(str::to_owned).collect();
        for (range, new) in blessed.into_iter().rev() {
            lines.splice(range, new);
        }
        std::fs::write(&page_path, lines.join("\n") + "\n").expect("write the page");
        return;
    }
    assert!(
        problems.is_empty(),
        "docs/{name} does not match what licet prints (LICET_BLESS_DOCS=1 rewrites it):\n\n{}",
        problems.join("\n")
    );
}

/// The new output for the page: what was printed, but where the page shortened it with
/// `…`, shortened the same way (as many lines kept before and after).
fn bless_output(expected: &[String], actual: &[String]) -> Vec<String> {
    let Some(at) = expected.iter().position(|l| l.trim() == "…") else {
        return actual.to_vec();
    };
    let (head, tail) = (at, expected.len() - at - 1);
    if head + tail >= actual.len() {
        return actual.to_vec();
    }
    let mut out = actual[..head].to_vec();
    out.push("…".into());
    out.extend_from_slice(&actual[actual.len() - tail..]);
    out
}

#[test]
fn masking_keeps_words_and_hides_values() {
    assert_eq!(
        mask("Wrote keys/signing-key.pem (EdDSA, kid 5d0c3bbf1e3e4a51, private, mode 0600)"),
        "Wrote keys/signing-key.pem (EdDSA, kid #, private, mode #)"
    );
    assert_eq!(
        mask("expires at:    2027-11-29T19:22:13Z"),
        "expires at:    #-#-#:#:#"
    );
    assert_eq!(
        mask("MCowBQYDK2VwAyEAhU/741AMb4cYCanPaiIjm0VVjOlZLbJ7l+pKnCcHWN8="),
        "#="
    );
    let page = vec!["a".to_owned(), "…".to_owned(), "z 1".to_owned()];
    let lines = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert!(matches(&page, &lines(&["a", "b", "c", "z 2"])));
    assert!(matches(&page, &lines(&["a", "z 9"])));
    assert!(!matches(&page, &lines(&["a", "b"])));
    assert!(!matches(&page, &lines(&["b", "z 1"])));
}
