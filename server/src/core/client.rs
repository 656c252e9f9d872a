//! The client rules of machines: validate, activate, check in, deactivate.

use serde_json::{Value, json};

use licet::Builder;
use licet_verifier::{Expectations, Kind, hex, unhex};

use crate::core::{CoreError, Grace, WithSupport, deactivations, machine_refusal};
use crate::model::{AuditEvent, License, Machine};
use crate::state::{Signer, key_bytes, key_hash, license_claims};
use crate::storage::{Backend, ReadTx, WriteTx};

/// A license found by its key, with its product's support message.
#[derive(Debug, Clone)]
pub struct Found {
    /// The license.
    pub license: License,
    /// Its id.
    pub id: [u8; 16],
    /// The product's support message.
    pub support: Option<String>,
}

/// The license a key names, in `tx`, by the hash of the key's exact bytes (no signature
/// check: the server matches what it issued); `None` for a key it did not issue.
///
/// # Errors
/// Storage errors.
pub fn find_in(tx: &dyn ReadTx, key: &str) -> Result<Option<Found>, CoreError> {
    let Some(license) = key_bytes(key)
        .ok()
        .map(|b| tx.license_by_key_hash(&key_hash(&b)))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let id = crate::core::id_bytes(&license.id).ok_or(CoreError::Internal)?;
    let support = tx
        .product(&license.product)?
        .and_then(|p| p.support_message);
    Ok(Some(Found {
        license,
        id,
        support,
    }))
}

/// Audits a refused client request (without waiting for the disk).
pub fn refused<B: Backend>(
    store: &B,
    now: u64,
    action: &str,
    license_id: Option<&str>,
    e: &CoreError,
    detail: Value,
) {
    store.audit_later(AuditEvent::client(
        now,
        "request.refused",
        license_id,
        json!({"request": action, "code": e.code(), "detail": detail}),
    ));
}

/// The refusal of a key the server did not issue: `KEY_INVALID`, audited.
fn unknown_key<B: Backend>(store: &B, now: u64, action: &str) -> WithSupport {
    refused(store, now, action, None, &CoreError::KeyInvalid, json!({}));
    CoreError::KeyInvalid.with_support(None)
}

/// Finds the license a key names, in a snapshot of its own.
///
/// # Errors
/// `KEY_INVALID` (audited) for a key the server did not issue; storage errors.
pub async fn find_license<B: Backend>(
    store: &B,
    key: &str,
    action: &str,
    now: u64,
) -> Result<Found, WithSupport> {
    let key = key.to_owned();
    let f = store
        .read(move |tx| find_in(tx, &key))
        .await
        .map_err(|e| e.with_support(None))?;
    f.ok_or_else(|| unknown_key(store, now, action))
}

/// The current license inside a write, refused (and audited) when a floating seat cannot
/// be used ([`crate::core::refusal`]).
///
/// # Errors
/// `KEY_INVALID` when it is gone; the refusal of its state at `now`.
pub fn usable_license(
    tx: &mut dyn WriteTx,
    id: &[u8; 16],
    now: u64,
    action: &str,
) -> Result<License, CoreError> {
    usable(tx, id, now, action, crate::core::refusal)
}

/// The current license inside a write, refused (and audited) when a machine cannot use
/// it: as [`usable_license`], but usable within its grace period ([`machine_refusal`]).
///
/// # Errors
/// `KEY_INVALID` when it is gone; the refusal of its state at `now`.
fn usable_for_machine(
    tx: &mut dyn WriteTx,
    id: &[u8; 16],
    now: u64,
    action: &str,
) -> Result<License, CoreError> {
    usable(tx, id, now, action, machine_refusal)
}

fn usable(
    tx: &mut dyn WriteTx,
    id: &[u8; 16],
    now: u64,
    action: &str,
    rule: fn(&License, u64) -> Option<CoreError>,
) -> Result<License, CoreError> {
    let l = tx.license(id)?.ok_or(CoreError::KeyInvalid)?;
    if let Some(e) = rule(&l, now) {
        refused_in(tx, &l, action, &e, now)?;
        return Err(e);
    }
    Ok(l)
}

