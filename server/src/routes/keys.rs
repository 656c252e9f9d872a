//! The admin API of the server's signing keys (`docs/api.md`, `docs/key-rotation.md`):
//! list, rotate, endorse, retire, and re-issuing a license's key with the current key.
//! Each handler calls [`crate::core::keys`] or [`crate::core::admin::reissue`].

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::keys as rules;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::keystore::Published;
use crate::routes::rfc3339;
use crate::state::AppState;

/// The routes, under `/v1/admin`.
pub fn admin_routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/keys", get(list))
        .route("/keys/rotate", post(rotate))
        .route("/keys/{kid}/endorsement", post(endorse))
        .route("/keys/{kid}/retire", post(retire))
        .route("/licenses/{id}/reissue", post(reissue))
}

fn keys_json(keys: &[Published]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "kid": k.kid,
                "algorithm": k.algorithm,
                "current": k.current,
                "private": k.private,
                "endorsed_until": k.endorsed_until.map(rfc3339),
            })
        })
        .collect();
    json!({ "keys": keys })
}

/// `GET /v1/admin/keys`: the published signing keys, current first.
pub async fn list(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(keys_json(&rules::list(&s.signer)?)))
}

/// `POST /v1/admin/keys/rotate`: 201 with the new current kid and the keys.
pub async fn rotate(State(s): State<AppState>) -> Result<(StatusCode, Json<Value>), ApiError> {
    let kid = rules::rotate(&s.store, &s.signer, None, None, s.now()).await?;
    let mut body = keys_json(&rules::list(&s.signer)?);
    body["kid"] = json!(kid);
    Ok((StatusCode::CREATED, Json(body)))
}

/// `POST /v1/admin/keys/{kid}/endorsement` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndorseReq {
    /// The `LICET ENDORSEMENT` PEM block `licet keys endorse` wrote.
    endorsement: String,
}

/// `POST /v1/admin/keys/{kid}/endorsement`: adds the root's endorsement of a key.
pub async fn endorse(
    State(s): State<AppState>,
    ApiPath(kid): ApiPath<String>,
    ApiJson(req): ApiJson<EndorseReq>,
) -> Result<Json<Value>, ApiError> {
    let bytes = licet_verifier::endorsement::from_pem(&req.endorsement).map_err(|e| {
        ApiError::EndorsementRefused(format!(
            "endorsement is not a LICET ENDORSEMENT PEM block: {e}"
        ))
    })?;
    rules::endorse(&s.store, &s.signer, &kid, bytes, s.now()).await?;
    Ok(Json(keys_json(&rules::list(&s.signer)?)))
}

/// `POST /v1/admin/keys/{kid}/retire`: the key is no longer published nor trusted.
pub async fn retire(
    State(s): State<AppState>,
    ApiPath(kid): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    rules::retire(&s.store, &s.signer, &kid, s.now()).await?;
    Ok(Json(keys_json(&rules::list(&s.signer)?)))
}

/// `POST /v1/admin/licenses/{id}/reissue`: the license with a fresh key signed by the
/// current signing key; the old key is refused online from now on.
pub async fn reissue(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let l = crate::core::admin::reissue(&s.store, Arc::clone(&s.signer), &id, s.now()).await?;
    Ok(Json(crate::routes::admin::license_json(&l)))
}
