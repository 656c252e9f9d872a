//! The console's sign-in session: a stateless cookie authenticated with HMAC-SHA256, the
//! CSRF token of every form, and the slowing down of failed sign-ins.
//!
//! Why stateless: several server processes may serve one database behind a load balancer
//! (the PostgreSQL backend), and a session made by one must be accepted by every other.
//! A cookie that carries its own times and a MAC needs no storage and works on every
//! backend; every process derives the same key from what they already share (the signing
//! key and the admin token's hash). What that costs is written in `docs/admin-console.md`:
//! signing out clears the cookie in that browser, but a copy of the cookie taken before
//! stays valid until its idle or absolute expiry, unless the admin token is changed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use licet_verifier::{hex, unhex};
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// The session cookie's name.
pub const COOKIE: &str = "licet_console";
/// The cookie that holds the sign-in form's CSRF nonce before there is a session.
pub const PRE_COOKIE: &str = "licet_console_pre";
/// A session unused for this long is over (seconds): 30 minutes.
pub const IDLE: u64 = 30 * 60;
/// A session is over this long after sign-in, however busy (seconds): 12 hours.
pub const ABSOLUTE: u64 = 12 * 3600;
/// How far a session's times may be ahead of this process's clock (processes behind a
/// load balancer disagree by a little).
const SKEW: u64 = 60;

/// The console's secret state: the session key, and whether cookies need `Secure`.
pub struct Keys {
    key: Zeroizing<[u8; 32]>,
}

impl Keys {
    /// Derives the session key from the signing key's secret and the admin token's hash:
    /// every process that serves the same database with the same key and token derives the
    /// same session key; a new admin token (or signing key) ends every session at once; and
    /// the database alone (a leaked backup) is not enough to forge a session.
    pub fn derive(signing_key_secret: &[u8], admin_token_sha256: &[u8; 32]) -> Keys {
        let mut mac = HmacSha256::new_from_slice(signing_key_secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(b"licet admin console session key v1\0");
        mac.update(admin_token_sha256);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&mac.finalize().into_bytes());
        Keys { key }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(self.key.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"))
    }

    /// A new session's cookie value at `now`.
    ///
    /// # Errors
    /// When the system's random source fails.
    pub fn new_session(&self, now: u64) -> Result<Session, crate::ApiError> {
        let nonce = licet::new_id().map_err(|_| crate::ApiError::Internal)?;
        Ok(Session {
            issued: now,
            seen: now,
            nonce,
        })
    }

    /// The cookie value of `s`: `issued.seen.nonce.mac`, all in decimal or hex.
    pub fn seal(&self, s: &Session) -> String {
        let body = format!("{}.{}.{}", s.issued, s.seen, hex(&s.nonce));
        let mut mac = self.mac();
        mac.update(b"session\0");
        mac.update(body.as_bytes());
        format!("{body}.{}", hex(&mac.finalize().into_bytes()))
    }

    /// The session a cookie value holds, if its MAC checks (in constant time) and it is
    /// neither idle for longer than [`IDLE`] nor older than [`ABSOLUTE`] at `now`.
    pub fn open(&self, value: &str, now: u64) -> Option<Session> {
        let (body, tag) = value.rsplit_once('.')?;
        let tag = unhex::<32>(tag)?;
        let mut mac = self.mac();
        mac.update(b"session\0");
        mac.update(body.as_bytes());
        mac.verify_slice(&tag).ok()?;
        let mut parts = body.split('.');
        let issued: u64 = parts.next()?.parse().ok()?;
        let seen: u64 = parts.next()?.parse().ok()?;
        let nonce = unhex::<16>(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        let fresh = seen >= issued
            && seen <= now.saturating_add(SKEW)
            && now.saturating_sub(seen) <= IDLE
            && now.saturating_sub(issued) <= ABSOLUTE;
        fresh.then_some(Session {
            issued,
            seen,
            nonce,
        })
    }

    /// The CSRF token of forms shown with this nonce (a session's, or the sign-in page's).
    pub fn csrf(&self, nonce: &[u8; 16]) -> String {
        let mut mac = self.mac();
        mac.update(b"csrf\0");
        mac.update(nonce);
        hex(&mac.finalize().into_bytes())
    }

    /// Whether `presented` is the CSRF token of `nonce`, compared in constant time.
    pub fn csrf_ok(&self, nonce: &[u8; 16], presented: &str) -> bool {
        let Some(tag) = unhex::<32>(presented) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(b"csrf\0");
        mac.update(nonce);
        mac.verify_slice(&tag).is_ok()
    }
}

/// A signed-in session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// When it signed in.
    pub issued: u64,
    /// When it was last used.
    pub seen: u64,
    /// Its random id (never shown; the CSRF token is derived from it).
    pub nonce: [u8; 16],
}

/// Failed sign-ins per source address, to slow down guessing.
///
/// Kept in this process's memory: it is a brake, not a record (the record is the audit
/// log), and with several processes behind a load balancer each brakes on its own.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, (u32, u64)>>,
}