/// Audits a refusal inside the write (committed with it), with when the request is
/// possible again for the refusals that know.
pub(crate) fn refused_in(
    tx: &mut dyn WriteTx,
    l: &License,
    action: &str,
    e: &CoreError,
    now: u64,
) -> Result<(), CoreError> {
    let mut detail = json!({"request": action, "code": e.code()});
    if let Some(at) = e.retry_at() {
        detail["retry_at"] = json!(at);
    }
    tx.append_audit(AuditEvent::client(
        now,
        "request.refused",
        Some(&l.id),
        detail,
    ))
}

/// The grace warning for machine `m` of `l` (`None`: a new machine) at `now`, or its
/// refusal (`CHECK_IN_MISSED`), audited, inside the write.
///
/// # Errors
/// `CHECK_IN_MISSED`; storage errors.
fn grace_in(
    tx: &mut dyn WriteTx,
    l: &License,
    m: Option<&Machine>,
    action: &str,
    now: u64,
) -> Result<Option<Grace>, CoreError> {
    match Grace::of(l, m, now) {
        Err(e) => {
            refused_in(tx, l, action, &e, now)?;
            Err(e)
        }
        ok => ok,
    }
}

/// A license's online state, as `validate` sees it.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The license.
    pub license: License,
    /// Why it is not valid now (a stable code), or `None` when it is.
    pub refusal: Option<&'static str>,
    /// The product's support message, when the license is not valid.
    pub support: Option<String>,
    /// Machines activated.
    pub machines_used: u64,
    /// Seats held now.
    pub leases_used: u64,
    /// The machine asked about: `Some(None)` when the fingerprint is not activated.
    pub machine: Option<Option<Machine>>,
    /// The grace period running, when the license is valid only by it.
    pub grace: Option<Grace>,
}

/// The license's online state: the license, its use, and whether (and why not) it is
/// valid at `now`, with the machine `fingerprint` names when given. One snapshot for all of
/// it: one consistent view.
///
/// # Errors
/// `KEY_INVALID` (audited) for an unknown key; storage errors.
pub async fn validate<B: Backend>(
    store: &B,
    key: &str,
    fingerprint: Option<[u8; 32]>,
    now: u64,
) -> Result<Validation, WithSupport> {
    let key = key.to_owned();
    let read = store
        .read(move |tx| {
            let Some(f) = find_in(tx, &key)? else {
                return Ok(None);
            };
            let used = (|| {
                Ok::<_, CoreError>((
                    tx.machine_count_up_to(&f.id, u64::MAX)?,
                    tx.seats_held(&f.id, now)?,
                    fingerprint.map(|fp| tx.machine(&f.id, &fp)).transpose()?,
                ))
            })();
            Ok(Some((f, used)))
        })
        .await
        .map_err(|e| e.with_support(None))?;
    let Some((f, used)) = read else {
        return Err(unknown_key(store, now, "validate"));
    };
    let (machines_used, leases_used, machine) =
        used.map_err(|e| e.with_support(f.support.clone()))?;
    let mut code = machine_refusal(&f.license, now).map(|e| e.code());
    if code.is_none() && matches!(machine, Some(None)) {
        code = Some(CoreError::MachineNotFound.code());
    }
    let mut grace = None;
    if code.is_none() {
        match Grace::of(&f.license, machine.as_ref().and_then(Option::as_ref), now) {
            Ok(g) => grace = g,
            Err(e) => code = Some(e.code()),
        }
    }
    Ok(Validation {
        grace,
        support: code.and(f.support),
        license: f.license,
        refusal: code,
        machines_used,
        leases_used,
        machine,
    })
}

