//! Deactivation limits and the cooldown of a freed activation (issue 15, item 3), over HTTP
//! on the real server: refused with `DEACTIVATION_LIMIT_REACHED` / `ACTIVATION_COOLDOWN`
//! and the time it becomes possible, online and offline, not for the vendor's admin; a
//! deactivated machine's id in the signed revocation list until its last token expires;
//! exact under 200 concurrent requests. Every test runs on redb and on PostgreSQL.

mod common;

use std::time::Duration;

use common::{Db, TestServer, fp};
use reqwest::Method;
use serde_json::{Value, json};

const DAY: u64 = 86_400;
const HOURS_2: u64 = 7_200;

/// A product `p`, a policy `one-machine` with these terms over one machine, and a license
/// of it; the license's JSON.
async fn license(s: &TestServer, terms: Value) -> Value {
    let (st, p) = s
        .admin(Method::POST, "/products", Some(json!({"name": "p"})))
        .await;
    assert!(st == 201 || st == 409, "{p}");
    let mut body = json!({"product": "p", "name": "one-machine", "max_machines": 1});
    for (k, v) in terms.as_object().expect("terms") {
        body[k] = v.clone();
    }
    let (st, p) = s.admin(Method::POST, "/policies", Some(body)).await;
    assert_eq!(st, 201, "{p}");
    let (st, l) = s
        .admin(
            Method::POST,
            "/licenses",
            Some(json!({"product": "p", "policy": "one-machine"})),
        )
        .await;
    assert_eq!(st, 201, "{l}");
    l
}

async fn activate(s: &TestServer, key: &str, n: u64) -> (u16, Value) {
    s.post(
        "/v1/activate",
        json!({"license_key": key, "fingerprint": fp(n)}),
    )
    .await
}

async fn deactivate(s: &TestServer, key: &str, n: u64) -> (u16, Value) {
    s.post(
        "/v1/deactivate",
        json!({"license_key": key, "fingerprint": fp(n)}),
    )
    .await
}

/// Asserts a 409 refusal with `code` whose `retry_at` is `at` (RFC 3339), or absent.
fn refused(answer: &(u16, Value), code: &str, at: Option<u64>) {
    let (st, body) = answer;
    assert_eq!(
        (*st, body["error"]["code"].as_str()),
        (409, Some(code)),
        "{body}"
    );
    assert_eq!(
        body["error"]["retry_at"].as_str(),
        at.map(licet::json::rfc3339).as_deref(),
        "{body}"
    );
}

async fn machine_count(s: &TestServer, id: &str) -> usize {
    common::machines(&s.base, &s.http, id).await.len()
}

