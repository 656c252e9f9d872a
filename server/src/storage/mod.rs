//! The storage interface the licensing core calls, and its backends.
//!
//! Three parts: [`ReadTx`], a consistent read snapshot; [`WriteTx`], one write transaction
//! (it reads too, inside the transaction); and [`Backend`], the handle that runs a read job
//! on a snapshot or a write job in a transaction. The operations are typed (a license by id,
//! a count of machines up to a limit, a lease put, an audit event appended): no caller
//! names a table, a key layout or an encoding, so a backend is free in all three.
//!
//! The transaction methods are synchronous on purpose: redb's one writer thread runs the
//! jobs of a batch one after another inside one transaction (group commit), and a SQL
//! backend runs the same job on a blocking thread inside one SQL transaction.
//!
//! What every backend guarantees (`docs/architecture.md`):
//! - the checks and the writes of one write job happen in one transaction, isolated from
//!   every other job (serializable);
//! - [`Backend::write`] answers only once that transaction is durable, and a job's `Err`
//!   is committed like an `Ok` (a refusal writes its audit event; jobs check before they
//!   write, so nothing else of a refused job is there to keep);
//! - a write job may be run more than once (a SQL backend reruns it after a serialization
//!   failure), so it is `FnMut` and must have no effect outside the transaction;
//! - a failure of the storage itself is [`CoreError::StorageUnavailable`].

pub mod copy;
pub mod postgres;
pub mod redb;

use std::future::Future;

use crate::core::CoreError;
use crate::model::{
    AdminToken, AuditEvent, Deactivation, DenyEntry, Lease, License, Machine, Policy, Product,
    Trial,
};

/// The id bytes of a stored record's hex id (every backend keys records by them).
///
/// # Errors
/// [`CoreError::Internal`] when the id is damaged.
pub fn stored_id(hex: &str) -> Result<[u8; 16]> {
    crate::core::id_bytes(hex).ok_or_else(|| {
        tracing::error!("a record with a damaged id");
        CoreError::Internal
    })
}

/// What storage operations return.
pub type Result<T> = std::result::Result<T, CoreError>;

/// Reads, from one consistent snapshot.
pub trait ReadTx {
    /// A license by id.
    ///
    /// # Errors
    /// [`CoreError::StorageUnavailable`] or [`CoreError::Internal`], as every method here.
    fn license(&self, id: &[u8; 16]) -> Result<Option<License>>;

    /// A license by the SHA-256 of its key's binary form.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn license_by_key_hash(&self, hash: &[u8; 32]) -> Result<Option<License>>;

    /// Licenses in id order, starting after `after` (from the first when `None`), each
    /// handed to `visit` until it returns false.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn licenses_after(
        &self,
        after: Option<&[u8; 16]>,
        visit: &mut dyn FnMut(License) -> bool,
    ) -> Result<()>;

    /// How many licenses there are.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn license_count(&self) -> Result<u64>;

    /// A product by name.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn product(&self, name: &str) -> Result<Option<Product>>;

    /// Every product, by name.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn products(&self) -> Result<Vec<Product>>;

    /// One machine of a license, by fingerprint.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn machine(&self, license: &[u8; 16], fingerprint: &[u8; 32]) -> Result<Option<Machine>>;

    /// The machines of a license.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn machines(&self, license: &[u8; 16]) -> Result<Vec<Machine>>;

    /// How many machines a license has, counting no further than `limit` (so that the cost
    /// is bounded by the limit, not by the fleet).
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn machine_count_up_to(&self, license: &[u8; 16], limit: u64) -> Result<u64>;

    /// How many seats of a license are held at `now`: leases neither released nor expired
    /// (`now < expires_at`).
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn seats_held(&self, license: &[u8; 16], now: u64) -> Result<u64>;

    /// A lease by id.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn lease(&self, id: &[u8; 16]) -> Result<Option<Lease>>;

    /// Every lease of a license, oldest first, released and expired ones included.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn leases_of(&self, license: &[u8; 16]) -> Result<Vec<Lease>>;

    /// Audit events, newest first, starting below `before` (from the newest when `None`),
    /// each handed to `visit` until it returns false.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn audit_before(
        &self,
        before: Option<u64>,
        visit: &mut dyn FnMut(AuditEvent) -> bool,
    ) -> Result<()>;

    /// How many audit events there are.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn audit_len(&self) -> Result<u64>;

    /// A setting of the database itself (`admin_token_sha256`).
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Up to `limit` audit events, oldest first (retention looks at the head of the log).
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn audit_oldest(&self, limit: usize) -> Result<Vec<AuditEvent>>;

    /// Up to `limit` leases in id order, starting after `after` (from the first when
    /// `None`): the sweep of the lease retention, a batch at a time.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn leases_after(&self, after: Option<&[u8; 16]>, limit: usize) -> Result<Vec<Lease>>;

    /// Every named admin token.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn admin_tokens(&self) -> Result<Vec<AdminToken>>;

    /// Every deny-list entry, expired ones included.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn deny_entries(&self) -> Result<Vec<DenyEntry>>;

    /// A policy of a product, by name.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn policy(&self, product: &str, name: &str) -> Result<Option<Policy>>;

    /// The policies of a product (of every product when `None`), by product and name.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn policies(&self, product: Option<&str>) -> Result<Vec<Policy>>;

    /// The deactivations kept of a license, oldest first (of every license when `None`,
    /// by license, then oldest first).
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn deactivations(&self, license: Option<&[u8; 16]>) -> Result<Vec<Deactivation>>;

    /// The keyless trial a fingerprint was given for a product, if any. In a write
    /// transaction it also holds the pair, found or not, until the transaction ends: two
    /// jobs asking for the same pair run one after the other, so that the second sees the
    /// trial the first stored (one trial per fingerprint, ever, however many ask at once).
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn trial(&self, product: &str, fingerprint: &[u8; 32]) -> Result<Option<Trial>>;

    /// Every keyless trial given (`licet-server migrate`).
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn trials(&self) -> Result<Vec<Trial>>;
}