/// What `activate` asks for.
#[derive(Debug, Clone)]
pub struct Activate {
    /// The license key (text form).
    pub license_key: String,
    /// The machine's fingerprint hash.
    pub fingerprint: [u8; 32],
    /// A name for the machine.
    pub name: Option<String>,
    /// Its platform.
    pub platform: Option<String>,
    /// Its user.
    pub user: Option<String>,
    /// For an offline activation: the request's nonce, which becomes the machine's id, so
    /// that a replayed request finds the machine it made rather than making a second one.
    pub nonce: Option<[u8; 16]>,
}

/// A machine token issued.
#[derive(Debug, Clone)]
pub struct MachineGrant {
    /// The license, as the write saw it.
    pub license: License,
    /// The machine.
    pub machine: Machine,
    /// The machine token (text form).
    pub token: String,
    /// When the machine must check in by (the token's expiry).
    pub check_in_before: u64,
    /// Whether this request activated the machine (false: it was activated already).
    pub created: bool,
    /// Activations left, when the license has a limit.
    pub remaining: Option<u64>,
    /// The grace period the answer was given in, when one is running: a warning.
    pub grace: Option<Grace>,
}

/// Signs a machine token for `m` under `l`, valid until the next check-in deadline (never
/// past the license's expiry; within its grace period, never past the grace end, which the
/// token then carries: `docs/token-format.md` §7.6).
pub(crate) fn machine_token(
    signer: &Signer,
    l: &License,
    m: &Machine,
    now: u64,
) -> Result<(String, u64), CoreError> {
    let id = crate::core::id_bytes(&m.id).ok_or(CoreError::Internal)?;
    let fp = unhex::<32>(&m.fingerprint).ok_or(CoreError::Internal)?;
    machine_token_of(signer, l, id, fp, now)
}

fn machine_token_of(
    signer: &Signer,
    l: &License,
    id: [u8; 16],
    fp: [u8; 32],
    now: u64,
) -> Result<(String, u64), CoreError> {
    let claims = license_claims(l, now)?;
    let deadline = deactivations::token_deadline(l, now);
    let mut b = Builder::machine(&claims, id, fp, deadline).issued_at(now);
    if let Some(end) = crate::core::grace_end(l, now) {
        b = b.grace_ends_at(end);
    }
    Ok((signer.sign(b.claims().clone())?.text(), deadline))
}

