//! The client API: validate, activate, check in, deactivate, and the public keys.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use licet::Builder;
use licet_verifier::{Expectations, Kind, hex};

use crate::error::{ApiError, WithSupport};
use crate::extract::ApiJson;
use crate::model::{AuditEvent, License, Machine, Status};
use crate::routes::rfc3339;
use crate::state::{AppState, key_bytes, key_hash, license_claims};
use crate::store::{Snapshot, Tx, id_bytes, unhex};

/// `GET /signature.pem`.
pub async fn signature_pem(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        s.signer.signature_pem.clone(),
    )
}

/// The refusal a license's state gives at `now`, if any.
pub fn refusal(l: &License, now: u64) -> Option<ApiError> {
    match l.status {
        Status::Revoked => Some(ApiError::KeyRevoked),
        Status::Suspended => Some(ApiError::KeySuspended),
        Status::Active if l.expires_at.is_some_and(|e| now >= e) => Some(ApiError::KeyExpired),
        Status::Active => None,
    }
}

/// A license found by its key, with its product's support message.
pub struct Found {
    /// The license.
    pub license: License,
    /// Its id.
    pub id: [u8; 16],
    /// The product's support message.
    pub support: Option<String>,
}

/// Finds the license a key names, by the hash of its exact bytes (no signature check: the
/// server matches what it issued). Unknown keys are audited as refused.
pub fn find_license(s: &AppState, key: &str, action: &str) -> Result<Found, WithSupport> {
    let snap = Snapshot::of(&s.store).map_err(|e| e.with_support(None))?;
    find_license_in(s, &snap, key, action)
}

/// As [`find_license`], in a snapshot the caller goes on reading from.
pub fn find_license_in(
    s: &AppState,
    snap: &Snapshot,
    key: &str,
    action: &str,
) -> Result<Found, WithSupport> {
    let found = key_bytes(key)
        .ok()
        .map(|b| key_hash(&b))
        .map(|h| snap.license_by_key_hash(&h))
        .transpose()
        .map_err(|e| e.with_support(None))?
        .flatten();
    let Some(license) = found else {
        refused(s, action, None, &ApiError::KeyInvalid, json!({}));
        return Err(ApiError::KeyInvalid.with_support(None));
    };
    let id = id_bytes(&license.id).ok_or(ApiError::Internal.with_support(None))?;
    let support = snap
        .product(&license.product)
        .map_err(|e| e.with_support(None))?
        .and_then(|p| p.support_message);
    Ok(Found {
        license,
        id,
        support,
    })
}

/// Audits a refused client request (without waiting for the disk).
pub fn refused(s: &AppState, action: &str, license_id: Option<&str>, e: &ApiError, detail: Value) {
    s.store.audit_later(AuditEvent::client(
        s.now(),
        "request.refused",
        license_id,
        json!({"request": action, "code": e.code(), "detail": detail}),
    ));
}

fn fingerprint(s: &str) -> Result<[u8; 32], ApiError> {
    unhex::<32>(s).ok_or_else(|| {
        ApiError::BadRequest(
            "fingerprint must be 64 hex digits (the machine's fingerprint hash, e.g. from `licet fingerprint --product P`)"
                .into(),
        )
    })
}

fn check_text(name: &str, v: &Option<String>, max: usize) -> Result<(), ApiError> {
    if v.as_ref().is_some_and(|v| v.len() > max) {
        return Err(ApiError::BadRequest(format!(
            "{name} is longer than {max} bytes"
        )));
    }
    Ok(())
}

/// `POST /v1/validate` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateReq {
    license_key: String,
    fingerprint: Option<String>,
}

