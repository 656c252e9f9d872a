//! Floating licenses (leases): obtain, renew, release, validate, and the admin view.
//!
//! A lease is a short-lived signed token for one seat of a license. Seats are counted from
//! the `seats` table, which holds only leases that may still be live: a seat whose lease
//! expired is free at once (it is not counted, and the next obtain on that license removes
//! its entry), so no background job is needed for correctness. Each renewal replaces the
//! lease's token; the server keeps the hash of the current one, so an older token is
//! refused online.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use licet::Builder;
use licet_verifier::{Kind, hex};

use crate::error::{ApiError, WithSupport};
use crate::extract::{ApiJson, ApiPath};
use crate::model::{AuditEvent, Lease, License};
use crate::routes::client::{find_license, refusal, refused, usable_license};
use crate::routes::rfc3339;
use crate::state::{AppState, key_hash, license_claims};
use crate::store::{Snapshot, id_bytes};

/// Adds the lease routes of the client API.
pub fn client_routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/leases/obtain", post(obtain))
        .route("/leases/renew", post(renew))
        .route("/leases/release", post(release))
        .route("/leases/validate", post(validate))
}

/// Adds the lease routes of the admin API.
pub fn admin_routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/licenses/{id}/leases", get(list))
        .route("/licenses/{id}/leases/{lease}/release", post(force_release))
}

/// The lease length a client gets: its `ttl`, else the license's default, capped by the
/// license's maximum and never past the license's expiry.
fn expiry(l: &License, ttl: Option<u64>, now: u64) -> Result<u64, ApiError> {
    if ttl == Some(0) {
        return Err(ApiError::BadRequest("ttl must be at least 1 second".into()));
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
    s: &AppState,
    l: &License,
    lease_id: [u8; 16],
    client_id: Option<&str>,
    now: u64,
    expires_at: u64,
) -> Result<licet::Token, ApiError> {
    let claims = license_claims(l, now)?;
    let mut b = Builder::lease(&claims, expires_at)
        .map_err(|_| ApiError::Internal)?
        .id(lease_id)
        .issued_at(now);
    if let Some(c) = client_id {
        b = b.client_id(c);
    }
    s.signer.sign(b.claims().clone())
}

fn seat_key(license: &[u8; 16], l: &Lease, lease: &[u8; 16]) -> [u8; 40] {
    crate::store::lease_key(license, l.created_at, lease)
}

/// `POST /v1/leases/obtain` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObtainReq {
    license_key: String,
    client_id: Option<String>,
    ttl: Option<u64>,
}

/// `POST /v1/leases/obtain`: 201 with a lease token when a seat is free.
pub async fn obtain(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ObtainReq>,
) -> Result<(StatusCode, Json<Value>), WithSupport> {
    if req
        .client_id
        .as_ref()
        .is_some_and(|c| c.is_empty() || c.len() > licet_verifier::claims::limits::NAME)
    {
        return Err(
            ApiError::BadRequest("client_id must be 1 to 128 bytes".into()).with_support(None),
        );
    }
    let f = find_license(&s, &req.license_key, "lease.obtain")?;
    let now = s.now();
    if let Some(e) = refusal(&f.license, now) {
        refused(&s, "lease.obtain", Some(&f.license.id), &e, json!({}));
        return Err(e.with_support(f.support));
    }
    let support = f.support.clone();
    let fail = move |e: ApiError| e.with_support(support.clone());
    let expires_at = expiry(&f.license, req.ttl, now).map_err(&fail)?;
    let lease_id = licet::new_id().map_err(|_| fail(ApiError::Internal))?;
    // Signed before the write, so that signing (1.5 ms with RSA) never holds the writer.
    let token = sign_lease(
        &s,
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
    let lease = s
        .store
        .write(move |tx| {
            let l = usable_license(tx, &id, now, "lease.obtain")?;
            // Without a limit there is nothing to count (and the count would grow with
            // every seat held, in the writer).
            if let Some(max) = l.max_leases
                && tx.seats_held(&id, now)? >= max
            {
                tx.audit(AuditEvent::client(
                    now,
                    "request.refused",
                    Some(&l.id),
                    json!({"request": "lease.obtain", "code": "LEASE_LIMIT_REACHED", "client_id": client_id}),
                ))?;
                return Err(ApiError::LeaseLimitReached { max });
            }
            let lease = Lease {
                id: hex(&lease_id),
                license_id: l.id.clone(),
                client_id,
                created_at: now,
                expires_at,
                released_at: None,
                renewals: 0,
                token_sha256,
                retry: None,
            };
            tx.put_lease(&lease)?;
            let key = seat_key(&id, &lease, &lease_id);
            tx.seats.insert(key.as_slice(), expires_at)?;
            tx.license_leases.insert(key.as_slice(), ())?;
            tx.audit(AuditEvent::client(
                now,
                "lease.obtain",
                Some(&l.id),
                json!({"lease_id": lease.id, "client_id": lease.client_id, "expires_at": expires_at}),
            ))?;
            Ok(lease)
        })
        .await
        .map_err(&fail)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "lease_token": token.text(),
            "lease_id": lease.id,
            "expires_at": rfc3339(lease.expires_at),
        })),
    ))
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

