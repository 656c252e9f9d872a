//! Keyless trials (issue 15, item 4): a product names the trial policy its trials are made
//! from; `POST /v1/trials` gives a machine a trial license bound to it, once per fingerprint
//! and product, for ever; a second request answers the same trial (its refusal once it
//! expired, never a fresh one), also under 200 concurrent requests; refusals have stable
//! codes; the route is rate-limited per address and obeys the deny list; `migrate` copies
//! the trials. Every test runs on redb and on PostgreSQL.

mod common;

use common::{Db, Process, TestServer, fp};
use reqwest::Method;
use serde_json::{Value, json};

const DAY: u64 = 86_400;

async fn product(s: &TestServer, name: &str) {
    let (st, p) = s
        .admin(
            Method::POST,
            "/products",
            Some(json!({"name": name, "support_message": "Write to help@example.com"})),
        )
        .await;
    assert_eq!(st, 201, "{p}");
}

async fn policy(s: &TestServer, body: Value) {
    let (st, p) = s.admin(Method::POST, "/policies", Some(body)).await;
    assert_eq!(st, 201, "{p}");
}

/// A product `name` whose trials are 30 days of the `pro` feature.
async fn trial_product(s: &TestServer, name: &str) {
    product(s, name).await;
    policy(
        s,
        json!({"product": name, "name": "trial-30", "type": "trial", "duration": 30 * DAY,
               "features": ["pro"]}),
    )
    .await;
    let (st, p) = s
        .admin(
            Method::PATCH,
            &format!("/products/{name}"),
            Some(json!({"trial_policy": "trial-30"})),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["trial_policy"], "trial-30", "{p}");
}

async fn trial(s: &TestServer, product: &str, fingerprint: &str) -> (u16, Value) {
    s.post(
        "/v1/trials",
        json!({"product": product, "fingerprint": fingerprint}),
    )
    .await
}