async fn limits_and_cooldown_answer_over_http(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = license(
        &s,
        json!({"deactivation_limit": 2, "deactivation_period": 30 * DAY, "activation_cooldown": DAY}),
    )
    .await;
    assert_eq!(
        (
            &l["deactivation_limit"],
            &l["deactivation_period"],
            &l["activation_cooldown"]
        ),
        (&json!(2), &json!(30 * DAY), &json!(DAY))
    );
    let (key, id) = (
        l["license_key"].as_str().expect("key"),
        l["id"].as_str().expect("id"),
    );
    let t0 = s.now();

    // 1: activate, deactivate; the next machine waits out the cooldown.
    assert_eq!(activate(&s, key, 1).await.0, 201);
    assert_eq!(deactivate(&s, key, 1).await.0, 200);
    s.advance(DAY - 1);
    refused(
        &activate(&s, key, 2).await,
        "ACTIVATION_COOLDOWN",
        Some(t0 + DAY),
    );
    assert_eq!(machine_count(&s, id).await, 0, "nothing changed");
    s.advance(1);
    let (st, g) = activate(&s, key, 2).await;
    assert_eq!(st, 201, "{g}");

    // 2: the second deactivation, offline (the request file of `licet offline deactivate`).
    let t2 = s.now();
    let token = g["machine_token"].as_str().expect("token");
    let req = licet::offline::Deactivation::new(key, token, t2)
        .expect("request")
        .to_json();
    let offline = |body: String| {
        common::send(
            s.http
                .post(format!("{}/v1/offline/deactivate", s.base))
                .header("content-type", "application/json")
                .body(body),
        )
    };
    let (st, r) = offline(req).await;
    assert_eq!(st, 200, "{r}");

    // 3: over the limit, online and offline: refused, nothing changed, and possible again
    // when the first one leaves the 30 days.
    s.advance(DAY);
    let (st, g) = activate(&s, key, 3).await;
    assert_eq!(st, 201, "{g}");
    let over = deactivate(&s, key, 3).await;
    refused(&over, "DEACTIVATION_LIMIT_REACHED", Some(t0 + 30 * DAY));
    common::assert_error(
        &over,
        409,
        "DEACTIVATION_LIMIT_REACHED",
        "deactivated 2 times within 30 days",
    );
    let token = g["machine_token"].as_str().expect("token");
    let req = licet::offline::Deactivation::new(key, token, s.now())
        .expect("request")
        .to_json();
    refused(
        &offline(req.clone()).await,
        "DEACTIVATION_LIMIT_REACHED",
        Some(t0 + 30 * DAY),
    );
    assert_eq!(machine_count(&s, id).await, 1, "nothing changed");
    s.advance(t0 + 30 * DAY - s.now());
    let (st, r) = offline(req).await;
    assert_eq!(st, 200, "the same request, once possible: {r}");

    // The freed activation cools down again; then the vendor's admin frees one without
    // a cooldown, and its deactivation does not count against the limit.
    refused(
        &activate(&s, key, 4).await,
        "ACTIVATION_COOLDOWN",
        Some(s.now() + DAY),
    );
    s.advance(DAY);
    let (st, g) = activate(&s, key, 4).await;
    assert_eq!(st, 201, "{g}");
    let machine = g["machine_id"].as_str().expect("machine id");
    let (st, body) = s
        .admin(
            Method::DELETE,
            &format!("/licenses/{id}/machines/{machine}"),
            None,
        )
        .await;
    assert_eq!(st, 204, "{body}");
    let (st, g) = activate(&s, key, 5).await;
    assert_eq!(st, 201, "freed by the vendor, no cooldown: {g}");
    let (st, body) = deactivate(&s, key, 5).await;
    assert_eq!(
        st, 200,
        "the second within 30 days, the vendor's not counted: {body}"
    );
    s.advance(DAY);
    assert_eq!(activate(&s, key, 6).await.0, 201);
    refused(
        &deactivate(&s, key, 6).await,
        "DEACTIVATION_LIMIT_REACHED",
        Some(t0 + 60 * DAY),
    );

    // Overridden per license: this one may cycle freely.
    let (st, l) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{id}"),
            Some(json!({"deactivation_limit": null, "activation_cooldown": 0})),
        )
        .await;
    assert_eq!(st, 200, "{l}");
    assert_eq!(
        l["overrides"],
        json!(["deactivation_limit", "activation_cooldown"])
    );
    for n in 6..10 {
        assert_eq!(deactivate(&s, key, n).await.0, 200);
        assert_eq!(activate(&s, key, n + 1).await.0, 201);
    }
}

async fn absurd_and_contradictory_terms_are_refused_naming_the_field(db: Db) {
    let s = TestServer::start_on(db).await;
    let (st, _) = s
        .admin(Method::POST, "/products", Some(json!({"name": "p"})))
        .await;
    assert_eq!(st, 201);
    for (terms, field) in [
        (json!({"deactivation_limit": -1}), "deactivation_limit"),
        (
            json!({"deactivation_limit": 1_000_001}),
            "deactivation_limit",
        ),
        (json!({"deactivation_period": 0}), "deactivation_period"),
        (
            json!({"deactivation_period": 400 * DAY}),
            "deactivation_period",
        ),
        (
            json!({"activation_cooldown": 400 * DAY}),
            "activation_cooldown",
        ),
        (
            json!({"duration": DAY, "activation_cooldown": DAY}),
            "activation_cooldown",
        ),
    ] {
        let mut body = json!({"product": "p", "name": "broken"});
        for (k, v) in terms.as_object().expect("terms") {
            body[k] = v.clone();
        }
        let answer = s.admin(Method::POST, "/policies", Some(body)).await;
        common::assert_error(&answer, 400, "BAD_REQUEST", field);
    }
    // And on a license's own terms.
    let l = s.license("p", json!({})).await;
    let id = l["id"].as_str().expect("id");
    let answer = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{id}"),
            Some(json!({"activation_cooldown": 400 * DAY})),
        )
        .await;
    common::assert_error(&answer, 400, "BAD_REQUEST", "activation_cooldown");
}

