//! Showing claims and results, for people and as JSON.

use licet_verifier::{Claims, KindClaims, hex};
use serde_json::{Value, json};

/// A time as RFC 3339 UTC (or the raw number when out of range).
pub fn time(t: u64) -> String {
    i64::try_from(t)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// A verifier error for people: as the verifier words it, but with times as RFC 3339
/// rather than seconds since 1970.
pub fn verify_error(e: &licet_verifier::Error) -> String {
    use licet_verifier::Error as E;
    match e {
        E::Expired { expired_at, now } => format!(
            "token expired at {} (checked at {}); renew the license or check in again",
            time(*expired_at),
            time(*now)
        ),
        E::NotYetValid { valid_from, now } => format!(
            "token is valid only from {} (checked at {}); wait until then, or check the system clock",
            time(*valid_from),
            time(*now)
        ),
        E::ClockRollback { now, seen } => format!(
            "the clock reads {}, earlier than {} already seen (the token's issue time or a later check); set the clock to the correct time",
            time(*now),
            time(*seen)
        ),
        other => other.to_string(),
    }
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
        } => {
            m.insert("license_id".into(), json!(hex(license_id)));
            m.insert("fingerprint".into(), json!(hex(fingerprint)));
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

/// Claims for people, one `name: value` a line.
pub fn claims_text(c: &Claims) -> String {
    let mut lines = vec![
        format!("kind:          {}", c.kind().name()),
        format!("product:       {}", c.product),
        format!("id:            {}", hex(&c.id)),
    ];
    if let Some(i) = &c.issuer {
        lines.push(format!("issuer:        {i}"));
    }
    if let Some(cu) = &c.customer {
        lines.push(format!("customer:      {cu}"));
    }
    lines.push(format!("issued at:     {}", time(c.issued_at)));
    if let Some(t) = c.not_before {
        lines.push(format!("not before:    {}", time(t)));
    }
    lines.push(match c.expires_at {
        Some(t) => format!("expires at:    {}", time(t)),
        None => "expires at:    never (perpetual)".into(),
    });
    lines.push(format!(
        "features:      {}",
        if c.features.is_empty() {
            "(none)".into()
        } else {
            c.features.join(", ")
        }
    ));
    match &c.kind {
        KindClaims::License {
            license_type,
            max_machines,
            max_leases,
        } => {
            if let Some(t) = license_type {
                lines.push(format!("type:          {}", t.name()));
            }
            let limit = |n: &Option<u64>| n.map_or("unlimited".to_string(), |n| n.to_string());
            lines.push(format!("max machines:  {}", limit(max_machines)));
            lines.push(format!("max leases:    {}", limit(max_leases)));
        }
        KindClaims::Machine {
            license_id,
            fingerprint,
        } => {
            lines.push(format!("license id:    {}", hex(license_id)));
            lines.push(format!("fingerprint:   {}", hex(fingerprint)));
        }
        KindClaims::Lease {
            license_id,
            client_id,
        } => {
            lines.push(format!("license id:    {}", hex(license_id)));
            if let Some(cid) = client_id {
                lines.push(format!("client id:     {cid}"));
            }
        }
    }
    for (k, v) in &c.metadata {
        lines.push(format!("meta {k}: {v}"));
    }
    lines.join("\n")
}