/// `POST /v1/validate`: the license's online state. Answers 200 for every license the
/// server knows, with `valid` and a `code` (`VALID` or why not); 404 for unknown keys.
pub async fn validate(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ValidateReq>,
) -> Result<axum::response::Response, WithSupport> {
    let fp = req
        .fingerprint
        .as_deref()
        .map(fingerprint)
        .transpose()
        .map_err(|e| e.with_support(None))?;
    // One snapshot for the license and its machines and seats: one consistent view, and
    // one read transaction instead of two.
    let snap = Snapshot::of(&s.store).map_err(|e| e.with_support(None))?;
    let f = find_license_in(&s, &snap, &req.license_key, "validate")?;
    let now = s.now();
    let support = f.support.clone();
    let internal = |e: ApiError| e.with_support(support.clone());
    let machines_used = snap.machine_count(&f.id).map_err(internal)?;
    let leases_used = snap.seats_held(&f.id, now).map_err(internal)?;
    let machine = fp
        .map(|fp| snap.machine(&f.id, &fp))
        .transpose()
        .map_err(internal)?;
    let mut code = refusal(&f.license, now).map(|e| e.code());
    if code.is_none() && matches!(machine, Some(None)) {
        code = Some(ApiError::MachineNotFound.code());
    }
    let l = &f.license;
    let support_message = code.and(f.support.as_deref());
    Ok(Json(ValidateResp {
        code: code.unwrap_or("VALID"),
        expires_at: l.expires_at.map(rfc3339),
        features: &l.features,
        leases: Used {
            allowed: l.max_leases,
            used: leases_used,
        },
        license_id: &l.id,
        machine: machine.map(|m| match m {
            Some(m) => MachineState {
                activated: true,
                id: Some(m.id),
                last_check_in: Some(rfc3339(m.last_check_in)),
            },
            None => MachineState {
                activated: false,
                id: None,
                last_check_in: None,
            },
        }),
        machines: Used {
            allowed: l.max_machines,
            used: machines_used,
        },
        product: &l.product,
        status: l.status,
        support_message,
        license_type: l.license_type.as_deref(),
        valid: code.is_none(),
    })
    .into_response())
}

/// The answer of `POST /v1/validate`, serialised straight from the license (the hottest
/// route: no `Value` tree built and then written). Fields in alphabetical order, the order
/// a `json!` object (a `BTreeMap`) writes them in, so the bytes are what they always were.
#[derive(Serialize)]
struct ValidateResp<'a> {
    code: &'static str,
    expires_at: Option<String>,
    features: &'a [String],
    leases: Used,
    license_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    machine: Option<MachineState>,
    machines: Used,
    product: &'a str,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    support_message: Option<&'a str>,
    #[serde(rename = "type")]
    license_type: Option<&'a str>,
    valid: bool,
}

#[derive(Serialize)]
struct Used {
    allowed: Option<u64>,
    used: u64,
}

#[derive(Serialize)]
struct MachineState {
    activated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_check_in: Option<String>,
}

/// `POST /v1/activate` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateReq {
    license_key: String,
    fingerprint: String,
    name: Option<String>,
    platform: Option<String>,
    user: Option<String>,
}

fn machine_key(license: &[u8; 16], fp: &[u8; 32]) -> Vec<u8> {
    [license.as_slice(), fp.as_slice()].concat()
}

fn read_machine(tx: &Tx<'_>, key: &[u8]) -> Result<Option<Machine>, ApiError> {
    tx.machines
        .get(key)?
        .map(|v| crate::store::decode(v.value()))
        .transpose()
}

/// The current license inside a write, refused (and audited) when it cannot be used.
pub fn usable_license(
    tx: &mut Tx<'_>,
    id: &[u8; 16],
    now: u64,
    action: &str,
) -> Result<License, ApiError> {
    let l = tx.license(id)?.ok_or(ApiError::KeyInvalid)?;
    if let Some(e) = refusal(&l, now) {
        tx.audit(AuditEvent::client(
            now,
            "request.refused",
            Some(&l.id),
            json!({"request": action, "code": e.code()}),
        ))?;
        return Err(e);
    }
    Ok(l)
}

/// Signs a machine token for `m` under `l`, valid until the next check-in deadline (never
/// past the license's expiry).
fn machine_token(
    s: &AppState,
    l: &License,
    m: &Machine,
    now: u64,
) -> Result<(String, u64), ApiError> {
    let id = id_bytes(&m.id).ok_or(ApiError::Internal)?;
    let fp = unhex::<32>(&m.fingerprint).ok_or(ApiError::Internal)?;
    machine_token_of(s, l, id, fp, now)
}

