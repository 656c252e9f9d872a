//! The admin rules: products, licenses (create, bulk, update, suspend, reinstate, revoke,
//! delete), machines (deactivate one, reset), and the reads (lists with filters and
//! cursors, the audit log with filters).

use std::collections::BTreeMap;

use serde_json::json;

use licet_verifier::hex;

use crate::core::CoreError;
use crate::core::id_bytes;
use crate::model::{
    AuditEvent, License, Machine, Overrides, Policy, Product, Status, Terms, defaults,
};
use crate::state::{Signer, key_bytes, key_hash, license_claims};
use crate::storage::{Backend, WriteTx};

/// Most licenses in one bulk request.
pub const MAX_BULK: usize = 1000;
/// Largest page of a listing.
pub const MAX_PAGE: usize = 1000;

pub(crate) fn check_product_name(name: &str) -> Result<(), CoreError> {
    if name.is_empty() || name.len() > licet_verifier::claims::limits::PRODUCT {
        return Err(CoreError::BadRequest(format!(
            "product name must be 1 to {} bytes",
            licet_verifier::claims::limits::PRODUCT
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- products

/// Creates a product.
///
/// # Errors
/// `BAD_REQUEST` for a bad name, `CONFLICT` when it exists, storage errors.
pub async fn create_product<B: Backend>(
    store: &B,
    name: String,
    support_message: Option<String>,
    now: u64,
) -> Result<Product, CoreError> {
    check_product_name(&name)?;
    let p = Product {
        name,
        support_message,
        created_at: now,
        updated_at: now,
        trial_policy: None,
    };
    store
        .write(move |tx| {
            if tx.product(&p.name)?.is_some() {
                return Err(CoreError::Conflict(format!(
                    "product '{}' exists already",
                    p.name
                )));
            }
            tx.put_product(&p)?;
            tx.append_audit(AuditEvent::admin(
                now,
                "product.create",
                None,
                json!({"product": p.name}),
            ))?;
            Ok(p.clone())
        })
        .await
}

/// Every product, by name.
///
/// # Errors
/// Storage errors.
pub async fn list_products<B: Backend>(store: &B) -> Result<Vec<Product>, CoreError> {
    store.read(|tx| tx.products()).await
}

/// A product.
///
/// # Errors
/// `NOT_FOUND`, storage errors.
pub async fn get_product<B: Backend>(store: &B, name: &str) -> Result<Product, CoreError> {
    let name = name.to_owned();
    store
        .read(move |tx| {
            tx.product(&name)?
                .ok_or_else(|| CoreError::NotFound(format!("no product '{name}'")))
        })
        .await
}

/// Changes a product's support message and the policy its keyless trials are made from
/// (`Some(None)` clears either; the name is the `aud` of issued tokens and never changes).
///
/// # Errors
/// `NOT_FOUND`, `BAD_REQUEST` naming `trial_policy` when it names no policy of the product
/// or one that cannot make trials (`core::trials::check_terms`), storage errors.
pub async fn update_product<B: Backend>(
    store: &B,
    name: String,
    support_message: Option<Option<String>>,
    now: u64,
    trial_policy: Option<Option<String>>,
) -> Result<Product, CoreError> {
    if let Some(Some(t)) = &trial_policy {
        crate::core::policies::check_name(t)
            .map_err(|e| CoreError::BadRequest(format!("trial_policy: {}", e.message())))?;
    }
    store
        .write(move |tx| {
            let mut p = tx
                .product(&name)?
                .ok_or_else(|| CoreError::NotFound(format!("no product '{name}'")))?;
            if let Some(m) = &support_message {
                p.support_message.clone_from(m);
            }
            if let Some(t) = &trial_policy {
                if let Some(t) = t {
                    let policy = tx.policy(&name, t)?.ok_or_else(|| {
                        CoreError::BadRequest(format!(
                            "trial_policy: product '{name}' has no policy '{t}'; create it first (POST /v1/admin/policies)"
                        ))
                    })?;
                    crate::core::trials::check_terms(t, &policy.terms)?;
                }
                p.trial_policy.clone_from(t);
            }
            p.updated_at = now;
            tx.put_product(&p)?;
            let mut detail = json!({"product": name});
            if trial_policy.is_some() {
                detail["trial_policy"] = json!(p.trial_policy);
            }
            tx.append_audit(AuditEvent::admin(now, "product.update", None, detail))?;
            Ok(p)
        })
        .await
}

/// Deletes a product that has no licenses.
///
/// # Errors
/// `NOT_FOUND`, `CONFLICT` while it has licenses, storage errors.
pub async fn delete_product<B: Backend>(
    store: &B,
    name: String,
    now: u64,
) -> Result<(), CoreError> {
    store
        .write(move |tx| {
            if tx.product(&name)?.is_none() {
                return Err(CoreError::NotFound(format!("no product '{name}'")));
            }
            if tx.product_has_licenses(&name)? {
                return Err(CoreError::Conflict(format!(
                    "product '{name}' still has licenses; delete or move them first"
                )));
            }
            if !tx.policies(Some(&name))?.is_empty() {
                return Err(CoreError::Conflict(format!(
                    "product '{name}' still has policies; delete them first (DELETE /v1/admin/policies/{name}/{{policy}})"
                )));
            }
            tx.remove_product(&name)?;
            tx.append_audit(AuditEvent::admin(
                now,
                "product.delete",
                None,
                json!({"product": name}),
            ))?;
            Ok(())
        })
        .await
}

// ---------------------------------------------------------------- licenses

/// A new license's settings.
#[derive(Debug, Clone, Default)]
pub struct NewLicense {
    /// Its product.
    pub product: String,
    /// The policy of that product it is made from: it reads every term it does not
    /// override from it.
    pub policy: Option<String>,
    /// The terms it sets itself (over its policy's, or over the defaults without one).
    pub overrides: Overrides,
    /// Expiry: `None` takes the policy's duration from now (perpetual without one);
    /// `Some(None)` is perpetual whatever the policy says.
    pub expires_at: Option<Option<u64>>,
    /// Customer.
    pub customer: Option<String>,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, String>,
}

/// Checks a license's settings, as created or as a change leaves them: its effective terms
/// (`licet::policy::Terms::check`: every number within its range, no contradiction) and
/// its own claims within the token format's limits (`docs/token-format.md` §7.4), so that
/// its license key and every machine and lease token signed from it later can be signed,
/// and a refusal names the field to fix.
fn check_settings(l: &License) -> Result<(), CoreError> {
    use licet_verifier::claims::limits as claim;
    l.terms().check().map_err(crate::core::policies::invalid)?;
    let text = |field: &str, v: &str, max: usize| {
        if v.is_empty() || v.len() > max {
            return Err(CoreError::BadRequest(format!(
                "{field} must be 1 to {max} bytes; got {}",
                v.len()
            )));
        }
        Ok(())
    };
    if let Some(c) = &l.customer {
        text("customer", c, claim::NAME)?;
    }
    if l.metadata.len() > claim::METADATA_ENTRIES {
        return Err(CoreError::BadRequest(format!(
            "metadata must hold at most {} entries; got {}",
            claim::METADATA_ENTRIES,
            l.metadata.len()
        )));
    }
    for (k, v) in &l.metadata {
        text("each metadata key", k, claim::METADATA_KEY)?;
        if v.len() > claim::METADATA_VALUE {
            return Err(CoreError::BadRequest(format!(
                "metadata value of '{k}' must be at most {} bytes; got {}",
                claim::METADATA_VALUE,
                v.len()
            )));
        }
    }
    Ok(())
}

/// Sorts and de-duplicates overridden features.
fn tidy(o: &mut Overrides) {
    if let Some(f) = &mut o.features {
        f.sort();
        f.dedup();
    }
}

/// Builds and signs a new license (outside the writer: signing is the slow part), from
/// `policy`, the terms of the policy it names as a snapshot had them (the write checks
/// they are still the same).
pub(crate) fn new_license(
    signer: &Signer,
    req: NewLicense,
    policy: Option<&Terms>,
    now: u64,
) -> Result<(License, [u8; 32]), CoreError> {
    check_product_name(&req.product)?;
    let id = licet::new_id().map_err(|_| CoreError::Internal)?;
    let mut overrides = req.overrides;
    tidy(&mut overrides);
    // Without a policy, a default lease longer than the default longest lease raises the
    // longest one with it (as before policies); under a policy that is a contradiction to
    // name, not a term to change silently.
    if policy.is_none()
        && overrides.lease_ttl_max.is_none()
        && overrides
            .lease_ttl
            .is_some_and(|t| t > defaults::LEASE_TTL_MAX)
    {
        overrides.lease_ttl_max = overrides.lease_ttl;
    }
    let terms = crate::core::policies::effective(policy, &overrides);
    let expires_at = match req.expires_at {
        Some(e) => e,
        None => terms.duration.map(|d| now.saturating_add(d)),
    };
    let mut l = License {
        id: hex(&id),
        key: String::new(),
        product: req.product,
        policy: req.policy,
        overrides,
        license_type: None,
        status: Status::Active,
        features: Vec::new(),
        expires_at,
        max_machines: None,
        max_leases: None,
        lease_ttl: 0,
        lease_ttl_max: 0,
        check_in_interval: 0,
        deactivation_limit: None,
        deactivation_period: 0,
        activation_cooldown: 0,
        grace_period: 0,
        customer: req.customer,
        metadata: req.metadata,
        created_at: now,
        updated_at: now,
    };
    l.set_terms(terms);
    check_settings(&l)?;
    let token = signer.sign_license(license_claims(&l, now)?)?;
    l.key = token.text();
    Ok((l, key_hash(token.bytes())))
}

fn insert_license(
    tx: &mut dyn WriteTx,
    l: &License,
    hash: &[u8; 32],
    now: u64,
) -> Result<(), CoreError> {
    tx.insert_license(l, hash)?;
    tx.append_audit(AuditEvent::admin(
        now,
        "license.create",
        Some(&l.id),
        json!({"product": l.product, "customer": l.customer, "policy": l.policy, "overrides": l.overrides.fields()}),
    ))
}

/// The terms of the policies `reqs` name, from one snapshot: `None` for a request without
/// a policy.
async fn policies_of<B: Backend>(
    store: &B,
    reqs: &[NewLicense],
) -> Result<Vec<Result<Option<Policy>, CoreError>>, CoreError> {
    let names: Vec<Option<(String, String)>> = reqs
        .iter()
        .map(|r| r.policy.clone().map(|p| (r.product.clone(), p)))
        .collect();
    if names.iter().all(Option::is_none) {
        return Ok(reqs.iter().map(|_| Ok(None)).collect());
    }
    store
        .read(move |tx| {
            let mut out = Vec::with_capacity(names.len());
            for n in &names {
                out.push(match n {
                    None => Ok(None),
                    Some((product, name)) => tx.policy(product, name)?.map(Some).ok_or_else(|| {
                        CoreError::BadRequest(format!(
                            "no policy '{name}' of product '{product}'; create it first (POST /v1/admin/policies)"
                        ))
                    }),
                });
            }
            Ok(out)
        })
        .await
}

/// Inside the write: the license's product exists, and its policy is still the one it was
/// signed from.
pub(crate) fn still_valid(
    tx: &mut dyn WriteTx,
    l: &License,
    signed_from: Option<&Policy>,
) -> Result<(), CoreError> {
    if tx.product(&l.product)?.is_none() {
        return Err(CoreError::BadRequest(format!(
            "no product '{}'; create it first (POST /v1/admin/products)",
            l.product
        )));
    }
    if let Some(name) = &l.policy
        && tx.policy(&l.product, name)?.as_ref() != signed_from
    {
        return Err(CoreError::Conflict(format!(
            "policy '{name}' changed while the license was made; nothing was created: try again"
        )));
    }
    Ok(())
}

/// Creates and signs a license.
///
/// # Errors
/// `BAD_REQUEST` naming the setting to fix or the missing product or policy, storage errors.
pub async fn create_license<B: Backend>(
    store: &B,
    signer: &Signer,
    req: NewLicense,
    now: u64,
) -> Result<License, CoreError> {
    check_product_name(&req.product)?;
    if let Some(p) = &req.policy {
        crate::core::policies::check_name(p)?;
    }
    let policy = policies_of(store, std::slice::from_ref(&req))
        .await?
        .pop()
        .transpose()?
        .flatten();
    let (l, hash) = new_license(signer, req, policy.as_ref().map(|p| &p.terms), now)?;
    store
        .write(move |tx| {
            still_valid(tx, &l, policy.as_ref())?;
            insert_license(tx, &l, &hash, now)?;
            Ok(l.clone())
        })
        .await
}

/// Creates 1 to [`MAX_BULK`] licenses, all or nothing.
///
/// # Errors
/// `BAD_REQUEST` naming the first bad entry (`licenses[i]: …`) and nothing created,
/// storage errors.
pub async fn bulk_create<B: Backend>(
    store: &B,
    signer: &Signer,
    reqs: Vec<NewLicense>,
    now: u64,
) -> Result<Vec<License>, CoreError> {
    if reqs.is_empty() || reqs.len() > MAX_BULK {
        return Err(CoreError::BadRequest(format!(
            "licenses must hold 1 to {MAX_BULK} entries"
        )));
    }
    let at = |i: usize| {
        move |e| match e {
            CoreError::BadRequest(m) => CoreError::BadRequest(format!("licenses[{i}]: {m}")),
            other => other,
        }
    };
    for (i, r) in reqs.iter().enumerate() {
        if let Some(p) = &r.policy {
            crate::core::policies::check_name(p).map_err(at(i))?;
        }
    }
    let policies = policies_of(store, &reqs).await?;
    let mut made = Vec::with_capacity(reqs.len());
    for (i, (r, p)) in reqs.into_iter().zip(policies).enumerate() {
        let p = p.map_err(at(i))?;
        let (l, hash) = new_license(signer, r, p.as_ref().map(|p| &p.terms), now).map_err(at(i))?;
        made.push((l, hash, p));
    }
    store
        .write(move |tx| {
            for (i, (l, _, p)) in made.iter().enumerate() {
                still_valid(tx, l, p.as_ref()).map_err(at(i))?;
            }
            for (l, hash, _) in &made {
                insert_license(tx, l, hash, now)?;
            }
            Ok(made.iter().map(|(l, _, _)| l.clone()).collect())
        })
        .await
}

fn license_id(id: &str) -> Result<[u8; 16], CoreError> {
    id_bytes(id)
        .ok_or_else(|| CoreError::NotFound(format!("no license '{id}' (ids are 32 hex digits)")))
}

/// A license.
///
/// # Errors
/// `NOT_FOUND`, storage errors.
pub async fn get_license<B: Backend>(store: &B, id: &str) -> Result<License, CoreError> {
    let bid = license_id(id)?;
    let id = id.to_owned();
    store
        .read(move |tx| {
            tx.license(&bid)?
                .ok_or_else(|| CoreError::NotFound(format!("no license '{id}'")))
        })
        .await
}

/// The license a license key names, found by the hash of the key's exact bytes (the key
/// itself is never stored in an index nor logged); `None` for a key this server did not
/// issue.
///
/// # Errors
/// Storage errors.
pub async fn license_by_key<B: Backend>(
    store: &B,
    key: &str,
) -> Result<Option<License>, CoreError> {
    let key = key.to_owned();
    store
        .read(move |tx| Ok(crate::core::client::find_in(tx, &key)?.map(|f| f.license)))
        .await
}

/// Which licenses a listing shows.
#[derive(Debug, Clone, Default)]
pub struct LicenseFilter {
    /// Of this product.
    pub product: Option<String>,
    /// In this state.
    pub status: Option<Status>,
    /// Of this customer.
    pub customer: Option<String>,
    /// Whose customer contains this text, in any case (the console's search).
    pub customer_contains: Option<String>,
    /// Of this type (`trial`, `subscription`, `perpetual`).
    pub license_type: Option<String>,
    /// Expiring before (perpetual ones never do).
    pub expires_before: Option<u64>,
    /// Expiring after (perpetual ones included).
    pub expires_after: Option<u64>,
    /// Page size (clamped to 1..=[`MAX_PAGE`]; 100 when absent).
    pub limit: Option<usize>,
    /// Continue after this license id (the previous page's `next_cursor`).
    pub cursor: Option<[u8; 16]>,
}

/// One page of a listing, and where the next begins (`None` on the last page).
#[derive(Debug, Clone)]
pub struct Page<T, C> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor of the next page.
    pub next_cursor: Option<C>,
}

/// Licenses matching `f`, in id order, a page at a time.
///
/// # Errors
/// Storage errors.
pub async fn list_licenses<B: Backend>(
    store: &B,
    f: LicenseFilter,
) -> Result<Page<License, String>, CoreError> {
    let limit = f.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let contains = f.customer_contains.as_deref().map(str::to_lowercase);
    store
        .scan(move |tx| {
            let mut items = Vec::new();
            let mut next = None;
            let mut more = false;
            tx.licenses_after(f.cursor.as_ref(), &mut |l| {
                let keep = f.product.as_ref().is_none_or(|p| *p == l.product)
                    && f.status.is_none_or(|st| st == l.status)
                    && f.customer
                        .as_ref()
                        .is_none_or(|c| l.customer.as_ref() == Some(c))
                    && contains.as_ref().is_none_or(|c| {
                        l.customer
                            .as_ref()
                            .is_some_and(|lc| lc.to_lowercase().contains(c.as_str()))
                    })
                    && f.license_type
                        .as_ref()
                        .is_none_or(|t| l.license_type.as_ref() == Some(t))
                    && f.expires_before
                        .is_none_or(|b| l.expires_at.is_some_and(|e| e < b))
                    && f.expires_after
                        .is_none_or(|a| l.expires_at.is_none_or(|e| e > a));
                if keep {
                    // A further match is what proves there is another page: a last page
                    // that is exactly full ends the listing instead of pointing at an
                    // empty one.
                    if items.len() == limit {
                        more = true;
                        return false;
                    }
                    next = Some(l.id.clone());
                    items.push(l);
                }
                true
            })?;
            Ok(Page {
                items,
                next_cursor: if more { next } else { None },
            })
        })
        .await
}

/// A change of a license's settings: each `Some` replaces the setting (`Some(None)`
/// clears an optional one).
#[derive(Debug, Clone, Default)]
pub struct LicenseChange {
    /// Features.
    pub features: Option<Vec<String>>,
    /// Expiry.
    pub expires_at: Option<Option<u64>>,
    /// Most machines.
    pub max_machines: Option<Option<u64>>,
    /// Most leases.
    pub max_leases: Option<Option<u64>>,
    /// Customer.
    pub customer: Option<Option<String>>,
    /// Type.
    pub license_type: Option<Option<String>>,
    /// Metadata.
    pub metadata: Option<BTreeMap<String, String>>,
    /// Default lease length.
    pub lease_ttl: Option<u64>,
    /// Longest lease.
    pub lease_ttl_max: Option<u64>,
    /// Check-in interval.
    pub check_in_interval: Option<u64>,
    /// Most deactivations per period.
    pub deactivation_limit: Option<Option<u64>>,
    /// The period deactivations are counted over.
    pub deactivation_period: Option<u64>,
    /// The cooldown of a freed activation.
    pub activation_cooldown: Option<u64>,
    /// The grace period.
    pub grace_period: Option<u64>,
    /// Fields whose override is dropped, so that the license reads its policy's value
    /// again (`licet::policy::OVERRIDABLE` names them).
    pub inherit: Vec<String>,
}

/// A change made to a license inside the write. Boxed: a generic closure parameter here
/// makes rustc lose the `Send` proof of the handlers' futures (a known higher-ranked
/// lifetime limitation of async fns).
type Change = Box<dyn FnMut(&mut dyn WriteTx, &mut License) -> Result<(), CoreError> + Send>;

fn change_license<B: Backend>(
    store: B,
    id: &str,
    action: &'static str,
    now: u64,
    mut f: Change,
) -> impl std::future::Future<Output = Result<License, CoreError>> + Send + 'static {
    let bid = license_id(id);
    let id = id.to_owned();
    async move {
        let bid = bid?;
        store
            .write(move |tx| {
                let mut l = tx
                    .license(&bid)?
                    .ok_or_else(|| CoreError::NotFound(format!("no license '{id}'")))?;
                f(tx, &mut l)?;
                l.updated_at = now;
                tx.put_license(&l)?;
                tx.append_audit(AuditEvent::admin(
                    now,
                    action,
                    Some(&l.id),
                    json!({"status": l.status}),
                ))?;
                Ok(l)
            })
            .await
    }
}

/// Changes a license's online settings. The license key (the signed token the customer
/// holds) is not re-issued: online checks and new machine and lease tokens follow the
/// record; the key's own claims stay as signed.
///
/// # Errors
/// `NOT_FOUND`, `BAD_REQUEST` naming the setting to fix, storage errors.
pub async fn update_license<B: Backend>(
    store: &B,
    signer: std::sync::Arc<Signer>,
    id: &str,
    p: LicenseChange,
    now: u64,
) -> Result<License, CoreError> {
    // Only these change what machine and lease tokens carry, and so their size.
    let claims_change = p.features.is_some()
        || p.customer.is_some()
        || p.metadata.is_some()
        || p.license_type.is_some()
        || !p.inherit.is_empty();
    change_license(
        store.clone(),
        id,
        "license.update",
        now,
        Box::new(move |tx, l| {
            let p = p.clone();
            let o = &mut l.overrides;
            // Dropped first, so that a request may drop an override and set another.
            for field in &p.inherit {
                o.inherit(field).map_err(crate::core::policies::invalid)?;
            }
            if let Some(f) = p.features {
                o.features = Some(f);
            }
            if let Some(v) = p.max_machines {
                o.max_machines = Some(v);
            }
            if let Some(v) = p.max_leases {
                o.max_leases = Some(v);
            }
            if let Some(v) = p.license_type {
                o.license_type = Some(v);
            }
            if let Some(v) = p.lease_ttl {
                o.lease_ttl = Some(v);
            }
            if let Some(v) = p.lease_ttl_max {
                o.lease_ttl_max = Some(v);
            }
            if let Some(v) = p.check_in_interval {
                o.check_in_interval = Some(v);
            }
            if let Some(v) = p.deactivation_limit {
                o.deactivation_limit = Some(v);
            }
            if let Some(v) = p.deactivation_period {
                o.deactivation_period = Some(v);
            }
            if let Some(v) = p.activation_cooldown {
                o.activation_cooldown = Some(v);
            }
            if let Some(v) = p.grace_period {
                o.grace_period = Some(v);
            }
            tidy(o);
            if let Some(v) = p.expires_at {
                l.expires_at = v;
            }
            if let Some(v) = p.customer {
                l.customer = v;
            }
            if let Some(v) = p.metadata {
                l.metadata = v;
            }
            let policy = match &l.policy {
                Some(name) => Some(
                    tx.policy(&l.product, name)?
                        .ok_or(CoreError::Internal)?
                        .terms,
                ),
                None => None,
            };
            l.set_terms(crate::core::policies::effective(
                policy.as_ref(),
                &l.overrides,
            ));
            // Here and not for every change: a record stored before these ranges existed can
            // still be suspended or revoked; it is the edit that must leave it valid.
            check_settings(l)?;
            if claims_change {
                // New machine and lease tokens carry the edited claims: refuse an edit that
                // would leave them no room under the format's cap, as creation does.
                signer.sign_license(license_claims(l, now)?)?;
            }
            Ok(())
        }),
    )
    .await
}

/// Suspends a license: every client request is refused until it is reinstated.
///
/// # Errors
/// `NOT_FOUND`, `CONFLICT` when revoked, storage errors.
pub async fn suspend<B: Backend>(store: &B, id: &str, now: u64) -> Result<License, CoreError> {
    change_license(
        store.clone(),
        id,
        "license.suspend",
        now,
        Box::new(|_, l| match l.status {
            Status::Revoked => Err(CoreError::Conflict(
                "the license is revoked; it cannot be suspended".into(),
            )),
            _ => {
                l.status = Status::Suspended;
                Ok(())
            }
        }),
    )
    .await
}

/// Reinstates a suspended license.
///
/// # Errors
/// `NOT_FOUND`, `CONFLICT` when revoked, storage errors.
pub async fn reinstate<B: Backend>(store: &B, id: &str, now: u64) -> Result<License, CoreError> {
    change_license(
        store.clone(),
        id,
        "license.reinstate",
        now,
        Box::new(|_, l| match l.status {
            Status::Revoked => Err(CoreError::Conflict(
                "the license is revoked; it cannot be reinstated".into(),
            )),
            _ => {
                l.status = Status::Active;
                Ok(())
            }
        }),
    )
    .await
}

/// Revokes a license for good.
///
/// # Errors
/// `NOT_FOUND`, storage errors.
pub async fn revoke<B: Backend>(store: &B, id: &str, now: u64) -> Result<License, CoreError> {
    change_license(
        store.clone(),
        id,
        "license.revoke",
        now,
        Box::new(|_, l| {
            l.status = Status::Revoked;
            Ok(())
        }),
    )
    .await
}

/// Re-issues a license's key: the same record (id, settings, machines, leases) under a
/// fresh key signed with the current signing key. The old key is refused online from the
/// commit on (`KEY_INVALID`: the server finds licenses by their key's exact bytes); it
/// still verifies offline while its signing key is published, as every token signed
/// before does. Machines activated with the old key stay activated: their tokens name the
/// license id, not the key. A revoked license is not re-issued.
///
/// # Errors
/// `NOT_FOUND`, `CONFLICT` when revoked, `INTERNAL` when signing fails, storage errors.
pub async fn reissue<B: Backend>(
    store: &B,
    signer: std::sync::Arc<Signer>,
    id: &str,
    now: u64,
) -> Result<License, CoreError> {
    let bid = license_id(id)?;
    let id = id.to_owned();
    store
        .write(move |tx| {
            let mut l = tx
                .license(&bid)?
                .ok_or_else(|| CoreError::NotFound(format!("no license '{id}'")))?;
            if l.status == Status::Revoked {
                return Err(CoreError::Conflict(
                    "the license is revoked; a revoked license is not re-issued".into(),
                ));
            }
            let old = key_bytes(&l.key).map_err(|_| CoreError::Internal)?;
            let kid_of = |b: &[u8]| {
                licet_verifier::envelope::open(b)
                    .map(|e| hex(&e.kid))
                    .unwrap_or_default()
            };
            // Signed inside the job, from the record as this transaction reads it, so a
            // concurrent edit cannot leave the new key with older claims. Signing is pure,
            // so a rerun of the job is invisible.
            let token = signer.sign_license(license_claims(&l, now)?)?;
            l.key = token.text();
            l.updated_at = now;
            tx.rekey_license(&l, &key_hash(&old), &key_hash(token.bytes()))?;
            tx.append_audit(AuditEvent::admin(
                now,
                "license.reissue",
                Some(&l.id),
                json!({"old_kid": kid_of(&old), "kid": kid_of(token.bytes())}),
            ))?;
            Ok(l)
        })
        .await
}

/// Deletes a license with its machines and leases.
///
/// # Errors
/// `NOT_FOUND`, storage errors.
pub async fn delete_license<B: Backend>(store: &B, id: &str, now: u64) -> Result<(), CoreError> {
    let bid = license_id(id)?;
    let id = id.to_owned();
    store
        .write(move |tx| {
            let l = tx
                .license(&bid)?
                .ok_or_else(|| CoreError::NotFound(format!("no license '{id}'")))?;
            let bytes = key_bytes(&l.key).map_err(|_| CoreError::Internal)?;
            tx.delete_license(&bid, &key_hash(&bytes))?;
            tx.append_audit(AuditEvent::admin(
                now,
                "license.delete",
                Some(&l.id),
                json!({"product": l.product}),
            ))?;
            Ok(())
        })
        .await
}

// ---------------------------------------------------------------- machines

/// A license's machines.
///
/// # Errors
/// `NOT_FOUND`, storage errors.
pub async fn list_machines<B: Backend>(store: &B, id: &str) -> Result<Vec<Machine>, CoreError> {
    let bid = license_id(id)?;
    let id = id.to_owned();
    store
        .read(move |tx| {
            if tx.license(&bid)?.is_none() {
                return Err(CoreError::NotFound(format!("no license '{id}'")));
            }
            tx.machines(&bid)
        })
        .await
}

/// Deactivates one machine, by machine id.
///
/// # Errors
/// `NOT_FOUND` (license or machine), storage errors.
pub async fn deactivate_machine<B: Backend>(
    store: &B,
    id: &str,
    machine: &str,
    now: u64,
) -> Result<(), CoreError> {
    let bid = license_id(id)?;
    // Ids are stored as lower-case hex; accept them in any case, as every other path does.
    let (id, machine) = (id.to_ascii_lowercase(), machine.to_ascii_lowercase());
    store
        .write(move |tx| {
            let l = tx
                .license(&bid)?
                .ok_or_else(|| CoreError::NotFound(format!("no license '{id}'")))?;
            let m = tx
                .machines(&bid)?
                .into_iter()
                .find(|m| m.id == machine)
                .ok_or_else(|| {
                    CoreError::NotFound(format!("no machine '{machine}' on license '{id}'"))
                })?;
            let fp = licet_verifier::unhex::<32>(&m.fingerprint).ok_or(CoreError::Internal)?;
            tx.remove_machine(&bid, &fp)?;
            // Not limited (the vendor's way round the deactivation limit and the
            // cooldown), but revoked like any other: `core::deactivations`.
            crate::core::deactivations::record(tx, &l, &bid, &m, now, true)?;
            tx.append_audit(AuditEvent::admin(
                now,
                "machine.deactivate",
                Some(&id),
                json!({"machine_id": machine}),
            ))?;
            Ok(())
        })
        .await
}

/// Deactivates every machine of a license; answers how many there were.
///
/// # Errors
/// `NOT_FOUND`, storage errors.
pub async fn reset_machines<B: Backend>(store: &B, id: &str, now: u64) -> Result<u64, CoreError> {
    let bid = license_id(id)?;
    let id = id.to_owned();
    store
        .write(move |tx| {
            let l = tx
                .license(&bid)?
                .ok_or_else(|| CoreError::NotFound(format!("no license '{id}'")))?;
            let machines = tx.machines(&bid)?;
            let n = u64::try_from(machines.len()).unwrap_or(u64::MAX);
            tx.remove_machines_of(&bid)?;
            for m in &machines {
                crate::core::deactivations::record(tx, &l, &bid, m, now, true)?;
            }
            tx.append_audit(AuditEvent::admin(
                now,
                "machine.reset",
                Some(&id),
                json!({"removed": n}),
            ))?;
            Ok(n)
        })
        .await
}

// ---------------------------------------------------------------- audit

/// Which audit events a listing shows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// About this license (hex id).
    pub license_id: Option<String>,
    /// Of this action.
    pub action: Option<String>,
    /// At or after.
    pub since: Option<u64>,
    /// At or before.
    pub until: Option<u64>,
    /// Page size (clamped to 1..=[`MAX_PAGE`]; 100 when absent).
    pub limit: Option<usize>,
    /// Continue below this sequence number (the previous page's `next_cursor`).
    pub cursor: Option<u64>,
}

/// The audit log, newest first, a page at a time, and how many events it holds in all.
///
/// # Errors
/// Storage errors.
pub async fn audit<B: Backend>(
    store: &B,
    f: AuditFilter,
) -> Result<(Page<AuditEvent, u64>, u64), CoreError> {
    let limit = f.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    store
        .scan(move |tx| {
            let total = tx.audit_len()?;
            let mut items = Vec::new();
            let mut last = None;
            let mut more = false;
            tx.audit_before(f.cursor, &mut |e| {
                // Newest first: every later one is older still.
                if f.since.is_some_and(|s| e.at < s) {
                    return false;
                }
                let keep = f
                    .license_id
                    .as_ref()
                    .is_none_or(|l| e.license_id.as_ref() == Some(l))
                    && f.action.as_ref().is_none_or(|a| e.action == *a)
                    && f.until.is_none_or(|u| e.at <= u);
                if keep {
                    if items.len() == limit {
                        more = true;
                        return false;
                    }
                    last = Some(e.seq);
                    items.push(e);
                }
                true
            })?;
            Ok((
                Page {
                    items,
                    next_cursor: if more { last } else { None },
                },
                total,
            ))
        })
        .await
}

// ---------------------------------------------------------------- console

/// Records a sign-in to the admin console, and a failed one above all (a guess at the
/// admin token). `source` is the peer's address; the token is never recorded.
///
/// # Errors
/// Storage errors.
pub fn console_sign_in<B: Backend>(
    store: &B,
    ok: bool,
    source: String,
    now: u64,
) -> impl std::future::Future<Output = Result<(), CoreError>> + Send + 'static {
    // A future that owns its store handle: the sign-in handler holds no borrow across the
    // await (the same higher-ranked `Send` limitation as `change_license`).
    let store = store.clone();
    let action = if ok {
        "console.sign_in"
    } else {
        "console.sign_in_failed"
    };
    let detail = json!({ "source": source });
    async move {
        store
            .write(move |tx| tx.append_audit(AuditEvent::admin(now, action, None, detail.clone())))
            .await
    }
}

/// The database setting that holds when "sign out every session" was last pressed.
const CONSOLE_SESSIONS_AFTER: &str = "console_sessions_after";

/// When every console session was last ended: sessions signed in before it are over (0:
/// never). One small read, so that every server process sharing the database sees it.
///
/// # Errors
/// Storage errors.
pub async fn console_sessions_after<B: Backend>(store: &B) -> Result<u64, CoreError> {
    store
        .read(|tx| {
            Ok(tx
                .meta(CONSOLE_SESSIONS_AFTER)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                .map_or(0, u64::from_be_bytes))
        })
        .await
}

/// Ends every console session signed in before `now`, on every server process (audited).
///
/// # Errors
/// Storage errors.
pub fn end_console_sessions<B: Backend>(
    store: &B,
    now: u64,
) -> impl std::future::Future<Output = Result<(), CoreError>> + Send + 'static {
    let store = store.clone();
    async move {
        store
            .write(move |tx| {
                tx.put_meta(CONSOLE_SESSIONS_AFTER, &now.to_be_bytes())?;
                tx.append_audit(AuditEvent::admin(
                    now,
                    "console.sign_out_all",
                    None,
                    json!({}),
                ))
            })
            .await
    }
}

