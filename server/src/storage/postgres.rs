//! Storage: PostgreSQL, so that several server processes share one database.
//!
//! The second backend of the storage interface ([`crate::storage`]): [`Tx`] implements
//! [`ReadTx`] and [`WriteTx`] over one SQL transaction, and [`Pg`] implements [`Backend`].
//! Nothing outside this file knows the tables or the SQL.
//!
//! **Driver**: the synchronous `postgres` crate with an `r2d2` pool. Write jobs are
//! synchronous closures (`FnMut(&mut dyn WriteTx)`), so each runs on a blocking thread that
//! holds one pooled connection for the whole transaction; the sync client is exactly that,
//! without driving an async client from inside a blocking closure. Every statement goes
//! through `query_typed` (parameter types sent with the query, unnamed statement), so each
//! costs one round trip and no statement cache is needed.
//!
//! **Group commit**: write jobs are queued, and a batch of up to `--max-batch` (at most
//! [`MAX_BATCH`]) runs in one transaction, one job after another, answered after its one
//! COMMIT, as the redb writer does; a quarter of the pool runs batches, the rest reads. A
//! failed statement aborts the whole transaction in PostgreSQL, so then (and when a job
//! panics) each job of the batch is run again in a transaction of its own. No savepoint
//! per job: SAVEPOINT and RELEASE would cost the two round trips a batch saves.
//!
//! **Exactness across processes**: write transactions run at READ COMMITTED, and every
//! record a write job reads by key is read `FOR UPDATE`. Every limit is a limit of one
//! license, and every job that checks one reads that license first: the license row lock
//! queues the jobs of one license across every process, and the counts each job makes after
//! it holds the lock see every committed machine and lease (READ COMMITTED takes a new
//! snapshot per statement). Jobs of different licenses do not wait for each other: reading
//! an existing product locks nothing, since a foreign key from `licenses.product` keeps a
//! product from being deleted under a license being created for it (PostgreSQL's own
//! row lock on the product; the loser of that race fails on the key and is rerun, and the
//! rerun sees the other's commit). A product name not found in a write takes one lock row
//! (`locks.products`) and looks again, so that two jobs creating the same product run one
//! at a time and the second finds the first's. The audit log's next `seq` is a
//! counter row (`locks.audit_seq`) updated in the appending transaction: gapless, in commit
//! order, the same total order as the redb log; a transaction numbers its events in one
//! statement just before its COMMIT, so the row is held for no longer than that. Why not SERIALIZABLE: the hot case is many
//! requests on one license, where every transaction reads what the others write; SSI would
//! abort nearly all of them and retry, where the row lock just queues them. Deadlocks
//! (a renewal locks its lease then its license, a deletion the other way round) and
//! serialization failures are retried, a few times, by rerunning the job, which
//! [`Backend::write`] allows.
//!
//! **Schema**: real columns for what is looked up, ordered, constrained or counted (ids,
//! the key hash, the product, lease expiry and release, the audit seq) and the record itself
//! as `jsonb` in the same serde encoding as the redb backend, so a field added to a model
//! type later needs no new column and the encoding lives in one place (`crate::model`).

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::{Json, ToSql, Type};
use postgres::{NoTls, Transaction};
use r2d2_postgres::{PostgresConnectionManager, r2d2};
use serde::de::DeserializeOwned;
use std::cell::{Cell, RefCell};

use crate::core::CoreError;
use crate::model::{
    AdminToken, AuditEvent, Deactivation, DenyEntry, Lease, License, Machine, Policy, Product,
    Trial,
};
use crate::storage::{Backend, ReadTx, WriteTx, resolve, resolve_each, stored_id};

/// The schema version this build writes: migrations are the steps of [`MIGRATIONS`], each
/// applied once, in order, in one transaction at start; a newer database is refused, so an
/// old binary never misreads data written by a new one (the rule of the redb file).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Schema steps: `MIGRATIONS[n]` takes version n to n + 1. Append, never edit.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
    CREATE TABLE products (name TEXT PRIMARY KEY, record JSONB NOT NULL);
    CREATE TABLE licenses (
        id BYTEA PRIMARY KEY,
        key_hash BYTEA NOT NULL UNIQUE,
        product TEXT NOT NULL,
        record JSONB NOT NULL
    );
    CREATE INDEX licenses_by_product ON licenses (product);
    CREATE TABLE machines (
        license_id BYTEA NOT NULL,
        fingerprint BYTEA NOT NULL,
        record JSONB NOT NULL,
        PRIMARY KEY (license_id, fingerprint)
    );
    CREATE TABLE leases (
        id BYTEA PRIMARY KEY,
        license_id BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        released BOOLEAN NOT NULL,
        record JSONB NOT NULL
    );
    CREATE INDEX leases_by_license ON leases (license_id, created_at, id);
    CREATE INDEX live_seats ON leases (license_id, expires_at) WHERE NOT released;
    CREATE TABLE audit (seq BIGINT PRIMARY KEY, record JSONB NOT NULL);
    CREATE TABLE locks (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
    INSERT INTO locks (name, value) VALUES ('audit_seq', 0), ('products', 0);
",
    "
    -- Version 2: a license's product exists while the license does (see the module notes:
    -- this replaces a lock every write took on the one `products` row).
    ALTER TABLE licenses ADD CONSTRAINT licenses_product_exists
        FOREIGN KEY (product) REFERENCES products (name);
",
    "
    -- Version 3: scoped admin tokens and deny lists.
    CREATE TABLE admin_tokens (id BYTEA PRIMARY KEY, record JSONB NOT NULL);
    CREATE TABLE deny (id BYTEA PRIMARY KEY, record JSONB NOT NULL);
",
    "
    -- Version 4: policies (issue 15).
    -- License records may now name a policy and hold only the values
    -- they override; a record written before holds every value and reads as overriding
    -- them all, so no row is rewritten.
    CREATE TABLE policies (
        product TEXT NOT NULL,
        name TEXT NOT NULL,
        record JSONB NOT NULL,
        PRIMARY KEY (product, name)
    );
    CREATE INDEX licenses_by_policy ON licenses (product, (record->>'policy'))
        WHERE record ? 'policy';
",
    "
    -- Version 5: machine deactivations (issue 15: deactivation limits, cooldown, and the
    -- revocation of a deactivated machine's tokens). Kept per license, oldest first.
    CREATE TABLE deactivations (
        license_id BYTEA NOT NULL,
        at BIGINT NOT NULL,
        machine_id BYTEA NOT NULL,
        record JSONB NOT NULL,
        PRIMARY KEY (license_id, at, machine_id)
    );
",
    "
    -- Version 6: keyless trials (issue 15), one per fingerprint and product, for ever.
    -- No foreign keys: a trial outlives its license and its product (deleted, a product
    -- made again under the same name gives no second trial either).
    CREATE TABLE trials (
        product TEXT NOT NULL,
        fingerprint BYTEA NOT NULL,
        record JSONB NOT NULL,
        PRIMARY KEY (product, fingerprint)
    );
",
];

