//! The licet licensing server: products, licenses, machines and leases in an embedded redb
//! database; signed machine and lease tokens over a JSON HTTP API (`docs/api.md`).
//!
//! [`app`] builds the router from an [`AppState`], so tests drive the real thing; [`run`]
//! starts a server from a [`Config`] and stops it cleanly when its shutdown future resolves.

pub mod auth;
pub mod config;
pub mod config_file;
pub mod console;
pub mod core;
pub mod denylist;
pub mod error;
pub mod extract;
pub mod keystore;
pub mod limit;
pub mod listen;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod routes;
pub mod state;
pub mod storage;
pub mod tls;

/// The redb backend, by the name the embedding API, the tools and the tests use.
pub use storage::redb as store;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

pub use config::Config;
pub use error::ApiError;
pub use state::{AppState, Clock, Signer, system_clock};
use storage::{Backend, Storage};
use store::{Store, WriterConfig};

/// Builds the router; with `console`, the admin console at `/admin` too.
///
/// `limits` guard the client routes (`/v1/validate`, `/v1/activate`, …, `/v1/leases/…`);
/// the admin API, `/healthz` and `/signature.pem` are not rate-limited.
pub fn app(
    state: AppState,
    body_limit: usize,
    timeout: Duration,
    console: Option<Arc<console::Console>>,
    limits: Arc<limit::RateLimits>,
    metrics: Arc<metrics::Metrics>,
) -> Router {
    use routes::{admin, client, deny, leases, tokens};
    let admin_routes = Router::new()
        .route(
            "/products",
            post(admin::create_product).get(admin::list_products),
        )
        .route(
            "/products/{name}",
            get(admin::get_product)
                .patch(admin::update_product)
                .delete(admin::delete_product),
        )
        .route(
            "/licenses",
            post(admin::create_license).get(admin::list_licenses),
        )
        .route(
            "/licenses/bulk",
            post(admin::bulk_create).layer(DefaultBodyLimit::max(body_limit.saturating_mul(64))),
        )
        .route(
            "/licenses/{id}",
            get(admin::get_license)
                .patch(admin::update_license)
                .delete(admin::delete_license),
        )
        .route("/licenses/{id}/suspend", post(admin::suspend))
        .route("/licenses/{id}/reinstate", post(admin::reinstate))
        .route("/licenses/{id}/revoke", post(admin::revoke))
        .route(
            "/licenses/{id}/machines",
            get(admin::list_machines).delete(admin::reset_machines),
        )
        .route(
            "/licenses/{id}/machines/{machine}",
            axum::routing::delete(admin::deactivate_machine),
        )
        .route(
            "/policies",
            post(admin::create_policy).get(admin::list_policies),
        )
        .route(
            "/policies/{product}/{name}",
            get(admin::get_policy)
                .patch(admin::update_policy)
                .delete(admin::delete_policy),
        )
        .route("/audit", get(admin::audit))
        .route("/backup", get(admin::backup))
        .route("/tokens", post(tokens::create).get(tokens::list))
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/deny", post(deny::add).get(deny::list))
        .route("/deny/{id}", axum::routing::delete(deny::remove));
    let admin_routes = routes::keys::admin_routes(leases::admin_routes(admin_routes)).route_layer(
        middleware::from_fn_with_state(state.clone(), auth::require_scope),
    );
    let client_routes = Router::new()
        .route("/validate", post(client::validate))
        .route("/activate", post(client::activate))
        .route("/check-in", post(client::check_in))
        .route("/deactivate", post(client::deactivate))
        .route("/offline/activate", post(client::offline_activate))
        .route("/offline/deactivate", post(client::offline_deactivate))
        .route("/revocations", get(client::revocations))
        .route("/trials", post(client::start_trial));
    let mut router = Router::new();
    if let Some(console) = console {
        router = router.nest(
            "/admin",
            console::router(&state, console, Arc::clone(&limits)),
        );
    }
    // The deny list first (the last layer added runs first): a denied request costs no
    // rate-limit bucket and no storage read.
    let client_routes = leases::client_routes(client_routes)
        .route_layer(middleware::from_fn_with_state(limits, limit::enforce))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state.deny),
            denylist::enforce,
        ));
    router
        .route("/signature.pem", get(client::signature_pem))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi::serve))
        .nest("/v1", client_routes)
        .nest("/v1/admin", admin_routes)
        .fallback(|| async { ApiError::NotFound("no such route; see docs/api.md".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::NotFound("this route does not take that method; see docs/api.md".into())
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            guard(req, next, timeout)
        }))
        .layer(middleware::from_fn_with_state(metrics, metrics::track))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// `GET /healthz`: liveness. 200 whenever the process answers, so that an orchestrator
