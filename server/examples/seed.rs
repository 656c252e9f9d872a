//! Seeds a fresh data directory for the load benchmark (`server/bench/load.sh`), writing
//! straight into its redb file through the server's own `Store`, before the server starts.
//!
//! ```text
//! cargo run --release -p licet-server --example seed -- DATA_DIR OUT_DIR LICENSES PAST_LEASES
//! ```
//!
//! Through HTTP, a million licenses would take tens of minutes (each one a request, a
//! signature, an audit entry); here they are signed on every core and written 50,000 to a
//! transaction. What it makes, in product `bench`:
//!
//! - `LICENSES` licenses with real Ed25519-signed keys (the key the server generates for
//!   itself, made here first in `DATA_DIR`), each with its `license_keys` entry and its
//!   `license.create` audit event, as `POST /v1/admin/licenses` would leave them;
//! - among them `activate.key` (unlimited machines) and `lease.key` (unlimited seats), and
//!   up to 1,000 others spread over the whole set, for validation (`validate.keys`);
//! - `PAST_LEASES` released leases of the lease license: lease records and their
//!   `license_leases` index entries, as obtain and release leave them (no seat entry: a
//!   released lease holds none). Their token hashes are random, since those tokens were
//!   never handed out and no request can present them.
//!
//! The key files are written to `OUT_DIR`, one license key per line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use licet_server::model::{AuditEvent, Lease, License, Product, Status, defaults};
use licet_server::state::{key_hash, license_claims};
use licet_server::store::{Store, WriterConfig};
use licet_verifier::hex;

/// Licenses per write transaction (and per signing round).
const CHUNK: usize = 50_000;
/// Most keys written to `validate.keys` (unless LICET_SEED_SAMPLE says otherwise).
const SAMPLE: usize = 1_000;

