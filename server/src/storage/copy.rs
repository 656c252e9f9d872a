//! Moving a vendor between backends (`licet-server migrate`): everything read from one
//! backend's snapshot, written to another in one transaction, and a summary of each side
//! (counts and a digest) to compare.
//!
//! Only through the storage interface, so it copies between any two backends. The records
//! are copied as they are, ids, key hashes and token hashes included, so license keys,
//! machine tokens and lease tokens issued before keep working after the move.

use sha2::{Digest, Sha256};

use crate::core::CoreError;
use crate::model::{
    AdminToken, AuditEvent, Deactivation, DenyEntry, Lease, License, Machine, Policy, Product,
    Trial,
};
use crate::storage::{ReadTx, Result, WriteTx, stored_id};

/// The meta keys that move with the data.
/// The signed revocation list goes too: its sequence must keep growing after a move, or
/// every application that saw a list refuses the next ones as stale. So does the record of
/// answered offline deactivations, so that a replay is still recognised.
const META_KEYS: &[&str] = &[
    "admin_token_sha256",
    "revocations",
    crate::core::client::OFFLINE_DEACTIVATIONS,
];

/// Everything a backend holds, read from one snapshot.
#[derive(Debug, Default, Clone)]
pub struct Dump {
    products: Vec<Product>,
    policies: Vec<Policy>,
    licenses: Vec<(License, [u8; 32])>,
    machines: Vec<Machine>,
    leases: Vec<Lease>,
    /// Oldest first.
    audit: Vec<AuditEvent>,
    meta: Vec<(String, Vec<u8>)>,
    admin_tokens: Vec<AdminToken>,
    deny: Vec<DenyEntry>,
    /// By license, oldest first.
    deactivations: Vec<Deactivation>,
    trials: Vec<Trial>,
}

/// What a backend holds, in numbers and one digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Products.
    pub products: u64,
    /// Policies.
    pub policies: u64,
    /// Licenses.
    pub licenses: u64,
    /// Machines.
    pub machines: u64,
    /// Leases, released and expired ones included.
    pub leases: u64,
    /// Audit events.
    pub audit_events: u64,
    /// Named admin tokens.
    pub admin_tokens: u64,
    /// Deny-list entries.
    pub deny_entries: u64,
    /// Machine deactivations kept (for the deactivation limits and the revocation list).
    pub deactivations: u64,
    /// SHA-256, hex, of every record in a fixed order, each in the model's JSON encoding
    /// (the audit events with their seq).
    pub sha256: String,
    /// Keyless trials given (in the digest too).
    pub trials: u64,
}

/// The SHA-256 of a license key's binary form, as the key index holds it.
fn key_hash_of(l: &License) -> Result<[u8; 32]> {
    let bytes = crate::state::key_bytes(&l.key).map_err(|_| {
        tracing::error!(license = %l.id, "a stored license key that does not decode");
        CoreError::Internal
    })?;
    Ok(crate::state::key_hash(&bytes))
}

/// Reads everything.
///
/// # Errors
/// Storage errors; [`CoreError::Internal`] for a damaged record.
pub fn dump(tx: &dyn ReadTx) -> Result<Dump> {
    let mut d = Dump {
        products: tx.products()?,
        admin_tokens: tx.admin_tokens()?,
        deny: tx.deny_entries()?,
        policies: tx.policies(None)?,
        deactivations: tx.deactivations(None)?,
        trials: tx.trials()?,
        ..Dump::default()
    };
    let mut licenses = Vec::new();
    tx.licenses_after(None, &mut |l| {
        licenses.push(l);
        true
    })?;
    for l in licenses {
        let id = stored_id(&l.id)?;
        d.machines.extend(tx.machines(&id)?);
        d.leases.extend(tx.leases_of(&id)?);
        let hash = key_hash_of(&l)?;
        d.licenses.push((l, hash));
    }
    tx.audit_before(None, &mut |e| {
        d.audit.push(e);
        true
    })?;
    d.audit.reverse();
    for key in META_KEYS {
        if let Some(v) = tx.meta(key)? {
            d.meta.push(((*key).to_owned(), v));
        }
    }
    Ok(d)
}

