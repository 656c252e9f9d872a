//! End to end, as a vendor and an application would do it: keys made by `licet keys
//! generate`, a server started with them, a product and a license created through the admin
//! API, an activation, the machine token verified offline against the server's
//! `GET /signature.pem`, a check-in, a deactivation, and a suspended license refused.

use std::process::Command;

use licet_verifier::{Expectations, Keyring, Kind};
use serde_json::{Value, json};

const ADMIN: &str = "e2e-admin-token-0123456789";

async fn send(r: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = r.send().await.expect("request");
    let st = resp.status().as_u16();
    (st, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_keys_server_activation_offline_check() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = tmp.path().join("keys");
    let out = Command::new(env!("CARGO_BIN_EXE_licet"))
        .args(["keys", "generate", "--encrypt", "--dir"])
        .arg(&keys)
        .env("LICET_KEY_PASSPHRASE", "correct horse battery")
        .output()
        .expect("licet runs");
    assert!(
        out.status.success(),
        "keys generate: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The server, with the CLI's encrypted key (passphrase from a file).
    let pass = tmp.path().join("pass");
    std::fs::write(&pass, "correct horse battery\n").expect("write");
    // Parsed as the command line does, so that settings added later keep their defaults.
    let mut cfg = <licet_server::Config as clap::Parser>::parse_from([
        std::ffi::OsStr::new("licet-server"),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data".as_ref(),
        tmp.path().join("data").as_os_str(),
    ]);
    cfg.signing_key = Some(keys.join("signing-key.pem"));
    cfg.passphrase_file = Some(pass);
    cfg.max_batch = 64;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = licet_server::start(
        &cfg,
        licet_server::Options {
            admin_token: Some(ADMIN.into()),
            ..Default::default()
        },
        async move {
            let _ = stopped.await;
        },
    )
    .await
    .expect("server starts with the CLI's key");
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();

    // GET /signature.pem is the CLI's signature.pem.
    let served = http
        .get(format!("{base}/signature.pem"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert_eq!(
        served,
        std::fs::read_to_string(keys.join("signature.pem")).expect("read")
    );
    let ring = Keyring::from_pem(&served).expect("keyring");

    let (st, _) = send(
        http.post(format!("{base}/v1/admin/products"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "acme-studio-pro", "support_message": "support@acme.example"})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, lic) = send(
        http.post(format!("{base}/v1/admin/licenses"))
            .bearer_auth(ADMIN)
            .json(&json!({"product": "acme-studio-pro", "features": ["export-pdf"], "max_machines": 2, "type": "subscription"})),
    )
    .await;
    assert_eq!(st, 201, "{lic}");
    let key = lic["license_key"].as_str().expect("key");
    let id = lic["id"].as_str().expect("id");

    // The license key checks with the CLI too.
    let v = Command::new(env!("CARGO_BIN_EXE_licet"))
        .args([
            "verify",
            "--kind",
            "license",
            "--product",
            "acme-studio-pro",
            "--pubkey",
        ])
        .arg(keys.join("signature.pem"))
        .arg(key)
        .output()
        .expect("licet verify");
    assert!(
        v.status.success(),
        "licet verify: {}",
        String::from_utf8_lossy(&v.stderr)
    );

    let fingerprint = licet_app::fingerprint_of("acme-studio-pro", "e2e-machine");
    let fp_hex = licet_verifier::hex(&fingerprint);
    let (st, act) = send(
        http.post(format!("{base}/v1/activate"))
            .json(&json!({"license_key": key, "fingerprint": fp_hex, "name": "e2e"})),
    )
    .await;
    assert_eq!(st, 201, "{act}");
    let now = Expectations::now_from_system_clock();
    let machine = ring
        .verify(
            act["machine_token"].as_str().expect("token"),
            &Expectations::new(Kind::Machine, "acme-studio-pro", now).fingerprint(fingerprint),
        )
        .expect("the machine token verifies offline against GET /signature.pem");
    assert!(machine.claims.has_feature("export-pdf"));

    let (st, ci) = send(
        http.post(format!("{base}/v1/check-in"))
            .json(&json!({"machine_token": act["machine_token"]})),
    )
    .await;
    assert_eq!(st, 200, "{ci}");
    ring.verify(
        ci["machine_token"].as_str().expect("token"),
        &Expectations::new(Kind::Machine, "acme-studio-pro", now).fingerprint(fingerprint),
    )
    .expect("the checked-in token verifies");

    let (st, _) = send(
        http.post(format!("{base}/v1/deactivate"))
            .json(&json!({"license_key": key, "fingerprint": fp_hex})),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = send(
        http.post(format!("{base}/v1/activate"))
            .json(&json!({"license_key": key, "fingerprint": fp_hex})),
    )
    .await;
    assert_eq!(st, 201);

    let (st, _) = send(
        http.post(format!("{base}/v1/admin/licenses/{id}/suspend"))
            .bearer_auth(ADMIN),
    )
    .await;
    assert_eq!(st, 200);
    let (st, e) = send(
        http.post(format!("{base}/v1/check-in"))
            .json(&json!({"license_key": key, "fingerprint": fp_hex})),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(e["error"]["code"], "KEY_SUSPENDED");
    assert_eq!(e["error"]["support_message"], "support@acme.example");

    let _ = stop.send(());
    server.wait().await.expect("clean stop");
}
