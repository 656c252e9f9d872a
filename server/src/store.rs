//! Storage: one redb file, and one writer thread that commits every state change.
//!
//! Reads run on any thread in their own read transaction (MVCC snapshots, never blocked by
//! the writer). Writes are closures sent to the writer, which runs whatever is queued, in
//! queue order, inside **one** durable redb transaction, commits it, and only then answers
//! each caller (group commit). A closure checks everything it needs (seat limits, license
//! status) before it writes, so batching changes no outcome; it only shares one fsync
//! among many requests. With batching off, each closure gets its own transaction.
//!
//! The handlers see only [`Store`]'s methods: the seam where another backend (PostgreSQL)
//! will slot in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;
use crate::model::{AuditEvent, License, Machine, Product};

/// The schema version this build writes. Rule: a version is bumped by any change to a
/// table's key or value layout; on open, an older file is migrated in one write transaction
/// by the steps in [`migrate`] (each step N → N+1), and a newer file is refused, so an old
/// binary never misreads data written by a new one.
///
/// Versions: 1, the first; 2, `seats` and `license_leases` keyed by the lease's creation
/// time before its id (see [`lease_key`]).
pub const SCHEMA_VERSION: u64 = 2;

/// `meta`: settings of the database itself (`schema_version`, `admin_token_sha256`).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// `products`: name → Product (JSON).
pub const PRODUCTS: TableDefinition<&str, &[u8]> = TableDefinition::new("products");
/// `licenses`: id (16 bytes) → License (JSON).
pub const LICENSES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("licenses");
/// `license_keys`: SHA-256 of the license token's binary form → license id.
pub const LICENSE_KEYS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("license_keys");
/// `machines`: license id (16) ‖ fingerprint (32) → Machine (JSON).
pub const MACHINES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("machines");
/// `audit`: sequence number → AuditEvent (JSON).
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// `leases`: lease id (16) → Lease (JSON).
pub const LEASES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("leases");
/// `seats`: [`lease_key`] → the lease's expiry: the leases that may hold a seat now. A
/// released lease leaves; an expired one no longer counts and is tidied away.
pub const SEATS: TableDefinition<&[u8], u64> = TableDefinition::new("seats");

/// `license_leases`: [`lease_key`] → (): every lease of a license, oldest first, for the
/// admin listing. Client requests never scan it.
pub const LICENSE_LEASES: TableDefinition<&[u8], ()> = TableDefinition::new("license_leases");

/// The key of a lease in `seats` and `license_leases`: license id (16) ‖ the lease's
/// creation time (8, big-endian) ‖ lease id (16).
///
/// Why the time: lease ids are random, so with license ‖ lease id every new lease was
/// written into a random page of an index that never stops growing (a million past leases
/// of one license: a cold page, copied and flushed at each commit). Ordered by creation,
/// new leases land on the last page, which every lease of a commit shares. A lease's
/// creation time never changes, so renewals and releases find the same key.
pub fn lease_key(license: &[u8; 16], created_at: u64, lease: &[u8; 16]) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..16].copy_from_slice(license);
    k[16..24].copy_from_slice(&created_at.to_be_bytes());
    k[24..].copy_from_slice(lease);
    k
}

/// Encodes a record.
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(|e| {
        tracing::error!(error = %e, "encoding a record");
        ApiError::Internal
    })
}

/// Decodes a record.
pub fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(b).map_err(|e| {
        tracing::error!(error = %e, "decoding a stored record");
        ApiError::Internal
    })
}

/// Parses a 16-byte hex id.
pub fn id_bytes(hex: &str) -> Option<[u8; 16]> {
    unhex(hex)
}

pub use licet_verifier::unhex;

