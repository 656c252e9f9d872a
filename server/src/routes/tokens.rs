//! `/v1/admin/tokens`: named admin tokens with scopes, created, listed and revoked without
//! a restart ([`crate::core::tokens`]). Every route here needs the `admin` scope.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::tokens as rules;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::model::AdminToken;
use crate::routes::rfc3339;
use crate::state::AppState;

fn token_json(t: &AdminToken) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "scopes": t.scopes,
        "created_at": rfc3339(t.created_at),
        "last_used_at": t.last_used_at.map(rfc3339),
    })
}

/// `POST /v1/admin/tokens` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenReq {
    name: String,
    scopes: Vec<String>,
}

/// Creates a token: 201 with its secret in `token`, shown this once.
pub async fn create(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<TokenReq>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (t, secret) = rules::create(&s.store, req.name, &req.scopes, s.now()).await?;
    let mut body = token_json(&t);
    body["token"] = json!(secret.as_str());
    Ok((StatusCode::CREATED, Json(body)))
}

/// Lists the tokens (never their secrets).
pub async fn list(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let all = rules::list(&s.store, &s.last_use).await?;
    Ok(Json(
        json!({"tokens": all.iter().map(token_json).collect::<Vec<_>>()}),
    ))
}

/// Revokes a token: 204; refused from the next request on.
pub async fn revoke(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    rules::revoke(&s.store, &id, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
