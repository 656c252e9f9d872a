//! End to end: the example application (`examples/seat.rs`, built as `licet-seat-demo`)
//! run as real processes against a real server, two clients on a one-seat license with a
//! two-second lease TTL:
//!
//! 1. the whole life once: activate, verify the stored token offline, hold a seat, release;
//! 2. the first holds the seat past several TTLs (background renewal); the second is
//!    refused until the first releases, then gets it;
//! 3. the first holds it again and is killed (SIGKILL, no release): the second is refused
//!    at first and gets the seat once the TTL has run out.
//!
//! Every wait is bounded, and every process started here is killed on drop, also when an
//! assertion fails half-way.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

use common::Server;

const PRODUCT: &str = "acme-cad";
const TTL: u64 = 2;

/// One run of the example application.
struct Demo {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

/// What every run needs: the server, the license, the keyring file.
struct Setup {
    server: Server,
    key: String,
    keyring: PathBuf,
    tmp: tempfile::TempDir,
}

impl Setup {
    fn demo(&self, name: &'static str, args: &[&str]) -> Demo {
        // Each client is its own machine with its own store.
        let home: PathBuf = self.tmp.path().join(name);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_licet-seat-demo"));
        cmd.args(args)
            .args(["--server", &self.server.base, "--product", PRODUCT])
            .args([
                "--license",
                &self.key,
                "--client-id",
                name,
                "--timeout",
                "2",
            ])
            .arg("--keyring")
            .arg(&self.keyring)
            .env("LICET_HOME", &home)
            .env("LICET_MACHINE_ID", format!("machine-{name}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("licet-seat-demo starts");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("[{name}] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[{name} stderr] {line}");
            }
        });
        Demo {
            name,
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
        }
    }
}

impl Demo {
    /// Waits, at most `within`, for a line starting with `prefix`; returns it.
    fn expect(&mut self, prefix: &str, within: Duration) -> String {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "{}: no line '{prefix}…' within {within:?} ({e:?}); it printed: {:#?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// Asks it to release its seat and stop (a line on its standard input).
    fn release(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"release\n");
        }
    }

    /// Waits, at most `within`, for it to exit.
    fn exit(&mut self, within: Duration) -> ExitStatus {
        let end = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            assert!(
                Instant::now() < end,
                "{}: still running after {within:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: it gets no chance to release anything.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn count(&self, prefix: &str) -> usize {
        self.seen.iter().filter(|l| l.starts_with(prefix)).count()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

fn setup() -> Setup {
    let server = Server::start();
    let (_, key) = server.license(
        PRODUCT,
        json!({"max_leases": 1, "lease_ttl": TTL, "lease_ttl_max": TTL, "features": ["render"]}),
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    // The vendor's signature.pem, as an application would ship it.
    let keyring = tmp.path().join("signature.pem");
    std::fs::write(&keyring, &server.signature_pem).expect("write keyring");
    Setup {
        server,
        key,
        keyring,
        tmp,
    }
}

const STEP: Duration = Duration::from_secs(10);

/// Asserts that `line` shows, after `label`, a time as people read it
/// (`2026-12-03T12:00:00Z`), not seconds since 1970.
fn assert_rfc3339_after(line: &str, label: &str) {
    let time: String = line
        .split_once(label)
        .unwrap_or_else(|| panic!("no '{label}' in: {line}"))
        .1
        .chars()
        .take_while(|c| *c != ')' && *c != ' ')
        .collect();
    let shape: String = time
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999-99-99T99:99:99Z", "{line}");
}

#[test]
fn two_clients_share_one_seat() {
    let started = Instant::now();
    let s = setup();

    // 1. The whole life, once.
    let mut life = s.demo("a", &["life"]);
    let activated = life.expect("ACTIVATED machine ", STEP);
    assert_rfc3339_after(&activated, "check in before ");
    let offline = life.expect("OFFLINE machine token verified", STEP);
    assert!(offline.contains("features [render]"), "{offline}");
    assert_rfc3339_after(&offline, "check in before ");
    let held = life.expect("SEAT HELD", STEP);
    assert_rfc3339_after(&held, "expires at ");
    life.expect("SEAT RELEASED", STEP);
    assert!(life.exit(STEP).success());
    assert!(
        store(s.tmp.path(), "a")["machine_token"].is_string(),
        "the machine token is stored for the next, offline, start"
    );

    // 2. A holds the seat well past its TTL; B is refused until A releases.
    let mut a = s.demo("a", &["hold"]);
    a.expect("SEAT HELD", STEP);
    std::thread::sleep(Duration::from_secs(2 * TTL + 1));
    let mut b = s.demo("b", &["hold"]);
    b.expect("SEAT REFUSED LEASE_LIMIT_REACHED", STEP);
    assert_eq!(b.exit(STEP).code(), Some(1));
    a.release();
    a.expect("SEAT RELEASED", STEP);
    assert!(a.exit(STEP).success());
    assert!(
        a.count("SEAT RENEWED") >= 2,
        "held past the TTL by renewals in the background: {:#?}",
        a.seen
    );

    let mut b = s.demo("b", &["hold"]);
    b.expect("SEAT HELD", STEP);
    b.release();
    b.expect("SEAT RELEASED", STEP);
    assert!(b.exit(STEP).success());

    // 3. A holds it again and dies without releasing: B gets it once the TTL ran out.
    let mut a = s.demo("a", &["hold"]);
    a.expect("SEAT HELD", STEP);
    std::thread::sleep(Duration::from_millis(700));
    a.kill();
    let killed = Instant::now();
    let mut b = s.demo("b", &["hold", "--wait", "10"]);
    b.expect("SEAT WAITING LEASE_LIMIT_REACHED", STEP);
    b.expect("SEAT HELD", STEP);
    let waited = killed.elapsed();
    assert!(
        waited <= Duration::from_secs(TTL + 3),
        "the seat should be free at most a TTL after the last renewal; waited {waited:?}"
    );
    b.release();
    b.expect("SEAT RELEASED", STEP);
    assert!(b.exit(STEP).success());

    eprintln!("end to end: {:?}", started.elapsed());
}

fn store(tmp: &Path, name: &str) -> serde_json::Value {
    let path = tmp.join(name).join(PRODUCT).join("client.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("store")).expect("json")
}
