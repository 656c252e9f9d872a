//! Connections against the real binary on 127.0.0.1: idle and slow clients cannot starve
//! everyone else of files or of the server's attention.
//!
//! Every wait is bounded (`within`): a step that does not finish fails the test instead of
//! hanging it. The bounds are generous hang guards, not speed checks.

mod common;

use std::future::Future;
use std::time::Duration;

use common::{Process, data_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn within<T>(secs: u64, what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {secs} s"))
}

fn addr(p: &Process) -> String {
    p.base.trim_start_matches("http://").to_owned()
}

async fn healthz(p: &Process) -> reqwest::Result<u16> {
    // A fresh client: a pooled connection could hide whether new ones are served.
    let r = reqwest::Client::new()
        .get(format!("{}/healthz", p.base))
        .send()
        .await?;
    Ok(r.status().as_u16())
}

/// Reads until the server closes the connection (end of file or reset).
async fn closed_by_server(s: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The scenario: with the usual 1,024 open files, 2,000 idle sockets once made the
/// server stop answering anyone. It raises its own limit to the hard limit at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_is_served_while_2000_idle_and_500_slow_connections_are_open() {
    // This process holds 2,500 sockets of its own.
    rlimit::increase_nofile_limit(u64::MAX).expect("raise this test's open-file limit");
    let t = tempfile::tempdir().expect("tempdir");
    // Long timeouts: every connection must still be open when the client is served.
    let p = Process::start_with(
        &data_dir(&t),
        &[],
        &["--idle-timeout", "300", "--header-read-timeout", "600"],
        Some(1024),
    );
    let a = addr(&p);
    let mut idle = Vec::with_capacity(2000);
    for _ in 0..2000 {
        idle.push(
            within(10, "an idle connect", TcpStream::connect(&a))
                .await
                .expect("connect"),
        );
    }
    let mut slow = Vec::with_capacity(500);
    for _ in 0..500 {
        let mut s = within(10, "a slow connect", TcpStream::connect(&a))
            .await
            .expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: licet\r\n")
            .await
            .expect("first header");
        slow.push(s);
    }
    // Slowloris: one more header line on each, every 200 ms, never the end of the head.
    let trickle = tokio::spawn(async move {
        loop {
            for s in &mut slow {
                let _ = s.write_all(b"X-Slow: y\r\n").await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    for _ in 0..3 {
        let st = within(20, "a normal request", healthz(&p))
            .await
            .expect("a normal client is answered");
        assert_eq!(st, 200);
    }
    // And the idle ones were still open all along (the server had not shed them).
    let mut buf = [0u8; 1];
    for s in [&idle[0], &idle[999], &idle[1999]] {
        assert!(
            matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "an idle connection was closed"
        );
    }
    trickle.abort();
    drop(idle);
}

/// A connection that sends nothing, new or kept alive after an answer, is closed after the
/// idle timeout.
#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let t = tempfile::tempdir().expect("tempdir");
    let p = Process::start_with(
        &data_dir(&t),
        &[],
        &["--idle-timeout", "1", "--header-read-timeout", "600"],
        None,
    );
    let mut fresh = TcpStream::connect(addr(&p)).await.expect("connect");
    within(
        20,
        "closing a silent new connection",
        closed_by_server(&mut fresh),
    )
    .await;

    let mut kept = TcpStream::connect(addr(&p)).await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: licet\r\n\r\n")
        .await
        .expect("request");
    let mut buf = [0u8; 12];
    kept.read_exact(&mut buf).await.expect("an answer");
    assert_eq!(&buf, b"HTTP/1.1 200");
    within(
        20,
        "closing an idle kept-alive connection",
        closed_by_server(&mut kept),
    )
    .await;
}

/// A client that trickles its headers, each line well within the idle timeout, is dropped
/// by the header-read timeout.
#[tokio::test]
async fn a_client_trickling_its_headers_is_dropped() {
    let t = tempfile::tempdir().expect("tempdir");
    let p = Process::start_with(
        &data_dir(&t),
        &[],
        &["--idle-timeout", "600", "--header-read-timeout", "1"],
        None,
    );
    let s = TcpStream::connect(addr(&p)).await.expect("connect");
    let (mut r, mut w) = s.into_split();
    let trickle = tokio::spawn(async move {
        let _ = w
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: licet\r\n")
            .await;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if w.write_all(b"X-Slow: y\r\n").await.is_err() {
                return;
            }
        }
    });
    within(20, "dropping a slowloris client", async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = r.read(&mut buf).await
            && n > 0
        {}
    })
    .await;
    trickle.abort();
}

/// Over the cap, a client waits for a free connection instead of costing the server a file.
#[tokio::test]
async fn connections_over_the_cap_wait_for_a_free_one() {
    let t = tempfile::tempdir().expect("tempdir");
    let p = Process::start_with(
        &data_dir(&t),
        &[],
        &[
            "--max-connections",
            "1",
            "--idle-timeout",
            "600",
            "--header-read-timeout",
            "600",
        ],
        None,
    );
    let first = TcpStream::connect(addr(&p)).await.expect("connect");
    // While the one connection allowed is held, a new client is not answered (it waits in
    // the listen backlog). A short wait shows it; the answer would otherwise come at once.
    let waiting = tokio::time::timeout(Duration::from_secs(1), healthz(&p)).await;
    assert!(waiting.is_err(), "answered over the cap: {waiting:?}");
    // Once it is closed, the next client is served.
    drop(first);
    let st = within(20, "a request after the slot is free", healthz(&p))
        .await
        .expect("answered");
    assert_eq!(st, 200);
}
