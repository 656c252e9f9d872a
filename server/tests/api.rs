//! The client and admin APIs over real HTTP on 127.0.0.1, with a real redb file.

mod common;

use common::{Db, TestServer, fp};
use reqwest::Method;
use serde_json::{Value, json};

use licet_verifier::{Expectations, Kind};

async fn activation_lifecycle_and_tokens_verify_offline(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s
        .license(
            "acme-studio-pro",
            json!({"max_machines": 2, "features": ["export-pdf", "cloud-sync"]}),
        )
        .await;
    let key = l["license_key"].as_str().expect("key").to_owned();
    let ring = s.keyring().await;

    // The license key itself verifies offline.
    let lic = ring
        .verify(
            &key,
            &Expectations::new(Kind::License, "acme-studio-pro", s.now()),
        )
        .expect("license key verifies");
    assert!(lic.claims.has_feature("export-pdf"));

    let (st, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(1), "name": "ws-1"}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    assert_eq!(a["remaining_activations"], 1);
    let token = a["machine_token"].as_str().expect("token");
    let fp1: [u8; 32] = {
        let mut b = [0u8; 32];
        b[31] = 1;
        b
    };
    let m = ring
        .verify(
            token,
            &Expectations::new(Kind::Machine, "acme-studio-pro", s.now()).fingerprint(fp1),
        )
        .expect("machine token verifies offline");
    assert_eq!(m.claims.license_id(), lic.claims.license_id());

    // Same fingerprint again: 200, no further activation.
    let (st, again) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(again["remaining_activations"], 1);
    assert_eq!(again["machine_id"], a["machine_id"]);
    // The fresh token is for the machine that exists, not the one signed ahead of the write
    // for a new activation.
    let m2 = ring
        .verify(
            again["machine_token"].as_str().expect("token"),
            &Expectations::new(Kind::Machine, "acme-studio-pro", s.now()).fingerprint(fp1),
        )
        .expect("the fresh machine token verifies offline");
    assert_eq!(
        licet_verifier::hex(&m2.claims.id),
        a["machine_id"].as_str().expect("id")
    );
    assert_eq!(
        licet_verifier::hex(&m.claims.id),
        a["machine_id"].as_str().expect("id")
    );

    let (st, _) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(2)}),
        )
        .await;
    assert_eq!(st, 201);
    let (st, e) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(3)}),
        )
        .await;
    assert_eq!(st, 409);
    assert_eq!(e["error"]["code"], "ACTIVATION_LIMIT_REACHED");
    assert_eq!(e["error"]["support_message"], "Contact support@example.com");

    // Validate shows the counts.
    let (st, v) = s
        .post(
            "/v1/validate",
            json!({"license_key": key, "fingerprint": fp(2)}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["valid"], true);
    assert_eq!(v["machines"], json!({"used": 2, "allowed": 2}));
    assert_eq!(v["machine"]["activated"], true);

    // Check-in by license key and by machine token; the deadline moves with the clock.
    s.advance(3600);
    let (st, c) = s
        .post(
            "/v1/check-in",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    let (st, c2) = s
        .post("/v1/check-in", json!({"machine_token": token}))
        .await;
    assert_eq!(st, 200, "{c2}");
    let (st, e) = s
        .post(
            "/v1/check-in",
            json!({"machine_token": token, "fingerprint": fp(9)}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("FINGERPRINT_MISMATCH"))
    );

    // Deactivate frees a seat; a second deactivation says the machine is gone.
    let (st, _) = s
        .post(
            "/v1/deactivate",
            json!({"license_key": key, "fingerprint": fp(2)}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, e) = s
        .post(
            "/v1/deactivate",
            json!({"license_key": key, "fingerprint": fp(2)}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (404, Some("MACHINE_NOT_FOUND"))
    );
    let (st, _) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(3)}),
        )
        .await;
    assert_eq!(st, 201);

    // Suspend: check-in and activation refused; reinstate: accepted again; revoke: refused.
    let id = l["id"].as_str().expect("id");
    let (st, _) = s
        .admin(Method::POST, &format!("/licenses/{id}/suspend"), None)
        .await;
    assert_eq!(st, 200);
    let (st, e) = s
        .post(
            "/v1/check-in",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("KEY_SUSPENDED"))
    );
    let (_, v) = s.post("/v1/validate", json!({"license_key": key})).await;
    assert_eq!(
        (v["valid"].as_bool(), v["code"].as_str()),
        (Some(false), Some("KEY_SUSPENDED"))
    );
    let (st, _) = s
        .admin(Method::POST, &format!("/licenses/{id}/reinstate"), None)
        .await;
    assert_eq!(st, 200);
    let (st, _) = s
        .post(
            "/v1/check-in",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = s
        .admin(Method::POST, &format!("/licenses/{id}/revoke"), None)
        .await;
    assert_eq!(st, 200);
    let (st, e) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(7)}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("KEY_REVOKED"))
    );

    // Every state change and refusal is in the audit log.
    let (st, a) = s
        .admin(
            Method::GET,
            &format!("/audit?license_id={id}&limit=1000"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let actions: Vec<&str> = a["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in [
        "license.create",
        "machine.activate",
        "machine.check_in",
        "machine.deactivate",
        "license.suspend",
        "license.reinstate",
        "license.revoke",
        "request.refused",
    ] {
        assert!(actions.contains(&want), "audit lacks {want}: {actions:?}");
    }
    s.stop().await;
}

async fn expiry_is_enforced_online(db: Db) {
    let s = TestServer::start_on(db).await;
    let exp = "2027-01-15T09:00:00Z"; // one hour after the test clock's start
    let l = s.license("p", json!({"expires_at": exp})).await;
    let key = l["license_key"].as_str().expect("key");
    let (st, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    // The machine token never outlives the license.
    let ring = s.keyring().await;
    let m = ring
        .verify(
            a["machine_token"].as_str().expect("t"),
            &Expectations::new(Kind::Machine, "p", s.now()),
        )
        .expect("verifies");
    assert_eq!(m.claims.expires_at, Some(1_800_003_600));
    s.advance(3600);
    let (st, e) = s
        .post(
            "/v1/check-in",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("KEY_EXPIRED"))
    );
    let (st, e) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(2)}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("KEY_EXPIRED"))
    );
}

