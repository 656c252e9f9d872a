//! What only the PostgreSQL backend has: several server processes on one database, the
//! errors of a database that cannot be reached, a password that is never shown, backup
//! through pg_dump. (Every rule is tested on both backends by the other suites.)

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::{ADMIN, Process, fp, postgres};
use serde_json::json;

/// The URL with the password swapped, keeping everything else.
fn with_password(url: &str, password: &str) -> String {
    url.replacen(postgres::PASSWORD, password, 1)
}

#[test]
fn an_unreachable_database_is_a_clear_error_naming_host_and_database_never_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    // Nothing listens there now.
    let url = format!(
        "postgres://licet:{}@127.0.0.1:{port}/vendordb",
        postgres::PASSWORD
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&tmp);
    let out = common::run_to_exit(&[
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--database".as_ref(),
        url.as_ref(),
    ]);
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{port}/vendordb")),
        "{}",
        out.stderr
    );
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        !all.contains(postgres::PASSWORD),
        "the password was shown: {all}"
    );
}

#[test]
fn a_wrong_password_or_a_bad_url_is_refused_without_showing_it() {
    let url = postgres::database();
    let wrong = with_password(&url, "not-the-password-4d1c");
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&tmp);
    for (given, secret) in [
        (wrong.as_str(), "not-the-password-4d1c"),
        ("postgres://u:hunter2-secret@[bad", "hunter2-secret"),
        ("mysql://u:hunter2-secret@h/db", "hunter2-secret"),
    ] {
        let out = common::run_to_exit(&[
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
            "--database".as_ref(),
            given.as_ref(),
        ]);
        assert_eq!(out.code, Some(2), "{given}: {}{}", out.stdout, out.stderr);
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(!all.contains(secret), "the password was shown: {all}");
        assert!(
            all.contains("postgres://") || all.contains("password authentication failed"),
            "{all}"
        );
    }
}

#[test]
fn help_never_shows_the_url_from_the_environment() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_licet-server"))
        .arg("--help")
        .env("LICET_DATABASE_URL", postgres::database())
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--database"), "{text}");
    assert!(!text.contains(postgres::PASSWORD), "{text}");
}

/// A server on PostgreSQL logging at trace level, through requests and a stop: its
/// password appears nowhere in what it wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_is_never_logged() {
    let url = postgres::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&tmp);
    let log = tmp.path().join("log");
    let file = std::fs::File::create(&log).expect("log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_licet-server"))
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env("LICET_DATABASE_URL", &url)
        .env("LICET_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "trace")
        .stdout(file.try_clone().expect("clone"))
        .stderr(file)
        .spawn()
        .expect("start");
    let base = {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("licet-server listening on ").nth(1) {
                break rest.lines().next().expect("line").trim().to_owned();
            }
            assert!(std::time::Instant::now() < deadline, "no start: {text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let http = reqwest::Client::new();
    let (key, _) = common::setup(&base, &http, 2).await;
    for n in 0..3 {
        common::send(
            http.post(format!("{base}/v1/activate"))
                .json(&json!({"license_key": key, "fingerprint": fp(n)})),
        )
        .await;
    }
    let (st, h) = common::send(http.get(format!("{base}/healthz"))).await;
    assert_eq!(st, 200, "{h}");
    assert_eq!(h["database"]["backend"], "postgres");
    assert_eq!(h["database"]["answers"], true);
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("using PostgreSQL"), "{text}");
    assert!(
        !text.contains(postgres::PASSWORD),
        "the password was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_on_postgres_says_to_use_pg_dump() {
    let s = common::TestServer::start_on(common::Db::Postgres).await;
    let (st, body) = s.admin(reqwest::Method::GET, "/backup", None).await;
    assert_eq!(st, 409, "{body}");
    assert_eq!(body["error"]["code"], "CONFLICT");
    let msg = body["error"]["message"].as_str().expect("message");
    assert!(msg.contains("pg_dump"), "{msg}");
    assert!(!msg.contains(postgres::PASSWORD), "{msg}");
}

/// `init --database` prepares a fresh database and the signing key, names the database it
/// used (never the redb file, never the password), changes nothing when repeated, and the
/// server then serves from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_prepares_a_postgres_database_and_names_it() {
    let url = postgres::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&tmp);
    let init = || {
        common::run_to_exit(&[
            "init".as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
            "--database".as_ref(),
            url.as_ref(),
        ])
    };
    let db_name = url
        .rsplit('/')
        .next()
        .and_then(|s| s.split('?').next())
        .expect("database name");
    let first = init();
    assert_eq!(first.code, Some(0), "{}{}", first.stdout, first.stderr);
    assert!(
        first.stdout.contains("PostgreSQL database")
            && first.stdout.contains(&format!("/{db_name}")),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.contains("generated a new signing key"),
        "{}",
        first.stdout
    );
    assert!(!first.stdout.contains("licet.redb"), "{}", first.stdout);
    let version = postgres::query(&url, "SELECT version FROM schema_version");
    assert_eq!(version.len(), 1, "no schema after init: {version:?}");

    let again = init();
    assert_eq!(again.code, Some(0), "{}{}", again.stdout, again.stderr);
    assert!(
        !again.stdout.contains("generated a new signing key"),
        "a second init made another key: {}",
        again.stdout
    );
    for out in [&first, &again] {
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(
            !all.contains(postgres::PASSWORD),
            "the password was shown: {all}"
        );
    }
    assert!(
        !licet_server::database_path(&data).exists(),
        "init on PostgreSQL created a redb file"
    );

    let p = Process::start_on(&data, &Some(url.clone()));
    let http = reqwest::Client::new();
    let (st, h) = common::send(http.get(format!("{}/healthz", p.base))).await;
    assert_eq!(st, 200, "{h}");
    assert_eq!(h["database"]["backend"], "postgres");
    assert!(p.terminate().success());
}