/// Failures from one source before it must wait.
const FREE_FAILURES: u32 = 5;
/// Failures are forgotten after this long without one (seconds).
const FORGET: u64 = 15 * 60;
/// The longest wait (seconds).
const MAX_WAIT: u64 = 300;
/// Most sources remembered; past it the oldest are dropped (so that a flood of sources
/// cannot grow the map without bound).
const MAX_SOURCES: usize = 10_000;

impl Throttle {
    /// How many seconds `ip` must still wait before it may try again at `now` (0: may try).
    pub fn wait(&self, ip: IpAddr, now: u64) -> u64 {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&ip) {
            Some(&(n, last)) if n >= FREE_FAILURES && now.saturating_sub(last) < FORGET => {
                let wait = backoff(n);
                last.saturating_add(wait).saturating_sub(now)
            }
            _ => 0,
        }
    }

    /// Records a failure of `ip` at `now`.
    pub fn failed(&self, ip: IpAddr, now: u64) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SOURCES && !map.contains_key(&ip) {
            map.retain(|_, (_, last)| now.saturating_sub(*last) < FORGET);
            if map.len() >= MAX_SOURCES
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (_, last))| *last)
                    .map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        let e = map.entry(ip).or_insert((0, now));
        if now.saturating_sub(e.1) >= FORGET {
            e.0 = 0;
        }
        e.0 = e.0.saturating_add(1);
        e.1 = now;
    }

    /// Forgets the failures of `ip` (it signed in).
    pub fn succeeded(&self, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&ip);
    }
}

/// The wait after `n` failures: 2, 4, 8 … seconds from the sixth on, at most [`MAX_WAIT`].
fn backoff(n: u32) -> u64 {
    let over = n.saturating_sub(FREE_FAILURES).min(16);
    (1u64 << over).saturating_mul(2).min(MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::derive(b"secret key bytes", &[7; 32])
    }

    #[test]
    fn a_sealed_session_opens_until_idle_or_too_old() {
        let k = keys();
        let s = k.new_session(1000).expect("session");
        let v = k.seal(&s);
        assert_eq!(k.open(&v, 1000), Some(s));
        assert_eq!(k.open(&v, 1000 + IDLE), Some(s));
        assert_eq!(k.open(&v, 1001 + IDLE), None, "idle too long");
        // Kept busy, it still ends ABSOLUTE after sign-in.
        let busy = Session {
            seen: 1000 + ABSOLUTE,
            ..s
        };
        assert!(k.open(&k.seal(&busy), 1000 + ABSOLUTE).is_some());
        let busy = Session {
            seen: 1001 + ABSOLUTE,
            ..s
        };
        assert_eq!(k.open(&k.seal(&busy), 1001 + ABSOLUTE), None);
    }

    #[test]
    fn a_changed_cookie_or_another_key_is_refused() {
        let k = keys();
        let s = k.new_session(1000).expect("session");
        let v = k.seal(&s);
        // Moving `seen` forward by hand (to escape the idle limit) breaks the MAC.
        let forged = v.replacen(".1000.", ".2000.", 1);
        assert_ne!(forged, v);
        assert_eq!(k.open(&forged, 2000), None);
        let other = Keys::derive(b"secret key bytes", &[8; 32]);
        assert_eq!(
            other.open(&v, 1000),
            None,
            "a new admin token ends sessions"
        );
        assert_eq!(k.open("", 1000), None);
        assert_eq!(k.open("1.2.3", 1000), None);
    }

    #[test]
    fn csrf_tokens_belong_to_their_nonce() {
        let k = keys();
        let t = k.csrf(&[1; 16]);
        assert!(k.csrf_ok(&[1; 16], &t));
        assert!(!k.csrf_ok(&[2; 16], &t));
        assert!(!k.csrf_ok(&[1; 16], ""));
        assert!(!k.csrf_ok(&[1; 16], &t[..62]));
    }

    #[test]
    fn failures_past_five_wait_longer_each_time() {
        let t = Throttle::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..5 {
            assert_eq!(t.wait(ip, 100), 0);
            t.failed(ip, 100);
        }
        assert_eq!(t.wait(ip, 100), 2);
        t.failed(ip, 102);
        assert_eq!(t.wait(ip, 102), 4);
        assert_eq!(t.wait(ip, 102 + FORGET), 0, "forgotten after a quiet spell");
        t.succeeded(ip);
        assert_eq!(t.wait(ip, 102), 0);
    }
}
