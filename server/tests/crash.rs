//! The real binary killed with SIGKILL in the middle of a stream of activations, and
//! stopped with SIGTERM while requests are in flight.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{ADMIN, Db, Process, fp};
use serde_json::{Value, json};
use tokio::sync::Mutex;

async fn sigkill_loses_no_answered_activation(db: Db) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&tmp);
    let url = db.url();
    let p = Process::start_on(&data, &url);
    let http = reqwest::Client::new();
    let (key, id) = common::setup(&p.base, &http, 150).await;
    let stop = Arc::new(AtomicBool::new(false));
    let streaming = tokio::spawn(common::stream(
        vec![p.base.clone()],
        key.clone(),
        16,
        2_000,
        Arc::clone(&stop),
    ));
    // Let the stream run, then kill the server mid-flight.
    tokio::time::sleep(Duration::from_millis(400)).await;
    tokio::task::spawn_blocking(move || p.kill())
        .await
        .expect("kill");
    stop.store(true, Ordering::SeqCst);
    let acked = streaming.await.expect("stream");
    assert!(
        !acked.is_empty(),
        "the stream got no activation in before the kill; the test proves nothing"
    );

    let p = Process::start_on(&data, &url);
    let stored = common::machines(&p.base, &http, &id).await;
    for f in &acked {
        assert!(
            stored.contains(f),
            "activation {f} was answered 201 but is lost after SIGKILL"
        );
    }
    assert!(
        stored.len() <= 150,
        "{} machines on a license allowing 150",
        stored.len()
    );
    // The limit still holds after the restart.
    let more = common::stream(
        vec![p.base.clone()],
        key,
        8,
        400,
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    let stored = common::machines(&p.base, &http, &id).await;
    assert_eq!(
        stored.len(),
        150,
        "the license fills up to exactly its limit, never past it"
    );
    assert!(more.len() <= 150, "{} more were answered 201", more.len());
    let status = tokio::task::spawn_blocking(move || p.terminate())
        .await
        .expect("term");
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
    eprintln!(
        "SIGKILL test: {} answered before the kill, {} stored after",
        acked.len(),
        stored.len()
    );
}

