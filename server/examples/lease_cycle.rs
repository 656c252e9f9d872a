//! Load driver for the lease cycle of the load benchmark (`server/bench/load.sh`):
//! `CONNECTIONS` clients, each on its own keep-alive connection, each looping
//! obtain → renew → release against one license for `SECONDS`, and the latencies of every
//! request recorded.
//!
//! ```text
//! cargo run --release -p licet-server --example lease_cycle -- http://127.0.0.1:5480 lease.key 64 10
//! ```
//!
//! Why not wrk: each step needs the token the step before returned, per client. wrk's Lua
//! `request()` is called ahead of the responses when it pipelines and shares one state per
//! thread across that thread's connections, so a chain per connection cannot be kept there
//! without guessing at wrk's internals. Here each client is a plain loop.
//!
//! Prints one line per request kind and one for the whole cycle, then a line
//! `RESULT cycle <requests/s> <p50 ms> <p99 ms> <errors> <requests>` for the script.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[derive(Default)]
struct Tally {
    obtain: Vec<u32>,
    renew: Vec<u32>,
    release: Vec<u32>,
    all: Vec<u32>,
    errors: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, key_file, conns, secs] = args.as_slice() else {
        eprintln!("usage: lease_cycle BASE_URL LEASE_KEY_FILE CONNECTIONS SECONDS");
        return std::process::ExitCode::from(2);
    };
    let key = match std::fs::read_to_string(key_file) {
        Ok(k) => k.trim().to_owned(),
        Err(e) => {
            eprintln!("{key_file}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let conns: usize = conns.parse().unwrap_or(64);
    let duration = Duration::from_secs_f64(secs.parse().unwrap_or(10.0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for n in 0..conns {
        let (base, key) = (base.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            client(&base, &key, n, deadline).await
        }));
    }
    let mut t = Tally::default();
    for task in tasks {
        let Ok(one) = task.await else {
            t.errors += 1;
            continue;
        };
        t.obtain.extend(one.obtain);
        t.renew.extend(one.renew);
        t.release.extend(one.release);
        t.all.extend(one.all);
        t.errors += one.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests = t.all.len();
    for (name, v) in [
        ("obtain", &mut t.obtain),
        ("renew", &mut t.renew),
        ("release", &mut t.release),
    ] {
        let (p50, p99) = percentiles(v);
        println!(
            "{name:8} {:>8} requests  p50 {p50:.2} ms  p99 {p99:.2} ms",
            v.len()
        );
    }
    let (p50, p99) = percentiles(&mut t.all);
    println!(
        "cycle    {:.0} requests/s ({:.0} cycles/s), p50 {p50:.2} ms, p99 {p99:.2} ms, {} errors",
        requests as f64 / elapsed,
        t.release.len() as f64 / elapsed,
        t.errors
    );
    println!(
        "RESULT cycle {:.1} {p50:.3} {p99:.3} {} {requests}",
        requests as f64 / elapsed,
        t.errors
    );
    std::process::ExitCode::SUCCESS
}

/// p50 and p99 of latencies in microseconds, in milliseconds.
fn percentiles(v: &mut [u32]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_unstable();
    let at = |q: f64| {
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        f64::from(v[i]) / 1000.0
    };
    (at(0.50), at(0.99))
}

/// One client: one connection, obtain → renew → release until the deadline.
async fn client(base: &str, key: &str, n: usize, deadline: Instant) -> Tally {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let (obtain, renew, release) = (
        format!("{base}/v1/leases/obtain"),
        format!("{base}/v1/leases/renew"),
        format!("{base}/v1/leases/release"),
    );
    let mut t = Tally::default();
    let client_id = format!("bench-{n}");
    while Instant::now() < deadline {
        let body = json!({"license_key": key, "client_id": client_id});
        let (us, token) = step(&http, &obtain, &body, 201).await;
        t.record(us, token.is_some(), |t| &mut t.obtain);
        let Some(token) = token else { continue };
        let (us, token) = step(&http, &renew, &json!({"lease_token": token}), 200).await;
        t.record(us, token.is_some(), |t| &mut t.renew);
        let Some(token) = token else { continue };
        let (us, token) = step(&http, &release, &json!({"lease_token": token}), 200).await;
        t.record(us, token.is_some(), |t| &mut t.release);
    }
    t
}

impl Tally {
    fn record(&mut self, us: u32, ok: bool, kind: impl FnOnce(&mut Tally) -> &mut Vec<u32>) {
        kind(self).push(us);
        self.all.push(us);
        if !ok {
            self.errors += 1;
        }
    }
}

/// One request: its latency in microseconds, and the `lease_token` (or `lease_id`) it
/// answered with when it answered `want`.
async fn step(http: &reqwest::Client, url: &str, body: &Value, want: u16) -> (u32, Option<String>) {
    let start = Instant::now();
    let out = match http.post(url).json(body).send().await {
        Ok(r) if r.status().as_u16() == want => r.json::<Value>().await.ok(),
        Ok(r) => {
            let _ = r.bytes().await;
            None
        }
        Err(_) => None,
    };
    let us = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
    let token = out.and_then(|v| {
        v.get("lease_token")
            .or_else(|| v.get("lease_id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    (us, token)
}
