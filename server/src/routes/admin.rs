//! The admin API under `/v1/admin/`: products, licenses, machines, the audit log, backups.
//! Each handler parses and bounds its request, calls the rule in [`crate::core::admin`],
//! and writes the answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::core::admin::{self as rules, AuditFilter, LicenseChange, LicenseFilter, NewLicense};
use crate::core::id_bytes;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::model::{License, Machine, Overrides, Policy, Product, Status};
use crate::routes::{opt_time, parse_time, rfc3339};
use crate::state::AppState;

pub use crate::core::admin::{MAX_BULK, MAX_PAGE};

/// `Option<Option<T>>` for PATCH: absent = unchanged, `null` = cleared.
fn double<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn product_json(p: &Product) -> Value {
    json!({
        "name": p.name,
        "support_message": p.support_message,
        "created_at": rfc3339(p.created_at),
        "updated_at": rfc3339(p.updated_at),
        "trial_policy": p.trial_policy,
    })
}

/// A license as the admin API shows it: its effective terms, the policy they come from
/// and the fields it overrides.
pub fn license_json(l: &License) -> Value {
    json!({
        "id": l.id,
        "license_key": l.key,
        "product": l.product,
        "policy": l.policy,
        "overrides": l.overrides.fields(),
        "type": l.license_type,
        "status": l.status,
        "features": l.features,
        "expires_at": l.expires_at.map(rfc3339),
        "max_machines": l.max_machines,
        "max_leases": l.max_leases,
        "lease_ttl": l.lease_ttl,
        "lease_ttl_max": l.lease_ttl_max,
        "check_in_interval": l.check_in_interval,
        "customer": l.customer,
        "deactivation_limit": l.deactivation_limit,
        "deactivation_period": l.deactivation_period,
        "activation_cooldown": l.activation_cooldown,
        "grace_period": l.grace_period,
        "metadata": l.metadata,
        "created_at": rfc3339(l.created_at),
        "updated_at": rfc3339(l.updated_at),
    })
}

// ---------------------------------------------------------------- products

/// `POST /v1/admin/products` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductReq {
    name: String,
    support_message: Option<String>,
}

/// Creates a product.
pub async fn create_product(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ProductReq>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let p = rules::create_product(&s.store, req.name, req.support_message, s.now()).await?;
    Ok((StatusCode::CREATED, Json(product_json(&p))))
}

/// Lists products.
pub async fn list_products(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let out: Vec<Value> = rules::list_products(&s.store)
        .await?
        .iter()
        .map(product_json)
        .collect();
    Ok(Json(json!({ "products": out })))
}

/// Gets a product.
pub async fn get_product(
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let p = rules::get_product(&s.store, &name).await?;
    Ok(Json(product_json(&p)))
}

/// `PATCH /v1/admin/products/{name}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[serde(default, deserialize_with = "double")]
    support_message: Option<Option<String>>,
    #[serde(default, deserialize_with = "double")]
    trial_policy: Option<Option<String>>,
}

/// Updates a product's support message and trial policy (the name is the `aud` of issued
/// tokens and never changes).
pub async fn update_product(
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<ProductPatch>,
) -> Result<Json<Value>, ApiError> {
    let p = rules::update_product(
        &s.store,
        name,
        req.support_message,
        s.now(),
        req.trial_policy,
    )
    .await?;
    Ok(Json(product_json(&p)))
}

