//! Floating licenses: exact seats under concurrency, expiry without a sweeper, renewal
//! replacing the token, release, suspension, and the admin view.

mod common;

use common::{Db, TestServer};
use reqwest::Method;
use serde_json::json;

use licet_verifier::{Expectations, Keyring, Kind};

async fn obtain_many(s: &TestServer, key: &str, n: usize) -> Vec<(u16, serde_json::Value)> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (http, base, key) = (s.http.clone(), s.base.clone(), key.to_owned());
        tasks.push(tokio::spawn(async move {
            common::send(
                http.post(format!("{base}/v1/leases/obtain"))
                    .json(&json!({"license_key": key, "client_id": format!("client-{i}")})),
            )
            .await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

fn count(results: &[(u16, serde_json::Value)], status: u16) -> usize {
    results.iter().filter(|(s, _)| *s == status).count()
}

async fn one_hundred_obtains_against_five_seats(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s.license("cad", json!({"max_leases": 5})).await;
    let key = l["license_key"].as_str().expect("key");
    let results = obtain_many(&s, key, 100).await;
    assert_eq!((count(&results, 201), count(&results, 409)), (5, 95));
    for (st, b) in &results {
        if *st == 409 {
            assert_eq!(b["error"]["code"], "LEASE_LIMIT_REACHED");
        }
    }
    // Release one: exactly one more of twenty concurrent obtains succeeds.
    let first = results
        .iter()
        .find(|(st, _)| *st == 201)
        .expect("a lease")
        .1
        .clone();
    let (st, r) = s
        .post(
            "/v1/leases/release",
            json!({"lease_token": first["lease_token"]}),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    let again = obtain_many(&s, key, 20).await;
    assert_eq!((count(&again, 201), count(&again, 409)), (1, 19));
    let (_, v) = s.post("/v1/validate", json!({"license_key": key})).await;
    assert_eq!(v["leases"], json!({"used": 5, "allowed": 5}));
}

async fn an_expired_lease_frees_its_seat_without_any_sweeper(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s
        .license(
            "cad",
            json!({"max_leases": 1, "lease_ttl": 30, "lease_ttl_max": 60}),
        )
        .await;
    let key = l["license_key"].as_str().expect("key");
    let (st, a) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    assert_eq!(st, 201, "{a}");
    let (st, e) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (409, Some("LEASE_LIMIT_REACHED"))
    );
    s.advance(29);
    let (st, _) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    assert_eq!(st, 409, "still held one second before expiry");
    s.advance(1);
    let (st, b) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    assert_eq!(st, 201, "the seat is free at expiry: {b}");
    let (st, e) = s
        .post("/v1/leases/renew", json!({"lease_token": a["lease_token"]}))
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (410, Some("LEASE_EXPIRED"))
    );
    let (st, e) = s
        .post(
            "/v1/leases/validate",
            json!({"lease_token": a["lease_token"]}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (410, Some("LEASE_EXPIRED"))
    );
}

async fn renew_replaces_the_token_and_release_ends_it(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s.license("cad", json!({"max_leases": 2, "features": ["render"], "lease_ttl": 600, "lease_ttl_max": 900})).await;
    let key = l["license_key"].as_str().expect("key");
    let pem = s
        .http
        .get(format!("{}/signature.pem", s.base))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("pem");
    let ring = Keyring::from_pem(&pem).expect("ring");

    let (st, a) = s
        .post(
            "/v1/leases/obtain",
            json!({"license_key": key, "client_id": "ws-7", "ttl": 5000}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    let t1 = a["lease_token"].as_str().expect("token").to_owned();
    let v = ring
        .verify(&t1, &Expectations::new(Kind::Lease, "cad", s.now()))
        .expect("the lease token verifies offline");
    assert_eq!(
        v.claims.expires_at,
        Some(s.now() + 900),
        "ttl is capped by lease_ttl_max"
    );
    assert!(v.claims.has_feature("render"));

    s.advance(300);
    let (st, r) = s
        .post("/v1/leases/renew", json!({"lease_token": t1, "ttl": 120}))
        .await;
    assert_eq!(st, 200, "{r}");
    let t2 = r["lease_token"].as_str().expect("token").to_owned();
    assert_ne!(t1, t2);
    let v2 = ring
        .verify(&t2, &Expectations::new(Kind::Lease, "cad", s.now()))
        .expect("renewed token verifies");
    assert_eq!(v2.claims.expires_at, Some(s.now() + 120));
    assert_eq!(v2.claims.id, v.claims.id, "the same lease");

    // The old token is refused online from now on.
    for path in [
        "/v1/leases/renew",
        "/v1/leases/validate",
        "/v1/leases/release",
    ] {
        let (st, e) = s.post(path, json!({"lease_token": t1})).await;
        assert_eq!(
            (st, e["error"]["code"].as_str()),
            (404, Some("LEASE_INVALID")),
            "{path}"
        );
    }
    let (st, ok) = s
        .post("/v1/leases/validate", json!({"lease_token": t2}))
        .await;
    assert_eq!((st, ok["valid"].as_bool()), (200, Some(true)));

    let (st, _) = s
        .post("/v1/leases/release", json!({"lease_token": t2}))
        .await;
    assert_eq!(st, 200);
    for path in [
        "/v1/leases/renew",
        "/v1/leases/validate",
        "/v1/leases/release",
    ] {
        let (st, e) = s.post(path, json!({"lease_token": t2})).await;
        assert_eq!(
            (st, e["error"]["code"].as_str()),
            (410, Some("LEASE_RELEASED")),
            "{path}"
        );
    }
    // A token that is not a lease, or is forged, is invalid.
    let (st, e) = s
        .post("/v1/leases/validate", json!({"lease_token": key}))
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (404, Some("LEASE_INVALID"))
    );
}

async fn suspension_refuses_every_renewal(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s.license("cad", json!({"max_leases": 3})).await;
    let key = l["license_key"].as_str().expect("key");
    let id = l["id"].as_str().expect("id");
    let (_, a) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    let (st, _) = s
        .admin(Method::POST, &format!("/licenses/{id}/suspend"), None)
        .await;
    assert_eq!(st, 200);
    let (st, e) = s
        .post("/v1/leases/renew", json!({"lease_token": a["lease_token"]}))
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("KEY_SUSPENDED"))
    );
    assert_eq!(e["error"]["support_message"], "Contact support@example.com");
    let (st, e) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("KEY_SUSPENDED"))
    );
    let (st, _) = s
        .admin(Method::POST, &format!("/licenses/{id}/revoke"), None)
        .await;
    assert_eq!(st, 200);
    let (st, e) = s
        .post("/v1/leases/renew", json!({"lease_token": a["lease_token"]}))
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("KEY_REVOKED"))
    );
}

