//! The deny list on the client routes: the middleware that refuses a matching request
//! `DENIED` (403) before any other work (before the rate limits, the handler and any
//! storage access), the entries it matches held in memory, and the refusals counted for
//! `/metrics` and audited in aggregate.
//!
//! **Freshness**: a change through this server's admin API applies from the next request;
//! the entries are also read again from storage every [`REFRESH`], so that a change made
//! through another server sharing a PostgreSQL database applies here within that time.
//!
//! **Audit**: as the rate limits' refusals, one `request.denied` event per entry and
//! window, with a count, so that a denied flood adds at most one event a minute per entry.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::counter::Counter;
use serde_json::json;

use crate::core::CoreError;
use crate::core::deny::{Matcher, Subject};
use crate::error::ApiError;
use crate::limit::RateLimits;
use crate::model::{AuditEvent, DenyKind};
use crate::state::Clock;
use crate::storage::{Backend, Storage};

/// How often the entries are read again from storage.
pub const REFRESH: Duration = Duration::from_secs(10);

/// Requests refused, by what matched, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// By a source address range.
    pub ip: Counter,
    /// By a fingerprint.
    pub fingerprint: Counter,
    /// By a license.
    pub license: Counter,
}

/// One entry's refusals in the current window.
struct Refusals {
    kind: DenyKind,
    value: String,
    count: u64,
}

/// The deny list as the client routes see it.
pub struct DenyList {
    matcher: RwLock<Arc<Matcher>>,
    /// Each product's support message, for the `DENIED` answer.
    support: RwLock<HashMap<String, String>>,
    refused: Mutex<HashMap<String, Refusals>>,
    /// The counters `/metrics` shows.
    pub counters: Counters,
    limits: Arc<RateLimits>,
    clock: Clock,
    body_limit: usize,
}

impl std::fmt::Debug for DenyList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenyList").finish_non_exhaustive()
    }
}

impl DenyList {
    /// An empty list; [`DenyList::reload`] fills it. The client's address is the one the
    /// rate limits count (`--trusted-proxy`).
    pub fn new(limits: Arc<RateLimits>, clock: Clock, body_limit: usize) -> DenyList {
        DenyList {
            matcher: RwLock::new(Arc::new(Matcher::default())),
            support: RwLock::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            limits,
            clock,
            body_limit,
        }
    }

    /// Reads the entries and the products' support messages from storage.
    ///
    /// # Errors
    /// Storage errors; the list in force is kept.
    pub async fn reload(&self, store: &Storage) -> Result<(), CoreError> {
        let (entries, products) = store
            .read(|tx| Ok((tx.deny_entries()?, tx.products()?)))
            .await?;
        let matcher = Arc::new(Matcher::new(entries));
        *self.matcher.write().unwrap_or_else(PoisonError::into_inner) = matcher;
        *self.support.write().unwrap_or_else(PoisonError::into_inner) = products
            .into_iter()
            .filter_map(|p| p.support_message.map(|m| (p.name, m)))
            .collect();
        Ok(())
    }

    /// Writes one `request.denied` event per entry that refused requests since the last
    /// call, with the count.
    pub fn flush_audit<B: Backend>(&self, store: &B, now: u64, window: Duration) {
        let refused =
            std::mem::take(&mut *self.refused.lock().unwrap_or_else(PoisonError::into_inner));
        for (entry, r) in refused {
            store.audit_later(AuditEvent::client(
                now,
                "request.denied",
                (r.kind == DenyKind::License).then_some(r.value.as_str()),
                json!({"entry": entry, "kind": r.kind.as_str(), "value": r.value, "count": r.count, "window_seconds": window.as_secs()}),
            ));
        }
    }

    fn note(&self, entry: &crate::model::DenyEntry) {
        match entry.kind {
            DenyKind::Ip => self.counters.ip.inc(),
            DenyKind::Fingerprint => self.counters.fingerprint.inc(),
            DenyKind::License => self.counters.license.inc(),
        };
        let mut m = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        m.entry(entry.id.clone())
            .or_insert_with(|| Refusals {
                kind: entry.kind,
                value: entry.value.clone(),
                count: 0,
            })
            .count += 1;
    }
}

/// The fields of a client request body that name a license or a machine.
#[derive(serde::Deserialize, Default)]
struct Named {
    license_key: Option<String>,
    /// The license key in an offline activation request (`licet offline request`).
    license: Option<String>,
    fingerprint: Option<String>,
    machine_token: Option<String>,
    lease_token: Option<String>,
    /// The product of a trial request (`POST /v1/trials`), for its support message.
    product: Option<String>,
}

/// The license, fingerprint and product a body names. Tokens are decoded without checking
/// their signature: a forged token can only get its sender refused, never let through a
/// denied one (the real token of a denied license carries its real id), and the signature
/// check is the handler's work, which a denied request must not cost.
fn named(body: &[u8]) -> (Subject, Option<String>) {
    let n: Named = serde_json::from_slice(body).unwrap_or_default();
    let mut s = Subject::default();
    s.fingerprints.extend(
        n.fingerprint
            .as_deref()
            .and_then(|f| licet_verifier::unhex::<32>(f.trim())),
    );
    let mut product = None;
    for token in [n.license_key, n.license, n.machine_token, n.lease_token]
        .into_iter()
        .flatten()
    {
        let Ok(u) = licet_verifier::decode_unverified(token.trim()) else {
            continue;
        };
        use licet_verifier::KindClaims;
        match u.claims.kind {
            KindClaims::License { .. } => s.licenses.push(u.claims.id),
            KindClaims::Machine {
                license_id,
                fingerprint,
                ..
            } => {
                s.licenses.push(license_id);
                s.fingerprints.push(fingerprint);
            }
            KindClaims::Lease { license_id, .. } => s.licenses.push(license_id),
        }
        product = product.or(Some(u.claims.product));
    }
    (s, product.or(n.product))
}

/// The middleware on the client routes.
pub async fn enforce(State(deny): State<Arc<DenyList>>, req: Request, next: Next) -> Response {
    let matcher = Arc::clone(&deny.matcher.read().unwrap_or_else(PoisonError::into_inner));
    if matcher.is_empty() {
        return next.run(req).await;
    }
    let ip: Option<IpAddr> = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| deny.limits.client_ip(c.0.ip(), req.headers()));
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, deny.body_limit).await else {
        return ApiError::PayloadTooLarge.into_response();
    };
    let (mut subject, product) = named(&bytes);
    subject.ip = ip;
    let now = (deny.clock)();
    if let Some(entry) = matcher.check(&subject, now) {
        deny.note(entry);
        let support = product.and_then(|p| {
            deny.support
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&p)
                .cloned()
        });
        return ApiError::Denied.with_support(support).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