fn machine_token_of(
    s: &AppState,
    l: &License,
    id: [u8; 16],
    fp: [u8; 32],
    now: u64,
) -> Result<(String, u64), ApiError> {
    let claims = license_claims(l, now)?;
    // Capped for records stored before the admin API bounded the interval.
    let interval = l
        .check_in_interval
        .min(crate::model::limits::CHECK_IN_INTERVAL);
    let deadline = now.saturating_add(interval);
    let deadline = l.expires_at.map_or(deadline, |e| deadline.min(e));
    let b = Builder::machine(&claims, id, fp, deadline).issued_at(now);
    Ok((s.signer.sign(b.claims().clone())?.text(), deadline))
}

/// `POST /v1/activate`: 201 with a machine token for a new machine; 200 with a fresh token
/// when the fingerprint is already activated (no further activation used).
pub async fn activate(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ActivateReq>,
) -> Result<(StatusCode, Json<Value>), WithSupport> {
    let fp = fingerprint(&req.fingerprint).map_err(|e| e.with_support(None))?;
    for (n, v) in [
        ("name", &req.name),
        ("platform", &req.platform),
        ("user", &req.user),
    ] {
        check_text(n, v, 256).map_err(|e| e.with_support(None))?;
    }
    let f = find_license(&s, &req.license_key, "activate")?;
    let now = s.now();
    if let Some(e) = refusal(&f.license, now) {
        refused(&s, "activate", Some(&f.license.id), &e, json!({}));
        return Err(e.with_support(f.support));
    }
    let id = f.id;
    let new_id = licet::new_id().map_err(|_| ApiError::Internal.with_support(None))?;
    let (name, platform, user) = (req.name, req.platform, req.user);
    // Signed before the write, from the license as the snapshot has it, so that the
    // answers of a whole commit are not held up behind each other's signatures after it
    // (+5 % activations/s, p99 -12 % at 64 connections, docs/benchmarks.md "Server load").
    // Used only when the write saw the very same license and made this new machine;
    // otherwise the token is signed again from what the write saw.
    let presigned =
        machine_token_of(&s, &f.license, new_id, fp, now).map_err(|e| e.with_support(None))?;
    let snapshot_license = f.license.clone();
    let result = s
        .store
        .write(move |tx| {
            let l = usable_license(tx, &id, now, "activate")?;
            let key = machine_key(&id, &fp);
            // Counted only up to the limit, and not at all without one: the answer needs
            // no more, and a site license's machines would otherwise make every
            // activation (in the writer, holding up every other write) slower than the last.
            let used = match l.max_machines {
                Some(max) => tx.machine_count_up_to(&id, max)?,
                None => 0,
            };
            if let Some(m) = read_machine(tx, &key)? {
                return Ok((l, m, false, used));
            }
            if let Some(max) = l.max_machines
                && used >= max
            {
                tx.audit(AuditEvent::client(now, "request.refused", Some(&l.id), json!({"request": "activate", "code": "ACTIVATION_LIMIT_REACHED", "fingerprint": hex(&fp)})))?;
                return Err(ApiError::ActivationLimitReached { max });
            }
            let m = Machine {
                id: hex(&new_id),
                license_id: l.id.clone(),
                fingerprint: hex(&fp),
                name,
                platform,
                user,
                activated_at: now,
                last_check_in: now,
            };
            tx.machines.insert(key.as_slice(), crate::store::encode(&m)?.as_slice())?;
            tx.audit(AuditEvent::client(now, "machine.activate", Some(&l.id), json!({"machine_id": m.id, "fingerprint": m.fingerprint, "name": m.name})))?;
            Ok((l, m, true, used + 1))
        })
        .await;
    let (l, m, created, used) = result.map_err(|e| e.with_support(f.support.clone()))?;
    let (token, deadline) = if created && l == snapshot_license {
        presigned
    } else {
        machine_token(&s, &l, &m, now).map_err(|e| e.with_support(None))?
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "machine_token": token,
            "machine_id": m.id,
            "check_in_before": rfc3339(deadline),
            "remaining_activations": l.max_machines.map(|max| max.saturating_sub(used)),
        })),
    ))
}

/// `POST /v1/check-in` body: the license key and fingerprint, or the machine token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInReq {
    license_key: Option<String>,
    fingerprint: Option<String>,
    machine_token: Option<String>,
}

