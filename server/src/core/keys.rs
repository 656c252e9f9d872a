//! The server's signing keys as the admin manages them: list, rotate, endorse, retire
//! (`docs/key-rotation.md`). The files are [`crate::keystore`]'s; this module audits each
//! change and makes this process sign with the result at once (other processes over the
//! same directory follow within [`crate::state::KEYS_RECHECK`]).

use std::sync::Arc;

use serde_json::json;

use crate::core::CoreError;
use crate::keystore::Published;
use crate::model::AuditEvent;
use crate::state::Signer;
use crate::storage::Backend;

/// The published keys, current first.
///
/// # Errors
/// `SIGNING_KEY_FIXED` with a fixed `--signing-key`.
pub fn list(signer: &Signer) -> Result<Vec<Published>, CoreError> {
    signer.files()?;
    Ok(signer.keys().published.clone())
}

/// Runs a key-directory change off the async runtime (it writes and syncs files), then
/// reloads this process's keys.
async fn change<T: Send + 'static>(
    signer: &Arc<Signer>,
    f: impl FnOnce(Arc<Signer>) -> Result<T, crate::keystore::KeyError> + Send + 'static,
) -> Result<T, CoreError> {
    signer.files()?;
    let s = Arc::clone(signer);
    let out = tokio::task::spawn_blocking(move || {
        let out = f(Arc::clone(&s));
        s.refresh();
        out
    })
    .await
    .map_err(|_| CoreError::Internal)??;
    Ok(out)
}

/// Audits a change made. A plain fn returning a `Send + 'static` future over an owned
/// backend, as `change_license` is: an `async fn` borrowing the backend makes the
/// handler's future not `Send` for every lifetime (a known limit of the compiler).
#[allow(clippy::manual_async_fn)]
fn audit<B: Backend>(
    store: B,
    action: &'static str,
    now: u64,
    detail: serde_json::Value,
) -> impl std::future::Future<Output = Result<(), CoreError>> + Send + 'static {
    async move {
        store
            .write(move |tx| tx.append_audit(AuditEvent::admin(now, action, None, detail.clone())))
            .await
    }
}

/// Makes a new Ed25519 key current, with the root's endorsement (binary form) when one is
/// given; the keys published before stay published. Returns the new kid.
///
/// # Errors
/// `ENDORSEMENT_REFUSED` (nothing changed), `SIGNING_KEY_FIXED`, storage errors.
pub async fn rotate<B: Backend>(
    store: &B,
    signer: &Arc<Signer>,
    key: Option<licet::SigningKey>,
    endorsement: Option<Vec<u8>>,
    now: u64,
) -> Result<String, CoreError> {
    let store = store.clone();
    let kid = change(signer, move |s| {
        s.files()?
            .rotate(key, endorsement.as_deref(), s.passphrase(), now)
    })
    .await?;
    audit(store, "key.rotate", now, json!({"kid": kid})).await?;
    Ok(kid)
}

/// Adds the root's endorsement of a published key.
///
/// # Errors
/// `SIGNING_KEY_UNKNOWN`, `ENDORSEMENT_REFUSED`, `SIGNING_KEY_FIXED`, storage errors.
pub async fn endorse<B: Backend>(
    store: &B,
    signer: &Arc<Signer>,
    kid: &str,
    endorsement: Vec<u8>,
    now: u64,
) -> Result<(), CoreError> {
    let store = store.clone();
    let k = kid.to_owned();
    change(signer, move |s| s.files()?.endorse(&k, &endorsement, now)).await?;
    audit(store, "key.endorse", now, json!({"kid": kid})).await
}

/// Stops publishing and trusting a key that is not the current one.
///
/// # Errors
/// `SIGNING_KEY_UNKNOWN`, `SIGNING_KEY_CURRENT`, `SIGNING_KEY_FIXED`, storage errors.
pub async fn retire<B: Backend>(
    store: &B,
    signer: &Arc<Signer>,
    kid: &str,
    now: u64,
) -> Result<(), CoreError> {
    let store = store.clone();
    let k = kid.to_owned();
    change(signer, move |s| s.files()?.retire(&k)).await?;
    audit(store, "key.retire", now, json!({"kid": kid})).await
}
