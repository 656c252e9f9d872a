//! Storage: one redb file, and one writer thread that commits every state change.
//!
//! Reads run on any thread in their own read transaction (MVCC snapshots, never blocked by
//! the writer). Writes are closures sent to the writer, which runs whatever is queued, in
//! queue order, inside **one** durable redb transaction, commits it, and only then answers
//! each caller (group commit). A closure checks everything it needs (seat limits, license
//! status) before it writes, so batching changes no outcome; it only shares one fsync
//! among many requests. With batching off, each closure gets its own transaction.
//!
//! This is the redb backend of the storage interface ([`crate::storage`]): [`Snapshot`]
//! implements [`ReadTx`], [`Tx`] implements [`WriteTx`], and [`Store`] implements
//! [`Backend`]. Nothing outside this file knows the tables, their keys or the encoding.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use crate::core::CoreError;
use crate::model::{
    AdminToken, AuditEvent, Deactivation, DenyEntry, Lease, License, Machine, Policy, Product,
    Trial,
};
use crate::storage::{Backend, ReadTx, WriteTx, resolve, resolve_each, stored_id};

/// redb's page cache when none is set: redb's own default is 1 GiB, and the cache fills
/// with the pages of every license asked about, so the server's memory followed the number
/// of distinct keys queried (230 MB after 95,000 of 1M). 16 MiB keeps the whole path to
/// any license (a few index levels) hot; docs/benchmarks.md has RSS against keys queried.
pub const DEFAULT_CACHE_BYTES: usize = 16 << 20;

/// Called after each commit with the number of write requests in it and how long the
/// commit took (`/metrics`).
pub type CommitObserver = Arc<dyn Fn(usize, Duration) + Send + Sync>;

/// The database's file name in the data directory, and a backup's.
pub const FILE_NAME: &str = "licet.redb";

/// The schema version this build writes. Rule: a version is bumped by any change to a
/// table's key or value layout; on open, an older file is migrated in one write transaction
/// by the steps in [`migrate`] (each step N → N+1), and a newer file is refused, so an old
/// binary never misreads data written by a new one.
///
/// Versions: 1, the first; 2, `seats` and `license_leases` keyed by the lease's creation
/// time before its id (see [`lease_key`]); 3, the same layout, with the leases that versions
/// up to 2 left behind when a license was deleted removed (see [`migrate_2_to_3`]); 4, the
/// `policies` table, and license records that may name a policy and hold only the values
/// they override (a version 3 record holds every value, and reads as overriding them all:
/// its answers unchanged, so the step rewrites nothing; the bump keeps a version 3 binary
/// from misreading a record that leaves values to its policy); 5, the `deactivations` table,
/// and policy and license records that may hold the deactivation terms (a version 4
/// binary refuses a policy with a term it does not know, so the bump keeps it from
/// opening the file; the step writes nothing: [`open_tx`] makes the table).
pub const SCHEMA_VERSION: u64 = 5;

/// `meta`: settings of the database itself (`schema_version`, `admin_token_sha256`).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// `products`: name → Product (JSON).
pub const PRODUCTS: TableDefinition<&str, &[u8]> = TableDefinition::new("products");
/// `policies`: [`policy_key`] → Policy (JSON).
pub const POLICIES: TableDefinition<&str, &[u8]> = TableDefinition::new("policies");
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

/// `admin_tokens`: token id (16) → AdminToken (JSON). A table added without a schema
/// version change: no existing table's layout changed, and every open creates the tables
/// it lacks ([`open_tx`]), so a file of version 3 made before simply has none yet.
pub const ADMIN_TOKENS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("admin_tokens");
/// `deny`: entry id (16) → DenyEntry (JSON); added as `admin_tokens` was.
pub const DENY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("deny");
/// `trials`: [`trial_key`] → Trial (JSON): the keyless trial each fingerprint was given
/// for each product. Added as `admin_tokens` was, without a schema version change: no
/// existing layout changed (a product's new `trial_policy` is an optional field that a
/// version 4 record lacks and an older binary ignores).
pub const TRIALS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("trials");

/// `deactivations`: [`deactivation_key`] → Deactivation (JSON): a license's machine
/// deactivations, oldest first, kept while they count against its limits or its machine
/// tokens are valid.
pub const DEACTIVATIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("deactivations");

/// The key of a deactivation: license id (16) ‖ when (8, big-endian) ‖ machine id (16), so
/// that a license's are read oldest first by a range of its prefix.
///
/// # Errors
/// [`CoreError::Internal`] for a record with a damaged id.
fn deactivation_key(d: &Deactivation) -> Result<[u8; 40], CoreError> {
    let license = stored_id(&d.license_id)?;
    let machine = stored_id(&d.machine_id)?;
    let mut k = [0u8; 40];
    k[..16].copy_from_slice(&license);
    k[16..24].copy_from_slice(&d.at.to_be_bytes());
    k[24..].copy_from_slice(&machine);
    Ok(k)
}

/// The deactivations of `license` (all when `None`), in key order.
fn deactivations(
    t: &impl ReadableTable<Bytes, Bytes>,
    license: Option<&[u8; 16]>,
) -> Result<Vec<Deactivation>, CoreError> {
    match license {
        Some(license) => prefixed_records(t, license),
        None => all_records(t),
    }
}

/// The `meta` key of the highest audit seq ever removed by retention (8 bytes,
/// big-endian), so that a log pruned empty does not number its next event 1 again.
const AUDIT_REMOVED_THROUGH: &str = "audit_removed_through";

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

/// The lease id at the end of a [`lease_key`].
///
/// # Errors
/// [`CoreError::Internal`] when the key is not a lease key.
pub fn lease_id_of(key: &[u8]) -> Result<[u8; 16], CoreError> {
    key.get(24..)
        .and_then(|id| <[u8; 16]>::try_from(id).ok())
        .ok_or_else(|| {
            tracing::error!(len = key.len(), "a lease index key of the wrong length");
            CoreError::Internal
        })
}

/// Encodes a record.
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, CoreError> {
    serde_json::to_vec(v).map_err(|e| {
        tracing::error!(error = %e, "encoding a record");
        CoreError::Internal
    })
}

/// Decodes a record.
pub fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, CoreError> {
    serde_json::from_slice(b).map_err(|e| {
        tracing::error!(error = %e, "decoding a stored record");
        CoreError::Internal
    })
}

/// Parses a 16-byte hex id.
pub fn id_bytes(hex: &str) -> Option<[u8; 16]> {
    unhex(hex)
}

pub use licet_verifier::unhex;

/// The tables of one write transaction: the [`WriteTx`] the writer hands each job.
pub struct Tx<'t> {
    meta: redb::Table<'t, &'static str, &'static [u8]>,
    products: redb::Table<'t, &'static str, &'static [u8]>,
    policies: redb::Table<'t, &'static str, &'static [u8]>,
    licenses: redb::Table<'t, &'static [u8], &'static [u8]>,
    license_keys: redb::Table<'t, &'static [u8], &'static [u8]>,
    machines: redb::Table<'t, &'static [u8], &'static [u8]>,
    audit: redb::Table<'t, u64, &'static [u8]>,
    leases: redb::Table<'t, &'static [u8], &'static [u8]>,
    seats: redb::Table<'t, &'static [u8], u64>,
    license_leases: redb::Table<'t, &'static [u8], ()>,
    admin_tokens: redb::Table<'t, &'static [u8], &'static [u8]>,
    deny: redb::Table<'t, &'static [u8], &'static [u8]>,
    deactivations: redb::Table<'t, &'static [u8], &'static [u8]>,
    trials: redb::Table<'t, &'static [u8], &'static [u8]>,
}

/// The key of a trial: the fingerprint (32, fixed length, so the product name after it
/// needs no separator) ‖ the product's name.
fn trial_key(product: &str, fingerprint: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(32 + product.len());
    k.extend_from_slice(fingerprint);
    k.extend_from_slice(product.as_bytes());
    k
}

/// The key of a policy: its product's name, NUL, its name. Policy names hold no NUL
/// (`core::policies::check_name`), so the last NUL splits a key in one way only.
fn policy_key(product: &str, name: &str) -> String {
    format!("{product}\0{name}")
}

