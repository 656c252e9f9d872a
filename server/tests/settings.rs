//! Admin settings: every numeric setting within a stated range, every claim within the
//! token format's limits, refused by name at create, bulk create and update; and licenses
//! stored before the ranges existed still sign tokens.

mod common;

use common::{ADMIN, TestServer, fp};
use reqwest::Method;
use serde_json::{Value, json};

use licet_server::model::limits;

/// Asserts a `BAD_REQUEST` whose message names `field` and `range` (e.g. "1 to 316224000").
fn assert_refused(what: &str, (st, e): &(u16, Value), field: &str, range: &str) {
    assert_eq!(
        (*st, e["error"]["code"].as_str()),
        (400, Some("BAD_REQUEST")),
        "{what}: {e}"
    );
    let m = e["error"]["message"].as_str().unwrap_or_default();
    assert!(
        m.contains(field) && m.contains(range),
        "{what}: the message should name {field} and {range}: {m}"
    );
}

/// Every numeric setting, too large, on create, bulk create and update.
#[tokio::test]
async fn numeric_settings_out_of_range_are_refused_naming_the_field_and_range() {
    let s = TestServer::start().await;
    let l = s.license("cad", json!({})).await;
    let id = l["id"].as_str().expect("id");
    let check = format!("1 to {}", limits::CHECK_IN_INTERVAL);
    let ttl = format!("1 to {}", limits::LEASE_TTL_MAX);
    let machines = format!("0 to {}", limits::MAX_MACHINES);
    let leases = format!("0 to {}", limits::MAX_LEASES);
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"check_in_interval": u64::MAX}),
            "check_in_interval",
            &check,
        ),
        // 10^12 s: `check_in_before` once came back as digits instead of a time.
        (
            json!({"check_in_interval": 1_000_000_000_000u64}),
            "check_in_interval",
            &check,
        ),
        (
            json!({"check_in_interval": limits::CHECK_IN_INTERVAL + 1}),
            "check_in_interval",
            &check,
        ),
        (json!({"check_in_interval": 0}), "check_in_interval", &check),
        (json!({"lease_ttl_max": u64::MAX}), "lease_ttl_max", &ttl),
        (json!({"lease_ttl_max": 0}), "lease_ttl_max", &ttl),
        (
            json!({"lease_ttl": 1_000_000_000_000u64, "lease_ttl_max": 1_000_000_000_000u64}),
            "lease_ttl",
            &ttl,
        ),
        (
            json!({"lease_ttl": limits::LEASE_TTL_MAX + 1}),
            "lease_ttl",
            &ttl,
        ),
        (json!({"max_machines": u64::MAX}), "max_machines", &machines),
        (
            json!({"max_leases": limits::MAX_LEASES + 1}),
            "max_leases",
            &leases,
        ),
    ];
    for (extra, field, range) in &cases {
        let mut body = json!({"product": "cad"});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        let r = s.admin(Method::POST, "/licenses", Some(body.clone())).await;
        assert_refused(&format!("create {extra}"), &r, field, range);
        let r = s
            .admin(
                Method::POST,
                "/licenses/bulk",
                Some(json!({"licenses": [{"product": "cad"}, body]})),
            )
            .await;
        assert_refused(
            &format!("bulk {extra}"),
            &r,
            &format!("licenses[1]: {field}"),
            range,
        );
        let r = s
            .admin(
                Method::PATCH,
                &format!("/licenses/{id}"),
                Some(extra.clone()),
            )
            .await;
        assert_refused(&format!("update {extra}"), &r, field, range);
    }
    // Nothing was stored by the refused requests: the one license is as it was made.
    let (st, list) = s.admin(Method::GET, "/licenses", None).await;
    assert_eq!(st, 200);
    assert_eq!(list["licenses"].as_array().map(Vec::len), Some(1));
    let (_, now) = s.admin(Method::GET, &format!("/licenses/{id}"), None).await;
    assert_eq!(now, l);
}

