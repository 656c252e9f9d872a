//! Shared test helpers: a real server on 127.0.0.1 with an ephemeral port and a fresh
//! temporary data directory, in-process or as the real binary, on either backend: redb in
//! the data directory, or a fresh database of a real PostgreSQL ([`postgres`]).

#![allow(dead_code)]

pub mod postgres;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

pub const ADMIN: &str = "test-admin-token-0123456789";

/// A fingerprint hash from a number.
pub fn fp(n: u64) -> String {
    format!("{n:064x}")
}

/// The backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// redb in the data directory.
    Redb,
    /// A fresh database of the test PostgreSQL.
    Postgres,
}

impl Db {
    /// A new database for one test: `None` for redb (the data directory holds it), else a
    /// fresh PostgreSQL database's URL.
    pub fn url(self) -> Option<String> {
        match self {
            Db::Redb => None,
            Db::Postgres => Some(postgres::database()),
        }
    }
}

/// `--database URL` for the real binary, when there is a URL.
pub fn database_args(url: &Option<String>) -> Vec<&str> {
    match url {
        Some(u) => vec!["--database", u.as_str()],
        None => Vec::new(),
    }
}

/// Runs each named test body, `async fn NAME(db: Db)`, once per backend, as the tests
/// `on_redb::NAME` and `on_postgres::NAME` (object_store's way: one suite, every backend).
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod on_redb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Db::Redb).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Db::Postgres).await;
                }
            )*
        }
    };
}

/// An in-process server.
pub struct TestServer {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub clock: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<licet_server::Server>,
    /// The settings it was started with (to start it again on the same database).
    cfg: licet_server::Config,
}

pub fn config(data: &Path, max_batch: usize) -> licet_server::Config {
    use clap::Parser;
    // Every default as the command line has it, so a new setting needs no change here.
    let mut c = licet_server::Config::try_parse_from([
        std::ffi::OsStr::new("licet-server"),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
    ])
    .expect("the default settings parse");
    c.max_batch = max_batch;
    // Off unless a test is about them (limits.rs): floods and concurrency tests would
    // otherwise measure the limits instead of what they test.
    c.ip_rate = 0;
    c.key_rate = 0;
    c
}

impl TestServer {
    /// The keyring an application would build from this server's `signature.pem`.
    pub async fn keyring(&self) -> licet_verifier::Keyring {
        licet_verifier::Keyring::from_pem(&self.signature_pem().await)
            .expect("signature.pem is a keyring")
    }

    /// The `signature.pem` this server serves now.
    pub async fn signature_pem(&self) -> String {
        self.http
            .get(format!("{}/signature.pem", self.base))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text")
    }

    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(f: impl FnOnce(&mut licet_server::Config)) -> TestServer {
        Self::start_on_with(Db::Redb, f).await
    }

    /// On the backend `db` (a fresh database).
    pub async fn start_on(db: Db) -> TestServer {
        Self::start_on_with(db, |_| {}).await
    }

