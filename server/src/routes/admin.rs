//! The admin API under `/v1/admin/`: products, licenses, machines, the audit log, backups.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use redb::{ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use licet::LicenseType;
use licet_verifier::hex;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::model::{AuditEvent, License, Product, Status, defaults, limits};
use crate::routes::{opt_time, parse_time, rfc3339};
use crate::state::{AppState, key_bytes, key_hash, license_claims};
use crate::store::{
    AUDIT, LICENSES, PRODUCTS, Snapshot, Tx, decode, encode, id_bytes, prefix_range,
};

/// Most licenses in one bulk request.
pub const MAX_BULK: usize = 1000;
/// Largest page of a listing.
pub const MAX_PAGE: usize = 1000;

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
    })
}

/// A license as the admin API shows it.
pub fn license_json(l: &License) -> Value {
    json!({
        "id": l.id,
        "license_key": l.key,
        "product": l.product,
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
        "metadata": l.metadata,
        "created_at": rfc3339(l.created_at),
        "updated_at": rfc3339(l.updated_at),
    })
}

fn check_product_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > licet_verifier::claims::limits::PRODUCT {
        return Err(ApiError::BadRequest(format!(
            "product name must be 1 to {} bytes",
            licet_verifier::claims::limits::PRODUCT
        )));
    }
    Ok(())
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
    check_product_name(&req.name)?;
    let now = s.now();
    let p = Product {
        name: req.name,
        support_message: req.support_message,
        created_at: now,
        updated_at: now,
    };
    let p = s
        .store
        .write(move |tx| {
            if tx.product(&p.name)?.is_some() {
                return Err(ApiError::Conflict(format!(
                    "product '{}' exists already",
                    p.name
                )));
            }
            tx.products
                .insert(p.name.as_str(), encode(&p)?.as_slice())?;
            tx.audit(AuditEvent::admin(
                now,
                "product.create",
                None,
                json!({"product": p.name}),
            ))?;
            Ok(p)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(product_json(&p))))
}

/// Lists products.
pub async fn list_products(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let snap = Snapshot::of(&s.store)?;
    let t = snap.txn().open_table(PRODUCTS)?;
    let mut out = Vec::new();
    for item in t.iter()? {
        let (_, v) = item?;
        out.push(product_json(&decode(v.value())?));
    }
    Ok(Json(json!({ "products": out })))
}

/// Gets a product.
pub async fn get_product(
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let p = Snapshot::of(&s.store)?
        .product(&name)?
        .ok_or_else(|| ApiError::NotFound(format!("no product '{name}'")))?;
    Ok(Json(product_json(&p)))
}

/// `PATCH /v1/admin/products/{name}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[serde(default, deserialize_with = "double")]
    support_message: Option<Option<String>>,
}

/// Updates a product's support message (the name is the `aud` of issued tokens and never
/// changes).
pub async fn update_product(
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<ProductPatch>,
) -> Result<Json<Value>, ApiError> {
    let now = s.now();
    let p = s
        .store
        .write(move |tx| {
            let mut p = tx
                .product(&name)?
                .ok_or_else(|| ApiError::NotFound(format!("no product '{name}'")))?;
            if let Some(m) = req.support_message {
                p.support_message = m;
            }
            p.updated_at = now;
            tx.products.insert(name.as_str(), encode(&p)?.as_slice())?;
            tx.audit(AuditEvent::admin(
                now,
                "product.update",
                None,
                json!({"product": name}),
            ))?;
            Ok(p)
        })
        .await?;
    Ok(Json(product_json(&p)))
}

/// Deletes a product that has no licenses.
pub async fn delete_product(
    State(s): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let now = s.now();
    s.store
        .write(move |tx| {
            if tx.product(&name)?.is_none() {
                return Err(ApiError::NotFound(format!("no product '{name}'")));
            }
            for item in tx.licenses.iter()? {
                let (_, v) = item?;
                let l: License = decode(v.value())?;
                if l.product == name {
                    return Err(ApiError::Conflict(format!(
                        "product '{name}' still has licenses; delete or move them first"
                    )));
                }
            }
            tx.products.remove(name.as_str())?;
            tx.audit(AuditEvent::admin(
                now,
                "product.delete",
                None,
                json!({"product": name}),
            ))?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- licenses

/// `POST /v1/admin/licenses` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseReq {
    product: String,
    #[serde(rename = "type")]
    license_type: Option<String>,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default, with = "opt_time")]
    expires_at: Option<u64>,
    max_machines: Option<u64>,
    max_leases: Option<u64>,
    customer: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    lease_ttl: Option<u64>,
    lease_ttl_max: Option<u64>,
    check_in_interval: Option<u64>,
}