/// Activates a machine on a license, within its machine limit; a fingerprint already
/// activated gets a fresh token and uses no further activation.
///
/// # Errors
/// `KEY_INVALID`, `KEY_EXPIRED`/`SUSPENDED`/`REVOKED`, `ACTIVATION_LIMIT_REACHED`,
/// `CHECK_IN_MISSED` for a machine already activated and past its grace (each audited),
/// storage errors.
pub async fn activate<B: Backend>(
    store: &B,
    signer: &Signer,
    req: Activate,
    now: u64,
) -> Result<MachineGrant, WithSupport> {
    let f = find_license(store, &req.license_key, "activate", now).await?;
    if let Some(e) = machine_refusal(&f.license, now) {
        refused(store, now, "activate", Some(&f.license.id), &e, json!({}));
        return Err(e.with_support(f.support));
    }
    let (id, fp) = (f.id, req.fingerprint);
    let new_id = match req.nonce {
        Some(nonce) => nonce,
        None => licet::new_id().map_err(|_| CoreError::Internal.with_support(None))?,
    };
    let offline = req.nonce.is_some();
    let (name, platform, user) = (req.name, req.platform, req.user);
    // Signed before the write, from the license as the snapshot has it, so that the
    // answers of a whole commit are not held up behind each other's signatures after it
    // (+5 % activations/s, p99 -12 % at 64 connections, docs/benchmarks.md "Server load").
    // Used only when the write saw the very same license and made this new machine;
    // otherwise the token is signed again from what the write saw.
    let presigned =
        machine_token_of(signer, &f.license, new_id, fp, now).map_err(|e| e.with_support(None))?;
    let snapshot_license = f.license.clone();
    let (l, m, created, used, grace) = store
        .write(move |tx| {
            let l = usable_for_machine(tx, &id, now, "activate")?;
            // Counted only up to the limit, and not at all without one: the answer needs
            // no more, and a site license's machines would otherwise make every
            // activation (in the writer, holding up every other write) slower than the last.
            let used = match l.max_machines {
                Some(max) => tx.machine_count_up_to(&id, max)?,
                None => 0,
            };
            // A machine already activated gets a fresh token as a check-in does, and so
            // answers to its check-in deadline as a check-in does.
            if let Some(m) = tx.machine(&id, &fp)? {
                let grace = grace_in(tx, &l, Some(&m), "activate", now)?;
                return Ok((l, m, false, used, grace));
            }
            // An offline request's nonce names the machine it makes: the same nonce with
            // another fingerprint is a request edited (and its digest made again) to
            // activate a second machine under one request. Only offline activations look,
            // so that online ones do not read every machine of the license.
            // A request whose machine was deactivated since names a revoked id: refused too.
            if offline
                && (tx.machines(&id)?.iter().any(|m| m.id == hex(&new_id))
                    || deactivations::was_deactivated(tx, &id, &hex(&new_id))?)
            {
                tx.append_audit(AuditEvent::client(
                    now,
                    "request.refused",
                    Some(&l.id),
                    json!({"request": "offline.activate", "code": "NONCE_REUSED", "fingerprint": hex(&fp)}),
                ))?;
                return Err(CoreError::NonceReused);
            }
            if let Some(max) = l.max_machines
                && used >= max
            {
                tx.append_audit(AuditEvent::client(
                    now,
                    "request.refused",
                    Some(&l.id),
                    json!({"request": "activate", "code": "ACTIVATION_LIMIT_REACHED", "fingerprint": hex(&fp)}),
                ))?;
                return Err(CoreError::ActivationLimitReached { max });
            }
            deactivations::check_cooldown(tx, &l, &id, used, now)?;
            let m = Machine {
                id: hex(&new_id),
                license_id: l.id.clone(),
                fingerprint: hex(&fp),
                name: name.clone(),
                platform: platform.clone(),
                user: user.clone(),
                activated_at: now,
                last_check_in: now,
            };
            tx.put_machine(&m)?;
            tx.append_audit(AuditEvent::client(
                now,
                "machine.activate",
                Some(&l.id),
                json!({"machine_id": m.id, "fingerprint": m.fingerprint, "name": m.name, "offline": offline}),
            ))?;
            let grace = Grace::of(&l, None, now)?;
            Ok((l, m, true, used + 1, grace))
        })
        .await
        .map_err(|e| e.with_support(f.support.clone()))?;
    let (token, check_in_before) = if created && l == snapshot_license {
        presigned
    } else {
        machine_token(signer, &l, &m, now).map_err(|e| e.with_support(None))?
    };
    Ok(MachineGrant {
        remaining: l.max_machines.map(|max| max.saturating_sub(used)),
        license: l,
        machine: m,
        token,
        check_in_before,
        created,
        grace,
    })
}

/// How a check-in or deactivation names its machine.
#[derive(Debug, Clone)]
pub enum MachineRef {
    /// By the machine token it holds (its signature is checked; its expiry is not: a
    /// machine whose deadline passed must still be able to check in), and, when given,
    /// the fingerprint it must match.
    Token {
        /// The machine token (text form).
        token: String,
        /// The fingerprint the caller gave too.
        fingerprint: Option<[u8; 32]>,
    },
    /// By license key and fingerprint.
    Key {
        /// The license key.
        license_key: String,
        /// The fingerprint.
        fingerprint: [u8; 32],
    },
}