fn presented(s: &AppState, token: &str) -> Result<Presented, WithSupport> {
    let unverified = licet_verifier::decode_unverified(token)
        .ok()
        .filter(|t| t.claims.kind() == Kind::Lease)
        .ok_or_else(|| ApiError::LeaseInvalid.with_support(None))?;
    let snap = Snapshot::of(&s.store).map_err(|e| e.with_support(None))?;
    let support = snap
        .product(&unverified.claims.product)
        .map_err(|e| e.with_support(None))?
        .and_then(|p| p.support_message);
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
fn live(lease: Option<Lease>, sha256: &str, now: u64) -> Result<Lease, ApiError> {
    let lease = lease
        .filter(|l| licet::ct_eq(l.token_sha256.as_bytes(), sha256.as_bytes()))
        .ok_or(ApiError::LeaseInvalid)?;
    if lease.released_at.is_some() {
        return Err(ApiError::LeaseReleased);
    }
    if now >= lease.expires_at {
        return Err(ApiError::LeaseExpired);
    }
    Ok(lease)
}

/// `POST /v1/leases/renew` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewReq {
    lease_token: String,
    ttl: Option<u64>,
    /// The client's id for this renewal (1 to 64 bytes). Repeating a renewal with the same
    /// id and the same old token returns the same new token instead of LEASE_INVALID, so a
    /// lost answer does not cost the seat.
    request_id: Option<String>,
}

/// `POST /v1/leases/renew`: while the lease is live, a new lease token and expiry; the old
/// token is refused online from then on, except by a repeat of the very renewal that
/// replaced it (same `request_id`), which gets the same answer again.
pub async fn renew(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<RenewReq>,
) -> Result<Json<Value>, WithSupport> {
    let p = presented(&s, &req.lease_token)?;
    let support = p.support.clone();
    let fail = move |e: ApiError| e.with_support(support.clone());
    let now = s.now();
    if req
        .request_id
        .as_ref()
        .is_some_and(|r| r.is_empty() || r.len() > 64)
    {
        return Err(fail(ApiError::BadRequest(
            "request_id must be 1 to 64 bytes".into(),
        )));
    }
    let snap = Snapshot::of(&s.store).map_err(&fail)?;
    let stored = snap.lease(&p.lease_id).map_err(&fail)?;
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
        return Ok(Json(json!({
            "lease_token": r.token,
            "lease_id": l.id,
            "expires_at": rfc3339(l.expires_at),
        })));
    }
    let lease = live(stored, &p.sha256, now).map_err(&fail)?;
    let license_id = id_bytes(&lease.license_id)
        .ok_or(ApiError::Internal)
        .map_err(&fail)?;
    let license = snap
        .license(&license_id)
        .map_err(&fail)?
        .ok_or(ApiError::LeaseInvalid)
        .map_err(&fail)?;
    if let Some(e) = refusal(&license, now) {
        refused(
            &s,
            "lease.renew",
            Some(&license.id),
            &e,
            json!({"lease_id": lease.id}),
        );
        return Err(fail(e));
    }
    drop(snap);
    let expires_at = expiry(&license, req.ttl, now).map_err(&fail)?;
    let token = sign_lease(
        &s,
        &license,
        p.lease_id,
        lease.client_id.as_deref(),
        now,
        expires_at,
    )
    .map_err(&fail)?;
    let new_sha = hex(&key_hash(token.bytes()));
    let (lease_id, old_sha) = (p.lease_id, p.sha256);
    let token_text = token.text();
    let retry = req.request_id.map(|request_id| crate::model::RenewRetry {
        request_id,
        previous_sha256: old_sha.clone(),
        token: token_text.clone(),
    });
    let lease = s
        .store
        .write(move |tx| {
            // Everything again, inside the write: a concurrent renewal or release wins or
            // loses here, never both.
            let mut lease = live(tx.lease(&lease_id)?, &old_sha, now)?;
            usable_license(tx, &license_id, now, "lease.renew")?;
            lease.expires_at = expires_at;
            lease.renewals += 1;
            lease.token_sha256 = new_sha;
            lease.retry = retry;
            tx.put_lease(&lease)?;
            tx.seats.insert(
                seat_key(&license_id, &lease, &lease_id).as_slice(),
                expires_at,
            )?;
            tx.audit(AuditEvent::client(
                now,
                "lease.renew",
                Some(&lease.license_id),
                json!({"lease_id": lease.id, "expires_at": expires_at}),
            ))?;
            Ok(lease)
        })
        .await
        .map_err(&fail)?;
    Ok(Json(json!({
        "lease_token": token_text,
        "lease_id": lease.id,
        "expires_at": rfc3339(lease.expires_at),
    })))
}

/// `POST /v1/leases/release` and `/validate` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenReq {
    lease_token: String,
}