async fn sigterm_drains_in_flight_requests_and_closes_cleanly(db: Db) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&tmp);
    let url = db.url();
    let p = Process::start_on(&data, &url);
    let http = reqwest::Client::new();
    let (key, id) = common::setup(&p.base, &http, 10_000).await;
    // Open the connections first, so the requests are in flight (accepted) when the
    // signal arrives.
    let mut tasks = Vec::new();
    for n in 0..40u64 {
        let (base, key) = (p.base.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let _ = http.get(format!("{base}/healthz")).send().await;
            http.post(format!("{base}/v1/activate"))
                .json(&json!({"license_key": key, "fingerprint": fp(n)}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let status = tokio::task::spawn_blocking(move || p.terminate())
        .await
        .expect("term");
    assert!(
        status.success(),
        "licet-server exits 0 on SIGTERM: {status:?}"
    );
    let mut answered = Vec::new();
    for (n, t) in tasks.into_iter().enumerate() {
        if let Ok(201) = t.await.expect("task") {
            answered.push(fp(n as u64));
        }
    }
    let p = Process::start_on(&data, &url);
    let stored = common::machines(&p.base, &http, &id).await;
    for f in &answered {
        assert!(
            stored.contains(f),
            "answered activation {f} lost across SIGTERM"
        );
    }
    let (st, v): (u16, Value) = common::send(http.get(format!("{}/healthz", p.base))).await;
    assert_eq!((st, v["status"].as_str()), (200, Some("ok")));
    let status = tokio::task::spawn_blocking(move || p.terminate())
        .await
        .expect("term");
    assert!(status.success());
}

/// What a lease worker saw acknowledged.
#[derive(Default, Clone)]
struct LeaseLog {
    /// lease id → (last acknowledged expiry, released acknowledged)
    leases: std::collections::BTreeMap<String, (String, bool)>,
}

async fn sigkill_during_obtain_renew_release_loses_no_answered_lease(db: Db) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&tmp);
    let url = db.url();
    let p = Process::start_on(&data, &url);
    let http = reqwest::Client::new();
    let (st, _) = common::send(
        http.post(format!("{}/v1/admin/products", p.base))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "p"})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, l) = common::send(
        http.post(format!("{}/v1/admin/licenses", p.base))
            .bearer_auth(ADMIN)
            .json(
                &json!({"product": "p", "max_leases": 8, "lease_ttl": 3600, "lease_ttl_max": 7200}),
            ),
    )
    .await;
    assert_eq!(st, 201);
    let key = l["license_key"].as_str().expect("key").to_owned();
    let id = l["id"].as_str().expect("id").to_owned();

    let log = Arc::new(Mutex::new(LeaseLog::default()));
    let ops = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (base, key, log, ops, stop) = (
            p.base.clone(),
            key.clone(),
            Arc::clone(&log),
            Arc::clone(&ops),
            Arc::clone(&stop),
        );
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client");
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) && rounds < 200 {
                rounds += 1;
                let Ok(r) = http
                    .post(format!("{base}/v1/leases/obtain"))
                    .json(&json!({"license_key": key}))
                    .send()
                    .await
                else {
                    break;
                };
                if r.status().as_u16() != 201 {
                    continue;
                }
                let Ok(a) = r.json::<Value>().await else {
                    break;
                };
                let lease = a["lease_id"].as_str().unwrap_or_default().to_owned();
                log.lock().await.leases.insert(
                    lease.clone(),
                    (a["expires_at"].as_str().unwrap_or_default().into(), false),
                );
                ops.fetch_add(1, Ordering::SeqCst);
                let Ok(r) = http
                    .post(format!("{base}/v1/leases/renew"))
                    .json(&json!({"lease_token": a["lease_token"], "ttl": 7000}))
                    .send()
                    .await
                else {
                    break;
                };
                if r.status().as_u16() != 200 {
                    continue;
                }
                let Ok(b) = r.json::<Value>().await else {
                    break;
                };
                log.lock().await.leases.insert(
                    lease.clone(),
                    (b["expires_at"].as_str().unwrap_or_default().into(), false),
                );
                ops.fetch_add(1, Ordering::SeqCst);
                let Ok(r) = http
                    .post(format!("{base}/v1/leases/release"))
                    .json(&json!({"lease_token": b["lease_token"]}))
                    .send()
                    .await
                else {
                    break;
                };
                if r.status().as_u16() == 200 {
                    if let Some(e) = log.lock().await.leases.get_mut(&lease) {
                        e.1 = true;
                    }
                    ops.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while ops.load(Ordering::SeqCst) < 150 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::task::spawn_blocking(move || p.kill())
        .await
        .expect("kill");
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let acked = log.lock().await.clone();
    assert!(
        !acked.leases.is_empty(),
        "no lease was answered before the kill; the test proves nothing"
    );

    let p = Process::start_on(&data, &url);
    let (st, list) = common::send(
        http.get(format!("{}/v1/admin/licenses/{id}/leases", p.base))
            .bearer_auth(ADMIN),
    )
    .await;
    assert_eq!(st, 200, "{list}");
    let stored: std::collections::BTreeMap<String, Value> = list["leases"]
        .as_array()
        .expect("leases")
        .iter()
        .map(|l| (l["id"].as_str().expect("id").to_owned(), l.clone()))
        .collect();
    for (lease, (expires, released)) in &acked.leases {
        let s = stored
            .get(lease)
            .unwrap_or_else(|| panic!("lease {lease} was answered but is lost after SIGKILL"));
        if *released {
            assert_eq!(
                s["state"], "released",
                "lease {lease}: release was answered but not kept"
            );
        } else {
            assert!(
                s["expires_at"].as_str().unwrap_or_default() >= expires.as_str(),
                "lease {lease}: an answered renewal was lost"
            );
        }
    }
    let active = stored.values().filter(|l| l["state"] == "active").count();
    assert!(active <= 8, "{active} active leases on 8 seats");
    // The seats are exact after the restart too.
    let mut got = 0;
    for _ in 0..20 {
        let (st, _) = common::send(
            http.post(format!("{}/v1/leases/obtain", p.base))
                .json(&json!({"license_key": key})),
        )
        .await;
        if st == 201 {
            got += 1;
        }
    }
    assert_eq!(
        got + active,
        8,
        "after the restart exactly the free seats can be obtained"
    );
    eprintln!(
        "lease SIGKILL test: {} leases answered before the kill, {} active after",
        acked.leases.len(),
        active
    );
    let status = tokio::task::spawn_blocking(move || p.terminate())
        .await
        .expect("term");
    assert!(status.success());
}

on_every_backend!(
    sigkill_loses_no_answered_activation,
    sigterm_drains_in_flight_requests_and_closes_cleanly,
    sigkill_during_obtain_renew_release_loses_no_answered_lease,
);