fn policy(
    t: &impl ReadableTable<&'static str, Bytes>,
    product: &str,
    name: &str,
) -> Result<Option<Policy>, CoreError> {
    get_named(t, &policy_key(product, name))
}

/// The policies of `product` (all when `None`), by product and name.
fn policies(
    t: &impl ReadableTable<&'static str, Bytes>,
    product: Option<&str>,
) -> Result<Vec<Policy>, CoreError> {
    let mut out = Vec::new();
    let prefix = product.map(|p| format!("{p}\0"));
    let range = match &prefix {
        Some(lo) => t.range::<&str>(lo.as_str()..)?,
        None => t.range::<&str>(..)?,
    };
    for item in range {
        let (k, v) = item?;
        if prefix
            .as_ref()
            .is_some_and(|p| !k.value().starts_with(p.as_str()))
        {
            break;
        }
        let p: Policy = decode(v.value())?;
        // A product whose name has a NUL may share the prefix: the record says.
        if product.is_none_or(|name| p.product == name) {
            out.push(p);
        }
    }
    Ok(out)
}

/// The key of a machine: license id (16) ‖ fingerprint (32).
fn machine_key(license: &[u8; 16], fingerprint: &[u8; 32]) -> [u8; 48] {
    let mut k = [0u8; 48];
    k[..16].copy_from_slice(license);
    k[16..].copy_from_slice(fingerprint);
    k
}

// The reads, once for both kinds of table (a snapshot's and a write transaction's).

type Bytes = &'static [u8];

fn get_record<T: DeserializeOwned>(
    t: &impl ReadableTable<Bytes, Bytes>,
    key: &[u8],
) -> Result<Option<T>, CoreError> {
    t.get(key)?.map(|v| decode(v.value())).transpose()
}

fn get_named<T: DeserializeOwned>(
    t: &impl ReadableTable<&'static str, Bytes>,
    key: &str,
) -> Result<Option<T>, CoreError> {
    t.get(key)?.map(|v| decode(v.value())).transpose()
}

fn license_by_hash(
    keys: &impl ReadableTable<Bytes, Bytes>,
    licenses: &impl ReadableTable<Bytes, Bytes>,
    hash: &[u8; 32],
) -> Result<Option<License>, CoreError> {
    let Some(id) = keys.get(hash.as_slice())? else {
        return Ok(None);
    };
    let id: [u8; 16] = id.value().try_into().map_err(|_| CoreError::Internal)?;
    get_record(licenses, id.as_slice())
}

fn licenses_after(
    t: &impl ReadableTable<Bytes, Bytes>,
    after: Option<&[u8; 16]>,
    visit: &mut dyn FnMut(License) -> bool,
) -> Result<(), CoreError> {
    let range = match after {
        Some(c) => t.range::<&[u8]>((
            std::ops::Bound::Excluded(c.as_slice()),
            std::ops::Bound::Unbounded,
        ))?,
        None => t.range::<&[u8]>(..)?,
    };
    for item in range {
        let (_, v) = item?;
        if !visit(decode(v.value())?) {
            break;
        }
    }
    Ok(())
}

fn products(t: &impl ReadableTable<&'static str, Bytes>) -> Result<Vec<Product>, CoreError> {
    all_records(t)
}

fn machines(
    t: &impl ReadableTable<Bytes, Bytes>,
    license: &[u8; 16],
) -> Result<Vec<Machine>, CoreError> {
    prefixed_records(t, license)
}

