//! Limits on cycling a license through machines (`docs/policies.md`, "Deactivation limits
//! and cooldown"): at most `deactivation_limit` deactivations per rolling
//! `deactivation_period`, an `activation_cooldown` before a freed activation can be used
//! again, and the ids of deactivated machines revoked until their last token expires.
//!
//! Every deactivation is recorded (`crate::model::Deactivation`) in the same write
//! transaction that frees the machine, and the rules read those records inside the write
//! that they decide: the one writer on redb, the license's row lock on PostgreSQL (every
//! caller reads the license first, `FOR UPDATE`), so each limit is exact under any number
//! of concurrent requests, as the machine limit is.
//!
//! Why the vendor's admin is not limited: the limits stop a customer from sharing one
//! license among many machines; the vendor deactivating a machine for a customer (a
//! stolen laptop, a support case) is the way round them, so an admin's deactivation is
//! recorded (its machine is revoked like any other) but counts against neither limit.

use licet_verifier::Id;

use crate::core::CoreError;
use crate::model::{Deactivation, License, Machine};
use crate::storage::{ReadTx, WriteTx};

/// When the last machine token a machine of `l` could hold, issued at or before `now`,
/// expires: the latest check-in deadline a token signed now would carry (a token is valid
/// until its deadline, never past the license's expiry, or within the license's grace
/// period never past its end). The one computation the machine tokens and the revocation
/// of a deactivated machine share.
pub fn token_deadline(l: &License, now: u64) -> u64 {
    // Capped for records stored before the admin API bounded the interval.
    let interval = l
        .check_in_interval
        .min(crate::model::limits::CHECK_IN_INTERVAL);
    let deadline = now.saturating_add(interval);
    let end = crate::core::grace_end(l, now).or(l.expires_at);
    end.map_or(deadline, |e| deadline.min(e))
}

/// The deactivations of `kept` that count against the license's limits (the customer's,
/// not the vendor's) and happened after `since`, oldest first.
fn counted(kept: &[Deactivation], since: u64) -> Vec<u64> {
    kept.iter()
        .filter(|d| !d.by_admin && d.at > since)
        .map(|d| d.at)
        .collect()
}

/// Audits a refusal inside the write (committed with it) and answers it.
fn refuse(
    tx: &mut dyn WriteTx,
    l: &License,
    action: &str,
    e: CoreError,
    now: u64,
) -> Result<(), CoreError> {
    super::client::refused_in(tx, l, action, &e, now)?;
    Err(e)
}

/// Whether the customer may deactivate one more machine of `l` at `now`: refused, and
/// audited, once `deactivation_limit` deactivations fall within the last
/// `deactivation_period` seconds.
///
/// # Errors
/// `DEACTIVATION_LIMIT_REACHED` (nothing else changed), storage errors.
pub fn admit(
    tx: &mut dyn WriteTx,
    l: &License,
    id: &[u8; 16],
    action: &str,
    now: u64,
) -> Result<(), CoreError> {
    let Some(limit) = l.deactivation_limit else {
        return Ok(());
    };
    let kept = tx.deactivations(Some(id))?;
    let recent = counted(&kept, now.saturating_sub(l.deactivation_period));
    let Some(over) = recent
        .len()
        .checked_sub(usize::try_from(limit).unwrap_or(usize::MAX))
    else {
        return Ok(());
    };
    // One more is possible once the oldest `over + 1` leave the window.
    let retry_at = recent
        .get(over)
        .map(|at| at.saturating_add(l.deactivation_period));
    refuse(
        tx,
        l,
        action,
        CoreError::DeactivationLimitReached {
            limit,
            period: l.deactivation_period,
            retry_at,
        },
        now,
    )
}

/// Whether a new machine may take one of the `max - used` free activations of `l` at
/// `now`: each deactivation within the last `activation_cooldown` seconds keeps one free
/// activation unusable, so an activation is refused while they are as many as the free
/// ones. A license without a machine limit or without a cooldown is not checked (and
/// reads nothing more).
///
/// # Errors
/// `ACTIVATION_COOLDOWN` (audited, nothing else changed), storage errors.
pub fn check_cooldown(
    tx: &mut dyn WriteTx,
    l: &License,
    id: &[u8; 16],
    used: u64,
    now: u64,
) -> Result<(), CoreError> {
    let (Some(max), cooldown @ 1..) = (l.max_machines, l.activation_cooldown) else {
        return Ok(());
    };
    let free = usize::try_from(max.saturating_sub(used)).unwrap_or(usize::MAX);
    let kept = tx.deactivations(Some(id))?;
    let cooling = counted(&kept, now.saturating_sub(cooldown));
    let Some(over) = cooling.len().checked_sub(free) else {
        return Ok(());
    };
    // Possible once the oldest `over + 1` of them have cooled down.
    let Some(at) = cooling.get(over) else {
        return Ok(());
    };
    refuse(
        tx,
        l,
        "activate",
        CoreError::ActivationCooldown {
            retry_at: at.saturating_add(cooldown),
        },
        now,
    )
}

/// Records the deactivation of `m` at `now` (`by_admin`: by the vendor's admin), and drops
/// the license's records that no longer matter: counted by neither limit under the
/// license's current terms, and past their last token's expiry.
///
/// # Errors
/// Storage errors.
pub fn record(
    tx: &mut dyn WriteTx,
    l: &License,
    id: &[u8; 16],
    m: &Machine,
    now: u64,
    by_admin: bool,
) -> Result<(), CoreError> {
    let horizon = match l.deactivation_limit {
        Some(_) => l.deactivation_period.max(l.activation_cooldown),
        None => l.activation_cooldown,
    };
    for old in tx.deactivations(Some(id))? {
        let counts = !old.by_admin && old.at.saturating_add(horizon) > now;
        if !counts && old.token_expires_at <= now {
            tx.remove_deactivation(&old)?;
        }
    }
    tx.put_deactivation(&Deactivation {
        license_id: l.id.clone(),
        machine_id: m.id.clone(),
        fingerprint: m.fingerprint.clone(),
        at: now,
        token_expires_at: token_deadline(l, now),
        by_admin,
    })
}

/// Whether the offline activation request whose nonce is `machine` already made a machine
/// of this license that was deactivated since (its id is revoked while its tokens last, so
/// it must never name a machine again).
///
/// # Errors
/// Storage errors.
pub fn was_deactivated(
    tx: &dyn ReadTx,
    license: &[u8; 16],
    machine: &str,
) -> Result<bool, CoreError> {
    Ok(tx
        .deactivations(Some(license))?
        .iter()
        .any(|d| d.machine_id == machine))
}

/// The ids of the deactivated machines whose last token is still valid at `now`: the
/// revoked activations of the signed revocation list, sorted, unique.
///
/// # Errors
/// Storage errors.
pub fn revoked_machines(tx: &dyn ReadTx, now: u64) -> Result<Vec<Id>, CoreError> {
    let mut ids: Vec<Id> = tx
        .deactivations(None)?
        .iter()
        .filter(|d| d.token_expires_at > now)
        .filter_map(|d| crate::core::id_bytes(&d.machine_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
