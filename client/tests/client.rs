//! The client library against a real server in this process: activation and offline start,
//! the offline refusals, check-in and deactivation, the server's codes passed through, and
//! floating seats renewed in the background, lost, resumed and released.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use licet_client::{Client, Error, Grace, SeatStatus};
use licet_verifier::{Expectations, Keyring};

use common::Server;

fn now() -> u64 {
    Expectations::now_from_system_clock()
}

/// A client of `server` for one simulated machine, storing its tokens in `store`.
fn client(
    server: &Server,
    product: &str,
    key: &str,
    machine: &str,
    store: &std::path::Path,
) -> Client {
    Client::builder(&server.base, product, key, server.keyring())
        .fingerprint(licet_app::fingerprint_of(product, machine))
        .store_dir(store)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// The same machine with no server to reach: only offline calls can succeed.
fn offline(
    server: &Server,
    product: &str,
    key: &str,
    machine: &str,
    store: &std::path::Path,
) -> licet_client::ClientBuilder {
    Client::builder("http://127.0.0.1:1", product, key, server.keyring())
        .fingerprint(licet_app::fingerprint_of(product, machine))
        .store_dir(store)
}

fn store_json(store: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(store.join("client.json")).expect("store"))
        .expect("json")
}

#[test]
fn activate_then_start_offline() {
    let s = Server::start();
    let (_, key) = s.license(
        "acme-cad",
        json!({"features": ["render"], "max_machines": 2}),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let c = client(&s, "acme-cad", &key, "machine-a", dir.path());

    assert_eq!(
        c.load_machine().expect_err("nothing stored").code(),
        "OFFLINE"
    );
    let m = c.activate().expect("activate");
    assert!(m.token().starts_with("MCH-"));
    assert!(m.has_feature("render"));
    assert!(
        m.check_in_before() > now() + 86_400,
        "the license's check-in interval"
    );
    // Activating again is the same activation, with a fresh token.
    assert_eq!(c.activate().expect("again").id(), m.id());

    let o = offline(&s, "acme-cad", &key, "machine-a", dir.path())
        .build()
        .expect("client");
    let loaded = o.load_machine().expect("offline start");
    assert_eq!(loaded.id(), m.id());
    assert_eq!(o.activate().expect_err("no server").code(), "NETWORK");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("client.json"))
            .expect("store")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the store holds the customer's tokens");
    }
    let stored = store_json(dir.path());
    assert!(stored["last_seen"].as_u64().expect("last_seen") + 5 >= now());
}

#[test]
fn offline_start_refuses_what_it_should() {
    let s = Server::start();
    let (_, key) = s.license("acme-cad", json!({}));
    let dir = tempfile::tempdir().expect("tempdir");
    client(&s, "acme-cad", &key, "machine-a", dir.path())
        .activate()
        .expect("activate");

    // The store copied to another machine.
    let other = offline(&s, "acme-cad", &key, "machine-b", dir.path())
        .build()
        .expect("client");
    assert_eq!(
        other.load_machine().expect_err("other machine").code(),
        "FINGERPRINT_MISMATCH"
    );

    // The clock set back: once a later time was seen, an earlier one is refused.
    let ahead = offline(&s, "acme-cad", &key, "machine-a", dir.path())
        .clock(|| now() + 3_600)
        .build()
        .expect("client");
    ahead.load_machine().expect("an hour later");
    let back = offline(&s, "acme-cad", &key, "machine-a", dir.path())
        .build()
        .expect("client");
    assert_eq!(
        back.load_machine().expect_err("set back").code(),
        "CLOCK_ROLLBACK"
    );
    // Going online again with the right clock proves the clock and clears the check.
    client(&s, "acme-cad", &key, "machine-a", dir.path())
        .check_in()
        .expect("check in");
    back.load_machine().expect("after check-in");

    // Past the check-in deadline.
    let late = offline(&s, "acme-cad", &key, "machine-a", dir.path())
        .clock(|| now() + 8 * 86_400)
        .build()
        .expect("client");
    assert_eq!(
        late.load_machine().expect_err("deadline passed").code(),
        "TOKEN_EXPIRED"
    );

    // An edited token.
    let mut stored = store_json(dir.path());
    let token = stored["machine_token"].as_str().expect("token").to_owned();
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() - 20;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    stored["machine_token"] = json!(chars.into_iter().collect::<String>());
    std::fs::write(dir.path().join("client.json"), stored.to_string()).expect("write");
    let code = back.load_machine().expect_err("edited").code().to_owned();
    assert!(
        ["SIGNATURE_INVALID", "TOKEN_MALFORMED"].contains(&code.as_str()),
        "{code}"
    );

    // A good machine token of another license of the same vendor and product.
    let (_, key2) = s.license("acme-cad", json!({}));
    let dir2 = tempfile::tempdir().expect("tempdir");
    let m2 = client(&s, "acme-cad", &key2, "machine-a", dir2.path())
        .activate()
        .expect("activate");
    stored["machine_token"] = json!(m2.token());
    std::fs::write(dir.path().join("client.json"), stored.to_string()).expect("write");
    assert_eq!(
        back.load_machine().expect_err("another license").code(),
        "TOKEN_MISMATCH"
    );

    // Keys from another vendor: the license key itself is refused, before any request.
    let foreign =
        Keyring::from_pem(include_str!("../../test-vectors/keys/signature.pem")).expect("keyring");
    let e = Client::builder(&s.base, "acme-cad", &key, foreign)
        .build()
        .expect_err("foreign keys");
    assert_eq!(e.code(), "KEY_UNKNOWN");
    // A license of another product.
    let e = Client::builder(&s.base, "other-app", &key, s.keyring())
        .build()
        .expect_err("product");
    assert_eq!(e.code(), "WRONG_PRODUCT");
    let e = Client::builder("ftp://x", "acme-cad", &key, s.keyring())
        .build()
        .expect_err("url");
    assert_eq!(e.code(), "CONFIG_INVALID");
}

