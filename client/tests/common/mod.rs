//! A real licet-server on 127.0.0.1 (ephemeral port, fresh data directory), started in
//! this process on its own tokio runtime, and admin calls to set up products and licenses.

#![allow(dead_code)]

use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};

use licet_verifier::Keyring;

pub const ADMIN: &str = "client-test-admin-token-0123456789";

pub struct Server {
    pub base: String,
    pub signature_pem: String,
    pub dir: tempfile::TempDir,
    http: ureq::Agent,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<licet_server::Server>,
    rt: tokio::runtime::Runtime,
}

impl Server {
    /// Starts a server on the system clock (the client checks tokens against it too).
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        // Parsed like the real command line, so that settings added later keep their
        // defaults here.
        let config = licet_server::Config::parse_from([
            "licet-server".as_ref(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
            // These tests are not about the rate limits (server/tests/limits.rs is).
            "--ip-rate".as_ref(),
            "0".as_ref(),
            "--key-rate".as_ref(),
            "0".as_ref(),
        ]);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = rt
            .block_on(licet_server::start(
                &config,
                licet_server::Options {
                    clock: licet_server::system_clock(),
                    admin_token: Some(ADMIN.into()),
                    tls: false,
                },
                async move {
                    let _ = rx.await;
                },
            ))
            .expect("server starts");
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        let base = format!("http://{}", server.addr);
        let signature_pem = http
            .get(format!("{base}/signature.pem"))
            .call()
            .expect("GET /signature.pem")
            .body_mut()
            .read_to_string()
            .expect("signature.pem");
        Server {
            base,
            signature_pem,
            dir,
            http,
            stop: Some(tx),
            server: Some(server),
            rt,
        }
    }

    /// The vendor's keyring, as the application would build it in.
    pub fn keyring(&self) -> Keyring {
        Keyring::from_pem(&self.signature_pem).expect("keyring")
    }

    /// An admin PATCH; the status and the JSON answer.
    pub fn admin_patch(&self, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}/v1/admin{path}", self.base);
        self.admin_send(self.http.patch(url), body)
    }

    /// An admin POST; the status and the JSON answer.
    pub fn admin(&self, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}/v1/admin{path}", self.base);
        self.admin_send(self.http.post(url), body)
    }

    fn admin_send(
        &self,
        request: ureq::RequestBuilder<ureq::typestate::WithBody>,
        body: Value,
    ) -> (u16, Value) {
        let mut resp = request
            .header("authorization", format!("Bearer {ADMIN}"))
            .header("content-type", "application/json")
            .send(body.to_string())
            .expect("admin request");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Creates `product` (if new) and a license of it with `extra` settings: (id, key).
    pub fn license(&self, product: &str, extra: Value) -> (String, String) {
        let (st, body) = self.admin(
            "/products",
            json!({"name": product, "support_message": "Write to support@example.com"}),
        );
        assert!(st == 201 || st == 409, "product: {st} {body}");
        let mut req = json!({ "product": product });
        for (k, v) in extra.as_object().expect("object") {
            req[k] = v.clone();
        }
        let (st, l) = self.admin("/licenses", req);
        assert_eq!(st, 201, "license: {l}");
        (
            l["id"].as_str().expect("id").to_owned(),
            l["license_key"].as_str().expect("license_key").to_owned(),
        )
    }
}

impl Drop for Server {
    // Stops the server and waits (bounded) for its database to close, also when a test
    // failed half-way.
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = self.rt.block_on(async move {
                tokio::time::timeout(Duration::from_secs(10), s.wait()).await
            });
        }
    }
}