/// Deletes a product that has no licenses.
pub async fn delete_product(
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    rules::delete_product(&s.store, name, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- policies

fn policy_json(p: &Policy) -> Value {
    let mut v = json!({
        "product": p.product,
        "name": p.name,
        "created_at": rfc3339(p.created_at),
        "updated_at": rfc3339(p.updated_at),
    });
    if let (Value::Object(m), Ok(Value::Object(t))) = (&mut v, serde_json::to_value(&p.terms)) {
        m.extend(t);
    }
    v
}

/// `POST /v1/admin/policies` body: the product, the name, and the terms (`docs/policies.md`).
#[derive(Debug, Deserialize)]
pub struct PolicyReq {
    product: String,
    name: String,
    #[serde(flatten)]
    terms: serde_json::Map<String, Value>,
}

/// Creates a policy.
pub async fn create_policy(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<PolicyReq>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // Parsed here rather than by the extractor: deny_unknown_fields does not work through
    // `flatten`, and the terms' parser names the field it refuses.
    let terms = crate::core::policies::terms_from(req.terms)?;
    let p = crate::core::policies::create_policy(&s.store, req.product, req.name, terms, s.now())
        .await?;
    Ok((StatusCode::CREATED, Json(policy_json(&p))))
}

/// `GET /v1/admin/policies` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyQuery {
    product: Option<String>,
}

/// Lists policies (of one product with `?product=`).
pub async fn list_policies(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<PolicyQuery>,
) -> Result<Json<Value>, ApiError> {
    let list = crate::core::policies::list_policies(&s.store, q.product).await?;
    let out: Vec<Value> = list.iter().map(policy_json).collect();
    Ok(Json(json!({ "policies": out })))
}

/// Gets a policy.
pub async fn get_policy(
    State(s): State<AppState>,
    ApiPath((product, name)): ApiPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let p = crate::core::policies::get_policy(&s.store, &product, &name).await?;
    Ok(Json(policy_json(&p)))
}

/// Changes a policy's terms (a JSON merge patch: `null` returns a term to its default).
pub async fn update_policy(
    State(s): State<AppState>,
    ApiPath((product, name)): ApiPath<(String, String)>,
    ApiJson(patch): ApiJson<serde_json::Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let p = crate::core::policies::update_policy(
        &s.store,
        Arc::clone(&s.signer),
        product,
        name,
        patch,
        s.now(),
    )
    .await?;
    Ok(Json(policy_json(&p)))
}

/// Deletes a policy no license uses.
pub async fn delete_policy(
    State(s): State<AppState>,
    ApiPath((product, name)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    crate::core::policies::delete_policy(&s.store, product, name, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- licenses

/// `POST /v1/admin/licenses` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseReq {
    product: String,
    /// The policy of `product` to read every term not given here from.
    policy: Option<String>,
    #[serde(default, deserialize_with = "double", rename = "type")]
    license_type: Option<Option<String>>,
    features: Option<Vec<String>>,
    /// Absent: the policy's duration from now (perpetual without one); `null`: perpetual.
    #[serde(default, deserialize_with = "double_time")]
    expires_at: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double")]
    max_machines: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double")]
    max_leases: Option<Option<u64>>,
    customer: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    lease_ttl: Option<u64>,
    lease_ttl_max: Option<u64>,
    check_in_interval: Option<u64>,
    #[serde(default, deserialize_with = "double")]
    deactivation_limit: Option<Option<u64>>,
    deactivation_period: Option<u64>,
    activation_cooldown: Option<u64>,
    grace_period: Option<u64>,
}

impl From<LicenseReq> for NewLicense {
    /// Every term given is an override of the policy's (of the defaults without one).
    fn from(r: LicenseReq) -> Self {
        NewLicense {
            product: r.product,
            policy: r.policy,
            overrides: Overrides {
                license_type: r.license_type,
                features: r.features,
                max_machines: r.max_machines,
                max_leases: r.max_leases,
                lease_ttl: r.lease_ttl,
                lease_ttl_max: r.lease_ttl_max,
                check_in_interval: r.check_in_interval,
                deactivation_limit: r.deactivation_limit,
                deactivation_period: r.deactivation_period,
                activation_cooldown: r.activation_cooldown,
                grace_period: r.grace_period,
            },
            expires_at: r.expires_at,
            customer: r.customer,
            metadata: r.metadata,
        }
    }
}

/// Creates a license: 201 with its id and license key.
pub async fn create_license(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<LicenseReq>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let l = rules::create_license(&s.store, &s.signer, req.into(), s.now()).await?;
    Ok((StatusCode::CREATED, Json(license_json(&l))))
}

/// `POST /v1/admin/licenses/bulk` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkReq {
    licenses: Vec<LicenseReq>,
}

/// Creates up to 1000 licenses, all or nothing.
pub async fn bulk_create(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<BulkReq>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let reqs = req.licenses.into_iter().map(NewLicense::from).collect();
    let made = rules::bulk_create(&s.store, &s.signer, reqs, s.now()).await?;
    let list: Vec<Value> = made.iter().map(license_json).collect();
    Ok((StatusCode::CREATED, Json(json!({ "licenses": list }))))
}

/// Gets a license.
pub async fn get_license(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let l = rules::get_license(&s.store, &id).await?;
    Ok(Json(license_json(&l)))
}

/// `GET /v1/admin/licenses` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseQuery {
    product: Option<String>,
    status: Option<Status>,
    customer: Option<String>,
    #[serde(rename = "type")]
    license_type: Option<String>,
    expires_before: Option<String>,
    expires_after: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

fn query_time(v: &Option<String>, name: &str) -> Result<Option<u64>, ApiError> {
    v.as_deref()
        .map(|t| {
            parse_time(t)
                .ok_or_else(|| ApiError::BadRequest(format!("{name} is not an RFC 3339 time")))
        })
        .transpose()
}

/// Lists licenses with filters, a page at a time (`next_cursor` continues).
pub async fn list_licenses(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<LicenseQuery>,
) -> Result<Json<Value>, ApiError> {
    let expires_before = query_time(&q.expires_before, "expires_before")?;
    let expires_after = query_time(&q.expires_after, "expires_after")?;
    let cursor = match &q.cursor {
        Some(c) => Some(
            id_bytes(c).ok_or_else(|| ApiError::BadRequest("cursor is not a license id".into()))?,
        ),
        None => None,
    };
    let filter = LicenseFilter {
        product: q.product,
        status: q.status,
        customer: q.customer,
        customer_contains: None,
        license_type: q.license_type,
        expires_before,
        expires_after,
        limit: q.limit,
        cursor,
    };
    let page = rules::list_licenses(&s.store, filter).await?;
    let items: Vec<Value> = page.items.iter().map(license_json).collect();
    Ok(Json(
        json!({"licenses": items, "next_cursor": page.next_cursor}),
    ))
}

/// `PATCH /v1/admin/licenses/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicensePatch {
    features: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_time")]
    expires_at: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double")]
    max_machines: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double")]
    max_leases: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double")]
    customer: Option<Option<String>>,
    #[serde(default, deserialize_with = "double", rename = "type")]
    license_type: Option<Option<String>>,
    metadata: Option<BTreeMap<String, String>>,
    lease_ttl: Option<u64>,
    lease_ttl_max: Option<u64>,
    check_in_interval: Option<u64>,
    #[serde(default, deserialize_with = "double")]
    deactivation_limit: Option<Option<u64>>,
    deactivation_period: Option<u64>,
    activation_cooldown: Option<u64>,
    grace_period: Option<u64>,
    /// Fields whose override is dropped: the license reads its policy's value again.
    #[serde(default)]
    inherit: Vec<String>,
}

fn double_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    opt_time::deserialize(d).map(Some)
}

