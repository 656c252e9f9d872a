//! Storage faults: a full disk (a real, small tmpfs) and a panicking write job. The server
//! must answer `503 STORAGE_UNAVAILABLE`, say so in `/healthz`, keep serving reads, reopen
//! the database by itself once it can, and lose no write it acknowledged.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{ADMIN, Process, TestServer, fp};
use reqwest::Method;
use serde_json::{Value, json};

/// A tmpfs of a few megabytes, mounted for one test and unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one, or says why it cannot (not root, no CAP_SYS_ADMIN, no `mount`).
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Says loudly that a test did not run; with `CI` set, that is a failure, so a CI run can't
/// pass without it.
fn skipped(test: &str, why: &str) {
    let msg = format!("SKIPPED {test}: {why} (it needs root, or CAP_SYS_ADMIN, to mount a tmpfs)");
    eprintln!("\n*** {msg} ***\n");
    assert!(std::env::var_os("CI").is_none(), "{msg}; CI is set");
}

/// Writes zeros to `path` until the file system is full; returns how much it wrote.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("filler");
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // Single bytes into the last partial page too.
    while let Ok(1) = f.write(&[0u8]) {
        written += 1;
    }
    let _ = f.sync_all();
    written
}

async fn admin(
    http: &reqwest::Client,
    base: &str,
    m: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = http
        .request(m, format!("{base}/v1/admin{path}"))
        .bearer_auth(ADMIN);
    if let Some(b) = body {
        r = r.json(&b);
    }
    common::send(r).await
}

async fn activate(http: &reqwest::Client, base: &str, key: &str, n: u64) -> (u16, Value) {
    common::send(
        http.post(format!("{base}/v1/activate"))
            .json(&json!({"license_key": key, "fingerprint": fp(n), "name": "x".repeat(200)})),
    )
    .await
}

/// Retries `f` (a request) until `done` holds for its answer, at most `tries` times, 100 ms
/// apart; returns the last answer. Bounded in count, never asserting a time.
async fn until<F, Fut>(tries: u32, mut f: F, done: impl Fn(&(u16, Value)) -> bool) -> (u16, Value)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    let mut last = f().await;
    for _ in 1..tries {
        if done(&last) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = f().await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_recovers_without_restart() {
    let fs = match Tmpfs::mount("6m") {
        Ok(fs) => fs,
        Err(why) => return skipped("a_full_disk_answers_503_and_recovers_without_restart", &why),
    };
    let data: PathBuf = fs.path().join("data");
    let p = Process::start(&data, &[]);
    let (http, base) = (reqwest::Client::new(), p.base.clone());
    let (st, _) = admin(
        &http,
        &base,
        Method::POST,
        "/products",
        Some(json!({"name": "p"})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, l) = admin(
        &http,
        &base,
        Method::POST,
        "/licenses",
        Some(json!({"product": "p"})),
    )
    .await;
    assert_eq!(st, 201, "{l}");
    let key = l["license_key"].as_str().expect("key").to_owned();
    let id = l["id"].as_str().expect("id").to_owned();
    let mut acked = Vec::new();
    for n in 0..20 {
        let (st, r) = activate(&http, &base, &key, n).await;
        assert_eq!(st, 201, "{r}");
        acked.push(fp(n));
    }

    // Fill the disk, then write until a commit fails.
    let filler = fs.path().join("filler");
    let filled = fill(&filler);
    assert!(
        filled > 0,
        "the filler wrote nothing: the tmpfs was full already"
    );
    // Four clients activate (group commit puts several in one batch) while two flood
    // /v1/validate with unknown keys, which need no credential and are audited.
    let stop = Arc::new(AtomicBool::new(false));
    let mut flood = Vec::new();
    for w in 0..2u64 {
        let (http, base, stop) = (http.clone(), base.clone(), Arc::clone(&stop));
        flood.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) && i < 3_000 {
                let bogus = format!("LIC-NOT-A-KEY-{w}-{i}");
                let (st, r) = common::send(
                    http.post(format!("{base}/v1/validate"))
                        .json(&json!({"license_key": bogus})),
                )
                .await;
                assert!(st == 404 || st == 503, "{st} {r}");
                i += 1;
            }
        }));
    }
    let mut workers = Vec::new();
    for w in 0..4u64 {
        let (http, base, key, stop) = (http.clone(), base.clone(), key.clone(), Arc::clone(&stop));
        workers.push(tokio::spawn(async move {
            let (mut acked, mut refused) = (Vec::new(), None);
            for i in 0..1_000u64 {
                let n = 1_000 + w + 4 * i;
                let (st, r) = activate(&http, &base, &key, n).await;
                match st {
                    201 => acked.push(fp(n)),
                    503 => {
                        refused = Some(r);
                        break;
                    }
                    _ => panic!("a write on a full disk answered {st}: {r}"),
                }
            }
            stop.store(true, Ordering::SeqCst);
            (acked, refused)
        }));
    }
    let mut refused = None;
    for t in workers {
        let (a, r) = t.await.expect("worker");
        acked.extend(a);
        refused = refused.or(r);
    }
    for t in flood {
        t.await.expect("flood");
    }
    let mut n = 10_000;
    let refused =
        refused.expect("4,000 activations on a full disk all succeeded: the disk never filled");
    assert_eq!(refused["error"]["code"], "STORAGE_UNAVAILABLE", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("retry later")),
        "{refused}"
    );

    // Health says writes fail. A write that happens to fit in pages redb freed can succeed
    // in between (then health is right to say ok): keep writing until both agree.
    let mut degraded = None;
    for _ in 0..200 {
        // Liveness: 200 whatever the database does; the body says it is degraded.
        let (st, h) = common::send(http.get(format!("{base}/healthz"))).await;
        assert_eq!(st, 200, "{h}");
        if h["status"] == "degraded" {
            degraded = Some(h);
            break;
        }
        assert_eq!(h["status"].as_str(), Some("ok"), "{h}");
        let (st, r) = activate(&http, &base, &key, n).await;
        match st {
            201 => acked.push(fp(n)),
            503 => assert_eq!(r["error"]["code"], "STORAGE_UNAVAILABLE", "{r}"),
            _ => panic!("a write on a full disk answered {st}: {r}"),
        }
        n += 1;
    }
    let h = degraded.expect("/healthz never reported the failing writes");
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["writes"], "unavailable", "{h}");
    assert_eq!(h["cause"], "io", "{h}");

    // Reads are still served: the license validates, the machines list.
    let (st, v) = until(
        50,
        || {
            common::send(
                http.post(format!("{base}/v1/validate"))
                    .json(&json!({"license_key": key})),
            )
        },
        |(st, _)| *st == 200,
    )
    .await;
    assert_eq!(st, 200, "a read on a full disk: {v}");
    assert_eq!(v["valid"], true, "{v}");

    // Free the space: writes succeed again, without a restart.
    std::fs::remove_file(&filler).expect("free the space");
    let (st, r) = until(
        100,
        || {
            n += 1;
            activate(&http, &base, &key, n)
        },
        |(st, _)| *st == 201,
    )
    .await;
    assert_eq!(st, 201, "writes did not resume once the disk had room: {r}");
    acked.push(fp(n));
    let (st, h) = common::send(http.get(format!("{base}/healthz"))).await;
    assert_eq!(
        (st, &h["status"], &h["writes"]),
        (200, &json!("ok"), &json!("ok")),
        "{h}"
    );

    // Every acknowledged write is there, now and after a restart.
    let listed = common::machines(&base, &http, &id).await;
    for f in &acked {
        assert!(listed.contains(f), "acknowledged activation {f} lost");
    }
    let status = p.terminate();
    assert!(status.success(), "{status}");
    let p = Process::start(&data, &[]);
    let listed = common::machines(&p.base, &http, &id).await;
    for f in &acked {
        assert!(
            listed.contains(f),
            "acknowledged activation {f} lost after a restart"
        );
    }
    eprintln!(
        "full disk: {} activations acknowledged, {} more sent after the first refusal; filler {} KiB",
        acked.len(),
        n - 10_000,
        filled / 1024
    );
    drop(p);
}