/// A license read from storage, with its effective terms put in from its policy as `tx`
/// has it (`core::policies::effective`): every backend's license reads go through here,
/// so that no rule ever sees a license without them.
///
/// # Errors
/// Storage errors; [`CoreError::Internal`] when the policy it names is gone (deleting a
/// policy in use is refused, so that is a damaged database).
pub fn resolve<T: ReadTx + ?Sized>(tx: &T, l: Option<License>) -> Result<Option<License>> {
    let Some(mut l) = l else { return Ok(None) };
    if let Some(name) = &l.policy {
        let Some(p) = tx.policy(&l.product, name)? else {
            tracing::error!(license = %l.id, policy = %name, "a license whose policy is gone");
            return Err(CoreError::Internal);
        };
        let terms = crate::core::policies::effective(Some(&p.terms), &l.overrides);
        l.set_terms(terms);
    }
    Ok(Some(l))
}

/// Runs a backend's listing `scan` with each license resolved (see [`resolve`]) before
/// `visit` sees it.
///
/// # Errors
/// Those of `scan` and of [`resolve`].
pub fn resolve_each<T: ReadTx + ?Sized>(
    tx: &T,
    visit: &mut dyn FnMut(License) -> bool,
    scan: impl FnOnce(&mut dyn FnMut(License) -> bool) -> Result<()>,
) -> Result<()> {
    let mut failed = None;
    scan(&mut |l| match resolve(tx, Some(l)) {
        Ok(Some(l)) => visit(l),
        Ok(None) => true,
        Err(e) => {
            failed = Some(e);
            false
        }
    })?;
    failed.map_or(Ok(()), Err)
}

/// One write transaction: the reads of [`ReadTx`] inside it, and the writes.
pub trait WriteTx: ReadTx {
    /// As [`ReadTx::seats_held`]; the backend may drop what it keeps of leases that have
    /// expired on the way (they hold no seat), so that the count stays as cheap as the
    /// number of live seats, whatever the lease history.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn count_seats(&mut self, license: &[u8; 16], now: u64) -> Result<u64>;

    /// Stores a new license and the index from its key's hash to it.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn insert_license(&mut self, l: &License, key_hash: &[u8; 32]) -> Result<()>;

    /// Stores a changed license (its key never changes).
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn put_license(&mut self, l: &License) -> Result<()>;

    /// Deletes a license with its key index entry, its machines and every lease of it.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn delete_license(&mut self, id: &[u8; 16], key_hash: &[u8; 32]) -> Result<()>;

    /// Whether any license of a product exists.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn product_has_licenses(&mut self, name: &str) -> Result<bool>;

    /// Stores a product (new or changed).
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn put_product(&mut self, p: &Product) -> Result<()>;

    /// Deletes a product.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn remove_product(&mut self, name: &str) -> Result<()>;

    /// Stores a policy (new or changed).
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn put_policy(&mut self, p: &Policy) -> Result<()>;

    /// Deletes a policy.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn remove_policy(&mut self, product: &str, name: &str) -> Result<()>;