/// The records whose keys start with a license's id, in key order.
fn prefixed_records<T: DeserializeOwned>(
    t: &impl ReadableTable<Bytes, Bytes>,
    license: &[u8; 16],
) -> Result<Vec<T>, CoreError> {
    let (lo, hi) = prefix_range(license);
    let mut out = Vec::new();
    for item in t.range(lo.as_slice()..hi.as_slice())? {
        let (_, v) = item?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}

/// Keys counted, records not read.
fn machine_count_up_to(
    t: &impl ReadableTable<Bytes, Bytes>,
    license: &[u8; 16],
    limit: u64,
) -> Result<u64, CoreError> {
    let (lo, hi) = prefix_range(license);
    let mut n = 0;
    for item in t.range(lo.as_slice()..hi.as_slice())? {
        if n >= limit {
            break;
        }
        item?;
        n += 1;
    }
    Ok(n)
}

fn seats_held(
    t: &impl ReadableTable<Bytes, u64>,
    license: &[u8; 16],
    now: u64,
) -> Result<u64, CoreError> {
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

fn leases_of(
    index: &impl ReadableTable<Bytes, ()>,
    leases: &impl ReadableTable<Bytes, Bytes>,
    license: &[u8; 16],
) -> Result<Vec<Lease>, CoreError> {
    let (lo, hi) = prefix_range(license);
    let mut out = Vec::new();
    for item in index.range(lo.as_slice()..hi.as_slice())? {
        let (k, _) = item?;
        if let Some(v) = leases.get(lease_id_of(k.value())?.as_slice())? {
            out.push(decode(v.value())?);
        }
    }
    Ok(out)
}

fn audit_before(
    t: &impl ReadableTable<u64, Bytes>,
    before: Option<u64>,
    visit: &mut dyn FnMut(AuditEvent) -> bool,
) -> Result<(), CoreError> {
    for item in t.range(..before.unwrap_or(u64::MAX))?.rev() {
        let (_, v) = item?;
        if !visit(decode(v.value())?) {
            break;
        }
    }
    Ok(())
}

fn meta(
    t: &impl ReadableTable<&'static str, Bytes>,
    key: &str,
) -> Result<Option<Vec<u8>>, CoreError> {
    Ok(t.get(key)?.map(|v| v.value().to_vec()))
}

/// Every record of a table, in key order.
fn all_records<K: redb::Key + 'static, T: DeserializeOwned>(
    t: &impl ReadableTable<K, Bytes>,
) -> Result<Vec<T>, CoreError> {
    let mut out = Vec::new();
    for item in t.iter()? {
        let (_, v) = item?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}

fn audit_oldest(
    t: &impl ReadableTable<u64, Bytes>,
    limit: usize,
) -> Result<Vec<AuditEvent>, CoreError> {
    let mut out = Vec::new();
    for item in t.iter()?.take(limit) {
        let (_, v) = item?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}

fn leases_after(
    t: &impl ReadableTable<Bytes, Bytes>,
    after: Option<&[u8; 16]>,
    limit: usize,
) -> Result<Vec<Lease>, CoreError> {
    let range = match after {
        Some(c) => t.range::<&[u8]>((
            std::ops::Bound::Excluded(c.as_slice()),
            std::ops::Bound::Unbounded,
        ))?,
        None => t.range::<&[u8]>(..)?,
    };
    let mut out = Vec::new();
    for item in range.take(limit) {
        let (_, v) = item?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}

impl ReadTx for Tx<'_> {
    fn license(&self, id: &[u8; 16]) -> Result<Option<License>, CoreError> {
        resolve(self, get_record(&self.licenses, id.as_slice())?)
    }

    fn license_by_key_hash(&self, hash: &[u8; 32]) -> Result<Option<License>, CoreError> {
        resolve(
            self,
            license_by_hash(&self.license_keys, &self.licenses, hash)?,
        )
    }

    fn licenses_after(
        &self,
        after: Option<&[u8; 16]>,
        visit: &mut dyn FnMut(License) -> bool,
    ) -> Result<(), CoreError> {
        resolve_each(self, visit, |v| licenses_after(&self.licenses, after, v))
    }

    fn policy(&self, product: &str, name: &str) -> Result<Option<Policy>, CoreError> {
        policy(&self.policies, product, name)
    }

    fn policies(&self, product: Option<&str>) -> Result<Vec<Policy>, CoreError> {
        policies(&self.policies, product)
    }

    fn license_count(&self) -> Result<u64, CoreError> {
        Ok(self.licenses.len()?)
    }

    fn product(&self, name: &str) -> Result<Option<Product>, CoreError> {
        get_named(&self.products, name)
    }

    fn products(&self) -> Result<Vec<Product>, CoreError> {
        products(&self.products)
    }

    fn machine(
        &self,
        license: &[u8; 16],
        fingerprint: &[u8; 32],
    ) -> Result<Option<Machine>, CoreError> {
        get_record(&self.machines, machine_key(license, fingerprint).as_slice())
    }

    fn machines(&self, license: &[u8; 16]) -> Result<Vec<Machine>, CoreError> {
        machines(&self.machines, license)
    }

    fn machine_count_up_to(&self, license: &[u8; 16], limit: u64) -> Result<u64, CoreError> {
        machine_count_up_to(&self.machines, license, limit)
    }

    fn seats_held(&self, license: &[u8; 16], now: u64) -> Result<u64, CoreError> {
        seats_held(&self.seats, license, now)
    }

    fn lease(&self, id: &[u8; 16]) -> Result<Option<Lease>, CoreError> {
        get_record(&self.leases, id.as_slice())
    }

    fn leases_of(&self, license: &[u8; 16]) -> Result<Vec<Lease>, CoreError> {
        leases_of(&self.license_leases, &self.leases, license)
    }

    fn audit_before(
        &self,
        before: Option<u64>,
        visit: &mut dyn FnMut(AuditEvent) -> bool,
    ) -> Result<(), CoreError> {
        audit_before(&self.audit, before, visit)
    }

    fn audit_len(&self) -> Result<u64, CoreError> {
        Ok(self.audit.len()?)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, CoreError> {
        meta(&self.meta, key)
    }

    fn audit_oldest(&self, limit: usize) -> Result<Vec<AuditEvent>, CoreError> {
        audit_oldest(&self.audit, limit)
    }

    fn leases_after(
        &self,
        after: Option<&[u8; 16]>,
        limit: usize,
    ) -> Result<Vec<Lease>, CoreError> {
        leases_after(&self.leases, after, limit)
    }

    fn admin_tokens(&self) -> Result<Vec<AdminToken>, CoreError> {
        all_records(&self.admin_tokens)
    }

    fn deny_entries(&self) -> Result<Vec<DenyEntry>, CoreError> {
        all_records(&self.deny)
    }

    fn deactivations(&self, license: Option<&[u8; 16]>) -> Result<Vec<Deactivation>, CoreError> {
        deactivations(&self.deactivations, license)
    }

    /// Nothing to hold: the one writer runs jobs one after the other.
    fn trial(&self, product: &str, fingerprint: &[u8; 32]) -> Result<Option<Trial>, CoreError> {
        get_record(&self.trials, &trial_key(product, fingerprint))
    }

    fn trials(&self) -> Result<Vec<Trial>, CoreError> {
        all_records(&self.trials)
    }
}

impl WriteTx for Tx<'_> {
    /// Removes the `seats` entries of leases that have expired on the way (they hold no
    /// seat; removing them keeps the scan as short as the number of live seats, whatever
    /// the lease history).
    fn count_seats(&mut self, license: &[u8; 16], now: u64) -> Result<u64, CoreError> {
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

    fn insert_license(&mut self, l: &License, key_hash: &[u8; 32]) -> Result<(), CoreError> {
        let id = stored_id(&l.id)?;
        self.licenses.insert(id.as_slice(), encode(l)?.as_slice())?;
        self.license_keys
            .insert(key_hash.as_slice(), id.as_slice())?;
        Ok(())
    }

    fn put_license(&mut self, l: &License) -> Result<(), CoreError> {
        let id = stored_id(&l.id)?;
        self.licenses.insert(id.as_slice(), encode(l)?.as_slice())?;
        Ok(())
    }

    fn rekey_license(
        &mut self,
        l: &License,
        old_hash: &[u8; 32],
        new_hash: &[u8; 32],
    ) -> Result<(), CoreError> {
        let id = stored_id(&l.id)?;
        self.license_keys.remove(old_hash.as_slice())?;
        self.license_keys
            .insert(new_hash.as_slice(), id.as_slice())?;
        self.licenses.insert(id.as_slice(), encode(l)?.as_slice())?;
        Ok(())
    }

    /// Leases: `license_leases` lists them all, released and expired ones included (`seats`
    /// holds only those that may hold a seat).
    fn delete_license(&mut self, id: &[u8; 16], key_hash: &[u8; 32]) -> Result<(), CoreError> {
        self.license_keys.remove(key_hash.as_slice())?;
        let (lo, hi) = prefix_range(id);
        self.machines
            .retain_in(lo.as_slice()..hi.as_slice(), |_, _| false)?;
        let mut leases = Vec::new();
        for item in self.license_leases.range(lo.as_slice()..hi.as_slice())? {
            let (k, _) = item?;
            leases.push(lease_id_of(k.value())?);
        }
        for lease in leases {
            self.leases.remove(lease.as_slice())?;
        }
        self.seats
            .retain_in(lo.as_slice()..hi.as_slice(), |_, _| false)?;
        self.license_leases
            .retain_in(lo.as_slice()..hi.as_slice(), |_, _| false)?;
        self.deactivations
            .retain_in(lo.as_slice()..hi.as_slice(), |_, _| false)?;
        self.licenses.remove(id.as_slice())?;
        Ok(())
    }

    fn product_has_licenses(&mut self, name: &str) -> Result<bool, CoreError> {
        for item in self.licenses.iter()? {
            let (_, v) = item?;
            let l: License = decode(v.value())?;
            if l.product == name {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn put_product(&mut self, p: &Product) -> Result<(), CoreError> {
        self.products
            .insert(p.name.as_str(), encode(p)?.as_slice())?;
        Ok(())
    }

    fn remove_product(&mut self, name: &str) -> Result<(), CoreError> {
        self.products.remove(name)?;
        Ok(())
    }

    fn put_policy(&mut self, p: &Policy) -> Result<(), CoreError> {
        self.policies.insert(
            policy_key(&p.product, &p.name).as_str(),
            encode(p)?.as_slice(),
        )?;
        Ok(())
    }

    fn remove_policy(&mut self, product: &str, name: &str) -> Result<(), CoreError> {
        self.policies.remove(policy_key(product, name).as_str())?;
        Ok(())
    }

    /// A scan of every license record (no index by policy: an admin's deletion is rare,
    /// and the file's licenses are read from pages in memory).
    fn policy_in_use(&mut self, product: &str, name: &str) -> Result<bool, CoreError> {
        for item in self.licenses.iter()? {
            let (_, v) = item?;
            let l: License = decode(v.value())?;
            if l.product == product && l.policy.as_deref() == Some(name) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn put_machine(&mut self, m: &Machine) -> Result<(), CoreError> {
        let license = stored_id(&m.license_id)?;
        let fp = unhex::<32>(&m.fingerprint).ok_or(CoreError::Internal)?;
        self.machines
            .insert(machine_key(&license, &fp).as_slice(), encode(m)?.as_slice())?;
        Ok(())
    }

    fn remove_machine(
        &mut self,
        license: &[u8; 16],
        fingerprint: &[u8; 32],
    ) -> Result<(), CoreError> {
        self.machines
            .remove(machine_key(license, fingerprint).as_slice())?;
        Ok(())
    }

    fn remove_machines_of(&mut self, license: &[u8; 16]) -> Result<(), CoreError> {
        let (lo, hi) = prefix_range(license);
        self.machines
            .retain_in(lo.as_slice()..hi.as_slice(), |_, _| false)?;
        Ok(())
    }

    fn insert_lease(&mut self, l: &Lease) -> Result<(), CoreError> {
        let (license, id) = (stored_id(&l.license_id)?, stored_id(&l.id)?);
        let key = lease_key(&license, l.created_at, &id);
        self.put_lease(l)?;
        self.license_leases.insert(key.as_slice(), ())?;
        Ok(())
    }

    fn put_lease(&mut self, l: &Lease) -> Result<(), CoreError> {
        let (license, id) = (stored_id(&l.license_id)?, stored_id(&l.id)?);
        self.leases.insert(id.as_slice(), encode(l)?.as_slice())?;
        let key = lease_key(&license, l.created_at, &id);
        if l.released_at.is_some() {
            self.seats.remove(key.as_slice())?;
        } else {
            self.seats.insert(key.as_slice(), l.expires_at)?;
        }
        Ok(())
    }

    fn append_audit(&mut self, mut event: AuditEvent) -> Result<(), CoreError> {
        let seq = match self.audit.last()? {
            Some((k, _)) => k.value() + 1,
            // Empty: new, or pruned empty by retention, whose seqs are not given again.
            None => {
                meta(&self.meta, AUDIT_REMOVED_THROUGH)?
                    .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                    .map_or(0, u64::from_be_bytes)
                    + 1
            }
        };
        event.seq = seq;
        self.audit.insert(seq, encode(&event)?.as_slice())?;
        Ok(())
    }

    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), CoreError> {
        self.meta.insert(key, value)?;
        Ok(())
    }

    fn remove_audit_through(&mut self, seq: u64) -> Result<(), CoreError> {
        self.audit.retain_in(..=seq, |_, _| false)?;
        let before = meta(&self.meta, AUDIT_REMOVED_THROUGH)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map_or(0, u64::from_be_bytes);
        self.meta.insert(
            AUDIT_REMOVED_THROUGH,
            before.max(seq).to_be_bytes().as_slice(),
        )?;
        Ok(())
    }

    fn remove_lease(&mut self, l: &Lease) -> Result<(), CoreError> {
        let (license, id) = (stored_id(&l.license_id)?, stored_id(&l.id)?);
        let key = lease_key(&license, l.created_at, &id);
        self.leases.remove(id.as_slice())?;
        self.seats.remove(key.as_slice())?;
        self.license_leases.remove(key.as_slice())?;
        Ok(())
    }

    fn put_admin_token(&mut self, t: &AdminToken) -> Result<(), CoreError> {
        let id = stored_id(&t.id)?;
        self.admin_tokens
            .insert(id.as_slice(), encode(t)?.as_slice())?;
        Ok(())
    }

    fn remove_admin_token(&mut self, id: &[u8; 16]) -> Result<bool, CoreError> {
        Ok(self.admin_tokens.remove(id.as_slice())?.is_some())
    }

    fn put_deny_entry(&mut self, e: &DenyEntry) -> Result<(), CoreError> {
        let id = stored_id(&e.id)?;
        self.deny.insert(id.as_slice(), encode(e)?.as_slice())?;
        Ok(())
    }

    fn remove_deny_entry(&mut self, id: &[u8; 16]) -> Result<bool, CoreError> {
        Ok(self.deny.remove(id.as_slice())?.is_some())
    }

    fn put_deactivation(&mut self, d: &Deactivation) -> Result<(), CoreError> {
        self.deactivations
            .insert(deactivation_key(d)?.as_slice(), encode(d)?.as_slice())?;
        Ok(())
    }

    fn remove_deactivation(&mut self, d: &Deactivation) -> Result<(), CoreError> {
        self.deactivations.remove(deactivation_key(d)?.as_slice())?;
        Ok(())
    }

    fn put_trial(&mut self, t: &Trial) -> Result<(), CoreError> {
        let fp = licet_verifier::unhex::<32>(&t.fingerprint).ok_or(CoreError::Internal)?;
        self.trials
            .insert(trial_key(&t.product, &fp).as_slice(), encode(t)?.as_slice())?;
        Ok(())
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

type Run = Box<dyn FnOnce(&mut Tx<'_>) -> Finish + Send>;
type Finish = Box<dyn FnOnce(Result<(), CoreError>) + Send>;
type Fail = Box<dyn FnOnce(CoreError) + Send>;

/// A write request: what to run inside the transaction (which returns how to answer once the
/// commit is known), and how to answer when it is not run or its batch fails. The caller's
/// reply is held outside `run`, so a panic inside `run` drops nothing the caller waits on:
/// every caller is answered after the writer has recorded the fault.
struct Job {
    run: Run,
    fail: Fail,
}

/// Answers a caller once, whichever of `run` or `fail` comes first.
fn answer<T>(slot: &Mutex<Option<oneshot::Sender<T>>>, v: T) {
    if let Some(reply) = slot.lock().unwrap_or_else(PoisonError::into_inner).take() {
        let _ = reply.send(v);
    }
}

/// Why writes cannot be served, as `GET /healthz` reports it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A commit failed on an I/O error (most often a full disk). redb refuses every later
    /// operation on that handle ("Previous I/O error occurred"), so the writer closes the
    /// database and reopens it.
    Io,
    /// A write job, or redb inside one, panicked in the writer; the batch was failed and the
    /// database reopened, since redb's state after a panic is unknown.
    Panic,
}

impl Fault {
    /// The word `GET /healthz` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Io => "io",
            Fault::Panic => "panic",
        }
    }
}

/// The writer's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Why the last commit failed and when (seconds since 1970); `None` once a commit has
    /// succeeded since.
    pub fault: Option<(Fault, u64)>,
    /// Whether the database is open, so that reads can be served; false while the writer
    /// waits to reopen it.
    pub open: bool,
}

/// What readers and the writer share: the database behind a handle the writer can swap.
struct Shared {
    /// `None` while the writer waits to reopen the database after a failure. Readers hold the
    /// lock only to begin a read transaction, which owns what it needs; the writer holds it
    /// shared for a batch and exclusively only to close or reopen.
    db: RwLock<Option<Database>>,
    fault: Mutex<Option<(Fault, u64)>>,
    /// When `GET /healthz` last tried a write while degraded.
    last_probe: Mutex<Option<Instant>>,
    path: PathBuf,
    /// The page cache, in bytes, for every open of the file (reopens included).
    cache_bytes: usize,
    observer: OnceLock<CommitObserver>,
}

impl Shared {
    fn set_fault(&self, fault: Option<Fault>) {
        let mut f = self.fault.lock().unwrap_or_else(PoisonError::into_inner);
        match fault {
            None => *f = None,
            // The first failure of a run is the one to report: "since" is when writes stopped.
            Some(kind) => {
                if f.is_none_or(|(k, _)| k != kind) {
                    *f = Some((kind, licet_verifier::Expectations::now_from_system_clock()));
                }
            }
        }
    }

    fn is_open(&self) -> bool {
        self.db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Closes the database, releasing its file lock at once, even while read transactions
    /// are alive (their reads then fail, and they answer `STORAGE_UNAVAILABLE`).
    fn close(&self) {
        let old = self
            .db
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(db) = old
            && let Err(e) = db.close()
        {
            tracing::debug!(error = %e, "closing the database after a failure");
        }
    }
}

/// The database and its writer.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.shared.path)
            .finish()
    }
}

/// How the writer groups commits.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Most write requests in one transaction; 1 turns batching off.
    pub max_batch: usize,
}

/// How [`Store::open_with`] opens a database.
#[derive(Debug, Clone, Copy)]
pub struct Open {
    /// Whether a missing or empty database is created (else refused).
    pub create: bool,
    /// The page cache, in bytes.
    pub cache_bytes: usize,
}

impl Open {
    /// Creates the database when there is none, with the default page cache.
    pub const CREATE: Open = Open {
        create: true,
        cache_bytes: DEFAULT_CACHE_BYTES,
    };
    /// Refuses to create one, with the default page cache.
    pub const EXISTING: Open = Open {
        create: false,
        cache_bytes: DEFAULT_CACHE_BYTES,
    };

    /// With a page cache of `cache_bytes`.
    pub const fn cache(self, cache_bytes: usize) -> Open {
        Open {
            cache_bytes,
            ..self
        }
    }
}

/// Why [`Store::open_with`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// There is no licet database at the path: missing, empty, or a redb file that was never
    /// initialised. The text says which.
    Uninitialised(String),
    /// Anything else; the text names the file and what to do.
    Failed(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Uninitialised(m) | OpenError::Failed(m) => f.write_str(m),
        }
    }
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
        Self::open_inner(path, config, true, DEFAULT_CACHE_BYTES).map_err(|e| e.to_string())
    }

    /// Opens the database at `path` as `how` says: with its page cache, and, unless
    /// `how.create`, refusing to create one: a missing file, an empty one, or one without a
    /// schema version is [`OpenError::Uninitialised`], and nothing is written.
    ///
    /// # Errors
    /// [`OpenError`].
    pub fn open_with(
        path: &Path,
        config: WriterConfig,
        how: Open,
    ) -> Result<(Store, std::thread::JoinHandle<()>), OpenError> {
        Self::open_inner(path, config, how.create, how.cache_bytes)
    }

    fn open_inner(
        path: &Path,
        config: WriterConfig,
        create: bool,
        cache_bytes: usize,
    ) -> Result<(Store, std::thread::JoinHandle<()>), OpenError> {
        if !create {
            match std::fs::metadata(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(OpenError::Uninitialised(format!(
                        "{} is missing",
                        path.display()
                    )));
                }
                Err(e) => {
                    return Err(OpenError::Failed(format!("{}: {e}", path.display())));
                }
                // redb would initialise an empty file as a new database.
                Ok(m) if m.len() == 0 => {
                    return Err(OpenError::Uninitialised(format!(
                        "{} is empty",
                        path.display()
                    )));
                }
                Ok(_) => {}
            }
        }
        let db = open_database(path, create, cache_bytes).map_err(OpenError::Failed)?;
        restrict(path);
        if !create && schema_version(&db).map_err(OpenError::Failed)?.is_none() {
            return Err(OpenError::Uninitialised(format!(
                "{} holds no licet data (no schema version)",
                path.display()
            )));
        }
        migrate(&db).map_err(|e| OpenError::Failed(format!("{}: {e}", path.display())))?;
        let shared = Arc::new(Shared {
            db: RwLock::new(Some(db)),
            fault: Mutex::new(None),
            last_probe: Mutex::new(None),
            path: path.to_path_buf(),
            cache_bytes,
            observer: OnceLock::new(),
        });
        let (tx, rx) = mpsc::channel::<Job>(16_384);
        let writer_shared = Arc::clone(&shared);
        let max_batch = config.max_batch.max(1);
        let handle = std::thread::Builder::new()
            .name("licet-writer".into())
            .spawn(move || writer(&writer_shared, rx, max_batch))
            .map_err(|e| OpenError::Failed(format!("cannot start the writer thread: {e}")))?;
        Ok((Store { shared, jobs: tx }, handle))
    }

    /// Runs `f` in the writer, inside a write transaction, and answers once that transaction
    /// is durable. `f` must check everything before it writes: an error it returns does not
    /// roll back what it wrote (so that refusals can be audited). redb runs it once (one
    /// writer: no conflict to retry); it is `FnMut` because [`Backend::write`] is.
    ///
    /// # Errors
    /// What `f` returns, or [`CoreError::StorageUnavailable`] when the commit fails, `f` or
    /// another job of its batch panics, or the writer is reopening the database (then `f`
    /// is not run).
    pub async fn write<T, F>(&self, mut f: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn WriteTx) -> Result<T, CoreError> + Send + 'static,
    {
        let (reply, answered) = oneshot::channel();
        let reply = Arc::new(Mutex::new(Some(reply)));
        let reply_after_run = Arc::clone(&reply);
        let job = Job {
            run: Box::new(move |tx| {
                let result = f(tx);
                Box::new(move |committed: Result<(), CoreError>| {
                    answer(&reply_after_run, committed.and(result));
                })
            }),
            fail: Box::new(move |e| answer(&reply, Err(e))),
        };
        // The writer has stopped, or dropped the job unanswered (it cannot: every path
        // answers; but a caller must never hang on it).
        self.jobs
            .send(job)
            .await
            .map_err(|_| CoreError::StorageUnavailable)?;
        answered.await.map_err(|_| CoreError::StorageUnavailable)?
    }

    /// Queues an audit event without waiting for it (refused client requests: their answer
    /// must not wait on a disk write).
    pub fn audit_later(&self, event: AuditEvent) {
        let job = Job {
            run: Box::new(move |tx| {
                if let Err(e) = tx.append_audit(event) {
                    tracing::error!(error = %e, "writing an audit event");
                }
                Box::new(|_| {})
            }),
            // Counted in the writer's one error line for its batch: a line per event would
            // flood the log (maybe on the very disk that is full) under a flood of refusals.
            fail: Box::new(|_| {}),
        };
        if self.jobs.try_send(job).is_err() {
            tracing::warn!("audit queue full: an audit event of a refused request was dropped");
        }
    }

    /// A read snapshot.
    ///
    /// # Errors
    /// [`CoreError::StorageUnavailable`] while the database is being reopened or the disk
    /// fails, else [`CoreError::Internal`].
    pub fn begin_read(&self) -> Result<redb::ReadTransaction, CoreError> {
        let db = self
            .shared
            .db
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match db.as_ref() {
            Some(db) => Ok(db.begin_read()?),
            None => Err(CoreError::StorageUnavailable),
        }
    }

    /// The writer's state, as last seen.
    pub fn health(&self) -> Health {
        Health {
            fault: *self
                .shared
                .fault
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            open: self.shared.is_open(),
        }
    }

    /// The writer's state; while degraded, first tries one small write (at most once a
    /// second, whoever asks) so that a disk freed while no client writes is noticed.
    pub async fn probe(&self) -> Health {
        let health = self.health();
        if health.fault.is_none() {
            return health;
        }
        let due = {
            let mut last = self
                .shared
                .last_probe
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            let now = licet_verifier::Expectations::now_from_system_clock();
            let probed = self
                .write(move |tx| tx.put_meta("write_probe", now.to_be_bytes().as_slice()))
                .await;
            if let Err(e) = probed {
                tracing::debug!(error = %e, "health probe: writes still fail");
            }
        }
        self.health()
    }

    /// Has `observer` called after each commit from now on (once: later calls are
    /// ignored). For `/metrics`: batch sizes and commit latency.
    pub fn observe_commits(&self, observer: CommitObserver) {
        let _ = self.shared.observer.set(observer);
    }

    /// For `/metrics`: the machines activated, and the seats held at `now`. The seats are
    /// counted by a scan of the `seats` table, which holds the live seats and expired ones
    /// not yet tidied away, so the cost follows the seats in use, not the lease history.
    /// Blocking: call it off the async runtime.
    ///
    /// # Errors
    /// [`CoreError::StorageUnavailable`] or [`CoreError::Internal`].
    pub fn live_counts(&self, now: u64) -> Result<(u64, u64), CoreError> {
        let r = self.begin_read()?;
        let machines = r.open_table(MACHINES)?.len()?;
        let mut seats = 0u64;
        for item in r.open_table(SEATS)?.iter()? {
            if item?.1.value() > now {
                seats += 1;
            }
        }
        Ok((machines, seats))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Writes a consistent copy of every table, as of one snapshot, to a new redb file.
    ///
    /// # Errors
    /// [`CoreError::Internal`].
    pub fn backup_to(&self, out: &Path) -> Result<(), CoreError> {
        let snap = self.begin_read()?;
        let copy = Database::create(out)?;
        restrict(out);
        let w = copy.begin_write()?;
        copy_table(&snap, &w, META)?;
        copy_table(&snap, &w, PRODUCTS)?;
        copy_table(&snap, &w, POLICIES)?;
        copy_table(&snap, &w, LICENSES)?;
        copy_table(&snap, &w, LICENSE_KEYS)?;
        copy_table(&snap, &w, MACHINES)?;
        copy_table(&snap, &w, AUDIT)?;
        copy_table(&snap, &w, LEASES)?;
        copy_table(&snap, &w, SEATS)?;
        copy_table(&snap, &w, LICENSE_LEASES)?;
        copy_table(&snap, &w, TRIALS)?;
        w.commit()?;
        Ok(())
    }
}

impl Store {
    /// A backup as bytes: [`Store::backup_to`] a temporary file beside the database, read
    /// back and removed. Blocking: call it off the async runtime.
    ///
    /// # Errors
    /// [`CoreError::Internal`] or [`CoreError::StorageUnavailable`].
    pub fn backup_bytes(&self) -> Result<Vec<u8>, CoreError> {
        let dir = self
            .path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".backup-{}.redb",
            licet_verifier::hex(&licet::new_id().map_err(|_| CoreError::Internal)?)
        ));
        let result = self.backup_to(&tmp).and_then(|()| {
            std::fs::read(&tmp).map_err(|e| {
                tracing::error!(error = %e, "reading the backup file");
                CoreError::Internal
            })
        });
        let _ = std::fs::remove_file(&tmp);
        result
    }
}