/// restarts the process only when it is stuck, never because its database is down (a
/// restart would not bring the database back; `/readyz` takes the server out of the load
/// balancer instead). The body still says what issue 11 made it say: whether writes work
/// (`status` `ok` or `degraded`, with the cause and since when) and, in `database`, which
/// backend and whether it answers (docs/api.md §3.2).
async fn healthz(State(s): State<AppState>) -> Response {
    use axum::Json;
    use serde_json::json;
    let health = s.store.probe().await;
    let reads = if health.reads { "ok" } else { "unavailable" };
    let backend = match &s.store {
        storage::Storage::Redb(_) => "redb",
        storage::Storage::Postgres(_) => "postgres",
    };
    match health.fault {
        None => Json(json!({"status": "ok", "writes": "ok", "reads": reads, "database": {"backend": backend, "answers": true}}))
            .into_response(),
        Some((cause, since)) => Json(json!({
            "status": "degraded",
            "writes": "unavailable",
            "reads": reads,
            "cause": cause,
            "since": routes::rfc3339(since),
            "message": health.message,
            "database": {"backend": backend, "answers": health.reads},
        }))
        .into_response(),
    }
}

/// How long `GET /readyz` waits for the database to answer a read.
pub const READY_DEADLINE: Duration = Duration::from_secs(2);

/// `GET /readyz`: 200 when the database answers a read within [`READY_DEADLINE`], else
/// 503 `NOT_READY` (a load balancer then sends this server no traffic until it recovers).
/// `/healthz` says whether the process is up and writes succeed.
async fn readyz(State(s): State<AppState>) -> Response {
    use axum::Json;
    use serde_json::json;
    // Any read that completes shows the database answers; the key read is the one every
    // backend holds (a redb file keeps its schema version in `meta`, PostgreSQL in a table
    // of its own), so only whether the read succeeds is looked at.
    let read = s.store.read(|tx| tx.meta("admin_token_sha256").map(|_| ()));
    match tokio::time::timeout(READY_DEADLINE, read).await {
        Ok(Ok(())) => Json(json!({"status": "ready"})).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readyz: the database did not answer a read");
            ApiError::NotReady.into_response()
        }
        Err(_) => {
            tracing::warn!(
                deadline_ms = READY_DEADLINE.as_millis() as u64,
                "readyz: a read took longer than the deadline"
            );
            ApiError::NotReady.into_response()
        }
    }
}

/// Times requests out and turns a panic into a JSON 500, never an empty reply.
async fn guard(req: Request, next: Next, timeout: Duration) -> Response {
    use futures_like::FutureExt;
    match tokio::time::timeout(
        timeout,
        std::panic::AssertUnwindSafe(next.run(req)).catch_unwind(),
    )
    .await
    {
        Ok(Ok(resp)) => resp,
        Ok(Err(_)) => {
            tracing::error!("a handler panicked");
            ApiError::Internal.into_response()
        }
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// A tiny `catch_unwind` for futures, so that no extra crate is needed for it.
mod futures_like {
    use std::future::Future;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub trait FutureExt: Future + Sized {
        fn catch_unwind(self) -> CatchUnwind<Self> {
            CatchUnwind(Box::pin(self))
        }
    }
    impl<F: Future> FutureExt for AssertUnwindSafe<F> {}

    pub struct CatchUnwind<F>(Pin<Box<F>>);

    impl<F: Future> Future for CatchUnwind<F> {
        type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let inner = self.0.as_mut();
            match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
                Err(e) => Poll::Ready(Err(e)),
            }
        }
    }
}