/// Most times a write job is run when PostgreSQL answers a serialization failure or a
/// deadlock: each rerun follows a commit of the job it collided with, so a few suffice.
const MAX_ATTEMPTS: u32 = 8;

/// Most audit events a transaction keeps before it numbers them ([`Tx::number_audit`]).
const AUDIT_CHUNK: usize = 1024;

/// How long a statement of a batch of write jobs waits for a row lock before the batch is
/// given up and its jobs run alone (see `commit_batch`). `SET LOCAL`: for that transaction
/// only; CockroachDB and YugabyteDB accept it too.
const BATCH_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '200ms'";

/// Most refused-request audit events queued at once ([`Backend::audit_later`]).
const MAX_PENDING_AUDIT: usize = 1024;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// The PostgreSQL backend: a pool of connections to one database.
#[derive(Clone)]
pub struct Pg {
    pool: Arc<OwnedPool>,
    /// `host:port/database` (never the password), for logs and messages.
    target: Arc<str>,
    pending_audit: Arc<tokio::sync::Semaphore>,
    /// One permit per pooled connection jobs may use: a job waits here, on the async
    /// runtime, for its turn (however long the queue: a busy server is not an outage), so
    /// that the pool's own timeout measures only whether PostgreSQL answers. The pool has
    /// one connection more, for `/healthz`, which must not wait behind the queue.
    slots: Arc<tokio::sync::Semaphore>,
    /// Write jobs waiting for a batch (group commit; empty when batching is off).
    queue: Arc<Mutex<VecDeque<Box<dyn Queued>>>>,
    /// One permit per batch running at once.
    runners: Arc<tokio::sync::Semaphore>,
    /// Most write jobs in one transaction; 1 runs each in its own.
    max_batch: usize,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg").field("target", &self.target).finish()
    }
}

/// The pool, closed off the async runtime: closing a sync client runs a runtime of its
/// own, which Tokio refuses on one of its worker threads (the last handle of a server is
/// often dropped there).
struct OwnedPool(Option<Pool>);

impl Drop for OwnedPool {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(pool));
            } else {
                drop(pool);
            }
        }
    }
}

impl Pg {
    fn pool(&self) -> &Pool {
        // Taken only by Drop.
        self.pool
            .0
            .as_ref()
            .unwrap_or_else(|| unreachable!("the pool is taken only on drop"))
    }
}

/// `host:port/database` of a parsed URL: what messages name, never the password.
fn target(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// Parses a `postgres://` URL. The message never repeats the URL (it may hold a password).
///
/// # Errors
/// A message saying what shape is expected.
pub fn parse_url(url: &str) -> Result<postgres::Config, String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(
            "the database URL must start with postgres:// (postgres://USER:PASSWORD@HOST:PORT/DATABASE)"
                .into(),
        );
    }
    postgres::Config::from_str(url).map_err(|_| {
        "the database URL is not a valid PostgreSQL URL: write postgres://USER:PASSWORD@HOST:PORT/DATABASE (percent-encode special characters in the password)".into()
    })
}

/// A driver error in words: PostgreSQL's own message where it sent one (the driver's
/// `Display` says only "db error"). Neither holds the password.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

/// Whether an error means the database cannot be reached or is going away (as opposed to
/// a statement PostgreSQL refused): then the request is answered `STORAGE_UNAVAILABLE`.
fn is_unavailable(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let c = code.code();
        // 08: connection exception; 57P01-03: the server shutting down or starting;
        // 53: insufficient resources (too many connections, disk full).
        return c.starts_with("08") || c.starts_with("57P") || c.starts_with("53");
    }
    // No SQL state: an I/O error talking to the server, or a value that did not decode.
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

/// Whether rerunning the transaction can succeed.
fn is_retryable(e: &postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            // Only a race breaks the key (the core checks a product before using it): a
            // license created as its product was deleted. The rerun sees which won.
            || *c == SqlState::FOREIGN_KEY_VIOLATION
    })
}

/// What a failed statement means for the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Serialization failure, deadlock or a broken foreign key: rerun the job.
    Retry,
    /// The database is unreachable.
    Unavailable,
    /// Anything else: a bug or damaged data.
    Other,
}

fn failure_of(e: &postgres::Error) -> Failure {
    if is_retryable(e) {
        Failure::Retry
    } else if is_unavailable(e) {
        Failure::Unavailable
    } else {
        Failure::Other
    }
}

fn core_error(f: Failure) -> CoreError {
    match f {
        Failure::Unavailable | Failure::Retry => CoreError::StorageUnavailable,
        Failure::Other => CoreError::Internal,
    }
}

/// A u64 the model holds as a BIGINT column (times, counts: far below 2^63 by the limits of
/// `crate::model::limits`).
fn big(v: u64) -> Result<i64, CoreError> {
    i64::try_from(v).map_err(|_| {
        tracing::error!(value = v, "a number too large for a BIGINT column");
        CoreError::Internal
    })
}

fn unbig(v: i64) -> Result<u64, CoreError> {
    u64::try_from(v).map_err(|_| {
        tracing::error!(value = v, "a negative number in a BIGINT column");
        CoreError::Internal
    })
}

/// One SQL transaction, as the storage interface sees it. Reads by key lock the row
/// (`FOR UPDATE`) in a write transaction; see the module's notes for why.
pub struct Tx<'c> {
    t: RefCell<Transaction<'c>>,
    write: bool,
    /// The first statement that failed: PostgreSQL refuses every later one of the
    /// transaction, and the job may have swallowed the error, so the runner checks this
    /// before it reports success.
    failed: Cell<Option<Failure>>,
    /// Audit events appended and not yet numbered: they are written together just before
    /// the commit ([`Tx::number_audit`]), so that the counter row every audited write
    /// takes is held only for that last statement and the commit, not for the whole job.
    audit: RefCell<Vec<AuditEvent>>,
}

type Param<'a> = (&'a (dyn ToSql + Sync), Type);

