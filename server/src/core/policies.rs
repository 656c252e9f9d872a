//! Policies: a product's named licensing models (create, list, change, delete), and the
//! one function that gives a license its effective terms (`docs/policies.md`).
//!
//! A license made from a policy reads every term it does not override from the policy,
//! each time it is used: storage puts the effective terms in every license it reads
//! (`crate::storage::resolve`, which calls [`effective`]), so every rule (the machine
//! limit, the seat limit, lease lengths, check-in deadlines) reads them and nothing else.
//! A change of a policy reaches every license that does not override the field at its next
//! online request; tokens already issued keep what they were signed with until they are
//! renewed or checked in (the license key's own claims never change).

use serde_json::{Map, Value, json};

use crate::core::CoreError;
use crate::model::{AuditEvent, Overrides, Policy, Terms};
use crate::state::{Signer, license_claims};
use crate::storage::Backend;

/// Longest policy name, in bytes.
pub const MAX_NAME: usize = 64;

/// A license's effective terms: its policy's (the defaults without one) with its own
/// overrides in their place. The one place they combine (`licet::policy`).
pub fn effective(policy: Option<&Terms>, overrides: &Overrides) -> Terms {
    match policy {
        Some(t) => overrides.apply(t),
        None => overrides.apply(&Terms::default()),
    }
}

/// A policy's terms or a license's effective terms refused: `BAD_REQUEST` naming the field.
pub fn invalid(e: licet::Error) -> CoreError {
    CoreError::BadRequest(e.to_string())
}

/// A policy name: 1 to [`MAX_NAME`] bytes of ASCII letters, digits, `-`, `_` and `.`, so
/// that it sits in a URL path as it is and a log line shows it as typed.
///
/// # Errors
/// `BAD_REQUEST` saying what a name may hold.
pub fn check_name(name: &str) -> Result<(), CoreError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(CoreError::BadRequest(format!(
            "policy name must be 1 to {MAX_NAME} bytes of letters, digits, '-', '_' and '.'; got '{}'",
            name.escape_default()
        )))
    }
}

/// Terms as stored: checked, features sorted and without repeats.
fn normalized(mut t: Terms) -> Result<Terms, CoreError> {
    t.features.sort();
    t.features.dedup();
    t.check().map_err(invalid)?;
    Ok(t)
}

fn no_policy(product: &str, name: &str) -> CoreError {
    CoreError::NotFound(format!("no policy '{name}' of product '{product}'"))
}

/// Creates a policy of a product.
///
/// # Errors
/// `BAD_REQUEST` naming the field to fix or the missing product, `CONFLICT` when the
/// product has a policy of that name, storage errors.
pub async fn create_policy<B: Backend>(
    store: &B,
    product: String,
    name: String,
    terms: Terms,
    now: u64,
) -> Result<Policy, CoreError> {
    crate::core::admin::check_product_name(&product)?;
    check_name(&name)?;
    let p = Policy {
        product,
        name,
        terms: normalized(terms)?,
        created_at: now,
        updated_at: now,
    };
    store
        .write(move |tx| {
            if tx.product(&p.product)?.is_none() {
                return Err(CoreError::BadRequest(format!(
                    "no product '{}'; create it first (POST /v1/admin/products)",
                    p.product
                )));
            }
            if tx.policy(&p.product, &p.name)?.is_some() {
                return Err(CoreError::Conflict(format!(
                    "product '{}' has a policy '{}' already; change it with PATCH",
                    p.product, p.name
                )));
            }
            tx.put_policy(&p)?;
            tx.append_audit(AuditEvent::admin(
                now,
                "policy.create",
                None,
                json!({"product": p.product, "policy": p.name, "terms": p.terms}),
            ))?;
            Ok(p.clone())
        })
        .await
}

/// The policies of a product (of every product when `None`), by product and name.
///
/// # Errors
/// Storage errors.
pub async fn list_policies<B: Backend>(
    store: &B,
    product: Option<String>,
) -> Result<Vec<Policy>, CoreError> {
    store.read(move |tx| tx.policies(product.as_deref())).await
}

/// A policy.
///
/// # Errors
/// `NOT_FOUND`, storage errors.
pub async fn get_policy<B: Backend>(
    store: &B,
    product: &str,
    name: &str,
) -> Result<Policy, CoreError> {
    let (product, name) = (product.to_owned(), name.to_owned());
    store
        .read(move |tx| {
            tx.policy(&product, &name)?
                .ok_or_else(|| no_policy(&product, &name))
        })
        .await
}

/// A change of a policy's terms: a JSON merge patch (RFC 7396) over the terms as the API
/// shows them: each field given replaces the term; `null` returns it to its default
/// (unlimited, perpetual, no type, the default lease and check-in settings).
pub type PolicyPatch = Map<String, Value>;

