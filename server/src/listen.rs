//! The accept loop: how many connections are served at once, and how long a connection may
//! hold its socket without making progress.
//!
//! `axum::serve` has neither a connection cap nor any timeout before a request reaches the
//! router. With the usual 1,024 open files, 1,100 idle sockets once made the server stop
//! answering anyone, and a client trickling its headers (slowloris) was never dropped.
//! Here, hyper's HTTP/1 connection does the protocol work and enforces the header-read
//! timeout; `tokio-io-timeout` closes a socket on which nothing moves for the idle timeout;
//! a semaphore caps the connections served at once, below the open-file limit, which start
//! raises to its hard limit; `hyper-util`'s `GracefulShutdown` lets in-flight requests
//! finish on shutdown.
//!
//! TLS is done here too, by tokio-rustls on the accepted socket, inside the connection's own
//! task: the cap, the timeouts and the graceful shutdown stay as they are, and a slow
//! handshake holds up no one else (it is bounded by the header-read timeout). axum-server
//! would bring TLS too, but with an accept loop of its own, without this cap or these
//! timeouts.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::tls::Tls;

/// What bounds the connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// How long a connection may go without a byte arriving while the server waits for one
    /// (a new or kept-alive connection with no request, a body that stopped arriving), or
    /// without a byte leaving while an answer is being written (a client that stopped
    /// reading).
    pub idle_timeout: Duration,
    /// How long a client has to send a whole request head, from when the server starts
    /// waiting for it (the connection's start, or the previous answer): a client that
    /// trickles its headers to stay under the idle timeout is dropped by this one.
    pub header_read_timeout: Duration,
}

/// Files kept free for everything but client sockets: the database, the listener, logs,
/// the backup's temporary file.
const RESERVED_FILES: u64 = 64;

/// Raises the open-file soft limit to the hard limit, and returns how many connections can
/// be served at once without running out of files: `wanted`, or fewer (with a warning)
/// when even the hard limit is too low.
pub fn connection_cap(wanted: usize) -> usize {
    let files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-file limit");
            return wanted;
        }
    };
    let fit = usize::try_from(files.saturating_sub(RESERVED_FILES))
        .unwrap_or(usize::MAX)
        .max(1);
    if fit < wanted {
        tracing::warn!(
            open_files = files,
            max_connections = fit,
            "the open-file limit allows fewer connections than --max-connections; raise `ulimit -n` (hard) to serve more"
        );
    }
    wanted.min(fit)
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits for the connections
/// to finish their requests. With `tls`, every connection is TLS (a plain-HTTP request on
/// the port fails its handshake and is closed).
///
/// Each request carries the peer's address as [`ConnectInfo<SocketAddr>`] (the rate limits
/// key on it).
///
/// # Errors
/// None so far: accept errors (a full file table, a reset before accept) are logged and
/// the loop goes on, as `axum::serve` does.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // Without this, hyper keeps a read pending while a handler runs (to notice a client
        // that hangs up), and the idle timeout would cut a slow request from its answer.
        // With it, the socket is read only when the server wants bytes, which is exactly
        // when a silent client should be timed out; a client that went away is noticed
        // when the answer is written.
        .half_close(true);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // A slot first, then accept: over the cap, clients wait in the kernel's backlog
        // instead of each costing a file here.
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are small; waiting for more of them to batch costs latency for nothing.
        let _ = stream.set_nodelay(true);
        let mut io = tokio_io_timeout::TimeoutStream::new(stream);
        io.set_read_timeout(Some(limits.idle_timeout));
        io.set_write_timeout(Some(limits.idle_timeout));
        let io = Box::pin(io);
        let http = http.clone();
        let router = router.clone();
        // Taken before the handshake: a shutdown during it still waits for this connection,
        // which then answers nothing more than the request in flight.
        let watcher = graceful.watcher();
        let acceptor = tls.as_ref().map(Tls::acceptor);
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            match acceptor {
                None => connection(&http, io, router, peer, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(io)).await {
                        Ok(Ok(tls)) => connection(&http, tls, router, peer, watcher).await,
                        // Plain HTTP on the TLS port, a scanner, a client that distrusts
                        // the certificate: nothing the server can act on.
                        Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves one connection, plain or TLS, until it closes.
async fn connection<I>(
    http: &hyper::server::conn::http1::Builder,
    io: I,
    router: Router,
    peer: SocketAddr,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(router.map_request(
        move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        },
    ));
    let conn = watcher.watch(http.serve_connection(TokioIo::new(io), service));
    if let Err(e) = conn.await {
        // Timeouts and resets are the client's business; nothing to act on here.
        tracing::debug!(error = %e, "connection closed");
    }
}
