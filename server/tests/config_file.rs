//! The configuration file (`--config FILE`, `LICET_CONFIG`) and `licet-server check-config`,
//! on the real binary: the order flags > environment > file > defaults seen in what a
//! running server answers, and each kind of bad file refused with a message naming the
//! line and the key, and a documented exit code (docs/operations.md, "Configuration").

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::{Exit, Process, run_to_exit};
use serde_json::{Value, json};

/// Body sizes around the limits the tests set (2, 4 and 8 KiB) and the default (64 KiB).
const PROBES: [usize; 4] = [3_000, 6_000, 12_000, 100_000];

/// The smallest of [`PROBES`] the server refuses `413` as too large: which `--body-limit`
/// it runs with, seen from outside.
async fn smallest_refused(base: &str) -> usize {
    let http = reqwest::Client::new();
    for size in PROBES {
        let key = "x".repeat(size);
        let (st, body) = common::send(
            http.post(format!("{base}/v1/validate"))
                .json(&json!({ "license_key": key })),
        )
        .await;
        if st == 413 {
            return size;
        }
        assert!((400..500).contains(&st), "{size} bytes: {st} {body}");
    }
    panic!("no probe refused as too large");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write the file");
    p
}

/// The server started with `args` (and `--listen 127.0.0.1:0 --data DIR/data`) and `env`.
fn server(dir: &Path, args: &[&OsStr], env: &[(&str, &str)]) -> Process {
    let data = dir.join("data");
    let mut all = args.to_vec();
    all.extend(["--listen", "127.0.0.1:0", "--data"].map(OsStr::new));
    all.push(data.as_os_str());
    Process::start_args(&all, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_beat_the_environment_which_beats_the_file_which_beats_the_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "licet-server.toml", "body_limit = 2048\n");
    let config = ["--config".as_ref(), file.as_os_str()];

    // No layer: the built-in default, 64 KiB.
    let p = server(dir.path(), &[], &[]);
    assert_eq!(smallest_refused(&p.base).await, 100_000, "the default");
    drop(p);
    // The file over the default.
    let p = server(dir.path(), &config, &[]);
    assert_eq!(
        smallest_refused(&p.base).await,
        3_000,
        "the file over the default"
    );
    drop(p);
    // The environment over the file.
    let env = [("LICET_BODY_LIMIT", "4096")];
    let p = server(dir.path(), &config, &env);
    assert_eq!(
        smallest_refused(&p.base).await,
        6_000,
        "LICET_* over the file"
    );
    drop(p);
    // The flag over the environment (and the file).
    let mut with_flag = config.to_vec();
    with_flag.extend(["--body-limit", "8192"].map(OsStr::new));
    let p = server(dir.path(), &with_flag, &env);
    assert_eq!(
        smallest_refused(&p.base).await,
        12_000,
        "the flag over LICET_*"
    );
    drop(p);
    // LICET_CONFIG names the file as --config does.
    let path = file.to_str().expect("a UTF-8 path");
    let p = server(dir.path(), &[], &[("LICET_CONFIG", path)]);
    assert_eq!(smallest_refused(&p.base).await, 3_000, "LICET_CONFIG");
}

/// A key that takes several values (`--trusted-proxy A,B`) takes a TOML array, and the
/// file's listen address is the one the server listens on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_sets_a_list_and_the_listen_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let file = write(
        dir.path(),
        "licet-server.toml",
        &format!(
            "listen = \"127.0.0.1:0\"\ndata = {:?}\ntrusted_proxy = [\"127.0.0.1\", \"10.0.0.0/8\"]\nip_burst = 1\n",
            data.to_str().expect("a UTF-8 path")
        ),
    );
    // The file alone says where to listen and where the data is. The rate comes from the
    // environment, which Process sets to 0 (off) unless told otherwise: one a minute, so
    // that a slow machine cannot refill the bucket between the requests.
    let p = Process::start_args(
        &["--config".as_ref(), file.as_os_str()],
        &[("LICET_IP_RATE", "1")],
    );
    assert!(p.base.starts_with("http://127.0.0.1:"), "{}", p.base);
    assert!(
        data.join("licet.redb").exists(),
        "the file's data directory"
    );
    // From the trusted proxy 127.0.0.1, each X-Forwarded-For address has its own bucket of
    // one request: the second from one address is refused, another address is not.
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for from in ["203.0.113.1", "203.0.113.1", "203.0.113.2"] {
        let (st, _) = common::send(
            http.post(format!("{}/v1/validate", p.base))
                .header("x-forwarded-for", from)
                .json(&json!({"license_key": "nope"})),
        )
        .await;
        statuses.push(st);
    }
    assert_eq!(statuses[1], 429, "{statuses:?}");
    assert_ne!(statuses[0], 429, "{statuses:?}");
    assert_ne!(statuses[2], 429, "{statuses:?}");
}