    /// Whether any license is made from this policy.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn policy_in_use(&mut self, product: &str, name: &str) -> Result<bool>;

    /// Stores a machine (new, or checked in), under its license and fingerprint.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn put_machine(&mut self, m: &Machine) -> Result<()>;

    /// Removes a machine.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn remove_machine(&mut self, license: &[u8; 16], fingerprint: &[u8; 32]) -> Result<()>;

    /// Removes every machine of a license.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn remove_machines_of(&mut self, license: &[u8; 16]) -> Result<()>;

    /// Stores a new lease: its record, its seat (until `expires_at`, unless released) and
    /// its place in the license's lease list.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn insert_lease(&mut self, l: &Lease) -> Result<()>;

    /// Stores a changed lease (renewed or released) and keeps its seat in step: a lease
    /// not released holds a seat until its `expires_at`; a released one none.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn put_lease(&mut self, l: &Lease) -> Result<()>;

    /// Appends an audit event; its `seq` is assigned here, one more than the last.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn append_audit(&mut self, event: AuditEvent) -> Result<()>;

    /// Stores a setting of the database itself.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<()>;

    /// Removes every audit event up to and including `seq`. The seqs removed are never
    /// given again: the next event appended is numbered after `seq` even when the log is
    /// left empty (a cursor a client holds never points at another event).
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn remove_audit_through(&mut self, seq: u64) -> Result<()>;

    /// Removes a lease with its seat and its place in the license's lease list.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn remove_lease(&mut self, l: &Lease) -> Result<()>;

    /// Stores a named admin token (new or changed).
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn put_admin_token(&mut self, t: &AdminToken) -> Result<()>;

    /// Removes a named admin token; whether it was there.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn remove_admin_token(&mut self, id: &[u8; 16]) -> Result<bool>;

    /// Stores a deny-list entry.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn put_deny_entry(&mut self, e: &DenyEntry) -> Result<()>;

    /// Removes a deny-list entry; whether it was there.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn remove_deny_entry(&mut self, id: &[u8; 16]) -> Result<bool>;
    /// Stores a license under a new key (re-issued): the index then finds it by
    /// `new_hash` only, and the key whose hash is `old_hash` names nothing.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn rekey_license(
        &mut self,
        l: &License,
        old_hash: &[u8; 32],
        new_hash: &[u8; 32],
    ) -> Result<()>;

    /// Records a deactivation (kept under its license, its time and its machine id).
    /// [`WriteTx::delete_license`] removes a license's with it.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn put_deactivation(&mut self, d: &Deactivation) -> Result<()>;

    /// Removes a deactivation record that no longer matters.
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn remove_deactivation(&mut self, d: &Deactivation) -> Result<()>;

    /// Records the keyless trial a fingerprint was given for a product (kept for ever: a
    /// deleted trial license leaves it, so the fingerprint gets no second trial).
    ///
    /// # Errors
    /// As [`ReadTx::license`].
    fn put_trial(&mut self, t: &Trial) -> Result<()>;
}

/// A storage backend: runs read jobs on snapshots and write jobs in durable transactions.
pub trait Backend: Clone + Send + Sync + 'static {
    /// Runs `job` on a read snapshot. For short reads (a few records): a backend may run it
    /// on the calling task.
    ///
    /// # Errors
    /// What `job` returns, or [`CoreError::StorageUnavailable`] when no snapshot can be had.
    fn read<T, F>(&self, job: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadTx) -> Result<T> + Send + 'static;

    /// As [`Backend::read`], for reads that may visit many records (listings, the audit
    /// log): run where a long job does not hold up the tasks serving other requests.
    ///
    /// # Errors
    /// As [`Backend::read`].
    fn scan<T, F>(&self, job: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadTx) -> Result<T> + Send + 'static;

    /// Runs `job` in a write transaction and answers once that transaction is durable
    /// (see the module's guarantees: `Err` is committed too; `job` may run more than once
    /// and must have no effect outside the transaction).
    ///
    /// # Errors
    /// What `job` returns, or [`CoreError::StorageUnavailable`] when the commit fails.
    fn write<T, F>(&self, job: F) -> impl Future<Output = Result<T>> + Send
    where
        T: Send + 'static,
        F: FnMut(&mut dyn WriteTx) -> Result<T> + Send + 'static;

    /// Queues an audit event without waiting for it to be durable (refused client requests:
    /// their answer must not wait on a disk write). Best effort: under overload or a
    /// storage fault the event may be dropped, and that is logged.
    fn audit_later(&self, event: AuditEvent);
}