/// A started server.
pub struct Server {
    /// The address it listens on (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// `https` with --tls-cert, else `http`.
    pub scheme: &'static str,
    /// Where `GET /metrics` is served (--metrics-listen), when it is.
    pub metrics_addr: Option<SocketAddr>,
    /// The admin token, when this start generated it (to be shown once).
    pub generated_admin_token: Option<String>,
    store: Storage,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    metrics_task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    audit_stop: tokio::sync::oneshot::Sender<()>,
    audit_task: tokio::task::JoinHandle<()>,
    /// The redb writer thread; PostgreSQL has none.
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// The server's storage (to embed the server, or to inject faults in tests).
    pub fn store(&self) -> &Storage {
        &self.store
    }

    /// Waits until the server has stopped: in-flight requests answered, queued writes
    /// committed, the database closed.
    ///
    /// # Errors
    /// The listener's I/O error.
    pub async fn wait(self) -> std::io::Result<()> {
        let r = self.task.await.unwrap_or(Ok(()));
        if let Some(m) = self.metrics_task {
            let _ = m.await;
        }
        // The last window's rate-limit refusals are audited before the writer stops.
        let _ = self.audit_stop.send(());
        let _ = self.audit_task.await;
        // The writer stops once every handle on the store is gone.
        drop(self.store);
        if let Some(writer) = self.writer {
            tokio::task::spawn_blocking(move || writer.join())
                .await
                .ok();
        }
        r
    }
}

/// What `start` needs besides the config (tests inject a clock and an admin token).
pub struct Options {
    /// The clock.
    pub clock: Clock,
    /// The admin token; when `None`, `LICET_ADMIN_TOKEN`, else the stored one, else a new one.
    pub admin_token: Option<String>,
    /// Whether clients reach the listener over TLS: the admin console's cookies are then
    /// marked `Secure`. False for the plain-HTTP listener.
    pub tls: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: system_clock(),
            admin_token: None,
            tls: false,
        }
    }
}