/// What `check-config FILE` and `check-config FILE --json` say about `text`.
fn check(text: &str) -> (common::Exit, Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "licet-server.toml", text);
    check_path(&file)
}

fn check_path(file: &Path) -> (common::Exit, Value) {
    let plain = run_to_exit(&["check-config".as_ref(), file.as_os_str()]);
    let json = run_to_exit(&["check-config".as_ref(), file.as_os_str(), "--json".as_ref()]);
    assert_eq!(json.code, plain.code, "{}", json.stdout);
    let v: Value = serde_json::from_str(&json.stdout)
        .unwrap_or_else(|e| panic!("--json printed {:?}: {e}", json.stdout));
    (plain, v)
}

/// Asserts `check-config` refused the file (exit 1) with one problem on `line` for `key`
/// whose message contains `says`, in the plain output and the JSON alike.
fn assert_refused((exit, v): &(common::Exit, Value), line: u64, key: &str, says: &str) {
    assert_eq!(exit.code, Some(1), "{}{}", exit.stdout, exit.stderr);
    assert!(
        exit.stderr.contains(says) && exit.stderr.contains(&format!("line {line}: {key}")),
        "{}",
        exit.stderr
    );
    assert_eq!(v["ok"], false, "{v}");
    let problems = v["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{v}");
    assert_eq!(problems[0]["line"], line, "{v}");
    assert_eq!(problems[0]["key"], key, "{v}");
    let message = problems[0]["message"].as_str().expect("message");
    assert!(message.contains(says), "{message}");
}

#[test]
fn check_config_accepts_a_good_file_and_lists_its_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = write(
        dir.path(),
        "admin-token",
        "a-bootstrap-token-of-some-length\n",
    );
    let file = write(
        dir.path(),
        "licet-server.toml",
        &format!(
            "# a comment\nlisten = \"0.0.0.0:5480\"\nbody_limit = 2048\nlog_json = true\n\
             trusted_proxy = [\"10.0.0.5\", \"10.1.0.0/16\"]\naudit_retention = \"forever\"\n\
             admin_token_file = {:?}\n",
            token.to_str().expect("a UTF-8 path")
        ),
    );
    let (exit, v) = check_path(&file);
    assert_eq!(exit.code, Some(0), "{}", exit.stderr);
    assert!(
        exit.stdout.contains("fine, 6 settings") && exit.stdout.contains("body_limit"),
        "{}",
        exit.stdout
    );
    assert_eq!(
        v,
        json!({
            "file": file,
            "ok": true,
            "keys": ["admin_token_file", "audit_retention", "body_limit", "listen", "log_json", "trusted_proxy"],
            "problems": [],
        })
    );
}

#[test]
fn an_unknown_key_is_named_with_the_nearest_known_one() {
    let r = check("listen = \"127.0.0.1:5480\"\nbody_limt = 2048\n");
    assert_refused(
        &r,
        2,
        "body_limt",
        "unknown key 'body_limt'; did you mean 'body_limit'?",
    );
    // A flag's spelling, - for _, is the commonest slip.
    let r = check("ip-rate = 10\n");
    assert_refused(&r, 1, "ip-rate", "did you mean 'ip_rate'?");
    // Nothing near: the message lists the keys instead.
    let r = check("colour = \"blue\"\n");
    assert_refused(&r, 1, "colour", "the keys are the flags");
    // `config` is no key: a file cannot name another.
    let r = check("config = \"other.toml\"\n");
    assert_refused(&r, 1, "config", "unknown key 'config'");
}

#[test]
fn a_value_of_the_wrong_type_is_refused_naming_the_key() {
    assert_refused(
        &check("body_limit = 1.5\n"),
        1,
        "body_limit",
        "a float is no value",
    );
    assert_refused(
        &check("\nbody_limit = \"big\"\n"),
        2,
        "body_limit",
        "invalid value 'big' for '--body-limit",
    );
    assert_refused(
        &check("[body_limit]\nx = 1\n"),
        1,
        "body_limit",
        "a table is no value",
    );
    assert_refused(
        &check("ip_rate = [1, 2]\n"),
        1,
        "ip_rate",
        "takes one value, not an array",
    );
    assert_refused(
        &check("log_json = \"maybe\"\n"),
        1,
        "log_json",
        "invalid value 'maybe' for '--log-json",
    );
}

/// The file's range check is the flag's own: the same message, word for word.
#[test]
fn an_out_of_range_value_is_refused_as_the_flag_refuses_it() {
    for (key, flag, value) in [
        ("body_limit", "--body-limit", "10"),
        ("ip_burst", "--ip-burst", "0"),
        ("cache_size", "--cache-size", "100000"),
        ("prune_interval", "--prune-interval", "0"),
    ] {
        let by_flag = run_to_exit(&[flag.as_ref(), value.as_ref()]);
        assert_eq!(by_flag.code, Some(2), "{}", by_flag.stderr);
        let first = by_flag.stderr.lines().next().expect("a message");
        let says = first.strip_prefix("error: ").expect("clap's message");
        assert!(says.contains(value), "{says}");
        assert_refused(&check(&format!("{key} = {value}\n")), 1, key, says);
    }
}