impl Tx<'_> {
    fn fail(&self, e: &postgres::Error) -> CoreError {
        let f = failure_of(e);
        if self.failed.get().is_none() {
            self.failed.set(Some(f));
        }
        match f {
            Failure::Retry => tracing::debug!(error = %describe(e), "transaction to be retried"),
            // A batch's lock timeout (BATCH_LOCK_TIMEOUT): expected now and then, and its
            // jobs are run again alone.
            Failure::Other if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
                tracing::debug!(error = %describe(e), "a batch waited too long for a lock")
            }
            Failure::Unavailable => {
                tracing::warn!(error = %describe(e), "the database does not answer")
            }
            Failure::Other => tracing::error!(error = %describe(e), "a statement failed"),
        }
        core_error(f)
    }

    fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<postgres::Row>, CoreError> {
        let r = self.t.borrow_mut().query_typed(sql, params);
        r.map_err(|e| self.fail(&e))
    }

    fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, CoreError> {
        let r = self.t.borrow_mut().execute_typed(sql, params);
        r.map_err(|e| self.fail(&e))
    }

    /// The first column of the first row, decoded from JSON, if there is a row.
    fn record<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Option<T>, CoreError> {
        self.query(sql, params)?
            .first()
            .map(|row| self.json(row, 0))
            .transpose()
    }

    fn records<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<T>, CoreError> {
        self.query(sql, params)?
            .iter()
            .map(|row| self.json(row, 0))
            .collect()
    }

    fn json<T: DeserializeOwned>(&self, row: &postgres::Row, i: usize) -> Result<T, CoreError> {
        row.try_get::<_, Json<T>>(i).map(|j| j.0).map_err(|e| {
            tracing::error!(error = %e, "decoding a stored record");
            CoreError::Internal
        })
    }

    fn count(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, CoreError> {
        let rows = self.query(sql, params)?;
        let n: i64 = rows
            .first()
            .ok_or(CoreError::Internal)?
            .try_get(0)
            .map_err(|e| self.fail(&e))?;
        unbig(n)
    }

    /// Numbers and inserts the audit events appended so far, in one statement that takes
    /// the counter row (held, as before, until the transaction ends: seqs stay gapless and
    /// in commit order). Called before the commit, and before anything of this
    /// transaction reads or prunes the log, so that it sees its own events.
    fn number_audit(&self) -> Result<(), CoreError> {
        let events = std::mem::take(&mut *self.audit.borrow_mut());
        if events.is_empty() || self.failed.get().is_some() {
            return Ok(());
        }
        let n = i64::try_from(events.len()).map_err(|_| CoreError::Internal)?;
        let records: Vec<Json<&AuditEvent>> = events.iter().map(Json).collect();
        self.execute(
            "WITH s AS (UPDATE locks SET value = value + $2 WHERE name = 'audit_seq' RETURNING value)
             INSERT INTO audit (seq, record)
             SELECT s.value - $2 + e.n, e.record
             FROM s, unnest($1::jsonb[]) WITH ORDINALITY AS e (record, n)",
            &[(&records, Type::JSONB_ARRAY), (&n, INT8)],
        )?;
        Ok(())
    }

    /// `FOR UPDATE` in a write transaction, nothing in a read.
    fn lock(&self) -> &'static str {
        if self.write { " FOR UPDATE" } else { "" }
    }
}

/// Rows per page of a listing. A listing reads page by page (keyset: `WHERE id > last`),
/// not through one open portal, because its visitor may read again in the same
/// transaction (the dashboard counts each license's seats while it lists licenses), and a
/// connection cannot run a query while a portal of its is half read. A page bounds what
/// is held in memory at once.
const PAGE: i64 = 256;

const BYTEA: Type = Type::BYTEA;
const TEXT: Type = Type::TEXT;
const INT8: Type = Type::INT8;
const JSONB: Type = Type::JSONB;