/// `value` within `lo..=hi`, else a `BAD_REQUEST` naming the field and the range.
fn in_range(field: &str, value: u64, lo: u64, hi: u64, unit: &str) -> Result<(), ApiError> {
    if (lo..=hi).contains(&value) {
        return Ok(());
    }
    Err(ApiError::BadRequest(format!(
        "{field} must be {lo} to {hi}{unit}; got {value}"
    )))
}

/// Checks a license's settings, as created or as a change leaves them: every number within
/// its range (`model::limits`) and every claim within the token format's limits
/// (`docs/token-format.md` §7.4), so that its license key and every machine and lease
/// token signed from it later can be signed, and a refusal names the field to fix.
fn check_settings(l: &License) -> Result<(), ApiError> {
    use licet_verifier::claims::limits as claim;
    const DAYS_366: &str = " seconds (366 days)";
    // lease_ttl first: lease_ttl_max defaults to it when it is larger, and the field the
    // admin gave is the one to name.
    in_range("lease_ttl", l.lease_ttl, 1, limits::LEASE_TTL_MAX, DAYS_366)?;
    in_range(
        "lease_ttl_max",
        l.lease_ttl_max,
        1,
        limits::LEASE_TTL_MAX,
        DAYS_366,
    )?;
    if l.lease_ttl > l.lease_ttl_max {
        return Err(ApiError::BadRequest(format!(
            "lease_ttl ({}) must be at most lease_ttl_max ({}); raise lease_ttl_max too",
            l.lease_ttl, l.lease_ttl_max
        )));
    }
    in_range(
        "check_in_interval",
        l.check_in_interval,
        1,
        limits::CHECK_IN_INTERVAL,
        " seconds (ten years)",
    )?;
    if let Some(n) = l.max_machines {
        in_range(
            "max_machines",
            n,
            0,
            limits::MAX_MACHINES,
            " (null for unlimited)",
        )?;
    }
    if let Some(n) = l.max_leases {
        in_range(
            "max_leases",
            n,
            0,
            limits::MAX_LEASES,
            " (null for unlimited)",
        )?;
    }
    if let Some(t) = &l.license_type
        && LicenseType::from_name(t).is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "type '{t}' is not one of trial, subscription, perpetual"
        )));
    }
    let text = |field: &str, v: &str, max: usize| {
        if v.is_empty() || v.len() > max {
            return Err(ApiError::BadRequest(format!(
                "{field} must be 1 to {max} bytes; got {}",
                v.len()
            )));
        }
        Ok(())
    };
    if let Some(c) = &l.customer {
        text("customer", c, claim::NAME)?;
    }
    if l.features.len() > claim::FEATURES {
        return Err(ApiError::BadRequest(format!(
            "features must hold at most {} names; got {}",
            claim::FEATURES,
            l.features.len()
        )));
    }
    for f in &l.features {
        text("each feature", f, claim::FEATURE)?;
    }
    if l.metadata.len() > claim::METADATA_ENTRIES {
        return Err(ApiError::BadRequest(format!(
            "metadata must hold at most {} entries; got {}",
            claim::METADATA_ENTRIES,
            l.metadata.len()
        )));
    }
    for (k, v) in &l.metadata {
        text("each metadata key", k, claim::METADATA_KEY)?;
        if v.len() > claim::METADATA_VALUE {
            return Err(ApiError::BadRequest(format!(
                "metadata value of '{k}' must be at most {} bytes; got {}",
                claim::METADATA_VALUE,
                v.len()
            )));
        }
    }
    Ok(())
}

