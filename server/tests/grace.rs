//! Grace periods (issue 15, item 2): an expired license within its policy's grace period is
//! served with the warning `KEY_IN_GRACE`, and the machine tokens issued then carry the
//! grace end (`docs/token-format.md` §7.6); a machine late for its check-in is served with
//! `CHECK_IN_OVERDUE`; after the grace, the license is refused (`KEY_EXPIRED`) and the
//! machine too (`CHECK_IN_MISSED`). Contradictory grace periods are refused by name.
//! Every test runs on redb and on PostgreSQL, on the test server's clock.

mod common;

use common::{Db, TestServer, assert_error, fp};
use licet_verifier::{Expectations, Kind};
use reqwest::Method;
use serde_json::{Value, json};

const DAY: u64 = 86_400;

fn rfc3339(t: u64) -> Value {
    json!(licet::json::rfc3339(t))
}

/// A product `cad` with the policy `pro` (`terms` over a yearly subscription with a
/// 14-day grace period), and a license made from it: its key and its expiry.
async fn licensed(s: &TestServer, terms: Value) -> (String, u64) {
    let (st, p) = s
        .admin(Method::POST, "/products", Some(json!({"name": "cad"})))
        .await;
    assert_eq!(st, 201, "{p}");
    let mut body = json!({"product": "cad", "name": "pro", "type": "subscription",
                          "duration": 365 * DAY, "grace_period": 14 * DAY});
    for (k, v) in terms.as_object().expect("terms") {
        body[k] = v.clone();
    }
    let (st, p) = s.admin(Method::POST, "/policies", Some(body)).await;
    assert_eq!(st, 201, "{p}");
    assert_eq!(p["grace_period"], 14 * DAY, "{p}");
    let (st, l) = s
        .admin(
            Method::POST,
            "/licenses",
            Some(json!({"product": "cad", "policy": "pro"})),
        )
        .await;
    assert_eq!(st, 201, "{l}");
    assert_eq!(l["grace_period"], 14 * DAY, "read through the policy: {l}");
    let key = l["license_key"].as_str().expect("key").to_owned();
    (key, s.now() + 365 * DAY)
}

/// The grace end a verified machine token carries, checked against the server's keyring.
async fn grace_claim(s: &TestServer, token: &Value) -> Option<u64> {
    let verified = s
        .keyring()
        .await
        .verify(
            token.as_str().expect("token"),
            &Expectations::new(Kind::Machine, "cad", s.now()),
        )
        .expect("the machine token verifies");
    let claims = verified.claims;
    if let (Some(g), Some(exp)) = (claims.grace_ends_at(), claims.expires_at) {
        assert!(exp <= g, "the token runs no later than the grace end");
    }
    claims.grace_ends_at()
}

/// After the license expires: validate, activate and check in answer `KEY_IN_GRACE` with the
/// grace end, and the machine tokens carry it; from the grace end on, `KEY_EXPIRED`.
async fn an_expired_license_is_served_in_grace_then_refused(db: Db) {
    let s = TestServer::start_on(db).await;
    // A check-in interval longer than the term, so that only the license's grace shows.
    let (key, expiry) = licensed(&s, json!({"check_in_interval": 400 * DAY})).await;
    let (st, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(0)}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    assert!(a.get("code").is_none(), "no warning while valid: {a}");
    assert_eq!(a["check_in_before"], rfc3339(expiry), "clipped at expiry");
    assert_eq!(grace_claim(&s, &a["machine_token"]).await, None);

    s.advance(365 * DAY + DAY);
    let ends = expiry + 14 * DAY;
    let (st, v) = s.post("/v1/validate", json!({"license_key": key})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (&v["valid"], &v["code"], &v["grace_ends_at"]),
        (&json!(true), &json!("KEY_IN_GRACE"), &rfc3339(ends)),
        "{v}"
    );
    let (st, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 201, "a new machine in grace: {a}");
    assert_eq!(
        (&a["code"], &a["grace_ends_at"]),
        (&json!("KEY_IN_GRACE"), &rfc3339(ends)),
        "{a}"
    );
    assert_eq!(a["check_in_before"], rfc3339(ends), "runs to the grace end");
    assert_eq!(grace_claim(&s, &a["machine_token"]).await, Some(ends));
    let (st, c) = s
        .post("/v1/check-in", json!({"machine_token": a["machine_token"]}))
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(
        (&c["code"], &c["grace_ends_at"]),
        (&json!("KEY_IN_GRACE"), &rfc3339(ends)),
        "{c}"
    );
    assert_eq!(grace_claim(&s, &c["machine_token"]).await, Some(ends));
    // Floating seats have no grace: a seat is clipped at the license's expiry.
    let (st, l) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    assert!(
        st == 403 && l["error"]["code"] == "KEY_EXPIRED",
        "a lease in grace: {st} {l}"
    );

    // The grace end: refused as any expired license.
    s.advance(13 * DAY);
    assert_eq!(s.now(), ends);
    let (st, v) = s.post("/v1/validate", json!({"license_key": key})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (&v["valid"], &v["code"]),
        (&json!(false), &json!("KEY_EXPIRED"))
    );
    assert!(v.get("grace_ends_at").is_none(), "{v}");
    let a2 = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(2)}),
        )
        .await;
    assert_error(&a2, 403, "KEY_EXPIRED", "expired");
    let c2 = s
        .post("/v1/check-in", json!({"machine_token": c["machine_token"]}))
        .await;
    assert_error(&c2, 403, "KEY_EXPIRED", "expired");
}