/// A write job that panics (as redb did on a corrupt page) fails its batch with
/// STORAGE_UNAVAILABLE; the writer logs it, reopens the database and keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_write_job_fails_its_batch_and_the_writer_goes_on() {
    use licet_server::ApiError;
    use licet_server::store::Fault;
    let s = TestServer::start().await;
    let l = s.license("p", json!({})).await;
    let key = l["license_key"].as_str().expect("key").to_owned();
    let store = s.store();

    let r: Result<(), ApiError> = store
        .write(|_| panic!("injected: a write job panics inside the writer"))
        .await;
    assert_eq!(r, Err(ApiError::StorageUnavailable));
    let h = store.health();
    assert_eq!(h.fault.map(|(f, _)| f), Some(Fault::Panic), "{h:?}");

    // Requests sent meanwhile are answered 201 or 503, never 500 nor left hanging.
    let mut tasks = Vec::new();
    for n in 0..20 {
        let (http, base, key) = (s.http.clone(), s.base.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            common::send(
                http.post(format!("{base}/v1/activate"))
                    .json(&json!({"license_key": key, "fingerprint": fp(n)})),
            )
            .await
        }));
    }
    for t in tasks {
        let (st, r) = t.await.expect("task");
        assert!(
            st == 201 || (st == 503 && r["error"]["code"] == "STORAGE_UNAVAILABLE"),
            "{st} {r}"
        );
    }

    // The writer thread is alive: writes succeed again, and health says so.
    let mut n = 100;
    let (st, r) = until(
        100,
        || {
            n += 1;
            s.post(
                "/v1/activate",
                json!({"license_key": key, "fingerprint": fp(n)}),
            )
        },
        |(st, _)| *st == 201,
    )
    .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(store.health().fault, None);
    let (st, h) = s.get("/healthz").await;
    assert_eq!((st, &h["status"]), (200, &json!("ok")), "{h}");

    // A second panic is survived as well.
    let r: Result<(), ApiError> = store.write(|_| panic!("injected again")).await;
    assert_eq!(r, Err(ApiError::StorageUnavailable));
    let (st, r) = until(
        100,
        || {
            n += 1;
            s.post(
                "/v1/activate",
                json!({"license_key": key, "fingerprint": fp(n)}),
            )
        },
        |(st, _)| *st == 201,
    )
    .await;
    assert_eq!(st, 201, "{r}");
}