async fn bad_requests_get_json_errors_with_stable_codes(db: Db) {
    let s = TestServer::start_on_with(db, |c| c.body_limit = 1024).await;
    let l = s.license("p", json!({})).await;
    let key = l["license_key"].as_str().expect("key");
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            s.http
                .post(format!("{}/v1/activate", s.base))
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "BAD_REQUEST",
        ),
        (
            s.http.post(format!("{}/v1/activate", s.base)).body("{}"),
            400,
            "BAD_REQUEST",
        ),
        (
            s.http
                .post(format!("{}/v1/activate", s.base))
                .json(&json!({"license_key": key})),
            400,
            "BAD_REQUEST",
        ),
        (
            s.http
                .post(format!("{}/v1/activate", s.base))
                .json(&json!({"license_key": key, "fingerprint": "zz"})),
            400,
            "BAD_REQUEST",
        ),
        (
            s.http
                .post(format!("{}/v1/activate", s.base))
                .json(&json!({"license_key": key, "fingerprint": fp(1), "extra": 1})),
            400,
            "BAD_REQUEST",
        ),
        (
            s.http
                .post(format!("{}/v1/activate", s.base))
                .json(&json!({"license_key": "LIC-0000", "fingerprint": fp(1)})),
            404,
            "KEY_INVALID",
        ),
        (
            s.http
                .post(format!("{}/v1/activate", s.base))
                .json(&json!({"license_key": "not a key at all", "fingerprint": fp(1)})),
            404,
            "KEY_INVALID",
        ),
        (
            s.http
                .post(format!("{}/v1/validate", s.base))
                .json(&json!({"license_key": "x".repeat(4000)})),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            s.http.get(format!("{}/v1/nothing-here", s.base)),
            404,
            "NOT_FOUND",
        ),
        (
            s.http.get(format!("{}/v1/activate", s.base)),
            404,
            "NOT_FOUND",
        ),
        (
            s.http.get(format!("{}/v1/admin/products", s.base)),
            401,
            "UNAUTHORIZED",
        ),
        (
            s.http
                .get(format!("{}/v1/admin/products", s.base))
                .bearer_auth("wrong"),
            401,
            "UNAUTHORIZED",
        ),
        (
            s.http
                .get(format!("{}/v1/admin/licenses/00", s.base))
                .bearer_auth(common::ADMIN),
            404,
            "NOT_FOUND",
        ),
        (
            s.http
                .get(format!("{}/v1/admin/licenses?limit=abc", s.base))
                .bearer_auth(common::ADMIN),
            400,
            "BAD_REQUEST",
        ),
    ];
    for (i, (req, status, code)) in cases.into_iter().enumerate() {
        let (st, body) = common::send(req).await;
        assert_eq!(st, status, "case {i}: {body}");
        assert_eq!(body["error"]["code"], code, "case {i}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "case {i}: no message"
        );
    }
    // A valid key with a tampered character is not found (no signature is trusted blindly).
    let mut tampered: Vec<char> = key.chars().collect();
    let i = tampered.len() - 5;
    tampered[i] = if tampered[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    let (st, e) = s
        .post("/v1/validate", json!({"license_key": tampered}))
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (404, Some("KEY_INVALID"))
    );
}