/// Opens the database file, creating it only when `create`. The message says what failed and
/// what to do; it names a lock held elsewhere only when the lock is what failed.
fn open_database(path: &Path, create: bool, cache_bytes: usize) -> Result<Database, String> {
    // redb may panic on a file damaged outside it; that must be a message, not a crash.
    let opened = std::panic::catch_unwind(|| {
        let mut builder = redb::Builder::new();
        builder.set_cache_size(cache_bytes);
        if create {
            builder.create(path)
        } else {
            builder.open(path)
        }
    });
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => Err(format!(
            "{}: cannot open the database: it is locked by another process; is another licet-server using it? Stop it first",
            path.display()
        )),
        Ok(Err(redb::DatabaseError::Storage(redb::StorageError::Io(e))))
            if e.kind() != std::io::ErrorKind::InvalidData =>
        {
            Err(format!(
                "{}: cannot open the database: {e}; check the disk (free space, permissions) and start again",
                path.display()
            ))
        }
        Ok(Err(e)) => Err(damaged(path, &e.to_string())),
        Err(_) => Err(damaged(path, "redb panicked reading it")),
    }
}

fn damaged(path: &Path, cause: &str) -> String {
    format!(
        "{}: cannot open the database: the file is damaged or is not a licet database ({cause}); stop the server, copy your latest backup over it (docs/api.md §6.6, \"Restore\") and start again",
        path.display()
    )
}