/// A product deleted while licenses for it are written but not yet committed: the
/// deletion waits for them and is then refused (they exist), never leaving licenses whose
/// product is gone. The audit table is held locked so the creations stay uncommitted after
/// reading the product, the window a race needs (a foreign key closes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_product_deleted_under_uncommitted_licenses_is_refused() {
    let url = postgres::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&tmp);
    let p = Process::start_on(&data, &Some(url.clone()));
    let http = reqwest::Client::new();
    let admin = |r: reqwest::RequestBuilder| common::send(r.bearer_auth(ADMIN));
    let (st, _) = admin(
        http.post(format!("{}/v1/admin/products", p.base))
            .json(&json!({"name": "doomed"})),
    )
    .await;
    assert_eq!(st, 201);

    let held = postgres::hold(&url, "LOCK TABLE audit IN EXCLUSIVE MODE");
    let mut creates = Vec::new();
    for _ in 0..5 {
        let r = http
            .post(format!("{}/v1/admin/licenses", p.base))
            .json(&json!({"product": "doomed"}));
        creates.push(tokio::spawn(admin(r)));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delete = tokio::spawn(admin(
        http.delete(format!("{}/v1/admin/products/doomed", p.base)),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(held);

    for c in creates {
        let (st, body) = c.await.expect("task");
        assert_eq!(st, 201, "{body}");
    }
    let (st, body) = delete.await.expect("task");
    assert_eq!(
        st, 409,
        "the product was deleted under its licenses: {body}"
    );
    let (st, listed) = admin(http.get(format!(
        "{}/v1/admin/licenses?product=doomed&limit=100",
        p.base
    )))
    .await;
    assert_eq!(st, 200, "{listed}");
    assert_eq!(listed["licenses"].as_array().map(Vec::len), Some(5));
    assert!(p.terminate().success());
}

/// Three processes on one database and one key directory, as a deployment shares them
/// (docs/scale-out.md).
fn three_processes(url: &str, tmp: &tempfile::TempDir) -> Vec<Process> {
    let keys = tmp.path().join("d0");
    (0..3)
        .map(|_| {
            Process::start_with(
                &keys,
                &[],
                &["--database", url, "--database-pool", "8"],
                None,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_hold_every_limit_exactly() {
    let url = postgres::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let ps = three_processes(&url, &tmp);
    let bases: Vec<String> = ps.iter().map(|p| p.base.clone()).collect();
    let http = reqwest::Client::new();
    let (key, id) = common::setup(&bases[0], &http, 10).await;

    // 300 activations with distinct fingerprints, spread over the three.
    let (ok, refused) = common::concurrent(
        &http,
        &bases,
        "/v1/activate",
        300,
        |n| json!({"license_key": key, "fingerprint": fp(n)}),
        "ACTIVATION_LIMIT_REACHED",
    )
    .await;
    assert_eq!((ok, refused), (10, 290));
    for base in &bases {
        assert_eq!(common::machines(base, &http, &id).await.len(), 10);
    }

    // 150 lease obtains on 5 seats, spread over the three.
    let (st, l) = common::send(
        http.post(format!("{}/v1/admin/licenses", bases[1]))
            .bearer_auth(ADMIN)
            .json(&json!({"product": "p", "max_leases": 5})),
    )
    .await;
    assert_eq!(st, 201, "{l}");
    let lease_key = l["license_key"].as_str().expect("key").to_owned();
    let (ok, refused) = common::concurrent(
        &http,
        &bases,
        "/v1/leases/obtain",
        150,
        |_| json!({"license_key": lease_key}),
        "LEASE_LIMIT_REACHED",
    )
    .await;
    assert_eq!((ok, refused), (5, 145));

    // The audit log is one ordered sequence, whichever process wrote: seq 1..=n, no gap.
    let rows = postgres::query(&url, "SELECT min(seq), max(seq), count(*) FROM audit");
    let row = &rows[0];
    assert_eq!(row[0].as_deref(), Some("1"));
    assert_eq!(row[1], row[2], "audit seqs have a gap: {row:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_killed_mid_stream_loses_no_answered_activation() {
    let url = postgres::database();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut ps = three_processes(&url, &tmp);
    let bases: Vec<String> = ps.iter().map(|p| p.base.clone()).collect();
    let http = reqwest::Client::new();
    let (key, id) = common::setup(&bases[0], &http, 10_000).await;
    let stop = Arc::new(AtomicBool::new(false));
    let streaming = tokio::spawn(common::stream_answers(
        bases.clone(),
        key,
        24,
        3_000,
        Arc::clone(&stop),
        Duration::ZERO,
    ));
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let victim = ps.remove(1);
    tokio::task::spawn_blocking(move || victim.kill())
        .await
        .expect("kill");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let answers = streaming.await.expect("stream");
    assert!(
        answers.acked.len() > 24,
        "too few activations before the kill to prove anything: {answers:?}"
    );
    // Every 2xx of any process, the killed one included, is in the database.
    let stored = common::machines(&bases[0], &http, &id).await;
    for f in &answers.acked {
        assert!(
            stored.contains(f),
            "activation {f} was answered 201 but is lost"
        );
    }
    eprintln!(
        "3 processes, one SIGKILLed: {} answered 201, {} stored, others {:?}",
        answers.acked.len(),
        stored.len(),
        answers.others
    );
}