impl ReadTx for Tx<'_> {
    fn license(&self, id: &[u8; 16]) -> Result<Option<License>, CoreError> {
        let sql = format!("SELECT record FROM licenses WHERE id = $1{}", self.lock());
        resolve(self, self.record(&sql, &[(&id.as_slice(), BYTEA)])?)
    }

    fn license_by_key_hash(&self, hash: &[u8; 32]) -> Result<Option<License>, CoreError> {
        let sql = format!(
            "SELECT record FROM licenses WHERE key_hash = $1{}",
            self.lock()
        );
        resolve(self, self.record(&sql, &[(&hash.as_slice(), BYTEA)])?)
    }

    fn licenses_after(
        &self,
        after: Option<&[u8; 16]>,
        visit: &mut dyn FnMut(License) -> bool,
    ) -> Result<(), CoreError> {
        resolve_each(self, visit, |visit| {
            let mut last: Vec<u8> = after.map_or_else(Vec::new, |a| a.to_vec());
            loop {
                let rows = self.query(
                    "SELECT id, record FROM licenses WHERE id > $1 ORDER BY id LIMIT $2",
                    &[(&last.as_slice(), BYTEA), (&PAGE, INT8)],
                )?;
                for row in &rows {
                    last = row.try_get(0).map_err(|e| self.fail(&e))?;
                    if !visit(self.json(row, 1)?) {
                        return Ok(());
                    }
                }
                if i64::try_from(rows.len()).map_or(true, |n| n < PAGE) {
                    return Ok(());
                }
            }
        })
    }

    fn policy(&self, product: &str, name: &str) -> Result<Option<Policy>, CoreError> {
        self.record(
            "SELECT record FROM policies WHERE product = $1 AND name = $2",
            &[(&product, TEXT), (&name, TEXT)],
        )
    }

    fn policies(&self, product: Option<&str>) -> Result<Vec<Policy>, CoreError> {
        match product {
            Some(p) => self.records(
                "SELECT record FROM policies WHERE product = $1 ORDER BY product, name",
                &[(&p, TEXT)],
            ),
            None => self.records("SELECT record FROM policies ORDER BY product, name", &[]),
        }
    }

    fn license_count(&self) -> Result<u64, CoreError> {
        self.count("SELECT count(*) FROM licenses", &[])
    }

    /// An existing product locks nothing (the foreign key guards it). Not found in a write
    /// transaction, it takes the products lock and looks again: a job creating that product
    /// then runs alone, and one that waited sees the product the other committed.
    fn product(&self, name: &str) -> Result<Option<Product>, CoreError> {
        let read = || {
            self.record(
                "SELECT record FROM products WHERE name = $1",
                &[(&name, TEXT)],
            )
        };
        let found = read()?;
        if found.is_some() || !self.write {
            return Ok(found);
        }
        self.execute(
            "SELECT value FROM locks WHERE name = 'products' FOR UPDATE",
            &[],
        )?;
        // READ COMMITTED: this statement's snapshot is taken after the lock was granted.
        read()
    }

    fn products(&self) -> Result<Vec<Product>, CoreError> {
        self.records("SELECT record FROM products ORDER BY name", &[])
    }

    fn machine(
        &self,
        license: &[u8; 16],
        fingerprint: &[u8; 32],
    ) -> Result<Option<Machine>, CoreError> {
        let sql = format!(
            "SELECT record FROM machines WHERE license_id = $1 AND fingerprint = $2{}",
            self.lock()
        );
        self.record(
            &sql,
            &[
                (&license.as_slice(), BYTEA),
                (&fingerprint.as_slice(), BYTEA),
            ],
        )
    }

    fn machines(&self, license: &[u8; 16]) -> Result<Vec<Machine>, CoreError> {
        self.records(
            "SELECT record FROM machines WHERE license_id = $1 ORDER BY fingerprint",
            &[(&license.as_slice(), BYTEA)],
        )
    }

    fn machine_count_up_to(&self, license: &[u8; 16], limit: u64) -> Result<u64, CoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.count(
            "SELECT count(*) FROM (SELECT 1 FROM machines WHERE license_id = $1 LIMIT $2) m",
            &[(&license.as_slice(), BYTEA), (&limit, INT8)],
        )
    }

    fn seats_held(&self, license: &[u8; 16], now: u64) -> Result<u64, CoreError> {
        let now = big(now)?;
        self.count(
            "SELECT count(*) FROM leases WHERE license_id = $1 AND NOT released AND expires_at > $2",
            &[(&license.as_slice(), BYTEA), (&now, INT8)],
        )
    }

    fn lease(&self, id: &[u8; 16]) -> Result<Option<Lease>, CoreError> {
        let sql = format!("SELECT record FROM leases WHERE id = $1{}", self.lock());
        self.record(&sql, &[(&id.as_slice(), BYTEA)])
    }

    fn leases_of(&self, license: &[u8; 16]) -> Result<Vec<Lease>, CoreError> {
        self.records(
            "SELECT record FROM leases WHERE license_id = $1 ORDER BY created_at, id",
            &[(&license.as_slice(), BYTEA)],
        )
    }

    fn audit_before(
        &self,
        before: Option<u64>,
        visit: &mut dyn FnMut(AuditEvent) -> bool,
    ) -> Result<(), CoreError> {
        self.number_audit()?;
        let mut last = before.map_or(Ok(i64::MAX), big)?;
        loop {
            let rows = self.query(
                "SELECT seq, record FROM audit WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
                &[(&last, INT8), (&PAGE, INT8)],
            )?;
            for row in &rows {
                last = row.try_get(0).map_err(|e| self.fail(&e))?;
                let mut e: AuditEvent = self.json(row, 1)?;
                e.seq = unbig(last)?;
                if !visit(e) {
                    return Ok(());
                }
            }
            if i64::try_from(rows.len()).map_or(true, |n| n < PAGE) {
                return Ok(());
            }
        }
    }

    fn audit_len(&self) -> Result<u64, CoreError> {
        self.number_audit()?;
        self.count("SELECT count(*) FROM audit", &[])
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, CoreError> {
        let rows = self.query("SELECT value FROM meta WHERE key = $1", &[(&key, TEXT)])?;
        rows.first()
            .map(|r| r.try_get::<_, Vec<u8>>(0).map_err(|e| self.fail(&e)))
            .transpose()
    }

    fn audit_oldest(&self, limit: usize) -> Result<Vec<AuditEvent>, CoreError> {
        self.number_audit()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.query(
            "SELECT seq, record FROM audit ORDER BY seq LIMIT $1",
            &[(&limit, INT8)],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let seq: i64 = row.try_get(0).map_err(|e| self.fail(&e))?;
            let mut e: AuditEvent = self.json(row, 1)?;
            e.seq = unbig(seq)?;
            out.push(e);
        }
        Ok(out)
    }

    fn leases_after(
        &self,
        after: Option<&[u8; 16]>,
        limit: usize,
    ) -> Result<Vec<Lease>, CoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let after: &[u8] = after.map_or(&[], |a| a.as_slice());
        let sql = format!(
            "SELECT record FROM leases WHERE id > $1 ORDER BY id LIMIT $2{}",
            self.lock()
        );
        self.records(&sql, &[(&after, BYTEA), (&limit, INT8)])
    }

    fn admin_tokens(&self) -> Result<Vec<AdminToken>, CoreError> {
        self.records("SELECT record FROM admin_tokens ORDER BY id", &[])
    }

    fn deny_entries(&self) -> Result<Vec<DenyEntry>, CoreError> {
        self.records("SELECT record FROM deny ORDER BY id", &[])
    }

    fn deactivations(&self, license: Option<&[u8; 16]>) -> Result<Vec<Deactivation>, CoreError> {
        match license {
            Some(l) => self.records(
                "SELECT record FROM deactivations WHERE license_id = $1 ORDER BY at, machine_id",
                &[(&l.as_slice(), BYTEA)],
            ),
            None => self.records(
                "SELECT record FROM deactivations ORDER BY license_id, at, machine_id",
                &[],
            ),
        }
    }

    /// In a write transaction, first the product's row is locked (`FOR NO KEY UPDATE`):
    /// a trial row not there yet cannot be locked, and two jobs that both found none would
    /// both make a trial (the loser failing on the primary key only after it had signed
    /// and stored a license). With the lock the second waits, and its read (READ
    /// COMMITTED: a new snapshot per statement) sees the first's trial. A row lock rather
    /// than an advisory lock keeps to SQL that CockroachDB and YugabyteDB accept (issue
    /// 11); it serialises the trials of one product, which start at human pace, and
    /// `NO KEY` leaves the key-share locks of license inserts (the product foreign key)
    /// unblocked.
    fn trial(&self, product: &str, fingerprint: &[u8; 32]) -> Result<Option<Trial>, CoreError> {
        if self.write {
            self.execute(
                "SELECT 1 FROM products WHERE name = $1 FOR NO KEY UPDATE",
                &[(&product, TEXT)],
            )?;
        }
        self.record(
            "SELECT record FROM trials WHERE product = $1 AND fingerprint = $2",
            &[(&product, TEXT), (&fingerprint.as_slice(), BYTEA)],
        )
    }

    fn trials(&self) -> Result<Vec<Trial>, CoreError> {
        self.records(
            "SELECT record FROM trials ORDER BY fingerprint, product COLLATE \"C\"",
            &[],
        )
    }
}

