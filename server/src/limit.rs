//! Rate limits on the client API: a token bucket per source IP address and one per license
//! key, so that no one guesses keys or hammers activation faster than the operator allows.
//!
//! `governor`'s keyed GCRA limiters (a token bucket in one timestamp per key, lock-free in a
//! sharded map) are used directly in an axum middleware rather than through
//! `tower_governor`: the per-key limit needs the license key, which is in the JSON body,
//! not in anything `tower_governor`'s key extractors see, and the answers need the IETF
//! `RateLimit-*` headers and the one JSON error shape.
//!
//! The limits are per process: behind a load balancer each server applies them on its own,
//! so N servers let through up to N times the rate.
//!
//! Refusals are audited in aggregate: one `request.rate_limited` event per source and
//! window with a count, written when the window closes, so that a flood adds a bounded
//! number of events (at most [`MAX_SOURCES`] a window), whatever its size.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use ipnet::IpNet;
use prometheus_client::metrics::counter::Counter;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::model::AuditEvent;
use crate::storage::Backend;

/// Most sources counted separately in one audit window; refusals from further sources are
/// counted together under `other`, so memory and the audit log stay bounded under a flood
/// from many addresses.
pub const MAX_SOURCES: usize = 10_000;

/// How often refusals are written to the audit log, one event per source.
pub const AUDIT_WINDOW: Duration = Duration::from_secs(60);

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// One limit: requests per minute, sustained, and the burst allowed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per minute; 0 turns the limit off.
    pub per_minute: u32,
    /// Requests allowed at once.
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Option<Quota> {
        let per_minute = NonZeroU32::new(self.per_minute)?;
        let burst = NonZeroU32::new(self.burst.max(1))?;
        Some(Quota::per_minute(per_minute).allow_burst(burst))
    }
}

/// The rate limits' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Per source address.
    pub ip: Rate,
    /// Per license key.
    pub key: Rate,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The largest request body (read here to find the license key).
    pub body_limit: usize,
}

/// Counters of what the limits did, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Requests let through.
    pub allowed: Counter,
    /// Requests refused by the per-address limit.
    pub refused_ip: Counter,
    /// Requests refused by the per-key limit.
    pub refused_key: Counter,
}

/// The limiters, shared by every request of a server.
pub struct RateLimits {
    ip: Option<Keyed<IpAddr>>,
    key: Option<Keyed<[u8; 32]>>,
    ip_burst: u32,
    key_burst: u32,
    trusted: Vec<IpNet>,
    body_limit: usize,
    refused: Mutex<HashMap<String, u64>>,
    /// What the limits did.
    pub counters: Counters,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("ip", &self.ip.is_some())
            .field("key", &self.key.is_some())
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

/// The state of a bucket after a request, for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    limit: u32,
    remaining: u32,
    /// Seconds until the bucket is full again.
    reset: u64,
}

impl RateLimits {
    /// Limiters for `settings`.
    pub fn new(settings: &Settings) -> RateLimits {
        RateLimits {
            ip: settings
                .ip
                .quota()
                .map(|q| RateLimiter::keyed(q).with_middleware()),
            key: settings
                .key
                .quota()
                .map(|q| RateLimiter::keyed(q).with_middleware()),
            ip_burst: settings.ip.burst.max(1),
            key_burst: settings.key.burst.max(1),
            trusted: settings.trusted_proxies.clone(),
            body_limit: settings.body_limit,
            refused: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        }
    }

    /// The address a request is counted under: the peer's, or, when the peer is a trusted
    /// proxy, the last address in `X-Forwarded-For` that is not a trusted proxy (each proxy
    /// appends the address it received from, so the ones right of it were added by proxies
    /// the operator named, and the ones left of it by anyone).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let mut client = peer;
        for value in headers.get_all("x-forwarded-for").iter().rev() {
            let Ok(text) = value.to_str() else {
                return client;
            };
            for hop in text.rsplit(',') {
                match hop.trim().parse::<IpAddr>() {
                    Ok(ip) => {
                        client = ip;
                        if !self.is_trusted(ip) {
                            return ip;
                        }
                    }
                    // Garbage in the header: stop at the last address known good.
                    Err(_) => return client,
                }
            }
        }
        client
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// Counts a refusal for the audit log.
    fn note_refusal(&self, source: String) {
        let mut map = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        let source = if map.len() >= MAX_SOURCES && !map.contains_key(&source) {
            "other".to_owned()
        } else {
            source
        };
        *map.entry(source).or_insert(0) += 1;
    }

    /// Writes one audit event per source refused since the last call, with its count, and
    /// forgets buckets that are full again (so that memory follows the active sources).
    pub fn flush_audit<B: Backend>(&self, store: &B, now: u64, window: Duration) {
        let refused =
            std::mem::take(&mut *self.refused.lock().unwrap_or_else(PoisonError::into_inner));
        for (source, count) in refused {
            store.audit_later(AuditEvent::client(
                now,
                "request.rate_limited",
                None,
                json!({"source": source, "count": count, "window_seconds": window.as_secs()}),
            ));
        }
        if let Some(l) = &self.ip {
            l.retain_recent();
        }
        if let Some(l) = &self.key {
            l.retain_recent();
        }
    }
}

