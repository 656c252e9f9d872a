//! The deny list over real HTTP, on both backends: fingerprints, licenses and address
//! ranges (IPv4 and IPv6, through a trusted proxy's `X-Forwarded-For`) refused `DENIED`
//! with the product's support message, on every client route that names them; expiry;
//! removal; bad entries refused with what to do; refusals audited in aggregate and
//! counted in `/metrics`.

mod common;

use common::{Db, TestServer, fp};
use reqwest::Method;
use serde_json::{Value, json};

const SUPPORT: &str = "Contact support@example.com";

async fn deny(s: &TestServer, kind: &str, value: &str, extra: Value) -> Value {
    let mut body = json!({"kind": kind, "value": value, "reason": "chargeback"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (st, entry) = s.admin(Method::POST, "/deny", Some(body)).await;
    assert_eq!(st, 201, "{entry}");
    entry
}

fn code(body: &Value) -> Option<&str> {
    body["error"]["code"].as_str()
}

async fn validate_from(s: &TestServer, key: &str, forwarded_for: &str) -> (u16, Value) {
    common::send(
        s.http
            .post(format!("{}/v1/validate", s.base))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({"license_key": key})),
    )
    .await
}

async fn fingerprints_and_licenses_are_denied_with_the_support_message(db: Db) {
    let s = TestServer::start_on_with(db, |c| {
        c.metrics_listen = Some("127.0.0.1:0".into());
    })
    .await;
    let l = s.license("cad", json!({"max_leases": 5})).await;
    let key = l["license_key"].as_str().expect("key").to_owned();
    let other = s.license("cad", json!({})).await;
    let other_key = other["license_key"].as_str().expect("key").to_owned();
    let (st, activated) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 201, "{activated}");
    let machine_token = activated["machine_token"]
        .as_str()
        .expect("token")
        .to_owned();

    // A fingerprint: its activation, its check-in (by key and by machine token) refused;
    // another machine of the same license served.
    let entry = deny(&s, "fingerprint", &fp(1).to_uppercase(), json!({})).await;
    assert_eq!(entry["value"], fp(1), "stored in one form: {entry}");
    assert_eq!(entry["active"], true);
    for (path, body) in [
        (
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(1)}),
        ),
        (
            "/v1/check-in",
            json!({"license_key": key, "fingerprint": fp(1)}),
        ),
        ("/v1/check-in", json!({"machine_token": machine_token})),
        ("/v1/deactivate", json!({"machine_token": machine_token})),
        // A body naming another fingerprint beside the denied machine's token is refused
        // too: every fingerprint a body names is checked, not the first.
        (
            "/v1/check-in",
            json!({"fingerprint": fp(2), "machine_token": machine_token}),
        ),
    ] {
        let (st, answer) = s.post(path, body).await;
        assert_eq!(
            (st, code(&answer)),
            (403, Some("DENIED")),
            "{path}: {answer}"
        );
        assert_eq!(answer["error"]["support_message"], SUPPORT, "{answer}");
    }
    let (st, answer) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(2)}),
        )
        .await;
    assert_eq!(st, 201, "{answer}");

    // A license: validation, activation and leases refused; another license served.
    let id = l["id"].as_str().expect("id");
    deny(&s, "license", id, json!({})).await;
    for (path, body) in [
        ("/v1/validate", json!({"license_key": key})),
        (
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(3)}),
        ),
        ("/v1/leases/obtain", json!({"license_key": key})),
        // Another license's key beside the denied license's machine token: refused, as
        // every license a body names is checked (the handler may act on either).
        (
            "/v1/check-in",
            json!({"license_key": other_key, "machine_token": machine_token}),
        ),
    ] {
        let (st, answer) = s.post(path, body).await;
        assert_eq!(
            (st, code(&answer)),
            (403, Some("DENIED")),
            "{path}: {answer}"
        );
        assert_eq!(answer["error"]["support_message"], SUPPORT);
    }
    let (st, answer) = s
        .post("/v1/validate", json!({"license_key": other_key}))
        .await;
    assert_eq!(st, 200, "{answer}");

    // Counted in /metrics.
    let metrics = s.metrics_base().expect("metrics");
    let text = s
        .http
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    let count = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|x| x.metric == name)
            .map(|x| match x.value {
                prometheus_parse::Value::Counter(n) | prometheus_parse::Value::Untyped(n) => n,
                ref v => panic!("{name}: {v:?}"),
            })
    };
    assert_eq!(count("licet_denied_fingerprint_total"), Some(5.0), "{text}");
    assert_eq!(count("licet_denied_license_total"), Some(4.0), "{text}");
    assert_eq!(count("licet_denied_ip_total"), Some(0.0), "{text}");

    // Audited in aggregate: one event per entry with the count, written once a minute and
    // when the server stops (here: at the restart), however many requests were refused.
    let s = s.restart().await;
    let (_, audit) = s
        .admin(Method::GET, "/audit?action=request.denied", None)
        .await;
    let mut counts: Vec<(String, u64)> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["detail"]["kind"].as_str().expect("kind").to_owned(),
                e["detail"]["count"].as_u64().expect("count"),
            )
        })
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [("fingerprint".to_owned(), 5), ("license".to_owned(), 4)],
        "{audit}"
    );
}