/// Binds the listener, opens the data directory, loads or creates the signing key and admin
/// token, and starts serving until `shutdown` resolves.
///
/// A data directory that holds a signing key but no database (missing, empty, or never
/// initialised) is refused: it was used before, and a new empty database would answer
/// `KEY_INVALID` to every license already issued. [`init`] creates one on purpose.
///
/// # Errors
/// A message that names what is wrong and what to do.
pub async fn start(
    config: &Config,
    options: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Server, String> {
    // First, so that a taken port leaves the data directory untouched.
    let listener = bind(&config.listen).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::Tls::load(cert, key)?),
        _ => None,
    };
    if tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "serving plain HTTP on a non-loopback address: license keys and tokens cross the network unencrypted; give --tls-cert and --tls-key, or put a TLS reverse proxy in front");
    }
    create_data_dir(&config.data)?;
    let (store, writer) = match &config.database {
        Some(url) => (open_postgres(url, config).await?, None),
        None => {
            let (s, w) = open_redb(config)?;
            (Storage::Redb(s), Some(w))
        }
    };
    let has_licenses = store
        .read(|tx| tx.license_count())
        .await
        .map_err(|e| e.to_string())?
        > 0;
    let (signer, _) = load_signer(config, has_licenses)?;
    let (admin_token_sha256, generated_admin_token) =
        admin_token(&store, options.admin_token.or(token_file(config)?)).await?;
    let console = if config.no_admin_console {
        None
    } else {
        let secret = console_secret(&signer)?;
        Some(Arc::new(console::Console::new(
            &secret,
            &admin_token_sha256,
            // Secure cookies when this process speaks TLS itself (--tls-cert), or its
            // embedder says clients reach it over TLS.
            options.tls || config.tls_cert.is_some(),
        )))
    };
    let limits = Arc::new(limit::RateLimits::new(&limit::Settings {
        ip: limit::Rate {
            per_minute: config.ip_rate,
            burst: config.ip_burst,
        },
        key: limit::Rate {
            per_minute: config.key_rate,
            burst: config.key_burst,
        },
        trusted_proxies: config.trusted_proxy.clone(),
        body_limit: config.body_limit,
    }));
    let deny = Arc::new(denylist::DenyList::new(
        Arc::clone(&limits),
        options.clock.clone(),
        config.body_limit,
    ));
    deny.reload(&store)
        .await
        .map_err(|e| format!("reading the deny list: {e}"))?;
    let last_use = Arc::new(core::tokens::LastUse::default());
    let (audit_stop, stop_rx) = tokio::sync::oneshot::channel();
    let audit_task = tokio::spawn(housekeeping(
        Housekeeping {
            limits: Arc::clone(&limits),
            deny: Arc::clone(&deny),
            last_use: Arc::clone(&last_use),
            store: store.clone(),
            clock: options.clock.clone(),
            retention: core::retention::Retention {
                audit: config.audit_retention.seconds(),
                leases: config.lease_retention.seconds(),
            },
            prune_interval: Duration::from_secs(config.prune_interval),
        },
        stop_rx,
    ));
    let metrics = Arc::new(metrics::Metrics::new(
        &store,
        &limits,
        &deny.counters,
        options.clock.clone(),
    ));
    // Bound before anything is served, so that a taken metrics port fails the start.
    let metrics_listener = match &config.metrics_listen {
        Some(listen) => Some(bind(listen).await?),
        None => None,
    };
    let metrics_addr = metrics_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()
        .map_err(|e| e.to_string())?;
    let state = AppState {
        store: store.clone(),
        signer: Arc::new(signer),
        admin_token_sha256,
        last_use,
        deny,
        clock: options.clock,
    };
    let router = app(
        state,
        config.body_limit,
        Duration::from_secs(config.request_timeout),
        console,
        limits,
        Arc::clone(&metrics),
    );
    let limits = connection_limits(config);
    reload_on_sighup(tls.clone());
    let scheme = if tls.is_some() { "https" } else { "http" };
    // One shutdown for both listeners.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let metrics_task = metrics_listener.map(|l| {
        tokio::spawn(listen::serve(
            l,
            metrics::router(metrics),
            limits,
            None,
            stopped(),
        ))
    });
    let task = tokio::spawn(listen::serve(listener, router, limits, tls, stopped()));
    Ok(Server {
        addr,
        scheme,
        metrics_addr,
        metrics_task,
        generated_admin_token,
        store,
        task,
        audit_stop,
        audit_task,
        writer,
    })
}

/// Opens the data directory's redb file (see [`start`] for what is refused).
fn open_redb(config: &Config) -> Result<(Store, std::thread::JoinHandle<()>), String> {
    let db = database_path(&config.data);
    let writer_config = WriterConfig {
        max_batch: config.max_batch,
    };
    let cache_bytes = usize::try_from(config.cache_size)
        .unwrap_or(usize::MAX)
        .saturating_mul(1 << 20);
    let legacy_key = licet_keys::dir::KeyDir::new(&config.data).signing_key_path();
    let current = config.data.join(keystore::CURRENT);
    let key_beside = if current.exists() {
        current
    } else {
        legacy_key
    };
    if config.signing_key.is_none() && key_beside.exists() {
        Store::open_with(&db, writer_config, store::Open::EXISTING.cache(cache_bytes)).map_err(|e| match e {
            store::OpenError::Uninitialised(what) => format!(
                "{what}, but the data directory holds a signing key ({}): it was used before, and a new, empty database would answer KEY_INVALID to every license already issued. Restore licet.redb from your backup (stop the server, copy the backup to {}, start it; docs/api.md §6.6), or, to start with an empty database on purpose, run `licet-server init --data {}` first",
                key_beside.display(),
                db.display(),
                config.data.display()
            ),
            store::OpenError::Failed(m) => m,
        })
    } else {
        Store::open_with(&db, writer_config, store::Open::CREATE.cache(cache_bytes))
            .map_err(|e| e.to_string())
    }
}

