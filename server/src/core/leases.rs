//! Floating licenses (leases): obtain, renew, release, validate, and the admin's view.
//!
//! A lease is a short-lived signed token for one seat of a license. Seats held are those
//! of leases neither released nor expired: a seat whose lease expired is free at once (it
//! is not counted), so no background job is needed for correctness. Each renewal replaces
//! the lease's token; the server keeps the hash of the current one, so an older token is
//! refused online.

use serde_json::json;

use licet::Builder;
use licet_verifier::{Kind, hex};

use crate::core::client::{find_license, refused, usable_license};
use crate::core::id_bytes;
use crate::core::{CoreError, WithSupport, refusal};
use crate::model::{AuditEvent, Lease, License, RenewRetry};
use crate::state::{Signer, key_hash, license_claims};
use crate::storage::Backend;

/// The lease length a client gets: its `ttl`, else the license's default, capped by the
/// license's maximum and never past the license's expiry.
fn expiry(l: &License, ttl: Option<u64>, now: u64) -> Result<u64, CoreError> {
    if ttl == Some(0) {
        return Err(CoreError::BadRequest(
            "ttl must be at least 1 second".into(),
        ));
    }
    // Capped by the range too, for records stored before the admin API bounded it.
    let ttl = ttl
        .unwrap_or(l.lease_ttl)
        .min(l.lease_ttl_max)
        .min(crate::model::limits::LEASE_TTL_MAX);
    let exp = now.saturating_add(ttl);
    Ok(l.expires_at.map_or(exp, |e| exp.min(e)))
}

/// Signs a lease token.
fn sign_lease(
    signer: &Signer,
    l: &License,
    lease_id: [u8; 16],
    client_id: Option<&str>,
    now: u64,
    expires_at: u64,
) -> Result<licet::Token, CoreError> {
    let claims = license_claims(l, now)?;
    let mut b = Builder::lease(&claims, expires_at)
        .map_err(|_| CoreError::Internal)?
        .id(lease_id)
        .issued_at(now);
    if let Some(c) = client_id {
        b = b.client_id(c);
    }
    signer.sign(b.claims().clone())
}

/// What `obtain` asks for.
#[derive(Debug, Clone)]
pub struct Obtain {
    /// The license key (text form).
    pub license_key: String,
    /// The client's name for itself (1 to 128 bytes: the handler bounds it).
    pub client_id: Option<String>,
    /// The lease length asked for, seconds.
    pub ttl: Option<u64>,
}

/// A lease token issued (obtained or renewed).
#[derive(Debug, Clone)]
pub struct Grant {
    /// The lease token (text form).
    pub token: String,
    /// The lease as stored.
    pub lease: Lease,
}

/// A new lease when a seat of the license is free at `now`.
///
/// # Errors
/// `KEY_INVALID`, the license's refusal, `LEASE_LIMIT_REACHED` (each audited), a `ttl` of
/// 0, storage errors.
pub async fn obtain<B: Backend>(
    store: &B,
    signer: &Signer,
    req: Obtain,
    now: u64,
) -> Result<Grant, WithSupport> {
    let f = find_license(store, &req.license_key, "lease.obtain", now).await?;
    if let Some(e) = refusal(&f.license, now) {
        refused(
            store,
            now,
            "lease.obtain",
            Some(&f.license.id),
            &e,
            json!({}),
        );
        return Err(e.with_support(f.support));
    }
    let support = f.support.clone();
    let fail = move |e: CoreError| e.with_support(support.clone());
    let expires_at = expiry(&f.license, req.ttl, now).map_err(&fail)?;
    let lease_id = licet::new_id().map_err(|_| fail(CoreError::Internal))?;
    // Signed before the write, so that signing (1.5 ms with RSA) never holds the writer.
    let token = sign_lease(
        signer,
        &f.license,
        lease_id,
        req.client_id.as_deref(),
        now,
        expires_at,
    )
    .map_err(&fail)?;
    let token_sha256 = hex(&key_hash(token.bytes()));
    let id = f.id;
    let client_id = req.client_id;
    let lease = store
        .write(move |tx| {
            let l = usable_license(tx, &id, now, "lease.obtain")?;
            // Without a limit there is nothing to count (and the count would grow with
            // every seat held, in the writer).
            if let Some(max) = l.max_leases
                && tx.count_seats(&id, now)? >= max
            {
                tx.append_audit(AuditEvent::client(
                    now,
                    "request.refused",
                    Some(&l.id),
                    json!({"request": "lease.obtain", "code": "LEASE_LIMIT_REACHED", "client_id": client_id}),
                ))?;
                return Err(CoreError::LeaseLimitReached { max });
            }
            let lease = Lease {
                id: hex(&lease_id),
                license_id: l.id.clone(),
                client_id: client_id.clone(),
                created_at: now,
                expires_at,
                released_at: None,
                renewals: 0,
                token_sha256: token_sha256.clone(),
                retry: None,
            };
            tx.insert_lease(&lease)?;
            tx.append_audit(AuditEvent::client(
                now,
                "lease.obtain",
                Some(&l.id),
                json!({"lease_id": lease.id, "client_id": lease.client_id, "expires_at": expires_at}),
            ))?;
            Ok(lease)
        })
        .await
        .map_err(&fail)?;
    Ok(Grant {
        token: token.text(),
        lease,
    })
}

