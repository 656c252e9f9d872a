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
    // An audit log whose head retention pruned: the copy keeps every event's seq.
    let s = TestServer::start_on_with(Db::Redb, |c| {
        c.audit_retention = licet_server::config::RetentionDays(Some(1));
        c.prune_interval = 1;
    })
    .await;
    let (st, _) = s
        .admin(Method::POST, "/products", Some(json!({"name": "old"})))
        .await;
    assert_eq!(st, 201);
    s.advance(2 * 86_400);
    let mut pruned = false;
    for _ in 0..300 {
        let (_, page) = s
            .admin(Method::GET, "/audit?action=retention.prune", None)
            .await;
        if page["events"].as_array().is_some_and(|e| !e.is_empty()) {
            pruned = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(pruned, "no retention pass within 60 s");
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
    // A named token and a deny entry move too.
    let (st, token) = s
        .admin(
            Method::POST,
            "/tokens",
            Some(json!({"name": "shop", "scopes": ["licenses:read"]})),
        )
        .await;
    assert_eq!(st, 201, "{token}");
    let named = token["token"].as_str().expect("secret").to_owned();
    let (st, entry) = s
        .admin(
            Method::POST,
            "/deny",
            Some(json!({"kind": "fingerprint", "value": fp(9), "reason": "stolen"})),
        )
        .await;
    assert_eq!(st, 201, "{entry}");
    // A policy and a license that reads its machine limit from it.
    let (st, pol) = s
        .admin(
            Method::POST,
            "/policies",
            Some(json!({"product": "p", "name": "solo", "max_machines": 1})),
        )
        .await;
    assert_eq!(st, 201, "{pol}");
    let solo = s.license("p", json!({"policy": "solo"})).await;
    let solo_key = solo["license_key"].as_str().expect("key").to_owned();
    // A deactivation kept (for the deactivation limits and the revocation list).
    let cycled = s.license("p", json!({})).await;
    let cycled_key = cycled["license_key"].as_str().expect("key");
    for path in ["/v1/activate", "/v1/deactivate"] {
        let (st, body) = s
            .post(
                path,
                json!({"license_key": cycled_key, "fingerprint": fp(3)}),
            )
            .await;
        assert!(st == 200 || st == 201, "{path}: {body}");
    }
    let dir = s.stop().await;

    let url = postgres::database();
    let out = migrate(dir.path(), &url);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let m: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    assert_eq!(m["equal"], true, "{m}");
    assert_eq!(m["from"], m["to"]);
    assert_eq!(m["to"]["products"], 2);
    assert_eq!(m["to"]["licenses"], 10_003);
    assert_eq!(m["to"]["policies"], 1, "{m}");
    assert_eq!(m["to"]["machines"], 2);
    assert_eq!(m["to"]["leases"], 1);
    assert_eq!(m["to"]["admin_tokens"], 1);
    assert_eq!(m["to"]["deny_entries"], 1);
    assert_eq!(m["to"]["deactivations"], 1, "{m}");
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
    // The policy moved, and the license made from it reads its limit from it.
    let (st, pol) = common::send(
        http.get(format!("{}/v1/admin/policies/p/solo", p.base))
            .bearer_auth(common::ADMIN),
    )
    .await;
    assert_eq!((st, &pol["max_machines"]), (200, &json!(1)), "{pol}");
    for (n, want) in [(10, 201), (11, 409)] {
        let (st, a) = common::send(
            http.post(format!("{}/v1/activate", p.base))
                .json(&json!({"license_key": solo_key, "fingerprint": fp(n)})),
        )
        .await;
        assert_eq!(st, want, "{a}");
    }
    // The admin token moved with the data, and the named one.
    for token in [common::ADMIN, named.as_str()] {
        let (st, _) = common::send(
            http.get(format!("{}/v1/admin/licenses?limit=1", p.base))
                .bearer_auth(token),
        )
        .await;
        assert_eq!(st, 200);
    }
    // The deny entry applies there.
    let (st, refused) = common::send(
        http.post(format!("{}/v1/activate", p.base))
            .json(&json!({"license_key": key, "fingerprint": fp(9)})),
    )
    .await;
    assert_eq!((st, &refused["error"]["code"]), (403, &json!("DENIED")));
}