/// A machine late for its check-in: `CHECK_IN_OVERDUE` within the grace after its
/// deadline (and a check-in puts it back on time), `CHECK_IN_MISSED` after; a license
/// without a grace period takes a late check-in as it always did.
async fn a_machine_late_for_check_in_is_served_in_grace_then_refused(db: Db) {
    let s = TestServer::start_on(db).await;
    let (key, _) = licensed(&s, json!({"check_in_interval": 7 * DAY})).await;
    let (st, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(0)}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    let t0 = s.now();

    s.advance(7 * DAY + 3600);
    let with_fp = json!({"license_key": key, "fingerprint": fp(0)});
    let (st, v) = s.post("/v1/validate", with_fp.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (&v["valid"], &v["code"], &v["grace_ends_at"]),
        (
            &json!(true),
            &json!("CHECK_IN_OVERDUE"),
            &rfc3339(t0 + 21 * DAY)
        ),
        "{v}"
    );
    let (_, v) = s.post("/v1/validate", json!({"license_key": key})).await;
    assert_eq!(v["code"], "VALID", "the license itself is on time: {v}");
    let (st, c) = s
        .post("/v1/check-in", json!({"machine_token": a["machine_token"]}))
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(
        (&c["code"], &c["grace_ends_at"]),
        (&json!("CHECK_IN_OVERDUE"), &rfc3339(t0 + 21 * DAY)),
        "the late check-in is taken, with the warning: {c}"
    );
    assert_eq!(grace_claim(&s, &c["machine_token"]).await, None);
    let t1 = s.now();
    let (_, v) = s.post("/v1/validate", with_fp.clone()).await;
    assert_eq!(v["code"], "VALID", "back on time: {v}");

    // Past the deadline and the grace after it.
    s.advance(21 * DAY);
    let (st, v) = s.post("/v1/validate", with_fp.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (&v["valid"], &v["code"]),
        (&json!(false), &json!("CHECK_IN_MISSED")),
        "{v}"
    );
    let missed = s
        .post("/v1/check-in", json!({"machine_token": c["machine_token"]}))
        .await;
    assert_error(
        &missed,
        403,
        "CHECK_IN_MISSED",
        &licet::json::rfc3339(t1 + 7 * DAY),
    );
    // A fresh token by activating again is a check-in too.
    let again = s.post("/v1/activate", with_fp.clone()).await;
    assert_error(&again, 403, "CHECK_IN_MISSED", "deactivate it");
    // The way back: deactivate, activate again.
    let (st, d) = s.post("/v1/deactivate", with_fp.clone()).await;
    assert_eq!(st, 200, "{d}");
    let (st, a) = s.post("/v1/activate", with_fp.clone()).await;
    assert_eq!(st, 201, "{a}");
    assert!(a.get("code").is_none(), "{a}");

    // Without a grace period: a late check-in is taken whenever it comes, as before.
    let plain = s.license("cad", json!({"check_in_interval": DAY})).await;
    let plain_key = plain["license_key"].as_str().expect("key");
    let (st, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": plain_key, "fingerprint": fp(9)}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    s.advance(30 * DAY);
    let (st, v) = s
        .post(
            "/v1/validate",
            json!({"license_key": plain_key, "fingerprint": fp(9)}),
        )
        .await;
    assert_eq!((st, &v["code"]), (200, &json!("VALID")), "{v}");
    let (st, c) = s
        .post("/v1/check-in", json!({"machine_token": a["machine_token"]}))
        .await;
    assert_eq!(st, 200, "{c}");
    assert!(c.get("code").is_none(), "{c}");
}

/// A grace period longer than the license, or past its range, is refused naming
/// `grace_period`, on a policy and on a license.
async fn contradictory_grace_periods_are_refused_naming_the_field(db: Db) {
    let s = TestServer::start_on(db).await;
    let (st, p) = s
        .admin(Method::POST, "/products", Some(json!({"name": "cad"})))
        .await;
    assert_eq!(st, 201, "{p}");
    for terms in [
        json!({"duration": 10 * DAY, "grace_period": 11 * DAY}),
        json!({"grace_period": 367 * DAY}),
    ] {
        let mut body = json!({"product": "cad", "name": "bad"});
        for (k, v) in terms.as_object().expect("terms") {
            body[k] = v.clone();
        }
        let r = s.admin(Method::POST, "/policies", Some(body)).await;
        assert_error(&r, 400, "BAD_REQUEST", "grace_period");
    }
    let r = s
        .admin(
            Method::POST,
            "/licenses",
            Some(json!({"product": "cad", "grace_period": 400 * DAY})),
        )
        .await;
    assert_error(&r, 400, "BAD_REQUEST", "grace_period");
    // A policy whose change would give a license a grace longer than its duration.
    let (st, p) = s
        .admin(
            Method::POST,
            "/policies",
            Some(json!({"product": "cad", "name": "month", "duration": 30 * DAY})),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let r = s
        .admin(
            Method::PATCH,
            "/policies/cad/month",
            Some(json!({"grace_period": 31 * DAY})),
        )
        .await;
    assert_error(&r, 400, "BAD_REQUEST", "grace_period");
    let l = s.license("cad", json!({})).await;
    let id = l["id"].as_str().expect("id");
    let (st, l) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{id}"),
            Some(json!({"grace_period": 7 * DAY})),
        )
        .await;
    assert_eq!((st, &l["grace_period"]), (200, &json!(7 * DAY)), "{l}");
    assert!(
        l["overrides"]
            .as_array()
            .is_some_and(|o| o.contains(&json!("grace_period"))),
        "{l}"
    );
}

on_every_backend!(
    an_expired_license_is_served_in_grace_then_refused,
    a_machine_late_for_check_in_is_served_in_grace_then_refused,
    contradictory_grace_periods_are_refused_naming_the_field,
);
