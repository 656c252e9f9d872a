//! The deny list: fingerprints, address ranges and licenses whose client requests are
//! refused `DENIED`, each with a reason and an optional expiry.
//!
//! The entries are stored ([`add`], [`list`], [`remove`]); the client routes check a
//! request against a [`Matcher`] built from them, held in memory by the HTTP layer
//! (`crate::denylist`), so that a denied request costs no storage read.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::json;

use crate::core::CoreError;
use crate::model::{AuditEvent, DenyEntry, DenyKind};
use crate::storage::Backend;

/// Most entries: each is held in memory by every server, and address ranges are matched
/// one by one.
pub const MAX_ENTRIES: usize = 100_000;

/// Most bytes of a reason.
pub const MAX_REASON: usize = 1024;

/// The value of an entry in its one stored form: lowercase hex, or a CIDR range truncated
/// to its network (`203.0.113.7/24` is `203.0.113.0/24`; a bare address is a /32 or /128).
///
/// # Errors
/// [`CoreError::BadRequest`] naming the expected form.
pub fn normalise(kind: DenyKind, value: &str) -> Result<String, CoreError> {
    let v = value.trim();
    match kind {
        DenyKind::Fingerprint => licet_verifier::unhex::<32>(v)
            .map(|b| licet_verifier::hex(&b))
            .ok_or_else(|| {
                CoreError::BadRequest(
                    "a fingerprint is 64 hex digits (the machine's fingerprint hash)".into(),
                )
            }),
        DenyKind::License => licet_verifier::unhex::<16>(v)
            .map(|b| licet_verifier::hex(&b))
            .ok_or_else(|| {
                CoreError::BadRequest("a license id is 32 hex digits (its `id`)".into())
            }),
        DenyKind::Ip => v
            .parse::<IpNet>()
            .map(|n| n.trunc())
            .or_else(|_| v.parse::<IpAddr>().map(IpNet::from))
            .map(unmapped)
            .map(|n| n.to_string())
            .map_err(|_| {
                CoreError::BadRequest(format!(
                    "'{v}' is neither an IP address nor a CIDR range (e.g. 203.0.113.7, 203.0.113.0/24 or 2001:db8::/32)"
                ))
            }),
    }
}

/// An IPv4-mapped IPv6 range (`::ffff:203.0.113.0/120`) as the IPv4 range it is: requests
/// are matched in their IPv4 form ([`Matcher::check`]), so the mapped form would never
/// match. Other ranges are returned as they are.
fn unmapped(n: IpNet) -> IpNet {
    match n {
        IpNet::V6(v6) => match (
            v6.network().to_ipv4_mapped(),
            v6.prefix_len().checked_sub(96),
        ) {
            (Some(v4), Some(len)) => IpNet::new(IpAddr::V4(v4), len).map_or(n, |m| m.trunc()),
            _ => n,
        },
        v4 => v4,
    }
}

/// A new entry.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// What it matches.
    pub kind: DenyKind,
    /// The fingerprint, range or license id.
    pub value: String,
    /// Why.
    pub reason: String,
    /// When it stops applying, if ever.
    pub expires_at: Option<u64>,
}

/// Adds an entry.
///
/// # Errors
/// [`CoreError::BadRequest`] for a bad value, an empty or long reason, or an expiry not in
/// the future; [`CoreError::Conflict`] when the same value is listed already (remove it
/// first) or the list is full; storage errors.
pub async fn add<B: Backend>(store: &B, n: NewEntry, now: u64) -> Result<DenyEntry, CoreError> {
    let value = normalise(n.kind, &n.value)?;
    let reason = n.reason.trim().to_owned();
    if reason.is_empty() || reason.len() > MAX_REASON {
        return Err(CoreError::BadRequest(format!(
            "reason must be 1 to {MAX_REASON} bytes: say why, for whoever reads the list later"
        )));
    }
    if n.expires_at.is_some_and(|e| e <= now) {
        return Err(CoreError::BadRequest(
            "expires_at is not in the future; leave it out for an entry that does not expire"
                .into(),
        ));
    }
    let entry = DenyEntry {
        id: licet::new_id()
            .map(|id| licet_verifier::hex(&id))
            .map_err(|_| CoreError::Internal)?,
        kind: n.kind,
        value,
        reason,
        expires_at: n.expires_at,
        created_at: now,
    };
    let e = entry.clone();
    store
        .write(move |tx| {
            let all = tx.deny_entries()?;
            if let Some(same) = all.iter().find(|x| x.kind == e.kind && x.value == e.value) {
                return Err(CoreError::Conflict(format!(
                    "{} {} is listed already (entry {}); remove it first to change its reason or expiry",
                    e.kind.as_str(),
                    e.value,
                    same.id
                )));
            }
            if all.len() >= MAX_ENTRIES {
                return Err(CoreError::Conflict(format!(
                    "the deny list holds {MAX_ENTRIES} entries already; remove expired ones, or deny a wider range"
                )));
            }
            tx.put_deny_entry(&e)?;
            tx.append_audit(AuditEvent::admin(
                now,
                "deny.add",
                (e.kind == DenyKind::License).then_some(e.value.as_str()),
                json!({"entry": e.id, "kind": e.kind.as_str(), "value": e.value, "reason": e.reason, "expires_at": e.expires_at}),
            ))
        })
        .await?;
    Ok(entry)
}

