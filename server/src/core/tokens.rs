//! Named admin tokens with scopes: who may call which admin route, without a restart.
//!
//! A token is created with a name and scopes; its secret is returned once and only its
//! SHA-256 is stored. A presented token is hashed and compared, in constant time, with the
//! hash of every named token (never a lookup by hash, whose timing would depend on the
//! stored values). The bootstrap token (`LICET_ADMIN_TOKEN`, or the one generated at first
//! start) is not one of these: the HTTP layer checks it first, and it holds [`Scope::Admin`].
//!
//! **Last use without a write per request**: a request notes its token's use in memory
//! ([`LastUse`]); the server writes the noted times once a minute, and when it stops, in
//! one write transaction. So admin traffic adds one small write a minute, not one per
//! request, and `last_used_at` is at most a minute behind on a server that crashed (on the
//! server that answers the listing, never: it shows the times it has noted too).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::core::CoreError;
use crate::model::{AdminToken, AuditEvent};
use crate::storage::Backend;

/// What a token may do. Each admin route needs exactly one scope (the HTTP layer's table,
/// `crate::auth::required_scope`); [`Scope::Admin`] covers every route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Read products, licenses, their machines and leases.
    LicensesRead,
    /// Create, change, suspend, reinstate, revoke and delete licenses (what a web shop's
    /// backend needs).
    LicensesWrite,
    /// Create, change and delete products.
    ProductsWrite,
    /// Deactivate machines and force-release leases (support staff freeing a seat).
    MachinesWrite,
    /// Read the audit log.
    AuditRead,
    /// Read the deny list.
    DenyRead,
    /// Add to and remove from the deny list.
    DenyWrite,
    /// Everything, including backups and the tokens themselves.
    Admin,
}

impl Scope {
    /// Every scope, in the order the docs list them.
    pub const ALL: [Scope; 8] = [
        Scope::LicensesRead,
        Scope::LicensesWrite,
        Scope::ProductsWrite,
        Scope::MachinesWrite,
        Scope::AuditRead,
        Scope::DenyRead,
        Scope::DenyWrite,
        Scope::Admin,
    ];

    /// The scope's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::LicensesRead => "licenses:read",
            Scope::LicensesWrite => "licenses:write",
            Scope::ProductsWrite => "products:write",
            Scope::MachinesWrite => "machines:write",
            Scope::AuditRead => "audit:read",
            Scope::DenyRead => "deny:read",
            Scope::DenyWrite => "deny:write",
            Scope::Admin => "admin",
        }
    }

    /// A scope by name.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Who is calling the admin API: the bootstrap token, or a named one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The named token's id; `None` for the bootstrap token.
    pub token_id: Option<String>,
    /// Its name (`bootstrap` for the bootstrap token).
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl Caller {
    /// The bootstrap token: every scope.
    pub fn bootstrap() -> Caller {
        Caller {
            token_id: None,
            name: "bootstrap".into(),
            scopes: vec![Scope::Admin],
        }
    }

    /// Whether it may use a route that needs `scope`.
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes
            .iter()
            .any(|s| *s == scope || *s == Scope::Admin)
    }
}

/// Most named tokens: the list is read and compared whole on each admin request.
pub const MAX_TOKENS: usize = 1000;

/// A new token's secret: `licet_tok_` and 64 hex digits (256 random bits), so that a leaked
/// one is recognisable in a log or a repository scan, like the bootstrap's `licet_admin_`.
fn new_secret() -> Result<Zeroizing<String>, CoreError> {
    let mut s = Zeroizing::new(String::from("licet_tok_"));
    for _ in 0..2 {
        let id = licet::new_id().map_err(|e| {
            tracing::error!(error = %e, "no randomness for a token secret");
            CoreError::Internal
        })?;
        s.push_str(&licet_verifier::hex(&id));
    }
    Ok(s)
}

fn new_id() -> Result<String, CoreError> {
    licet::new_id()
        .map(|id| licet_verifier::hex(&id))
        .map_err(|e| {
            tracing::error!(error = %e, "no randomness for an id");
            CoreError::Internal
        })
}