/// The tables a write closure works on.
pub struct Tx<'t> {
    /// `meta`.
    pub meta: redb::Table<'t, &'static str, &'static [u8]>,
    /// `products`.
    pub products: redb::Table<'t, &'static str, &'static [u8]>,
    /// `licenses`.
    pub licenses: redb::Table<'t, &'static [u8], &'static [u8]>,
    /// `license_keys`.
    pub license_keys: redb::Table<'t, &'static [u8], &'static [u8]>,
    /// `machines`.
    pub machines: redb::Table<'t, &'static [u8], &'static [u8]>,
    /// `audit`.
    pub audit: redb::Table<'t, u64, &'static [u8]>,
    /// `leases`.
    pub leases: redb::Table<'t, &'static [u8], &'static [u8]>,
    /// `seats`.
    pub seats: redb::Table<'t, &'static [u8], u64>,
    /// `license_leases`.
    pub license_leases: redb::Table<'t, &'static [u8], ()>,
}

impl Tx<'_> {
    /// A lease by id.
    pub fn lease(&self, id: &[u8; 16]) -> Result<Option<crate::model::Lease>, ApiError> {
        self.leases
            .get(id.as_slice())?
            .map(|v| decode(v.value()))
            .transpose()
    }

    /// Stores a lease.
    pub fn put_lease(&mut self, l: &crate::model::Lease) -> Result<(), ApiError> {
        let id = id_bytes(&l.id).ok_or(ApiError::Internal)?;
        self.leases.insert(id.as_slice(), encode(l)?.as_slice())?;
        Ok(())
    }

    /// Counts the seats of a license held at `now`, removing the entries of leases that
    /// have expired on the way (they hold no seat; removing them keeps the scan as short
    /// as the number of live seats, whatever the lease history).
    pub fn seats_held(&mut self, license: &[u8; 16], now: u64) -> Result<u64, ApiError> {
        let (lo, hi) = prefix_range(license);
        let mut held = 0;
        let mut stale = Vec::new();
        for item in self.seats.range(lo.as_slice()..hi.as_slice())? {
            let (k, exp) = item?;
            if exp.value() > now {
                held += 1;
            } else {
                stale.push(k.value().to_vec());
            }
        }
        for k in stale {
            self.seats.remove(k.as_slice())?;
        }
        Ok(held)
    }

    /// Appends an audit event.
    pub fn audit(&mut self, mut event: AuditEvent) -> Result<(), ApiError> {
        let seq = self.audit.last()?.map_or(1, |(k, _)| k.value() + 1);
        event.seq = seq;
        self.audit.insert(seq, encode(&event)?.as_slice())?;
        Ok(())
    }

    /// A license by id.
    pub fn license(&self, id: &[u8; 16]) -> Result<Option<License>, ApiError> {
        self.licenses
            .get(id.as_slice())?
            .map(|v| decode(v.value()))
            .transpose()
    }

    /// Stores a license.
    pub fn put_license(&mut self, l: &License) -> Result<(), ApiError> {
        let id = id_bytes(&l.id).ok_or(ApiError::Internal)?;
        self.licenses.insert(id.as_slice(), encode(l)?.as_slice())?;
        Ok(())
    }

    /// A product by name.
    pub fn product(&self, name: &str) -> Result<Option<Product>, ApiError> {
        self.products
            .get(name)?
            .map(|v| decode(v.value()))
            .transpose()
    }

    /// How many machines a license has.
    pub fn machine_count(&self, license: &[u8; 16]) -> Result<u64, ApiError> {
        self.machine_count_up_to(license, u64::MAX)
    }

    /// How many machines a license has, counting no further than `limit`.
    pub fn machine_count_up_to(&self, license: &[u8; 16], limit: u64) -> Result<u64, ApiError> {
        let (lo, hi) = prefix_range(license);
        let mut n = 0;
        for item in self.machines.range(lo.as_slice()..hi.as_slice())? {
            if n >= limit {
                break;
            }
            item?;
            n += 1;
        }
        Ok(n)
    }
}

/// The key range of everything under a 16-byte prefix.
pub fn prefix_range(prefix: &[u8; 16]) -> (Vec<u8>, Vec<u8>) {
    let lo = prefix.to_vec();
    let mut hi = prefix.to_vec();
    hi.push(0xff);
    hi.resize(16 + 33, 0xff);
    (lo, hi)
}