/// Whether a backend holds nothing a copy could overwrite.
///
/// # Errors
/// Storage errors.
pub fn is_empty(tx: &dyn ReadTx) -> Result<bool> {
    Ok(tx.products()?.is_empty() && tx.license_count()? == 0 && tx.audit_len()? == 0)
}

/// Writes a dump. Audit events are appended oldest first, so a target whose log was empty
/// gives them the same seqs.
///
/// # Errors
/// Storage errors.
pub fn restore(d: &Dump, tx: &mut dyn WriteTx) -> Result<()> {
    for p in &d.products {
        tx.put_product(p)?;
    }
    // Before the licenses: a license read back resolves its policy.
    for p in &d.policies {
        tx.put_policy(p)?;
    }
    for (l, hash) in &d.licenses {
        tx.insert_license(l, hash)?;
    }
    for m in &d.machines {
        tx.put_machine(m)?;
    }
    for l in &d.leases {
        tx.insert_lease(l)?;
    }
    // A log whose head retention removed starts after it on the target too, so that every
    // event keeps its seq.
    if let Some(first) = d.audit.first()
        && first.seq > 1
    {
        tx.remove_audit_through(first.seq - 1)?;
    }
    for e in &d.audit {
        tx.append_audit(e.clone())?;
    }
    for t in &d.admin_tokens {
        tx.put_admin_token(t)?;
    }
    for e in &d.deny {
        tx.put_deny_entry(e)?;
    }
    for t in &d.trials {
        tx.put_trial(t)?;
    }
    for (k, v) in &d.meta {
        tx.put_meta(k, v)?;
    }
    for x in &d.deactivations {
        tx.put_deactivation(x)?;
    }
    Ok(())
}

/// Counts and digest of what a backend holds.
///
/// # Errors
/// Storage errors.
pub fn summary(tx: &dyn ReadTx) -> Result<Summary> {
    let d = dump(tx)?;
    let mut h = Sha256::new();
    for p in &d.products {
        add(&mut h, "product", p)?;
    }
    for p in &d.policies {
        add(&mut h, "policy", p)?;
    }
    for (l, hash) in &d.licenses {
        add(&mut h, "license", l)?;
        h.update(hash);
    }
    for m in &d.machines {
        add(&mut h, "machine", m)?;
    }
    for l in &d.leases {
        add(&mut h, "lease", l)?;
    }
    for e in &d.audit {
        add(&mut h, "audit", e)?;
    }
    for (k, v) in &d.meta {
        h.update(k.as_bytes());
        h.update(v);
    }
    for t in &d.admin_tokens {
        add(&mut h, "admin_token", t)?;
    }
    for e in &d.deny {
        add(&mut h, "deny", e)?;
    }
    // None before deactivations were kept: the digest of such a database is unchanged.
    for x in &d.deactivations {
        add(&mut h, "deactivation", x)?;
    }
    for t in &d.trials {
        add(&mut h, "trial", t)?;
    }
    let n = |len: usize| u64::try_from(len).unwrap_or(u64::MAX);
    Ok(Summary {
        products: n(d.products.len()),
        policies: n(d.policies.len()),
        licenses: n(d.licenses.len()),
        machines: n(d.machines.len()),
        leases: n(d.leases.len()),
        audit_events: n(d.audit.len()),
        admin_tokens: n(d.admin_tokens.len()),
        deny_entries: n(d.deny.len()),
        deactivations: n(d.deactivations.len()),
        sha256: licet_verifier::hex(&h.finalize()),
        trials: n(d.trials.len()),
    })
}

/// One record into the digest: its kind, its JSON, a line end.
fn add<T: serde::Serialize>(h: &mut Sha256, what: &str, v: &T) -> Result<()> {
    h.update(what.as_bytes());
    h.update(serde_json::to_vec(v).map_err(|_| CoreError::Internal)?);
    h.update(b"\n");
    Ok(())
}