/// Every entry, expired ones included, oldest first.
///
/// # Errors
/// Storage errors.
pub async fn list<B: Backend>(store: &B) -> Result<Vec<DenyEntry>, CoreError> {
    let mut all = store.read(|tx| tx.deny_entries()).await?;
    all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(all)
}

/// Removes an entry.
///
/// # Errors
/// [`CoreError::NotFound`] when there is none with that id; storage errors.
pub async fn remove<B: Backend>(store: &B, id: &str, now: u64) -> Result<(), CoreError> {
    let not_found = || CoreError::NotFound(format!("no deny-list entry with id '{id}'"));
    let key = crate::core::id_bytes(id).ok_or_else(not_found)?;
    let id = id.to_owned();
    store
        .write(move |tx| {
            let Some(e) = tx.deny_entries()?.into_iter().find(|e| e.id == id) else {
                return Err(CoreError::NotFound(format!(
                    "no deny-list entry with id '{id}'"
                )));
            };
            tx.remove_deny_entry(&key)?;
            tx.append_audit(AuditEvent::admin(
                now,
                "deny.remove",
                (e.kind == DenyKind::License).then_some(e.value.as_str()),
                json!({"entry": e.id, "kind": e.kind.as_str(), "value": e.value}),
            ))
        })
        .await
}

/// What a client request is checked by: its source address, and every fingerprint and
/// license it names. Every one is kept, not the first: a body may name a license by its
/// key and another by a machine token, and the handler may act on either, so a request is
/// denied when any of them is.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// The machines' fingerprint hashes.
    pub fingerprints: Vec<[u8; 32]>,
    /// The licenses' ids.
    pub licenses: Vec<[u8; 16]>,
}

/// The entries, indexed for matching.
///
/// Ranges are kept by prefix length, each length a hash map of networks: an address is
/// looked up once per length in use (at most 33 for IPv4, 129 for IPv6), not compared with
/// every range, so a list of 100,000 ranges costs a request no more than a list of a few.
#[derive(Debug, Default)]
pub struct Matcher {
    fingerprints: HashMap<[u8; 32], DenyEntry>,
    licenses: HashMap<[u8; 16], DenyEntry>,
    ranges: BTreeMap<u8, HashMap<IpNet, DenyEntry>>,
    len: usize,
}

impl Matcher {
    /// Indexes entries (values that do not parse, which [`add`] never stores, are skipped).
    pub fn new(entries: Vec<DenyEntry>) -> Matcher {
        let mut m = Matcher::default();
        for e in entries {
            match e.kind {
                DenyKind::Fingerprint => {
                    if let Some(k) = licet_verifier::unhex::<32>(&e.value) {
                        m.fingerprints.insert(k, e);
                    }
                }
                DenyKind::License => {
                    if let Some(k) = licet_verifier::unhex::<16>(&e.value) {
                        m.licenses.insert(k, e);
                    }
                }
                DenyKind::Ip => {
                    if let Ok(n) = e.value.parse::<IpNet>() {
                        let n = n.trunc();
                        m.ranges.entry(n.prefix_len()).or_default().insert(n, e);
                    }
                }
            }
        }
        m.len = m.fingerprints.len()
            + m.licenses.len()
            + m.ranges.values().map(HashMap::len).sum::<usize>();
        m
    }

    /// The entry that denies `s` at `now`, if any: an entry applies until its
    /// `expires_at` (exclusive). The address is checked first, then the license, then the
    /// fingerprint.
    pub fn check(&self, s: &Subject, now: u64) -> Option<&DenyEntry> {
        let live = |e: &&DenyEntry| e.expires_at.is_none_or(|x| now < x);
        let ip = s.ip.map(|ip| match ip {
            // A dual-stack listener sees IPv4 clients as IPv4-mapped IPv6.
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        });
        ip.and_then(|ip| {
            self.ranges.iter().find_map(|(len, nets)| {
                let net = IpNet::new(ip, *len).ok()?.trunc();
                nets.get(&net).filter(live)
            })
        })
        .or_else(|| {
            s.licenses
                .iter()
                .find_map(|l| self.licenses.get(l).filter(live))
        })
        .or_else(|| {
            s.fingerprints
                .iter()
                .find_map(|f| self.fingerprints.get(f).filter(live))
        })
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: DenyKind, value: &str, expires_at: Option<u64>) -> DenyEntry {
        DenyEntry {
            id: "00".repeat(16),
            kind,
            value: normalise(kind, value).expect("valid"),
            reason: "test".into(),
            expires_at,
            created_at: 0,
        }
    }