async fn licenses_of(s: &TestServer, product: &str) -> Vec<Value> {
    let (st, list) = s
        .admin(
            Method::GET,
            &format!("/licenses?product={product}&limit=1000"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{list}");
    list["licenses"].as_array().expect("licenses").clone()
}

/// The trial policy is checked when it is set and while it is set: it must exist, be of
/// type trial and have a duration; it cannot be made unfit or deleted while a product
/// names it; `null` stops the trials.
async fn a_product_offers_trials_only_from_a_trial_policy_with_a_duration(db: Db) {
    let s = TestServer::start_on(db).await;
    product(&s, "cad").await;
    policy(
        &s,
        json!({"product": "cad", "name": "yearly", "type": "subscription", "duration": 365 * DAY}),
    )
    .await;
    policy(
        &s,
        json!({"product": "cad", "name": "forever", "type": "trial"}),
    )
    .await;
    policy(
        &s,
        json!({"product": "cad", "name": "trial-14", "type": "trial", "duration": 14 * DAY}),
    )
    .await;
    let set = |v: Value| {
        let s = &s;
        async move {
            s.admin(
                Method::PATCH,
                "/products/cad",
                Some(json!({ "trial_policy": v })),
            )
            .await
        }
    };
    for (value, says) in [
        (json!("nope"), "has no policy 'nope'"),
        (json!("yearly"), "must have type \"trial\""),
        (json!("forever"), "must have a duration"),
        (json!("bad name!"), "policy name must be"),
    ] {
        let answer = set(value.clone()).await;
        common::assert_error(&answer, 400, "BAD_REQUEST", says);
        common::assert_error(&answer, 400, "BAD_REQUEST", "trial_policy");
    }
    let (st, p) = set(json!("trial-14")).await;
    assert_eq!((st, &p["trial_policy"]), (200, &json!("trial-14")), "{p}");
    let (st, p) = s.admin(Method::GET, "/products/cad", None).await;
    assert_eq!((st, &p["trial_policy"]), (200, &json!("trial-14")), "{p}");
    // While it is the trial policy it stays fit for trials, and is not deleted.
    let answer = s
        .admin(
            Method::PATCH,
            "/policies/cad/trial-14",
            Some(json!({"duration": null})),
        )
        .await;
    common::assert_error(&answer, 400, "BAD_REQUEST", "trial policy of product 'cad'");
    let answer = s
        .admin(
            Method::PATCH,
            "/policies/cad/trial-14",
            Some(json!({"type": "subscription"})),
        )
        .await;
    common::assert_error(&answer, 400, "BAD_REQUEST", "must have type \"trial\"");
    let (st, p) = s
        .admin(
            Method::PATCH,
            "/policies/cad/trial-14",
            Some(json!({"duration": 7 * DAY})),
        )
        .await;
    assert_eq!(st, 200, "a change that keeps it a trial is fine: {p}");
    let answer = s
        .admin(Method::DELETE, "/policies/cad/trial-14", None)
        .await;
    common::assert_error(&answer, 409, "CONFLICT", "trial policy of product 'cad'");
    // null stops the trials; then the policy may go.
    let (st, p) = set(Value::Null).await;
    assert_eq!((st, &p["trial_policy"]), (200, &Value::Null), "{p}");
    let answer = trial(&s, "cad", &fp(1)).await;
    common::assert_error(&answer, 403, "TRIALS_NOT_OFFERED", "cad");
    let (st, _) = s
        .admin(Method::DELETE, "/policies/cad/trial-14", None)
        .await;
    assert_eq!(st, 204);
    let (_, audit) = s
        .admin(Method::GET, "/audit?action=product.update", None)
        .await;
    assert!(
        audit["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["detail"]["trial_policy"] == "trial-14"),
        "setting the trial policy is audited: {audit}"
    );
}

/// A trial: a new license of type trial, the policy's duration and features, one machine,
/// this machine activated with a token that verifies offline; asked again, the same
/// license with a fresh token; another fingerprint or product, another trial; expired,
/// `KEY_EXPIRED` and never a fresh one.
async fn a_trial_is_given_once_per_fingerprint_and_product_for_ever(db: Db) {
    let s = TestServer::start_on(db).await;
    trial_product(&s, "cad").await;
    trial_product(&s, "cam").await;
    let now = s.now();
    let (st, t) = trial(&s, "cad", &fp(1)).await;
    assert_eq!(st, 201, "{t}");
    assert_eq!(t["new"], true, "{t}");
    assert_eq!(t["type"], "trial", "{t}");
    assert_eq!(t["features"], json!(["pro"]), "{t}");
    assert_eq!(t["remaining_activations"], 0, "{t}");
    assert_eq!(
        t["expires_at"],
        json!(licet::json::rfc3339(now + 30 * DAY)),
        "{t}"
    );
    let key = t["license_key"].as_str().expect("key").to_owned();
    let id = t["license_id"].as_str().expect("id").to_owned();
    // The machine token is this machine's, on the trial license, and verifies offline.
    let keyring = s.keyring().await;
    let fingerprint: [u8; 32] = licet_verifier::unhex(&fp(1)).expect("fp");
    let token = t["machine_token"].as_str().expect("token");
    let claims = keyring
        .verify(
            token,
            &licet_verifier::Expectations::new(licet_verifier::Kind::Machine, "cad", now)
                .fingerprint(fingerprint),
        )
        .expect("the machine token verifies")
        .claims;
    assert_eq!(licet_verifier::hex(claims.license_id()), id);
    // Its license is an ordinary one: valid for this machine, bound to it.
    let (st, v) = s
        .post(
            "/v1/validate",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!((st, &v["code"]), (200, &json!("VALID")), "{v}");
    assert_eq!(v["machines"], json!({"allowed": 1, "used": 1}), "{v}");
    let answer = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(2)}),
        )
        .await;
    common::assert_error(&answer, 409, "ACTIVATION_LIMIT_REACHED", "limit: 1");
    let (st, l) = s.admin(Method::GET, &format!("/licenses/{id}"), None).await;
    assert_eq!(st, 200, "{l}");
    assert_eq!(
        (&l["policy"], &l["type"], &l["max_machines"]),
        (&json!("trial-30"), &json!("trial"), &json!(1)),
        "{l}"
    );

    // Asked again: the same trial, a fresh token.
    s.advance(DAY);
    let (st, again) = trial(&s, "cad", &fp(1)).await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(again["new"], false, "{again}");
    assert_eq!(again["license_key"], key.as_str(), "{again}");
    assert_ne!(again["machine_token"], t["machine_token"], "a fresh token");
    // Deactivated, then asked again: the same trial, this machine activated again.
    let (st, d) = s
        .post(
            "/v1/deactivate",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 200, "{d}");
    let (st, again) = trial(&s, "cad", &fp(1)).await;
    assert_eq!((st, &again["license_id"]), (200, &json!(id)), "{again}");
    // Another fingerprint, or another product: a trial of its own.
    let (st, other) = trial(&s, "cad", &fp(2)).await;
    assert_eq!(st, 201, "{other}");
    assert_ne!(other["license_id"], json!(id));
    let (st, elsewhere) = trial(&s, "cam", &fp(1)).await;
    assert_eq!(st, 201, "{elsewhere}");
    assert_ne!(elsewhere["license_id"], json!(id));

    // Expired: the expired trial's refusal, never a fresh trial, however often.
    s.advance(30 * DAY);
    for _ in 0..3 {
        let answer = trial(&s, "cad", &fp(1)).await;
        common::assert_error(&answer, 403, "KEY_EXPIRED", "expired");
        assert_eq!(
            answer.1["error"]["support_message"], "Write to help@example.com",
            "{}",
            answer.1
        );
    }
    assert_eq!(
        licenses_of(&s, "cad").await.len(),
        2,
        "two fingerprints, two trials"
    );
    // Deleted by an admin: still no second trial.
    let (st, _) = s
        .admin(Method::DELETE, &format!("/licenses/{id}"), None)
        .await;
    assert_eq!(st, 204);
    let answer = trial(&s, "cad", &fp(1)).await;
    common::assert_error(&answer, 403, "KEY_REVOKED", "revoked");
    assert_eq!(licenses_of(&s, "cad").await.len(), 1);

    // Audited like a license creation, by the client.
    let (_, audit) = s
        .admin(Method::GET, "/audit?action=license.create", None)
        .await;
    let made: Vec<&Value> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["detail"]["trial"] == true)
        .collect();
    assert_eq!(made.len(), 3, "{audit}");
    assert!(made.iter().all(|e| e["actor"] == "client"), "{audit}");
    assert!(
        made.iter().any(|e| e["license_id"] == json!(id)
            && e["detail"]["fingerprint"] == json!(fp(1))
            && e["detail"]["policy"] == "trial-30"),
        "{audit}"
    );
}