#[test]
fn check_in_deactivate_and_server_codes() {
    let s = Server::start();
    let (_, key) = s.license("acme-cad", json!({"max_machines": 1}));
    let dir = tempfile::tempdir().expect("tempdir");
    let a = client(&s, "acme-cad", &key, "machine-a", dir.path());
    let first = a.activate().expect("activate");
    let checked = a.check_in().expect("check in");
    assert_eq!(checked.id(), first.id());

    let other_dir = tempfile::tempdir().expect("tempdir");
    let b = client(&s, "acme-cad", &key, "machine-b", other_dir.path());
    let e = b.activate().expect_err("one machine only");
    assert_eq!(e.code(), "ACTIVATION_LIMIT_REACHED");
    match &e {
        Error::Server {
            status,
            support_message,
            ..
        } => {
            assert_eq!(*status, 409);
            assert_eq!(
                support_message.as_deref(),
                Some("Write to support@example.com")
            );
        }
        other => panic!("not the server's answer: {other:?}"),
    }
    let v = a.validate().expect("validate");
    assert!(v.valid, "{v:?}");
    assert_eq!((v.machines.used, v.machines.allowed), (1, Some(1)));

    a.deactivate().expect("deactivate");
    assert_eq!(a.load_machine().expect_err("removed").code(), "OFFLINE");
    assert_eq!(a.check_in().expect_err("gone").code(), "MACHINE_NOT_FOUND");
    b.activate().expect("the activation is free again");
}

/// Waits (bounded) until `f` holds.
fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < end, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_held_seat_outlives_its_ttl_and_is_released() {
    let s = Server::start();
    let (_, key) = s.license(
        "acme-cad",
        json!({"max_leases": 1, "lease_ttl": 2, "lease_ttl_max": 2}),
    );
    let (da, db) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let a = client(&s, "acme-cad", &key, "machine-a", da.path());
    let b = client(&s, "acme-cad", &key, "machine-b", db.path());

    let renewals = Arc::new(Mutex::new(0u32));
    let r = Arc::clone(&renewals);
    let seat = a
        .hold_seat_with(move |st| {
            if matches!(st, SeatStatus::Held { .. }) {
                *r.lock().expect("lock") += 1;
            }
        })
        .expect("seat");
    let id = seat.lease().id();
    assert_eq!(
        store_json(da.path())["lease_token"].as_str(),
        Some(seat.lease().token())
    );

    // Three TTLs later the seat is still held, by renewals of the same lease.
    std::thread::sleep(Duration::from_secs(6));
    assert!(seat.is_held(), "{:?}", seat.status());
    assert_eq!(seat.lease().id(), id);
    assert!(
        *renewals.lock().expect("lock") >= 3,
        "renewed at about half the TTL"
    );
    assert_eq!(
        b.obtain_lease().expect_err("taken").code(),
        "LEASE_LIMIT_REACHED"
    );
    // The renewed token verifies offline too, from the store.
    assert_eq!(a.load_lease().expect("stored lease").id(), id);

    seat.release().expect("release");
    assert!(
        store_json(da.path()).get("lease_token").is_none(),
        "released: not stored"
    );
    let l = b.obtain_lease().expect("free at once");
    b.release_lease(&l).expect("release");
    assert_eq!(
        b.release_lease(&l).expect_err("twice").code(),
        "LEASE_RELEASED"
    );
}