/// Resolves the license and fingerprint a check-in or deactivation names.
fn machine_of(
    s: &AppState,
    req: CheckInReq,
    action: &str,
) -> Result<(Found, [u8; 32]), WithSupport> {
    let given_fp = req
        .fingerprint
        .as_deref()
        .map(fingerprint)
        .transpose()
        .map_err(|e| e.with_support(None))?;
    if let Some(token) = req.machine_token {
        // The token proves itself by its signature. Its expiry is not held against it: a
        // machine whose deadline passed must still be able to check in.
        let claims = licet_verifier::decode_unverified(&token)
            .map_err(|_| {
                ApiError::BadRequest("machine_token is not a licet machine token".into())
                    .with_support(None)
            })?
            .claims;
        let verified = s
            .signer
            .keyring
            .verify(
                &token,
                &Expectations::new(Kind::Machine, &claims.product, claims.issued_at),
            )
            .map_err(|e| {
                ApiError::BadRequest(format!("machine_token is not valid: {} ({})", e, e.code()))
                    .with_support(None)
            })?;
        let licet::KindClaims::Machine {
            license_id,
            fingerprint,
        } = verified.claims.kind
        else {
            return Err(
                ApiError::BadRequest("machine_token is not a machine token".into())
                    .with_support(None),
            );
        };
        if given_fp.is_some_and(|g| g != fingerprint) {
            return Err(ApiError::FingerprintMismatch.with_support(None));
        }
        let snap = Snapshot::of(&s.store).map_err(|e| e.with_support(None))?;
        let license = snap
            .license(&license_id)
            .map_err(|e| e.with_support(None))?
            .ok_or(ApiError::KeyInvalid.with_support(None))?;
        let support = snap
            .product(&license.product)
            .map_err(|e| e.with_support(None))?
            .and_then(|p| p.support_message);
        return Ok((
            Found {
                license,
                id: license_id,
                support,
            },
            fingerprint,
        ));
    }
    let (Some(key), Some(fp)) = (req.license_key, given_fp) else {
        return Err(ApiError::BadRequest(
            "give either machine_token, or license_key and fingerprint".into(),
        )
        .with_support(None));
    };
    Ok((find_license(s, &key, action)?, fp))
}

/// `POST /v1/check-in`: a fresh machine token with a new deadline; refused once the
/// license is suspended, revoked or expired.
pub async fn check_in(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CheckInReq>,
) -> Result<Json<Value>, WithSupport> {
    let (f, fp) = machine_of(&s, req, "check-in")?;
    let now = s.now();
    let id = f.id;
    let (l, m) = s
        .store
        .write(move |tx| {
            let l = usable_license(tx, &id, now, "check-in")?;
            let key = machine_key(&id, &fp);
            let mut m = read_machine(tx, &key)?.ok_or(ApiError::MachineNotFound)?;
            m.last_check_in = now;
            tx.machines
                .insert(key.as_slice(), crate::store::encode(&m)?.as_slice())?;
            tx.audit(AuditEvent::client(
                now,
                "machine.check_in",
                Some(&l.id),
                json!({"machine_id": m.id}),
            ))?;
            Ok((l, m))
        })
        .await
        .map_err(|e| e.with_support(f.support.clone()))?;
    let (token, deadline) = machine_token(&s, &l, &m, now).map_err(|e| e.with_support(None))?;
    Ok(Json(json!({
        "machine_token": token,
        "machine_id": m.id,
        "check_in_before": rfc3339(deadline),
    })))
}

/// `POST /v1/deactivate`: frees the activation.
pub async fn deactivate(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CheckInReq>,
) -> Result<Json<Value>, WithSupport> {
    let (f, fp) = machine_of(&s, req, "deactivate")?;
    let now = s.now();
    let id = f.id;
    let m = s
        .store
        .write(move |tx| {
            let key = machine_key(&id, &fp);
            let m = read_machine(tx, &key)?.ok_or(ApiError::MachineNotFound)?;
            tx.machines.remove(key.as_slice())?;
            tx.audit(AuditEvent::client(
                now,
                "machine.deactivate",
                Some(&m.license_id),
                json!({"machine_id": m.id}),
            ))?;
            Ok(m)
        })
        .await
        .map_err(|e| e.with_support(f.support.clone()))?;
    Ok(Json(json!({"deactivated": true, "machine_id": m.id})))
}
