//! Signing-key rotation on the server (`docs/key-rotation.md`, "On the licensing server"):
//! rotating under load, re-issuing a license's key, retiring a key, several processes over
//! one key directory, and a data directory of the older single-key layout.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Db, TestServer, fp};
use licet_verifier::{Expectations, Keyring, Kind};
use reqwest::Method;
use serde_json::{Value, json};

/// The kid (hex) a token's text names, read without any check.
fn kid_of(token: &str) -> String {
    let (_, bytes) = licet_verifier::text::decode(token).expect("a token");
    licet_verifier::hex(
        &licet_verifier::envelope::open(&bytes)
            .expect("envelope")
            .kid,
    )
}

fn kind_of(token: &str) -> Kind {
    licet_verifier::text::decode(token).expect("a token").0
}

/// One worker of the load: activations, check-ins, lease obtains and renewals on `key`
/// until `stop` (or a bound), every token it is given kept.
async fn worker(
    s: Arc<TestServer>,
    key: String,
    n: u64,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut tokens = Vec::new();
    for i in 0..200u64 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let (st, a) = s
            .post(
                "/v1/activate",
                json!({"license_key": key, "fingerprint": fp(n * 1000 + i)}),
            )
            .await;
        assert_eq!(st, 201, "activate during rotation: {a}");
        let (st, c) = s
            .post("/v1/check-in", json!({"machine_token": a["machine_token"]}))
            .await;
        assert_eq!(st, 200, "check-in during rotation: {c}");
        let (st, l) = s
            .post(
                "/v1/leases/obtain",
                json!({"license_key": key, "client_id": format!("w{n}-{i}")}),
            )
            .await;
        assert_eq!(st, 201, "lease during rotation: {l}");
        let (st, r) = s
            .post("/v1/leases/renew", json!({"lease_token": l["lease_token"]}))
            .await;
        assert_eq!(st, 200, "renewal during rotation: {r}");
        for t in [
            &a["machine_token"],
            &c["machine_token"],
            &l["lease_token"],
            &r["lease_token"],
        ] {
            tokens.push(t.as_str().expect("token").to_owned());
        }
        done.fetch_add(1, Ordering::SeqCst);
    }
    tokens
}

