//! `/readyz` (the database answers a read in time, or 503 NOT_READY) and `/metrics`
//! (Prometheus text format on --metrics-listen, parsed by a Prometheus text parser).

mod common;

use std::time::Duration;

use common::{Db, TestServer};
use prometheus_parse::{Scrape, Value};
use serde_json::json;

#[tokio::test]
async fn readyz_fails_while_the_database_cannot_be_read_and_recovers() {
    let s = TestServer::start().await;
    let (st, body) = s.get("/readyz").await;
    assert_eq!(
        (st, body["status"].as_str()),
        (200, Some("ready")),
        "{body}"
    );

    // The database file goes away (an unmounted volume, a careless clean-up) and a write
    // fails: the writer closes the database and cannot reopen it, so no read is answered.
    let db = licet_server::database_path(s.dir.path());
    let moved = db.with_extension("moved");
    std::fs::rename(&db, &moved).expect("move the database away");
    let store = s.store();
    let failed = store
        .write(|_| -> Result<(), licet_server::ApiError> { panic!("a fault injected by the test") })
        .await;
    assert_eq!(failed, Err(licet_server::ApiError::StorageUnavailable));
    let (st, body) = s.get("/readyz").await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (503, Some("NOT_READY")),
        "{body}"
    );

    // The file is back: the writer reopens it by itself and /readyz answers 200 again.
    std::fs::rename(&moved, &db).expect("move the database back");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (st, body) = s.get("/readyz").await;
        if st == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not ready 20 s after the file came back: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The samples of a scrape by metric name, each with its labels.
fn scrape(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("the Prometheus text parses")
}

fn find<'a>(
    s: &'a Scrape,
    metric: &str,
    labels: &[(&str, &str)],
) -> Option<&'a prometheus_parse::Sample> {
    s.samples.iter().find(|x| {
        x.metric == metric
            && labels
                .iter()
                .all(|(k, v)| x.labels.get(k).is_some_and(|got| got == *v))
    })
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Counter(n) | Value::Gauge(n) | Value::Untyped(n) => *n,
        other => panic!("not a number: {other:?}"),
    }
}

/// A histogram's count (its +Inf bucket).
fn count(v: &Value) -> f64 {
    match v {
        Value::Histogram(buckets) => buckets
            .iter()
            .find(|b| b.less_than.is_infinite())
            .map(|b| b.count)
            .expect("+Inf bucket"),
        other => panic!("not a histogram: {other:?}"),
    }
}

async fn metrics_are_prometheus_text_on_their_own_address(db: Db) {
    let redb = matches!(db, Db::Redb);
    let s = TestServer::start_on_with(db, |c| {
        c.metrics_listen = Some("127.0.0.1:0".into());
        c.key_rate = 1;
        c.key_burst = 4;
    })
    .await;
    let base = s.metrics_base().expect("metrics address");
    assert_eq!(s.get("/readyz").await.0, 200, "ready on a fresh database");
    let l = s
        .license("cad", json!({"max_machines": 3, "max_leases": 2}))
        .await;
    let key = l["license_key"].as_str().expect("key");
    s.activate_machines(key, 2).await;
    let (st, _) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    assert_eq!(st, 201);
    // The key's burst of 4 is spent: one more is refused by the per-key limit.
    assert_eq!(
        s.post("/v1/validate", json!({"license_key": key})).await.0,
        200
    );
    assert_eq!(
        s.post("/v1/validate", json!({"license_key": key})).await.0,
        429
    );
    assert_eq!(
        s.post("/v1/validate", json!({"license_key": "nope"}))
            .await
            .0,
        404
    );

    let resp = s
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status().as_u16(), 200);
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let text = resp.text().await.expect("body");
    let m = scrape(&text);

    let requests = |route: &str, status: &str| {
        find(
            &m,
            "licet_http_requests_total",
            &[("route", route), ("method", "POST"), ("status", status)],
        )
        .map_or(0.0, |x| number(&x.value))
    };
    assert_eq!(requests("/v1/activate", "201"), 2.0, "{text}");
    assert_eq!(requests("/v1/validate", "200"), 1.0);
    assert_eq!(requests("/v1/validate", "429"), 1.0);
    assert_eq!(requests("/v1/validate", "404"), 1.0);
    // The admin routes are labelled by their pattern, not by the path asked for.
    assert_eq!(requests("/v1/admin/licenses", "201"), 1.0);
    let latency = find(
        &m,
        "licet_http_request_duration_seconds",
        &[("route", "/v1/activate"), ("method", "POST")],
    )
    .expect("activate latency");
    assert_eq!(count(&latency.value), 2.0);

    let gauge = |name: &str| number(&find(&m, name, &[]).expect(name).value);
    assert_eq!(gauge("licet_machines"), 2.0);
    assert_eq!(gauge("licet_seats_held"), 1.0);
    assert_eq!(gauge("licet_rate_limit_refused_key_total"), 1.0);
    assert_eq!(gauge("licet_rate_limit_refused_ip_total"), 0.0);
    // Four requests named the key and passed (2 activations, a lease, a validation), and
    // the unknown key's.
    assert_eq!(gauge("licet_rate_limit_allowed_total"), 5.0);
    if redb {
        // Every write was committed in a batch: product, license, 2 activations, a lease.
        // (PostgreSQL commits each request on its own: no batches to report.)
        let batches = find(&m, "licet_writer_batch_size", &[]).expect("batch sizes");
        assert!(count(&batches.value) >= 1.0, "{text}");
        let commits = find(&m, "licet_writer_commit_duration_seconds", &[]).expect("commits");
        assert_eq!(count(&commits.value), count(&batches.value));
    }
    // Not on the API's address.
    assert_eq!(s.get("/metrics").await.0, 404);
}

/// The real binary names its metrics address at start, and serves the text there.
#[tokio::test]
async fn the_binary_names_its_metrics_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = common::Process::start_with(
        &common::data_dir(&dir),
        &[],
        &["--metrics-listen", "127.0.0.1:0"],
        None,
    );
    let url = p
        .startup
        .iter()
        .find_map(|l| l.strip_prefix("licet-server metrics on "))
        .expect("the metrics address is printed before the listening line")
        .to_owned();
    let text = reqwest::get(&url)
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    let m = scrape(&text);
    assert!(find(&m, "licet_machines", &[]).is_some(), "{text}");
}

// `/readyz` and `/metrics` on both backends (the gauges are read from each database).
on_every_backend!(metrics_are_prometheus_text_on_their_own_address);