type Row = (License, [u8; 32]);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, out, licenses, leases] = args.as_slice() else {
        eprintln!("usage: seed DATA_DIR OUT_DIR LICENSES PAST_LEASES");
        return ExitCode::from(2);
    };
    let (Ok(licenses), Ok(leases)) = (licenses.parse::<usize>(), leases.parse::<usize>()) else {
        eprintln!("LICENSES and PAST_LEASES are numbers");
        return ExitCode::from(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(seed(
        PathBuf::from(data),
        PathBuf::from(out),
        licenses.max(2),
        leases,
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn seed(data: PathBuf, out: PathBuf, licenses: usize, leases: usize) -> Result<(), String> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let keys = licet_keys::dir::KeyDir::new(&data);
    if keys.signing_key_path().exists() {
        return Err(format!(
            "{} holds a signing key already: seed only a fresh data directory",
            data.display()
        ));
    }
    let key = licet::SigningKey::generate_ed25519().map_err(|e| e.to_string())?;
    keys.create(&key, None, false).map_err(|e| e.to_string())?;
    let (store, writer) = Store::open(
        &licet_server::database_path(&data),
        WriterConfig { max_batch: 1 },
    )?;
    let now = licet_verifier::Expectations::now_from_system_clock();

    store
        .write(move |tx| {
            let p = Product {
                name: "bench".into(),
                support_message: None,
                created_at: now,
                updated_at: now,
                trial_policy: None,
            };
            tx.put_product(&p)?;
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;

    // LICET_SEED_SAMPLE: more keys in validate.keys, for the memory benchmark (RSS against
    // the number of distinct keys asked about).
    let sample = std::env::var("LICET_SEED_SAMPLE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(SAMPLE);
    let stride = (licenses / sample).max(1);
    let mut validate_keys = Vec::new();
    let (mut activate_key, mut lease_key, mut lease_license) = (None, None, None);
    let mut done = 0;
    while done < licenses {
        let n = CHUNK.min(licenses - done);
        let rows = sign_chunk(&key, done, n, now)?;
        for (i, (l, _)) in rows.iter().enumerate() {
            match done + i {
                0 => activate_key = Some(l.key.clone()),
                1 => {
                    lease_key = Some(l.key.clone());
                    lease_license = Some(l.id.clone());
                }
                k if k % stride == 0 && validate_keys.len() < sample => {
                    validate_keys.push(l.key.clone());
                }
                _ => {}
            }
        }
        store
            .write(move |tx| {
                for (l, hash) in &rows {
                    tx.insert_license(l, hash)?;
                    tx.append_audit(AuditEvent {
                        seq: 0,
                        at: now,
                        action: "license.create".into(),
                        actor: "admin".into(),
                        license_id: Some(l.id.clone()),
                        detail: serde_json::json!({"product": l.product, "customer": l.customer}),
                    })?;
                }
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())?;
        done += n;
        eprintln!(
            "seed: {done} licenses ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }

    let lease_license = lease_license.ok_or("no lease license")?;
    let mut rng = SplitMix(u64::from_le_bytes(
        licet::new_id().map_err(|e| e.to_string())?[..8]
            .try_into()
            .map_err(|_| "id")?,
    ));
    let mut written = 0;
    while written < leases {
        let n = CHUNK.min(leases - written);
        let mut rows: Vec<([u8; 16], Lease)> = (0..n)
            .map(|i| {
                let id = rng.id();
                let created = now.saturating_sub((leases - written - i) as u64 * 2 + 3_600);
                let lease = Lease {
                    id: hex(&id),
                    license_id: lease_license.clone(),
                    client_id: Some(format!("bench-client-{}", (written + i) % 500)),
                    created_at: created,
                    expires_at: created + defaults::LEASE_TTL,
                    released_at: Some(created + 60),
                    renewals: 0,
                    token_sha256: hex(&[rng.id(), rng.id()].concat()),
                    retry: None,
                };
                (id, lease)
            })
            .collect();
        // In key order, so that redb appends to its B-trees instead of splitting at random.
        rows.sort_unstable_by_key(|(id, _)| *id);
        store
            .write(move |tx| {
                for (_, lease) in &rows {
                    tx.insert_lease(lease)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())?;
        written += n;
        eprintln!(
            "seed: {written} past leases ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
    drop(store);
    writer.join().map_err(|_| "the writer thread panicked")?;

    let write = |name: &str, lines: &[String]| -> Result<(), String> {
        let path = out.join(name);
        let mut f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for l in lines {
            writeln!(f, "{l}").map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    };
    write("validate.keys", &validate_keys)?;
    write(
        "activate.key",
        &[activate_key.ok_or("no activate license")?],
    )?;
    write("lease.key", &[lease_key.ok_or("no lease license")?])?;
    eprintln!(
        "seed: {licenses} licenses, {leases} past leases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Signs `n` new licenses, numbered from `first`, on every core.
fn sign_chunk(
    key: &licet::SigningKey,
    first: usize,
    n: usize,
    now: u64,
) -> Result<Vec<Row>, String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = n.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let lo = (t * per).min(n);
                let hi = ((t + 1) * per).min(n);
                scope.spawn(move || {
                    (lo..hi)
                        .map(|i| new_license(key, first + i, now))
                        .collect::<Result<Vec<Row>, String>>()
                })
            })
            .collect();
        let mut rows = Vec::with_capacity(n);
        for h in handles {
            rows.extend(h.join().map_err(|_| "a signing thread panicked")??);
        }
        Ok(rows)
    })
}

fn new_license(key: &licet::SigningKey, n: usize, now: u64) -> Result<Row, String> {
    let id = licet::new_id().map_err(|e| e.to_string())?;
    let mut l = License {
        id: hex(&id),
        key: String::new(),
        product: "bench".into(),
        policy: None,
        overrides: Default::default(),
        license_type: Some("subscription".into()),
        status: Status::Active,
        features: vec!["cloud-sync".into(), "export-pdf".into()],
        expires_at: Some(now + 365 * 86_400),
        max_machines: if n == 0 { None } else { Some(5) },
        max_leases: if n == 1 { None } else { Some(10) },
        lease_ttl: defaults::LEASE_TTL,
        lease_ttl_max: defaults::LEASE_TTL_MAX,
        check_in_interval: defaults::CHECK_IN_INTERVAL,
        deactivation_limit: None,
        deactivation_period: defaults::DEACTIVATION_PERIOD,
        activation_cooldown: 0,
        grace_period: 0,
        customer: Some(format!("cus_{n}")),
        metadata: BTreeMap::new(),
        created_at: now,
        updated_at: now,
    };
    // Stored are the overrides, not the fields: every value its own.
    l.overrides = licet::policy::Overrides::all(&l.terms());
    let claims = license_claims(&l, now).map_err(|e| e.to_string())?;
    let token = licet::issue(claims, key).map_err(|e| e.to_string())?;
    l.key = token.text();
    Ok((l, key_hash(token.bytes())))
}

/// A fast generator for ids nobody will ever present (past leases): not for secrets.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn id(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next().to_le_bytes());
        id[8..].copy_from_slice(&self.next().to_le_bytes());
        id
    }
}
