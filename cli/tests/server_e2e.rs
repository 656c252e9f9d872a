//! End to end, as a vendor and an application would do it: keys made by `licet keys
//! generate`, a server started with them, a product and a license created through the admin
//! API, an activation, the machine token verified offline against the server's
//! `GET /signature.pem`, a check-in, a deactivation, and a suspended license refused.

mod common;

use std::process::Command;

use licet_verifier::{Expectations, Keyring, Kind};
use serde_json::{Value, json};

const ADMIN: &str = "e2e-admin-token-0123456789";

async fn send(r: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = r.send().await.expect("request");
    let st = resp.status().as_u16();
    (st, resp.json().await.unwrap_or(Value::Null))
}

/// The server on 127.0.0.1, with the CLI's encrypted key in `keys` (passphrase from a
/// file), its data in `tmp/data`.
async fn start(
    tmp: &std::path::Path,
    keys: &std::path::Path,
) -> (licet_server::Server, tokio::sync::oneshot::Sender<()>) {
    let pass = tmp.join("pass");
    std::fs::write(&pass, "correct horse battery\n").expect("write");
    // Parsed as the command line does, so that settings added later keep their defaults.
    let mut cfg = <licet_server::Config as clap::Parser>::parse_from([
        std::ffi::OsStr::new("licet-server"),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data".as_ref(),
        tmp.join("data").as_os_str(),
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
    (server, stop)
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

    let (server, stop) = start(tmp.path(), &keys).await;
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

/// A vendor's sandbox: keys made by `licet keys generate --encrypt`, a server started with
/// them, its base URL and an HTTP client.
async fn vendor() -> (
    common::Sandbox,
    licet_server::Server,
    tokio::sync::oneshot::Sender<()>,
    String,
    reqwest::Client,
) {
    let sandbox = common::Sandbox::new();
    let keys = sandbox.path("keys");
    let pass = [("LICET_KEY_PASSPHRASE", "correct horse battery")];
    sandbox
        .licet_env(&pass, "keys generate --encrypt --dir keys")
        .success();
    let (server, stop) = start(sandbox.root(), &keys).await;
    let base = format!("http://{}", server.addr);
    (sandbox, server, stop, base, reqwest::Client::new())
}

/// `licet offline request` on two air-gapped machines, `licet offline respond --server` on
/// the vendor's side, `licet offline import` back on each machine: the server counts the
/// machines against the license's limit of one, and a replayed request gets the same
/// machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_activation_through_the_server_is_counted() {
    let (mut sandbox, server, stop, base, http) = vendor().await;
    let (st, _) = send(
        http.post(format!("{base}/v1/admin/products"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "acme-studio-pro"})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, lic) = send(
        http.post(format!("{base}/v1/admin/licenses"))
            .bearer_auth(ADMIN)
            .json(&json!({"product": "acme-studio-pro", "max_machines": 1})),
    )
    .await;
    assert_eq!(st, 201, "{lic}");
    sandbox.write("license.txt", lic["license_key"].as_str().expect("key"));

    sandbox.ok("offline request --license license.txt --name lab-1 --out request-1.json");
    // The vendor's side answers through the server; the file goes back to the machine.
    let respond =
        format!("offline respond --server {base} --request request-1.json --out machine-1.lic");
    let said = sandbox.ok(&respond);
    assert!(said.contains("newly activated"), "{said}");
    sandbox.ok("offline import machine-1.lic --pubkey keys/signature.pem");
    // The same request again: the same machine, no second activation.
    let said = sandbox.ok(&format!("{respond} --force --json"));
    let again: Value = serde_json::from_str(&said).expect("json");
    assert_eq!(again["server"]["created"], false, "{again}");

    // A second machine: the limit of one is the server's, offline as online.
    sandbox.set_machine_id("another-air-gapped-machine");
    sandbox.ok("offline request --license license.txt --name lab-2 --out request-2.json");
    sandbox.fails(
        &format!("offline respond --server {base} --request request-2.json --out machine-2.lic"),
        1,
        "ACTIVATION_LIMIT_REACHED",
    );
    assert!(!sandbox.path("machine-2.lic").exists());
    // An edited request is refused by its digest, and stores nothing.
    let edited = std::fs::read_to_string(sandbox.path("request-2.json"))
        .expect("request")
        .replace("lab-2", "lab-3");
    sandbox.write("request-3.json", &edited);
    sandbox.fails(
        &format!("offline respond --server {base} --request request-3.json --out machine-3.lic"),
        1,
        "REQUEST_TAMPERED",
    );
    let (st, machines) = send(
        http.get(format!(
            "{base}/v1/admin/licenses/{}/machines",
            lic["id"].as_str().expect("id")
        ))
        .bearer_auth(ADMIN),
    )
    .await;
    assert_eq!(st, 200, "{machines}");
    assert_eq!(
        machines["machines"].as_array().map(Vec::len),
        Some(1),
        "{machines}"
    );

    // The license revoked: the air-gapped site learns it from the signed list, fetched
    // and checked by the vendor's side and carried over as a file.
    let id = lic["id"].as_str().expect("id");
    let (st, _) = send(
        http.post(format!("{base}/v1/admin/licenses/{id}/revoke"))
            .bearer_auth(ADMIN),
    )
    .await;
    assert_eq!(st, 200);
    let fetch = format!("revocations fetch --server {base} --pubkey keys/signature.pem");
    let list = sandbox.ok_json(&format!("{fetch} --out revocations.pem --json"));
    assert_eq!(list["licenses"], json!([id]), "{list}");
    let sequence = list["sequence"].as_u64().expect("sequence");
    let shown = sandbox.ok("revocations inspect revocations.pem --pubkey keys/signature.pem");
    assert!(shown.contains(id), "{shown}");
    // A site that has seen a later list refuses this one, and nothing is written.
    sandbox.fails(
        &format!("{fetch} --out stale.pem --last-sequence {}", sequence + 1),
        1,
        "REVOCATIONS_STALE",
    );
    assert!(!sandbox.path("stale.pem").exists());

    let _ = stop.send(());
    server.wait().await.expect("clean stop");
}

/// A vendor with a root key: the signature.pem beside the server's signing key holds the
/// root, the key's endorsement and the key; the server serves it as it is, and the tokens
/// it signs verify offline in an application that pins only the root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_an_endorsed_key_serves_what_a_root_pinning_application_needs() {
    let sandbox = common::Sandbox::new();
    let pass = [("LICET_KEY_PASSPHRASE", "correct horse battery")];
    sandbox
        .licet_env(&pass, "keys generate --encrypt --dir keys")
        .success();
    sandbox.ok("keys generate --root --dir root");
    sandbox.ok("keys endorse --root root/root-key.pem --key keys/signature.pem --until 2036-12-31 --out endorsement.pem");
    let served_file: String = ["root/root.pem", "endorsement.pem", "keys/signature.pem"]
        .iter()
        .map(|f| std::fs::read_to_string(sandbox.path(f)).expect("read"))
        .collect();
    sandbox.write("keys/signature.pem", &served_file);
    let (server, stop) = start(sandbox.root(), &sandbox.path("keys")).await;
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    let served = http
        .get(format!("{base}/signature.pem"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert_eq!(served, served_file);
    let (st, _) = send(
        http.post(format!("{base}/v1/admin/products"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "acme-studio-pro"})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, lic) = send(
        http.post(format!("{base}/v1/admin/licenses"))
            .bearer_auth(ADMIN)
            .json(&json!({"product": "acme-studio-pro"})),
    )
    .await;
    assert_eq!(st, 201, "{lic}");
    let root =
        Keyring::from_pem(&std::fs::read_to_string(sandbox.path("root/root.pem")).expect("root"))
            .expect("root");
    let now = Expectations::now_from_system_clock();
    let pinned = Keyring::from_root(&root.keys()[0], &served, now).expect("keyring from the root");
    pinned
        .verify(
            lic["license_key"].as_str().expect("key"),
            &Expectations::new(Kind::License, "acme-studio-pro", now),
        )
        .expect("the license verifies through the root's endorsement");
    // Another root pinned: the same file vouches for nothing.
    sandbox.ok("keys generate --root --dir stranger");
    let stranger = Keyring::from_pem(
        &std::fs::read_to_string(sandbox.path("stranger/root.pem")).expect("root"),
    )
    .expect("root");
    let e = Keyring::from_root(&stranger.keys()[0], &served, now)
        .expect("keyring")
        .verify(
            lic["license_key"].as_str().expect("key"),
            &Expectations::new(Kind::License, "acme-studio-pro", now),
        )
        .expect_err("another root");
    assert_eq!(e.code(), "ENDORSEMENT_UNTRUSTED");

    let _ = stop.send(());
    server.wait().await.expect("clean stop");
}

/// The commands of `docs/offline-activation.md`'s section on giving an activation back,
/// as the page writes them (the server's URL put in).
fn deactivation_commands(base: &str) -> Vec<String> {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/offline-activation.md"
    ))
    .expect("the page");
    let section = page
        .split("## Giving an activation back")
        .nth(1)
        .expect("the section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("its sh block");
    block
        .lines()
        .filter_map(|l| l.strip_prefix("licet "))
        .map(|l| l.replace("https://licenses.example.com", base))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_deactivation_frees_the_activation_and_gives_a_receipt() {
    let (mut sandbox, server, stop, base, http) = vendor().await;
    let admin = |path: &str, body: Value| {
        http.post(format!("{base}/v1/admin{path}"))
            .bearer_auth(ADMIN)
            .json(&body)
    };
    let (st, _) = send(admin("/products", json!({"name": "acme-studio-pro"}))).await;
    assert_eq!(st, 201);
    let (_, lic) = send(admin(
        "/licenses",
        json!({"product": "acme-studio-pro", "max_machines": 1}),
    ))
    .await;
    let (_, other) = send(admin("/licenses", json!({"product": "acme-studio-pro"}))).await;
    let id = lic["id"].as_str().expect("id").to_owned();
    sandbox.write("license.txt", lic["license_key"].as_str().expect("key"));
    sandbox.write("other.txt", other["license_key"].as_str().expect("key"));
    std::fs::copy(
        sandbox.path("keys/signature.pem"),
        sandbox.path("signature.pem"),
    )
    .expect("copy");
    let machines = || async {
        let (_, m) = send(
            http.get(format!("{base}/v1/admin/licenses/{id}/machines"))
                .bearer_auth(ADMIN),
        )
        .await;
        m["machines"].as_array().map_or(0, Vec::len)
    };

    // Activated through the server, as the section before shows.
    sandbox.ok("offline request --license license.txt --name lab-1 --out request-1.json");
    sandbox.ok(&format!(
        "offline respond --server {base} --request request-1.json --out lab-1.lic"
    ));
    sandbox.ok("offline import lab-1.lic --pubkey signature.pem");
    assert_eq!(machines().await, 1);

    // The page's commands, as written.
    let commands = deactivation_commands(&base);
    assert_eq!(commands.len(), 3, "{commands:?}");
    let said = sandbox.ok(&commands[0]);
    assert!(said.contains("Removed"), "{said}");
    sandbox.fails(
        &commands[0].replace("--out deactivation.json", "--out again.json"),
        1,
        "NOT_ACTIVATED",
    );
    let said = sandbox.ok(&commands[1]);
    assert!(said.contains("freed activation"), "{said}");
    let said = sandbox.ok(&commands[2]);
    assert!(said.starts_with("VALID receipt"), "{said}");
    assert_eq!(machines().await, 0, "the activation is free");
    let receipt = sandbox.read("receipt.pem");

    // The freed activation is taken by another machine.
    sandbox.set_machine_id("the-replacement-machine");
    sandbox.ok("offline request --license license.txt --name lab-2 --out request-2.json");
    sandbox.ok(&format!(
        "offline respond --server {base} --request request-2.json --out lab-2.lic"
    ));
    assert_eq!(machines().await, 1);

    // Refusals, each with its code, each changing nothing.
    let release =
        |req: &str| format!("offline release --server {base} --request {req} --out r.pem --force");
    sandbox.fails(&release("deactivation.json"), 1, "REQUEST_REPLAYED");
    let edited =
        sandbox
            .read("deactivation.json")
            .replacen("\"created_at\": ", "\"created_at\": 1", 1);
    sandbox.write("edited.json", &edited);
    sandbox.fails(&release("edited.json"), 1, "REQUEST_TAMPERED");
    // A machine of this license handed in under another license's key, digest made anew.
    let token = sandbox.read("lab-2.lic");
    let mixed =
        licet::offline::Deactivation::new(&sandbox.read("other.txt"), &token, 1_900_000_000)
            .expect("request");
    sandbox.write("mixed.json", &mixed.to_json());
    sandbox.fails(&release("mixed.json"), 1, "MACHINE_LICENSE_MISMATCH");
    assert_eq!(machines().await, 1, "no refusal freed the new machine");
    assert!(!sandbox.path("r.pem").exists(), "no receipt for a refusal");
    // A receipt is checked against the request it answers.
    sandbox.fails(
        "offline receipt receipt.pem --pubkey signature.pem --request edited.json",
        1,
        "REQUEST_TAMPERED",
    );
    sandbox.fails(
        "offline receipt receipt.pem --pubkey signature.pem --request mixed.json",
        1,
        "RECEIPT_MISMATCH",
    );
    // Checked with another vendor's keys, it proves nothing.
    sandbox.ok("keys generate --dir stranger");
    sandbox.fails(
        "offline receipt receipt.pem --pubkey stranger/signature.pem",
        1,
        "KEY_UNKNOWN",
    );
    assert!(
        receipt.starts_with("-----BEGIN LICET RECEIPT-----"),
        "{receipt}"
    );
    let _ = stop.send(());
    server.wait().await.expect("stops");
}
