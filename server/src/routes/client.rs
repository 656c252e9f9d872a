//! The client API: validate, activate, check in, deactivate, and the public keys. Each
//! handler parses and bounds its request, calls the rule in [`crate::core::client`], and
//! writes the answer.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use licet_verifier::unhex;

use crate::core::client::{self as rules, Activate, MachineRef};
use crate::error::{ApiError, WithSupport};
use crate::extract::ApiJson;
use crate::model::Status;
use crate::routes::rfc3339;
use crate::state::AppState;

/// `GET /signature.pem`.
pub async fn signature_pem(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        s.signer.keys().signature_pem.clone(),
    )
}

/// `GET /v1/revocations`: the current signed revocation list (`docs/token-format.md`
/// §13.2), as its PEM file form; its sequence also in the `licet-sequence` header.
pub async fn revocations(State(s): State<AppState>) -> Result<impl IntoResponse, WithSupport> {
    let (pem, sequence) = crate::core::revocations::current(&s.store, &s.signer, s.now())
        .await
        .map_err(|e| e.with_support(None))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file".to_owned()),
            (
                header::HeaderName::from_static("licet-sequence"),
                sequence.to_string(),
            ),
        ],
        pem,
    ))
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
/// server knows, with `valid` and a `code` (`VALID`, a grace warning with `grace_ends_at`,
/// or why not); 404 for unknown keys.
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
    let v = rules::validate(&s.store, &req.license_key, fp, s.now()).await?;
    let l = &v.license;
    Ok(Json(ValidateResp {
        code: v.refusal.or(v.grace.map(|g| g.code())).unwrap_or("VALID"),
        expires_at: l.expires_at.map(rfc3339),
        grace_ends_at: v.grace.map(|g| rfc3339(g.ends_at())),
        features: &l.features,
        leases: Used {
            allowed: l.max_leases,
            used: v.leases_used,
        },
        license_id: &l.id,
        machine: v.machine.map(|m| match m {
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
            used: v.machines_used,
        },
        product: &l.product,
        status: l.status,
        support_message: v.support.as_deref(),
        license_type: l.license_type.as_deref(),
        valid: v.refusal.is_none(),
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
    /// Only while a grace period runs, so that every other answer is what it always was.
    #[serde(skip_serializing_if = "Option::is_none")]
    grace_ends_at: Option<String>,
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
    let req = Activate {
        license_key: req.license_key,
        fingerprint: fp,
        name: req.name,
        platform: req.platform,
        user: req.user,
        nonce: None,
    };
    let g = rules::activate(&s.store, &s.signer, req, s.now()).await?;
    Ok(granted(&g, json!({})))
}

/// The answer to an activation: 201 for a new machine, 200 for one already activated,
/// with the token and `extra`'s fields.
fn granted(g: &rules::MachineGrant, mut extra: Value) -> (StatusCode, Json<Value>) {
    let status = if g.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    extra["machine_token"] = json!(g.token);
    extra["machine_id"] = json!(g.machine.id);
    extra["check_in_before"] = json!(rfc3339(g.check_in_before));
    extra["remaining_activations"] = json!(g.remaining);
    // A grace period running: a warning the application shows, not a refusal. Only then,
    // so that every other answer is what it always was.
    if let Some(grace) = g.grace {
        extra["code"] = json!(grace.code());
        extra["grace_ends_at"] = json!(rfc3339(grace.ends_at()));
    }
    (status, Json(extra))
}

/// `POST /v1/offline/activate`: the body is the request file of `licet offline request`
/// as it is (JSON; any content type, so that `curl --data-binary @request.json` works).
/// 201 with the machine token file for a new machine; 200 with a fresh one when the
/// request (or another for the same fingerprint) already activated it.
pub async fn offline_activate(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), WithSupport> {
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::RequestInvalid(
            "the request is not UTF-8 text; send the file `licet offline request` wrote, as it is"
                .into(),
        )
        .with_support(None)
    })?;
    let g = rules::activate_offline(&s.store, &s.signer, text, s.now()).await?;
    let file = licet_verifier::text::decode(&g.token)
        .map(|(kind, bytes)| licet_verifier::text::encode_file(kind, &bytes))
        .map_err(|_| ApiError::Internal.with_support(None))?;
    Ok(granted(&g, json!({"machine_token_file": file})))
}

/// `POST /v1/offline/deactivate`: the body is the request file of `licet offline
/// deactivate` as it is. 200 with the signed receipt (`receipt`, a `LICET RECEIPT` PEM
/// file) once the activation is free.
pub async fn offline_deactivate(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, WithSupport> {
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::RequestInvalid(
            "the request is not UTF-8 text; send the file `licet offline deactivate` wrote, as it is"
                .into(),
        )
        .with_support(None)
    })?;
    let r = rules::deactivate_offline(&s.store, &s.signer, text, s.now()).await?;
    Ok(Json(json!({
        "receipt": r.receipt,
        "license_id": r.machine.license_id,
        "machine_id": r.machine.id,
        "fingerprint": r.machine.fingerprint,
        "released_at": rfc3339(r.released_at),
    })))
}