type Job = Box<dyn FnOnce(&mut Tx<'_>) -> Finish + Send>;
type Finish = Box<dyn FnOnce(Result<(), ApiError>) + Send>;

/// The database and its writer.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// How the writer groups commits.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Most write requests in one transaction; 1 turns batching off.
    pub max_batch: usize,
}

impl Store {
    /// Opens (or creates) the database at `path`, migrates it, and starts the writer.
    /// The writer stops when every `Store` clone is dropped, after committing what was queued.
    ///
    /// # Errors
    /// A message naming the file and what to do.
    pub fn open(
        path: &Path,
        config: WriterConfig,
    ) -> Result<(Store, std::thread::JoinHandle<()>), String> {
        let db = Database::create(path).map_err(|e| {
            format!(
                "{}: cannot open the database ({e}); is another licet-server using it?",
                path.display()
            )
        })?;
        restrict(path);
        migrate(&db).map_err(|e| format!("{}: {e}", path.display()))?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel::<Job>(16_384);
        let writer_db = Arc::clone(&db);
        let max_batch = config.max_batch.max(1);
        let handle = std::thread::Builder::new()
            .name("licet-writer".into())
            .spawn(move || writer(&writer_db, rx, max_batch))
            .map_err(|e| format!("cannot start the writer thread: {e}"))?;
        Ok((
            Store {
                db,
                jobs: tx,
                path: path.to_path_buf(),
            },
            handle,
        ))
    }

    /// Runs `f` in the writer, inside a write transaction, and answers once that transaction
    /// is durable. `f` must check everything before it writes: an error it returns does not
    /// roll back what it wrote (so that refusals can be audited).
    ///
    /// # Errors
    /// What `f` returns, or [`ApiError::Internal`] when the commit fails.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T, ApiError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |tx| {
            let result = f(tx);
            Box::new(move |committed: Result<(), ApiError>| {
                let _ = reply.send(committed.and(result));
            })
        });
        self.jobs.send(job).await.map_err(|_| ApiError::Internal)?;
        answer.await.map_err(|_| ApiError::Internal)?
    }

    /// Queues an audit event without waiting for it (refused client requests: their answer
    /// must not wait on a disk write).
    pub fn audit_later(&self, event: AuditEvent) {
        let job: Job = Box::new(move |tx| {
            if let Err(e) = tx.audit(event) {
                tracing::error!(error = %e, "writing an audit event");
            }
            Box::new(|_| {})
        });
        if self.jobs.try_send(job).is_err() {
            tracing::warn!("audit queue full: an audit event of a refused request was dropped");
        }
    }

    /// A read snapshot.
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn read(&self) -> Result<redb::ReadTransaction, ApiError> {
        Ok(self.db.begin_read()?)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a consistent copy of every table, as of one snapshot, to a new redb file.
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn backup_to(&self, out: &Path) -> Result<(), ApiError> {
        let snap = self.read()?;
        let copy = Database::create(out)?;
        restrict(out);
        let w = copy.begin_write()?;
        copy_table(&snap, &w, META)?;
        copy_table(&snap, &w, PRODUCTS)?;
        copy_table(&snap, &w, LICENSES)?;
        copy_table(&snap, &w, LICENSE_KEYS)?;
        copy_table(&snap, &w, MACHINES)?;
        copy_table(&snap, &w, AUDIT)?;
        copy_table(&snap, &w, LEASES)?;
        copy_table(&snap, &w, SEATS)?;
        copy_table(&snap, &w, LICENSE_LEASES)?;
        w.commit()?;
        Ok(())
    }
}

/// Makes a database file readable by its owner only: it holds every license key.
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot make the database file private");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    from: &redb::ReadTransaction,
    to: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<(), ApiError>
