//! The signed revocation list the server serves (`GET /v1/revocations`,
//! `docs/token-format.md` §13.2): the ids of every revoked license, and of every
//! deactivated machine until its last token expires (`core::deactivations`), signed by the
//! current signing key, with a sequence number that only grows.
//!
//! The signed list is kept in one meta entry (`revocations`) with the digest of the ids it
//! holds, and re-signed (with the next sequence) only when the revoked ids change (a
//! machine deactivated, or a deactivated machine's last token expired), when
//! the signing key changes, or when its next-update time comes near. The sequence is read
//! and written in one write transaction, so several server processes over one database
//! never give two lists one sequence.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use licet_verifier::{Id, RevocationList, hex};

use crate::core::CoreError;
use crate::model::Status;
use crate::state::Signer;
use crate::storage::Backend;

/// The meta entry holding the current signed list.
const META: &str = "revocations";
/// How long a list is promised to stay current (its next update): a day.
pub const NEXT_UPDATE: u64 = 86_400;
/// A list this close to its next update is signed again, with the next sequence.
const RENEW_BEFORE: u64 = 3_600;
/// The issuer (`iss`) the server's lists name.
pub const ISSUER: &str = "licet-server";

/// What the meta entry holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    sequence: u64,
    /// SHA-256 of the revoked license ids, then the revoked machine ids, each concatenated
    /// in order, hex (without machines, what it was before they were listed).
    digest: String,
    kid: String,
    next_update: u64,
    pem: String,
}

impl Stored {
    fn current(&self, digest: &str, kid: &str, now: u64) -> bool {
        self.digest == digest
            && self.kid == kid
            && now.saturating_add(RENEW_BEFORE) < self.next_update
    }
}

fn stored(bytes: Option<Vec<u8>>) -> Option<Stored> {
    bytes.and_then(|b| serde_json::from_slice(&b).ok())
}

/// The current signed list, in its PEM file form, and its sequence: the stored one while
/// it is current, else a new one signed now.
///
/// # Errors
/// Storage errors; `INTERNAL` when signing fails.
pub async fn current<B: Backend>(
    store: &B,
    signer: &Arc<Signer>,
    now: u64,
) -> Result<(String, u64), CoreError> {
    let (mut ids, machines): (Vec<Id>, Vec<Id>) = store
        .scan(move |tx| {
            let mut ids = Vec::new();
            tx.licenses_after(None, &mut |l| {
                if l.status == Status::Revoked
                    && let Some(id) = crate::core::id_bytes(&l.id)
                {
                    ids.push(id);
                }
                true
            })?;
            Ok((ids, crate::core::deactivations::revoked_machines(tx, now)?))
        })
        .await?;
    ids.sort_unstable();
    ids.dedup();
    let mut h = Sha256::new();
    h.update(ids.concat());
    // Separated, so that no id can move from one list to the other unseen; nothing is
    // added without machines, so a list signed before they were listed stays current.
    if !machines.is_empty() {
        h.update(b"machines");
        h.update(machines.concat());
    }
    let digest = hex(&h.finalize());
    let keys = signer.keys();
    let kid = hex(keys.key.kid());
    let cached = store.read(|tx| tx.meta(META)).await?;
    if let Some(s) = stored(cached)
        && s.current(&digest, &kid, now)
    {
        return Ok((s.pem, s.sequence));
    }
    store
        .write(move |tx| {
            let previous = stored(tx.meta(META)?);
            // Another process may have signed this very list since the read above.
            if let Some(s) = &previous
                && s.current(&digest, &kid, now)
            {
                return Ok((s.pem.clone(), s.sequence));
            }
            let sequence = previous.map_or(1, |s| s.sequence.saturating_add(1));
            let list = RevocationList {
                kid: *keys.key.kid(),
                issuer: ISSUER.into(),
                issued_at: now,
                sequence,
                next_update: now.saturating_add(NEXT_UPDATE),
                licenses: ids.clone(),
                machines: machines.clone(),
            };
            let bytes = licet::sign_revocations(&list, &keys.key).map_err(|e| {
                tracing::error!(error = %e, "signing the revocation list");
                CoreError::Internal
            })?;
            let pem = licet_verifier::revocation::to_pem(&bytes);
            let s = Stored {
                sequence,
                digest: digest.clone(),
                kid: kid.clone(),
                next_update: list.next_update,
                pem: pem.clone(),
            };
            let json = serde_json::to_vec(&s).map_err(|_| CoreError::Internal)?;
            tx.put_meta(META, &json)?;
            Ok((pem, sequence))
        })
        .await
}
