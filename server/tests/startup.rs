//! Start-up: what the real binary refuses, and what it leaves untouched when it does.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{ADMIN, Process, run_to_exit};
use serde_json::json;

fn args<'a>(listen: &'a str, data: &'a Path) -> [&'a OsStr; 4] {
    [
        "--listen".as_ref(),
        listen.as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
    ]
}

/// Starts the real server on `data`, makes a license and stops; returns its key.
async fn first_run(data: &Path) -> String {
    let p = Process::start(data, &[]);
    let http = reqwest::Client::new();
    let (st, _) = common::send(
        http.post(format!("{}/v1/admin/products", p.base))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "p"})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, l) = common::send(
        http.post(format!("{}/v1/admin/licenses", p.base))
            .bearer_auth(ADMIN)
            .json(&json!({"product": "p"})),
    )
    .await;
    assert_eq!(st, 201, "{l}");
    assert!(p.terminate().success());
    l["license_key"].as_str().expect("key").to_owned()
}

async fn validates(base: &str, key: &str) -> u16 {
    common::send(
        reqwest::Client::new()
            .post(format!("{base}/v1/validate"))
            .json(&json!({"license_key": key})),
    )
    .await
    .0
}

/// A data directory with its signing key but no database (lost, emptied, never
/// initialised) is refused, with what is missing and how to restore; nothing is created.
/// `licet-server init` creates one on purpose; a restored database starts as before.
#[tokio::test]
async fn a_signing_key_without_its_database_refuses_to_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&tmp);
    let key = first_run(&data).await;
    let db = licet_server::database_path(&data);
    let saved = tmp.path().join("backup.redb");
    std::fs::rename(&db, &saved).expect("lose the database");

    let refused = |what: &str| {
        let out = run_to_exit(&args("127.0.0.1:0", &data));
        assert_eq!(
            out.code,
            Some(2),
            "{what}: it must refuse, exit 2\nstdout: {}\nstderr: {}",
            out.stdout,
            out.stderr
        );
        for needle in [
            what,
            "signing key",
            "KEY_INVALID",
            "backup",
            "licet-server init",
        ] {
            assert!(
                out.stderr.contains(needle),
                "{needle:?} not in: {}",
                out.stderr
            );
        }
        assert!(
            !out.stderr.contains("another licet-server"),
            "{}",
            out.stderr
        );
    };
    refused("licet.redb is missing");
    assert!(!db.exists(), "a refused start created {}", db.display());
    std::fs::write(&db, b"").expect("empty file");
    refused("licet.redb is empty");
    assert_eq!(
        std::fs::metadata(&db).expect("db").len(),
        0,
        "a refused start wrote to the empty file"
    );

    // A redb file that licet never initialised.
    std::fs::remove_file(&db).expect("rm");
    drop(redb::Database::create(&db).expect("bare redb"));
    refused("holds no licet data");

    // Restoring the backup is the way back: the same key validates.
    std::fs::copy(&saved, &db).expect("restore");
    let p = Process::start(&data, &[]);
    assert_eq!(validates(&p.base, &key).await, 200);
    assert!(p.terminate().success());

    // `init` starts afresh on purpose, once; the old key is then unknown.
    std::fs::remove_file(&db).expect("rm");
    let init = |expect: &str| {
        let out = run_to_exit(&["init".as_ref(), "--data".as_ref(), data.as_os_str()]);
        assert_eq!(out.code, Some(0), "init: {}", out.stderr);
        assert!(
            out.stdout.contains(expect),
            "{expect:?} not in: {}",
            out.stdout
        );
    };
    init("created an empty database");
    init("initialised already");
    let p = Process::start(&data, &[]);
    assert_eq!(validates(&p.base, &key).await, 404);
    assert!(p.terminate().success());
}

/// A damaged database file is called damaged, with the way to restore; "another
/// licet-server" is said only when the lock is what failed.
#[tokio::test]
async fn a_damaged_database_is_not_blamed_on_a_lock() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&tmp);
    first_run(&data).await;
    let db = licet_server::database_path(&data);
    let good = std::fs::read(&db).expect("read");

    // The header, then everything after it.
    for range in [0..4096, 4096..good.len()] {
        let mut damaged = good.clone();
        for b in damaged.get_mut(range.clone()).expect("range") {
            *b ^= 0x5a;
        }
        std::fs::write(&db, &damaged).expect("damage");
        let out = run_to_exit(&args("127.0.0.1:0", &data));
        assert_eq!(
            out.code,
            Some(2),
            "bytes {range:?} damaged\nstdout: {}\nstderr: {}",
            out.stdout,
            out.stderr
        );
        assert!(out.stderr.contains("damaged"), "{}", out.stderr);
        assert!(out.stderr.contains("backup"), "{}", out.stderr);
        assert!(
            !out.stderr.contains("another licet-server"),
            "{}",
            out.stderr
        );
    }

    std::fs::write(&db, &good).expect("repair");
    let p = Process::start(&data, &[]);
    let out = run_to_exit(&args("127.0.0.1:0", &data));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("another licet-server"),
        "{}",
        out.stderr
    );
    drop(p);
}

/// The port is bound before anything is written: a taken port leaves no data directory.
#[test]
fn a_taken_port_leaves_the_data_directory_untouched() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&tmp);
    let out = run_to_exit(&args(&addr, &data));
    assert_eq!(
        out.code,
        Some(2),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("cannot listen on {addr}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--listen"), "{}", out.stderr);
    assert!(
        !data.exists(),
        "a start that could not listen created {}",
        data.display()
    );
}

/// `--listen` takes a host name: `localhost:0` listens on a free port of the loopback.
#[tokio::test]
async fn listens_on_a_host_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&tmp);
    let p = Process::start_args(&args("localhost:0", &data), &[]);
    let (st, h) = common::send(reqwest::Client::new().get(format!("{}/healthz", p.base))).await;
    assert_eq!((st, &h["status"]), (200, &json!("ok")), "{h}");
    assert!(p.terminate().success());

    for bad in ["localhost", ":5480", "localhost:99999"] {
        let out = run_to_exit(&args(bad, &data));
        assert_eq!(out.code, Some(2), "--listen {bad}: {}", out.stderr);
        assert!(
            out.stderr.contains("HOST:PORT") || out.stderr.contains("not a port"),
            "{}",
            out.stderr
        );
    }
}
