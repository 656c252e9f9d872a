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

on_every_backend!(
    two_hundred_concurrent_activations_against_ten_seats,
    the_same_fingerprint_fifty_times_uses_one_activation,
);