async fn admin_lists_force_releases_and_audits_leases(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s
        .license("cad", json!({"max_leases": 2, "lease_ttl": 60}))
        .await;
    let key = l["license_key"].as_str().expect("key");
    let id = l["id"].as_str().expect("id");
    let (_, a) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    let (_, b) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    let (_, _) = s
        .post(
            "/v1/leases/release",
            json!({"lease_token": b["lease_token"]}),
        )
        .await;
    let (st, list) = s
        .admin(Method::GET, &format!("/licenses/{id}/leases"), None)
        .await;
    assert_eq!(st, 200);
    let states: Vec<&str> = list["leases"]
        .as_array()
        .expect("leases")
        .iter()
        .filter_map(|l| l["state"].as_str())
        .collect();
    assert_eq!(states.len(), 2);
    assert!(states.contains(&"active") && states.contains(&"released"));
    let lease_id = a["lease_id"].as_str().expect("id");
    let (st, r) = s
        .admin(
            Method::POST,
            &format!("/licenses/{id}/leases/{lease_id}/release"),
            None,
        )
        .await;
    assert_eq!((st, r["state"].as_str()), (200, Some("released")));
    let (st, e) = s
        .post("/v1/leases/renew", json!({"lease_token": a["lease_token"]}))
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (410, Some("LEASE_RELEASED"))
    );
    let (_, active) = s
        .admin(
            Method::GET,
            &format!("/licenses/{id}/leases?state=active"),
            None,
        )
        .await;
    assert_eq!(active["leases"].as_array().map(Vec::len), Some(0));
    let (_, c) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    s.advance(61);
    let (_, expired) = s
        .admin(
            Method::GET,
            &format!("/licenses/{id}/leases?state=expired"),
            None,
        )
        .await;
    assert_eq!(expired["leases"][0]["id"], c["lease_id"]);
    let (_, audit) = s
        .admin(Method::GET, &format!("/audit?license_id={id}"), None)
        .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in ["lease.obtain", "lease.release", "lease.force_release"] {
        assert!(actions.contains(&want), "audit lacks {want}: {actions:?}");
    }
}