/// The scopes of a request, checked: known names, at least one, no repeats.
///
/// # Errors
/// [`CoreError::BadRequest`] naming the unknown scope and listing the known ones.
pub fn parse_scopes(names: &[String]) -> Result<Vec<Scope>, CoreError> {
    let known = || {
        Scope::ALL
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if names.is_empty() {
        return Err(CoreError::BadRequest(format!(
            "scopes must name at least one of: {}",
            known()
        )));
    }
    let mut out = Vec::new();
    for n in names {
        let s = Scope::parse(n).ok_or_else(|| {
            CoreError::BadRequest(format!("unknown scope '{n}'; the scopes are: {}", known()))
        })?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Creates a named token; returns it with its secret, which is not kept and cannot be
/// shown again.
///
/// # Errors
/// [`CoreError::BadRequest`] for a bad name or scope, [`CoreError::Conflict`] when the name
/// is taken or there are [`MAX_TOKENS`] already; storage errors.
pub async fn create<B: Backend>(
    store: &B,
    name: String,
    scopes: &[String],
    now: u64,
) -> Result<(AdminToken, Zeroizing<String>), CoreError> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(CoreError::BadRequest(
            "name must be 1 to 128 bytes of printable text".into(),
        ));
    }
    let scopes = parse_scopes(scopes)?;
    let secret = new_secret()?;
    let token = AdminToken {
        id: new_id()?,
        name,
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        secret_sha256: licet_verifier::hex(&Sha256::digest(secret.as_bytes())),
        created_at: now,
        last_used_at: None,
    };
    let t = token.clone();
    store
        .write(move |tx| {
            let all = tx.admin_tokens()?;
            if all.iter().any(|x| x.name == t.name) {
                return Err(CoreError::Conflict(format!(
                    "a token named '{}' exists; revoke it first or choose another name",
                    t.name
                )));
            }
            if all.len() >= MAX_TOKENS {
                return Err(CoreError::Conflict(format!(
                    "there are {MAX_TOKENS} tokens already; revoke unused ones first"
                )));
            }
            tx.put_admin_token(&t)?;
            tx.append_audit(AuditEvent::admin(
                now,
                "token.create",
                None,
                json!({"token_id": t.id, "name": t.name, "scopes": t.scopes}),
            ))
        })
        .await?;
    Ok((token, secret))
}

/// Every named token, by name, with the last uses noted in memory and not yet written.
///
/// # Errors
/// Storage errors.
pub async fn list<B: Backend>(store: &B, last_use: &LastUse) -> Result<Vec<AdminToken>, CoreError> {
    let mut all = store.read(|tx| tx.admin_tokens()).await?;
    let noted = last_use.noted();
    for t in &mut all {
        if let Some(&at) = noted.get(&t.id) {
            t.last_used_at = t.last_used_at.max(Some(at));
        }
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// Revokes a named token: it is refused from the next request on, on every server
/// sharing the database.
///
/// # Errors
/// [`CoreError::NotFound`] when there is no such token; storage errors.
pub async fn revoke<B: Backend>(store: &B, id: &str, now: u64) -> Result<(), CoreError> {
    let key = crate::core::id_bytes(id)
        .ok_or_else(|| CoreError::NotFound(format!("no token with id '{id}'")))?;
    let id = id.to_owned();
    store
        .write(move |tx| {
            let name = tx
                .admin_tokens()?
                .into_iter()
                .find(|t| t.id == id)
                .map(|t| t.name);
            if !tx.remove_admin_token(&key)? {
                return Err(CoreError::NotFound(format!("no token with id '{id}'")));
            }
            tx.append_audit(AuditEvent::admin(
                now,
                "token.revoke",
                None,
                json!({"token_id": id, "name": name}),
            ))
        })
        .await
}

/// The named token whose secret's SHA-256 is `presented`, if any. Every stored hash is
/// compared, in constant time, whatever matched before.
///
/// # Errors
/// Storage errors.
pub async fn authenticate<B: Backend>(
    store: &B,
    presented: [u8; 32],
) -> Result<Option<Caller>, CoreError> {
    let all = store.read(|tx| tx.admin_tokens()).await?;
    let mut found = None;
    for t in all {
        let stored = licet_verifier::unhex::<32>(&t.secret_sha256).unwrap_or([0; 32]);
        if bool::from(stored.ct_eq(&presented)) {
            found = Some(t);
        }
    }
    Ok(found.map(|t| Caller {
        token_id: Some(t.id),
        name: t.name,
        scopes: t.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
    }))
}

/// The last uses of named tokens noted since they were last written.
#[derive(Debug, Default)]
pub struct LastUse {
    noted: Mutex<HashMap<String, u64>>,
}

impl LastUse {
    /// Notes a use of the token `id` at `now`.
    pub fn note(&self, id: &str, now: u64) {
        let mut m = self.noted.lock().unwrap_or_else(PoisonError::into_inner);
        let at = m.entry(id.to_owned()).or_insert(now);
        *at = (*at).max(now);
    }

    fn noted(&self) -> HashMap<String, u64> {
        self.noted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Writes the noted uses, in one transaction; a token revoked meanwhile is skipped.
    /// On a storage failure the uses are noted again for the next time.
    pub async fn flush<B: Backend>(&self, store: &B) {
        let noted = std::mem::take(&mut *self.noted.lock().unwrap_or_else(PoisonError::into_inner));
        if noted.is_empty() {
            return;
        }
        let uses = noted.clone();
        let written = store
            .write(move |tx| {
                for mut t in tx.admin_tokens()? {
                    if let Some(&at) = uses.get(&t.id)
                        && t.last_used_at.is_none_or(|l| l < at)
                    {
                        t.last_used_at = Some(at);
                        tx.put_admin_token(&t)?;
                    }
                }
                Ok(())
            })
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "the admin tokens' last uses were not written; retrying at the next flush");
            for (id, at) in noted {
                self.note(&id, at);
            }
        }
    }
}