#[test]
fn an_unreadable_or_broken_file_is_refused_saying_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, says) in [
        (dir.path().join("absent.toml"), "No such file"),
        (dir.path().to_path_buf(), "cannot read"),
    ] {
        let (exit, v) = check_path(&path);
        assert_eq!(exit.code, Some(1), "{}", exit.stderr);
        assert!(
            exit.stderr.contains("cannot read") && exit.stderr.contains(says),
            "{}",
            exit.stderr
        );
        assert_eq!(v["problems"][0]["line"], 0, "{v}");
    }
    // Not TOML: the parser's message, with its line.
    let (exit, v) = check("body_limit = 2048\nlisten =\n");
    assert_eq!(exit.code, Some(1), "{}", exit.stderr);
    assert!(
        exit.stderr.contains("not TOML") && exit.stderr.contains("line 2"),
        "{}",
        exit.stderr
    );
    assert_eq!(v["ok"], false, "{v}");
    // A broken line holding the database URL: its password is not shown, in either form.
    let (exit, v) =
        check("body_limit = 2048\ndatabase = \"postgres://licet:hunter2-secret@db/licet\n");
    assert_eq!(exit.code, Some(1), "{}", exit.stderr);
    assert!(exit.stderr.contains("line 2"), "{}", exit.stderr);
    for shown in [&exit.stderr, &exit.stdout, &v.to_string()] {
        assert!(!shown.contains("hunter2"), "the password is shown: {shown}");
    }
    // A file a setting names must be readable.
    let (exit, v) = check("admin_token_file = \"/nonexistent/admin-token\"\n");
    assert_eq!(exit.code, Some(1), "{}", exit.stderr);
    assert_eq!(v["problems"][0]["key"], "admin_token_file", "{v}");
}

/// Starts the server with `--config file` on a free port and `--data data`, for a start
/// that is to be refused; waits for its exit.
fn start_with(file: &std::path::Path, data: &std::path::Path) -> Exit {
    run_to_exit(&[
        "--config".as_ref(),
        file.as_os_str(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
    ])
}

/// A server given a bad file does not start: exit 2 (as for any other refused start), with
/// the same message `check-config` gives.
#[test]
fn a_server_with_a_bad_file_does_not_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "licet-server.toml", "body_limt = 2048\n");
    let data = dir.path().join("data");
    let exit = start_with(&file, &data);
    assert_eq!(exit.code, Some(2), "{}{}", exit.stdout, exit.stderr);
    assert!(
        exit.stderr.contains("line 1: body_limt: unknown key")
            && exit.stderr.contains("did you mean 'body_limit'"),
        "{}",
        exit.stderr
    );
    assert!(!data.exists(), "nothing was created");
}

/// `admin_token_file` (the systemd unit's way to pass the bootstrap token): its first line
/// is the admin token, and it wins over `LICET_ADMIN_TOKEN`; an empty one stops the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_comes_from_the_token_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = write(
        dir.path(),
        "admin-token",
        "from-the-file-0123456789abcdef\n",
    );
    let file = write(
        dir.path(),
        "licet-server.toml",
        &format!("admin_token_file = {:?}\n", token.to_str().expect("UTF-8")),
    );
    // Process sets LICET_ADMIN_TOKEN (common::ADMIN) too.
    let p = server(dir.path(), &["--config".as_ref(), file.as_os_str()], &[]);
    let http = reqwest::Client::new();
    let get = |t: &str| {
        common::send(
            http.get(format!("{}/v1/admin/products", p.base))
                .bearer_auth(t),
        )
    };
    assert_eq!(get("from-the-file-0123456789abcdef").await.0, 200);
    assert_eq!(get(common::ADMIN).await.0, 401, "the file wins");
    drop(p);
    std::fs::write(&token, "\n").expect("empty it");
    let data = dir.path().join("data");
    let exit = start_with(&file, &data);
    assert_eq!(exit.code, Some(2), "{}", exit.stderr);
    assert!(
        exit.stderr.contains("--admin-token-file") && exit.stderr.contains("first line is empty"),
        "{}",
        exit.stderr
    );
    // A token file others can read is warned of; a private one is not.
    let refused_with_mode = |mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let exit = start_with(&file, &data);
        // The log goes to standard output, the refusal to standard error.
        format!("{}{}", exit.stdout, exit.stderr)
    };
    let shared = refused_with_mode(0o644);
    assert!(shared.contains("readable by other users"), "{shared}");
    let private = refused_with_mode(0o600);
    assert!(!private.contains("readable by other users"), "{private}");
}
