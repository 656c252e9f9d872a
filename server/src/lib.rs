//! The licet licensing server: products, licenses, machines and leases in an embedded redb
//! database; signed machine and lease tokens over a JSON HTTP API (`docs/api.md`).
//!
//! [`app`] builds the router from an [`AppState`], so tests drive the real thing; [`run`]
//! starts a server from a [`Config`] and stops it cleanly when its shutdown future resolves.

pub mod config;
pub mod core;
pub mod error;
pub mod extract;
pub mod listen;
pub mod model;
pub mod routes;
pub mod state;
pub mod storage;

/// The redb backend, by the name the embedding API, the tools and the tests use.
pub use storage::redb as store;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

pub use config::Config;
pub use error::ApiError;
pub use state::{AppState, Clock, Signer, system_clock};
use storage::ReadTx;
use store::{Store, WriterConfig};

/// Builds the router.
pub fn app(state: AppState, body_limit: usize, timeout: Duration) -> Router {
    use routes::{admin, client, leases};
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
        .route("/audit", get(admin::audit))
        .route("/backup", get(admin::backup));
    let admin_routes = leases::admin_routes(admin_routes)
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    let client_routes = Router::new()
        .route("/validate", post(client::validate))
        .route("/activate", post(client::activate))
        .route("/check-in", post(client::check_in))
        .route("/deactivate", post(client::deactivate))
        .route("/offline/activate", post(client::offline_activate))
        .route("/revocations", get(client::revocations));
    let client_routes = leases::client_routes(client_routes);
    Router::new()
        .route("/signature.pem", get(client::signature_pem))
        .route("/healthz", get(healthz))
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
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// `GET /healthz`: 200 while the server can write, 503 while writes fail (the writer
/// reopens the database by itself; see docs/api.md §3.2).
async fn healthz(State(s): State<AppState>) -> Response {
    use axum::Json;
    use axum::http::StatusCode;
    use serde_json::json;
    let health = s.store.probe().await;
    let reads = if health.open { "ok" } else { "unavailable" };
    match health.fault {
        None => Json(json!({"status": "ok", "writes": "ok", "reads": reads})).into_response(),
        Some((fault, since)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "degraded",
                "writes": "unavailable",
                "reads": reads,
                "cause": fault.as_str(),
                "since": routes::rfc3339(since),
                "message": "writes fail (disk full or an I/O error) and are answered STORAGE_UNAVAILABLE; the server reopens the database by itself and resumes once a write succeeds; the server log has the cause",
            })),
        )
            .into_response(),
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