where
    for<'a> K::SelfType<'a>: std::borrow::Borrow<K::SelfType<'a>>,
{
    let src = match from.open_table(def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut dst = to.open_table(def)?;
    for item in src.iter()? {
        let (k, v) = item?;
        dst.insert(k.value(), v.value())?;
    }
    Ok(())
}

fn open_tx(w: &redb::WriteTransaction) -> Result<Tx<'_>, redb::TableError> {
    Ok(Tx {
        meta: w.open_table(META)?,
        products: w.open_table(PRODUCTS)?,
        licenses: w.open_table(LICENSES)?,
        license_keys: w.open_table(LICENSE_KEYS)?,
        machines: w.open_table(MACHINES)?,
        audit: w.open_table(AUDIT)?,
        leases: w.open_table(LEASES)?,
        seats: w.open_table(SEATS)?,
        license_leases: w.open_table(LICENSE_LEASES)?,
    })
}

fn writer(db: &Database, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut finishers: Vec<Finish> = Vec::with_capacity(batch.len());
        let outcome: Result<(), ApiError> = (|| {
            let w = db.begin_write()?;
            {
                let mut tx = open_tx(&w)?;
                for job in batch.drain(..) {
                    finishers.push(job(&mut tx));
                }
            }
            w.commit()?;
            Ok(())
        })();
        if let Err(e) = &outcome {
            tracing::error!(error = %e, requests = finishers.len(), "a write transaction failed; nothing in it was stored");
        }
        // Jobs not yet run (the transaction could not even start) are answered too.
        for job in batch.drain(..) {
            drop(job);
        }
        let n = finishers.len();
        for finish in finishers {
            finish(outcome.clone());
        }
        tracing::trace!(requests = n, "committed");
    }
    tracing::debug!("writer stopped: every request queued was committed");
}

fn migrate(db: &Database) -> Result<(), String> {
    let w = db.begin_write().map_err(|e| e.to_string())?;
    {
        let mut meta = w.open_table(META).map_err(|e| e.to_string())?;
        let current = meta
            .get("schema_version")
            .map_err(|e| e.to_string())?
            .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
            .map(u64::from_be_bytes);
        match current {
            None => {
                meta.insert("schema_version", SCHEMA_VERSION.to_be_bytes().as_slice())
                    .map_err(|e| e.to_string())?;
            }
            Some(v) if v == SCHEMA_VERSION => {}
            Some(v) if v > SCHEMA_VERSION => {
                return Err(format!(
                    "the database has schema version {v}, newer than this licet-server understands ({SCHEMA_VERSION}); run the newer licet-server, or restore a backup made by this one"
                ));
            }
            Some(v) => {
                // Each step N -> N+1, in this transaction.
                for step in v..SCHEMA_VERSION {
                    match step {
                        1 => migrate_1_to_2(&w).map_err(|e| e.to_string())?,
                        _ => return Err(format!("no migration from schema version {step}")),
                    }
                }
                meta.insert("schema_version", SCHEMA_VERSION.to_be_bytes().as_slice())
                    .map_err(|e| e.to_string())?;
            }
        }
        drop(meta);
        open_tx(&w).map_err(|e| e.to_string())?;
    }
    w.commit().map_err(|e| e.to_string())
}