/// Builds and signs a new license (outside the writer: signing is the slow part).
fn new_license(s: &AppState, req: LicenseReq, now: u64) -> Result<(License, [u8; 32]), ApiError> {
    check_product_name(&req.product)?;
    let id = licet::new_id().map_err(|_| ApiError::Internal)?;
    let mut features = req.features;
    features.sort();
    features.dedup();
    let mut l = License {
        id: hex(&id),
        key: String::new(),
        product: req.product,
        license_type: req.license_type,
        status: Status::Active,
        features,
        expires_at: req.expires_at,
        max_machines: req.max_machines,
        max_leases: req.max_leases,
        lease_ttl: req.lease_ttl.unwrap_or(defaults::LEASE_TTL),
        lease_ttl_max: req
            .lease_ttl_max
            .unwrap_or(defaults::LEASE_TTL_MAX.max(req.lease_ttl.unwrap_or(0))),
        check_in_interval: req.check_in_interval.unwrap_or(defaults::CHECK_IN_INTERVAL),
        customer: req.customer,
        metadata: req.metadata,
        created_at: now,
        updated_at: now,
    };
    check_settings(&l)?;
    let token = s.signer.sign_license(license_claims(&l, now)?)?;
    l.key = token.text();
    Ok((l, key_hash(token.bytes())))
}

fn insert_license(tx: &mut Tx<'_>, l: &License, hash: &[u8; 32], now: u64) -> Result<(), ApiError> {
    let id = id_bytes(&l.id).ok_or(ApiError::Internal)?;
    tx.put_license(l)?;
    tx.license_keys.insert(hash.as_slice(), id.as_slice())?;
    tx.audit(AuditEvent::admin(
        now,
        "license.create",
        Some(&l.id),
        json!({"product": l.product, "customer": l.customer}),
    ))
}

/// Creates a license: 201 with its id and license key.
pub async fn create_license(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<LicenseReq>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = s.now();
    let (l, hash) = new_license(&s, req, now)?;
    let l = s
        .store
        .write(move |tx| {
            if tx.product(&l.product)?.is_none() {
                return Err(ApiError::BadRequest(format!(
                    "no product '{}'; create it first (POST /v1/admin/products)",
                    l.product
                )));
            }
            insert_license(tx, &l, &hash, now)?;
            Ok(l)
        })
        .await?;
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
    if req.licenses.is_empty() || req.licenses.len() > MAX_BULK {
        return Err(ApiError::BadRequest(format!(
            "licenses must hold 1 to {MAX_BULK} entries"
        )));
    }
    let now = s.now();
    let mut made = Vec::with_capacity(req.licenses.len());
    for (i, r) in req.licenses.into_iter().enumerate() {
        made.push(new_license(&s, r, now).map_err(|e| match e {
            ApiError::BadRequest(m) => ApiError::BadRequest(format!("licenses[{i}]: {m}")),
            other => other,
        })?);
    }
    let made = s
        .store
        .write(move |tx| {
            for (i, (l, _)) in made.iter().enumerate() {
                if tx.product(&l.product)?.is_none() {
                    return Err(ApiError::BadRequest(format!(
                        "licenses[{i}]: no product '{}'; nothing was created",
                        l.product
                    )));
                }
            }
            for (l, hash) in &made {
                insert_license(tx, l, hash, now)?;
            }
            Ok(made)
        })
        .await?;
    let list: Vec<Value> = made.iter().map(|(l, _)| license_json(l)).collect();
    Ok((StatusCode::CREATED, Json(json!({ "licenses": list }))))
}

fn license_id(id: &str) -> Result<[u8; 16], ApiError> {
    id_bytes(id)
        .ok_or_else(|| ApiError::NotFound(format!("no license '{id}' (ids are 32 hex digits)")))
}

/// Gets a license.
pub async fn get_license(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let l = Snapshot::of(&s.store)?
        .license(&license_id(&id)?)?
        .ok_or_else(|| ApiError::NotFound(format!("no license '{id}'")))?;
    Ok(Json(license_json(&l)))
}