    #[test]
    fn ranges_match_ipv4_ipv6_and_mapped_addresses() {
        let m = Matcher::new(vec![
            entry(DenyKind::Ip, "203.0.113.7/24", None),
            entry(DenyKind::Ip, "2001:db8::/32", None),
        ]);
        let at = |ip: &str| Subject {
            ip: Some(ip.parse().expect("ip")),
            ..Subject::default()
        };
        assert!(m.check(&at("203.0.113.200"), 1).is_some());
        assert!(m.check(&at("::ffff:203.0.113.1"), 1).is_some());
        assert!(m.check(&at("2001:db8:1::5"), 1).is_some());
        assert!(m.check(&at("203.0.114.1"), 1).is_none());
        assert!(m.check(&at("::ffff:203.0.114.1"), 1).is_none());
        assert!(m.check(&at("2001:db9::1"), 1).is_none());
    }

    #[test]
    fn ranges_of_every_length_match_among_many() {
        let mut entries: Vec<DenyEntry> = (0..10_000u32)
            .map(|i| {
                let [_, _, a, b] = i.to_be_bytes();
                entry(DenyKind::Ip, &format!("10.{a}.{b}.0/24"), None)
            })
            .collect();
        entries.push(entry(DenyKind::Ip, "192.0.2.128/25", None));
        entries.push(entry(DenyKind::Ip, "198.51.100.7", None));
        entries.push(entry(DenyKind::Ip, "2001:db8:aa::/48", None));
        let m = Matcher::new(entries);
        assert_eq!(m.len(), 10_003);
        let at = |ip: &str| Subject {
            ip: Some(ip.parse().expect("ip")),
            ..Subject::default()
        };
        for (ip, denied) in [
            ("192.0.2.200", true),
            ("192.0.2.127", false),
            ("198.51.100.7", true),
            ("198.51.100.8", false),
            ("2001:db8:aa:ff::1", true),
            ("2001:db8:ab::1", false),
        ] {
            assert_eq!(m.check(&at(ip), 1).is_some(), denied, "{ip}");
        }
    }

    #[test]
    fn any_license_or_fingerprint_named_is_denied_not_only_the_first() {
        let m = Matcher::new(vec![
            entry(DenyKind::License, &"ab".repeat(16), None),
            entry(DenyKind::Fingerprint, &"cd".repeat(32), None),
        ]);
        let s = Subject {
            licenses: vec![[0x01; 16], [0xab; 16]],
            ..Subject::default()
        };
        assert!(m.check(&s, 1).is_some());
        let s = Subject {
            fingerprints: vec![[0x02; 32], [0xcd; 32]],
            ..Subject::default()
        };
        assert!(m.check(&s, 1).is_some());
        let s = Subject {
            licenses: vec![[0x01; 16]],
            fingerprints: vec![[0x02; 32]],
            ..Subject::default()
        };
        assert!(m.check(&s, 1).is_none());
    }

    #[test]
    fn an_entry_stops_at_its_expiry() {
        let m = Matcher::new(vec![entry(DenyKind::License, &"ab".repeat(16), Some(100))]);
        let s = Subject {
            licenses: vec![[0xab; 16]],
            ..Subject::default()
        };
        assert!(m.check(&s, 99).is_some());
        assert!(m.check(&s, 100).is_none());
    }

    #[test]
    fn values_are_stored_in_one_form() {
        assert_eq!(
            normalise(DenyKind::Ip, " 10.1.2.3/8 ").expect("ok"),
            "10.0.0.0/8"
        );
        assert_eq!(normalise(DenyKind::Ip, "::1").expect("ok"), "::1/128");
        // An IPv4-mapped entry is stored as the IPv4 range it is, and matches.
        assert_eq!(
            normalise(DenyKind::Ip, "::ffff:203.0.113.7/120").expect("ok"),
            "203.0.113.0/24"
        );
        assert_eq!(
            normalise(DenyKind::Ip, "::ffff:203.0.113.7").expect("ok"),
            "203.0.113.7/32"
        );
        assert_eq!(
            normalise(DenyKind::Ip, "::ffff:0:0/95").expect("ok"),
            "::fffe:0:0/95",
            "a range wider than the mapped block stays IPv6"
        );
        assert_eq!(
            normalise(DenyKind::Fingerprint, &"AB".repeat(32)).expect("ok"),
            "ab".repeat(32)
        );
        assert!(normalise(DenyKind::Ip, "10.0.0.0/33").is_err());
        assert!(normalise(DenyKind::License, "xyz").is_err());
    }
}