impl WriteTx for Tx<'_> {
    /// Expired leases need no tidying here: the `live_seats` index holds only leases not
    /// released, ordered by expiry, so the count reads the live seats alone.
    fn count_seats(&mut self, license: &[u8; 16], now: u64) -> Result<u64, CoreError> {
        self.seats_held(license, now)
    }

    fn insert_license(&mut self, l: &License, key_hash: &[u8; 32]) -> Result<(), CoreError> {
        let id = stored_id(&l.id)?;
        self.execute(
            "INSERT INTO licenses (id, key_hash, product, record) VALUES ($1, $2, $3, $4)",
            &[
                (&id.as_slice(), BYTEA),
                (&key_hash.as_slice(), BYTEA),
                (&l.product, TEXT),
                (&Json(l), JSONB),
            ],
        )?;
        Ok(())
    }

    fn put_license(&mut self, l: &License) -> Result<(), CoreError> {
        let id = stored_id(&l.id)?;
        self.execute(
            "UPDATE licenses SET product = $2, record = $3 WHERE id = $1",
            &[
                (&id.as_slice(), BYTEA),
                (&l.product, TEXT),
                (&Json(l), JSONB),
            ],
        )?;
        Ok(())
    }

    fn rekey_license(
        &mut self,
        l: &License,
        _old_hash: &[u8; 32],
        new_hash: &[u8; 32],
    ) -> Result<(), CoreError> {
        let id = stored_id(&l.id)?;
        self.execute(
            "UPDATE licenses SET key_hash = $2, product = $3, record = $4 WHERE id = $1",
            &[
                (&id.as_slice(), BYTEA),
                (&new_hash.as_slice(), BYTEA),
                (&l.product, TEXT),
                (&Json(l), JSONB),
            ],
        )?;
        Ok(())
    }

    fn delete_license(&mut self, id: &[u8; 16], _key_hash: &[u8; 32]) -> Result<(), CoreError> {
        let p: &[Param<'_>] = &[(&id.as_slice(), BYTEA)];
        self.execute("DELETE FROM machines WHERE license_id = $1", p)?;
        self.execute("DELETE FROM leases WHERE license_id = $1", p)?;
        self.execute("DELETE FROM deactivations WHERE license_id = $1", p)?;
        self.execute("DELETE FROM licenses WHERE id = $1", p)?;
        Ok(())
    }

    fn product_has_licenses(&mut self, name: &str) -> Result<bool, CoreError> {
        Ok(self.count(
            "SELECT count(*) FROM (SELECT 1 FROM licenses WHERE product = $1 LIMIT 1) l",
            &[(&name, TEXT)],
        )? > 0)
    }

    fn put_product(&mut self, p: &Product) -> Result<(), CoreError> {
        self.execute(
            "INSERT INTO products (name, record) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET record = excluded.record",
            &[(&p.name, TEXT), (&Json(p), JSONB)],
        )?;
        Ok(())
    }

    fn remove_product(&mut self, name: &str) -> Result<(), CoreError> {
        self.execute("DELETE FROM products WHERE name = $1", &[(&name, TEXT)])?;
        Ok(())
    }

    fn put_policy(&mut self, p: &Policy) -> Result<(), CoreError> {
        self.execute(
            "INSERT INTO policies (product, name, record) VALUES ($1, $2, $3)
             ON CONFLICT (product, name) DO UPDATE SET record = excluded.record",
            &[(&p.product, TEXT), (&p.name, TEXT), (&Json(p), JSONB)],
        )?;
        Ok(())
    }

    fn remove_policy(&mut self, product: &str, name: &str) -> Result<(), CoreError> {
        self.execute(
            "DELETE FROM policies WHERE product = $1 AND name = $2",
            &[(&product, TEXT), (&name, TEXT)],
        )?;
        Ok(())
    }

    fn policy_in_use(&mut self, product: &str, name: &str) -> Result<bool, CoreError> {
        Ok(self.count(
            "SELECT count(*) FROM (SELECT 1 FROM licenses
              WHERE product = $1 AND record ? 'policy' AND record->>'policy' = $2 LIMIT 1) l",
            &[(&product, TEXT), (&name, TEXT)],
        )? > 0)
    }

    fn put_machine(&mut self, m: &Machine) -> Result<(), CoreError> {
        let license = stored_id(&m.license_id)?;
        let fp = licet_verifier::unhex::<32>(&m.fingerprint).ok_or(CoreError::Internal)?;
        self.execute(
            "INSERT INTO machines (license_id, fingerprint, record) VALUES ($1, $2, $3)
             ON CONFLICT (license_id, fingerprint) DO UPDATE SET record = excluded.record",
            &[
                (&license.as_slice(), BYTEA),
                (&fp.as_slice(), BYTEA),
                (&Json(m), JSONB),
            ],
        )?;
        Ok(())
    }

    fn remove_machine(
        &mut self,
        license: &[u8; 16],
        fingerprint: &[u8; 32],
    ) -> Result<(), CoreError> {
        self.execute(
            "DELETE FROM machines WHERE license_id = $1 AND fingerprint = $2",
            &[
                (&license.as_slice(), BYTEA),
                (&fingerprint.as_slice(), BYTEA),
            ],
        )?;
        Ok(())
    }

    fn remove_machines_of(&mut self, license: &[u8; 16]) -> Result<(), CoreError> {
        self.execute(
            "DELETE FROM machines WHERE license_id = $1",
            &[(&license.as_slice(), BYTEA)],
        )?;
        Ok(())
    }

    fn insert_lease(&mut self, l: &Lease) -> Result<(), CoreError> {
        let (license, id) = (stored_id(&l.license_id)?, stored_id(&l.id)?);
        let (created, expires) = (big(l.created_at)?, big(l.expires_at)?);
        self.execute(
            "INSERT INTO leases (id, license_id, created_at, expires_at, released, record)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                (&id.as_slice(), BYTEA),
                (&license.as_slice(), BYTEA),
                (&created, INT8),
                (&expires, INT8),
                (&l.released_at.is_some(), Type::BOOL),
                (&Json(l), JSONB),
            ],
        )?;
        Ok(())
    }

    fn put_lease(&mut self, l: &Lease) -> Result<(), CoreError> {
        let id = stored_id(&l.id)?;
        let expires = big(l.expires_at)?;
        self.execute(
            "UPDATE leases SET expires_at = $2, released = $3, record = $4 WHERE id = $1",
            &[
                (&id.as_slice(), BYTEA),
                (&expires, INT8),
                (&l.released_at.is_some(), Type::BOOL),
                (&Json(l), JSONB),
            ],
        )?;
        Ok(())
    }

    /// Kept until the commit ([`Tx::number_audit`]), or until a thousand wait (a copy).
    fn append_audit(&mut self, event: AuditEvent) -> Result<(), CoreError> {
        let full = {
            let mut audit = self.audit.borrow_mut();
            audit.push(event);
            audit.len() >= AUDIT_CHUNK
        };
        if full {
            self.number_audit()?;
        }
        Ok(())
    }

    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), CoreError> {
        self.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[(&key, TEXT), (&value, BYTEA)],
        )?;
        Ok(())
    }

    /// The counter row already numbers past every seq appended; it is raised only for a
    /// copy (`migrate`) that starts the log after a pruned head.
    fn remove_audit_through(&mut self, seq: u64) -> Result<(), CoreError> {
        self.number_audit()?;
        let seq = big(seq)?;
        self.execute("DELETE FROM audit WHERE seq <= $1", &[(&seq, INT8)])?;
        // Read first, without a lock: pruning (always below the counter) then never waits
        // on the counter row that every appending transaction holds.
        let counter = self.count("SELECT value FROM locks WHERE name = 'audit_seq'", &[])?;
        if counter < unbig(seq)? {
            self.execute(
                "UPDATE locks SET value = $1 WHERE name = 'audit_seq' AND value < $1",
                &[(&seq, INT8)],
            )?;
        }
        Ok(())
    }

    fn remove_lease(&mut self, l: &Lease) -> Result<(), CoreError> {
        let id = stored_id(&l.id)?;
        self.execute(
            "DELETE FROM leases WHERE id = $1",
            &[(&id.as_slice(), BYTEA)],
        )?;
        Ok(())
    }

    fn put_admin_token(&mut self, t: &AdminToken) -> Result<(), CoreError> {
        let id = stored_id(&t.id)?;
        self.execute(
            "INSERT INTO admin_tokens (id, record) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET record = excluded.record",
            &[(&id.as_slice(), BYTEA), (&Json(t), JSONB)],
        )?;
        Ok(())
    }

    fn remove_admin_token(&mut self, id: &[u8; 16]) -> Result<bool, CoreError> {
        Ok(self.execute(
            "DELETE FROM admin_tokens WHERE id = $1",
            &[(&id.as_slice(), BYTEA)],
        )? > 0)
    }

    fn put_deny_entry(&mut self, e: &DenyEntry) -> Result<(), CoreError> {
        let id = stored_id(&e.id)?;
        self.execute(
            "INSERT INTO deny (id, record) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET record = excluded.record",
            &[(&id.as_slice(), BYTEA), (&Json(e), JSONB)],
        )?;
        Ok(())
    }

    fn put_deactivation(&mut self, d: &Deactivation) -> Result<(), CoreError> {
        let license = stored_id(&d.license_id)?;
        let machine = stored_id(&d.machine_id)?;
        let at = big(d.at)?;
        self.execute(
            "INSERT INTO deactivations (license_id, at, machine_id, record) VALUES ($1, $2, $3, $4)
             ON CONFLICT (license_id, at, machine_id) DO UPDATE SET record = excluded.record",
            &[
                (&license.as_slice(), BYTEA),
                (&at, INT8),
                (&machine.as_slice(), BYTEA),
                (&Json(d), JSONB),
            ],
        )?;
        Ok(())
    }

    fn remove_deactivation(&mut self, d: &Deactivation) -> Result<(), CoreError> {
        let license = stored_id(&d.license_id)?;
        let machine = stored_id(&d.machine_id)?;
        let at = big(d.at)?;
        self.execute(
            "DELETE FROM deactivations WHERE license_id = $1 AND at = $2 AND machine_id = $3",
            &[
                (&license.as_slice(), BYTEA),
                (&at, INT8),
                (&machine.as_slice(), BYTEA),
            ],
        )?;
        Ok(())
    }

    fn remove_deny_entry(&mut self, id: &[u8; 16]) -> Result<bool, CoreError> {
        Ok(self.execute("DELETE FROM deny WHERE id = $1", &[(&id.as_slice(), BYTEA)])? > 0)
    }

    fn put_trial(&mut self, t: &Trial) -> Result<(), CoreError> {
        let fp = licet_verifier::unhex::<32>(&t.fingerprint).ok_or(CoreError::Internal)?;
        self.execute(
            "INSERT INTO trials (product, fingerprint, record) VALUES ($1, $2, $3)
             ON CONFLICT (product, fingerprint) DO UPDATE SET record = excluded.record",
            &[
                (&t.product, TEXT),
                (&fp.as_slice(), BYTEA),
                (&Json(t), JSONB),
            ],
        )?;
        Ok(())
    }
}