/// `POST /v1/check-in` body: the license key and fingerprint, or the machine token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInReq {
    license_key: Option<String>,
    fingerprint: Option<String>,
    machine_token: Option<String>,
}

/// The machine a check-in or deactivation names: by its token, or by key and fingerprint.
fn machine_ref(req: CheckInReq) -> Result<MachineRef, WithSupport> {
    let given_fp = req
        .fingerprint
        .as_deref()
        .map(fingerprint)
        .transpose()
        .map_err(|e| e.with_support(None))?;
    if let Some(token) = req.machine_token {
        return Ok(MachineRef::Token {
            token,
            fingerprint: given_fp,
        });
    }
    let (Some(license_key), Some(fingerprint)) = (req.license_key, given_fp) else {
        return Err(ApiError::BadRequest(
            "give either machine_token, or license_key and fingerprint".into(),
        )
        .with_support(None));
    };
    Ok(MachineRef::Key {
        license_key,
        fingerprint,
    })
}

/// `POST /v1/check-in`: a fresh machine token with a new deadline; refused once the
/// license is suspended, revoked or expired (past its grace period), or the machine past
/// the grace after its check-in deadline (`CHECK_IN_MISSED`).
pub async fn check_in(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CheckInReq>,
) -> Result<Json<Value>, WithSupport> {
    let g = rules::check_in(&s.store, &s.signer, machine_ref(req)?, s.now()).await?;
    let mut body = json!({
        "machine_token": g.token,
        "machine_id": g.machine.id,
        "check_in_before": rfc3339(g.check_in_before),
    });
    if let Some(grace) = g.grace {
        body["code"] = json!(grace.code());
        body["grace_ends_at"] = json!(rfc3339(grace.ends_at()));
    }
    Ok(Json(body))
}

/// `POST /v1/deactivate`: frees the activation.
pub async fn deactivate(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CheckInReq>,
) -> Result<Json<Value>, WithSupport> {
    let m = rules::deactivate(&s.store, &s.signer, machine_ref(req)?, s.now()).await?;
    Ok(Json(json!({"deactivated": true, "machine_id": m.id})))
}

/// `POST /v1/trials` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialReq {
    product: String,
    fingerprint: String,
}

/// `POST /v1/trials`: a keyless trial for this machine. 201 with the new trial license's
/// key and a machine token on it; 200 with the same license (and a fresh token) when the
/// fingerprint had its trial already; the trial's refusal (`KEY_EXPIRED`, …) once it
/// cannot be used; `TRIALS_NOT_OFFERED` for a product without trials.
pub async fn start_trial(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<TrialReq>,
) -> Result<(StatusCode, Json<Value>), WithSupport> {
    let fp = fingerprint(&req.fingerprint).map_err(|e| e.with_support(None))?;
    let t = crate::core::trials::start_trial(&s.store, &s.signer, req.product, fp, s.now()).await?;
    let l = &t.grant.license;
    let (_, mut body) = granted(
        &t.grant,
        json!({
            "license_key": l.key,
            "license_id": l.id,
            "product": l.product,
            "type": l.license_type,
            "expires_at": l.expires_at.map(rfc3339),
            "features": l.features,
        }),
    );
    body["new"] = json!(t.new);
    let status = if t.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, body))
}