#[test]
fn a_seat_taken_away_is_reported_lost() {
    let s = Server::start();
    let (license_id, key) = s.license(
        "acme-cad",
        json!({"max_leases": 1, "lease_ttl": 2, "lease_ttl_max": 2}),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let a = client(&s, "acme-cad", &key, "machine-a", dir.path());
    let lost = Arc::new(Mutex::new(None));
    let l = Arc::clone(&lost);
    let seat = a
        .hold_seat_with(move |st| {
            if let SeatStatus::Lost(e) = st {
                *l.lock().expect("lock") = Some(e.code().to_owned());
            }
        })
        .expect("seat");
    let (st, body) = s.admin(
        &format!(
            "/licenses/{license_id}/leases/{}/release",
            seat.lease().id()
        ),
        json!({}),
    );
    assert_eq!(st, 200, "{body}");
    eventually("the seat is reported lost", Duration::from_secs(5), || {
        matches!(seat.status(), SeatStatus::Lost(_))
    });
    assert_eq!(
        lost.lock().expect("lock").as_deref(),
        Some("LEASE_RELEASED")
    );
    assert!(store_json(dir.path()).get("lease_token").is_none());
    // Dropping a lost seat sends nothing and returns at once.
    let t = Instant::now();
    drop(seat);
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_restart_takes_back_its_own_seat() {
    let s = Server::start();
    let (_, key) = s.license(
        "acme-cad",
        json!({"max_leases": 1, "lease_ttl": 30, "lease_ttl_max": 30}),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let a = client(&s, "acme-cad", &key, "machine-a", dir.path());

    // A run that crashed holding the seat: its lease is in the store, no process holds it.
    let crashed = a.obtain_lease().expect("lease");
    let mut stored = json!({"version": 1, "last_seen": now()});
    stored["lease_token"] = json!(crashed.token());
    std::fs::write(dir.path().join("client.json"), stored.to_string()).expect("write");

    let seat = a.hold_seat().expect("the same seat, not a second one");
    assert_eq!(seat.lease().id(), crashed.id());
    // Another instance on the same store, while this one holds the seat lock, gets a seat
    // of its own (here: none is left) and does not touch the stored lease.
    let a2 = client(&s, "acme-cad", &key, "machine-a", dir.path());
    assert_eq!(
        a2.hold_seat().expect_err("one seat").code(),
        "LEASE_LIMIT_REACHED"
    );
    assert_eq!(
        store_json(dir.path())["lease_token"].as_str(),
        Some(seat.lease().token())
    );
    seat.release().expect("release");
}

/// Check-in fetches the vendor's revocation list, verifies it and keeps it: a newer list
/// replaces it, an older one is refused, and `revocations()` reads it offline.
#[test]
fn check_in_keeps_the_revocation_list() {
    let s = Server::start();
    let (_, key) = s.license("acme-cad", json!({}));
    let (other, _) = s.license("acme-cad", json!({}));
    let dir = tempfile::tempdir().expect("tempdir");
    let c = client(&s, "acme-cad", &key, "machine-a", dir.path());
    assert!(c.revocations().expect("none yet").is_none());
    c.activate().expect("activate");
    c.check_in().expect("check in");
    let first = c.revocations().expect("kept").expect("a list");
    assert!(first.licenses.is_empty());

    let (st, _) = s.admin(&format!("/licenses/{other}/revoke"), json!({}));
    assert_eq!(st, 200);
    c.check_in().expect("check in: this license is not revoked");
    let second = c.revocations().expect("kept").expect("a list");
    assert!(second.sequence > first.sequence);
    assert_eq!(
        second
            .licenses
            .iter()
            .map(|i| licet_verifier::hex(i))
            .collect::<Vec<_>>(),
        vec![other]
    );

    // A store that has seen a later list refuses the server's (a replayed old list looks
    // the same to the client), and keeps the machine token.
    let mut store = store_json(dir.path());
    store["revocation_sequence"] = json!(second.sequence + 5);
    std::fs::write(dir.path().join("client.json"), store.to_string()).expect("write");
    let e = c.check_in().expect_err("an older list");
    assert_eq!(e.code(), "REVOCATIONS_STALE");
    assert!(c.load_machine().is_ok());
}

/// A keyless trial: started online with no key, both the key and the machine token
/// stored, checked in and validated like any license, the same trial when started again,
/// resumed offline from the store; refused without trials, and its token dropped once the
/// trial is revoked.
#[test]
fn start_trial_then_check_in_and_resume_offline() {
    let s = Server::start();
    let (st, p) = s.admin(
        "/products",
        json!({"name": "acme-trial", "support_message": "Write to support@example.com"}),
    );
    assert_eq!(st, 201, "{p}");
    let (st, p) = s.admin(
        "/policies",
        json!({"product": "acme-trial", "name": "trial-30", "type": "trial",
               "duration": 30 * 86_400, "features": ["render"]}),
    );
    assert_eq!(st, 201, "{p}");
    let (st, p) = s.admin_patch("/products/acme-trial", json!({"trial_policy": "trial-30"}));
    assert_eq!(st, 200, "{p}");
    let dir = tempfile::tempdir().expect("tempdir");
    let trial = |base: &str| {
        Client::trial(base, "acme-trial", s.keyring())
            .fingerprint(licet_app::fingerprint_of("acme-trial", "machine-a"))
            .store_dir(dir.path())
            .timeout(Duration::from_secs(5))
    };

    let (c, m) = trial(&s.base).start_trial().expect("start the trial");
    assert!(m.has_feature("render"));
    assert!(m.check_in_before() <= now() + 30 * 86_400 + 60);
    let stored = store_json(dir.path());
    assert!(
        stored["trial_license_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("LIC-")),
        "{stored}"
    );
    assert_eq!(stored["machine_token"], json!(m.token()));
    // An ordinary license from here on: check-in and validation work with it.
    c.check_in().expect("check in");
    let v = c.validate().expect("validate");
    assert_eq!((v.valid, v.machines.allowed), (true, Some(1)), "{v:?}");
    // Started again: the same trial and machine.
    let (again, m2) = trial(&s.base).start_trial().expect("start again");
    assert_eq!(again.license().id, c.license().id);
    assert_eq!(m2.id(), m.id());
    // Offline, from the store.
    let offline = trial("http://127.0.0.1:1").resume_trial().expect("resume");
    assert_eq!(offline.license().id, c.license().id);
    assert_eq!(offline.load_machine().expect("offline start").id(), m.id());
    // Nothing stored elsewhere: OFFLINE.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let none = Client::trial("http://127.0.0.1:1", "acme-trial", s.keyring())
        .fingerprint(licet_app::fingerprint_of("acme-trial", "machine-b"))
        .store_dir(elsewhere.path())
        .resume_trial()
        .expect_err("no trial here");
    assert_eq!(none.code(), "OFFLINE");

    // A product without trials: its code, passed through.
    s.license("acme-plain", json!({}));
    let e = Client::trial(&s.base, "acme-plain", s.keyring())
        .fingerprint(licet_app::fingerprint_of("acme-plain", "machine-a"))
        .store_dir(elsewhere.path())
        .timeout(Duration::from_secs(5))
        .start_trial()
        .expect_err("no trials");
    assert_eq!(e.code(), "TRIALS_NOT_OFFERED", "{e}");

    // The trial revoked: no fresh trial, and the stored token is dropped.
    let id = licet_verifier::hex(&c.license().id);
    let (st, r) = s.admin(&format!("/licenses/{id}/revoke"), json!({}));
    assert_eq!(st, 200, "{r}");
    let e = trial(&s.base).start_trial().expect_err("revoked");
    assert_eq!(e.code(), "KEY_REVOKED", "{e}");
    assert_eq!(store_json(dir.path())["machine_token"], Value::Null);
}

/// The keyless trial of docs/policies.md ("Keyless: a trial without a key"), word for word
/// between the markers: `the_trial_example_of_policies_md_runs` checks the page shows this
/// text, so the page's code compiles, and runs it.
fn start_trial_as_policies_md_shows(
    server: &str,
    keyring: Keyring,
    store: &std::path::Path,
) -> Result<licet_client::Machine, Error> {
    // policies.md start-trial: begin
    // First start: no key to type. The server makes this machine's trial, or answers the one
    // it had (KEY_EXPIRED once it is over, TRIALS_NOT_OFFERED if the product offers none).
    let (_client, machine) = Client::trial(server, "acme-studio", keyring.clone())
        .store_dir(store)
        .start_trial()?;
    assert!(machine.has_feature("export-pdf"));
    // Later starts: the stored trial, verified offline; check in as with any license.
    let client = Client::trial(server, "acme-studio", keyring)
        .store_dir(store)
        .resume_trial()?;
    let machine = client.load_machine()?;
    // policies.md start-trial: end
    Ok(machine)
}

#[test]
fn the_trial_example_of_policies_md_runs() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/policies.md");
    let page = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let shown: String = page
        .split_once("<!-- example: start-trial -->\n```rust\n")
        .and_then(|(_, rest)| rest.split_once("```\n"))
        .expect("the page's start-trial example")
        .0
        .to_owned();
    let source = include_str!("client.rs");
    let here: String = source
        .split_once("    // policies.md start-trial: begin\n")
        .and_then(|(_, rest)| rest.split_once("    // policies.md start-trial: end\n"))
        .expect("the markers")
        .0
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    assert_eq!(
        shown, here,
        "docs/policies.md and this file's example differ"
    );

    // Run it on this machine's own fingerprint, as an application would.
    if let Err(e) = licet_app::fingerprint("acme-studio") {
        eprintln!("\n*** SKIPPED running the policies.md trial example: {e} ***\n");
        return;
    }
    let s = Server::start();
    let (st, p) = s.admin("/products", json!({"name": "acme-studio"}));
    assert_eq!(st, 201, "{p}");
    let (st, p) = s.admin(
        "/policies",
        json!({"product": "acme-studio", "name": "trial-30", "type": "trial",
               "duration": 30 * 86_400, "features": ["export-pdf"]}),
    );
    assert_eq!(st, 201, "{p}");
    let (st, p) = s.admin_patch("/products/acme-studio", json!({"trial_policy": "trial-30"}));
    assert_eq!(st, 200, "{p}");
    let store = tempfile::tempdir().expect("tempdir");
    let machine = start_trial_as_policies_md_shows(&s.base, s.keyring(), store.path())
        .expect("the page's example runs");
    assert!(machine.has_feature("export-pdf"));
}

/// A license in its grace period (issue 15): activation, check-in and validation succeed
/// with the warning, and the machine knows it offline too, from the grace end its token
/// carries, so the application can warn instead of stopping.
#[test]
fn a_license_in_grace_is_reported_not_refused() {
    let s = Server::start();
    let (id, key) = s.license("acme-grace", json!({"grace_period": 14 * 86_400}));
    // It expired an hour ago: the server's record decides (the key is not signed again).
    let expired = now() - 3600;
    let at = time::OffsetDateTime::from_unix_timestamp(i64::try_from(expired).expect("time"))
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let (st, l) = s.admin_patch(&format!("/licenses/{id}"), json!({"expires_at": at}));
    assert_eq!(st, 200, "{l}");
    let dir = tempfile::tempdir().expect("tempdir");
    let c = client(&s, "acme-grace", &key, "machine-a", dir.path());
    let in_grace = Some(Grace::KeyInGrace {
        ends_at: expired + 14 * 86_400,
    });

    let m = c.activate().expect("activates in grace");
    assert_eq!(m.grace(), in_grace);
    assert_eq!(m.grace().map(|g| g.code()), Some("KEY_IN_GRACE"));
    assert!(m.check_in_before() <= expired + 14 * 86_400);
    let v = c.validate().expect("validate");
    assert_eq!((v.valid, v.code.as_str()), (true, "KEY_IN_GRACE"), "{v:?}");
    assert!(v.grace_ends_at.is_some(), "{v:?}");
    assert_eq!(c.check_in().expect("checks in in grace").grace(), in_grace);
    // Offline, from the stored token alone.
    let off = offline(&s, "acme-grace", &key, "machine-a", dir.path())
        .build()
        .expect("client");
    assert_eq!(off.load_machine().expect("offline start").grace(), in_grace);

    // A license that is not in grace says nothing.
    let (_, plain) = s.license("acme-grace", json!({}));
    let other = tempfile::tempdir().expect("tempdir");
    let m = client(&s, "acme-grace", &plain, "machine-b", other.path())
        .activate()
        .expect("activate");
    assert_eq!(m.grace(), None);
}
