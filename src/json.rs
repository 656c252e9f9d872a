//! Claims and times as JSON, in the one shape the CLI, the test vectors and the docs use
//! (`docs/token-format.md` §7.3).

use licet_verifier::{Claims, KindClaims, hex};
use serde_json::{Value, json};

/// A time as RFC 3339 UTC (the raw number when it is out of range).
pub fn rfc3339(t: u64) -> String {
    i64::try_from(t)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Claims as JSON (the same shape as `docs/token-format.md` §7.3).
pub fn claims_json(c: &Claims) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("kind".into(), json!(c.kind().name()));
    m.insert("product".into(), json!(c.product));
    m.insert("issued_at".into(), json!(c.issued_at));
    m.insert("id".into(), json!(hex(&c.id)));
    m.insert("issuer".into(), json!(c.issuer));
    m.insert("customer".into(), json!(c.customer));
    m.insert("expires_at".into(), json!(c.expires_at));
    m.insert("not_before".into(), json!(c.not_before));
    m.insert("features".into(), json!(c.features));
    m.insert("metadata".into(), json!(c.metadata));
    match &c.kind {
        KindClaims::License {
            license_type,
            max_machines,
            max_leases,
        } => {
            m.insert("license_type".into(), json!(license_type.map(|t| t.name())));
            m.insert("max_machines".into(), json!(max_machines));
            m.insert("max_leases".into(), json!(max_leases));
        }
        KindClaims::Machine {
            license_id,
            fingerprint,
            grace_ends_at,
        } => {
            m.insert("license_id".into(), json!(hex(license_id)));
            m.insert("fingerprint".into(), json!(hex(fingerprint)));
            // Version 2 only (`docs/token-format.md` §7.3): present when carried.
            if let Some(g) = grace_ends_at {
                m.insert("grace_ends_at".into(), json!(g));
            }
        }
        KindClaims::Lease {
            license_id,
            client_id,
        } => {
            m.insert("license_id".into(), json!(hex(license_id)));
            m.insert("client_id".into(), json!(client_id));
        }
    }
    Value::Object(m)
}
