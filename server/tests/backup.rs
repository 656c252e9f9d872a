//! The documented backup procedure, tested: back up while serving, restore, compare.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{ADMIN, TestServer, fp};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_while_serving_then_restore() {
    let s = TestServer::start().await;
    let l = s.license("p", json!({"max_machines": 100_000})).await;
    let key = l["license_key"].as_str().expect("key").to_owned();
    let id = l["id"].as_str().expect("id").to_owned();
    s.activate_machines(&key, 20).await;
    // Keep writing while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (http, base, key, stop) = (
            s.http.clone(),
            s.base.clone(),
            key.clone(),
            Arc::clone(&stop),
        );
        tokio::spawn(async move {
            let mut n = 1000;
            while !stop.load(Ordering::SeqCst) && n < 3000 {
                let _ = common::send(
                    http.post(format!("{base}/v1/activate"))
                        .json(&json!({"license_key": key, "fingerprint": fp(n)})),
                )
                .await;
                n += 1;
            }
        })
    };
    let resp = s
        .http
        .get(format!("{}/v1/admin/backup", s.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("backup");
    assert_eq!(resp.status().as_u16(), 200);
    let bytes = resp.bytes().await.expect("bytes");
    stop.store(true, Ordering::SeqCst);
    writer.await.expect("writer");
    let (_, live) = s
        .admin(Method::GET, &format!("/licenses/{id}/machines"), None)
        .await;
    let live: Vec<String> = live["machines"]
        .as_array()
        .expect("m")
        .iter()
        .map(|m| m["fingerprint"].as_str().expect("f").to_owned())
        .collect();

    // Restore: a new data directory holding the backup as its database.
    // The documented procedure: the database from the backup, the signing key from its own
    // backup (here, the original data directory).
    let original = s.dir.path().to_path_buf();
    let restored = TestServer::start_with(|c| {
        let dir = c.data.join("restored");
        std::fs::create_dir_all(dir.join("keys")).expect("dir");
        std::fs::write(dir.join("licet.redb"), &bytes).expect("write backup");
        // The key files (docs/api.md §6.6): `current` and `keys/`.
        std::fs::copy(original.join("current"), dir.join("current")).expect("restore current");
        for f in std::fs::read_dir(original.join("keys")).expect("keys") {
            let f = f.expect("entry");
            std::fs::copy(f.path(), dir.join("keys").join(f.file_name())).expect("restore a key");
        }
        c.data = dir;
    })
    .await;
    let (st, b) = restored
        .admin(Method::GET, &format!("/licenses/{id}/machines"), None)
        .await;
    assert_eq!(st, 200, "{b}");
    let backed: Vec<String> = b["machines"]
        .as_array()
        .expect("m")
        .iter()
        .map(|m| m["fingerprint"].as_str().expect("f").to_owned())
        .collect();
    // Everything answered before the backup began is in it, and nothing that was never stored.
    for n in 0..20 {
        assert!(
            backed.contains(&fp(n)),
            "machine {n} missing from the backup"
        );
    }
    for f in &backed {
        assert!(
            live.contains(f),
            "the backup holds {f}, which the live server never had"
        );
    }
    // The restored server answers for the same license key.
    let (st, v) = restored
        .post("/v1/validate", json!({"license_key": key}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["machines"]["used"].as_u64(), Some(backed.len() as u64));
}