/// Settings of the pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// Most connections jobs use at once (the pool opens one more, for `/healthz`).
    pub max_connections: u32,
    /// How long a job whose turn has come waits for PostgreSQL to give it a connection
    /// before it is answered `STORAGE_UNAVAILABLE` (jobs beyond the pool's size queue for
    /// their turn first, bounded only by the request timeout).
    pub connect_timeout: Duration,
    /// Most write jobs committed in one transaction (`--max-batch`, at most
    /// [`MAX_BATCH`]); 1 turns batching off.
    pub max_batch: usize,
}

/// Most write jobs in one transaction: a batch holds the row locks of all its jobs until
/// its commit, so a larger one makes other processes' jobs on those licenses wait longer.
pub const MAX_BATCH: usize = 64;

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 16,
            connect_timeout: Duration::from_secs(3),
            max_batch: MAX_BATCH,
        }
    }
}

impl Pg {
    /// Connects to the database at `url`, creates or migrates its schema, and makes the
    /// pool. Blocking: call it off the async runtime.
    ///
    /// # Errors
    /// A message naming the host and database (never the password) and what to do.
    pub fn connect(url: &str, pool: PoolConfig) -> Result<Pg, String> {
        let mut config = parse_url(url)?;
        config.connect_timeout(pool.connect_timeout);
        let target = target(&config);
        let mut client = config.connect(NoTls).map_err(|e| {
            format!(
                "cannot connect to the PostgreSQL database {target}: {}; check that PostgreSQL runs there, that the database exists and that the user and password of --database / LICET_DATABASE_URL are right",
                describe(&e)
            )
        })?;
        migrate(&mut client).map_err(|e| format!("database {target}: {e}"))?;
        drop(client);
        let manager = PostgresConnectionManager::new(config, NoTls);
        let jobs = pool.max_connections.max(1);
        let max_batch = pool.max_batch.clamp(1, MAX_BATCH);
        let pool = r2d2::Pool::builder()
            .max_size(jobs.saturating_add(1))
            // Every connection opened in the background from the start (r2d2's default):
            // the first burst of requests after a start or a restart of PostgreSQL does
            // not wait for connections and their authentication one by one.
            .connection_timeout(pool.connect_timeout)
            // A checkout runs no query: a connection broken by a restart of PostgreSQL
            // fails at BEGIN, and the job is started again on another (see `begin`).
            .test_on_check_out(false)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(manager);
        Ok(Pg {
            pool: Arc::new(OwnedPool(Some(pool))),
            target: target.into(),
            pending_audit: Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_AUDIT)),
            slots: Arc::new(tokio::sync::Semaphore::new(
                usize::try_from(jobs).unwrap_or(usize::MAX),
            )),
            queue: Arc::new(Mutex::new(VecDeque::new())),
            runners: Arc::new(tokio::sync::Semaphore::new(
                usize::try_from((jobs / 4).max(1)).unwrap_or(1),
            )),
            max_batch,
        })
    }

    /// `host:port/database`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether the database answers a query now (`GET /healthz`).
    pub async fn probe(&self) -> bool {
        let pool = self.pool().clone();
        tokio::task::spawn_blocking(move || {
            pool.get()
                .ok()
                .is_some_and(|mut c| c.simple_query("SELECT 1").is_ok())
        })
        .await
        .unwrap_or(false)
    }

    /// For `/metrics`: the machines activated, and the seats held at `now` (the partial
    /// index `live_seats` serves the count).
    ///
    /// # Errors
    /// [`CoreError::StorageUnavailable`] when the database does not answer.
    pub async fn live_counts(&self, now: u64) -> Result<(u64, u64), CoreError> {
        let pg = self.clone();
        let slot = self.slot().await?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            pg.run(false, &mut |tx| {
                let machines = tx.count("SELECT count(*) FROM machines", &[])?;
                let now = big(now)?;
                let seats = tx.count(
                    "SELECT count(*) FROM leases WHERE NOT released AND expires_at > $1",
                    &[(&now, INT8)],
                )?;
                Ok((machines, seats))
            })
        })
        .await
        .map_err(|_| CoreError::Internal)?
    }

    /// Waits for a free connection slot (see `slots`).
    async fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, CoreError> {
        Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| CoreError::StorageUnavailable)
    }

    /// Runs `job` in one transaction on a pooled connection, on the calling (blocking)
    /// thread: a write at READ COMMITTED with rows locked as read, rerun on a serialization
    /// failure or deadlock; a read at REPEATABLE READ, read only (one snapshot).
    fn run<T>(
        &self,
        write: bool,
        job: &mut dyn FnMut(&mut Tx<'_>) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = self.begin()?;
            let t = if write {
                conn.transaction()
            } else {
                conn.build_transaction()
                    .isolation_level(postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
            };
            let t = t.map_err(|e| {
                tracing::warn!(error = %describe(&e), database = %self.target, "cannot begin a transaction");
                core_error(failure_of(&e))
            })?;
            let mut tx = Tx {
                t: RefCell::new(t),
                write,
                failed: Cell::new(None),
                audit: RefCell::new(Vec::new()),
            };
            let result = job(&mut tx);
            // Its failure, if any, is in `failed`.
            drop(tx.number_audit());
            let Tx { t, failed, .. } = tx;
            let t = t.into_inner();
            match failed.get() {
                Some(Failure::Retry) if attempt < MAX_ATTEMPTS => {
                    drop(t.rollback());
                    std::thread::sleep(Duration::from_millis(u64::from(attempt) * 2));
                    continue;
                }
                Some(f) => {
                    drop(t.rollback());
                    // The job's own refusal when it has one, else the storage's.
                    return match result {
                        Err(e) if e != CoreError::Internal => Err(e),
                        _ => Err(core_error(f)),
                    };
                }
                None => {}
            }
            match t.commit() {
                Ok(()) => return result,
                Err(e) if is_retryable(&e) && attempt < MAX_ATTEMPTS => continue,
                Err(e) => {
                    // Whether it committed is unknown; it was not acknowledged, so the
                    // client retries, and every write here is safe to repeat.
                    tracing::warn!(error = %describe(&e), database = %self.target, "a commit failed");
                    return Err(core_error(failure_of(&e)));
                }
            }
        }
    }

    /// A pooled connection that answers. A connection broken by a restart of PostgreSQL
    /// stays in the pool until used; it is dropped here, up to the pool's size in a row,
    /// so that the first requests after a restart do not fail on stale connections.
    fn begin(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, CoreError> {
        let tries = self.pool().max_size() + 1;
        for _ in 0..tries {
            let mut conn = self.pool().get().map_err(|e| {
                tracing::warn!(error = %e, database = %self.target, "no connection to the database");
                CoreError::StorageUnavailable
            })?;
            if !conn.is_closed() {
                return Ok(conn);
            }
            // is_closed: the pool drops it on return (has_broken).
            drop(conn.simple_query(""));
        }
        Err(CoreError::StorageUnavailable)
    }
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction; refuses a newer one. Safe
/// when several processes start at once: they queue on the version row.
fn migrate(client: &mut postgres::Client) -> Result<(), String> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 id INT PRIMARY KEY CHECK (id = 1),
                 version BIGINT NOT NULL
             );
             INSERT INTO schema_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
        )
        .or_else(|e| {
            // Two processes creating the table at the same instant: one loses the race.
            if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(|e| format!("cannot create the schema version table: {e}"))?;
    let mut t = client.transaction().map_err(|e| e.to_string())?;
    let v: i64 = t
        .query_one(
            "SELECT version FROM schema_version WHERE id = 1 FOR UPDATE",
            &[],
        )
        .and_then(|r| r.try_get(0))
        .map_err(|e| format!("cannot read the schema version: {e}"))?;
    if v > SCHEMA_VERSION {
        return Err(format!(
            "the database has schema version {v}, newer than this licet-server understands ({SCHEMA_VERSION}); run the newer licet-server, or restore a pg_dump made by this one"
        ));
    }
    for (n, step) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(v).unwrap_or(0))
    {
        t.batch_execute(step)
            .map_err(|e| format!("migrating the schema from version {n}: {e}"))?;
        tracing::info!(version = n + 1, "database schema migrated");
    }
    t.execute(
        "UPDATE schema_version SET version = $1 WHERE id = 1",
        &[&SCHEMA_VERSION],
    )
    .map_err(|e| e.to_string())?;
    t.commit().map_err(|e| e.to_string())
}

