//! `/metrics` in the Prometheus text format: requests by route and status, their latency,
//! the writer's batch sizes and commit latency, live seats and machines, and what the rate
//! limits and the deny list did.
//!
//! `prometheus-client` (the Prometheus project's own Rust client) rather than `metrics` +
//! `metrics-exporter-prometheus`: its registry is a value each server owns, not a
//! process-wide recorder installed once, so servers started side by side in one process
//! (the tests, an embedder) each count only their own requests; and its metrics are typed
//! values that the writer and the limiter hold directly, with no macro lookup by name.
//!
//! Served on its own address (`--metrics-listen`), not on the API's: a Prometheus scraper
//! then needs no admin token (today the one all-powerful credential), and the operator
//! keeps the endpoint off the internet-facing port with a firewall rule on one port.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::ApiError;
use crate::limit::RateLimits;
use crate::state::Clock;
use crate::storage::Storage;

/// A request's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's pattern (`/v1/admin/licenses/{id}`), never the path itself, so that the
    /// number of series stays bounded whatever clients ask for.
    route: String,
    method: String,
    status: u16,
}

/// A route's labels, for latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

/// What `/metrics` shows.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, prometheus_client::metrics::counter::Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    machines: Gauge,
    seats: Gauge,
    store: Storage,
    clock: Clock,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Latency buckets from 0.5 ms to about 16 s, doubling.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// The metrics of a server over `store`, with the limiter's counters, and the commit
    /// observer installed on the store.
    pub fn new(
        store: &Storage,
        limits: &RateLimits,
        deny: &crate::denylist::Counters,
        clock: Clock,
    ) -> Metrics {
        let mut registry = Registry::with_prefix("licet");
        let requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            seconds_histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route pattern and method",
            latency.clone(),
        );
        let batch = Histogram::new(exponential_buckets(1.0, 2.0, 17));
        registry.register(
            "writer_batch_size",
            "Write requests committed together in one transaction (group commit)",
            batch.clone(),
        );
        let commit = seconds_histogram();
        registry.register(
            "writer_commit_duration_seconds",
            "Time to run and commit one batch of writes, fsync included",
            commit.clone(),
        );
        store.observe_commits(Arc::new(move |requests: usize, took: Duration| {
            batch.observe(requests as f64);
            commit.observe(took.as_secs_f64());
        }));
        let machines = Gauge::default();
        registry.register(
            "machines",
            "Machines activated, on every license",
            machines.clone(),
        );
        let seats = Gauge::default();
        registry.register(
            "seats_held",
            "Floating seats held now (leases neither released nor expired)",
            seats.clone(),
        );
        let c = &limits.counters;
        registry.register(
            "rate_limit_allowed",
            "Client API requests the rate limits let through",
            c.allowed.clone(),
        );
        registry.register(
            "rate_limit_refused_ip",
            "Client API requests refused by the per-address limit (--ip-rate)",
            c.refused_ip.clone(),
        );
        registry.register(
            "rate_limit_refused_key",
            "Client API requests refused by the per-key limit (--key-rate)",
            c.refused_key.clone(),
        );
        registry.register(
            "denied_ip",
            "Client API requests refused DENIED by an address range of the deny list",
            deny.ip.clone(),
        );
        registry.register(
            "denied_fingerprint",
            "Client API requests refused DENIED by a fingerprint of the deny list",
            deny.fingerprint.clone(),
        );
        registry.register(
            "denied_license",
            "Client API requests refused DENIED by a license of the deny list",
            deny.license.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            machines,
            seats,
            store: store.clone(),
            clock,
        }
    }

    /// The text exposition, with the gauges read from the database now.
    ///
    /// # Errors
    /// The storage's error when the gauges cannot be read.
    pub async fn render(&self) -> Result<String, ApiError> {
        let (machines, seats) = self.store.live_counts((self.clock)()).await?;
        self.machines
            .set(i64::try_from(machines).unwrap_or(i64::MAX));
        self.seats.set(i64::try_from(seats).unwrap_or(i64::MAX));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).map_err(
            |e| {
                tracing::error!(error = %e, "encoding the metrics");
                ApiError::Internal
            },
        )?;
        Ok(out)
    }
}

/// The middleware that counts every request of the API router and times it.
pub async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    m.latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
            method: method.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}

/// The router of the metrics address: `GET /metrics`.
pub fn router(m: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { ApiError::NotFound("only GET /metrics is served here".into()) })
        .with_state(m)
}

async fn scrape(State(m): State<Arc<Metrics>>) -> Response {
    match m.render().await {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            )],
            text,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}