/// The license and fingerprint a [`MachineRef`] names.
async fn machine_of<B: Backend>(
    store: &B,
    signer: &Signer,
    r: MachineRef,
    action: &str,
    now: u64,
) -> Result<(Found, [u8; 32]), WithSupport> {
    let (token, given_fp) = match r {
        MachineRef::Key {
            license_key,
            fingerprint,
        } => {
            return Ok((
                find_license(store, &license_key, action, now).await?,
                fingerprint,
            ));
        }
        MachineRef::Token { token, fingerprint } => (token, fingerprint),
    };
    let claims = licet_verifier::decode_unverified(&token)
        .map_err(|_| {
            CoreError::BadRequest("machine_token is not a licet machine token".into())
                .with_support(None)
        })?
        .claims;
    let verified = signer
        .keys()
        .keyring
        .verify(
            &token,
            &Expectations::new(Kind::Machine, &claims.product, claims.issued_at),
        )
        .map_err(|e| {
            CoreError::BadRequest(format!("machine_token is not valid: {} ({})", e, e.code()))
                .with_support(None)
        })?;
    let licet::KindClaims::Machine {
        license_id,
        fingerprint,
        ..
    } = verified.claims.kind
    else {
        return Err(
            CoreError::BadRequest("machine_token is not a machine token".into()).with_support(None),
        );
    };
    if given_fp.is_some_and(|g| g != fingerprint) {
        return Err(CoreError::FingerprintMismatch.with_support(None));
    }
    let found = store
        .read(move |tx| {
            let Some(license) = tx.license(&license_id)? else {
                return Ok(None);
            };
            let support = tx
                .product(&license.product)?
                .and_then(|p| p.support_message);
            Ok(Some(Found {
                license,
                id: license_id,
                support,
            }))
        })
        .await
        .map_err(|e| e.with_support(None))?
        .ok_or(CoreError::KeyInvalid.with_support(None))?;
    Ok((found, fingerprint))
}

/// A fresh machine token with a new deadline; refused once the license is suspended,
/// revoked or expired (past its grace period), or, under a license with a grace period,
/// once the machine is past the grace after its check-in deadline.
///
/// # Errors
/// The license's refusal (audited), `CHECK_IN_MISSED` (audited), `MACHINE_NOT_FOUND`, a
/// bad machine token, storage errors.
pub async fn check_in<B: Backend>(
    store: &B,
    signer: &Signer,
    r: MachineRef,
    now: u64,
) -> Result<MachineGrant, WithSupport> {
    let (f, fp) = machine_of(store, signer, r, "check-in", now).await?;
    let id = f.id;
    let (l, m, grace) = store
        .write(move |tx| {
            let l = usable_for_machine(tx, &id, now, "check-in")?;
            let mut m = tx.machine(&id, &fp)?.ok_or(CoreError::MachineNotFound)?;
            // Judged by the deadline the machine missed, before this check-in moves it.
            let grace = grace_in(tx, &l, Some(&m), "check-in", now)?;
            m.last_check_in = now;
            tx.put_machine(&m)?;
            tx.append_audit(AuditEvent::client(
                now,
                "machine.check_in",
                Some(&l.id),
                json!({"machine_id": m.id}),
            ))?;
            Ok((l, m, grace))
        })
        .await
        .map_err(|e| e.with_support(f.support.clone()))?;
    let (token, check_in_before) =
        machine_token(signer, &l, &m, now).map_err(|e| e.with_support(None))?;
    Ok(MachineGrant {
        remaining: None,
        license: l,
        machine: m,
        token,
        check_in_before,
        created: false,
        grace,
    })
}