    pub async fn start_on_with(db: Db, f: impl FnOnce(&mut licet_server::Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = config(dir.path(), 512);
        cfg.database = db
            .url()
            .map(|u| licet_server::config::DatabaseUrl::parse(&u).expect("a database URL"));
        f(&mut cfg);
        let clock = Arc::new(AtomicU64::new(1_800_000_000));
        Self::launch(cfg, dir, clock).await
    }

    /// Stops the server gracefully and starts it again with the same settings, the same
    /// database (redb file or PostgreSQL) and the same clock: what it wrote on the way
    /// out (the audit of refusals, the tokens' last uses) is then readable over HTTP.
    pub async fn restart(mut self) -> TestServer {
        let cfg = self.cfg.clone();
        let clock = Arc::clone(&self.clock);
        let dir = self.stop_keeping_dir().await;
        Self::launch(cfg, dir, clock).await
    }

    async fn launch(
        cfg: licet_server::Config,
        dir: tempfile::TempDir,
        clock: Arc<AtomicU64>,
    ) -> TestServer {
        let c = Arc::clone(&clock);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = licet_server::start(
            &cfg,
            licet_server::Options {
                clock: Arc::new(move || c.load(Ordering::SeqCst)),
                admin_token: Some(ADMIN.into()),
                tls: false,
            },
            async move {
                let _ = rx.await;
            },
        )
        .await
        .expect("server starts");
        TestServer {
            base: format!("http://{}", server.addr),
            dir,
            http: reqwest::Client::new(),
            clock,
            stop: Some(tx),
            server: Some(server),
            cfg,
        }
    }

    /// `http://ADDR` of the metrics listener, when --metrics-listen was set.
    pub fn metrics_base(&self) -> Option<String> {
        self.server
            .as_ref()
            .and_then(|s| s.metrics_addr)
            .map(|a| format!("http://{a}"))
    }

    /// The running server's redb storage (redb tests only).
    pub fn store(&self) -> licet_server::store::Store {
        self.server
            .as_ref()
            .expect("running")
            .store()
            .redb()
            .expect("a redb server")
            .clone()
    }

    /// The running server's storage, whichever the backend.
    pub fn storage(&self) -> licet_server::storage::Storage {
        self.server.as_ref().expect("running").store().clone()
    }

    pub fn now(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    pub fn advance(&self, secs: u64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    /// Stops the server gracefully and waits for the database to close.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.stop_keeping_dir().await
    }

    async fn stop_keeping_dir(&mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            s.wait().await.expect("clean stop");
        }
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        send(self.http.post(format!("{}{path}", self.base)).json(&body)).await
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.admin_as(ADMIN, method, path, body).await
    }

    /// An admin request with `token` (`Authorization: Bearer <token>`).
    pub async fn admin_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}/v1/admin{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        send(r).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.http.get(format!("{}{path}", self.base))).await
    }

    /// Activates the machines `fp(0)` to `fp(n - 1)` on `key`, each a new one (201).
    pub async fn activate_machines(&self, key: &str, n: u64) {
        for i in 0..n {
            let (st, body) = self
                .post(
                    "/v1/activate",
                    json!({"license_key": key, "fingerprint": fp(i)}),
                )
                .await;
            assert_eq!(st, 201, "activating machine {i}: {body}");
        }
    }

    /// Creates a product and a license, returning the license's JSON.
    pub async fn license(&self, product: &str, extra: Value) -> Value {
        let (st, _) = self
            .admin(
                reqwest::Method::POST,
                "/products",
                Some(json!({"name": product, "support_message": "Contact support@example.com"})),
            )
            .await;
        assert!(st == 201 || st == 409, "product create: {st}");
        let mut body = json!({"product": product});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let (st, l) = self
            .admin(reqwest::Method::POST, "/licenses", Some(body))
            .await;
        assert_eq!(st, 201, "license create: {l}");
        l
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts that an answer is the error `code` with `status`, and that its message says
/// `says` (what is wrong, or what to do).
pub fn assert_error(answer: &(u16, Value), status: u16, code: &str, says: &str) {
    let (st, body) = answer;
    assert_eq!(
        (*st, body["error"]["code"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(says)),
        "the message should say '{says}': {body}"
    );
}

pub async fn send(r: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = r.send().await.expect("request reaches the server");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v)
}

/// The real `licet-server` binary, started on 127.0.0.1 with an ephemeral port.
pub struct Process {
    pub child: Child,
    pub base: String,
    /// What it printed on standard output before its address line (the start-up log).
    pub startup: Vec<String>,
}

impl Process {
    pub fn start(data: &Path, extra_env: &[(&str, &str)]) -> Process {
        Self::start_with(data, extra_env, &[], None)
    }

    /// With `--database URL` when `url` is given (see [`Db::url`]), else on redb in `data`.
    pub fn start_on(data: &Path, url: &Option<String>) -> Process {
        Self::start_with(data, &[], &database_args(url), None)
    }

    /// As [`Process::start`], with more flags, and with the open-file soft limit first set
    /// to `nofile` (1,024 is the usual default of a login shell) when it is given.
    pub fn start_with(
        data: &Path,
        extra_env: &[(&str, &str)],
        args: &[&str],
        nofile: Option<u64>,
    ) -> Process {
        let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        all.extend(["--listen", "127.0.0.1:0", "--data"].map(std::ffi::OsStr::new));
        all.push(data.as_os_str());
        Self::spawn(&all, extra_env, nofile)
    }

    /// Starts it with these arguments (no `--listen` or `--data` added).
    pub fn start_args(args: &[&std::ffi::OsStr], extra_env: &[(&str, &str)]) -> Process {
        Self::spawn(args, extra_env, None)
    }

    fn spawn(
        args: &[&std::ffi::OsStr],
        extra_env: &[(&str, &str)],
        nofile: Option<u64>,
    ) -> Process {
        let bin = env!("CARGO_BIN_EXE_licet-server");
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -Sn {n} && exec \"$0\" \"$@\""))
                    .arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(args)
            .env("LICET_ADMIN_TOKEN", ADMIN)
            // As in config(): off unless a test sets them (its extra_env comes later).
            .env("LICET_IP_RATE", "0")
            .env("LICET_KEY_RATE", "0")
            .env("RUST_LOG", "warn")
            // The log's colours follow the terminal, not the runner's preference.
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            // Piped, not inherited: a server that outlived a failed test must not hold
            // the test runner's output open.
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("licet-server starts");
        if let Some(err) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    eprintln!("[licet-server] {line}");
                }
            });
        }
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut startup = Vec::new();
        let base = loop {
            let line = lines
                .next()
                .expect("licet-server printed its address before exiting")
                .expect("stdout line");
            if let Some(rest) = line.strip_prefix("licet-server listening on ") {
                break rest.trim().to_owned();
            }
            startup.push(line);
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Process {
            child,
            base,
            startup,
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(self) {
        // Drop sends SIGKILL and reaps the process.
        drop(self);
    }

    /// SIGTERM, then wait (at most 20 s) for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.terminate_inner()
    }

    fn terminate_inner(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "licet-server did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    // A test that fails half-way must not leave a server running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn data_dir(t: &tempfile::TempDir) -> PathBuf {
    t.path().join("data")
}

/// What a run of the real binary that should end by itself did.
pub struct Exit {
    /// Its exit code; `None` when it was still running after 20 s (a server that started
    /// where it should have refused) and was killed.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `licet-server ARGS` (admin token set, logs at warn) and waits for it to exit, at
/// most 20 s: a server that serves instead of refusing is killed, not waited on for ever.
pub fn run_to_exit(args: &[&std::ffi::OsStr]) -> Exit {
    run_to_exit_within(args, Duration::from_secs(20))
}

/// As [`run_to_exit`], waiting at most `limit`.
pub fn run_to_exit_within(args: &[&std::ffi::OsStr], limit: Duration) -> Exit {
    let mut child = Command::new(env!("CARGO_BIN_EXE_licet-server"))
        .args(args)
        .env("LICET_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("licet-server runs");
    let deadline = std::time::Instant::now() + limit;
    let code = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st.code();
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |r: Option<&mut dyn std::io::Read>| {
        let mut s = String::new();
        if let Some(r) = r {
            let _ = r.read_to_string(&mut s);
        }
        s
    };
    let stdout = read(child.stdout.as_mut().map(|r| r as &mut dyn std::io::Read));
    let stderr = read(child.stderr.as_mut().map(|r| r as &mut dyn std::io::Read));
    Exit {
        code,
        stdout,
        stderr,
    }
}

/// A browser-like client of the admin console: keeps its cookies, follows no redirect
/// (tests look at each 303), and reads the CSRF token of the last page it got.
pub struct ConsoleClient {
    pub base: String,
    http: reqwest::Client,
    pub cookies: std::collections::BTreeMap<String, String>,
    /// The `Set-Cookie` headers of the last answer, as sent.
    pub set_cookies: Vec<String>,
    /// The CSRF token of the last page that had a form.
    pub csrf: Option<String>,
    /// Headers sent with every request (`X-Forwarded-For`, as a proxy adds it).
    pub headers: Vec<(&'static str, String)>,
}

/// An answer of the console.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// Where a 303 points.
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }
}

impl ConsoleClient {
    pub fn new(base: &str) -> ConsoleClient {
        ConsoleClient {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: Default::default(),
            set_cookies: Vec::new(),
            csrf: None,
            headers: Vec::new(),
        }
    }

    async fn send(&mut self, r: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut r = if cookie.is_empty() {
            r
        } else {
            r.header(reqwest::header::COOKIE, cookie.join("; "))
        };
        for (k, v) in &self.headers {
            r = r.header(*k, v);
        }
        let resp = r.send().await.expect("request reaches the server");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        self.set_cookies = headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for c in &self.set_cookies {
            let pair = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let body = resp.text().await.expect("body");
        if let Some(i) = body.find("name=\"csrf\" value=\"") {
            let rest = &body[i + 19..];
            self.csrf = rest.split('"').next().map(str::to_owned);
        }
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self.http.get(format!("{}{path}", self.base));
        self.send(r).await
    }

    /// Posts a form with the last page's CSRF token added.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts exactly these fields (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(fields).expect("form");
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        self.send(r).await
    }

    /// Opens the sign-in page and signs in with `token`.
    pub async fn sign_in(&mut self, token: &str) -> Page {
        let p = self.get("/admin/sign-in").await;
        assert_eq!(p.status, 200, "sign-in page: {}", p.body);
        self.post("/admin/sign-in", &[("token", token)]).await
    }
}

/// Creates product `p` and a license of it allowing `max` machines; its key and id.
pub async fn setup(base: &str, http: &reqwest::Client, max: u64) -> (String, String) {
    let (st, _) = send(
        http.post(format!("{base}/v1/admin/products"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "p"})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, l) = send(
        http.post(format!("{base}/v1/admin/licenses"))
            .bearer_auth(ADMIN)
            .json(&json!({"product": "p", "max_machines": max})),
    )
    .await;
    assert_eq!(st, 201);
    (
        l["license_key"].as_str().expect("key").into(),
        l["id"].as_str().expect("id").into(),
    )
}

/// The fingerprints of a license's machines, as the admin API lists them.
pub async fn machines(base: &str, http: &reqwest::Client, id: &str) -> Vec<String> {
    let (st, ms) = send(
        http.get(format!("{base}/v1/admin/licenses/{id}/machines"))
            .bearer_auth(ADMIN),
    )
    .await;
    assert_eq!(st, 200, "{ms}");
    ms["machines"]
        .as_array()
        .expect("machines")
        .iter()
        .map(|m| m["fingerprint"].as_str().expect("fp").to_owned())
        .collect()
}

/// What [`stream_answers`] saw.
#[derive(Debug, Default, Clone)]
pub struct Answers {
    /// Every fingerprint answered 201.
    pub acked: Vec<String>,
    /// How many answers of each other status, and of each error code, and `no answer`.
    pub others: std::collections::BTreeMap<String, u64>,
}

/// Sends activations from `workers` tasks until `stop`, worker `w` to `bases[w % len]`,
/// recording every fingerprint that was answered 201. Bounded: at most `max_requests` in
/// all.
pub async fn stream(
    bases: Vec<String>,
    key: String,
    workers: u64,
    max_requests: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<String> {
    stream_answers(bases, key, workers, max_requests, stop, Duration::ZERO)
        .await
        .acked
}

/// As [`stream`], pausing `pause` after each request, and counting every other answer.
pub async fn stream_answers(
    bases: Vec<String>,
    key: String,
    workers: u64,
    max_requests: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
    pause: Duration,
) -> Answers {
    let answers = Arc::new(tokio::sync::Mutex::new(Answers::default()));
    let mut tasks = Vec::new();
    let n_bases = u64::try_from(bases.len()).expect("bases").max(1);
    for w in 0..workers {
        let base = bases[usize::try_from(w % n_bases).expect("index")].clone();
        let (key, stop, answers) = (key.clone(), Arc::clone(&stop), Arc::clone(&answers));
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client");
            let mut n = w;
            while !stop.load(Ordering::SeqCst) && n < max_requests {
                let f = fp(1000 + n);
                let r = http
                    .post(format!("{base}/v1/activate"))
                    .json(&json!({"license_key": key, "fingerprint": f}))
                    .send()
                    .await;
                let other = match r {
                    Ok(r) if r.status().as_u16() == 201 => {
                        answers.lock().await.acked.push(f);
                        None
                    }
                    Ok(r) => {
                        let st = r.status().as_u16();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        Some(format!(
                            "{st} {}",
                            body["error"]["code"].as_str().unwrap_or("")
                        ))
                    }
                    Err(_) => Some("no answer".to_owned()),
                };
                if let Some(o) = other {
                    *answers.lock().await.others.entry(o).or_default() += 1;
                }
                n += workers;
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    answers.lock().await.clone()
}

/// Sends `n` concurrent `POST {bases[i % len]}{path}` requests, the body of request `i`
/// made by `body(i)`, and counts 201s and 409s refused with `refusal` (any other answer
/// fails the test).
pub async fn concurrent(
    http: &reqwest::Client,
    bases: &[String],
    path: &str,
    n: u64,
    body: impl Fn(u64) -> Value,
    refusal: &str,
) -> (u64, u64) {
    let mut tasks = Vec::new();
    let len = u64::try_from(bases.len()).expect("bases").max(1);
    for i in 0..n {
        let base = &bases[usize::try_from(i % len).expect("index")];
        let req = http.post(format!("{base}{path}")).json(&body(i));
        tasks.push(tokio::spawn(send(req)));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        let (st, body) = t.await.expect("task");
        match st {
            201 => ok += 1,
            409 if body["error"]["code"] == refusal => refused += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    (ok, refused)
}

/// A test PKI made with rcgen: a root CA, an intermediate CA it signed, and leaf
/// certificates for 127.0.0.1 and localhost signed by the intermediate, so that the chain a
/// server sends (leaf, then intermediate) is what a client needs to reach the root.
pub struct TestPki {
    /// The root CA's certificate, PEM: what a client trusts.
    pub root_pem: String,
    intermediate: rcgen::Certificate,
    intermediate_key: rcgen::KeyPair,
    intermediate_params: rcgen::CertificateParams,
}

impl TestPki {
    pub fn new(name: &str) -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca = |cn: &str| {
            let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, cn);
            p
        };
        let root_params = ca(&format!("{name} root CA"));
        let root_key = KeyPair::generate().expect("key");
        let root = root_params.self_signed(&root_key).expect("root");
        let intermediate_params = ca(&format!("{name} intermediate CA"));
        let intermediate_key = KeyPair::generate().expect("key");
        let intermediate = intermediate_params
            .signed_by(
                &intermediate_key,
                &Issuer::from_params(&root_params, &root_key),
            )
            .expect("intermediate");
        TestPki {
            root_pem: root.pem(),
            intermediate,
            intermediate_key,
            intermediate_params,
        }
    }

    /// Writes a new leaf certificate chain (leaf, intermediate) and its key to
    /// `dir/cert.pem` and `dir/key.pem` (replacing them), and returns the paths and the
    /// leaf's DER.
    pub fn leaf(&self, dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
        use rcgen::{CertificateParams, Issuer, KeyPair};
        let params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("params");
        let key = KeyPair::generate().expect("key");
        let leaf = params
            .signed_by(
                &key,
                &Issuer::from_params(&self.intermediate_params, &self.intermediate_key),
            )
            .expect("leaf");
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(
            &cert_path,
            format!("{}{}", leaf.pem(), self.intermediate.pem()),
        )
        .expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        (cert_path, key_path, leaf.der().to_vec())
    }
}

/// An HTTP/1.1 connection over TLS to `addr` (SNI `localhost`), trusting only `root_pem`.
pub struct TlsConn {
    pub send: hyper::client::conn::http1::SendRequest<String>,
    /// The leaf certificate the server presented, DER.
    pub peer_leaf: Vec<u8>,
}

impl TlsConn {
    /// # Errors
    /// The connection's or the handshake's error, as text.
    pub async fn connect(addr: &str, root_pem: &str) -> Result<TlsConn, String> {
        use rustls_pki_types::pem::PemObject;
        use tokio_rustls::rustls;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
            roots.add(c.expect("root pem")).expect("root added");
        }
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let peer_leaf = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Ok(TlsConn { send, peer_leaf })
    }

    /// Sends a request (JSON body when given, admin token always) and returns the status
    /// and the body as JSON (or as a string when it is not JSON).
    pub async fn request(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        use http_body_util::BodyExt;
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("authorization", format!("Bearer {ADMIN}"))
            .header("content-type", "application/json")
            .body(body.map(|b| b.to_string()).unwrap_or_default())
            .expect("request");
        self.send.ready().await.expect("connection ready");
        let resp = self.send.send_request(req).await.expect("answer");
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}