/// A presented lease token: its lease id, its hash, and its product's support message.
///
/// No signature is checked here: the token is identified by the SHA-256 of its exact bytes,
/// which [`live`] compares with the hash of the one current token the server issued for
/// that lease. A forged or altered token cannot match it, and the signature check it would
/// otherwise cost (tens of microseconds, milliseconds with RSA) is saved on every renewal.
struct Presented {
    lease_id: [u8; 16],
    sha256: String,
    support: Option<String>,
}

async fn presented<B: Backend>(store: &B, token: &str) -> Result<Presented, WithSupport> {
    let unverified = licet_verifier::decode_unverified(token)
        .ok()
        .filter(|t| t.claims.kind() == Kind::Lease)
        .ok_or_else(|| CoreError::LeaseInvalid.with_support(None))?;
    let product = unverified.claims.product.clone();
    let support = store
        .read(move |tx| Ok(tx.product(&product)?.and_then(|p| p.support_message)))
        .await
        .map_err(|e| e.with_support(None))?;
    Ok(Presented {
        lease_id: unverified.claims.id,
        sha256: hex(&key_hash(&unverified.bytes)),
        support,
    })
}

/// The lease's state for a request presenting `sha256`: the current token of a live lease,
/// or why not.
///
/// The token is matched before anything about the lease is told: a token that is not the
/// stored one (forged with a guessed or copied lease id, or replaced by a renewal) gets
/// `LEASE_INVALID` whether that lease is live, released, expired or unknown, so it learns
/// nothing about someone else's seat.
fn live(lease: Option<Lease>, sha256: &str, now: u64) -> Result<Lease, CoreError> {
    let lease = lease
        .filter(|l| licet::ct_eq(l.token_sha256.as_bytes(), sha256.as_bytes()))
        .ok_or(CoreError::LeaseInvalid)?;
    if lease.released_at.is_some() {
        return Err(CoreError::LeaseReleased);
    }
    if now >= lease.expires_at {
        return Err(CoreError::LeaseExpired);
    }
    Ok(lease)
}

/// What `renew` asks for.
#[derive(Debug, Clone)]
pub struct Renew {
    /// The current lease token.
    pub lease_token: String,
    /// The lease length asked for, seconds.
    pub ttl: Option<u64>,
    /// The client's id for this renewal (1 to 64 bytes). Repeating a renewal with the same
    /// id and the same old token returns the same new token instead of `LEASE_INVALID`, so
    /// a lost answer does not cost the seat.
    pub request_id: Option<String>,
}