/// What the dashboard shows of the licenses, from one bounded scan.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Active, suspended and revoked licenses.
    pub active: u64,
    /// Suspended.
    pub suspended: u64,
    /// Revoked.
    pub revoked: u64,
    /// Active but past their expiry.
    pub expired: u64,
    /// Floating seats held now, over every license scanned.
    pub seats_in_use: u64,
    /// Active licenses expiring within the horizon, soonest first (at most 100).
    pub expiring: Vec<License>,
    /// Whether the scan stopped at its bound before the last license.
    pub truncated: bool,
}

/// Most licenses the dashboard's summary visits.
pub const SUMMARY_SCAN: u64 = 100_000;

/// Counts licenses by status, the seats held now, and the licenses that expire between
/// `now` and `now + horizon`, visiting at most [`SUMMARY_SCAN`] licenses.
///
/// # Errors
/// Storage errors.
pub async fn summary<B: Backend>(store: &B, now: u64, horizon: u64) -> Result<Summary, CoreError> {
    store
        .scan(move |tx| {
            let mut s = Summary::default();
            let mut seen = 0u64;
            let mut failed = None;
            tx.licenses_after(None, &mut |l| {
                if seen == SUMMARY_SCAN {
                    s.truncated = true;
                    return false;
                }
                seen += 1;
                match crate::core::refusal(&l, now) {
                    None => s.active += 1,
                    Some(CoreError::KeySuspended) => s.suspended += 1,
                    Some(CoreError::KeyRevoked) => s.revoked += 1,
                    Some(_) => s.expired += 1,
                }
                if let Some(id) = id_bytes(&l.id) {
                    match tx.seats_held(&id, now) {
                        Ok(n) => s.seats_in_use += n,
                        Err(e) => {
                            failed = Some(e);
                            return false;
                        }
                    }
                }
                if l.status == Status::Active
                    && l.expires_at
                        .is_some_and(|e| e > now && e <= now.saturating_add(horizon))
                {
                    s.expiring.push(l);
                }
                true
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            s.expiring.sort_by_key(|l| l.expires_at);
            s.expiring.truncate(100);
            Ok(s)
        })
        .await
}