/// Terms from their JSON (the API's body, without its product and name): an unknown field
/// or a value of the wrong kind is refused naming the field.
///
/// # Errors
/// `BAD_REQUEST` naming the field.
pub fn terms_from(m: Map<String, Value>) -> Result<Terms, CoreError> {
    serde_path_to_error::deserialize(Value::Object(m)).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            CoreError::BadRequest(format!("policy: {}", e.inner()))
        } else {
            CoreError::BadRequest(format!("policy: {path}: {}", e.inner()))
        }
    })
}

/// The terms `patch` makes of `t`.
fn patched(t: &Terms, patch: &PolicyPatch) -> Result<Terms, CoreError> {
    let Value::Object(mut m) = serde_json::to_value(t).map_err(|_| CoreError::Internal)? else {
        return Err(CoreError::Internal);
    };
    for (k, v) in patch {
        if v.is_null() {
            m.remove(k);
        } else {
            m.insert(k.clone(), v.clone());
        }
    }
    terms_from(m)
}

/// Changes a policy's terms. Every license made from it that does not override a changed
/// field follows at its next request, so the change is refused (naming the license and the
/// field) when it would leave any of them contradictory (a lease_ttl it overrides above a
/// lowered lease_ttl_max) or unable to sign its tokens (features too long for its claims).
///
/// # Errors
/// `NOT_FOUND`, `BAD_REQUEST` naming the field (and the license) to fix, storage errors.
pub async fn update_policy<B: Backend>(
    store: &B,
    signer: std::sync::Arc<Signer>,
    product: String,
    name: String,
    patch: PolicyPatch,
    now: u64,
) -> Result<Policy, CoreError> {
    store
        .write(move |tx| {
            // The product first: on PostgreSQL this takes the lock that license creation
            // takes, so no license is made from the policy while it changes.
            let trial_policy = tx.product(&product)?.and_then(|p| p.trial_policy);
            let mut p = tx
                .policy(&product, &name)?
                .ok_or_else(|| no_policy(&product, &name))?;
            let terms = normalized(patched(&p.terms, &patch)?)?;
            if trial_policy.as_deref() == Some(name.as_str()) {
                crate::core::trials::check_terms(&name, &terms).map_err(|e| match e {
                    CoreError::BadRequest(m) => CoreError::BadRequest(format!(
                        "policy '{name}' is the trial policy of product '{product}': {m}; set another trial policy first (PATCH /v1/admin/products/{product})"
                    )),
                    other => other,
                })?;
            }
            let claims_change = terms.features != p.terms.features
                || terms.license_type != p.terms.license_type;
            let mut failed = None;
            tx.licenses_after(None, &mut |mut l| {
                if l.product != product || l.policy.as_deref() != Some(name.as_str()) {
                    return true;
                }
                let eff = effective(Some(&terms), &l.overrides);
                let check = eff.check().map_err(invalid).and_then(|()| {
                    if claims_change {
                        l.set_terms(eff);
                        signer.sign_license(license_claims(&l, now)?)?;
                    }
                    Ok(())
                });
                if let Err(e) = check {
                    failed = Some(match e {
                        CoreError::BadRequest(m) => CoreError::BadRequest(format!(
                            "license {} of this policy would be left with: {m}; change its overrides or the policy",
                            l.id
                        )),
                        other => other,
                    });
                    return false;
                }
                true
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            p.terms = terms;
            p.updated_at = now;
            tx.put_policy(&p)?;
            let fields: Vec<&String> = patch.keys().collect();
            tx.append_audit(AuditEvent::admin(
                now,
                "policy.update",
                None,
                json!({"product": p.product, "policy": p.name, "fields": fields, "terms": p.terms}),
            ))?;
            Ok(p)
        })
        .await
}

/// Deletes a policy no license is made from.
///
/// # Errors
/// `NOT_FOUND`, `CONFLICT` while a license uses it, storage errors.
pub async fn delete_policy<B: Backend>(
    store: &B,
    product: String,
    name: String,
    now: u64,
) -> Result<(), CoreError> {
    store
        .write(move |tx| {
            let trial_policy = tx.product(&product)?.and_then(|p| p.trial_policy);
            if tx.policy(&product, &name)?.is_none() {
                return Err(no_policy(&product, &name));
            }
            if trial_policy.as_deref() == Some(name.as_str()) {
                return Err(CoreError::Conflict(format!(
                    "policy '{name}' is the trial policy of product '{product}'; set another or none first (PATCH /v1/admin/products/{product} with \"trial_policy\")"
                )));
            }
            if tx.policy_in_use(&product, &name)? {
                return Err(CoreError::Conflict(format!(
                    "policy '{name}' of product '{product}' is used by licenses; delete them first (a license keeps its policy for life)"
                )));
            }
            tx.remove_policy(&product, &name)?;
            tx.append_audit(AuditEvent::admin(
                now,
                "policy.delete",
                None,
                json!({"product": product, "policy": name}),
            ))?;
            Ok(())
        })
        .await
}
