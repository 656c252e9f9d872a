//! `licet-server migrate`: a redb data directory of 10,000 licenses with machines, leases
//! and audit events copied into PostgreSQL; counts and digest equal; what was issued before
//! keeps working after the move, and the limits still hold.

mod common;

use common::{Db, Process, TestServer, fp, postgres};
use reqwest::Method;
use serde_json::{Value, json};

/// Runs `licet-server migrate --json`, for at most 5 minutes (a debug build on a shared
/// machine).
fn migrate(from: &std::path::Path, to: &str) -> common::Exit {
    common::run_to_exit_within(
        &[
            "migrate".as_ref(),
            "--from".as_ref(),
            from.as_os_str(),
            "--to".as_ref(),
            to.as_ref(),
            "--json".as_ref(),
        ],
        std::time::Duration::from_secs(300),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_licenses_move_to_postgres_and_keep_working() {
    let s = TestServer::start_on(Db::Redb).await;
    let limited = s
        .license("p", json!({"max_machines": 2, "max_leases": 1}))
        .await;
    let key = limited["license_key"].as_str().expect("key").to_owned();
    for batch in 0..10 {
        let many: Vec<Value> = (0..1000)
            .map(|i| json!({"product": "p", "customer": format!("c{batch}-{i}")}))
            .collect();
        let (st, made) = s
            .admin(
                Method::POST,
                "/licenses/bulk",
                Some(json!({"licenses": many})),
            )
            .await;
        assert_eq!(st, 201, "{made}");
    }
    let (st, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    let machine_token = a["machine_token"].as_str().expect("token").to_owned();
    let (st, _) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(2)}),
        )
        .await;
    assert_eq!(st, 201);
    let (st, lease) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    assert_eq!(st, 201, "{lease}");
    let lease_token = lease["lease_token"]
        .as_str()
        .expect("lease token")
        .to_owned();
    let dir = s.stop().await;

    let url = postgres::database();
    let out = migrate(dir.path(), &url);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let m: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    assert_eq!(m["equal"], true, "{m}");
    assert_eq!(m["from"], m["to"]);
    assert_eq!(m["to"]["licenses"], 10_001);
    assert_eq!(m["to"]["machines"], 2);
    assert_eq!(m["to"]["leases"], 1);
    assert!(
        m["to"]["audit_events"].as_u64().expect("n") >= 10_004,
        "{m}"
    );
    assert!(!out.stdout.contains(postgres::PASSWORD));

    // A second run refuses: the target is not empty.
    let again = migrate(dir.path(), &url);
    assert_eq!(again.code, Some(2), "{}", again.stdout);
    assert!(again.stderr.contains("is not empty"), "{}", again.stderr);

    // A server on PostgreSQL with the same signing keys: the data directory's key files.
    let p = Process::start_with(dir.path(), &[], &["--database", &url], None);
    let http = reqwest::Client::new();
    // The machine activated before the move checks in with its token.
    let (st, c) = common::send(
        http.post(format!("{}/v1/check-in", p.base))
            .json(&json!({"machine_token": machine_token})),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    // The lease obtained before is still held: the one seat is taken.
    let (st, v) = common::send(
        http.post(format!("{}/v1/leases/validate", p.base))
            .json(&json!({"lease_token": lease_token})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, refused) = common::send(
        http.post(format!("{}/v1/leases/obtain", p.base))
            .json(&json!({"license_key": key})),
    )
    .await;
    assert_eq!(
        (st, &refused["error"]["code"]),
        (409, &json!("LEASE_LIMIT_REACHED"))
    );
    // The machine limit still holds: two of two are used.
    let (st, refused) = common::send(
        http.post(format!("{}/v1/activate", p.base))
            .json(&json!({"license_key": key, "fingerprint": fp(3)})),
    )
    .await;
    assert_eq!(
        (st, &refused["error"]["code"]),
        (409, &json!("ACTIVATION_LIMIT_REACHED"))
    );
    // The admin token moved with the data.
    let (st, _) = common::send(
        http.get(format!("{}/v1/admin/licenses?limit=1", p.base))
            .bearer_auth(common::ADMIN),
    )
    .await;
    assert_eq!(st, 200);
}