/// Version 1 → 2: `seats` and `license_leases` re-keyed from license ‖ lease id to
/// [`lease_key`], the creation time read from each lease record.
fn migrate_1_to_2(w: &redb::WriteTransaction) -> Result<(), ApiError> {
    let leases = w.open_table(LEASES)?;
    let rekey = |old: &[u8]| -> Result<Option<Vec<u8>>, ApiError> {
        let (Some(license), Some(lease)) = (old.get(..16), old.get(16..32)) else {
            return Ok(None);
        };
        let (license, lease): ([u8; 16], [u8; 16]) = (
            license.try_into().map_err(|_| ApiError::Internal)?,
            lease.try_into().map_err(|_| ApiError::Internal)?,
        );
        let Some(record) = leases.get(lease.as_slice())? else {
            return Ok(None);
        };
        let record: crate::model::Lease = decode(record.value())?;
        Ok(Some(
            lease_key(&license, record.created_at, &lease).to_vec(),
        ))
    };
    let mut seats = Vec::new();
    for item in w.open_table(SEATS)?.iter()? {
        let (k, v) = item?;
        if let Some(k) = rekey(k.value())? {
            seats.push((k, v.value()));
        }
    }
    let mut index = Vec::new();
    for item in w.open_table(LICENSE_LEASES)?.iter()? {
        let (k, _) = item?;
        if let Some(k) = rekey(k.value())? {
            index.push(k);
        }
    }
    let mut t = w.open_table(SEATS)?;
    t.retain(|_, _| false)?;
    for (k, v) in seats {
        t.insert(k.as_slice(), v)?;
    }
    let mut t = w.open_table(LICENSE_LEASES)?;
    t.retain(|_, _| false)?;
    for k in index {
        t.insert(k.as_slice(), ())?;
    }
    Ok(())
}

/// Reads from a snapshot.
pub struct Snapshot {
    txn: redb::ReadTransaction,
}

impl Snapshot {
    /// A new snapshot of `store`.
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn of(store: &Store) -> Result<Snapshot, ApiError> {
        Ok(Snapshot { txn: store.read()? })
    }

    /// The underlying read transaction.
    pub fn txn(&self) -> &redb::ReadTransaction {
        &self.txn
    }

