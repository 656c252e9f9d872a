//! TLS on the listener: a handshake with a private CA's chain, plain HTTP refused on the
//! TLS port, a certificate reloaded on SIGHUP while an old connection keeps working, and
//! `licet-client` trusting a custom CA.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{Process, TestPki, TlsConn};
use serde_json::json;

fn tls_server(dir: &tempfile::TempDir, pki: &TestPki) -> (Process, String, Vec<u8>) {
    let (cert, key, leaf) = pki.leaf(dir.path());
    let p = Process::start_with(
        &common::data_dir(dir),
        &[],
        &[
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
        ],
        None,
    );
    let addr = p
        .base
        .strip_prefix("https://")
        .expect("the server announces https")
        .to_owned();
    (p, addr, leaf)
}

#[tokio::test]
async fn handshake_with_a_private_ca_and_plain_http_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new("test");
    let (_p, addr, leaf) = tls_server(&dir, &pki);
    let mut c = TlsConn::connect(&addr, &pki.root_pem)
        .await
        .expect("the handshake succeeds with the root CA (the server sends the intermediate)");
    assert_eq!(c.peer_leaf, leaf);
    let (st, body) = c.request("GET", "/healthz", None).await;
    assert_eq!(st, 200, "{body}");

    // A client trusting another CA refuses the server.
    let other = TestPki::new("other");
    let e = TlsConn::connect(&addr, &other.root_pem)
        .await
        .err()
        .expect("a certificate of an untrusted CA is refused");
    assert!(e.contains("certificate"), "{e}");

    // Plain HTTP on the TLS port gets no HTTP answer: the handshake fails and the
    // connection is closed (at most a TLS alert comes back).
    let mut tcp = std::net::TcpStream::connect(&addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    assert!(
        !got.starts_with(b"HTTP/"),
        "plain HTTP was answered: {:?}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test]
async fn sighup_reloads_the_certificate_and_keeps_old_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = TestPki::new("first");
    let (p, addr, old_leaf) = tls_server(&dir, &first);
    let mut old = TlsConn::connect(&addr, &first.root_pem)
        .await
        .expect("handshake");
    assert_eq!(old.request("GET", "/healthz", None).await.0, 200);

    // A renewed certificate from another CA, written over the files, then SIGHUP.
    let second = TestPki::new("second");
    let (_, _, new_leaf) = second.leaf(dir.path());
    assert!(
        TlsConn::connect(&addr, &second.root_pem).await.is_err(),
        "the new certificate is not served before SIGHUP"
    );
    let st = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(p.child.id().to_string())
        .status()
        .expect("kill");
    assert!(st.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut fresh = loop {
        match TlsConn::connect(&addr, &second.root_pem).await {
            Ok(c) => break c,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the new certificate is not served 10 s after SIGHUP: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(fresh.peer_leaf, new_leaf);
    assert_eq!(fresh.request("GET", "/healthz", None).await.0, 200);
    // The connection made before the reload is still served, with its old certificate.
    assert_eq!(old.peer_leaf, old_leaf);
    let (st, body) = old.request("GET", "/healthz", None).await;
    assert_eq!(st, 200, "{body}");

    // A reload that cannot read the files keeps the certificate in force.
    std::fs::write(dir.path().join("key.pem"), "not a key").expect("write");
    std::process::Command::new("kill")
        .arg("-HUP")
        .arg(p.child.id().to_string())
        .status()
        .expect("kill");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut after = TlsConn::connect(&addr, &second.root_pem)
        .await
        .expect("still served after a failed reload");
    assert_eq!(after.peer_leaf, new_leaf);
    assert_eq!(after.request("GET", "/healthz", None).await.0, 200);
}

#[tokio::test]
async fn licet_client_trusts_a_custom_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new("onprem");
    let (p, addr, _) = tls_server(&dir, &pki);
    let mut admin = TlsConn::connect(&addr, &pki.root_pem)
        .await
        .expect("handshake");
    let (st, _) = admin
        .request("POST", "/v1/admin/products", Some(json!({"name": "cad"})))
        .await;
    assert_eq!(st, 201);
    let (st, license) = admin
        .request(
            "POST",
            "/v1/admin/licenses",
            Some(json!({"product": "cad"})),
        )
        .await;
    assert_eq!(st, 201, "{license}");
    let key = license["license_key"].as_str().expect("key").to_owned();
    let (_, pem) = admin.request("GET", "/signature.pem", None).await;
    let pem = pem.as_str().expect("pem").to_owned();
    let base = p.base.clone();
    let root = pki.root_pem.clone();
    let store = tempfile::tempdir().expect("tempdir");
    let store_dir = store.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let keyring = licet_verifier::Keyring::from_pem(&pem).expect("keyring");
        let fp = [7u8; 32];
        // Without the CA: the Mozilla roots do not know it, so the connection fails.
        let plain = licet_client::Client::builder(&base, "cad", &key, keyring.clone())
            .store_dir(&store_dir)
            .fingerprint(fp)
            .build()
            .expect("client");
        let Err(e) = plain.activate() else {
            panic!("an unknown CA is refused")
        };
        assert_eq!(e.code(), "NETWORK", "{e}");
        let client = licet_client::Client::builder(&base, "cad", &key, keyring)
            .store_dir(&store_dir)
            .fingerprint(fp)
            .ca_certificates_pem(root)
            .build()
            .expect("client");
        client
            .activate()
            .expect("activation over TLS with the custom CA");
    })
    .await
    .expect("client thread");
}

/// Plain HTTP on an address other hosts can reach is warned about at start; on loopback
/// or with TLS it is not.
#[test]
fn plain_http_off_loopback_is_warned_about() {
    let warning = "serving plain HTTP on a non-loopback address";
    let dir = tempfile::tempdir().expect("tempdir");
    let data = common::data_dir(&dir);
    let start = |listen: &str, extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec!["--listen".as_ref(), listen.as_ref()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        args.extend(["--data".as_ref(), data.as_os_str()]);
        let p = Process::start_args(&args, &[]);
        let warned = p.startup.iter().any(|l| l.contains(warning));
        p.terminate();
        warned
    };
    assert!(
        start("0.0.0.0:0", &[]),
        "no warning for plain HTTP on 0.0.0.0"
    );
    assert!(!start("127.0.0.1:0", &[]), "a warning for loopback");
    let pki = TestPki::new("warn");
    let (cert, key, _) = pki.leaf(dir.path());
    assert!(
        !start(
            "0.0.0.0:0",
            &[
                "--tls-cert",
                cert.to_str().expect("utf-8"),
                "--tls-key",
                key.to_str().expect("utf-8")
            ]
        ),
        "a warning with TLS"
    );
}

/// The admin console's cookies are `Secure` when the server itself speaks TLS: a browser
/// then never sends them over plain HTTP, where anyone on the path could read them.
#[tokio::test]
async fn the_consoles_cookies_are_secure_over_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new("console");
    let (_p, addr, _) = tls_server(&dir, &pki);
    let mut c = TlsConn::connect(&addr, &pki.root_pem)
        .await
        .expect("handshake");
    let req = hyper::Request::builder()
        .method("GET")
        .uri("/admin/sign-in")
        .header("host", "localhost")
        .body(String::new())
        .expect("request");
    c.send.ready().await.expect("connection ready");
    let resp = c.send.send_request(req).await.expect("answer");
    assert_eq!(resp.status().as_u16(), 200);
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    assert!(!cookies.is_empty(), "the sign-in page sets its cookie");
    for cookie in &cookies {
        assert!(
            cookie
                .split(';')
                .any(|a| a.trim().eq_ignore_ascii_case("secure")),
            "not Secure over TLS: {cookie}"
        );
    }
}
