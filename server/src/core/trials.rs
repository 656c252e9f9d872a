//! Keyless trials: a product that names a trial policy gives any machine that asks a trial
//! license of its own, bound to that machine, once per fingerprint and product, for ever
//! (`docs/policies.md`, "A 30-day trial").
//!
//! The trial is an ordinary license made from the product's trial policy (so every rule
//! of licenses applies to it, and the admin API shows, suspends, revokes it like any
//! other), with the machine limit fixed at one, and the machine that asked activated on
//! it in the same transaction. What makes it "once, ever" is the record of the trial
//! under (product, fingerprint), written in that same transaction and checked first in
//! it (`ReadTx::trial` holds the pair in a write): a second request, however close, finds
//! the first's trial and is answered with it, never with a fresh one; an expired trial
//! answers `KEY_EXPIRED`.

use serde_json::json;

use licet_verifier::hex;

use crate::core::admin::{NewLicense, new_license, still_valid};
use crate::core::client::{Activate, MachineGrant, activate, machine_token, refused};
use crate::core::{CoreError, WithSupport};
use crate::model::{AuditEvent, Machine, Overrides, Terms, Trial};
use crate::state::Signer;
use crate::storage::Backend;

/// The license type a trial policy must have.
pub const TRIAL_TYPE: &str = "trial";

/// Whether the terms of policy `name` can make trials: type `trial` and a duration (a
/// trial that never ends is a free license). The one check, for the product's setting,
/// a change of the policy, and each trial made.
///
/// # Errors
/// `BAD_REQUEST` naming `trial_policy` and the term to fix.
pub fn check_terms(name: &str, t: &Terms) -> Result<(), CoreError> {
    if t.license_type.as_deref() != Some(TRIAL_TYPE) {
        return Err(CoreError::BadRequest(format!(
            "trial_policy: policy '{name}' must have type \"{TRIAL_TYPE}\"; its type is {}",
            t.license_type
                .as_deref()
                .map_or_else(|| "none".to_owned(), |ty| format!("\"{ty}\""))
        )));
    }
    if t.duration.is_none() {
        return Err(CoreError::BadRequest(format!(
            "trial_policy: policy '{name}' must have a duration (how long a trial lasts); it has none (perpetual)"
        )));
    }
    Ok(())
}

/// A trial answered.
#[derive(Debug, Clone)]
pub struct TrialGrant {
    /// The machine token issued on the trial license (whose key is `grant.license.key`).
    pub grant: MachineGrant,
    /// Whether this request made the trial (false: the fingerprint had it already).
    pub new: bool,
}

/// The audit action of the trial route's refusals.
const ACTION: &str = "trial";