/// Frees a machine's activation, within the license's deactivation limit; the machine's id
/// is revoked until its last token expires (`core::deactivations`).
///
/// # Errors
/// `MACHINE_NOT_FOUND`, `DEACTIVATION_LIMIT_REACHED` (audited, nothing changed), a bad
/// machine token, storage errors.
pub async fn deactivate<B: Backend>(
    store: &B,
    signer: &Signer,
    r: MachineRef,
    now: u64,
) -> Result<Machine, WithSupport> {
    let (f, fp) = machine_of(store, signer, r, "deactivate", now).await?;
    let id = f.id;
    store
        .write(move |tx| {
            // The license first: on PostgreSQL its row lock queues this job behind every
            // other of the license, so the limit counts every committed deactivation.
            let l = tx.license(&id)?.ok_or(CoreError::KeyInvalid)?;
            let m = tx.machine(&id, &fp)?.ok_or(CoreError::MachineNotFound)?;
            deactivations::admit(tx, &l, &id, "deactivate", now)?;
            tx.remove_machine(&id, &fp)?;
            deactivations::record(tx, &l, &id, &m, now, false)?;
            tx.append_audit(AuditEvent::client(
                now,
                "machine.deactivate",
                Some(&m.license_id),
                json!({"machine_id": m.id}),
            ))?;
            Ok(m)
        })
        .await
        .map_err(|e| e.with_support(f.support.clone()))
}
/// Activates the machine of an offline activation request (the file `licet offline
/// request` writes): the request must be whole and unedited (its digest), then it is an
/// activation like any other, through [`activate`] and so the same license checks and
/// machine limit, with the request's nonce as the machine's id. A replayed request gets
/// the machine it made (a fresh token, no further activation).
///
/// # Errors
/// `REQUEST_INVALID`, `REQUEST_TAMPERED`, `NONCE_REUSED`, and those of [`activate`].
pub async fn activate_offline<B: Backend>(
    store: &B,
    signer: &Signer,
    request: &str,
    now: u64,
) -> Result<MachineGrant, WithSupport> {
    let invalid = |e: licet::Error| {
        let e = match e {
            licet::Error::RequestTampered => CoreError::RequestTampered,
            other => CoreError::RequestInvalid(other.to_string()),
        };
        refused(store, now, "offline.activate", None, &e, json!({}));
        e.with_support(None)
    };
    let r = licet::offline::Request::parse(request).map_err(invalid)?;
    let fingerprint = r.fingerprint_bytes().map_err(invalid)?;
    let nonce = r.nonce_bytes().map_err(invalid)?;
    activate(
        store,
        signer,
        Activate {
            license_key: r.license,
            fingerprint,
            name: Some(r.name),
            platform: Some(r.platform),
            user: None,
            nonce: Some(nonce),
        },
        now,
    )
    .await
}

/// The meta entry recording answered offline deactivation requests: a JSON object from
/// each request's nonce (hex) to when it was answered. Offline deactivations are rare
/// (a person carries a file), so one entry rewritten each time stays small.
pub const OFFLINE_DEACTIVATIONS: &str = "offline_deactivations";

/// The issuer (`iss`) of the receipts this server signs.
pub const RECEIPT_ISSUER: &str = "licet-server";

/// An offline deactivation done: the signed receipt and what it says.
#[derive(Debug, Clone)]
pub struct Released {
    /// The receipt's PEM file form (`docs/token-format.md` §13.3).
    pub receipt: String,
    /// The machine record that was removed.
    pub machine: Machine,
    /// When.
    pub released_at: u64,
}