/// The claims a license key carries are refused by name, before anything is signed.
#[tokio::test]
async fn claims_beyond_the_format_limits_are_refused_naming_the_field() {
    let s = TestServer::start().await;
    s.license("cad", json!({})).await;
    let many: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        (json!({"customer": ""}), "customer", "1 to 128 bytes"),
        (
            json!({"customer": "c".repeat(129)}),
            "customer",
            "1 to 128 bytes",
        ),
        (
            json!({"features": ["f".repeat(65)]}),
            "feature",
            "1 to 64 bytes",
        ),
        (
            json!({"features": (0..65).map(|i| format!("f{i}")).collect::<Vec<_>>()}),
            "features",
            "at most 64",
        ),
        (json!({"metadata": many}), "metadata", "at most 16"),
        (
            json!({"metadata": {"k": "v".repeat(257)}}),
            "metadata value",
            "at most 256 bytes",
        ),
        (
            json!({"metadata": {"k".repeat(33): "v"}}),
            "metadata key",
            "1 to 32 bytes",
        ),
    ];
    for (extra, field, range) in &cases {
        let mut body = json!({"product": "cad"});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        let r = s.admin(Method::POST, "/licenses", Some(body)).await;
        assert_refused(&format!("create {extra}"), &r, field, range);
    }
}