/// Connects to PostgreSQL and migrates its schema (off the async runtime: the driver
/// blocks). Its message names the host and database, never the password.
async fn open_postgres(url: &config::DatabaseUrl, config: &Config) -> Result<Storage, String> {
    let url = url.clone();
    let pool = storage::postgres::PoolConfig {
        max_connections: config.database_pool,
        max_batch: config.max_batch,
        ..Default::default()
    };
    let pg =
        tokio::task::spawn_blocking(move || storage::postgres::Pg::connect(url.expose(), pool))
            .await
            .map_err(|_| "connecting to the database: the task panicked".to_owned())??;
    tracing::info!(database = %pg.target(), "using PostgreSQL");
    Ok(Storage::Postgres(pg))
}

/// What the server does besides answering requests.
struct Housekeeping {
    limits: Arc<limit::RateLimits>,
    deny: Arc<denylist::DenyList>,
    last_use: Arc<core::tokens::LastUse>,
    store: Storage,
    clock: Clock,
    retention: core::retention::Retention,
    prune_interval: Duration,
}

/// Once a window (and once more when the server stops): the rate limits' and the deny
/// list's refusals to the audit log, the named tokens' last uses to storage. Every
/// [`denylist::REFRESH`]: the deny list read again. Every `prune_interval` (and at start):
/// a retention pass, in batches. One task, stopped with the server, so that it holds no
/// handle on the storage once the server has stopped.
async fn housekeeping(h: Housekeeping, mut stop: tokio::sync::oneshot::Receiver<()>) {
    use tokio::time::{MissedTickBehavior, interval};
    let window = limit::AUDIT_WINDOW;
    let mut flush = interval(window);
    let mut refresh = interval(denylist::REFRESH);
    for t in [&mut flush, &mut refresh] {
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    }
    flush.tick().await;
    refresh.tick().await;
    // Pruning in a task of its own: a long first pass over a large backlog must not hold
    // up the flushes or the deny list's refresh.
    let (prune_stop, prune_stopped) = tokio::sync::oneshot::channel::<()>();
    let pruning = tokio::spawn(prune_in_background(
        h.store.clone(),
        h.retention,
        h.clock.clone(),
        h.prune_interval,
        prune_stopped,
    ));
    loop {
        tokio::select! {
            _ = flush.tick() => {
                h.limits.flush_audit(&h.store, (h.clock)(), window);
                h.deny.flush_audit(&h.store, (h.clock)(), window);
                h.last_use.flush(&h.store).await;
            }
            _ = refresh.tick() => {
                if let Err(e) = h.deny.reload(&h.store).await {
                    tracing::warn!(error = %e, "the deny list was not read again; the entries read before stay in force");
                }
            }
            _ = &mut stop => break,
        }
    }
    let _ = prune_stop.send(());
    let _ = pruning.await;
    h.limits.flush_audit(&h.store, (h.clock)(), window);
    h.deny.flush_audit(&h.store, (h.clock)(), window);
    h.last_use.flush(&h.store).await;
}

/// A retention pass at start and every `every`, until `stop`; a pass under way is left
/// between two batches (what a batch removed is committed; the next pass goes on).
async fn prune_in_background(
    store: Storage,
    retention: core::retention::Retention,
    clock: Clock,
    every: Duration,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    if retention.audit.is_none() && retention.leases.is_none() {
        return;
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => return,
        }
        // A pause between batches lets the client requests' writes go first.
        let pass = core::retention::prune(&store, retention, clock(), || {
            tokio::time::sleep(Duration::from_millis(10))
        });
        tokio::select! {
            r = pass => match r {
                Ok(p) if p.audit_events + p.leases > 0 => tracing::info!(audit_events = p.audit_events, leases = p.leases, "retention: pruned"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention: pruning stopped; it resumes at the next pass"),
            },
            _ = &mut stop => return,
        }
    }
}