/// While the lease is live, a new lease token and expiry; the old token is refused online
/// from then on, except by a repeat of the very renewal that replaced it (same
/// `request_id`), which gets the same answer again.
///
/// # Errors
/// `LEASE_INVALID`, `LEASE_RELEASED`, `LEASE_EXPIRED`, the license's refusal (audited), a
/// bad `request_id` or `ttl`, storage errors.
pub async fn renew<B: Backend>(
    store: &B,
    signer: &Signer,
    req: Renew,
    now: u64,
) -> Result<Grant, WithSupport> {
    let p = presented(store, &req.lease_token).await?;
    let support = p.support.clone();
    let fail = move |e: CoreError| e.with_support(support.clone());
    if req
        .request_id
        .as_ref()
        .is_some_and(|r| r.is_empty() || r.len() > 64)
    {
        return Err(fail(CoreError::BadRequest(
            "request_id must be 1 to 64 bytes".into(),
        )));
    }
    let lease_id = p.lease_id;
    let (stored, license) = store
        .read(move |tx| {
            let stored = tx.lease(&lease_id)?;
            let license = match &stored {
                Some(l) => tx.license(&id_bytes(&l.license_id).ok_or(CoreError::Internal)?)?,
                None => None,
            };
            Ok((stored, license))
        })
        .await
        .map_err(&fail)?;
    // A repeat of the renewal that replaced this token: the same answer again.
    if let (Some(rid), Some(l)) = (&req.request_id, &stored)
        && let Some(r) = &l.retry
        && l.released_at.is_none()
        && now < l.expires_at
        && licet::ct_eq(r.request_id.as_bytes(), rid.as_bytes())
        && licet::ct_eq(r.previous_sha256.as_bytes(), p.sha256.as_bytes())
        // Only a token that was replaced: renewing within the same second with the same TTL
        // signs identical bytes, and the current token must then renew for real.
        && !licet::ct_eq(l.token_sha256.as_bytes(), p.sha256.as_bytes())
    {
        return Ok(Grant {
            token: r.token.clone(),
            lease: l.clone(),
        });
    }
    let lease = live(stored, &p.sha256, now).map_err(&fail)?;
    let license_id = id_bytes(&lease.license_id)
        .ok_or(CoreError::Internal)
        .map_err(&fail)?;
    let license = license.ok_or(CoreError::LeaseInvalid).map_err(&fail)?;
    if let Some(e) = refusal(&license, now) {
        refused(
            store,
            now,
            "lease.renew",
            Some(&license.id),
            &e,
            json!({"lease_id": lease.id}),
        );
        return Err(fail(e));
    }
    let expires_at = expiry(&license, req.ttl, now).map_err(&fail)?;
    let token = sign_lease(
        signer,
        &license,
        p.lease_id,
        lease.client_id.as_deref(),
        now,
        expires_at,
    )
    .map_err(&fail)?;
    let new_sha = hex(&key_hash(token.bytes()));
    let old_sha = p.sha256;
    let token_text = token.text();
    let retry = req.request_id.map(|request_id| RenewRetry {
        request_id,
        previous_sha256: old_sha.clone(),
        token: token_text.clone(),
    });
    let lease = store
        .write(move |tx| {
            // Everything again, inside the write: a concurrent renewal or release wins or
            // loses here, never both.
            let mut lease = live(tx.lease(&lease_id)?, &old_sha, now)?;
            usable_license(tx, &license_id, now, "lease.renew")?;
            lease.expires_at = expires_at;
            lease.renewals += 1;
            lease.token_sha256 = new_sha.clone();
            lease.retry = retry.clone();
            tx.put_lease(&lease)?;
            tx.append_audit(AuditEvent::client(
                now,
                "lease.renew",
                Some(&lease.license_id),
                json!({"lease_id": lease.id, "expires_at": expires_at}),
            ))?;
            Ok(lease)
        })
        .await
        .map_err(&fail)?;
    Ok(Grant {
        token: token_text,
        lease,
    })
}

