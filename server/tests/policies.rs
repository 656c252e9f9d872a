//! Policies (issue 15, item 1): a product's named licensing models, licenses made from them
//! with overrides, effective values that follow a policy's changes, contradictions refused
//! by name, a policy in use kept, and a database made before policies answering the same.
//! Every test runs on redb and on PostgreSQL.

mod common;

use common::{Db, Process, TestServer, fp};
use reqwest::Method;
use serde_json::{Value, json};

const DAY: u64 = 86_400;

/// `(status, body)` of an admin request to a server process.
async fn admin_at(base: &str, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = reqwest::Client::new()
        .request(m, format!("{base}/v1/admin{path}"))
        .bearer_auth(common::ADMIN);
    if let Some(b) = body {
        r = r.json(&b);
    }
    common::send(r).await
}

/// Asserts a refusal with `status` and `code` whose message contains every one of `names`.
fn refused(what: &str, (st, e): &(u16, Value), status: u16, code: &str, names: &[&str]) {
    assert_eq!(
        (*st, e["error"]["code"].as_str()),
        (status, Some(code)),
        "{what}: {e}"
    );
    let m = e["error"]["message"].as_str().unwrap_or_default();
    for n in names {
        assert!(m.contains(n), "{what}: the message should name {n}: {m}");
    }
}

async fn product(s: &TestServer, name: &str) {
    let (st, p) = s
        .admin(Method::POST, "/products", Some(json!({"name": name})))
        .await;
    assert_eq!(st, 201, "{p}");
}

async fn policy(s: &TestServer, body: Value) -> Value {
    let (st, p) = s.admin(Method::POST, "/policies", Some(body)).await;
    assert_eq!(st, 201, "{p}");
    p
}