async fn a_deactivated_machine_is_listed_as_revoked_until_its_last_token_expires(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s
        .license(
            "p",
            json!({"check_in_interval": HOURS_2, "max_machines": 2}),
        )
        .await;
    let key = l["license_key"].as_str().expect("key");
    let keyring = s.keyring().await;
    let list = || async {
        let r = s
            .http
            .get(format!("{}/v1/revocations", s.base))
            .send()
            .await
            .expect("get");
        let seq: u64 = r.headers()["licet-sequence"]
            .to_str()
            .expect("header")
            .parse()
            .expect("sequence");
        let pem = r.text().await.expect("text");
        let list = licet_verifier::RevocationList::verify_pem(&keyring, &pem, None)
            .expect("the server's list verifies");
        assert_eq!(list.sequence, seq);
        list
    };
    let token = |g: &Value, at: u64| {
        keyring
            .verify(
                g["machine_token"].as_str().expect("token"),
                &licet_verifier::Expectations::new(licet_verifier::Kind::Machine, "p", at),
            )
            .expect("machine token")
            .claims
    };
    let (st, kept) = activate(&s, key, 1).await;
    assert_eq!(st, 201);
    let (st, gone) = activate(&s, key, 2).await;
    assert_eq!(st, 201);
    let before = list().await;
    assert!(before.machines.is_empty());
    s.advance(60);
    let (st, body) = deactivate(&s, key, 2).await;
    assert_eq!(st, 200, "{body}");
    let after = list().await;
    assert!(after.sequence > before.sequence);
    let now = s.now();
    assert_eq!(
        after.check(&token(&gone, now)).map_err(|e| e.code()),
        Err("MACHINE_REVOKED")
    );
    assert_eq!(
        after.check(&token(&kept, now)).map_err(|e| e.code()),
        Ok(())
    );
    // Online: the machine is gone.
    let (st, v) = s
        .post(
            "/v1/validate",
            json!({"license_key": key, "fingerprint": fp(2)}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (200, Some("MACHINE_NOT_FOUND")),
        "{v}"
    );
    // Listed until its last token's deadline (deactivation + check-in interval), then
    // dropped by a list with a higher sequence.
    // (Shorter than a list's next update, which signs it again anyway.)
    s.advance(HOURS_2 - 1);
    let same = list().await;
    assert_eq!((same.sequence, same.machines.len()), (after.sequence, 1));
    s.advance(1);
    let later = list().await;
    assert!(later.sequence > after.sequence && later.machines.is_empty());
    // The vendor's deactivation is revoked too.
    let machine = kept["machine_id"].as_str().expect("machine id");
    let id = l["id"].as_str().expect("id");
    let (st, _) = s
        .admin(
            Method::DELETE,
            &format!("/licenses/{id}/machines/{machine}"),
            None,
        )
        .await;
    assert_eq!(st, 204);
    assert_eq!(list().await.machines.len(), 1);
}

/// Sends `n` concurrent `POST {path}` requests, the body of request `i` made by `body(i)`,
/// and counts the answers `ok` and the 409s refused with `refusal` (any other answer
/// fails the test).
async fn at_once(
    s: &TestServer,
    path: &str,
    n: u64,
    body: impl Fn(u64) -> Value,
    ok: u16,
    refusal: &str,
) -> (u64, u64) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let req = http.post(format!("{}{path}", s.base)).json(&body(i));
            tokio::spawn(common::send(req))
        })
        .collect();
    let (mut done, mut refused) = (0, 0);
    for t in tasks {
        let (st, body) = t.await.expect("task");
        match st {
            s if s == ok => done += 1,
            409 if body["error"]["code"] == refusal => refused += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    (done, refused)
}

async fn the_limits_hold_under_200_concurrent_requests(db: Db) {
    let s = TestServer::start_on(db).await;
    // The deactivation limit: 200 machines, 200 deactivations at once, 5 allowed.
    let l = s
        .license(
            "p",
            json!({"deactivation_limit": 5, "deactivation_period": DAY}),
        )
        .await;
    let (key, id) = (
        l["license_key"].as_str().expect("key"),
        l["id"].as_str().expect("id"),
    );
    s.activate_machines(key, 200).await;
    let (done, refused) = at_once(
        &s,
        "/v1/deactivate",
        200,
        |i| json!({"license_key": key, "fingerprint": fp(i)}),
        200,
        "DEACTIVATION_LIMIT_REACHED",
    )
    .await;
    assert_eq!((done, refused), (5, 195));
    assert_eq!(machine_count(&s, id).await, 195);

    // The cooldown: 200 activations allowed, 150 used, 20 of them freed just now: of 200
    // new machines at once, exactly the 30 activations never freed are taken.
    let l = s
        .license(
            "p",
            json!({"max_machines": 200, "activation_cooldown": DAY}),
        )
        .await;
    let (key, id) = (
        l["license_key"].as_str().expect("key"),
        l["id"].as_str().expect("id"),
    );
    s.activate_machines(key, 150).await;
    for n in 0..20 {
        assert_eq!(deactivate(&s, key, n).await.0, 200);
    }
    let (done, refused) = at_once(
        &s,
        "/v1/activate",
        200,
        |i| json!({"license_key": key, "fingerprint": fp(10_000 + i)}),
        201,
        "ACTIVATION_COOLDOWN",
    )
    .await;
    assert_eq!((done, refused), (50, 150));
    assert_eq!(machine_count(&s, id).await, 180);
}

on_every_backend!(
    limits_and_cooldown_answer_over_http,
    absurd_and_contradictory_terms_are_refused_naming_the_field,
    a_deactivated_machine_is_listed_as_revoked_until_its_last_token_expires,
    the_limits_hold_under_200_concurrent_requests,
);
