//! `/v1/admin/deny`: the deny list ([`crate::core::deny`]). A change applies to this
//! server's next client request, and to other servers sharing the database within
//! [`crate::denylist::REFRESH`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::deny::{self as rules, NewEntry};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::model::{DenyEntry, DenyKind};
use crate::routes::{opt_time, rfc3339};
use crate::state::AppState;

fn entry_json(e: &DenyEntry, now: u64) -> Value {
    json!({
        "id": e.id,
        "kind": e.kind,
        "value": e.value,
        "reason": e.reason,
        "expires_at": e.expires_at.map(rfc3339),
        "active": e.expires_at.is_none_or(|x| now < x),
        "created_at": rfc3339(e.created_at),
    })
}

/// `POST /v1/admin/deny` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyReq {
    kind: DenyKind,
    value: String,
    reason: String,
    #[serde(default, with = "opt_time")]
    expires_at: Option<u64>,
}

/// The list in force is read again from storage after a change, so this server applies
/// it from its next request; a failed read leaves the refresh timer to catch up.
async fn reload(s: &AppState) {
    if let Err(e) = s.deny.reload(&s.store).await {
        tracing::warn!(error = %e, "the deny list was changed but not read again; it applies within the refresh interval");
    }
}

/// Adds an entry: 201.
pub async fn add(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<DenyReq>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = s.now();
    let e = rules::add(
        &s.store,
        NewEntry {
            kind: req.kind,
            value: req.value,
            reason: req.reason,
            expires_at: req.expires_at,
        },
        now,
    )
    .await?;
    reload(&s).await;
    Ok((StatusCode::CREATED, Json(entry_json(&e, now))))
}

/// Lists every entry, expired ones included (`active: false`).
pub async fn list(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = s.now();
    let all = rules::list(&s.store).await?;
    Ok(Json(
        json!({"entries": all.iter().map(|e| entry_json(e, now)).collect::<Vec<_>>()}),
    ))
}

/// Removes an entry: 204.
pub async fn remove(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    rules::remove(&s.store, &id, s.now()).await?;
    reload(&s).await;
    Ok(StatusCode::NO_CONTENT)
}
