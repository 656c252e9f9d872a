//! Floating licenses (leases): obtain, renew, release, validate, and the admin view. Each
//! handler parses and bounds its request, calls the rule in [`crate::core::leases`], and
//! writes the answer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::leases::{self as rules, Obtain, Renew};
use crate::error::{ApiError, WithSupport};
use crate::extract::{ApiJson, ApiPath};
use crate::model::Lease;
use crate::routes::rfc3339;
use crate::state::AppState;

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
    let req = Obtain {
        license_key: req.license_key,
        client_id: req.client_id,
        ttl: req.ttl,
    };
    let g = rules::obtain(&s.store, &s.signer, req, s.now()).await?;
    Ok((StatusCode::CREATED, Json(grant_json(&g))))
}

fn grant_json(g: &rules::Grant) -> Value {
    json!({
        "lease_token": g.token,
        "lease_id": g.lease.id,
        "expires_at": rfc3339(g.lease.expires_at),
    })
}

/// `POST /v1/leases/renew` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewReq {
    lease_token: String,
    ttl: Option<u64>,
    /// The client's id for this renewal (1 to 64 bytes; see [`Renew::request_id`]).
    request_id: Option<String>,
}

/// `POST /v1/leases/renew`: while the lease is live, a new lease token and expiry (the
/// `request_id` retry rule: [`rules::renew`]).
pub async fn renew(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<RenewReq>,
) -> Result<Json<Value>, WithSupport> {
    let req = Renew {
        lease_token: req.lease_token,
        ttl: req.ttl,
        request_id: req.request_id,
    };
    let g = rules::renew(&s.store, &s.signer, req, s.now()).await?;
    Ok(Json(grant_json(&g)))
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
    let lease = rules::release(&s.store, &req.lease_token, s.now()).await?;
    Ok(Json(json!({"released": true, "lease_id": lease.id})))
}

/// `POST /v1/leases/validate`: the lease's online state.
pub async fn validate(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<TokenReq>,
) -> Result<Json<Value>, WithSupport> {
    let lease = rules::validate(&s.store, &req.lease_token, s.now()).await?;
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
    let now = s.now();
    let leases: Vec<Value> = rules::list(&s.store, &id, q.state, now)
        .await?
        .iter()
        .map(|l| lease_json(l, now))
        .collect();
    Ok(Json(json!({ "leases": leases })))
}

/// Force-releases a lease: its seat is free at once and its token refused online.
pub async fn force_release(
    State(s): State<AppState>,
    ApiPath((id, lease)): ApiPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let now = s.now();
    let l = rules::force_release(&s.store, &id, &lease, now).await?;
    Ok(Json(lease_json(&l, now)))
}