/// IPv4-mapped IPv6 addresses (a dual-stack listener's view of IPv4 clients) as IPv4, so
/// that one client is one bucket and `10.0.0.0/8` matches it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Checks one bucket: its state after the request, or the refusal.
fn check<K: Clone + std::hash::Hash + Eq>(l: &Keyed<K>, key: &K) -> Result<Bucket, u64> {
    match l.check_key(key) {
        Ok(snap) => {
            let q = snap.quota();
            let limit = q.burst_size().get();
            let remaining = snap.remaining_burst_capacity();
            let missing = u64::from(limit.saturating_sub(remaining).saturating_sub(1));
            let reset = ceil_secs(
                q.replenish_interval()
                    .saturating_mul(u32::try_from(missing.saturating_add(1)).unwrap_or(u32::MAX)),
            );
            Ok(Bucket {
                limit,
                remaining,
                reset,
            })
        }
        Err(not_until) => {
            Err(ceil_secs(not_until.wait_time_from(DefaultClock::default().now())).max(1))
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The one field of a client request body the per-key limit needs; the rest is the
/// handler's to check.
#[derive(serde::Deserialize)]
struct Named {
    license_key: Option<String>,
}

/// The middleware on the client routes: the address's bucket, then the key's, then the
/// handler; the `RateLimit-*` headers of the tighter bucket on every answer.
pub async fn enforce(State(limits): State<Arc<RateLimits>>, req: Request, next: Next) -> Response {
    let mut tightest: Option<Bucket> = None;
    let mut keep = |b: Bucket| {
        if tightest.is_none_or(|t| b.remaining < t.remaining) {
            tightest = Some(b);
        }
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let (Some(l), Some(peer)) = (&limits.ip, peer) {
        let ip = canonical(limits.client_ip(peer, req.headers()));
        match check(l, &ip) {
            Ok(b) => keep(b),
            Err(retry) => {
                limits.counters.refused_ip.inc();
                limits.note_refusal(format!("ip:{ip}"));
                return refusal(retry, limits.ip_burst);
            }
        }
    }
    let req = if let Some(l) = &limits.key {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, limits.body_limit).await else {
            return ApiError::PayloadTooLarge.into_response();
        };
        let named = serde_json::from_slice::<Named>(&bytes)
            .ok()
            .and_then(|n| n.license_key);
        if let Some(key) = named {
            // The key's hash, never the key: it is a secret, and its hash is what the audit
            // event may show.
            let hash: [u8; 32] = Sha256::digest(key.trim().as_bytes()).into();
            match check(l, &hash) {
                Ok(b) => keep(b),
                Err(retry) => {
                    limits.counters.refused_key.inc();
                    limits.note_refusal(format!(
                        "key_sha256:{}",
                        licet_verifier::hex(hash.get(..8).unwrap_or_default())
                    ));
                    return refusal(retry, limits.key_burst);
                }
            }
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        req
    };
    limits.counters.allowed.inc();
    let mut resp = next.run(req).await;
    if let Some(b) = tightest {
        headers(resp.headers_mut(), b);
    }
    resp
}

/// A 429 with the bucket's headers and `Retry-After`.
fn refusal(retry_after: u64, limit: u32) -> Response {
    let mut resp = ApiError::RateLimited { retry_after }.into_response();
    let h = resp.headers_mut();
    headers(
        h,
        Bucket {
            limit,
            remaining: 0,
            reset: retry_after,
        },
    );
    h.insert("retry-after", HeaderValue::from(retry_after));
    resp
}

fn headers(h: &mut HeaderMap, b: Bucket) {
    h.insert("ratelimit-limit", HeaderValue::from(b.limit));
    h.insert("ratelimit-remaining", HeaderValue::from(b.remaining));
    h.insert("ratelimit-reset", HeaderValue::from(b.reset));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(trusted: &[&str]) -> RateLimits {
        RateLimits::new(&Settings {
            ip: Rate {
                per_minute: 1,
                burst: 1,
            },
            key: Rate {
                per_minute: 0,
                burst: 1,
            },
            trusted_proxies: trusted.iter().map(|t| t.parse().expect("cidr")).collect(),
            body_limit: 1024,
        })
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop() {
        let l = limits(&["10.0.0.0/8"]);
        let proxy: IpAddr = "10.0.0.5".parse().expect("ip");
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        // Through two named proxies; the left-most entry is the client's own claim.
        let h = xff(&["1.1.1.1, 203.0.113.9, 10.0.0.7"]);
        assert_eq!(l.client_ip(proxy, &h), ip("203.0.113.9"));
        // The same, split over two header lines.
        let h = xff(&["1.1.1.1, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(l.client_ip(proxy, &h), ip("203.0.113.9"));
        // Garbage stops the walk at the last good address.
        let h = xff(&["203.0.113.9, nonsense, 10.0.0.7"]);
        assert_eq!(l.client_ip(proxy, &h), ip("10.0.0.7"));
        // No header: the proxy itself.
        assert_eq!(l.client_ip(proxy, &HeaderMap::new()), proxy);
        // From a peer not named, the header is ignored.
        let outsider = ip("198.51.100.1");
        assert_eq!(l.client_ip(outsider, &xff(&["203.0.113.9"])), outsider);
        // A dual-stack listener's IPv4-mapped view of a named proxy is that proxy.
        let mapped = ip("::ffff:10.0.0.5");
        assert_eq!(
            l.client_ip(mapped, &xff(&["203.0.113.9"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn refusals_from_too_many_sources_are_counted_together() {
        let l = limits(&[]);
        for i in 0..MAX_SOURCES + 5 {
            l.note_refusal(format!("ip:{i}"));
        }
        let map = l.refused.lock().expect("lock");
        assert_eq!(map.len(), MAX_SOURCES + 1);
        assert_eq!(map.get("other"), Some(&5));
    }
}