    /// A license by id.
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn license(&self, id: &[u8; 16]) -> Result<Option<License>, ApiError> {
        let t = self.txn.open_table(LICENSES)?;
        let v = t.get(id.as_slice())?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// A license by the SHA-256 of its key's binary form.
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn license_by_key_hash(&self, hash: &[u8; 32]) -> Result<Option<License>, ApiError> {
        let t = self.txn.open_table(LICENSE_KEYS)?;
        let Some(id) = t.get(hash.as_slice())? else {
            return Ok(None);
        };
        let id: [u8; 16] = id.value().try_into().map_err(|_| ApiError::Internal)?;
        self.license(&id)
    }

    /// A product by name.
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn product(&self, name: &str) -> Result<Option<Product>, ApiError> {
        let t = self.txn.open_table(PRODUCTS)?;
        let v = t.get(name)?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// A license's machines.
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn machines(&self, license: &[u8; 16]) -> Result<Vec<Machine>, ApiError> {
        let t = self.txn.open_table(MACHINES)?;
        let (lo, hi) = prefix_range(license);
        let mut out = Vec::new();
        for item in t.range(lo.as_slice()..hi.as_slice())? {
            let (_, v) = item?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    /// How many machines a license has (keys counted, records not read).
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn machine_count(&self, license: &[u8; 16]) -> Result<u64, ApiError> {
        let t = self.txn.open_table(MACHINES)?;
        let (lo, hi) = prefix_range(license);
        let mut n = 0;
        for item in t.range(lo.as_slice()..hi.as_slice())? {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// One machine.
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn machine(
        &self,
        license: &[u8; 16],
        fingerprint: &[u8; 32],
    ) -> Result<Option<Machine>, ApiError> {
        let t = self.txn.open_table(MACHINES)?;
        let v = t.get(
            [license.as_slice(), fingerprint.as_slice()]
                .concat()
                .as_slice(),
        )?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// How many seats of a license are held at `now` (leases not released and not expired).
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn seats_held(&self, license: &[u8; 16], now: u64) -> Result<u64, ApiError> {
        let t = self.txn.open_table(SEATS)?;
        let (lo, hi) = prefix_range(license);
        let mut n = 0;
        for item in t.range(lo.as_slice()..hi.as_slice())? {
            let (_, exp) = item?;
            if exp.value() > now {
                n += 1;
            }
        }
        Ok(n)
    }

    /// A lease by id.
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn lease(&self, id: &[u8; 16]) -> Result<Option<crate::model::Lease>, ApiError> {
        let t = self.txn.open_table(LEASES)?;
        let v = t.get(id.as_slice())?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// Every lease of a license (admin listing).
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn leases_of(&self, license: &[u8; 16]) -> Result<Vec<crate::model::Lease>, ApiError> {
        let index = self.txn.open_table(LICENSE_LEASES)?;
        let leases = self.txn.open_table(LEASES)?;
        let (lo, hi) = prefix_range(license);
        let mut out = Vec::new();
        for item in index.range(lo.as_slice()..hi.as_slice())? {
            let (k, _) = item?;
            if let Some(v) = leases.get(k.value().get(24..).unwrap_or_default())? {
                out.push(decode(v.value())?);
            }
        }
        Ok(out)
    }

    /// Number of licenses.
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn license_count(&self) -> Result<u64, ApiError> {
        Ok(self.txn.open_table(LICENSES)?.len()?)
    }

    /// Number of audit events.
    ///
    /// # Errors
    /// [`ApiError::Internal`].
    pub fn audit_len(&self) -> Result<u64, ApiError> {
        Ok(self.txn.open_table(AUDIT)?.len()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Lease;

    /// A version-1 file (seats and license_leases keyed license ‖ lease id) opens as
    /// version 2 with both re-keyed by creation time, and nothing else lost.
    #[test]
    fn migrates_version_1_lease_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("licet.redb");
        let (license, live, gone) = ([1u8; 16], [7u8; 16], [3u8; 16]);
        {
            let db = Database::create(&path).expect("create");
            let w = db.begin_write().expect("write");
            {
                let mut meta = w.open_table(META).expect("meta");
                meta.insert("schema_version", 1u64.to_be_bytes().as_slice())
                    .expect("version");
                let mut leases = w.open_table(LEASES).expect("leases");
                let mut seats = w.open_table(SEATS).expect("seats");
                let mut index = w.open_table(LICENSE_LEASES).expect("index");
                for (id, created, released) in [(live, 2_000, None), (gone, 1_000, Some(1_500))] {
                    let lease = Lease {
                        id: licet_verifier::hex(&id),
                        license_id: licet_verifier::hex(&license),
                        client_id: None,
                        created_at: created,
                        expires_at: created + 600,
                        released_at: released,
                        renewals: 0,
                        token_sha256: "00".repeat(32),
                        retry: None,
                    };
                    let old = [license.as_slice(), id.as_slice()].concat();
                    leases
                        .insert(id.as_slice(), encode(&lease).expect("encode").as_slice())
                        .expect("lease");
                    index.insert(old.as_slice(), ()).expect("index entry");
                    if released.is_none() {
                        seats.insert(old.as_slice(), created + 600).expect("seat");
                    }
                }
            }
            w.commit().expect("commit");
        }
        let (store, writer) = Store::open(&path, WriterConfig { max_batch: 1 }).expect("open");
        {
            let snap = Snapshot::of(&store).expect("snapshot");
            let meta = snap.txn().open_table(META).expect("meta");
            let version = meta.get("schema_version").expect("get").expect("version");
            assert_eq!(version.value(), SCHEMA_VERSION.to_be_bytes().as_slice());
            let seats = snap.txn().open_table(SEATS).expect("seats");
            let keys: Vec<(Vec<u8>, u64)> = seats
                .iter()
                .expect("iter")
                .map(|i| {
                    i.map(|(k, v)| (k.value().to_vec(), v.value()))
                        .expect("item")
                })
                .collect();
            assert_eq!(
                keys,
                vec![(lease_key(&license, 2_000, &live).to_vec(), 2_600)]
            );
            assert_eq!(snap.seats_held(&license, 2_100).expect("held"), 1);
            let listed: Vec<String> = snap
                .leases_of(&license)
                .expect("leases")
                .into_iter()
                .map(|l| l.id)
                .collect();
            // Oldest first.
            assert_eq!(
                listed,
                vec![licet_verifier::hex(&gone), licet_verifier::hex(&live)]
            );
        }
        drop(store);
        writer.join().expect("writer");
    }
}
