//! Retention over real HTTP, on both backends: the background pruning (every second
//! here) leaves exactly what `--audit-retention` and `--lease-retention` say, across more
//! records than one batch holds, and the audit log's seqs are never given twice.

mod common;

use std::time::Duration;

use common::{Db, TestServer};
use reqwest::Method;
use serde_json::{Value, json};

const DAY: u64 = 86_400;

/// Every audit event, newest first.
async fn audit(s: &TestServer) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<u64> = None;
    loop {
        let path = match cursor {
            Some(c) => format!("/audit?limit=1000&cursor={c}"),
            None => "/audit?limit=1000".to_owned(),
        };
        let (st, page) = s.admin(Method::GET, &path, None).await;
        assert_eq!(st, 200, "{page}");
        out.extend(page["events"].as_array().expect("events").iter().cloned());
        match page["next_cursor"].as_u64() {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

async fn lease_ids(s: &TestServer, license: &str) -> Vec<String> {
    let (st, body) = s
        .admin(Method::GET, &format!("/licenses/{license}/leases"), None)
        .await;
    assert_eq!(st, 200, "{body}");
    let mut ids: Vec<String> = body["leases"]
        .as_array()
        .expect("leases")
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// Waits (at most 60 s, polling) for the background pass to have written its
/// `retention.prune` event at the current time.
async fn pruned(s: &TestServer) -> Value {
    let at = licet_server::routes::rfc3339(s.now());
    for _ in 0..300 {
        let (_, page) = s
            .admin(Method::GET, "/audit?action=retention.prune&limit=1", None)
            .await;
        if let Some(e) = page["events"].as_array().and_then(|e| e.first())
            && e["at"] == json!(at)
        {
            return e.clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no retention pass at {at} within 60 s");
}

async fn obtain(s: &TestServer, key: &str) -> String {
    let (st, body) = s
        .post("/v1/leases/obtain", json!({"license_key": key, "ttl": 60}))
        .await;
    assert_eq!(st, 201, "{body}");
    body["lease_token"].as_str().expect("token").to_owned()
}

async fn pruning_leaves_exactly_what_the_retention_says(db: Db) {
    let s = TestServer::start_on_with(db, |c| {
        c.audit_retention = licet_server::config::RetentionDays(Some(30));
        c.prune_interval = 1;
    })
    .await;
    let t0 = s.now();
    let l = s.license("cad", json!({})).await;
    let id = l["id"].as_str().expect("id").to_owned();
    let key = l["license_key"].as_str().expect("key").to_owned();
    // More leases than one batch (500) looks at: they expire at t0 + 60.
    let token = obtain(&s, &key).await;
    let (st, body) = s
        .post("/v1/leases/release", json!({"lease_token": token}))
        .await;
    assert_eq!(st, 200, "{body}");
    let released = body["lease_id"].as_str().expect("id").to_owned();
    for _ in 0..520 {
        obtain(&s, &key).await;
    }
    let old_leases = lease_ids(&s, &id).await;
    assert_eq!(old_leases.len(), 521);
    assert!(old_leases.contains(&released));
    let before = audit(&s).await;
    let last_seq = before[0]["seq"].as_u64().expect("seq");
    assert_eq!(before.len() as u64, last_seq);

    // Day 31: every event of day 0 is past 30 days; no lease is past 90.
    s.advance(31 * DAY);
    let pass = pruned(&s).await;
    assert_eq!(pass["detail"]["audit_events"], json!(last_seq), "{pass}");
    assert_eq!(pass["detail"]["leases"], 0, "{pass}");
    let now = audit(&s).await;
    assert_eq!(now.len(), 1, "only the pass's own event is left: {now:?}");
    // The log was pruned empty, and its next event still numbers after the last one.
    assert_eq!(now[0]["seq"].as_u64(), Some(last_seq + 1));
    assert_eq!(lease_ids(&s, &id).await, old_leases);

    // A lease that ends on day 31.
    let token = obtain(&s, &key).await;
    let (_, body) = s
        .post("/v1/leases/release", json!({"lease_token": token}))
        .await;
    let day_31_lease = body["lease_id"].as_str().expect("id").to_owned();

    // Day 91: the leases that ended on day 0 are past 90 days; the one of day 31 is not.
    // Events of day 31 are past 30 days.
    s.advance(60 * DAY);
    let pass = pruned(&s).await;
    assert_eq!(pass["detail"]["leases"], 521, "{pass}");
    assert_eq!(
        pass["detail"]["audit_events"], 3,
        "day 31's pass event, the obtain and the release: {pass}"
    );
    assert_eq!(lease_ids(&s, &id).await, [day_31_lease]);
    let left = audit(&s).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left.iter()
            .all(|e| e["at"] == json!(licet_server::routes::rfc3339(t0 + 91 * DAY))),
        "{left:?}"
    );
}

async fn the_defaults_keep_the_audit_log_and_90_days_of_leases(db: Db) {
    let s = TestServer::start_on_with(db, |c| c.prune_interval = 1).await;
    let l = s.license("cad", json!({})).await;
    let id = l["id"].as_str().expect("id").to_owned();
    let key = l["license_key"].as_str().expect("key").to_owned();
    obtain(&s, &key).await;
    let first = lease_ids(&s, &id).await;
    s.advance(DAY);
    obtain(&s, &key).await;
    let second: Vec<String> = lease_ids(&s, &id)
        .await
        .into_iter()
        .filter(|l| !first.contains(l))
        .collect();
    let events = audit(&s).await.len();
    // The first lease ended 90 days and a second ago, the second 89 days and a second ago:
    // only the first goes. The audit log is kept whole (forever, by default).
    s.advance(60 + 90 * DAY + 1 - DAY);
    let pass = pruned(&s).await;
    assert_eq!(pass["detail"]["leases"], 1, "{pass}");
    assert_eq!(pass["detail"]["audit_events"], 0, "{pass}");
    assert_eq!(lease_ids(&s, &id).await, second);
    assert_eq!(audit(&s).await.len(), events + 1);
}

on_every_backend!(
    pruning_leaves_exactly_what_the_retention_says,
    the_defaults_keep_the_audit_log_and_90_days_of_leases,
);