/// `GET /v1/admin/licenses` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseQuery {
    product: Option<String>,
    status: Option<Status>,
    customer: Option<String>,
    expires_before: Option<String>,
    expires_after: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// Lists licenses with filters, a page at a time (`next_cursor` continues).
pub async fn list_licenses(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<LicenseQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let time = |v: &Option<String>, name: &str| {
        v.as_deref()
            .map(|t| {
                parse_time(t)
                    .ok_or_else(|| ApiError::BadRequest(format!("{name} is not an RFC 3339 time")))
            })
            .transpose()
    };
    let before = time(&q.expires_before, "expires_before")?;
    let after = time(&q.expires_after, "expires_after")?;
    let start = match &q.cursor {
        Some(c) => Some(
            id_bytes(c).ok_or_else(|| ApiError::BadRequest("cursor is not a license id".into()))?,
        ),
        None => None,
    };
    let store = s.store.clone();
    let page =
        tokio::task::spawn_blocking(move || -> Result<(Vec<Value>, Option<String>), ApiError> {
            let snap = Snapshot::of(&store)?;
            let t = snap.txn().open_table(LICENSES)?;
            let mut out = Vec::new();
            let mut next = None;
            let mut more = false;
            let range = match &start {
                Some(c) => t.range::<&[u8]>((
                    std::ops::Bound::Excluded(c.as_slice()),
                    std::ops::Bound::Unbounded,
                ))?,
                None => t.range::<&[u8]>(..)?,
            };
            for item in range {
                let (_, v) = item?;
                let l: License = decode(v.value())?;
                let keep = q.product.as_ref().is_none_or(|p| *p == l.product)
                    && q.status.is_none_or(|st| st == l.status)
                    && q.customer
                        .as_ref()
                        .is_none_or(|c| l.customer.as_ref() == Some(c))
                    && before.is_none_or(|b| l.expires_at.is_some_and(|e| e < b))
                    && after.is_none_or(|a| l.expires_at.is_none_or(|e| e > a));
                if keep {
                    // A further match is what proves there is another page: a last page
                    // that is exactly full ends the listing instead of pointing at an
                    // empty one.
                    if out.len() == limit {
                        more = true;
                        break;
                    }
                    next = Some(l.id.clone());
                    out.push(license_json(&l));
                }
            }
            Ok((out, if more { next } else { None }))
        })
        .await
        .map_err(|_| ApiError::Internal)??;
    Ok(Json(json!({"licenses": page.0, "next_cursor": page.1})))
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
}

fn double_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    opt_time::deserialize(d).map(Some)
}

async fn change_license(
    s: &AppState,
    id: &str,
    action: &'static str,
    f: impl FnOnce(&mut License) -> Result<(), ApiError> + Send + 'static,
) -> Result<Json<Value>, ApiError> {
    let bid = license_id(id)?;
    let now = s.now();
    let id = id.to_owned();
    let l = s
        .store
        .write(move |tx| {
            let mut l = tx
                .license(&bid)?
                .ok_or_else(|| ApiError::NotFound(format!("no license '{id}'")))?;
            f(&mut l)?;
            l.updated_at = now;
            tx.put_license(&l)?;
            tx.audit(AuditEvent::admin(
                now,
                action,
                Some(&l.id),
                json!({"status": l.status}),
            ))?;
            Ok(l)
        })
        .await?;
    Ok(Json(license_json(&l)))
}

