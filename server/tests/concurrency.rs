//! Exactness under concurrency: never one activation more than a license allows.

mod common;

use common::{Db, TestServer, fp};
use reqwest::Method;
use serde_json::json;

async fn exact_limit(db: Db, max_batch: usize) {
    let s = TestServer::start_on_with(db, |c| c.max_batch = max_batch).await;
    let l = s.license("p", json!({"max_machines": 10})).await;
    let key = l["license_key"].as_str().expect("key").to_owned();
    let (ok, refused) = common::concurrent(
        &s.http,
        std::slice::from_ref(&s.base),
        "/v1/activate",
        200,
        |n| json!({"license_key": key, "fingerprint": fp(n)}),
        "ACTIVATION_LIMIT_REACHED",
    )
    .await;
    assert_eq!((ok, refused), (10, 190));
    let id = l["id"].as_str().expect("id");
    let (_, ms) = s
        .admin(Method::GET, &format!("/licenses/{id}/machines"), None)
        .await;
    assert_eq!(ms["machines"].as_array().map(Vec::len), Some(10));
    s.stop().await;
}

async fn two_hundred_concurrent_activations_against_ten_seats(db: Db) {
    exact_limit(db, 512).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_without_batching() {
    exact_limit(Db::Redb, 1).await;
}

async fn the_same_fingerprint_fifty_times_uses_one_activation(db: Db) {
    let s = TestServer::start_on(db).await;
    let l = s.license("p", json!({"max_machines": 3})).await;
    let key = l["license_key"].as_str().expect("key").to_owned();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (http, base, key) = (s.http.clone(), s.base.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            common::send(
                http.post(format!("{base}/v1/activate"))
                    .json(&json!({"license_key": key, "fingerprint": fp(42)})),
            )
            .await
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (st, body) = t.await.expect("task");
        assert!(st == 200 || st == 201, "{st}: {body}");
        if st == 201 {
            created += 1;
        }
        ids.insert(body["machine_id"].as_str().expect("id").to_owned());
    }
    assert_eq!(created, 1, "exactly one request created the activation");
    assert_eq!(ids.len(), 1, "every answer names the same machine");
    let (_, v) = s.post("/v1/validate", json!({"license_key": key})).await;
    assert_eq!(v["machines"]["used"], 1);
}

/// Products under races: twenty creations of one name make it once (the others are told
/// it exists), and a product deleted while licenses are created for it either stays, with
/// every license that was answered 201, or goes, with none: never a license whose product
/// is gone.
async fn product_races_create_once_and_leave_no_orphan(db: Db) {
    let s = TestServer::start_on(db).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (http, base) = (s.http.clone(), s.base.clone());
        tasks.push(tokio::spawn(async move {
            common::send(
                http.post(format!("{base}/v1/admin/products"))
                    .bearer_auth(common::ADMIN)
                    .json(&json!({"name": "raced"})),
            )
            .await
            .0
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.expect("task"));
    }
    codes.sort_unstable();
    let mut want = vec![409; 19];
    want.insert(0, 201);
    assert_eq!(codes, want, "one creation, nineteen conflicts");

    for round in 0..10 {
        let name = format!("doomed-{round}");
        let (st, _) = s
            .admin(Method::POST, "/products", Some(json!({"name": name})))
            .await;
        assert_eq!(st, 201);
        // Thirty creations with the deletion among them, all sent at once.
        let mut tasks = Vec::new();
        for n in 0..31 {
            let (http, base, name) = (s.http.clone(), s.base.clone(), name.clone());
            tasks.push(tokio::spawn(async move {
                let r = if n == 15 {
                    http.delete(format!("{base}/v1/admin/products/{name}"))
                } else {
                    http.post(format!("{base}/v1/admin/licenses"))
                        .json(&json!({"product": name}))
                };
                (n, common::send(r.bearer_auth(common::ADMIN)).await)
            }));
        }
        let (mut created, mut deleted) = (0, 0);
        for t in tasks {
            let (n, (st, body)) = t.await.expect("task");
            if n == 15 {
                assert!(st == 204 || st == 409, "{st}: {body}");
                deleted = st;
            } else {
                assert!(st == 201 || st == 400, "{st}: {body}");
                created += usize::from(st == 201);
            }
        }
        let (_, product) = s
            .admin(Method::GET, &format!("/products/{name}"), None)
            .await;
        let (_, listed) = s
            .admin(
                Method::GET,
                &format!("/licenses?product={name}&limit=100"),
                None,
            )
            .await;
        let stored = listed["licenses"].as_array().map_or(0, Vec::len);
        if deleted == 204 {
            assert_eq!(product["error"]["code"], "NOT_FOUND", "{product}");
            assert_eq!(stored, 0, "licenses outlived their product: {listed}");
        } else {
            assert_eq!(product["name"], name.as_str(), "{product}");
            assert!(created > 0, "409 with no license created");
        }
        assert_eq!(stored, created, "every 201 is stored, nothing else");
    }
    s.stop().await;
}

on_every_backend!(
    two_hundred_concurrent_activations_against_ten_seats,
    the_same_fingerprint_fifty_times_uses_one_activation,
    product_races_create_once_and_leave_no_orphan,
);
