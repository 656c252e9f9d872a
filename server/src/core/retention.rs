//! Retention: how long the audit log and ended leases are kept, and their pruning.
//!
//! Pruning runs in small batches, each one short write job ([`BATCH`] records at most), so
//! that the writer never runs a long transaction: on redb a batch is queued among the
//! client requests' jobs like any other, and on PostgreSQL it locks only the rows it
//! removes. The background task (`crate::prune`) runs [`prune`] on a timer.

use crate::core::CoreError;
use crate::model::{AuditEvent, Lease};
use crate::storage::Backend;

/// Most records one write job looks at.
pub const BATCH: usize = 500;

/// How long records are kept, in seconds; `None` keeps them forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Audit events, from when they happened.
    pub audit: Option<u64>,
    /// Leases, from when they ended: released, or expired without a renewal.
    pub leases: Option<u64>,
}

/// What one pruning pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Audit events.
    pub audit_events: u64,
    /// Leases.
    pub leases: u64,
}

/// When a lease ended, if it has at `now`: its release, or its expiry.
pub fn ended_at(l: &Lease, now: u64) -> Option<u64> {
    match l.released_at {
        Some(r) => Some(r),
        None if l.expires_at <= now => Some(l.expires_at),
        None => None,
    }
}

/// Removes, in batches, the audit events older than the retention (`at < now - audit`)
/// and the leases that ended before `now - leases`. Events are removed from the oldest
/// on and the pass stops at the first one kept (seqs follow time). When anything was removed, a `retention.prune`
/// event says how much. `pause` runs between
/// batches (the background task yields there, so the client requests' jobs go first).
///
/// # Errors
/// Storage errors; what was removed before stays removed.
pub async fn prune<B: Backend, P: std::future::Future<Output = ()>>(
    store: &B,
    retention: Retention,
    now: u64,
    mut pause: impl FnMut() -> P,
) -> Result<Pruned, CoreError> {
    let mut pruned = Pruned::default();
    if let Some(keep) = retention.audit {
        let before = now.saturating_sub(keep);
        loop {
            let (removed, more) = store
                .write(move |tx| {
                    let head = tx.audit_oldest(BATCH)?;
                    let old: Vec<u64> = head
                        .iter()
                        .take_while(|e| e.at < before)
                        .map(|e| e.seq)
                        .collect();
                    if let Some(&last) = old.last() {
                        tx.remove_audit_through(last)?;
                    }
                    Ok((old.len() as u64, old.len() == BATCH))
                })
                .await?;
            pruned.audit_events += removed;
            if !more {
                break;
            }
            pause().await;
        }
    }
    if let Some(keep) = retention.leases {
        let before = now.saturating_sub(keep);
        let mut after: Option<[u8; 16]> = None;
        loop {
            let (removed, next) = store
                .write(move |tx| {
                    let batch = tx.leases_after(after.as_ref(), BATCH)?;
                    let next = match batch.last() {
                        Some(l) if batch.len() == BATCH => Some(crate::storage::stored_id(&l.id)?),
                        _ => None,
                    };
                    let mut removed = 0;
                    for l in &batch {
                        if ended_at(l, now).is_some_and(|e| e < before) {
                            tx.remove_lease(l)?;
                            removed += 1;
                        }
                    }
                    Ok((removed, next))
                })
                .await?;
            pruned.leases += removed;
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
            pause().await;
        }
    }
    if pruned != Pruned::default() {
        // The log says what retention removed, so that a gap in it is explained.
        store
            .write(move |tx| {
                tx.append_audit(AuditEvent::by_server(
                    now,
                    "retention.prune",
                    serde_json::json!({
                        "audit_events": pruned.audit_events,
                        "leases": pruned.leases,
                        "audit_retention_seconds": retention.audit,
                        "lease_retention_seconds": retention.leases,
                    }),
                ))
            })
            .await?;
    }
    Ok(pruned)
}