/// Binds `listen` (HOST:PORT; a host name such as `localhost` is resolved, and its
/// addresses tried in turn).
async fn bind(listen: &str) -> Result<TcpListener, String> {
    TcpListener::bind(listen).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "; another program uses that port: stop it or choose another with --listen"
            }
            std::io::ErrorKind::PermissionDenied => {
                "; ports below 1024 need privileges: choose another with --listen"
            }
            _ => "",
        };
        format!("cannot listen on {listen}: {e}{hint}")
    })
}

/// The data directory holds every license key and the signing key: owner only.
fn create_data_dir(data: &Path) -> Result<(), String> {
    let mut dir = std::fs::DirBuilder::new();
    dir.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
    dir.create(data)
        .map_err(|e| format!("{}: cannot create the data directory: {e}", data.display()))
}

/// What [`init`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Initialised {
    /// A new, empty database was created (and the signing key, when the data directory had
    /// none and no `--signing-key` was given).
    Created {
        /// Whether a new signing key was generated too.
        new_key: bool,
    },
    /// The database was initialised already; nothing was changed.
    Already,
    /// A PostgreSQL database holds licet's schema now: created, brought up to date, or
    /// found current (connecting does each, in one transaction).
    Postgres {
        /// `host:port/database`: never the password.
        target: String,
        /// Whether a new signing key was generated too.
        new_key: bool,
    },
}

/// `licet-server init`: creates the data directory's database on purpose, where [`start`]
/// would refuse (a signing key is there but no database), and the signing key when there is
/// none. An initialised database is left as it is.
///
/// # Errors
/// A message that names what is wrong and what to do.
pub fn init(config: &Config) -> Result<Initialised, String> {
    create_data_dir(&config.data)?;
    if let Some(url) = &config.database {
        // The schema is created by connecting; the signing key as for redb.
        // The sync client runs a runtime of its own, which cannot start on a thread of the
        // caller's (main's) runtime: connect on a thread of its own.
        let url = url.clone();
        let target = std::thread::spawn(move || {
            storage::postgres::Pg::connect(url.expose(), storage::postgres::PoolConfig::default())
                .map(|pg| pg.target().to_owned())
        })
        .join()
        .map_err(|_| "connecting to PostgreSQL panicked".to_owned())??;
        let new_key = config.signing_key.is_none() && load_signer(config, false)?.1;
        return Ok(Initialised::Postgres { target, new_key });
    }
    let db = database_path(&config.data);
    let writer_config = WriterConfig { max_batch: 1 };
    let (store, writer) = match Store::open_with(&db, writer_config, store::Open::EXISTING) {
        Ok(opened) => {
            drop(opened.0);
            opened.1.join().map_err(|_| "the writer thread panicked")?;
            return Ok(Initialised::Already);
        }
        Err(store::OpenError::Uninitialised(_)) => Store::open(&db, writer_config)?,
        Err(store::OpenError::Failed(m)) => return Err(m),
    };
    drop(store);
    writer.join().map_err(|_| "the writer thread panicked")?;
    let new_key = config.signing_key.is_none() && load_signer(config, false)?.1;
    Ok(Initialised::Created { new_key })
}

/// What [`migrate`] found on each side.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Migrated {
    /// The redb data directory's database.
    pub from: storage::copy::Summary,
    /// The PostgreSQL database, after the copy.
    pub to: storage::copy::Summary,
}

