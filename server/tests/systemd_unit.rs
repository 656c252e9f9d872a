//! `docs/licet-server.service`, the example systemd unit: `systemd-analyze verify` accepts
//! it without a word, `systemd-analyze security` rates it well hardened, it agrees with the
//! example configuration file, and its `ExecReload` (SIGHUP) never stops a server.
//!
//! Without `systemd-analyze` (package `systemd`, which `.ci/run` installs) the tests say so
//! and pass, except under CI (`CI` set), where that is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/licet-server.service");
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/licet-server.toml");
/// Where the unit expects the binary; `verify` checks that the file is there and
/// executable, so the tests point a copy of the unit at the one cargo built.
const INSTALLED: &str = "/usr/local/bin/licet-server";

fn unit() -> String {
    std::fs::read_to_string(UNIT).unwrap_or_else(|e| panic!("{UNIT}: {e}"))
}

/// `systemd-analyze`, or `None` after saying loudly that the test did not run (a failure
/// under CI).
fn systemd_analyze(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("systemd-analyze"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let msg = format!("SKIPPED {test}: no systemd-analyze (apt-get install systemd)");
        eprintln!("\n*** {msg} ***\n");
        assert!(std::env::var_os("CI").is_none(), "{msg}; CI is set");
    }
    found
}

/// A copy of the unit in a temporary directory (under its own name: verify reads the unit's
/// name from the file name), its `ExecStart` binary the one cargo built.
fn unit_copy() -> (tempfile::TempDir, PathBuf) {
    let text = unit();
    assert!(
        text.contains(&format!("ExecStart={INSTALLED} ")),
        "the unit starts {INSTALLED}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("licet-server.service");
    let built = env!("CARGO_BIN_EXE_licet-server");
    std::fs::write(&path, text.replace(INSTALLED, built)).expect("write the copy");
    (dir, path)
}

fn run(analyze: &Path, args: &[&str], unit: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(analyze)
        .args(args)
        .arg(unit)
        .current_dir(unit.parent().expect("a directory"))
        // No pager, no colours, no questions.
        .env("SYSTEMD_PAGER", "")
        .env("SYSTEMD_COLORS", "0")
        .output()
        .expect("systemd-analyze runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `verify` exits 0 on an unknown key or a bad value (it only warns), so anything it says
/// about the unit is a failure too.
#[test]
fn systemd_analyze_verify_accepts_the_unit_without_a_warning() {
    let Some(analyze) = systemd_analyze("systemd_analyze_verify_accepts_the_unit") else {
        return;
    };
    let (_dir, copy) = unit_copy();
    let (code, stdout, stderr) = run(&analyze, &["verify"], &copy);
    assert_eq!(code, Some(0), "verify failed:\n{stdout}{stderr}");
    let about_the_unit: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("licet-server"))
        .collect();
    assert!(
        about_the_unit.is_empty(),
        "verify warned about the unit:\n{stderr}"
    );
}

/// `systemd-analyze security` rates the unit's sandbox from 0 (locked down) to 10; the unit
/// is kept at 2 or below ("OK"), so that a hardening line dropped by mistake shows.
#[test]
fn systemd_analyze_security_rates_the_unit_well_hardened() {
    let Some(analyze) = systemd_analyze("systemd_analyze_security_rates_the_unit") else {
        return;
    };
    let (_dir, copy) = unit_copy();
    let (code, stdout, stderr) = run(&analyze, &["security", "--offline=true"], &copy);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let level: f64 = stdout
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for licet-server.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{stdout}{stderr}"));
    assert!(level <= 2.0, "exposure {level} (at most 2.0):\n{stdout}");
}

/// The unit and the example configuration agree: it starts the server with the file's
/// installed path, and the file's data directory is the one the unit lets it write.
#[test]
fn the_unit_and_the_example_configuration_agree() {
    let text = unit();
    let value = |key: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        value("ExecStart"),
        [format!("{INSTALLED} --config /etc/licet/licet-server.toml")]
    );
    assert_eq!(value("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    assert_eq!(value("StateDirectory"), ["licet"]);
    let example = std::fs::read_to_string(EXAMPLE).expect("docs/licet-server.toml");
    assert!(
        example.lines().any(|l| l == "data = \"/var/lib/licet\""),
        "the example's data is /var/lib/ + StateDirectory"
    );
    for must in [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(text.lines().any(|l| l == must), "{must}");
    }
}

/// `systemctl reload` sends SIGHUP: a server without TLS (nothing to reload) keeps running
/// and answering, rather than dying of the signal's default action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_without_tls_leaves_the_server_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut p = common::Process::start(&common::data_dir(&dir), &[]);
    let http = reqwest::Client::new();
    for _ in 0..2 {
        let st = Command::new("kill")
            .args(["-HUP", &p.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(st.success());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            p.child.try_wait().expect("wait").is_none(),
            "the server died of SIGHUP"
        );
        let (st, body) = common::send(http.get(format!("{}/healthz", p.base))).await;
        assert_eq!(st, 200, "{body}");
    }
    assert!(p.terminate().success());
}