async fn audit_actions(s: &TestServer) -> Vec<String> {
    let (st, a) = s.admin(Method::GET, "/audit?limit=1000", None).await;
    assert_eq!(st, 200, "{a}");
    a["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Create, read, list, change and delete, each change audited.
async fn policies_are_created_listed_changed_and_deleted_with_an_audit_trail(db: Db) {
    let s = TestServer::start_on(db).await;
    product(&s, "cad").await;
    product(&s, "cam").await;
    let p = policy(
        &s,
        json!({"product": "cad", "name": "pro-yearly", "type": "subscription",
               "duration": 365 * DAY, "features": ["pdf", "cloud", "pdf"], "max_machines": 3,
               "check_in_interval": 7 * DAY}),
    )
    .await;
    assert_eq!(p["features"], json!(["cloud", "pdf"]), "{p}");
    assert_eq!(p["lease_ttl"], 600, "defaults filled in: {p}");
    policy(&s, json!({"product": "cam", "name": "pro-yearly"})).await;
    // Per product: the same name twice in one product is a conflict.
    let again = s
        .admin(
            Method::POST,
            "/policies",
            Some(json!({"product": "cad", "name": "pro-yearly"})),
        )
        .await;
    refused(
        "a second pro-yearly",
        &again,
        409,
        "CONFLICT",
        &["pro-yearly"],
    );

    let (st, got) = s.admin(Method::GET, "/policies/cad/pro-yearly", None).await;
    assert_eq!((st, &got), (200, &p));
    let (st, all) = s.admin(Method::GET, "/policies", None).await;
    assert_eq!(
        (st, all["policies"].as_array().map(Vec::len)),
        (200, Some(2))
    );
    let (st, cad) = s.admin(Method::GET, "/policies?product=cad", None).await;
    assert_eq!(st, 200);
    assert_eq!(cad["policies"], json!([p]));

    let (st, changed) = s
        .admin(
            Method::PATCH,
            "/policies/cad/pro-yearly",
            Some(json!({"max_machines": 5, "duration": null})),
        )
        .await;
    assert_eq!(st, 200, "{changed}");
    assert_eq!(changed["max_machines"], 5);
    assert_eq!(
        changed["duration"],
        Value::Null,
        "null returns it to perpetual"
    );
    assert_eq!(changed["features"], p["features"], "untouched terms stay");

    let (st, _) = s
        .admin(Method::DELETE, "/policies/cam/pro-yearly", None)
        .await;
    assert_eq!(st, 204);
    let (st, _) = s.admin(Method::GET, "/policies/cam/pro-yearly", None).await;
    assert_eq!(st, 404);
    let actions = audit_actions(&s).await;
    for a in ["policy.create", "policy.update", "policy.delete"] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
}

/// A license made from a policy answers with the policy's values and its own overrides;
/// the machine limit is the effective one; a change of the policy reaches the licenses
/// that do not override that field, and not the one that does; `inherit` drops an
/// override.
async fn licenses_read_their_policy_and_follow_its_changes(db: Db) {
    let s = TestServer::start_on(db).await;
    product(&s, "cad").await;
    policy(
        &s,
        json!({"product": "cad", "name": "pro", "type": "subscription", "duration": 30 * DAY,
               "features": ["pdf"], "max_machines": 2, "max_leases": 4}),
    )
    .await;
    let plain = s.license("cad", json!({"policy": "pro"})).await;
    assert_eq!(plain["policy"], "pro");
    assert_eq!(plain["overrides"], json!([]));
    assert_eq!(
        (
            &plain["type"],
            &plain["features"],
            &plain["max_machines"],
            &plain["max_leases"]
        ),
        (
            &json!("subscription"),
            &json!(["pdf"]),
            &json!(2),
            &json!(4)
        )
    );
    let expires = licet_server::routes::parse_time(plain["expires_at"].as_str().expect("expiry"))
        .expect("time");
    assert_eq!(
        expires,
        s.now() + 30 * DAY,
        "the policy's duration from now"
    );
    let own = s
        .license(
            "cad",
            json!({"policy": "pro", "max_machines": 1, "max_leases": null, "expires_at": null}),
        )
        .await;
    assert_eq!(own["overrides"], json!(["max_machines", "max_leases"]));
    assert_eq!(
        (&own["max_machines"], &own["max_leases"], &own["expires_at"]),
        (&json!(1), &Value::Null, &Value::Null)
    );

    let key = plain["license_key"].as_str().expect("key");
    let own_key = own["license_key"].as_str().expect("key");
    let s = &s;
    let activate = |k: &str, n: u64| {
        let body = json!({"license_key": k, "fingerprint": fp(n)});
        async move { s.post("/v1/activate", body).await }
    };
    s.activate_machines(key, 2).await;
    let over = activate(key, 2).await;
    refused(
        "a third machine of two",
        &over,
        409,
        "ACTIVATION_LIMIT_REACHED",
        &[],
    );
    assert_eq!(activate(own_key, 0).await.0, 201);
    assert_eq!(activate(own_key, 1).await.0, 409, "its own limit of 1");

    let (st, p) = s
        .admin(
            Method::PATCH,
            "/policies/cad/pro",
            Some(json!({"max_machines": 3, "features": ["pdf", "cloud"]})),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(activate(key, 2).await.0, 201, "the policy's new limit of 3");
    assert_eq!(activate(own_key, 1).await.0, 409, "its override stands");
    let (st, v) = s.post("/v1/validate", json!({"license_key": key})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["machines"], json!({"allowed": 3, "used": 3}));
    assert_eq!(v["features"], json!(["cloud", "pdf"]));
    let own_id = own["id"].as_str().expect("id");
    let (st, l) = s
        .admin(Method::GET, &format!("/licenses/{own_id}"), None)
        .await;
    assert_eq!((st, &l["features"]), (200, &json!(["cloud", "pdf"])), "{l}");

    // Dropping the override: the policy's 3 again.
    let (st, l) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{own_id}"),
            Some(json!({"inherit": ["max_machines"]})),
        )
        .await;
    assert_eq!(st, 200, "{l}");
    assert_eq!(
        (&l["max_machines"], &l["overrides"]),
        (&json!(3), &json!(["max_leases"]))
    );
    assert_eq!(activate(own_key, 1).await.0, 201);
    let bad = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{own_id}"),
            Some(json!({"inherit": ["customer"]})),
        )
        .await;
    refused(
        "inherit customer",
        &bad,
        400,
        "BAD_REQUEST",
        &["inherit", "customer"],
    );
}

/// Contradictions and absurd numbers are refused with the field named, in a policy, in a
/// license's overrides over it, and in a change of a policy that a license's override
/// would contradict; nothing is stored by a refusal.
async fn contradictions_are_refused_naming_the_field(db: Db) {
    let s = TestServer::start_on(db).await;
    product(&s, "cad").await;
    let cases = [
        (
            json!({"lease_ttl": 7200, "lease_ttl_max": 3600}),
            &["lease_ttl", "lease_ttl_max"][..],
        ),
        (json!({"duration": 0}), &["duration"][..]),
        (json!({"duration": u64::MAX}), &["duration"][..]),
        (
            json!({"max_machines": 1_000_000_001u64}),
            &["max_machines"][..],
        ),
        (json!({"max_leases": -1}), &["max_leases"][..]),
        (json!({"check_in_interval": 0}), &["check_in_interval"][..]),
        (json!({"type": "forever"}), &["type", "forever"][..]),
        (json!({"seats": 3}), &["seats"][..]),
    ];
    for (terms, names) in cases {
        let mut body = json!({"product": "cad", "name": "bad"});
        if let (Some(b), Some(t)) = (body.as_object_mut(), terms.as_object()) {
            b.extend(t.clone());
        }
        let r = s.admin(Method::POST, "/policies", Some(body)).await;
        refused(&terms.to_string(), &r, 400, "BAD_REQUEST", names);
    }
    for name in ["", "has space", "a/b", &"x".repeat(65)] {
        let r = s
            .admin(
                Method::POST,
                "/policies",
                Some(json!({"product": "cad", "name": name})),
            )
            .await;
        refused(name, &r, 400, "BAD_REQUEST", &["policy name"]);
    }
    let r = s
        .admin(
            Method::POST,
            "/policies",
            Some(json!({"product": "nope", "name": "x"})),
        )
        .await;
    refused("no product", &r, 400, "BAD_REQUEST", &["nope"]);
    let (st, none) = s.admin(Method::GET, "/policies", None).await;
    assert_eq!((st, &none["policies"]), (200, &json!([])), "nothing stored");

    policy(
        &s,
        json!({"product": "cad", "name": "floating", "max_leases": 10}),
    )
    .await;
    let r = s
        .admin(
            Method::POST,
            "/licenses",
            Some(json!({"product": "cad", "policy": "floating", "lease_ttl": 7200})),
        )
        .await;
    refused(
        "override over the policy's maximum",
        &r,
        400,
        "BAD_REQUEST",
        &["lease_ttl"],
    );
    let r = s
        .admin(
            Method::POST,
            "/licenses",
            Some(json!({"product": "cad", "policy": "missing"})),
        )
        .await;
    refused("a missing policy", &r, 400, "BAD_REQUEST", &["missing"]);
    let r = s
        .admin(
            Method::POST,
            "/licenses/bulk",
            Some(
                json!({"licenses": [{"product": "cad", "policy": "floating"},
                                     {"product": "cad", "policy": "missing"}]}),
            ),
        )
        .await;
    refused(
        "bulk with a missing policy",
        &r,
        400,
        "BAD_REQUEST",
        &["licenses[1]", "missing"],
    );
    let (st, l) = s.admin(Method::GET, "/licenses", None).await;
    assert_eq!(
        (st, &l["licenses"]),
        (200, &json!([])),
        "bulk is all or nothing"
    );

    let l = s
        .license("cad", json!({"policy": "floating", "lease_ttl": 3000}))
        .await;
    let r = s
        .admin(
            Method::PATCH,
            "/policies/cad/floating",
            Some(json!({"lease_ttl_max": 1200, "lease_ttl": 300})),
        )
        .await;
    let id = l["id"].as_str().expect("id");
    refused(
        "a policy change a license contradicts",
        &r,
        400,
        "BAD_REQUEST",
        &[id, "lease_ttl"],
    );
    let (_, p) = s.admin(Method::GET, "/policies/cad/floating", None).await;
    assert_eq!(
        p["lease_ttl_max"], 3600,
        "the refused change left the policy as it was"
    );
    let r = s
        .admin(
            Method::PATCH,
            "/policies/cad/floating",
            Some(json!({"max_leases": "ten"})),
        )
        .await;
    refused("a number as text", &r, 400, "BAD_REQUEST", &["policy"]);
}

/// A policy that licenses use cannot be deleted, nor a product that has policies.
async fn a_policy_in_use_is_kept(db: Db) {
    let s = TestServer::start_on(db).await;
    product(&s, "cad").await;
    policy(
        &s,
        json!({"product": "cad", "name": "trial", "type": "trial", "duration": 14 * DAY}),
    )
    .await;
    let l = s.license("cad", json!({"policy": "trial"})).await;
    let r = s.admin(Method::DELETE, "/policies/cad/trial", None).await;
    refused(
        "delete in use",
        &r,
        409,
        "CONFLICT",
        &["trial", "used by licenses"],
    );
    let id = l["id"].as_str().expect("id");
    let (st, _) = s
        .admin(Method::DELETE, &format!("/licenses/{id}"), None)
        .await;
    assert_eq!(st, 204);
    let r = s.admin(Method::DELETE, "/products/cad", None).await;
    refused(
        "a product with policies",
        &r,
        409,
        "CONFLICT",
        &["policies"],
    );
    let (st, _) = s.admin(Method::DELETE, "/policies/cad/trial", None).await;
    assert_eq!(st, 204, "no license uses it any more");
    let (st, _) = s.admin(Method::DELETE, "/products/cad", None).await;
    assert_eq!(st, 204);
}

/// The license record as a server made before policies stored it: every value of the
/// license at the top level, no policy.
fn old_record(record: &Value, l: &Value) -> Value {
    let mut old = record.clone();
    let m = old.as_object_mut().expect("a record");
    m.remove("policy");
    m.insert("license_type".into(), l["type"].clone());
    for k in [
        "features",
        "max_machines",
        "max_leases",
        "lease_ttl",
        "lease_ttl_max",
        "check_in_interval",
    ] {
        m.insert(k.into(), l[k].clone());
    }
    old
}

/// Turns the database in `data` (or at `url`) back into what a server made before policies
/// left: license records in the old shape, no policies table, the old schema version.
fn make_it_old(data: &std::path::Path, url: &Option<String>, licenses: &[Value]) {
    let by_id = |id: &str| licenses.iter().find(|l| l["id"] == id).expect("known");
    match url {
        None => {
            use redb::{ReadableDatabase, ReadableTable, TableDefinition};
            const LICENSES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("licenses");
            const POLICIES: TableDefinition<&str, &[u8]> = TableDefinition::new("policies");
            const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
            let db = redb::Database::open(licet_server::database_path(data)).expect("open");
            let w = db.begin_write().expect("write");
            {
                let mut t = w.open_table(LICENSES).expect("licenses");
                let mut rows = Vec::new();
                for item in t.iter().expect("iter") {
                    let (k, v) = item.expect("row");
                    let r: Value = serde_json::from_slice(v.value()).expect("json");
                    let old = old_record(&r, by_id(r["id"].as_str().expect("id")));
                    rows.push((k.value().to_vec(), serde_json::to_vec(&old).expect("json")));
                }
                for (k, v) in rows {
                    t.insert(k.as_slice(), v.as_slice()).expect("put");
                }
                let mut meta = w.open_table(META).expect("meta");
                meta.insert("schema_version", 3u64.to_be_bytes().as_slice())
                    .expect("version");
            }
            w.delete_table(POLICIES).expect("drop policies");
            w.commit().expect("commit");
            // Checked here so that the test cannot pass on a file left new.
            let r = db.begin_read().expect("read");
            assert!(r.open_table(POLICIES).is_err(), "no policies table");
        }
        Some(url) => {
            let url = url.clone();
            let licenses = licenses.to_vec();
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
                let rows = c
                    .query("SELECT id, record FROM licenses", &[])
                    .expect("licenses");
                for row in rows {
                    let id: Vec<u8> = row.get(0);
                    let r: postgres::types::Json<Value> = row.get(1);
                    let l = licenses
                        .iter()
                        .find(|l| l["id"] == r.0["id"])
                        .expect("known");
                    let old = old_record(&r.0, l);
                    c.execute(
                        "UPDATE licenses SET record = $2 WHERE id = $1",
                        &[&id, &postgres::types::Json(old)],
                    )
                    .expect("update");
                }
                c.batch_execute(
                    // Version 4 brought policies, version 5 deactivations, version 6
                    // trials (server/src/storage/postgres.rs).
                    "DROP INDEX licenses_by_policy; DROP TABLE policies;
                     DROP TABLE deactivations; DROP TABLE trials;
                     UPDATE schema_version SET version = 3 WHERE id = 1;",
                )
                .expect("back to version 3");
            })
            .join()
            .expect("the old database");
        }
    }
}

