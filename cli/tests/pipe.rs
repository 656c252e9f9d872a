//! `licet … | head -1`: a reader that stops early closes the pipe, and every later write
//! fails (EPIPE). Each command must then stop quietly, never panic (exit 101), and keep
//! the exit code that says what it found.

mod common;

use std::process::{Output, Stdio};

use common::{PRODUCT, Sandbox, words};

const KEY: &str = "--key keys/signing-key.pem";
const PUB: &str = "--pubkey keys/signature.pem";

/// Runs `licet LINE` with standard output a pipe whose reading end is already closed, so
/// its first write fails as it does after `head` has read its line.
fn closed_stdout(s: &Sandbox, line: &str) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    s.std_cmd()
        .args(words(line))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("licet {line}: {e}"))
}

#[test]
fn every_command_stops_quietly_when_its_reader_is_gone() {
    let s = Sandbox::new();
    // Made with stdout closed: the work is done before the report that nobody reads.
    let setup = [
        "keys generate".to_owned(),
        format!("mint license {KEY} --product {PRODUCT} --days 30 --out license.lic"),
        format!(
            "mint license {KEY} --product {PRODUCT} --expires 2020-01-01 --allow-expired --out expired.lic"
        ),
        "offline request --license license.lic --out request.json".to_owned(),
        format!("offline respond {KEY} --request request.json --out machine.lic"),
    ];
    let fp = "ab".repeat(32);
    let cases = [
        (format!("keys public {KEY}"), 0),
        (format!("keys public {KEY} --json"), 0),
        ("keys generate --dir more-keys --json".to_owned(), 0),
        (
            format!("mint license {KEY} --product {PRODUCT} --days 30"),
            0,
        ),
        (format!("mint license {KEY} --product {PRODUCT} --json"), 0),
        (
            format!("mint machine {KEY} --license license.lic --fingerprint {fp}"),
            0,
        ),
        (format!("mint lease {KEY} --license license.lic --json"), 0),
        ("inspect license.lic".to_owned(), 0),
        ("inspect license.lic --json".to_owned(), 0),
        (format!("verify {PUB} license.lic"), 0),
        (format!("verify {PUB} license.lic --json"), 0),
        // Not valid stays not valid, and a usage error stays one, whoever reads.
        (format!("verify {PUB} expired.lic --json"), 1),
        (
            "verify --pubkey nowhere.pem license.lic --json".to_owned(),
            2,
        ),
        (format!("fingerprint --product {PRODUCT}"), 0),
        (format!("fingerprint --product {PRODUCT} --json"), 0),
        ("offline request --license license.lic".to_owned(), 0),
        ("offline request --license license.lic --json".to_owned(), 0),
        (format!("offline import machine.lic {PUB} --json"), 0),
        (format!("offline import machine.lic {PUB}"), 0),
        ("keys rotate".to_owned(), 0),
        ("completions bash".to_owned(), 0),
        ("--help".to_owned(), 0),
        ("--version".to_owned(), 0),
    ];
    let setup = setup.into_iter().map(|l| (l, 0));
    for (line, code) in setup.chain(cases) {
        let out = closed_stdout(&s, &line);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "licet {line} panicked: {err}");
        assert_eq!(
            out.status.code(),
            Some(code),
            "licet {line} with its reader gone: {err}"
        );
        if code == 0 {
            assert_eq!(err, "", "licet {line}: nothing on stderr");
        }
    }
    // The commands did their work: their files are there.
    for file in [
        "keys/signing-key.pem",
        "license.lic",
        "request.json",
        "machine.lic",
    ] {
        assert!(s.path(file).is_file(), "{file}");
    }
}