/// `licet-server migrate`: copies a redb data directory's database into an empty
/// PostgreSQL database in one transaction, then summarises both sides (counts and a
/// digest) for the caller to compare. The signing key stays in the data directory: give
/// it to the servers on PostgreSQL with `--signing-key`.
///
/// # Errors
/// A message naming what is wrong and what to do: no database in `from`, a target that
/// cannot be reached or is not empty, a storage failure.
pub async fn migrate(from: &Path, to: &config::DatabaseUrl) -> Result<Migrated, String> {
    let db = database_path(from);
    let (source, writer) =
        Store::open_with(&db, WriterConfig { max_batch: 1 }, store::Open::EXISTING)
            .map_err(|e| format!("--from {}: {e}", from.display()))?;
    let source = Storage::Redb(source);
    let url = to.clone();
    let target = tokio::task::spawn_blocking(move || {
        storage::postgres::Pg::connect(url.expose(), storage::postgres::PoolConfig::default())
    })
    .await
    .map_err(|_| "connecting to the database: the task panicked".to_owned())??;
    let where_to = target.target().to_owned();
    let target = Storage::Postgres(target);
    let empty = target
        .scan(|tx| storage::copy::is_empty(tx))
        .await
        .map_err(|e| format!("{where_to}: {e}"))?;
    if !empty {
        return Err(format!(
            "the database {where_to} is not empty (it holds products, licenses or audit events); migrate copies into an empty database only, so that nothing there is overwritten or mixed: create a new one (createdb) and give its URL"
        ));
    }
    let dump = source
        .scan(|tx| storage::copy::dump(tx))
        .await
        .map_err(|e| format!("reading {}: {e}", db.display()))?;
    let dump = Arc::new(dump);
    target
        .write(move |tx| storage::copy::restore(&dump, tx))
        .await
        .map_err(|e| format!("writing to {where_to}: {e}; nothing was copied"))?;
    let from_summary = source
        .scan(|tx| storage::copy::summary(tx))
        .await
        .map_err(|e| e.to_string())?;
    let to_summary = target
        .scan(|tx| storage::copy::summary(tx))
        .await
        .map_err(|e| e.to_string())?;
    drop(source);
    tokio::task::spawn_blocking(move || writer.join())
        .await
        .ok();
    Ok(Migrated {
        from: from_summary,
        to: to_summary,
    })
}

/// The connection limits of `config`, the cap lowered to what the open-file limit allows.
fn connection_limits(config: &Config) -> listen::Limits {
    listen::Limits {
        max_connections: listen::connection_cap(
            usize::try_from(config.max_connections).unwrap_or(usize::MAX),
        ),
        header_read_timeout: Duration::from_secs(config.header_read_timeout),
        idle_timeout: Duration::from_secs(config.idle_timeout),
    }
}

/// The key material of the admin console's sessions: with a key directory, a secret of
/// its own there (a rotation signs no one out); with a fixed `--signing-key`, that key, as
/// before.
fn console_secret(signer: &Signer) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    match signer.files() {
        Ok(files) => files.session_secret().map_err(|e| e.to_string()),
        Err(_) => signer
            .keys()
            .key
            .to_pkcs8_pem()
            .map(|p| zeroize::Zeroizing::new(p.as_bytes().to_vec()))
            .map_err(|e| {
                format!("the signing key cannot be read for the admin console's session key: {e}")
            }),
    }
}

/// The signer: a fixed `--signing-key` (with the `signature.pem` beside it), or the data
/// directory's keys ([`keystore::KeyFiles`]), migrated from the older single-key layout or
/// generated on first start. Returns whether a key was generated.
fn load_signer(config: &Config, has_licenses: bool) -> Result<(Signer, bool), String> {
    let Some(path) = &config.signing_key else {
        let files = keystore::KeyFiles::new(&config.data);
        let passphrase = passphrase(config).transpose()?;
        let new_key = files
            .prepare(passphrase.as_ref().map(|p| p.as_bytes()), has_licenses)
            .map_err(|e| e.to_string())?;
        let signer = Signer::from_files(files, passphrase).map_err(|e| e.to_string())?;
        return Ok((signer, new_key));
    };
    let pem = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
    );
    let passphrase = if licet::SigningKey::pem_is_encrypted(&pem) {
        Some(passphrase(config).ok_or_else(|| {
            format!(
                "{} is encrypted: set LICET_KEY_PASSPHRASE or --passphrase-file",
                path.display()
            )
        })??)
    } else {
        None
    };
    let key = licet::SigningKey::from_pem(&pem, passphrase.as_ref().map(|p| p.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let beside = path.with_file_name(licet_keys::dir::SIGNATURE_PEM);
    let pem = match std::fs::read_to_string(&beside) {
        Ok(text) => text,
        Err(_) => key.public_pem(),
    };
    Ok((Signer::fixed(key, pem)?, false))
}

fn passphrase(config: &Config) -> Option<Result<zeroize::Zeroizing<String>, String>> {
    if let Some(p) = &config.passphrase_file {
        return Some(
            std::fs::read_to_string(p)
                .map(|t| zeroize::Zeroizing::new(t.lines().next().unwrap_or("").to_owned()))
                .map_err(|e| format!("{}: {e}", p.display())),
        );
    }
    std::env::var("LICET_KEY_PASSPHRASE")
        .ok()
        .filter(|p| !p.is_empty())
        .map(|p| Ok(zeroize::Zeroizing::new(p)))
}

/// The first line of --admin-token-file, if given.
fn token_file(config: &Config) -> Result<Option<String>, String> {
    let Some(path) = &config.admin_token_file else {
        return Ok(None);
    };
    #[cfg(unix)]
    if let Ok(m) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                "--admin-token-file is readable by other users than its owner; make it private: chmod 600 {}",
                path.display()
            );
        }
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("--admin-token-file {}: {e}", path.display()))?,
    );
    let token = text.lines().next().unwrap_or_default().trim().to_owned();
    if token.is_empty() {
        return Err(format!(
            "--admin-token-file {}: the first line is empty",
            path.display()
        ));
    }
    Ok(Some(token))
}