/// Updates a license's online settings. The license key (the signed token the customer
/// holds) is not re-issued: online checks and new machine and lease tokens follow the
/// record; the key's own claims stay as signed.
pub async fn update_license(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(p): ApiJson<LicensePatch>,
) -> Result<Json<Value>, ApiError> {
    let now = s.now();
    let signer = Arc::clone(&s.signer);
    // Only these change what machine and lease tokens carry, and so their size.
    let claims_change = p.features.is_some()
        || p.customer.is_some()
        || p.metadata.is_some()
        || p.license_type.is_some();
    change_license(&s, &id, "license.update", move |l| {
        if let Some(mut f) = p.features {
            f.sort();
            f.dedup();
            l.features = f;
        }
        if let Some(v) = p.expires_at {
            l.expires_at = v;
        }
        if let Some(v) = p.max_machines {
            l.max_machines = v;
        }
        if let Some(v) = p.max_leases {
            l.max_leases = v;
        }
        if let Some(v) = p.customer {
            l.customer = v;
        }
        if let Some(v) = p.license_type {
            l.license_type = v;
        }
        if let Some(v) = p.metadata {
            l.metadata = v;
        }
        if let Some(v) = p.lease_ttl {
            l.lease_ttl = v;
        }
        if let Some(v) = p.lease_ttl_max {
            l.lease_ttl_max = v;
        }
        if let Some(v) = p.check_in_interval {
            l.check_in_interval = v;
        }
        // Here and not for every change: a record stored before these ranges existed can
        // still be suspended or revoked; it is the edit that must leave it valid.
        check_settings(l)?;
        if claims_change {
            // New machine and lease tokens carry the edited claims: refuse an edit that
            // would leave them no room under the format's cap, as creation does.
            signer.sign_license(license_claims(l, now)?)?;
        }
        Ok(())
    })
    .await
}

/// Suspends a license: every client request is refused until it is reinstated.
pub async fn suspend(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    change_license(&s, &id, "license.suspend", |l| match l.status {
        Status::Revoked => Err(ApiError::Conflict(
            "the license is revoked; it cannot be suspended".into(),
        )),
        _ => {
            l.status = Status::Suspended;
            Ok(())
        }
    })
    .await
}

/// Reinstates a suspended license.
pub async fn reinstate(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    change_license(&s, &id, "license.reinstate", |l| match l.status {
        Status::Revoked => Err(ApiError::Conflict(
            "the license is revoked; it cannot be reinstated".into(),
        )),
        _ => {
            l.status = Status::Active;
            Ok(())
        }
    })
    .await
}

/// Revokes a license for good.
pub async fn revoke(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    change_license(&s, &id, "license.revoke", |l| {
        l.status = Status::Revoked;
        Ok(())
    })
    .await
}