/// A write job waiting in the queue for its batch, its type erased.
trait Queued: Send {
    /// Runs the job in the batch's transaction and keeps what it returns until the
    /// commit is known; run again if the batch is.
    fn run_in(&mut self, tx: &mut Tx<'_>);
    /// Answers the caller: what the job returned if its batch committed, else `e`.
    fn answer(self: Box<Self>, committed: Result<(), CoreError>);
    /// Runs the job in a transaction of its own and answers the caller.
    fn run_alone(self: Box<Self>, pg: &Pg);
}

struct Pending<T, F> {
    job: F,
    kept: Option<Result<T, CoreError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, CoreError>>,
}

impl<T, F> Queued for Pending<T, F>
where
    T: Send,
    F: FnMut(&mut dyn WriteTx) -> Result<T, CoreError> + Send,
{
    fn run_in(&mut self, tx: &mut Tx<'_>) {
        self.kept = Some((self.job)(tx));
    }

    fn answer(self: Box<Self>, committed: Result<(), CoreError>) {
        let Pending { kept, reply, .. } = *self;
        let r = committed.and_then(|()| kept.unwrap_or(Err(CoreError::Internal)));
        drop(reply.send(r));
    }

    fn run_alone(self: Box<Self>, pg: &Pg) {
        let Pending { mut job, reply, .. } = *self;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pg.run(true, &mut |tx| job(tx))
        }))
        .unwrap_or(Err(CoreError::Internal));
        drop(reply.send(r));
    }
}