fn schema_version(db: &Database) -> Result<Option<u64>, String> {
    let r = db.begin_read().map_err(|e| e.to_string())?;
    let meta = match r.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    Ok(meta
        .get("schema_version")
        .map_err(|e| e.to_string())?
        .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
        .map(u64::from_be_bytes))
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
) -> Result<(), CoreError>
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
        policies: w.open_table(POLICIES)?,
        licenses: w.open_table(LICENSES)?,
        license_keys: w.open_table(LICENSE_KEYS)?,
        machines: w.open_table(MACHINES)?,
        audit: w.open_table(AUDIT)?,
        leases: w.open_table(LEASES)?,
        seats: w.open_table(SEATS)?,
        license_leases: w.open_table(LICENSE_LEASES)?,
        admin_tokens: w.open_table(ADMIN_TOKENS)?,
        deny: w.open_table(DENY)?,
        deactivations: w.open_table(DEACTIVATIONS)?,
        trials: w.open_table(TRIALS)?,
    })
}

/// Why a batch was not committed.
enum Failure {
    Storage(redb::Error),
    Panic(String),
}

fn writer(shared: &Shared, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut batch: Vec<Run> = Vec::with_capacity(max_batch);
    let mut fails: Vec<Fail> = Vec::with_capacity(max_batch);
    // Failures in a row (of commits or of reopening); reset by a commit that succeeds.
    let mut failures: u32 = 0;
    loop {
        if !shared.is_open() {
            if !reopen(shared, &mut rx, &mut failures) {
                break;
            }
            continue;
        }
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        batch.push(first.run);
        fails.push(first.fail);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    batch.push(job.run);
                    fails.push(job.fail);
                }
                Err(_) => break,
            }
        }
        let mut finishers: Vec<Finish> = Vec::with_capacity(batch.len());
        let started = Instant::now();
        let outcome = {
            let db = shared.db.read().unwrap_or_else(PoisonError::into_inner);
            match db.as_ref() {
                Some(db) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    commit(db, &mut batch, &mut finishers).map_err(Failure::Storage)
                }))
                .unwrap_or_else(|p| Err(Failure::Panic(panic_message(p.as_ref())))),
                None => Err(Failure::Storage(redb::Error::DatabaseClosed)),
            }
        };
        // Jobs not yet run (the transaction could not start, or a job before them panicked)
        // are failed with the rest of the batch.
        batch.clear();
        let requests = fails.len();
        match outcome {
            Ok(()) => {
                if let Some(observe) = shared.observer.get() {
                    observe(requests, started.elapsed());
                }
                shared.set_fault(None);
                failures = 0;
                fails.clear();
                for finish in finishers {
                    finish(Ok(()));
                }
                tracing::trace!(requests, "committed");
            }
            Err(failure) => {
                match &failure {
                    Failure::Storage(e) => {
                        tracing::error!(error = %e, requests, "a write transaction failed; nothing in it was stored; reopening the database");
                        shared.set_fault(Some(Fault::Io));
                    }
                    Failure::Panic(m) => {
                        tracing::error!(panic = %m, requests, "a write job panicked; nothing of its batch was stored; reopening the database");
                        shared.set_fault(Some(Fault::Panic));
                    }
                }
                shared.close();
                failures = failures.saturating_add(1);
                drop(finishers);
                for fail in fails.drain(..) {
                    fail(CoreError::StorageUnavailable);
                }
            }
        }
    }
    shared.close();
    tracing::debug!("writer stopped: every request queued was committed");
}