/// Frees the seat of a live lease at once.
///
/// # Errors
/// `LEASE_INVALID`, `LEASE_RELEASED`, `LEASE_EXPIRED`, storage errors.
pub async fn release<B: Backend>(
    store: &B,
    lease_token: &str,
    now: u64,
) -> Result<Lease, WithSupport> {
    let p = presented(store, lease_token).await?;
    let support = p.support.clone();
    let (lease_id, sha) = (p.lease_id, p.sha256);
    store
        .write(move |tx| {
            let mut lease = live(tx.lease(&lease_id)?, &sha, now)?;
            lease.released_at = Some(now);
            lease.retry = None;
            tx.put_lease(&lease)?;
            tx.append_audit(AuditEvent::client(
                now,
                "lease.release",
                Some(&lease.license_id),
                json!({"lease_id": lease.id}),
            ))?;
            Ok(lease)
        })
        .await
        .map_err(|e| e.with_support(support))
}

/// The lease's online state: the live lease, or why not.
///
/// # Errors
/// `LEASE_INVALID`, `LEASE_RELEASED`, `LEASE_EXPIRED`, the license's refusal, storage errors.
pub async fn validate<B: Backend>(
    store: &B,
    lease_token: &str,
    now: u64,
) -> Result<Lease, WithSupport> {
    let p = presented(store, lease_token).await?;
    let support = p.support.clone();
    let fail = move |e: CoreError| e.with_support(support.clone());
    let (lease_id, sha) = (p.lease_id, p.sha256);
    store
        .read(move |tx| {
            let lease = live(tx.lease(&lease_id)?, &sha, now)?;
            let license_id = id_bytes(&lease.license_id).ok_or(CoreError::Internal)?;
            let license = tx.license(&license_id)?.ok_or(CoreError::LeaseInvalid)?;
            if let Some(e) = refusal(&license, now) {
                return Err(e);
            }
            Ok(lease)
        })
        .await
        .map_err(fail)
}

/// A license's leases, oldest first, only those in `state` (`active`, `released`,
/// `expired` at `now`) when given.
///
/// # Errors
/// `NOT_FOUND` for an unknown license, storage errors.
pub async fn list<B: Backend>(
    store: &B,
    license_id: &str,
    state: Option<String>,
    now: u64,
) -> Result<Vec<Lease>, CoreError> {
    let id = license_id.to_owned();
    let bid = id_bytes(&id).ok_or_else(|| CoreError::NotFound(format!("no license '{id}'")))?;
    store
        .scan(move |tx| {
            if tx.license(&bid)?.is_none() {
                return Err(CoreError::NotFound(format!("no license '{id}'")));
            }
            Ok(tx
                .leases_of(&bid)?
                .into_iter()
                .filter(|l| state.as_deref().is_none_or(|st| l.state(now) == st))
                .collect())
        })
        .await
}

/// Force-releases a lease: its seat is free at once and its token refused online.
///
/// # Errors
/// `NOT_FOUND`, `LEASE_RELEASED`, storage errors.
pub async fn force_release<B: Backend>(
    store: &B,
    license_id: &str,
    lease: &str,
    now: u64,
) -> Result<Lease, CoreError> {
    let (id, lease) = (license_id.to_owned(), lease.to_owned());
    id_bytes(&id).ok_or_else(|| CoreError::NotFound(format!("no license '{id}'")))?;
    let lease_id =
        id_bytes(&lease).ok_or_else(|| CoreError::NotFound(format!("no lease '{lease}'")))?;
    // Stored ids are lower-case hex; accept them in any case.
    let id = id.to_ascii_lowercase();
    store
        .write(move |tx| {
            let mut l = tx
                .lease(&lease_id)?
                .filter(|l| l.license_id == id)
                .ok_or_else(|| {
                    CoreError::NotFound(format!("no lease '{lease}' on license '{id}'"))
                })?;
            if l.released_at.is_some() {
                return Err(CoreError::LeaseReleased);
            }
            l.released_at = Some(now);
            l.retry = None;
            tx.put_lease(&l)?;
            tx.append_audit(AuditEvent::admin(
                now,
                "lease.force_release",
                Some(&id),
                json!({"lease_id": l.id}),
            ))?;
            Ok(l)
        })
        .await
}