/// Waits until `done` reaches `n` (the workers are bounded, so this ends).
async fn wait_for(done: &AtomicUsize, n: usize) {
    for _ in 0..3000 {
        if done.load(Ordering::SeqCst) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the load made no progress");
}

async fn rotating_twice_under_load_breaks_no_token_and_no_old_key(db: Db) {
    let s = Arc::new(TestServer::start_on(db).await);
    let license = s
        .license("cad", json!({"max_machines": 5000, "max_leases": 5000}))
        .await;
    let key = license["license_key"].as_str().expect("key").to_owned();
    let first_kid = kid_of(&key);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|n| {
            tokio::spawn(worker(
                Arc::clone(&s),
                key.clone(),
                n,
                Arc::clone(&stop),
                Arc::clone(&done),
            ))
        })
        .collect();
    let mut kids = vec![first_kid.clone()];
    for round in 1..=2 {
        wait_for(&done, round * 20).await;
        let (st, r) = s.admin(Method::POST, "/keys/rotate", None).await;
        assert_eq!(st, 201, "{r}");
        kids.push(r["kid"].as_str().expect("kid").to_owned());
    }
    wait_for(&done, 60).await;
    stop.store(true, Ordering::SeqCst);
    let mut tokens = vec![key.clone()];
    for w in workers {
        tokens.extend(w.await.expect("worker"));
    }

    // Every token issued before, during and after the rotations verifies offline against
    // the signature.pem the server serves now.
    let ring = s.keyring().await;
    assert_eq!(ring.len(), 3, "three keys published");
    let mut signed_by = BTreeSet::new();
    for t in &tokens {
        ring.verify(t, &Expectations::new(kind_of(t), "cad", s.now()))
            .unwrap_or_else(|e| panic!("{e} for a {:?} token of {}", kind_of(t), kid_of(t)));
        signed_by.insert(kid_of(t));
    }
    assert_eq!(
        signed_by,
        kids.iter().cloned().collect::<BTreeSet<_>>(),
        "tokens were signed by each of the three keys in turn"
    );
    let (_, keys) = s.admin(Method::GET, "/keys", None).await;
    assert_eq!(keys["keys"][0]["kid"], json!(kids[2]), "{keys}");
    assert_eq!(keys["keys"][0]["current"], json!(true));

    // The license key signed by the first key still works online for everything.
    let (st, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(999_999)}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    assert_eq!(kid_of(a["machine_token"].as_str().expect("t")), kids[2]);
    let (st, c) = s
        .post(
            "/v1/check-in",
            json!({"license_key": key, "fingerprint": fp(999_999)}),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    let (st, v) = s.post("/v1/validate", json!({"license_key": key})).await;
    assert_eq!(st, 200, "{v}");
    let (st, l) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    assert_eq!(st, 201, "{l}");
}

async fn reissue_gives_a_key_of_the_current_key_and_refuses_the_old_one(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s.license("cad", json!({"max_machines": 3})).await;
    let id = l["id"].as_str().expect("id").to_owned();
    let old = l["license_key"].as_str().expect("key").to_owned();
    let (st, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": old, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    let (st, r) = s.admin(Method::POST, "/keys/rotate", None).await;
    assert_eq!(st, 201, "{r}");
    let current = r["kid"].as_str().expect("kid").to_owned();

    let (st, re) = s
        .admin(Method::POST, &format!("/licenses/{id}/reissue"), None)
        .await;
    assert_eq!(st, 200, "{re}");
    let new = re["license_key"].as_str().expect("key").to_owned();
    assert_ne!(new, old);
    assert_eq!(kid_of(&new), current, "signed with the current key");
    assert_eq!(re["id"], json!(id), "the same record");

    // Online: the old key is refused, the new one works, the machine activated with the
    // old key stays activated and counted.
    let (st, v) = s.post("/v1/validate", json!({"license_key": old})).await;
    assert_eq!(
        (st, &v["error"]["code"]),
        (404, &json!("KEY_INVALID")),
        "{v}"
    );
    let (st, v) = s.post("/v1/validate", json!({"license_key": new})).await;
    assert_eq!(st, 200, "{v}");
    let (st, c) = s
        .post("/v1/check-in", json!({"machine_token": a["machine_token"]}))
        .await;
    assert_eq!(st, 200, "{c}");
    let (st, c) = s
        .post(
            "/v1/check-in",
            json!({"license_key": new, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    for n in 2..4 {
        let (st, a) = s
            .post(
                "/v1/activate",
                json!({"license_key": new, "fingerprint": fp(n)}),
            )
            .await;
        assert_eq!(st, 201, "{a}");
    }
    let (st, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": new, "fingerprint": fp(9)}),
        )
        .await;
    assert_eq!(st, 409, "the limit counts the machine of the old key: {a}");

    // Offline, the new key verifies against what the server serves.
    let ring = s.keyring().await;
    ring.verify(&new, &Expectations::new(Kind::License, "cad", s.now()))
        .expect("the new key verifies");

    // Refusals: no such license, a revoked one; each audited nothing, changed nothing.
    let (st, e) = s
        .admin(
            Method::POST,
            "/licenses/00000000000000000000000000000000/reissue",
            None,
        )
        .await;
    assert_eq!((st, &e["error"]["code"]), (404, &json!("NOT_FOUND")), "{e}");
    let (st, _) = s
        .admin(Method::POST, &format!("/licenses/{id}/revoke"), None)
        .await;
    assert_eq!(st, 200);
    let (st, e) = s
        .admin(Method::POST, &format!("/licenses/{id}/reissue"), None)
        .await;
    assert_eq!((st, &e["error"]["code"]), (409, &json!("CONFLICT")), "{e}");
    let (_, got) = s.admin(Method::GET, &format!("/licenses/{id}"), None).await;
    assert_eq!(
        got["license_key"],
        json!(new),
        "the refused reissue changed nothing"
    );
    let (_, audit) = s
        .admin(Method::GET, "/audit?action=license.reissue", None)
        .await;
    assert_eq!(audit["events"].as_array().map(Vec::len), Some(1), "{audit}");
}

async fn a_retired_key_is_no_longer_published_nor_trusted(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s.license("cad", json!({})).await;
    let key = l["license_key"].as_str().expect("key").to_owned();
    let (_, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    let old_kid = kid_of(&key);
    let (st, e) = s
        .admin(Method::POST, &format!("/keys/{old_kid}/retire"), None)
        .await;
    assert_eq!(
        (st, &e["error"]["code"]),
        (409, &json!("SIGNING_KEY_CURRENT")),
        "{e}"
    );
    let (st, e) = s
        .admin(Method::POST, "/keys/0123456789abcdef/retire", None)
        .await;
    assert_eq!(
        (st, &e["error"]["code"]),
        (404, &json!("SIGNING_KEY_UNKNOWN")),
        "{e}"
    );
    let (st, _) = s.admin(Method::POST, "/keys/rotate", None).await;
    assert_eq!(st, 201);
    let (st, k) = s
        .admin(Method::POST, &format!("/keys/{old_kid}/retire"), None)
        .await;
    assert_eq!(st, 200, "{k}");
    assert_eq!(k["keys"].as_array().map(Vec::len), Some(1), "{k}");
    let ring = s.keyring().await;
    assert!(
        ring.get(&licet_verifier::unhex::<8>(&old_kid).expect("kid"))
            .is_none()
    );
    // A machine token signed by the retired key is refused at check-in; the license key
    // (found by its bytes, not its signature) still works, and re-issuing moves it on.
    let (st, c) = s
        .post("/v1/check-in", json!({"machine_token": a["machine_token"]}))
        .await;
    assert_eq!(st, 400, "{c}");
    assert!(
        c["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("KEY_UNKNOWN")),
        "{c}"
    );
    let (st, c) = s
        .post(
            "/v1/check-in",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    let (_, audit) = s.admin(Method::GET, "/audit?action=key.retire", None).await;
    assert_eq!(audit["events"].as_array().map(Vec::len), Some(1), "{audit}");
}

on_every_backend!(
    rotating_twice_under_load_breaks_no_token_and_no_old_key,
    reissue_gives_a_key_of_the_current_key_and_refuses_the_old_one,
    a_retired_key_is_no_longer_published_nor_trusted,
);

/// Two processes started at the same moment over one empty key directory and one
/// PostgreSQL database agree on one key; a rotation by one reaches the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_sharing_a_key_directory_agree_and_follow_rotations() {
    let url = common::postgres::database();
    let shared = tempfile::tempdir().expect("tempdir");
    let data = shared.path().join("keys");
    let start = || {
        let (url, data) = (url.clone(), data.clone());
        TestServer::start_on_with(Db::Postgres, move |c| {
            c.database = Some(licet_server::config::DatabaseUrl::parse(&url).expect("url"));
            c.data = data;
        })
    };
    let (a, b) = tokio::join!(start(), start());
    let kids = |pem: &str| -> Vec<String> {
        Keyring::from_pem(pem)
            .expect("keyring")
            .keys()
            .iter()
            .map(|k| licet_verifier::hex(k.kid()))
            .collect()
    };
    let (pa, pb) = (a.signature_pem().await, b.signature_pem().await);
    assert_eq!(kids(&pa).len(), 1, "one key, not one per process: {pa}");
    assert_eq!(pa, pb);
    assert_eq!(
        std::fs::read_dir(data.join("keys")).expect("keys").count(),
        1,
        "the losing process removed the key it made"
    );

    let (st, r) = a.admin(Method::POST, "/keys/rotate", None).await;
    assert_eq!(st, 201, "{r}");
    let new = r["kid"].as_str().expect("kid").to_owned();
    // B notices within its recheck interval (a second); bounded wait.
    let l = a.license("cad", json!({})).await;
    let key = l["license_key"].as_str().expect("key");
    assert_eq!(kid_of(key), new, "A signs with the new key at once");
    let mut seen = None;
    for n in 0..50u64 {
        let (st, m) = b
            .post(
                "/v1/activate",
                json!({"license_key": key, "fingerprint": fp(n)}),
            )
            .await;
        assert_eq!(st, 201, "{m}");
        if kid_of(m["machine_token"].as_str().expect("t")) == new {
            seen = Some(n);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.is_some(), "B never signed with the key A rotated to");
    assert!(kids(&b.signature_pem().await).contains(&new));
}

/// A data directory of the single-key layout (signing-key.pem, and a signature.pem with
/// the root, endorsements and an older key) keeps working, moved to the rotating layout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_single_key_data_directory_is_migrated_on_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let dir = licet_keys::dir::KeyDir::new(&data);
    let old = licet::SigningKey::generate_ed25519().expect("key");
    dir.create(&old, None, false).expect("create");
    let key = licet::SigningKey::generate_ed25519().expect("key");
    dir.rotate(&key, None).expect("rotate");
    let root = licet::SigningKey::generate_ed25519().expect("root");
    let now = 1_800_000_000;
    let e = licet::endorse(&root, key.public_spki_der(), now - 10, now + 86_400 * 365)
        .expect("endorse");
    let published = format!(
        "{}{}{}",
        root.public_pem(),
        licet_verifier::endorsement::to_pem(&e),
        dir.signature_pem().expect("pem")
    );
    std::fs::write(dir.signature_pem_path(), &published).expect("write");

    // On PostgreSQL: a redb data directory holding a key but no database is refused
    // (docs/api.md §2), whichever its layout.
    let data2 = data.clone();
    let s = TestServer::start_on_with(Db::Postgres, move |c| c.data = data2).await;
    let served = s.signature_pem().await;
    let root_public =
        licet_verifier::PublicKey::from_spki_der(root.public_spki_der()).expect("root");
    // An application pinning the root accepts the server's tokens.
    let pinned = Keyring::from_root(&root_public, &served, now).expect("from root");
    let l = s.license("cad", json!({})).await;
    let lic = l["license_key"].as_str().expect("key");
    assert_eq!(kid_of(lic), licet_verifier::hex(key.kid()));
    pinned
        .verify(lic, &Expectations::new(Kind::License, "cad", now))
        .expect("verifies under the pinned root");
    // The older key stays published.
    let ring = Keyring::from_pem(&served).expect("keyring");
    assert!(ring.get(old.kid()).is_some(), "{served}");
    let (_, keys) = s.admin(Method::GET, "/keys", None).await;
    let list: Vec<&Value> = keys["keys"].as_array().expect("keys").iter().collect();
    assert_eq!(list.len(), 2, "{keys}");
    assert_eq!(list[0]["kid"], json!(licet_verifier::hex(key.kid())));
    assert!(list[0]["endorsed_until"].is_string(), "{keys}");
    assert_eq!(
        list[1]["private"],
        json!(false),
        "the old key came as a public key"
    );
    assert!(data.join("current").exists());
}

/// `licet-server keys …`, the real binary, on a data directory: rotate with the root
/// endorsing the new key, list, refuse what does not fit, retire.
#[test]
fn the_keys_commands_rotate_endorse_list_and_retire() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_licet-server"))
            .arg("keys")
            .args(args)
            .env_remove("LICET_DATA")
            .output()
            .expect("run licet-server");
        (
            out.status.code().expect("exit code"),
            String::from_utf8(out.stdout).expect("UTF-8"),
            String::from_utf8(out.stderr).expect("UTF-8"),
        )
    };
    let d = data.to_str().expect("path");
    // No key directory yet: a clear error, exit 2, nothing created.
    let (code, _, err) = run(&["list", "--data", d]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is --data right?"), "{err}");
    licet_server::keystore::KeyFiles::new(&data)
        .prepare(None, false)
        .expect("a first start's key");
    let first = std::fs::read_to_string(data.join("current")).expect("current");
    let first = first.trim();

    let root = licet::SigningKey::generate_ed25519().expect("root");
    let root_file = tmp.path().join("root-key.pem");
    std::fs::write(&root_file, root.to_pkcs8_pem().expect("pem").as_bytes()).expect("write");
    let r = root_file.to_str().expect("path");
    let (code, out, err) = run(&["rotate", "--data", d, "--root", r, "--until", "2020-01-01"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("not in the future"), "{err}");
    let (code, out, err) = run(&[
        "rotate",
        "--data",
        d,
        "--root",
        r,
        "--until",
        "2099-12-31",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let new = v["kid"].as_str().expect("kid").to_owned();
    assert_eq!(v["keys"][0]["kid"], json!(new));
    assert!(v["keys"][0]["endorsed_until"].is_u64(), "{v}");
    assert_eq!(v["keys"][1]["kid"], json!(first));

    // What a server would serve: an application pinning the root accepts the new key.
    let loaded = licet_server::keystore::KeyFiles::new(&data)
        .load(None)
        .expect("load");
    let pinned = Keyring::from_root(
        &licet_verifier::PublicKey::from_spki_der(root.public_spki_der()).expect("root"),
        &loaded.signature_pem,
        licet_verifier::Expectations::now_from_system_clock(),
    )
    .expect("from root");
    assert!(pinned.get(loaded.key.kid()).is_some());

    let (code, _, err) = run(&["retire", "--data", d, &new]);
    assert_eq!(code, 1, "the current key: {err}");
    assert!(err.contains("is the current signing key"), "{err}");
    let (code, out, err) = run(&["retire", "--data", d, first]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(&["list", "--data", d]);
    assert_eq!(code, 0);
    assert!(out.contains(&new) && !out.contains(first), "{out}");
    assert!(
        out.contains("current: signs new tokens, endorsed until 2099-12-31"),
        "{out}"
    );
}

/// `docs/key-rotation.md`, "On the licensing server": each `licet-server keys` command of
/// the page, run as written in a folder holding what the page says it needs (`DATA` after
/// a first start, the root key, a next key and its endorsement made offline), succeeds, and
/// the server's keys are then what the page says: the next key current, both rotations'
/// keys endorsed by the root, the first key still published.
#[test]
fn the_pages_server_commands_run_as_written() {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/key-rotation.md"
    ))
    .expect("docs/key-rotation.md");
    let section = page
        .split("## On the licensing server")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the page's server section");
    let commands: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("licet-server keys "))
        .collect();
    assert_eq!(commands.len(), 2, "the section's commands: {commands:?}");

    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    licet_server::keystore::KeyFiles::new(dir.join("DATA"))
        .prepare(None, false)
        .expect("a first start's key");
    let root = licet::SigningKey::generate_ed25519().expect("root");
    let next = licet::SigningKey::generate_ed25519().expect("next");
    let until = licet_verifier::Expectations::now_from_system_clock() + 365 * 86_400;
    let endorsement = licet::endorse(&root, next.public_spki_der(), until - 366 * 86_400, until)
        .expect("endorse");
    for (path, text) in [
        (
            "root/root-key.pem",
            root.to_pkcs8_pem().expect("pem").to_string(),
        ),
        (
            "next/signing-key.pem",
            next.to_pkcs8_pem().expect("pem").to_string(),
        ),
        (
            "endorsement-3.pem",
            licet_verifier::endorsement::to_pem(&endorsement),
        ),
    ] {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, text).expect("write");
    }
    for command in &commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_licet-server"))
            .args(&words[1..])
            .current_dir(dir)
            .env_remove("LICET_DATA")
            .env_remove("LICET_ROOT_PASSPHRASE")
            .output()
            .expect("run licet-server");
        assert!(
            out.status.success(),
            "{command}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let loaded = licet_server::keystore::KeyFiles::new(dir.join("DATA"))
        .load(None)
        .expect("load");
    assert_eq!(loaded.key.kid(), next.kid(), "the next key is current");
    let pinned = Keyring::from_root(
        &licet_verifier::PublicKey::from_spki_der(root.public_spki_der()).expect("root"),
        &loaded.signature_pem,
        licet_verifier::Expectations::now_from_system_clock(),
    )
    .expect("from root");
    assert!(
        pinned.get(next.kid()).is_some(),
        "the root endorses the next key"
    );
    let published = Keyring::from_pem(&loaded.signature_pem).expect("published");
    // The root's public key heads the file (it is one more key to a bare keyring).
    assert_eq!(
        published.len(),
        4,
        "the root, the first key and both rotations' keys are published"
    );
}
