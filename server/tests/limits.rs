//! Rate limits on the client API over real HTTP: the counts of answers let through and
//! refused, the `RateLimit-*` and `Retry-After` headers, `X-Forwarded-For` believed only
//! from a named proxy, and refusals audited in aggregate.

mod common;

use common::TestServer;
use licet_server::storage::ReadTx;
use serde_json::{Value, json};

/// One request's status, error code and rate-limit headers.
#[derive(Debug)]
struct Answer {
    status: u16,
    code: Option<String>,
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<u64>,
    retry_after: Option<u64>,
}

async fn validate(s: &TestServer, key: &str, forwarded_for: Option<&str>) -> Answer {
    let mut r = s
        .http
        .post(format!("{}/v1/validate", s.base))
        .json(&json!({"license_key": key}));
    if let Some(f) = forwarded_for {
        r = r.header("x-forwarded-for", f);
    }
    let resp = r.send().await.expect("request");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let (limit, remaining, reset, retry_after) = (
        header("ratelimit-limit"),
        header("ratelimit-remaining"),
        header("ratelimit-reset"),
        header("retry-after"),
    );
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        code: body["error"]["code"].as_str().map(str::to_owned),
        limit,
        remaining,
        reset,
        retry_after,
    }
}

/// The audit events of a stopped server's database with this action.
fn audit_events(dir: &std::path::Path, action: &str) -> Vec<licet_server::model::AuditEvent> {
    let (store, writer) = licet_server::store::Store::open(
        &licet_server::database_path(dir),
        licet_server::store::WriterConfig { max_batch: 1 },
    )
    .expect("reopen");
    let mut found = Vec::new();
    {
        let snap = licet_server::store::Snapshot::of(&store).expect("snapshot");
        snap.audit_before(None, &mut |e| {
            if e.action == action {
                found.push(e);
            }
            true
        })
        .expect("audit");
    }
    drop(store);
    writer.join().expect("writer");
    found
}

#[tokio::test]
async fn per_address_limit_counts_headers_and_aggregate_audit() {
    // One request a minute sustained: within the test, exactly the burst gets through.
    let s = TestServer::start_with(|c| {
        c.ip_rate = 1;
        c.ip_burst = 5;
    })
    .await;
    let mut answers = Vec::new();
    for _ in 0..12 {
        answers.push(validate(&s, "not-a-key", None).await);
    }
    let through: Vec<&Answer> = answers.iter().filter(|a| a.status == 404).collect();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!((through.len(), refused.len()), (5, 7), "{answers:#?}");
    for (i, a) in through.iter().enumerate() {
        assert_eq!(a.code.as_deref(), Some("KEY_INVALID"));
        assert_eq!(a.limit, Some(5), "{a:?}");
        assert_eq!(a.remaining, Some(4 - i as u64), "{a:?}");
        assert!(a.reset.is_some_and(|r| r >= 1), "{a:?}");
    }
    for a in &refused {
        assert_eq!(a.code.as_deref(), Some("RATE_LIMITED"));
        assert_eq!((a.limit, a.remaining), (Some(5), Some(0)), "{a:?}");
        // Up to a minute for the next token.
        assert!(
            a.retry_after.is_some_and(|r| (1..=60).contains(&r)),
            "{a:?}"
        );
        assert_eq!(a.reset, a.retry_after);
    }
    // The admin API and /healthz are not limited.
    assert_eq!(s.get("/healthz").await.0, 200);
    let (st, _) = s.admin(reqwest::Method::GET, "/products", None).await;
    assert_eq!(st, 200);

    // Refusals are one audit event for the address with the count; only the requests let
    // through were each audited as KEY_INVALID.
    let dir = s.stop().await;
    let limited = audit_events(dir.path(), "request.rate_limited");
    assert_eq!(limited.len(), 1, "{limited:?}");
    assert_eq!(limited[0].detail["source"], "ip:127.0.0.1");
    assert_eq!(limited[0].detail["count"], 7);
    assert_eq!(audit_events(dir.path(), "request.refused").len(), 5);
}

#[tokio::test]
async fn per_key_limit_whatever_the_address() {
    let s = TestServer::start_with(|c| {
        c.key_rate = 1;
        c.key_burst = 3;
    })
    .await;
    let a = s.license("cad", json!({})).await;
    let b = s.license("cad", json!({})).await;
    let (ka, kb) = (
        a["license_key"].as_str().expect("key"),
        b["license_key"].as_str().expect("key"),
    );
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(validate(&s, ka, None).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    // Another key has a bucket of its own.
    let other = validate(&s, kb, None).await;
    assert_eq!((other.status, other.remaining), (200, Some(2)));
    // The key with surrounding spaces is the same key.
    assert_eq!(validate(&s, &format!(" {ka} "), None).await.status, 429);
    let dir = s.stop().await;
    let limited = audit_events(dir.path(), "request.rate_limited");
    assert_eq!(limited.len(), 1, "{limited:?}");
    assert_eq!(limited[0].detail["count"], 3);
    let source = limited[0].detail["source"].as_str().expect("source");
    assert!(source.starts_with("key_sha256:"), "{source}");
    assert!(!source.contains(ka), "the key itself is never audited");
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    // Behind a named proxy (the test client's own address): one bucket per forwarded client.
    let s = TestServer::start_with(|c| {
        c.ip_rate = 1;
        c.ip_burst = 2;
        c.trusted_proxy = vec!["127.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let one = |xff: &'static str| {
        let s = &s;
        async move { validate(s, "x", Some(xff)).await.status }
    };
    assert_eq!(
        [
            one("203.0.113.7").await,
            one("203.0.113.7").await,
            one("203.0.113.7").await
        ],
        [404, 404, 429]
    );
    // A spoofed left-most entry is not what counts: the right-most untrusted one is.
    assert_eq!(one("198.51.100.1, 203.0.113.7").await, 429);
    assert_eq!(one("203.0.113.8").await, 404);
    drop(s);

    // From a peer not named as a proxy, the header is ignored: every request shares the
    // peer's bucket.
    let s = TestServer::start_with(|c| {
        c.ip_rate = 1;
        c.ip_burst = 2;
        c.trusted_proxy = vec!["10.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let mut statuses = Vec::new();
    for xff in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        statuses.push(validate(&s, "x", Some(xff)).await.status);
    }
    assert_eq!(statuses, [404, 404, 429]);
}

/// The flags and their environment variables, with a bad CIDR refused by name.
#[test]
fn settings_parse_and_bad_proxies_are_refused() {
    use clap::Parser;
    let c = licet_server::Config::try_parse_from([
        "licet-server",
        "--ip-rate",
        "120",
        "--key-burst",
        "7",
        "--trusted-proxy",
        "10.0.0.5,192.168.1.0/24",
    ])
    .expect("parses");
    assert_eq!((c.ip_rate, c.key_burst), (120, 7));
    assert_eq!(c.trusted_proxy.len(), 2);
    let e = licet_server::Config::try_parse_from(["licet-server", "--trusted-proxy", "10.0.0/8"])
        .expect_err("refused");
    assert!(
        e.to_string()
            .contains("neither an IP address nor a CIDR range"),
        "{e}"
    );
}
