//! A real PostgreSQL for tests: one throwaway cluster per test binary, a fresh database
//! per test.
//!
//! `LICET_TEST_DATABASE_URL` (postgres://USER:PASSWORD@HOST:PORT/DB, a user that may
//! CREATE DATABASE) names a server to use instead. Otherwise the cluster is made with
//! `initdb` from /usr/lib/postgresql/*/bin (Debian's `postgresql` package), run as the
//! unprivileged `postgres` user when the tests run as root (initdb refuses root), in a
//! temporary directory, listening on a free port of 127.0.0.1 only. A watchdog process
//! stops it and removes the directory when the test binary exits, however it exits
//! (a panic, an abort, SIGKILL). Shared by the core's unit tests (`#[path]`) and the HTTP
//! suites, so that it is written once.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The test cluster's superuser password: the URLs carry it, so tests can check that the
/// server never shows it.
pub const PASSWORD: &str = "pg-test-secret-5f3a9c";

/// How to get a PostgreSQL when none can be started.
const HOW: &str = "the PostgreSQL tests need a PostgreSQL server: install Debian's postgresql package (apt-get install postgresql; its initdb is then in /usr/lib/postgresql/15/bin), or set LICET_TEST_DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DB naming a server where that user may CREATE DATABASE";

/// A cluster this process started.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// Where the server connects from: the admin URL (without a database name at the end).
struct Server {
    /// `postgres://USER:PASSWORD@HOST:PORT`
    base: String,
    /// `?…` of the given URL, kept on every derived URL.
    query: String,
    cluster: Option<Cluster>,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static NEXT: AtomicU64 = AtomicU64::new(0);

fn server() -> &'static Server {
    match SERVER.get_or_init(start) {
        Ok(s) => s,
        Err(e) => panic!("{e}\n{HOW}"),
    }
}

/// A new, empty database, as a URL with the password in it.
pub fn database() -> String {
    let s = server();
    let name = format!(
        "licet_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let admin = format!("{}/postgres{}", s.base, s.query);
    let create = format!("CREATE DATABASE {name}");
    // The sync client runs its own runtime: not on a Tokio worker thread.
    std::thread::spawn(move || -> Result<(), String> {
        let mut c = postgres::Client::connect(&admin, postgres::NoTls)
            .map_err(|e| format!("connecting to the test PostgreSQL: {e}"))?;
        c.batch_execute(&create)
            .map_err(|e| format!("creating a test database: {e}"))
    })
    .join()
    .expect("the database thread")
    .unwrap_or_else(|e| panic!("{e}\n{HOW}"));
    format!("{}/{name}{}", s.base, s.query)
}

/// Runs SQL on a test database (URL from [`database`]); rows as text.
pub fn query(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        c.simple_query(&sql)
            .expect("query")
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
                }
                _ => None,
            })
            .collect()
    })
    .join()
    .expect("the query thread")
}

/// The cluster this process started, to stop and start it (`None` under
/// `LICET_TEST_DATABASE_URL`).
pub fn cluster() -> Option<&'static Cluster> {
    server().cluster.as_ref()
}

fn start() -> Result<Server, String> {
    if let Ok(url) = std::env::var("LICET_TEST_DATABASE_URL")
        && !url.is_empty()
    {
        let (main, query) = match url.split_once('?') {
            Some((m, q)) => (m.to_owned(), format!("?{q}")),
            None => (url.clone(), String::new()),
        };
        let rest = main
            .strip_prefix("postgres://")
            .or_else(|| main.strip_prefix("postgresql://"))
            .ok_or("LICET_TEST_DATABASE_URL must start with postgres://")?;
        let authority = rest.split('/').next().unwrap_or(rest);
        return Ok(Server {
            base: format!("postgres://{authority}"),
            query,
            cluster: None,
        });
    }
    let bin = find_bin().ok_or("no initdb found in /usr/lib/postgresql/*/bin")?;
    let as_postgres = is_root();
    let dir = tempfile::Builder::new()
        .prefix("licet-pg-")
        .tempdir()
        .map_err(|e| format!("a temporary directory: {e}"))?
        .keep();
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, PASSWORD).map_err(|e| e.to_string())?;
    if as_postgres {
        let status = Command::new("chown")
            .arg("-R")
            .arg("postgres:")
            .arg(&dir)
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !status.success() {
            return Err("cannot give the temporary directory to the postgres user".into());
        }
    }
    let cluster = Cluster {
        bin,
        dir: dir.clone(),
        port: free_port()?,
        as_postgres,
    };
    cluster.run(
        "initdb",
        &[
            "-D".as_ref(),
            cluster.data().as_os_str(),
            "-U".as_ref(),
            "postgres".as_ref(),
            format!("--pwfile={}", pwfile.display()).as_ref(),
            "--auth=scram-sha-256".as_ref(),
            "--no-sync".as_ref(),
            "--encoding=UTF8".as_ref(),
            "--locale=C".as_ref(),
        ],
    )?;
    watchdog(&cluster);
    cluster.start()?;
    Ok(Server {
        base: format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}", cluster.port),
        query: String::new(),
        cluster: Some(cluster),
    })
}

impl Cluster {
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Starts the cluster and waits until it accepts connections.
    ///
    /// # Errors
    /// pg_ctl's failure, with the end of the server's log.
    pub fn start(&self) -> Result<(), String> {
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} -c fsync=off -c full_page_writes=off -c max_connections=400 -c shared_buffers=64MB",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log");
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.data().as_os_str(),
                "-o".as_ref(),
                opts.as_ref(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "start".as_ref(),
            ],
        )
        .map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            format!("{e}\n{tail}")
        })
    }

    /// Stops the cluster (fast: connections are closed, as at a restart).
    ///
    /// # Errors
    /// pg_ctl's failure.
    pub fn stop(&self) -> Result<(), String> {
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.data().as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        )
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
        let out = self
            .command(tool)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{tool}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

/// A shell that waits for this process to end, then stops the cluster and removes its
/// directory: a `Drop` of a static never runs, and a panicking or killed test binary must
/// not leave a PostgreSQL behind.
fn watchdog(c: &Cluster) {
    let pg_ctl = c.bin.join("pg_ctl");
    let stop = format!(
        "{}'{}' -D '{}' -m immediate stop",
        if c.as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        },
        pg_ctl.display(),
        c.data().display()
    );
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.3; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = c.dir.display()
    );
    let _ = Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

fn find_bin() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LICET_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("a free port: {e}"))
}

/// A transaction kept open on its own connection until this is dropped: to hold a lock
/// while requests queue behind it.
pub struct Held {
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Runs `sql` in a transaction that stays open (its locks held) until the [`Held`] drops.
pub fn hold(url: &str, sql: &str) -> Held {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        c.batch_execute(&format!("BEGIN; {sql}")).expect("hold");
        ready_tx.send(()).expect("ready");
        let _ = wait.recv();
        c.batch_execute("COMMIT").expect("commit");
    });
    ready.recv().expect("the holding transaction began");
    Held {
        release: Some(release),
        thread: Some(thread),
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