/// Refusals: a product without trials, an unknown product, a bad fingerprint, bad bodies;
/// each a stable code naming what is wrong, and the refusals audited.
async fn trials_refuse_what_they_cannot_give_with_a_stable_code(db: Db) {
    let s = TestServer::start_on(db).await;
    product(&s, "plain").await;
    let answer = trial(&s, "plain", &fp(1)).await;
    common::assert_error(
        &answer,
        403,
        "TRIALS_NOT_OFFERED",
        "'plain' offers no trials",
    );
    assert_eq!(
        answer.1["error"]["support_message"], "Write to help@example.com",
        "{}",
        answer.1
    );
    common::assert_error(
        &trial(&s, "ghost", &fp(1)).await,
        404,
        "NOT_FOUND",
        "no product 'ghost'",
    );
    common::assert_error(
        &trial(&s, "plain", "abc").await,
        400,
        "BAD_REQUEST",
        "fingerprint",
    );
    common::assert_error(
        &trial(&s, "", &fp(1)).await,
        400,
        "BAD_REQUEST",
        "product name",
    );
    common::assert_error(
        &s.post("/v1/trials", json!({"product": "plain"})).await,
        400,
        "BAD_REQUEST",
        "fingerprint",
    );
    common::assert_error(
        &s.post(
            "/v1/trials",
            json!({"product": "plain", "fingerprint": fp(1), "license_key": "x"}),
        )
        .await,
        400,
        "BAD_REQUEST",
        "license_key",
    );
    assert!(licenses_of(&s, "plain").await.is_empty());
    let s = s.restart().await;
    let (_, audit) = s
        .admin(Method::GET, "/audit?action=request.refused", None)
        .await;
    let codes: Vec<&str> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["detail"]["request"] == "trial")
        .filter_map(|e| e["detail"]["code"].as_str())
        .collect();
    assert!(codes.contains(&"TRIALS_NOT_OFFERED"), "{audit}");
    assert!(codes.contains(&"NOT_FOUND"), "{audit}");
}