/// Runs a batch in one write transaction and commits it.
fn commit(
    db: &Database,
    batch: &mut Vec<Run>,
    finishers: &mut Vec<Finish>,
) -> Result<(), redb::Error> {
    let w = db.begin_write()?;
    {
        let mut tx = open_tx(&w)?;
        for run in batch.drain(..) {
            finishers.push(run(&mut tx));
        }
    }
    w.commit()?;
    Ok(())
}

/// How long to wait before reopening after `failures` failures in a row: a disk that is
/// still full fails again at once, and each reopen after an I/O error repairs the file.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(7);
    Duration::from_millis(50u64 << doublings).min(Duration::from_secs(5))
}

/// Waits out the back-off, failing queued jobs at once (rather than let them wait into a
/// TIMEOUT), then reopens the database. Returns
/// false when every [`Store`] is gone.
fn reopen(shared: &Shared, rx: &mut mpsc::Receiver<Job>, failures: &mut u32) -> bool {
    let until = Instant::now() + backoff(*failures);
    let mut dropped = 0u64;
    loop {
        loop {
            match rx.try_recv() {
                Ok(job) => {
                    (job.fail)(CoreError::StorageUnavailable);
                    dropped += 1;
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
        let now = Instant::now();
        if now >= until {
            break;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(20)));
    }
    if dropped > 0 {
        tracing::warn!(
            requests = dropped,
            "refused write requests while the database is closed"
        );
    }
    // Open, never create: a file that vanished must not come back empty.
    match open_database(&shared.path, false, shared.cache_bytes) {
        Ok(db) => {
            *shared.db.write().unwrap_or_else(PoisonError::into_inner) = Some(db);
            tracing::warn!(path = %shared.path.display(), "database reopened; writes resume when a commit succeeds");
        }
        Err(e) => {
            *failures = failures.saturating_add(1);
            tracing::error!(error = %e, retry_in_ms = backoff(*failures).as_millis() as u64, "cannot reopen the database");
        }
    }
    true
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
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
                        2 => migrate_2_to_3(&w).map_err(|e| e.to_string())?,
                        // The `policies` table is made by `open_tx` below; the records read
                        // as they are (see SCHEMA_VERSION).
                        3 => {}
                        // The `deactivations` table likewise; nothing to rewrite.
                        4 => {}
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
fn migrate_1_to_2(w: &redb::WriteTransaction) -> Result<(), CoreError> {
    let leases = w.open_table(LEASES)?;
    let rekey = |old: &[u8]| -> Result<Option<Vec<u8>>, CoreError> {
        let (Some(license), Some(lease)) = (old.get(..16), old.get(16..32)) else {
            return Ok(None);
        };
        let (license, lease): ([u8; 16], [u8; 16]) = (
            license.try_into().map_err(|_| CoreError::Internal)?,
            lease.try_into().map_err(|_| CoreError::Internal)?,
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

/// Version 2 → 3: deleting a license used to leave its leases behind (it read the lease id
/// at the wrong offset of the 40-byte [`lease_key`], and never touched `license_leases`), so
/// a lease of a deleted license could still be renewed or released. This removes every
/// lease record, seat and index entry whose license is gone.
fn migrate_2_to_3(w: &redb::WriteTransaction) -> Result<(), CoreError> {
    let licenses = w.open_table(LICENSES)?;
    let gone = |key: &[u8]| -> Result<bool, CoreError> {
        let license = key.get(..16).ok_or(CoreError::Internal)?;
        Ok(licenses.get(license)?.is_none())
    };
    let mut index = Vec::new();
    for item in w.open_table(LICENSE_LEASES)?.iter()? {
        let (k, _) = item?;
        if gone(k.value())? {
            index.push(k.value().to_vec());
        }
    }
    let mut seats = Vec::new();
    for item in w.open_table(SEATS)?.iter()? {
        let (k, _) = item?;
        if gone(k.value())? {
            seats.push(k.value().to_vec());
        }
    }
    let mut leases = Vec::new();
    for item in w.open_table(LEASES)?.iter()? {
        let (k, v) = item?;
        let lease: crate::model::Lease = decode(v.value())?;
        let license = id_bytes(&lease.license_id).ok_or(CoreError::Internal)?;
        if licenses.get(license.as_slice())?.is_none() {
            leases.push(k.value().to_vec());
        }
    }
    let mut t = w.open_table(LICENSE_LEASES)?;
    for k in &index {
        t.remove(k.as_slice())?;
    }
    let mut t = w.open_table(SEATS)?;
    for k in &seats {
        t.remove(k.as_slice())?;
    }
    let mut t = w.open_table(LEASES)?;
    for k in &leases {
        t.remove(k.as_slice())?;
    }
    if !(index.is_empty() && seats.is_empty() && leases.is_empty()) {
        tracing::info!(
            leases = leases.len(),
            seats = seats.len(),
            index_entries = index.len(),
            "schema 3: removed the leases of deleted licenses"
        );
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
    /// [`CoreError::StorageUnavailable`] while the database is being reopened, else
    /// [`CoreError::Internal`].
    pub fn of(store: &Store) -> Result<Snapshot, CoreError> {
        Ok(Snapshot {
            txn: store.begin_read()?,
        })
    }

    /// The underlying read transaction (tests and tools that look at the tables).
    pub fn txn(&self) -> &redb::ReadTransaction {
        &self.txn
    }
}

impl ReadTx for Snapshot {
    fn license(&self, id: &[u8; 16]) -> Result<Option<License>, CoreError> {
        resolve(
            self,
            get_record(&self.txn.open_table(LICENSES)?, id.as_slice())?,
        )
    }

    fn license_by_key_hash(&self, hash: &[u8; 32]) -> Result<Option<License>, CoreError> {
        resolve(
            self,
            license_by_hash(
                &self.txn.open_table(LICENSE_KEYS)?,
                &self.txn.open_table(LICENSES)?,
                hash,
            )?,
        )
    }

    fn licenses_after(
        &self,
        after: Option<&[u8; 16]>,
        visit: &mut dyn FnMut(License) -> bool,
    ) -> Result<(), CoreError> {
        let t = self.txn.open_table(LICENSES)?;
        resolve_each(self, visit, |v| licenses_after(&t, after, v))
    }

    fn policy(&self, product: &str, name: &str) -> Result<Option<Policy>, CoreError> {
        // A snapshot of a file no policy was ever written to (opened read-only by a tool)
        // has no table: no policies.
        match self.txn.open_table(POLICIES) {
            Ok(t) => policy(&t, product, name),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn policies(&self, product: Option<&str>) -> Result<Vec<Policy>, CoreError> {
        match self.txn.open_table(POLICIES) {
            Ok(t) => policies(&t, product),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    fn license_count(&self) -> Result<u64, CoreError> {
        Ok(self.txn.open_table(LICENSES)?.len()?)
    }

    fn product(&self, name: &str) -> Result<Option<Product>, CoreError> {
        get_named(&self.txn.open_table(PRODUCTS)?, name)
    }

    fn products(&self) -> Result<Vec<Product>, CoreError> {
        products(&self.txn.open_table(PRODUCTS)?)
    }

    fn machine(
        &self,
        license: &[u8; 16],
        fingerprint: &[u8; 32],
    ) -> Result<Option<Machine>, CoreError> {
        get_record(
            &self.txn.open_table(MACHINES)?,
            machine_key(license, fingerprint).as_slice(),
        )
    }

    fn machines(&self, license: &[u8; 16]) -> Result<Vec<Machine>, CoreError> {
        machines(&self.txn.open_table(MACHINES)?, license)
    }

    fn machine_count_up_to(&self, license: &[u8; 16], limit: u64) -> Result<u64, CoreError> {
        machine_count_up_to(&self.txn.open_table(MACHINES)?, license, limit)
    }

    fn seats_held(&self, license: &[u8; 16], now: u64) -> Result<u64, CoreError> {
        seats_held(&self.txn.open_table(SEATS)?, license, now)
    }

    fn lease(&self, id: &[u8; 16]) -> Result<Option<Lease>, CoreError> {
        get_record(&self.txn.open_table(LEASES)?, id.as_slice())
    }

    fn leases_of(&self, license: &[u8; 16]) -> Result<Vec<Lease>, CoreError> {
        leases_of(
            &self.txn.open_table(LICENSE_LEASES)?,
            &self.txn.open_table(LEASES)?,
            license,
        )
    }

    fn audit_before(
        &self,
        before: Option<u64>,
        visit: &mut dyn FnMut(AuditEvent) -> bool,
    ) -> Result<(), CoreError> {
        audit_before(&self.txn.open_table(AUDIT)?, before, visit)
    }

    fn audit_len(&self) -> Result<u64, CoreError> {
        Ok(self.txn.open_table(AUDIT)?.len()?)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, CoreError> {
        meta(&self.txn.open_table(META)?, key)
    }

    fn audit_oldest(&self, limit: usize) -> Result<Vec<AuditEvent>, CoreError> {
        audit_oldest(&self.txn.open_table(AUDIT)?, limit)
    }

    fn leases_after(
        &self,
        after: Option<&[u8; 16]>,
        limit: usize,
    ) -> Result<Vec<Lease>, CoreError> {
        leases_after(&self.txn.open_table(LEASES)?, after, limit)
    }

    fn admin_tokens(&self) -> Result<Vec<AdminToken>, CoreError> {
        all_records(&self.txn.open_table(ADMIN_TOKENS)?)
    }

    fn deny_entries(&self) -> Result<Vec<DenyEntry>, CoreError> {
        all_records(&self.txn.open_table(DENY)?)
    }

    fn deactivations(&self, license: Option<&[u8; 16]>) -> Result<Vec<Deactivation>, CoreError> {
        // A file no deactivation was ever written to, opened read-only by a tool, has none.
        match self.txn.open_table(DEACTIVATIONS) {
            Ok(t) => deactivations(&t, license),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    fn trial(&self, product: &str, fingerprint: &[u8; 32]) -> Result<Option<Trial>, CoreError> {
        // A file opened read-only by a tool may predate the table: no trials.
        match self.txn.open_table(TRIALS) {
            Ok(t) => get_record(&t, &trial_key(product, fingerprint)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn trials(&self) -> Result<Vec<Trial>, CoreError> {
        match self.txn.open_table(TRIALS) {
            Ok(t) => all_records(&t),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Backend for Store {
    /// On the calling task: a redb read transaction never waits for the writer (MVCC), and
    /// the short reads of a client request cost less than a hop to another thread.
    async fn read<T, F>(&self, job: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadTx) -> Result<T, CoreError> + Send + 'static,
    {
        job(&Snapshot::of(self)?)
    }

    /// On tokio's blocking pool.
    async fn scan<T, F>(&self, job: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadTx) -> Result<T, CoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || job(&Snapshot::of(&store)?))
            .await
            .map_err(|_| CoreError::Internal)?
    }

    async fn write<T, F>(&self, job: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn WriteTx) -> Result<T, CoreError> + Send + 'static,
    {
        Store::write(self, job).await
    }

    fn audit_later(&self, event: AuditEvent) {
        Store::audit_later(self, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn license(id: &[u8; 16]) -> License {
        License {
            id: licet_verifier::hex(id),
            key: String::new(),
            product: "p".into(),
            policy: None,
            overrides: crate::model::Overrides {
                max_leases: Some(Some(5)),
                check_in_interval: Some(86_400),
                ..Default::default()
            },
            license_type: None,
            status: crate::model::Status::Active,
            features: Vec::new(),
            expires_at: None,
            max_machines: None,
            max_leases: Some(5),
            lease_ttl: 600,
            lease_ttl_max: 3600,
            check_in_interval: 86_400,
            deactivation_limit: None,
            deactivation_period: crate::model::defaults::DEACTIVATION_PERIOD,
            activation_cooldown: 0,
            grace_period: 0,
            customer: None,
            metadata: Default::default(),
            created_at: 1_000,
            updated_at: 1_000,
        }
    }

    fn lease(id: &[u8; 16], license: &[u8; 16], created: u64, released: Option<u64>) -> Lease {
        Lease {
            id: licet_verifier::hex(id),
            license_id: licet_verifier::hex(license),
            client_id: None,
            created_at: created,
            expires_at: created + 600,
            released_at: released,
            renewals: 0,
            token_sha256: "00".repeat(32),
            retry: None,
        }
    }

    fn keys<V: redb::Value + 'static>(
        snap: &Snapshot,
        def: TableDefinition<&'static [u8], V>,
    ) -> Vec<Vec<u8>> {
        let t = snap.txn().open_table(def).expect("table");
        t.iter()
            .expect("iter")
            .map(|i| i.map(|(k, _)| k.value().to_vec()).expect("item"))
            .collect()
    }

    /// A version-2 file holding the leases a deleted license left behind (what deleting a
    /// license did up to version 2) opens as version 3 without them, and with every lease of
    /// the license that still exists.
    #[test]
    fn migrates_version_2_dropping_leases_of_deleted_licenses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("licet.redb");
        let (kept, deleted) = ([1u8; 16], [2u8; 16]);
        let (live, released, orphan_live, orphan_released) =
            ([7u8; 16], [8u8; 16], [9u8; 16], [10u8; 16]);
        {
            let db = Database::create(&path).expect("create");
            let w = db.begin_write().expect("write");
            {
                let mut meta = w.open_table(META).expect("meta");
                meta.insert("schema_version", 2u64.to_be_bytes().as_slice())
                    .expect("version");
                let mut licenses = w.open_table(LICENSES).expect("licenses");
                licenses
                    .insert(
                        kept.as_slice(),
                        encode(&license(&kept)).expect("encode").as_slice(),
                    )
                    .expect("license");
                let mut leases = w.open_table(LEASES).expect("leases");
                let mut seats = w.open_table(SEATS).expect("seats");
                let mut index = w.open_table(LICENSE_LEASES).expect("index");
                for (id, of, created, rel) in [
                    (live, kept, 2_000, None),
                    (released, kept, 1_000, Some(1_500)),
                    (orphan_live, deleted, 2_000, None),
                    (orphan_released, deleted, 1_000, Some(1_500)),
                ] {
                    let key = lease_key(&of, created, &id);
                    leases
                        .insert(
                            id.as_slice(),
                            encode(&lease(&id, &of, created, rel))
                                .expect("encode")
                                .as_slice(),
                        )
                        .expect("lease");
                    index.insert(key.as_slice(), ()).expect("index entry");
                    if rel.is_none() {
                        seats.insert(key.as_slice(), created + 600).expect("seat");
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
            assert_eq!(keys(&snap, LEASES), vec![live.to_vec(), released.to_vec()]);
            assert_eq!(
                keys(&snap, SEATS),
                vec![lease_key(&kept, 2_000, &live).to_vec()]
            );
            assert_eq!(
                keys(&snap, LICENSE_LEASES),
                vec![
                    lease_key(&kept, 1_000, &released).to_vec(),
                    lease_key(&kept, 2_000, &live).to_vec()
                ]
            );
            assert!(snap.lease(&orphan_live).expect("read").is_none());
            assert_eq!(snap.seats_held(&deleted, 2_100).expect("held"), 0);
        }
        drop(store);
        writer.join().expect("writer");
    }

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
                w.open_table(LICENSES)
                    .expect("licenses")
                    .insert(
                        license.as_slice(),
                        encode(&self::license(&license)).expect("encode").as_slice(),
                    )
                    .expect("license");
                let mut leases = w.open_table(LEASES).expect("leases");
                let mut seats = w.open_table(SEATS).expect("seats");
                let mut index = w.open_table(LICENSE_LEASES).expect("index");
                for (id, created, released) in [(live, 2_000, None), (gone, 1_000, Some(1_500))] {
                    let lease = lease(&id, &license, created, released);
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

    /// A version-4 file (before deactivations were kept: no table, license records without
    /// the deactivation terms) opens as version 5: its license reads the default terms (no
    /// limit, no cooldown), and deactivations are kept from then on.
    #[test]
    fn migrates_version_4_adding_deactivations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("licet.redb");
        let id = [1u8; 16];
        {
            let db = Database::create(&path).expect("create");
            let w = db.begin_write().expect("write");
            {
                let mut meta = w.open_table(META).expect("meta");
                meta.insert("schema_version", 4u64.to_be_bytes().as_slice())
                    .expect("version");
                let mut licenses = w.open_table(LICENSES).expect("licenses");
                let mut record = serde_json::to_value(license(&id)).expect("json");
                assert!(
                    record.get("deactivation_limit").is_none(),
                    "not stored when unset"
                );
                record["max_machines"] = serde_json::json!(1);
                licenses
                    .insert(id.as_slice(), encode(&record).expect("encode").as_slice())
                    .expect("license");
            }
            w.commit().expect("commit");
        }
        let (store, writer) = Store::open(&path, WriterConfig { max_batch: 1 }).expect("open");
        {
            let snap = Snapshot::of(&store).expect("snapshot");
            let meta = snap.txn().open_table(META).expect("meta");
            let version = meta.get("schema_version").expect("get").expect("version");
            assert_eq!(version.value(), 5u64.to_be_bytes().as_slice());
            let l = snap.license(&id).expect("read").expect("the license");
            assert_eq!(l.max_machines, Some(1));
            assert_eq!(
                (
                    l.deactivation_limit,
                    l.deactivation_period,
                    l.activation_cooldown
                ),
                (None, crate::model::defaults::DEACTIVATION_PERIOD, 0)
            );
            assert!(snap.deactivations(None).expect("read").is_empty());
        }
        let d = Deactivation {
            license_id: licet_verifier::hex(&id),
            machine_id: licet_verifier::hex(&[2u8; 16]),
            fingerprint: "00".repeat(32),
            at: 2_000,
            token_expires_at: 3_000,
            by_admin: false,
        };
        let put = d.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(Backend::write(&store, move |tx| tx.put_deactivation(&put)))
            .expect("write");
        let snap = Snapshot::of(&store).expect("snapshot");
        assert_eq!(snap.deactivations(Some(&id)).expect("read"), vec![d]);
        drop(snap);
        drop(store);
        writer.join().expect("writer");
    }
}

impl From<redb::Error> for CoreError {
    fn from(e: redb::Error) -> Self {
        tracing::error!(error = %e, "storage error");
        match e {
            // The disk, not the request: the writer reopens the database, so a retry can succeed.
            redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
                CoreError::StorageUnavailable
            }
            _ => CoreError::Internal,
        }
    }
}

macro_rules! storage_error {
    ($($t:ty),*) => {$(
        impl From<$t> for CoreError {
            fn from(e: $t) -> Self {
                CoreError::from(redb::Error::from(e))
            }
        }
    )*};
}
storage_error!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError
);