async fn admin_products_and_licenses(db: Db) {
    let s = TestServer::start_on(db).await;
    let (st, _) = s
        .admin(Method::POST, "/products", Some(json!({"name": "alpha"})))
        .await;
    assert_eq!(st, 201);
    let (st, e) = s
        .admin(Method::POST, "/products", Some(json!({"name": "alpha"})))
        .await;
    assert_eq!((st, e["error"]["code"].as_str()), (409, Some("CONFLICT")));
    let (st, p) = s
        .admin(
            Method::PATCH,
            "/products/alpha",
            Some(json!({"support_message": "help!"})),
        )
        .await;
    assert_eq!((st, p["support_message"].as_str()), (200, Some("help!")));
    let (st, list) = s.admin(Method::GET, "/products", None).await;
    assert_eq!(
        (st, list["products"].as_array().map(Vec::len)),
        (200, Some(1))
    );

    // A license for a product that does not exist is refused.
    let (st, e) = s
        .admin(Method::POST, "/licenses", Some(json!({"product": "nope"})))
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (400, Some("BAD_REQUEST"))
    );

    // Bulk: all or nothing.
    let mut many: Vec<Value> = (0..5)
        .map(|i| json!({"product": "alpha", "customer": format!("c{i}")}))
        .collect();
    many.push(json!({"product": "missing"}));
    let (st, _) = s
        .admin(
            Method::POST,
            "/licenses/bulk",
            Some(json!({"licenses": many})),
        )
        .await;
    assert_eq!(st, 400);
    let (_, list) = s.admin(Method::GET, "/licenses", None).await;
    assert_eq!(
        list["licenses"].as_array().map(Vec::len),
        Some(0),
        "a failed bulk created nothing"
    );
    let many: Vec<Value> = (0..250)
        .map(|i| json!({"product": "alpha", "customer": format!("c{}", i % 5), "type": "trial"}))
        .collect();
    let (st, made) = s
        .admin(
            Method::POST,
            "/licenses/bulk",
            Some(json!({"licenses": many})),
        )
        .await;
    assert_eq!(st, 201, "{made}");
    assert_eq!(made["licenses"].as_array().map(Vec::len), Some(250));

    // Pagination visits every license exactly once; filters apply.
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/licenses?limit=64&customer=c1&cursor={c}"),
            None => "/licenses?limit=64&customer=c1".into(),
        };
        let (st, page) = s.admin(Method::GET, &q, None).await;
        assert_eq!(st, 200, "{page}");
        for l in page["licenses"].as_array().expect("licenses") {
            assert_eq!(l["customer"], "c1");
            assert!(
                seen.insert(l["id"].as_str().expect("id").to_owned()),
                "a license appeared twice"
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 50);
    // A last page that is exactly full ends the listing (no empty page after it).
    let (_, page) = s
        .admin(Method::GET, "/licenses?limit=50&customer=c1", None)
        .await;
    assert_eq!(page["licenses"].as_array().map(Vec::len), Some(50));
    assert!(page["next_cursor"].is_null(), "{}", page["next_cursor"]);
    let (_, page) = s
        .admin(Method::GET, "/licenses?limit=49&customer=c1", None)
        .await;
    assert!(
        page["next_cursor"].is_string(),
        "one more license, one more page"
    );

    // Update, get, delete.
    let id = made["licenses"][0]["id"].as_str().expect("id");
    let (st, u) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{id}"),
            Some(json!({"max_machines": 3, "features": ["b", "a", "a"]})),
        )
        .await;
    assert_eq!(st, 200, "{u}");
    assert_eq!(
        (u["max_machines"].as_u64(), u["features"].clone()),
        (Some(3), json!(["a", "b"]))
    );
    let (st, u) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{id}"),
            Some(json!({"max_machines": null})),
        )
        .await;
    assert_eq!((st, u["max_machines"].is_null()), (200, true));
    let (st, e) = s.admin(Method::DELETE, "/products/alpha", None).await;
    assert_eq!((st, e["error"]["code"].as_str()), (409, Some("CONFLICT")));
    let (st, _) = s
        .admin(Method::DELETE, &format!("/licenses/{id}"), None)
        .await;
    assert_eq!(st, 204);
    let (st, _) = s.admin(Method::GET, &format!("/licenses/{id}"), None).await;
    assert_eq!(st, 404);

    // Machines: list, deactivate one, reset.
    let l = s.license("beta", json!({})).await;
    let key = l["license_key"].as_str().expect("key");
    let lid = l["id"].as_str().expect("id");
    s.activate_machines(key, 3).await;
    let (_, ms) = s
        .admin(Method::GET, &format!("/licenses/{lid}/machines"), None)
        .await;
    let ms = ms["machines"].as_array().expect("machines").clone();
    assert_eq!(ms.len(), 3);
    let mid = ms[0]["id"].as_str().expect("id");
    // Ids in any case; an unknown machine or license is NOT_FOUND, naming what is missing.
    let (st, _) = s
        .admin(
            Method::DELETE,
            &format!(
                "/licenses/{}/machines/{}",
                lid.to_uppercase(),
                mid.to_uppercase()
            ),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, e) = s
        .admin(
            Method::DELETE,
            &format!("/licenses/{lid}/machines/{mid}"),
            None,
        )
        .await;
    assert_eq!((st, e["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no machine")),
        "{e}"
    );
    let (st, e) = s
        .admin(
            Method::DELETE,
            &format!("/licenses/{}/machines/{mid}", "0".repeat(32)),
            None,
        )
        .await;
    assert_eq!((st, e["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no license")),
        "{e}"
    );
    let (st, r) = s
        .admin(Method::DELETE, &format!("/licenses/{lid}/machines"), None)
        .await;
    assert_eq!((st, r["deactivated"].as_u64()), (200, Some(2)));
    let (_, v) = s.post("/v1/validate", json!({"license_key": key})).await;
    assert_eq!(v["machines"]["used"], 0);
}

#[tokio::test]
async fn data_is_private_and_a_lost_signing_key_is_not_silently_replaced() {
    let s = TestServer::start().await;
    s.license("p", json!({})).await;
    let dir = s.stop().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("licet.redb"))
            .expect("db")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the database holds every license key");
    }
    // The key directory lost (current, keys/): what a restore without it looks like.
    std::fs::remove_file(dir.path().join("current")).expect("remove current");
    std::fs::remove_dir_all(dir.path().join("keys")).expect("remove keys");
    let err = licet_server::start(
        &common::config(dir.path(), 8),
        licet_server::Options::default(),
        async {},
    )
    .await
    .err()
    .expect("a restart without the signing key is refused");
    assert!(err.contains("restore the key directory"), "{err}");
    assert!(
        !dir.path().join("current").exists() && !dir.path().join("keys").exists(),
        "no new key was made"
    );
}

on_every_backend!(
    activation_lifecycle_and_tokens_verify_offline,
    expiry_is_enforced_online,
    bad_requests_get_json_errors_with_stable_codes,
    admin_products_and_licenses,
);
