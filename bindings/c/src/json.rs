//! Claims as JSON, in the shape of `docs/token-format.md` §7.3 (the one `licet::json`
//! writes for the CLI and the vectors; that crate is the issuing side, which an application
//! must not link, so the few lines are repeated here and the C vector test compares them
//! with the manifest's claims for every valid vector).

use std::collections::BTreeMap;

use licet_verifier::{Claims, KindClaims, hex};
use serde_json::{Value, json};

/// Every claim, keys sorted (a `BTreeMap`, whatever serde_json's features), no white space.
pub(crate) fn claims(c: &Claims) -> String {
    let mut m: BTreeMap<&str, Value> = BTreeMap::new();
    m.insert("kind", json!(c.kind().name()));
    m.insert("product", json!(c.product));
    m.insert("issued_at", json!(c.issued_at));
    m.insert("id", json!(hex(&c.id)));
    m.insert("issuer", json!(c.issuer));
    m.insert("customer", json!(c.customer));
    m.insert("expires_at", json!(c.expires_at));
    m.insert("not_before", json!(c.not_before));
    m.insert("features", json!(c.features));
    m.insert("metadata", json!(c.metadata));
    match &c.kind {
        KindClaims::License {
            license_type,
            max_machines,
            max_leases,
        } => {
            m.insert("license_type", json!(license_type.map(|t| t.name())));
            m.insert("max_machines", json!(max_machines));
            m.insert("max_leases", json!(max_leases));
        }
        KindClaims::Machine {
            license_id,
            fingerprint,
            grace_ends_at,
        } => {
            m.insert("license_id", json!(hex(license_id)));
            m.insert("fingerprint", json!(hex(fingerprint)));
            if let Some(g) = grace_ends_at {
                m.insert("grace_ends_at", json!(g));
            }
        }
        KindClaims::Lease {
            license_id,
            client_id,
        } => {
            m.insert("license_id", json!(hex(license_id)));
            m.insert("client_id", json!(client_id));
        }
    }
    // Through a Value built from the sorted map: with or without serde_json's
    // `preserve_order`, the keys come out in the BTreeMap's order.
    json!(m).to_string()
}

/// The metadata: an object of strings, keys sorted.
pub(crate) fn metadata(c: &Claims) -> String {
    json!(c.metadata).to_string()
}