/// A database made before policies opens, migrates, and answers every read as before; its
/// limits hold; its licenses can be changed and policies added.
async fn a_database_made_before_policies_answers_the_same(db: Db) {
    let t = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&t);
    let url = db.url();
    let p = Process::start_on(&data, &url);
    let (st, _) = admin_at(
        &p.base,
        Method::POST,
        "/products",
        Some(json!({"name": "cad"})),
    )
    .await;
    assert_eq!(st, 201);
    let mut made = Vec::new();
    for body in [
        json!({"product": "cad", "type": "subscription", "features": ["pdf"], "max_machines": 1,
               "max_leases": 1, "lease_ttl": 120, "lease_ttl_max": 240,
               "check_in_interval": 3600, "customer": "c1",
               "expires_at": "2090-01-01T00:00:00Z", "metadata": {"k": "v"}}),
        json!({"product": "cad"}),
    ] {
        let (st, l) = admin_at(&p.base, Method::POST, "/licenses", Some(body)).await;
        assert_eq!(st, 201, "{l}");
        made.push(l);
    }
    let key = made[0]["license_key"].as_str().expect("key").to_owned();
    let client = reqwest::Client::new();
    let validate = || {
        common::send(
            client
                .post(format!("{}/v1/validate", p.base))
                .json(&json!({"license_key": key})),
        )
    };
    let (st, before) = validate().await;
    assert_eq!(st, 200, "{before}");
    assert!(p.terminate().success());
    make_it_old(&data, &url, &made);

    let p = Process::start_on(&data, &url);
    for l in &made {
        let id = l["id"].as_str().expect("id");
        let (st, now) = admin_at(&p.base, Method::GET, &format!("/licenses/{id}"), None).await;
        assert_eq!(st, 200, "{now}");
        let mut expected = l.clone();
        expected["overrides"] =
            json!(&licet::policy::OVERRIDABLE[..licet::policy::BEFORE_POLICIES]);
        assert_eq!(
            now, expected,
            "every value as before, each its own override"
        );
    }
    let (st, after) = common::send(
        reqwest::Client::new()
            .post(format!("{}/v1/validate", p.base))
            .json(&json!({"license_key": key})),
    )
    .await;
    assert_eq!((st, &after), (200, &before));
    let activate = |n: u64| {
        common::send(
            reqwest::Client::new()
                .post(format!("{}/v1/activate", p.base))
                .json(&json!({"license_key": key, "fingerprint": fp(n)})),
        )
    };
    let (st, a) = activate(1).await;
    assert_eq!(st, 201, "{a}");
    let (st, a) = activate(2).await;
    refused(
        "its old limit of 1",
        &(st, a),
        409,
        "ACTIVATION_LIMIT_REACHED",
        &[],
    );
    let (st, pol) = admin_at(
        &p.base,
        Method::POST,
        "/policies",
        Some(json!({"product": "cad", "name": "new", "max_machines": 9})),
    )
    .await;
    assert_eq!(st, 201, "{pol}");
    let (st, l) = admin_at(
        &p.base,
        Method::POST,
        "/licenses",
        Some(json!({"product": "cad", "policy": "new"})),
    )
    .await;
    assert_eq!((st, &l["max_machines"]), (201, &json!(9)), "{l}");
}