/// The backend a server runs on, chosen at start (`--database` or not).
///
/// An enum rather than a generic parameter: [`Backend`] is not object-safe (its methods
/// return `impl Future` and take generic closures), and a type parameter on `AppState`
/// would spread through every handler and the router for a choice made once at start.
/// Each method dispatches to its variant; the cost is one match per storage call.
#[derive(Clone, Debug)]
pub enum Storage {
    /// One redb file (the default).
    Redb(redb::Store),
    /// A PostgreSQL database, shared by any number of server processes.
    Postgres(postgres::Pg),
}

/// Whether storage can serve, as `GET /healthz` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Why writes fail and since when (seconds since 1970), if they do.
    pub fault: Option<(&'static str, u64)>,
    /// Whether reads can be served.
    pub reads: bool,
    /// What an operator should know of the fault.
    pub message: &'static str,
}

impl Storage {
    /// The redb store, when that is the backend (tests and tools that look at the file).
    pub fn redb(&self) -> Option<&redb::Store> {
        match self {
            Storage::Redb(s) => Some(s),
            Storage::Postgres(_) => None,
        }
    }

    /// Has `observer` told of every commit of the redb writer (its batch size and time),
    /// for `/metrics`. PostgreSQL commits each request's transaction on its own, with no
    /// batch to report, so it has none.
    pub fn observe_commits(&self, observer: redb::CommitObserver) {
        match self {
            Storage::Redb(s) => s.observe_commits(observer),
            Storage::Postgres(_) => {}
        }
    }

    /// For `/metrics`: the machines activated, and the seats held at `now`.
    ///
    /// # Errors
    /// [`CoreError::StorageUnavailable`] when the storage cannot be read.
    pub async fn live_counts(&self, now: u64) -> Result<(u64, u64)> {
        match self {
            Storage::Redb(s) => {
                let s = s.clone();
                tokio::task::spawn_blocking(move || s.live_counts(now))
                    .await
                    .map_err(|_| CoreError::Internal)?
            }
            Storage::Postgres(p) => p.live_counts(now).await,
        }
    }

    /// The backend's state, probed: redb tries a write while degraded; PostgreSQL runs a
    /// query.
    pub async fn probe(&self) -> Health {
        match self {
            Storage::Redb(s) => {
                let h = s.probe().await;
                Health {
                    fault: h.fault.map(|(f, since)| (f.as_str(), since)),
                    reads: h.open,
                    message: "writes fail (disk full or an I/O error) and are answered STORAGE_UNAVAILABLE; the server reopens the database by itself and resumes once a write succeeds; the server log has the cause",
                }
            }
            Storage::Postgres(p) => {
                let up = p.probe().await;
                Health {
                    fault: (!up).then(|| {
                        (
                            "database",
                            licet_verifier::Expectations::now_from_system_clock(),
                        )
                    }),
                    reads: up,
                    message: "the PostgreSQL database does not answer; requests that need it are answered STORAGE_UNAVAILABLE; the server reconnects by itself once it answers; the server log has the cause",
                }
            }
        }
    }

    /// A backup as bytes (redb: a copy of the file from one snapshot). Blocking.
    ///
    /// # Errors
    /// On PostgreSQL, [`CoreError::Conflict`] saying to use `pg_dump`: the database's own
    /// tools make a consistent backup of it, and this server is one of maybe several.
    pub fn backup_bytes(&self) -> Result<Vec<u8>> {
        match self {
            Storage::Redb(s) => s.backup_bytes(),
            Storage::Postgres(p) => Err(CoreError::Conflict(format!(
                "this server keeps its data in PostgreSQL ({}), which this endpoint cannot copy: back it up with pg_dump (pg_dump --format=custom), see docs/scale-out.md",
                p.target()
            ))),
        }
    }
}

impl Backend for Storage {
    async fn read<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadTx) -> Result<T> + Send + 'static,
    {
        match self {
            Storage::Redb(s) => s.read(job).await,
            Storage::Postgres(p) => p.read(job).await,
        }
    }

    async fn scan<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadTx) -> Result<T> + Send + 'static,
    {
        match self {
            Storage::Redb(s) => s.scan(job).await,
            Storage::Postgres(p) => p.scan(job).await,
        }
    }

    async fn write<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn WriteTx) -> Result<T> + Send + 'static,
    {
        match self {
            Storage::Redb(s) => Backend::write(s, job).await,
            Storage::Postgres(p) => p.write(job).await,
        }
    }

    fn audit_later(&self, event: AuditEvent) {
        match self {
            Storage::Redb(s) => Backend::audit_later(s, event),
            Storage::Postgres(p) => p.audit_later(event),
        }
    }
}