/// Frees the activation a deactivation request (the file `licet offline deactivate`
/// wrote on the retired machine) presents, and signs a receipt of it.
///
/// The request must be whole and unedited (its digest); its license key must be one this
/// server issued; its machine token must carry this server's signature (any published
/// key, whatever the token's age: the token of an air-gapped machine may have expired
/// long ago, and it is presented to be given up, not to be used) and name a machine of
/// that license, still activated under that very activation (a machine deactivated and
/// activated again since has a new activation id, which an old token cannot free). Each
/// request is answered once: a replay changes nothing.
///
/// # Errors
/// `REQUEST_INVALID`, `REQUEST_TAMPERED`, `KEY_INVALID`, `MACHINE_LICENSE_MISMATCH`,
/// `REQUEST_REPLAYED`, `MACHINE_NOT_FOUND`, `DEACTIVATION_LIMIT_REACHED` (each audited,
/// nothing changed), storage errors.
pub async fn deactivate_offline<B: Backend>(
    store: &B,
    signer: &Signer,
    request: &str,
    now: u64,
) -> Result<Released, WithSupport> {
    const ACTION: &str = "offline.deactivate";
    let refuse = |e: CoreError, license: Option<&str>| {
        refused(store, now, ACTION, license, &e, json!({}));
        e.with_support(None)
    };
    let invalid = |e: licet::Error| {
        let e = match e {
            licet::Error::RequestTampered => CoreError::RequestTampered,
            other => CoreError::RequestInvalid(other.to_string()),
        };
        refuse(e, None)
    };
    let d = licet::offline::Deactivation::parse(request).map_err(invalid)?;
    let nonce = hex(&d.nonce_bytes().map_err(invalid)?);
    let digest = d.digest_bytes().map_err(invalid)?;
    let f = find_license(store, &d.license, ACTION, now).await?;
    let bad_token = |why: String| {
        refuse(
            CoreError::RequestInvalid(format!(
                "the machine token in the request is not one this server signed: {why}"
            )),
            Some(&f.license.id),
        )
    };
    let claims = licet_verifier::decode_unverified(&d.machine_token)
        .map_err(|e| bad_token(e.to_string()))?
        .claims;
    let verified = signer
        .keys()
        .keyring
        .verify(
            &d.machine_token,
            &Expectations::new(Kind::Machine, &claims.product, claims.issued_at),
        )
        .map_err(|e| bad_token(format!("{e} ({})", e.code())))?;
    let licet::KindClaims::Machine {
        license_id,
        fingerprint,
        ..
    } = verified.claims.kind
    else {
        return Err(bad_token("it is not a machine token".into()));
    };
    if license_id != f.id {
        return Err(refuse(
            CoreError::MachineLicenseMismatch,
            Some(&f.license.id),
        ));
    }
    let machine_id = verified.claims.id;
    let receipt = licet_verifier::Receipt {
        kid: *signer.keys().key.kid(),
        issuer: RECEIPT_ISSUER.into(),
        issued_at: now,
        license_id,
        machine_id,
        fingerprint,
        request_digest: digest,
    };
    let receipt = licet::sign_receipt(&receipt, &signer.keys().key)
        .map(|b| licet_verifier::receipt::to_pem(&b))
        .map_err(|e| {
            tracing::error!(error = %e, "signing a receipt");
            CoreError::Internal.with_support(None)
        })?;
    let machine_hex = hex(&machine_id);
    let license_hex = f.license.id.clone();
    let answered = store
        .write(move |tx| {
            let l = tx.license(&license_id)?.ok_or(CoreError::KeyInvalid)?;
            // A record that does not parse is an error, never an empty record: read as
            // empty, it would answer every earlier request again.
            let mut seen: serde_json::Map<String, Value> = match tx.meta(OFFLINE_DEACTIVATIONS)? {
                None => serde_json::Map::new(),
                Some(b) => serde_json::from_slice(&b).map_err(|e| {
                    tracing::error!(error = %e, "the record of answered offline deactivations does not parse");
                    CoreError::Internal
                })?,
            };
            if let Some(at) = seen.get(&nonce).and_then(Value::as_u64) {
                return Err(CoreError::RequestReplayed { at });
            }
            let m = tx
                .machine(&license_id, &fingerprint)?
                .filter(|m| m.id == machine_hex)
                .ok_or(CoreError::MachineNotFound)?;
            deactivations::admit(tx, &l, &license_id, ACTION, now)?;
            tx.remove_machine(&license_id, &fingerprint)?;
            deactivations::record(tx, &l, &license_id, &m, now, false)?;
            seen.insert(nonce.clone(), json!(now));
            let bytes = serde_json::to_vec(&seen).map_err(|_| CoreError::Internal)?;
            tx.put_meta(OFFLINE_DEACTIVATIONS, &bytes)?;
            tx.append_audit(AuditEvent::client(
                now,
                "machine.offline_deactivate",
                Some(&m.license_id),
                json!({"machine_id": m.id, "nonce": nonce}),
            ))?;
            Ok(m)
        })
        .await;
    match answered {
        Ok(machine) => Ok(Released {
            receipt,
            machine,
            released_at: now,
        }),
        Err(e @ (CoreError::RequestReplayed { .. } | CoreError::MachineNotFound)) => {
            Err(refuse(e, Some(&license_hex)))
        }
        Err(e) => Err(e.with_support(f.support)),
    }
}