async fn address_ranges_expiry_and_removal(db: Db) {
    // The test client is 127.0.0.1; as a trusted proxy its X-Forwarded-For names the
    // client, so IPv6 clients can be tested too.
    let s = TestServer::start_on_with(db, |c| {
        c.trusted_proxy = vec!["127.0.0.1/32".parse().expect("cidr")];
    })
    .await;
    let l = s.license("cad", json!({})).await;
    let key = l["license_key"].as_str().expect("key").to_owned();
    let v6 = deny(&s, "ip", "2001:db8::/32", json!({})).await;
    let in_a_minute = licet_server::routes::rfc3339(s.now() + 60);
    deny(
        &s,
        "ip",
        "203.0.113.9/24",
        json!({"expires_at": in_a_minute}),
    )
    .await;
    for (client, denied) in [
        ("2001:db8:5::1", true),
        ("2001:db9::1", false),
        ("203.0.113.200", true),
        ("203.0.114.1", false),
        ("198.51.100.7", false),
    ] {
        let (st, answer) = validate_from(&s, &key, client).await;
        if denied {
            assert_eq!(
                (st, code(&answer)),
                (403, Some("DENIED")),
                "{client}: {answer}"
            );
        } else {
            assert_eq!(st, 200, "{client}: {answer}");
        }
    }
    // The admin API is not behind the deny list.
    let (st, list) = s.admin(Method::GET, "/deny", None).await;
    assert_eq!(st, 200);
    assert_eq!(list["entries"].as_array().map(Vec::len), Some(2), "{list}");

    // Past its expiry an entry no longer applies, and is listed inactive.
    s.advance(60);
    let (st, answer) = validate_from(&s, &key, "203.0.113.200").await;
    assert_eq!(st, 200, "{answer}");
    let (_, list) = s.admin(Method::GET, "/deny", None).await;
    let mut active: Vec<(&str, bool)> = list["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["value"].as_str().expect("value"),
                e["active"].as_bool().expect("active"),
            )
        })
        .collect();
    active.sort();
    assert_eq!(
        active,
        [("2001:db8::/32", true), ("203.0.113.0/24", false)],
        "{list}"
    );

    // Removed: served again at once.
    let (st, _) = s
        .admin(
            Method::DELETE,
            &format!("/deny/{}", v6["id"].as_str().expect("id")),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, answer) = validate_from(&s, &key, "2001:db8:5::1").await;
    assert_eq!(st, 200, "{answer}");
    let (st, answer) = s
        .admin(Method::DELETE, &format!("/deny/{}", "0".repeat(32)), None)
        .await;
    assert_eq!((st, code(&answer)), (404, Some("NOT_FOUND")));

    // Every address of the server's own clients: the whole client API refused, the admin
    // API still served.
    deny(&s, "ip", "0.0.0.0/0", json!({})).await;
    let (st, answer) = validate_from(&s, &key, "198.51.100.7").await;
    assert_eq!((st, code(&answer)), (403, Some("DENIED")), "{answer}");
    assert_eq!(s.admin(Method::GET, "/licenses", None).await.0, 200);
}

async fn bad_entries_are_refused_with_what_to_do(db: Db) {
    let s = TestServer::start_on(db).await;
    let cases = [
        (
            json!({"kind": "ip", "value": "10.0.0.0/33", "reason": "r"}),
            "neither an IP address nor a CIDR range",
        ),
        (
            json!({"kind": "fingerprint", "value": "abc", "reason": "r"}),
            "64 hex digits",
        ),
        (
            json!({"kind": "license", "value": "xyz", "reason": "r"}),
            "32 hex digits",
        ),
        (
            json!({"kind": "ip", "value": "10.0.0.1", "reason": " "}),
            "reason must be",
        ),
        (json!({"kind": "asn", "value": "1", "reason": "r"}), "kind"),
        (
            json!({"kind": "ip", "value": "10.0.0.1", "reason": "r", "expires_at": "2020-01-01T00:00:00Z"}),
            "not in the future",
        ),
    ];
    for (body, says) in cases {
        let answer = s.admin(Method::POST, "/deny", Some(body)).await;
        common::assert_error(&answer, 400, "BAD_REQUEST", says);
    }
    deny(&s, "ip", "10.0.0.1", json!({})).await;
    let (st, answer) = s
        .admin(
            Method::POST,
            "/deny",
            Some(json!({"kind": "ip", "value": "10.0.0.1/32", "reason": "again"})),
        )
        .await;
    assert_eq!((st, code(&answer)), (409, Some("CONFLICT")), "{answer}");
}

on_every_backend!(
    fingerprints_and_licenses_are_denied_with_the_support_message,
    address_ranges_expiry_and_removal,
    bad_entries_are_refused_with_what_to_do,
);