/// A license whose key would leave no room under the format's 8192-byte cap for its
/// machine and lease tokens is refused when created, naming the size, instead of being
/// created and then failing every activation; one just under the limit gets both tokens.
#[tokio::test]
async fn a_license_too_large_for_its_lease_tokens_is_refused_at_create() {
    let s = TestServer::start().await;
    s.license("cad", json!({})).await;
    // 64 features of 64 bytes and 16 metadata entries of 256 bytes: every limit at its
    // maximum, over the cap even for the license itself.
    let features: Vec<String> = (0..64)
        .map(|i| format!("{i:02}{}", "f".repeat(62)))
        .collect();
    let metadata = |n: usize, len: usize| -> serde_json::Map<String, Value> {
        (0..n)
            .map(|i| (format!("k{i:02}"), json!("v".repeat(len))))
            .collect()
    };
    let body = json!({"product": "cad", "features": features, "metadata": metadata(16, 256)});
    let r = s.admin(Method::POST, "/licenses", Some(body)).await;
    assert_refused(
        "every limit at its maximum",
        &r,
        "license key of",
        "shorten",
    );
    // Grow each metadata value a byte at a time until the license is refused: the one before it
    // must get a machine token and a lease token with the longest client id.
    let mut last_ok = None;
    for len in 100..=256 {
        let body = json!({"product": "cad", "features": features, "metadata": metadata(16, len)});
        let (st, l) = s.admin(Method::POST, "/licenses", Some(body)).await;
        if st != 201 {
            assert_refused("near the cap", &(st, l), "license key of", "shorten");
            break;
        }
        last_ok = Some(l);
    }
    let l = last_ok.expect("a license under the limit was created");
    let key = l["license_key"].as_str().expect("key");
    let (st, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    let (st, o) = s
        .post(
            "/v1/leases/obtain",
            json!({"license_key": key, "client_id": "c".repeat(128)}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    // An edit that would make its machine and lease tokens too large is refused the same
    // way, and changes nothing.
    let id = l["id"].as_str().expect("id");
    let r = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{id}"),
            Some(json!({"metadata": metadata(16, 256)})),
        )
        .await;
    assert_refused("PATCH over the cap", &r, "license key of", "shorten");
    let (_, now) = s.admin(Method::GET, &format!("/licenses/{id}"), None).await;
    assert_eq!(now["metadata"], l["metadata"]);
}

/// At the top of every range, licenses work: tokens are signed and times are RFC 3339.
#[tokio::test]
async fn the_largest_settings_still_sign_tokens_with_rfc3339_times() {
    let s = TestServer::start().await;
    let l = s
        .license(
            "cad",
            json!({
                "check_in_interval": limits::CHECK_IN_INTERVAL,
                "lease_ttl": limits::LEASE_TTL_MAX,
                "lease_ttl_max": limits::LEASE_TTL_MAX,
                "max_machines": limits::MAX_MACHINES,
                "max_leases": limits::MAX_LEASES,
            }),
        )
        .await;
    let key = l["license_key"].as_str().expect("key");
    let (st, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    let deadline = licet_server::routes::parse_time(a["check_in_before"].as_str().expect("time"));
    assert_eq!(deadline, Some(s.now() + limits::CHECK_IN_INTERVAL), "{a}");
    let (st, o) = s
        .post(
            "/v1/leases/obtain",
            json!({"license_key": key, "ttl": u64::MAX}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let expiry = licet_server::routes::parse_time(o["expires_at"].as_str().expect("time"));
    assert_eq!(expiry, Some(s.now() + limits::LEASE_TTL_MAX), "{o}");
}

/// A license stored before the ranges existed, with a check-in interval and lease length of
/// u64::MAX, still activates and leases: the interval is read as the largest allowed,
/// instead of every activation failing to sign.
#[tokio::test]
async fn a_license_stored_out_of_range_still_signs_capped_tokens() {
    let t = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&t);
    let p = common::Process::start(&data, &[]);
    let admin = |m: Method, path: &str| {
        reqwest::Client::new()
            .request(m, format!("{}/v1/admin{path}", p.base))
            .bearer_auth(ADMIN)
    };
    let (st, _) =
        common::send(admin(Method::POST, "/products").json(&json!({"name": "cad"}))).await;
    assert_eq!(st, 201);
    let (st, l) =
        common::send(admin(Method::POST, "/licenses").json(&json!({"product": "cad"}))).await;
    assert_eq!(st, 201, "{l}");
    assert!(p.terminate().success());

    let id = licet_server::store::id_bytes(l["id"].as_str().expect("id")).expect("id");
    let (store, writer) = licet_server::store::Store::open(
        &licet_server::database_path(&data),
        licet_server::store::WriterConfig { max_batch: 1 },
    )
    .expect("open the database");
    store
        .write(move |tx| {
            let mut l = tx.license(&id)?.expect("the license");
            // A license's own values are its overrides (the effective fields are derived).
            let o = &mut l.overrides;
            (o.check_in_interval, o.lease_ttl, o.lease_ttl_max) =
                (Some(u64::MAX), Some(u64::MAX), Some(u64::MAX));
            tx.put_license(&l)
        })
        .await
        .expect("store the old settings");
    drop(store);
    tokio::task::spawn_blocking(move || writer.join())
        .await
        .expect("join")
        .expect("the writer stops");

    let p = common::Process::start(&data, &[]);
    let key = l["license_key"].as_str().expect("key");
    let client = reqwest::Client::new();
    let now = licet_verifier::Expectations::now_from_system_clock();
    let (st, a) = common::send(
        client
            .post(format!("{}/v1/activate", p.base))
            .json(&json!({"license_key": key, "fingerprint": fp(1)})),
    )
    .await;
    assert_eq!(st, 201, "{a}");
    let deadline = licet_server::routes::parse_time(a["check_in_before"].as_str().expect("a time"))
        .expect("an RFC 3339 time");
    // A minute either way for the clock moving during the test.
    let capped = now + limits::CHECK_IN_INTERVAL;
    assert!(deadline.abs_diff(capped) < 60, "{a}");
    let (st, o) = common::send(
        client
            .post(format!("{}/v1/leases/obtain", p.base))
            .json(&json!({"license_key": key})),
    )
    .await;
    assert_eq!(st, 201, "{o}");
    let expiry = licet_server::routes::parse_time(o["expires_at"].as_str().expect("a time"))
        .expect("an RFC 3339 time");
    assert!(expiry.abs_diff(now + limits::LEASE_TTL_MAX) < 60, "{o}");
}