/// Gives the machine `fingerprint` its trial of `product`: a new trial license with this
/// machine activated on it, or, when the fingerprint had its trial already, that same
/// license (a fresh machine token while it is usable, its refusal once it is not).
///
/// # Errors
/// `NOT_FOUND` (no such product), `TRIALS_NOT_OFFERED`, and for a trial given before the
/// refusals of [`activate`] (`KEY_EXPIRED`, `KEY_REVOKED` also when its license was
/// deleted, …), each audited; storage errors.
pub async fn start_trial<B: Backend>(
    store: &B,
    signer: &Signer,
    product: String,
    fingerprint: [u8; 32],
    now: u64,
) -> Result<TrialGrant, WithSupport> {
    let fp = fingerprint;
    let refuse = |e: CoreError, support: Option<String>| {
        refused(
            store,
            now,
            ACTION,
            None,
            &e,
            json!({"product": product, "fingerprint": hex(&fp)}),
        );
        e.with_support(support)
    };
    crate::core::admin::check_product_name(&product).map_err(|e| refuse(e, None))?;
    let name = product.clone();
    let (found, given, policy) = store
        .read(move |tx| {
            let Some(p) = tx.product(&name)? else {
                return Ok((None, None, None));
            };
            let given = tx.trial(&name, &fp)?;
            let policy = match (&given, &p.trial_policy) {
                (None, Some(t)) => tx.policy(&name, t)?,
                _ => None,
            };
            Ok((Some(p), given, policy))
        })
        .await
        .map_err(|e| e.with_support(None))?;
    let Some(p) = found else {
        return Err(refuse(
            CoreError::NotFound(format!("no product '{product}'")),
            None,
        ));
    };
    if let Some(t) = given {
        return again(store, signer, t, fp, now).await;
    }
    let Some(trial_policy) = p.trial_policy.clone() else {
        return Err(refuse(
            CoreError::TrialsNotOffered {
                product: product.clone(),
            },
            p.support_message,
        ));
    };
    // Deleting the trial policy and making it unfit for trials are both refused while the
    // product names it, so either is a damaged database.
    let Some(policy) = policy else {
        tracing::error!(product = %product, policy = %trial_policy, "a product's trial policy is gone");
        return Err(CoreError::Internal.with_support(None));
    };
    if let Err(e) = check_terms(&trial_policy, &policy.terms) {
        tracing::error!(product = %product, error = %e, "a product's trial policy cannot make trials");
        return Err(CoreError::Internal.with_support(None));
    }
    let support = p.support_message.clone();
    let req = NewLicense {
        product: product.clone(),
        policy: Some(trial_policy.clone()),
        // Bound to the one machine whatever the policy allows, and a later change of the
        // policy's machine limit does not unbind it: a trial is one machine's.
        overrides: Overrides {
            max_machines: Some(Some(1)),
            ..Overrides::default()
        },
        ..NewLicense::default()
    };
    // Signed before the write (the slow part; a request that finds a trial in the write
    // throws it away).
    let (l, hash) =
        new_license(signer, req, Some(&policy.terms), now).map_err(|e| e.with_support(None))?;
    let machine_id = licet::new_id().map_err(|_| CoreError::Internal.with_support(None))?;
    let m = Machine {
        id: hex(&machine_id),
        license_id: l.id.clone(),
        fingerprint: hex(&fp),
        name: None,
        platform: None,
        user: None,
        activated_at: now,
        last_check_in: now,
    };
    let made = store
        .write(move |tx| {
            // First: in a write this holds the pair, so concurrent requests queue here.
            if let Some(t) = tx.trial(&product, &fp)? {
                return Ok(Err(t));
            }
            if tx.product(&product)?.and_then(|p| p.trial_policy).as_deref()
                != Some(trial_policy.as_str())
            {
                return Err(CoreError::Conflict(format!(
                    "product '{product}' changed its trials while this one was made; nothing was created: try again"
                )));
            }
            still_valid(tx, &l, Some(&policy))?;
            tx.insert_license(&l, &hash)?;
            tx.append_audit(AuditEvent::client(
                now,
                "license.create",
                Some(&l.id),
                json!({"product": l.product, "customer": l.customer, "policy": l.policy, "overrides": l.overrides.fields(), "trial": true, "fingerprint": m.fingerprint}),
            ))?;
            tx.put_trial(&Trial {
                product: product.clone(),
                fingerprint: m.fingerprint.clone(),
                license_id: l.id.clone(),
                created_at: now,
            })?;
            tx.put_machine(&m)?;
            tx.append_audit(AuditEvent::client(
                now,
                "machine.activate",
                Some(&l.id),
                json!({"machine_id": m.id, "fingerprint": m.fingerprint, "name": m.name, "offline": false, "trial": true}),
            ))?;
            Ok(Ok((l.clone(), m.clone())))
        })
        .await
        .map_err(|e| e.with_support(support))?;
    match made {
        Ok((license, machine)) => {
            let (token, check_in_before) =
                machine_token(signer, &license, &machine, now).map_err(|e| e.with_support(None))?;
            Ok(TrialGrant {
                grant: MachineGrant {
                    license,
                    machine,
                    token,
                    check_in_before,
                    created: true,
                    remaining: Some(0),
                    grace: None,
                },
                new: true,
            })
        }
        Err(t) => again(store, signer, t, fp, now).await,
    }
}

/// A trial asked for again: its license, activated on this machine as any license is
/// (a fresh token for the machine already there; again after a deactivation), or refused
/// as any license is (`KEY_EXPIRED` once it ends).
async fn again<B: Backend>(
    store: &B,
    signer: &Signer,
    t: Trial,
    fingerprint: [u8; 32],
    now: u64,
) -> Result<TrialGrant, WithSupport> {
    let id = crate::core::id_bytes(&t.license_id)
        .ok_or_else(|| CoreError::Internal.with_support(None))?;
    let license = store
        .read(move |tx| tx.license(&id))
        .await
        .map_err(|e| e.with_support(None))?;
    // Its license deleted by an admin: the fingerprint had its trial, and it is withdrawn.
    let Some(license) = license else {
        let e = CoreError::KeyRevoked;
        refused(
            store,
            now,
            ACTION,
            Some(&t.license_id),
            &e,
            json!({"product": t.product, "fingerprint": t.fingerprint, "deleted": true}),
        );
        return Err(e.with_support(None));
    };
    let grant = activate(
        store,
        signer,
        Activate {
            license_key: license.key,
            fingerprint,
            name: None,
            platform: None,
            user: None,
            nonce: None,
        },
        now,
    )
    .await?;
    Ok(TrialGrant { grant, new: false })
}