/// The console shows a license's policy and effective limits, and saving its edit form
/// with the values it shows pins no override: the license still follows its policy.
async fn the_console_shows_the_policy_and_keeps_the_license_following_it(db: Db) {
    let s = TestServer::start_on(db).await;
    product(&s, "cad").await;
    policy(
        &s,
        json!({"product": "cad", "name": "pro", "max_machines": 3, "features": ["pdf"]}),
    )
    .await;
    let l = s
        .license("cad", json!({"policy": "pro", "customer": "Globex"}))
        .await;
    let id = l["id"].as_str().expect("id");
    let mut c = common::ConsoleClient::new(&s.base);
    assert_eq!(c.sign_in(common::ADMIN).await.status, 303);
    let page = format!("/admin/licenses/{id}");
    let p = c.get(&page).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("<dd>pro</dd>"),
        "the policy shown: {}",
        p.body
    );
    assert!(
        p.body.contains("0 of 3"),
        "the policy's machine limit: {}",
        p.body
    );
    let p = c
        .post(
            &page,
            &[
                ("customer", "Globex Ltd"),
                ("type", ""),
                ("expires", ""),
                ("max_machines", "3"),
                ("max_leases", ""),
                ("features", "pdf"),
                ("metadata", ""),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (_, got) = s.admin(Method::GET, &format!("/licenses/{id}"), None).await;
    assert_eq!(
        (&got["customer"], &got["overrides"]),
        (&json!("Globex Ltd"), &json!([]))
    );
    let (st, _) = s
        .admin(
            Method::PATCH,
            "/policies/cad/pro",
            Some(json!({"max_machines": 4})),
        )
        .await;
    assert_eq!(st, 200);
    assert!(
        c.get(&page).await.body.contains("0 of 4"),
        "it follows the policy"
    );
}

on_every_backend!(
    policies_are_created_listed_changed_and_deleted_with_an_audit_trail,
    licenses_read_their_policy_and_follow_its_changes,
    contradictions_are_refused_naming_the_field,
    a_policy_in_use_is_kept,
    a_database_made_before_policies_answers_the_same,
    the_console_shows_the_policy_and_keeps_the_license_following_it,
);