/// Updates a license's online settings. The license key (the signed token the customer
/// holds) is not re-issued: online checks and new machine and lease tokens follow the
/// record; the key's own claims stay as signed.
pub async fn update_license(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(p): ApiJson<LicensePatch>,
) -> Result<Json<Value>, ApiError> {
    let change = LicenseChange {
        features: p.features,
        expires_at: p.expires_at,
        max_machines: p.max_machines,
        max_leases: p.max_leases,
        customer: p.customer,
        license_type: p.license_type,
        metadata: p.metadata,
        lease_ttl: p.lease_ttl,
        lease_ttl_max: p.lease_ttl_max,
        check_in_interval: p.check_in_interval,
        deactivation_limit: p.deactivation_limit,
        deactivation_period: p.deactivation_period,
        activation_cooldown: p.activation_cooldown,
        grace_period: p.grace_period,
        inherit: p.inherit,
    };
    let l = rules::update_license(&s.store, Arc::clone(&s.signer), &id, change, s.now()).await?;
    Ok(Json(license_json(&l)))
}

/// Suspends a license: every client request is refused until it is reinstated.
pub async fn suspend(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(license_json(
        &rules::suspend(&s.store, &id, s.now()).await?,
    )))
}

/// Reinstates a suspended license.
pub async fn reinstate(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(license_json(
        &rules::reinstate(&s.store, &id, s.now()).await?,
    )))
}

/// Revokes a license for good.
pub async fn revoke(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(license_json(
        &rules::revoke(&s.store, &id, s.now()).await?,
    )))
}

/// Deletes a license with its machines and leases.
pub async fn delete_license(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    rules::delete_license(&s.store, &id, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- machines

fn machine_json(m: &Machine) -> Value {
    json!({
        "id": m.id,
        "fingerprint": m.fingerprint,
        "name": m.name,
        "platform": m.platform,
        "user": m.user,
        "activated_at": rfc3339(m.activated_at),
        "last_check_in": rfc3339(m.last_check_in),
    })
}

/// Lists a license's machines.
pub async fn list_machines(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let machines: Vec<Value> = rules::list_machines(&s.store, &id)
        .await?
        .iter()
        .map(machine_json)
        .collect();
    Ok(Json(json!({ "machines": machines })))
}

/// Deactivates one machine (by machine id).
pub async fn deactivate_machine(
    State(s): State<AppState>,
    ApiPath((id, machine)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    rules::deactivate_machine(&s.store, &id, &machine, s.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deactivates every machine of a license.
pub async fn reset_machines(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let n = rules::reset_machines(&s.store, &id, s.now()).await?;
    Ok(Json(json!({ "deactivated": n })))
}

// ---------------------------------------------------------------- audit

/// `GET /v1/admin/audit` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    license_id: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    cursor: Option<u64>,
}

/// The audit log, newest first, a page at a time (`next_cursor` continues to older events).
pub async fn audit(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = AuditFilter {
        since: query_time(&q.since, "since")?,
        until: query_time(&q.until, "until")?,
        license_id: q.license_id,
        action: q.action,
        limit: q.limit,
        cursor: q.cursor,
    };
    let (page, total) = rules::audit(&s.store, filter).await?;
    let events: Vec<Value> = page
        .items
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "at": rfc3339(e.at),
                "action": e.action,
                "actor": e.actor,
                "license_id": e.license_id,
                "detail": e.detail,
            })
        })
        .collect();
    Ok(Json(
        json!({"events": events, "next_cursor": page.next_cursor, "total": total}),
    ))
}

// ---------------------------------------------------------------- backup

/// `GET /v1/admin/backup`: a consistent copy of the whole database, as one file of the
/// backend's own format, made from a single snapshot while the server keeps serving.
pub async fn backup(State(s): State<AppState>) -> Result<Response, ApiError> {
    let store = s.store.clone();
    let bytes = tokio::task::spawn_blocking(move || store.backup_bytes())
        .await
        .map_err(|_| ApiError::Internal)??;
    let disposition = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        crate::store::FILE_NAME
    ))
    .map_err(|_| ApiError::Internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from(bytes),
    )
        .into_response())
}