/// Deletes a license with its machines and leases.
pub async fn delete_license(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let bid = license_id(&id)?;
    let now = s.now();
    s.store
        .write(move |tx| {
            let l = tx
                .license(&bid)?
                .ok_or_else(|| ApiError::NotFound(format!("no license '{id}'")))?;
            let bytes = key_bytes(&l.key).map_err(|_| ApiError::Internal)?;
            tx.license_keys.remove(key_hash(&bytes).as_slice())?;
            let (lo, hi) = prefix_range(&bid);
            tx.machines
                .retain_in(lo.as_slice()..hi.as_slice(), |_, _| false)?;
            tx.delete_leases_of(&bid)?;
            tx.licenses.remove(bid.as_slice())?;
            tx.audit(AuditEvent::admin(
                now,
                "license.delete",
                Some(&l.id),
                json!({"product": l.product}),
            ))?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- machines

/// Lists a license's machines.
pub async fn list_machines(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let bid = license_id(&id)?;
    let snap = Snapshot::of(&s.store)?;
    if snap.license(&bid)?.is_none() {
        return Err(ApiError::NotFound(format!("no license '{id}'")));
    }
    let machines: Vec<Value> = snap
        .machines(&bid)?
        .into_iter()
        .map(|m| {
            json!({
                "id": m.id,
                "fingerprint": m.fingerprint,
                "name": m.name,
                "platform": m.platform,
                "user": m.user,
                "activated_at": rfc3339(m.activated_at),
                "last_check_in": rfc3339(m.last_check_in),
            })
        })
        .collect();
    Ok(Json(json!({ "machines": machines })))
}

/// Deactivates one machine (by machine id).
pub async fn deactivate_machine(
    State(s): State<AppState>,
    ApiPath((id, machine)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let bid = license_id(&id)?;
    // Ids are stored as lower-case hex; accept them in any case, as every other path does.
    let (id, machine) = (id.to_ascii_lowercase(), machine.to_ascii_lowercase());
    let now = s.now();
    s.store
        .write(move |tx| {
            if tx.license(&bid)?.is_none() {
                return Err(ApiError::NotFound(format!("no license '{id}'")));
            }
            let (lo, hi) = prefix_range(&bid);
            let mut found = None;
            for item in tx.machines.range(lo.as_slice()..hi.as_slice())? {
                let (k, v) = item?;
                let m: crate::model::Machine = decode(v.value())?;
                if m.id == machine {
                    found = Some(k.value().to_vec());
                    break;
                }
            }
            let key = found.ok_or_else(|| {
                ApiError::NotFound(format!("no machine '{machine}' on license '{id}'"))
            })?;
            tx.machines.remove(key.as_slice())?;
            tx.audit(AuditEvent::admin(
                now,
                "machine.deactivate",
                Some(&id),
                json!({"machine_id": machine}),
            ))?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deactivates every machine of a license.
pub async fn reset_machines(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let bid = license_id(&id)?;
    let now = s.now();
    let n = s
        .store
        .write(move |tx| {
            if tx.license(&bid)?.is_none() {
                return Err(ApiError::NotFound(format!("no license '{id}'")));
            }
            let n = tx.machine_count(&bid)?;
            let (lo, hi) = prefix_range(&bid);
            tx.machines
                .retain_in(lo.as_slice()..hi.as_slice(), |_, _| false)?;
            tx.audit(AuditEvent::admin(
                now,
                "machine.reset",
                Some(&id),
                json!({"removed": n}),
            ))?;
            Ok(n)
        })
        .await?;
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
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let time = |v: &Option<String>, name: &str| {
        v.as_deref()
            .map(|t| {
                parse_time(t)
                    .ok_or_else(|| ApiError::BadRequest(format!("{name} is not an RFC 3339 time")))
            })
            .transpose()
    };
    let since = time(&q.since, "since")?;
    let until = time(&q.until, "until")?;
    let store = s.store.clone();
    let (events, next, total) = tokio::task::spawn_blocking(
        move || -> Result<(Vec<Value>, Option<u64>, u64), ApiError> {
            let snap = Snapshot::of(&store)?;
            let t = snap.txn().open_table(AUDIT)?;
            let total = t.len()?;
            let upper = q.cursor.unwrap_or(u64::MAX);
            let mut out = Vec::new();
            let mut last = None;
            let mut more = false;
            for item in t.range(..upper)?.rev() {
                let (_, v) = item?;
                let e: AuditEvent = decode(v.value())?;
                if since.is_some_and(|s| e.at < s) {
                    break;
                }
                let keep = q
                    .license_id
                    .as_ref()
                    .is_none_or(|l| e.license_id.as_ref() == Some(l))
                    && q.action.as_ref().is_none_or(|a| e.action == *a)
                    && until.is_none_or(|u| e.at <= u);
                if keep {
                    if out.len() == limit {
                        more = true;
                        break;
                    }
                    last = Some(e.seq);
                    out.push(json!({
                        "seq": e.seq,
                        "at": rfc3339(e.at),
                        "action": e.action,
                        "actor": e.actor,
                        "license_id": e.license_id,
                        "detail": e.detail,
                    }));
                }
            }
            Ok((out, if more { last } else { None }, total))
        },
    )
    .await
    .map_err(|_| ApiError::Internal)??;
    Ok(Json(
        json!({"events": events, "next_cursor": next, "total": total}),
    ))
}

// ---------------------------------------------------------------- backup

/// `GET /v1/admin/backup`: a consistent copy of the whole database, as one redb file, made
/// from a single snapshot while the server keeps serving.
pub async fn backup(State(s): State<AppState>) -> Result<Response, ApiError> {
    let store = s.store.clone();
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let dir = store
            .path()
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".backup-{}.redb",
            hex(&licet::new_id().map_err(|_| ApiError::Internal)?)
        ));
        let result = store.backup_to(&tmp).and_then(|()| {
            std::fs::read(&tmp).map_err(|e| {
                tracing::error!(error = %e, "reading the backup file");
                ApiError::Internal
            })
        });
        let _ = std::fs::remove_file(&tmp);
        result
    })
    .await
    .map_err(|_| ApiError::Internal)??;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"licet.redb\"",
            ),
        ],
        Body::from(bytes),
    )
        .into_response())
}
