//! PostgreSQL stopped and started again under load: requests get 503 STORAGE_UNAVAILABLE
//! while it is down, `/healthz` says the database does not answer, nothing acknowledged is
//! lost, and the server reconnects by itself. A test binary of its own: it restarts the
//! test cluster, which the other PostgreSQL tests share within their binaries.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Db, TestServer, postgres};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_under_load_loses_nothing_and_service_resumes_by_itself() {
    let Some(cluster) = postgres::cluster() else {
        eprintln!(
            "LICET_TEST_DATABASE_URL names a server this test cannot restart; run it without that variable"
        );
        return;
    };
    let s = TestServer::start_on(Db::Postgres).await;
    let (key, id) = common::setup(&s.base, &s.http, 100_000).await;
    let stop = Arc::new(AtomicBool::new(false));
    let streaming = tokio::spawn(common::stream_answers(
        vec![s.base.clone()],
        key,
        8,
        100_000,
        Arc::clone(&stop),
        Duration::from_millis(10),
    ));
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .expect("stop thread")
        .expect("PostgreSQL stops");
    // Liveness stays 200 (a restart would not bring the database back); the body says
    // the database does not answer, and readiness fails.
    let (st, h) = s.get("/healthz").await;
    assert_eq!(st, 200, "{h}");
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["database"]["answers"], false, "{h}");
    let (st, r) = s.get("/readyz").await;
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (503, Some("NOT_READY")),
        "{r}"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    tokio::task::spawn_blocking(move || cluster.start())
        .await
        .expect("start thread")
        .expect("PostgreSQL starts again");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (st, h) = s.get("/healthz").await;
        assert_eq!(st, 200, "{h}");
        if h["status"] == "ok" {
            assert_eq!(h["database"]["answers"], true, "{h}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no reconnection within 30 s: {h}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, before_resume) = s
        .admin(
            reqwest::Method::GET,
            &format!("/licenses/{id}/machines"),
            None,
        )
        .await;
    let before = before_resume["machines"].as_array().map_or(0, Vec::len);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stop.store(true, Ordering::SeqCst);
    let answers = streaming.await.expect("stream");

    let stored = common::machines(&s.base, &s.http, &id).await;
    for f in &answers.acked {
        assert!(
            stored.contains(f),
            "activation {f} was answered 201 but is lost"
        );
    }
    assert!(
        stored.len() > before,
        "no activation succeeded after the restart: {answers:?}"
    );
    let unavailable = answers
        .others
        .get("503 STORAGE_UNAVAILABLE")
        .copied()
        .unwrap_or(0);
    assert!(
        unavailable > 0,
        "no request was answered 503 STORAGE_UNAVAILABLE while PostgreSQL was down: {:?}",
        answers.others
    );
    for other in answers.others.keys() {
        assert_eq!(
            other, "503 STORAGE_UNAVAILABLE",
            "an answer other than 201 or 503 STORAGE_UNAVAILABLE: {:?}",
            answers.others
        );
    }
    eprintln!(
        "PostgreSQL restart: {} answered 201 ({} stored), {unavailable} answered 503",
        answers.acked.len(),
        stored.len()
    );
}