/// Checks `Authorization: Bearer <admin token>`, comparing hashes in constant time.
async fn require_admin(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .map(|t| Sha256::digest(t.as_bytes()));
    match presented {
        Some(h) if bool::from(h.as_slice().ct_eq(&s.admin_token_sha256)) => next.run(req).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is matched without
/// regard to case (RFC 9110 §11.1: `bearer` and `BEARER` are the same scheme) and may be
/// followed by more than one space.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A started server.
pub struct Server {
    /// The address it listens on (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// The admin token, when this start generated it (to be shown once).
    pub generated_admin_token: Option<String>,
    store: Store,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    writer: std::thread::JoinHandle<()>,
}

impl Server {
    /// The server's storage (to embed the server, or to inject faults in tests).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Waits until the server has stopped: in-flight requests answered, queued writes
    /// committed, the database closed.
    ///
    /// # Errors
    /// The listener's I/O error.
    pub async fn wait(self) -> std::io::Result<()> {
        let r = self.task.await.unwrap_or(Ok(()));
        // The writer stops once every handle on the store is gone.
        drop(self.store);
        let writer = self.writer;
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .ok();
        r
    }
}

/// What `start` needs besides the config (tests inject a clock and an admin token).
pub struct Options {
    /// The clock.
    pub clock: Clock,
    /// The admin token; when `None`, `LICET_ADMIN_TOKEN`, else the stored one, else a new one.
    pub admin_token: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: system_clock(),
            admin_token: None,
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
    create_data_dir(&config.data)?;
    let db = database_path(&config.data);
    let writer_config = WriterConfig {
        max_batch: config.max_batch,
    };
    let key_beside = licet_keys::dir::KeyDir::new(&config.data).signing_key_path();
    let (store, writer) = if config.signing_key.is_none() && key_beside.exists() {
        Store::open_existing(&db, writer_config).map_err(|e| match e {
            store::OpenError::Uninitialised(what) => format!(
                "{what}, but the data directory holds a signing key ({}): it was used before, and a new, empty database would answer KEY_INVALID to every license already issued. Restore licet.redb from your backup (stop the server, copy the backup to {}, start it; docs/api.md §6.6), or, to start with an empty database on purpose, run `licet-server init --data {}` first",
                key_beside.display(),
                db.display(),
                config.data.display()
            ),
            store::OpenError::Failed(m) => m,
        })?
    } else {
        Store::open(&db, writer_config)?
    };
    let has_licenses = store::Snapshot::of(&store)
        .and_then(|s| s.license_count())
        .map_err(|e| e.to_string())?
        > 0;
    let signer = load_signer(config, has_licenses)?;
    let (admin_token_sha256, generated_admin_token) =
        admin_token(&store, options.admin_token).await?;
    let state = AppState {
        store: store.clone(),
        signer: Arc::new(signer),
        admin_token_sha256,
        clock: options.clock,
    };
    let router = app(
        state,
        config.body_limit,
        Duration::from_secs(config.request_timeout),
    );
    let limits = connection_limits(config);
    let task = tokio::spawn(listen::serve(listener, router, limits, shutdown));
    Ok(Server {
        addr,
        generated_admin_token,
        store,
        task,
        writer,
    })
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
}

/// `licet-server init`: creates the data directory's database on purpose, where [`start`]
/// would refuse (a signing key is there but no database), and the signing key when there is
/// none. An initialised database is left as it is.
///
/// # Errors
/// A message that names what is wrong and what to do.
pub fn init(config: &Config) -> Result<Initialised, String> {
    create_data_dir(&config.data)?;
    let db = database_path(&config.data);
    let writer_config = WriterConfig { max_batch: 1 };
    let (store, writer) = match Store::open_existing(&db, writer_config) {
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
    let keys = licet_keys::dir::KeyDir::new(&config.data);
    let new_key = config.signing_key.is_none() && !keys.signing_key_path().exists();
    if new_key {
        load_signer(config, false)?;
    }
    Ok(Initialised::Created { new_key })
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

fn load_signer(config: &Config, has_licenses: bool) -> Result<Signer, String> {
    let (key, signature_pem) = match &config.signing_key {
        Some(path) => {
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
            (key, pem)
        }
        None => {
            let keys = licet_keys::dir::KeyDir::new(&config.data);
            if !keys.signing_key_path().exists() {
                // A restored database without its signing key: a new key would make every
                // token already issued fail to check. Refuse, and say what to do.
                if has_licenses {
                    return Err(format!(
                        "{} is missing but the database already holds licenses signed by it; restore signing-key.pem from your backup, or pass --signing-key",
                        keys.signing_key_path().display()
                    ));
                }
                let key = licet::SigningKey::generate_ed25519().map_err(|e| e.to_string())?;
                keys.create(&key, None, false).map_err(|e| e.to_string())?;
                tracing::info!(kid = %licet_verifier::hex(key.kid()), path = %keys.signing_key_path().display(), "generated a new Ed25519 signing key");
            }
            let key = keys.signing_key(None).map_err(|e| e.to_string())?;
            let pem = keys.signature_pem().unwrap_or_else(|_| key.public_pem());
            (key, pem)
        }
    };
    let keyring = licet_verifier::Keyring::from_pem(&signature_pem)
        .map_err(|e| format!("signature.pem: {e}"))?;
    if keyring.get(key.kid()).is_none() {
        return Err("signature.pem beside the signing key does not hold its public key; run `licet keys public` and add it".into());
    }
    Ok(Signer {
        key,
        signature_pem,
        keyring,
    })
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

/// The admin token's hash: from `LICET_ADMIN_TOKEN` (stored hashed), else the stored hash,
/// else a new random token whose hash is stored and which is returned to be shown once.
async fn admin_token(
    store: &Store,
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
    let stored = {
        let snap = store::Snapshot::of(store).map_err(|e| e.to_string())?;
        snap.meta("admin_token_sha256")
            .map_err(|e| e.to_string())?
            .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
    };
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