/// `POST /v1/leases/release`: frees the seat at once.
pub async fn release(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<TokenReq>,
) -> Result<Json<Value>, WithSupport> {
    let p = presented(&s, &req.lease_token)?;
    let support = p.support.clone();
    let now = s.now();
    let (lease_id, sha) = (p.lease_id, p.sha256);
    let lease = s
        .store
        .write(move |tx| {
            let mut lease = live(tx.lease(&lease_id)?, &sha, now)?;
            let license_id = id_bytes(&lease.license_id).ok_or(ApiError::Internal)?;
            lease.released_at = Some(now);
            lease.retry = None;
            tx.put_lease(&lease)?;
            tx.seats
                .remove(seat_key(&license_id, &lease, &lease_id).as_slice())?;
            tx.audit(AuditEvent::client(
                now,
                "lease.release",
                Some(&lease.license_id),
                json!({"lease_id": lease.id}),
            ))?;
            Ok(lease)
        })
        .await
        .map_err(|e| e.with_support(support))?;
    Ok(Json(json!({"released": true, "lease_id": lease.id})))
}

/// `POST /v1/leases/validate`: the lease's online state.
pub async fn validate(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<TokenReq>,
) -> Result<Json<Value>, WithSupport> {
    let p = presented(&s, &req.lease_token)?;
    let support = p.support.clone();
    let fail = move |e: ApiError| e.with_support(support.clone());
    let now = s.now();
    let snap = Snapshot::of(&s.store).map_err(&fail)?;
    let lease = live(snap.lease(&p.lease_id).map_err(&fail)?, &p.sha256, now).map_err(&fail)?;
    let license_id = id_bytes(&lease.license_id)
        .ok_or(ApiError::Internal)
        .map_err(&fail)?;
    let license = snap
        .license(&license_id)
        .map_err(&fail)?
        .ok_or(ApiError::LeaseInvalid)
        .map_err(&fail)?;
    if let Some(e) = refusal(&license, now) {
        return Err(fail(e));
    }
    Ok(Json(json!({
        "valid": true,
        "lease_id": lease.id,
        "license_id": lease.license_id,
        "client_id": lease.client_id,
        "expires_at": rfc3339(lease.expires_at),
    })))
}

fn lease_json(l: &Lease, now: u64) -> Value {
    json!({
        "id": l.id,
        "state": l.state(now),
        "client_id": l.client_id,
        "created_at": rfc3339(l.created_at),
        "expires_at": rfc3339(l.expires_at),
        "released_at": l.released_at.map(rfc3339),
        "renewals": l.renewals,
    })
}

/// `GET /v1/admin/licenses/{id}/leases` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
}

/// Lists a license's leases (`?state=active|released|expired` filters).
pub async fn list(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(st) = &q.state
        && !["active", "released", "expired"].contains(&st.as_str())
    {
        return Err(ApiError::BadRequest(
            "state must be active, released or expired".into(),
        ));
    }
    let bid = id_bytes(&id).ok_or_else(|| ApiError::NotFound(format!("no license '{id}'")))?;
    let now = s.now();
    let store = s.store.clone();
    let leases = tokio::task::spawn_blocking(move || -> Result<Vec<Value>, ApiError> {
        let snap = Snapshot::of(&store)?;
        if snap.license(&bid)?.is_none() {
            return Err(ApiError::NotFound(format!("no license '{id}'")));
        }
        Ok(snap
            .leases_of(&bid)?
            .iter()
            .filter(|l| q.state.as_deref().is_none_or(|st| l.state(now) == st))
            .map(|l| lease_json(l, now))
            .collect())
    })
    .await
    .map_err(|_| ApiError::Internal)??;
    Ok(Json(json!({ "leases": leases })))
}

/// Force-releases a lease: its seat is free at once and its token refused online.
pub async fn force_release(
    State(s): State<AppState>,
    ApiPath((id, lease)): ApiPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let license_id =
        id_bytes(&id).ok_or_else(|| ApiError::NotFound(format!("no license '{id}'")))?;
    let lease_id =
        id_bytes(&lease).ok_or_else(|| ApiError::NotFound(format!("no lease '{lease}'")))?;
    // Stored ids are lower-case hex; accept them in any case.
    let id = id.to_ascii_lowercase();
    let now = s.now();
    let l = s
        .store
        .write(move |tx| {
            let mut l = tx
                .lease(&lease_id)?
                .filter(|l| l.license_id == id)
                .ok_or_else(|| {
                    ApiError::NotFound(format!("no lease '{lease}' on license '{id}'"))
                })?;
            if l.released_at.is_some() {
                return Err(ApiError::LeaseReleased);
            }
            l.released_at = Some(now);
            l.retry = None;
            tx.put_lease(&l)?;
            tx.seats
                .remove(seat_key(&license_id, &l, &lease_id).as_slice())?;
            tx.audit(AuditEvent::admin(
                now,
                "lease.force_release",
                Some(&id),
                json!({"lease_id": l.id}),
            ))?;
            Ok(l)
        })
        .await?;
    Ok(Json(lease_json(&l, now)))
}