/// Why a batch was not committed.
enum Unbatched {
    /// The database does not answer, or the commit failed: every job is answered this.
    Fail(CoreError),
    /// A statement of one job failed (a deadlock, a broken key, a bug), which aborts the
    /// whole transaction: each job is run again in a transaction of its own.
    Split,
}

impl Pg {
    /// Takes the queued write jobs, up to `max_batch`, runs them in one transaction and
    /// answers them once it is committed (group commit, as the redb writer does). Each
    /// [`Backend::write`] spawns one drain after queueing its job, so no job is left
    /// behind: every drain that finds the queue non-empty takes at least one job.
    async fn drain(self) {
        let Ok(runner) = Arc::clone(&self.runners).acquire_owned().await else {
            return;
        };
        let slot = self.slot().await;
        let batch: Vec<Box<dyn Queued>> = {
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let n = q.len().min(self.max_batch);
            q.drain(..n).collect()
        };
        if batch.is_empty() {
            return;
        }
        let Ok(slot) = slot else {
            for job in batch {
                job.answer(Err(CoreError::StorageUnavailable));
            }
            return;
        };
        let pg = self.clone();
        drop(
            tokio::task::spawn_blocking(move || {
                let _held = (runner, slot);
                pg.run_batch(batch);
            })
            .await,
        );
    }

    /// Runs a batch; a job that panics, or a statement that fails, sends every job of the
    /// batch to a transaction of its own (jobs may be run again).
    fn run_batch(&self, mut batch: Vec<Box<dyn Queued>>) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.commit_batch(&mut batch)
        }));
        match outcome {
            Ok(Ok(())) => {
                for job in batch {
                    job.answer(Ok(()));
                }
            }
            Ok(Err(Unbatched::Fail(e))) => {
                for job in batch {
                    job.answer(Err(e.clone()));
                }
            }
            Ok(Err(Unbatched::Split)) | Err(_) => {
                tracing::debug!(
                    jobs = batch.len(),
                    "a batch failed; running its jobs one by one"
                );
                for job in batch {
                    job.run_alone(self);
                }
            }
        }
    }

    /// Runs every job of `batch` in one transaction and commits it. A job's `Err` is
    /// committed like an `Ok` (its refusal's audit event is kept), as alone.
    fn commit_batch(&self, batch: &mut [Box<dyn Queued>]) -> Result<(), Unbatched> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = self.begin().map_err(Unbatched::Fail)?;
            let mut t = conn.transaction().map_err(|e| {
                tracing::warn!(error = %describe(&e), database = %self.target, "cannot begin a transaction");
                Unbatched::Fail(core_error(failure_of(&e)))
            })?;
            // Two batches can take the rows of two licenses in opposite orders (each in
            // its jobs' arrival order) and deadlock, which PostgreSQL only breaks after
            // `deadlock_timeout` (1 s). A batch waits for a lock at most BATCH_LOCK_TIMEOUT
            // instead; past it, the statement fails and the jobs run alone (one license
            // each, so no deadlock among them), as after any failed statement.
            t.batch_execute(BATCH_LOCK_TIMEOUT).map_err(|e| {
                tracing::warn!(error = %describe(&e), database = %self.target, "cannot set a batch's lock timeout");
                Unbatched::Fail(core_error(failure_of(&e)))
            })?;
            let mut tx = Tx {
                t: RefCell::new(t),
                write: true,
                failed: Cell::new(None),
                audit: RefCell::new(Vec::new()),
            };
            for job in batch.iter_mut() {
                job.run_in(&mut tx);
                if tx.failed.get().is_some() {
                    break;
                }
            }
            drop(tx.number_audit());
            let Tx { t, failed, .. } = tx;
            let t = t.into_inner();
            match failed.get() {
                Some(Failure::Unavailable) => {
                    drop(t.rollback());
                    return Err(Unbatched::Fail(CoreError::StorageUnavailable));
                }
                Some(_) => {
                    drop(t.rollback());
                    return Err(Unbatched::Split);
                }
                None => {}
            }
            match t.commit() {
                Ok(()) => return Ok(()),
                Err(e) if is_retryable(&e) && attempt < MAX_ATTEMPTS => continue,
                Err(e) => {
                    // As alone: not acknowledged, so the clients retry.
                    tracing::warn!(error = %describe(&e), database = %self.target, "a commit failed");
                    return Err(Unbatched::Fail(core_error(failure_of(&e))));
                }
            }
        }
    }
}

impl Backend for Pg {
    /// On tokio's blocking pool: the sync client blocks its thread for each round trip.
    async fn read<T, F>(&self, job: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadTx) -> Result<T, CoreError> + Send + 'static,
    {
        let pg = self.clone();
        let slot = self.slot().await?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let mut job = Some(job);
            pg.run(false, &mut |tx| match job.take() {
                Some(j) => j(tx),
                // A read is never rerun (`run` reruns only writes).
                None => Err(CoreError::Internal),
            })
        })
        .await
        .map_err(|_| CoreError::Internal)?
    }

    async fn scan<T, F>(&self, job: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadTx) -> Result<T, CoreError> + Send + 'static,
    {
        self.read(job).await
    }

    /// In a batch ([`Pg::drain`]) unless batching is off.
    async fn write<T, F>(&self, mut job: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn WriteTx) -> Result<T, CoreError> + Send + 'static,
    {
        if self.max_batch > 1 {
            let (reply, answer) = tokio::sync::oneshot::channel();
            self.queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_back(Box::new(Pending {
                    job,
                    kept: None,
                    reply,
                }));
            // A task of its own, so that a caller that stops waiting (a request timeout)
            // leaves no job behind in the queue.
            tokio::spawn(self.clone().drain());
            return answer.await.unwrap_or(Err(CoreError::Internal));
        }
        let pg = self.clone();
        let slot = self.slot().await?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            pg.run(true, &mut |tx| job(tx))
        })
        .await
        .map_err(|_| CoreError::Internal)?
    }

    /// A task of its own per event, at most [`MAX_PENDING_AUDIT`] at once; beyond that (a
    /// flood of refusals, or the database down) the event is dropped, and that is logged.
    fn audit_later(&self, event: AuditEvent) {
        let Ok(permit) = Arc::clone(&self.pending_audit).try_acquire_owned() else {
            tracing::warn!("audit queue full: an audit event of a refused request was dropped");
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pg = self.clone();
        rt.spawn(async move {
            let r = pg.write(move |tx| tx.append_audit(event.clone())).await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "an audit event of a refused request was not written");
            }
            drop(permit);
        });
    }
}