/// The deny list applies (by fingerprint and by address), and the per-address rate limit.
async fn trials_obey_the_deny_list_and_the_rate_limit(db: Db) {
    let s = TestServer::start_on_with(db, |c| {
        c.ip_rate = 1;
        c.ip_burst = 3;
    })
    .await;
    trial_product(&s, "cad").await;
    let (st, e) = s
        .admin(
            Method::POST,
            "/deny",
            Some(json!({"kind": "fingerprint", "value": fp(6), "reason": "abuse"})),
        )
        .await;
    assert_eq!(st, 201, "{e}");
    let answer = trial(&s, "cad", &fp(6)).await;
    common::assert_error(&answer, 403, "DENIED", "refuses");
    assert_eq!(
        answer.1["error"]["support_message"], "Write to help@example.com",
        "the product named in the request gives the support message: {}",
        answer.1
    );
    let (st, e) = s
        .admin(
            Method::POST,
            "/deny",
            Some(json!({"kind": "ip", "value": "127.0.0.1", "reason": "abuse"})),
        )
        .await;
    assert_eq!(st, 201, "{e}");
    common::assert_error(&trial(&s, "cad", &fp(7)).await, 403, "DENIED", "refuses");
    let ip_entry = e["id"].as_str().expect("id").to_owned();
    let (st, _) = s
        .admin(Method::DELETE, &format!("/deny/{ip_entry}"), None)
        .await;
    assert_eq!(st, 204);
    // Denied requests took no bucket: three go through, the fourth is limited.
    let mut answers = Vec::new();
    for i in 0..4 {
        answers.push(trial(&s, "cad", &fp(10 + i)).await);
    }
    for (i, a) in answers.iter().take(3).enumerate() {
        assert_eq!(a.0, 201, "request {i}: {}", a.1);
    }
    common::assert_error(&answers[3], 429, "RATE_LIMITED", "retry after");
    assert_eq!(licenses_of(&s, "cad").await.len(), 3);
}

/// 200 concurrent requests for one fingerprint make one trial: one 201, 199 answers with
/// that same license, one license and one machine stored. Three rounds, each with a new
/// fingerprint, so that a lost race shows even when one round happens to queue well.
async fn two_hundred_concurrent_requests_make_one_trial(db: Db) {
    let s = TestServer::start_on(db).await;
    trial_product(&s, "cad").await;
    for round in 0..3u64 {
        // 200 connections opened first, so that the trial requests do not arrive one
        // connection set-up after another, but all at once.
        let warm: Vec<_> = (0..200)
            .map(|_| tokio::spawn(common::send(s.http.get(format!("{}/healthz", s.base)))))
            .collect();
        for w in warm {
            assert_eq!(w.await.expect("task").0, 200);
        }
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let req = s
                .http
                .post(format!("{}/v1/trials", s.base))
                .json(&json!({"product": "cad", "fingerprint": fp(42 + round)}));
            tasks.push(tokio::spawn(common::send(req)));
        }
        let (mut made, mut same) = (0, 0);
        let mut ids = std::collections::BTreeSet::new();
        for t in tasks {
            let (st, body) = t.await.expect("task");
            match st {
                201 => made += 1,
                200 => same += 1,
                other => panic!("round {round}: unexpected {other}: {body}"),
            }
            ids.insert(body["license_id"].as_str().expect("id").to_owned());
        }
        assert_eq!((made, same), (1, 199), "round {round}");
        assert_eq!(
            ids.len(),
            1,
            "round {round}: every answer is the one trial: {ids:?}"
        );
        let id = ids.first().expect("id");
        let (st, m) = s
            .admin(Method::GET, &format!("/licenses/{id}/machines"), None)
            .await;
        assert_eq!(st, 200, "{m}");
        assert_eq!(m["machines"].as_array().map(Vec::len), Some(1), "{m}");
    }
    assert_eq!(licenses_of(&s, "cad").await.len(), 3);
}

on_every_backend!(
    a_product_offers_trials_only_from_a_trial_policy_with_a_duration,
    a_trial_is_given_once_per_fingerprint_and_product_for_ever,
    trials_refuse_what_they_cannot_give_with_a_stable_code,
    trials_obey_the_deny_list_and_the_rate_limit,
    two_hundred_concurrent_requests_make_one_trial,
);

/// `licet-server migrate` copies the trials (counted in its summary): on PostgreSQL the
/// fingerprint gets its same trial back, not a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrate_copies_the_trials() {
    let s = TestServer::start_on(Db::Redb).await;
    trial_product(&s, "cad").await;
    let (st, t) = trial(&s, "cad", &fp(1)).await;
    assert_eq!(st, 201, "{t}");
    let dir = s.stop().await;
    let url = common::postgres::database();
    let out = common::run_to_exit_within(
        &[
            "migrate".as_ref(),
            "--from".as_ref(),
            dir.path().as_os_str(),
            "--to".as_ref(),
            url.as_ref(),
            "--json".as_ref(),
        ],
        std::time::Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let m: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    assert_eq!(m["equal"], true, "{m}");
    assert_eq!(
        (&m["from"]["trials"], &m["to"]["trials"]),
        (&json!(1), &json!(1)),
        "{m}"
    );
    let p = Process::start_with(dir.path(), &[], &["--database", &url], None);
    let (st, again) = common::send(
        reqwest::Client::new()
            .post(format!("{}/v1/trials", p.base))
            .json(&json!({"product": "cad", "fingerprint": fp(1)})),
    )
    .await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(again["license_id"], t["license_id"], "{again}");
}