async fn a_repeated_renewal_with_the_same_request_id_gets_the_same_answer(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s.license("cad", json!({"max_leases": 1})).await;
    let key = l["license_key"].as_str().expect("key");
    let (st, a) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    assert_eq!(st, 201, "{a}");
    let t1 = a["lease_token"].clone();
    // Later than the obtain: a renewal in the same second with the same TTL would sign the
    // very same bytes (Ed25519 is deterministic) and replace nothing.
    s.advance(5);
    let (st, r1) = s
        .post(
            "/v1/leases/renew",
            json!({"lease_token": t1, "request_id": "r-1"}),
        )
        .await;
    assert_eq!(st, 200, "{r1}");
    // The answer was lost: the client repeats the same request.
    let (st, r2) = s
        .post(
            "/v1/leases/renew",
            json!({"lease_token": t1, "request_id": "r-1"}),
        )
        .await;
    assert_eq!(st, 200, "{r2}");
    assert_eq!(
        r2["lease_token"], r1["lease_token"],
        "the same token, not a second renewal"
    );
    // Anything else with the old token is still refused.
    let (st, e) = s
        .post(
            "/v1/leases/renew",
            json!({"lease_token": t1, "request_id": "r-2"}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (404, Some("LEASE_INVALID"))
    );
    let (st, e) = s.post("/v1/leases/renew", json!({"lease_token": t1})).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (404, Some("LEASE_INVALID"))
    );
    let (st, e) = s
        .post("/v1/leases/validate", json!({"lease_token": t1}))
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (404, Some("LEASE_INVALID"))
    );
    // After a release, the repeat is refused too; the replaced token is not the lease's
    // current one, so it is told nothing about the release.
    let (st, _) = s
        .post(
            "/v1/leases/release",
            json!({"lease_token": r1["lease_token"]}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, e) = s
        .post(
            "/v1/leases/renew",
            json!({"lease_token": t1, "request_id": "r-1"}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (404, Some("LEASE_INVALID"))
    );
}

/// Deleting a license deletes its leases: live and released ones, their seats and their
/// index entries. Releasing or renewing a lease of a deleted license is LEASE_INVALID, not 200.
#[tokio::test]
async fn deleting_a_license_deletes_its_leases() {
    let s = TestServer::start().await;
    let l = s.license("cad", json!({"max_leases": 3})).await;
    let (key, id) = (
        l["license_key"].as_str().expect("key"),
        l["id"].as_str().expect("id"),
    );
    let results = obtain_many(&s, key, 2).await;
    assert_eq!(count(&results, 201), 2);
    let (held, released) = (&results[0].1, &results[1].1);
    let (st, r) = s
        .post(
            "/v1/leases/release",
            json!({"lease_token": released["lease_token"]}),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    let (st, r) = s
        .admin(Method::DELETE, &format!("/licenses/{id}"), None)
        .await;
    assert_eq!(st, 204, "{r}");
    for path in [
        "/v1/leases/release",
        "/v1/leases/renew",
        "/v1/leases/validate",
    ] {
        let (st, r) = s
            .post(path, json!({"lease_token": held["lease_token"]}))
            .await;
        assert_eq!(
            (st, r["error"]["code"].as_str()),
            (404, Some("LEASE_INVALID")),
            "{path} on a lease of a deleted license: {r}"
        );
    }
    let (st, r) = s
        .post(
            "/v1/leases/release",
            json!({"lease_token": released["lease_token"]}),
        )
        .await;
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (404, Some("LEASE_INVALID")),
        "a released lease of a deleted license: {r}"
    );
    // Nothing of the license is left in the lease tables.
    let dir = s.stop().await;
    let (store, writer) = licet_server::store::Store::open(
        &licet_server::database_path(dir.path()),
        licet_server::store::WriterConfig { max_batch: 1 },
    )
    .expect("reopen");
    {
        use licet_server::store::{LEASES, LICENSE_LEASES, SEATS};
        use redb::ReadableTableMetadata;
        let snap = licet_server::store::Snapshot::of(&store).expect("snapshot");
        let t = snap.txn();
        let counts = (
            t.open_table(LEASES).expect("leases").len().expect("len"),
            t.open_table(SEATS).expect("seats").len().expect("len"),
            t.open_table(LICENSE_LEASES)
                .expect("index")
                .len()
                .expect("len"),
        );
        assert_eq!(counts, (0, 0, 0), "leases, seats, index entries left");
    }
    drop(store);
    writer.join().expect("writer");
}

/// The same claims as `token` (same lease id), signed by a key the server never had.
fn forged(token: &str) -> String {
    let claims = licet_verifier::decode_unverified(token)
        .expect("a lease token")
        .claims;
    let key = licet::SigningKey::generate_ed25519().expect("key");
    licet::issue(claims, &key).expect("signs").text()
}

async fn a_forged_lease_token_learns_nothing_about_the_lease(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s.license("cad", json!({"max_leases": 2})).await;
    let key = l["license_key"].as_str().expect("key");
    let (st, r) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    assert_eq!(st, 201, "{r}");
    let real = r["lease_token"].as_str().expect("token").to_owned();
    let fake = forged(&real);
    assert_ne!(fake, real);
    // Another lease id nobody holds, forged the same way.
    let (_, other) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    let other = other["lease_token"].as_str().expect("token").to_owned();

    let paths = [
        "/v1/leases/validate",
        "/v1/leases/renew",
        "/v1/leases/release",
    ];
    let answers = |token: String| {
        let s = &s;
        async move {
            let mut out = Vec::new();
            for path in paths {
                let (st, e) = s.post(path, json!({"lease_token": token})).await;
                out.push((path, st, e["error"]["code"].clone()));
            }
            out
        }
    };
    let expected: Vec<_> = paths
        .iter()
        .map(|p| (*p, 404, json!("LEASE_INVALID")))
        .collect();
    assert_eq!(answers(fake.clone()).await, expected, "live lease");

    // Released by its holder: the forger still gets exactly what it got before.
    let (st, _) = s
        .post("/v1/leases/release", json!({"lease_token": real}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(answers(fake.clone()).await, expected, "released lease");
    // The holder's own token is the one told of the release.
    let (st, e) = s
        .post("/v1/leases/validate", json!({"lease_token": real}))
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (410, Some("LEASE_RELEASED"))
    );

    // Force-released by the admin: the same answer again.
    let lid = l["id"].as_str().expect("id");
    let other_id = licet_verifier::decode_unverified(&other)
        .expect("lease")
        .claims
        .id;
    let (st, _) = s
        .admin(
            Method::POST,
            &format!(
                "/licenses/{lid}/leases/{}/release",
                licet_verifier::hex(&other_id)
            ),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(answers(forged(&other)).await, expected, "force-released");

    // A lease id the server never issued.
    let mut unknown = licet_verifier::decode_unverified(&real)
        .expect("lease")
        .claims;
    unknown.id = [0x5a; 16];
    let forger = licet::SigningKey::generate_ed25519().expect("key");
    let unknown = licet::issue(unknown, &forger).expect("signs").text();
    assert_eq!(answers(unknown).await, expected, "unknown lease");

    // Expired.
    let (st, r) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    assert_eq!(st, 201, "{r}");
    s.advance(3 * 3600);
    let t = r["lease_token"].as_str().expect("token");
    assert_eq!(answers(forged(t)).await, expected, "expired lease");
}

on_every_backend!(
    one_hundred_obtains_against_five_seats,
    an_expired_lease_frees_its_seat_without_any_sweeper,
    renew_replaces_the_token_and_release_ends_it,
    suspension_refuses_every_renewal,
    admin_lists_force_releases_and_audits_leases,
    a_repeated_renewal_with_the_same_request_id_gets_the_same_answer,
    a_forged_lease_token_learns_nothing_about_the_lease,
);