/// The admin token's hash: from `LICET_ADMIN_TOKEN` (stored hashed), else the stored hash,
/// else a new random token whose hash is stored and which is returned to be shown once.
async fn admin_token(
    store: &Storage,
    given: Option<String>,
) -> Result<([u8; 32], Option<String>), String> {
    if let Some(t) = given.or_else(|| std::env::var("LICET_ADMIN_TOKEN").ok())
        && !t.trim().is_empty()
    {
        let h: [u8; 32] = Sha256::digest(t.trim().as_bytes()).into();
        store
            .write(move |tx| tx.put_meta("admin_token_sha256", h.as_slice()))
            .await
            .map_err(|e| e.to_string())?;
        return Ok((h, None));
    }
    let stored = store
        .read(|tx| tx.meta("admin_token_sha256"))
        .await
        .map_err(|e| e.to_string())?
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok());
    if let Some(h) = stored {
        return Ok((h, None));
    }
    let token = format!(
        "licet_admin_{}{}",
        licet_verifier::hex(&licet::new_id().map_err(|e| e.to_string())?),
        licet_verifier::hex(&licet::new_id().map_err(|e| e.to_string())?)
    );
    let h: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    store
        .write(move |tx| tx.put_meta("admin_token_sha256", h.as_slice()))
        .await
        .map_err(|e| e.to_string())?;
    Ok((h, Some(token)))
}

/// Reloads the TLS certificate and key on each SIGHUP, for as long as the process runs (a
/// renewed certificate, as certbot or an ACME client leaves it, is served without a restart).
/// Without TLS the signal is taken and logged all the same: its default action ends the
/// process, and `systemctl reload` (docs/licet-server.service) must never stop a server.
fn reload_on_sighup(tls: Option<tls::Tls>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        let Some(tls) = &tls else {
                            tracing::info!("SIGHUP: no TLS certificate to reload; nothing changed");
                            continue;
                        };
                        match tls.reload() {
                            Ok(()) => tracing::info!(
                                "SIGHUP: TLS certificate reloaded; new connections get it"
                            ),
                            Err(e) => {
                                tracing::error!(error = %e, "SIGHUP: TLS certificate not reloaded; still serving the previous one")
                            }
                        }
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: the TLS certificate reloads only on restart")
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tls;
}

/// Resolves on SIGTERM or Ctrl-C.
///
/// The handlers are installed when this is called, not when the future is first polled:
/// the server announces that it listens before its serve task has run, and a SIGTERM sent
/// in between must stop it cleanly rather than kill it with the signal's default action.
/// Call it inside the Tokio runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: answering in-flight requests, then closing the database");
    }
}

/// Where the database lives in a data directory.
pub fn database_path(data: &Path) -> std::path::PathBuf {
    data.join(store::FILE_NAME)
}
