//! The rules, tested without HTTP, against a storage backend in a temporary directory.
//!
//! Every test body takes its backend as an argument, and [`on_every_backend`] runs each
//! once on redb and once on PostgreSQL: a backend is correct when it passes the same rules
//! as the others (object_store's way).

use std::sync::Arc;

use licet::SigningKey;

use crate::core::admin::{self, NewLicense};
use crate::core::client::{self, Activate, MachineRef};
use crate::core::leases::{self, Obtain, Renew};
use crate::core::{CoreError, WithSupport};
use crate::model::{License, Overrides};
use crate::state::Signer;
use crate::storage::Backend;

#[path = "../../tests/common/postgres.rs"]
mod pg_cluster;

/// A backend and what it needs to live (a temporary directory).
struct Fixture<B> {
    store: B,
    signer: Arc<Signer>,
    _dir: tempfile::TempDir,
}

fn signer() -> Arc<Signer> {
    let key = SigningKey::generate_ed25519().expect("key");
    let signature_pem = key.public_pem();
    Arc::new(Signer::fixed(key, signature_pem).expect("signer"))
}

/// A fresh redb database of the server's own backend (`crate::store`) in a temporary
/// directory, group commit on.
fn redb() -> Fixture<crate::store::Store> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _writer) = crate::store::Store::open(
        &dir.path().join(crate::store::FILE_NAME),
        crate::store::WriterConfig { max_batch: 64 },
    )
    .expect("open");
    Fixture {
        store,
        signer: signer(),
        _dir: dir,
    }
}

/// A fresh PostgreSQL database of the test cluster (`tests/common/postgres.rs`).
fn postgres() -> Fixture<crate::storage::postgres::Pg> {
    let url = pg_cluster::database();
    // Connecting blocks (the sync driver): not on a Tokio worker thread.
    let store = std::thread::spawn(move || {
        crate::storage::postgres::Pg::connect(&url, crate::storage::postgres::PoolConfig::default())
    })
    .join()
    .expect("connect thread")
    .expect("connect");
    Fixture {
        store,
        signer: signer(),
        _dir: tempfile::tempdir().expect("tempdir"),
    }
}

/// Every test body below, run once per backend: `on_redb::NAME` and `on_postgres::NAME`.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod on_redb {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::redb()).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::postgres()).await;
                }
            )*
        }
    };
}

on_every_backend!(
    offline_activations_count_against_the_same_limit_as_online_ones,
    edited_and_reused_offline_requests_are_refused_and_change_nothing,
    an_offline_deactivation_frees_the_activation_once_with_a_receipt,
    bad_offline_deactivations_are_refused_and_change_nothing,
    the_revocation_list_names_revoked_licenses_and_its_sequence_only_grows,
    activations_stop_at_the_licenses_limit,
    activating_the_same_fingerprint_again_uses_no_activation,
    leases_stop_at_the_seat_limit,
    an_expired_lease_frees_its_seat_at_exactly_its_ttl,
    a_renewal_replaces_the_token_and_a_repeat_gets_the_same_answer,
    a_released_lease_cannot_be_renewed,
    a_suspended_license_refuses_renewals,
    bulk_creation_is_all_or_nothing,
    deleting_a_license_removes_its_leases,
    deactivations_stop_at_the_limit_within_a_rolling_period,
    a_freed_activation_waits_out_the_cooldown,
    a_deactivated_machine_is_revoked_until_its_last_token_expires,
    a_trial_is_given_once_per_fingerprint_and_product,
);

/// The time every test starts at (any time: the rules read no clock).
const T0: u64 = 1_800_000_000;

impl<B: Backend> Fixture<B> {
    /// A new license of product `p` (made on first use) with these settings.
    async fn license(&self, settings: NewLicense) -> License {
        if admin::get_product(&self.store, "p").await.is_err() {
            admin::create_product(&self.store, "p".into(), None, T0)
                .await
                .expect("product");
        }
        admin::create_license(
            &self.store,
            &self.signer,
            NewLicense {
                product: "p".into(),
                ..settings
            },
            T0,
        )
        .await
        .expect("license")
    }

    async fn activate(
        &self,
        l: &License,
        fp: u8,
        now: u64,
    ) -> Result<client::MachineGrant, CoreError> {
        client::activate(
            &self.store,
            &self.signer,
            Activate {
                license_key: l.key.clone(),
                fingerprint: [fp; 32],
                name: None,
                platform: None,
                user: None,
                nonce: None,
            },
            now,
        )
        .await
        .map_err(code)
    }

    async fn obtain(
        &self,
        l: &License,
        ttl: Option<u64>,
        now: u64,
    ) -> Result<leases::Grant, CoreError> {
        leases::obtain(
            &self.store,
            &self.signer,
            Obtain {
                license_key: l.key.clone(),
                client_id: None,
                ttl,
            },
            now,
        )
        .await
        .map_err(code)
    }

    async fn renew(
        &self,
        token: &str,
        request_id: Option<&str>,
        now: u64,
    ) -> Result<leases::Grant, CoreError> {
        leases::renew(
            &self.store,
            &self.signer,
            Renew {
                lease_token: token.to_owned(),
                ttl: None,
                request_id: request_id.map(str::to_owned),
            },
            now,
        )
        .await
        .map_err(code)
    }
}

fn code(e: WithSupport) -> CoreError {
    e.error
}

async fn activations_stop_at_the_licenses_limit<B: Backend>(t: Fixture<B>) {
    let l = t
        .license(NewLicense {
            overrides: Overrides {
                max_machines: Some(Some(2)),
                ..Overrides::default()
            },
            ..Default::default()
        })
        .await;
    let first = t.activate(&l, 1, T0).await.expect("first machine");
    assert_eq!((first.created, first.remaining), (true, Some(1)));
    let second = t.activate(&l, 2, T0).await.expect("second machine");
    assert_eq!(second.remaining, Some(0));
    assert_eq!(
        t.activate(&l, 3, T0).await.map(|g| g.machine.id),
        Err(CoreError::ActivationLimitReached { max: 2 })
    );
    // Freeing one makes room again.
    client::deactivate(
        &t.store,
        &t.signer,
        MachineRef::Key {
            license_key: l.key.clone(),
            fingerprint: [1; 32],
        },
        T0,
    )
    .await
    .expect("deactivate");
    assert!(t.activate(&l, 3, T0).await.is_ok());
}

async fn activating_the_same_fingerprint_again_uses_no_activation<B: Backend>(t: Fixture<B>) {
    let l = t
        .license(NewLicense {
            overrides: Overrides {
                max_machines: Some(Some(1)),
                ..Overrides::default()
            },
            ..Default::default()
        })
        .await;
    let first = t.activate(&l, 7, T0).await.expect("activate");
    let again = t
        .activate(&l, 7, T0 + 5)
        .await
        .expect("the same machine again");
    assert!(first.created && !again.created);
    assert_eq!(again.machine.id, first.machine.id);
    assert_eq!(again.remaining, Some(0));
    let v = client::validate(&t.store, &l.key, Some([7; 32]), T0 + 5)
        .await
        .expect("validate");
    assert_eq!((v.machines_used, v.refusal), (1, None));
}

async fn leases_stop_at_the_seat_limit<B: Backend>(t: Fixture<B>) {
    let l = t
        .license(NewLicense {
            overrides: Overrides {
                max_leases: Some(Some(2)),
                ..Overrides::default()
            },
            ..Default::default()
        })
        .await;
    t.obtain(&l, None, T0).await.expect("first seat");
    t.obtain(&l, None, T0).await.expect("second seat");
    assert_eq!(
        t.obtain(&l, None, T0).await.map(|g| g.lease.id),
        Err(CoreError::LeaseLimitReached { max: 2 })
    );
}

async fn an_expired_lease_frees_its_seat_at_exactly_its_ttl<B: Backend>(t: Fixture<B>) {
    let l = t
        .license(NewLicense {
            overrides: Overrides {
                max_leases: Some(Some(1)),
                ..Overrides::default()
            },
            ..Default::default()
        })
        .await;
    let g = t.obtain(&l, Some(600), T0).await.expect("the seat");
    assert_eq!(g.lease.expires_at, T0 + 600);
    assert_eq!(
        t.obtain(&l, None, T0 + 599).await.map(|g| g.lease.id),
        Err(CoreError::LeaseLimitReached { max: 1 }),
        "one second before its TTL the lease still holds the seat"
    );
    assert!(
        t.obtain(&l, None, T0 + 600).await.is_ok(),
        "at its TTL the seat is free"
    );
    assert_eq!(
        leases::validate(&t.store, &g.token, T0 + 600)
            .await
            .map_err(code)
            .map(|l| l.id),
        Err(CoreError::LeaseExpired)
    );
}

async fn a_renewal_replaces_the_token_and_a_repeat_gets_the_same_answer<B: Backend>(t: Fixture<B>) {
    let l = t.license(NewLicense::default()).await;
    let g = t.obtain(&l, None, T0).await.expect("obtain");
    let r = t.renew(&g.token, Some("r1"), T0 + 10).await.expect("renew");
    assert_ne!(r.token, g.token);
    assert_eq!(r.lease.renewals, 1);
    assert_eq!(
        leases::validate(&t.store, &g.token, T0 + 11)
            .await
            .map_err(code)
            .map(|l| l.id),
        Err(CoreError::LeaseInvalid),
        "the replaced token is refused online"
    );
    assert!(leases::validate(&t.store, &r.token, T0 + 11).await.is_ok());
    // The request_id rule: the same renewal again (its answer was lost) gets the same
    // token; without the id, the old token is refused.
    let again = t
        .renew(&g.token, Some("r1"), T0 + 12)
        .await
        .expect("repeat");
    assert_eq!((again.token, again.lease.renewals), (r.token.clone(), 1));
    assert_eq!(
        t.renew(&g.token, None, T0 + 12).await.map(|g| g.token),
        Err(CoreError::LeaseInvalid)
    );
    assert_eq!(
        t.renew(&g.token, Some("r2"), T0 + 12)
            .await
            .map(|g| g.token),
        Err(CoreError::LeaseInvalid)
    );
}

async fn a_released_lease_cannot_be_renewed<B: Backend>(t: Fixture<B>) {
    let l = t
        .license(NewLicense {
            overrides: Overrides {
                max_leases: Some(Some(1)),
                ..Overrides::default()
            },
            ..Default::default()
        })
        .await;
    let g = t.obtain(&l, None, T0).await.expect("obtain");
    leases::release(&t.store, &g.token, T0 + 1)
        .await
        .expect("release");
    assert_eq!(
        t.renew(&g.token, None, T0 + 2).await.map(|g| g.token),
        Err(CoreError::LeaseReleased)
    );
    assert!(
        t.obtain(&l, None, T0 + 2).await.is_ok(),
        "the released seat is free at once"
    );
}

async fn a_suspended_license_refuses_renewals<B: Backend>(t: Fixture<B>) {
    let l = t.license(NewLicense::default()).await;
    let g = t.obtain(&l, None, T0).await.expect("obtain");
    admin::suspend(&t.store, &l.id, T0 + 1)
        .await
        .expect("suspend");
    assert_eq!(
        t.renew(&g.token, None, T0 + 2).await.map(|g| g.token),
        Err(CoreError::KeySuspended)
    );
    admin::reinstate(&t.store, &l.id, T0 + 3)
        .await
        .expect("reinstate");
    assert!(t.renew(&g.token, None, T0 + 4).await.is_ok());
}

async fn bulk_creation_is_all_or_nothing<B: Backend>(t: Fixture<B>) {
    t.license(NewLicense::default()).await;
    let before = admin::list_licenses(&t.store, admin::LicenseFilter::default())
        .await
        .expect("list")
        .items
        .len();
    let good = NewLicense {
        product: "p".into(),
        ..Default::default()
    };
    for bad in [
        // A product that does not exist: found only inside the write.
        NewLicense {
            product: "nope".into(),
            ..Default::default()
        },
        // A setting out of range: found before the write.
        NewLicense {
            product: "p".into(),
            overrides: Overrides {
                lease_ttl: Some(0),
                ..Overrides::default()
            },
            ..Default::default()
        },
    ] {
        let r = admin::bulk_create(&t.store, &t.signer, vec![good.clone(), bad], T0).await;
        assert!(
            matches!(&r, Err(CoreError::BadRequest(m)) if m.starts_with("licenses[1]: ")),
            "{r:?}"
        );
        let after = admin::list_licenses(&t.store, admin::LicenseFilter::default())
            .await
            .expect("list")
            .items
            .len();
        assert_eq!(after, before, "nothing of a refused bulk request is stored");
    }
    let made = admin::bulk_create(&t.store, &t.signer, vec![good.clone(), good], T0)
        .await
        .expect("bulk");
    assert_eq!(made.len(), 2);
}

async fn deleting_a_license_removes_its_leases<B: Backend>(t: Fixture<B>) {
    let l = t.license(NewLicense::default()).await;
    let live = t.obtain(&l, None, T0).await.expect("obtain");
    let released = t.obtain(&l, None, T0).await.expect("obtain");
    leases::release(&t.store, &released.token, T0 + 1)
        .await
        .expect("release");
    admin::delete_license(&t.store, &l.id, T0 + 2)
        .await
        .expect("delete");
    let ids = [live.lease.id.clone(), released.lease.id.clone()];
    let left = t
        .store
        .read(move |tx| {
            ids.iter()
                .map(|id| tx.lease(&crate::core::id_bytes(id).ok_or(CoreError::Internal)?))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .expect("read");
    assert_eq!(left, vec![None, None], "lease records left");
    assert_eq!(
        t.renew(&live.token, None, T0 + 3).await.map(|g| g.token),
        Err(CoreError::LeaseInvalid)
    );
    assert!(matches!(
        leases::list(&t.store, &l.id, None, T0 + 3).await,
        Err(CoreError::NotFound(_))
    ));
}

/// An offline request for license `l` from the machine with fingerprint `[fp; 32]`.
fn offline_request(l: &License, fp: u8) -> licet::offline::Request {
    licet::offline::Request::new(&l.key, &[fp; 32], "air-gapped", T0).expect("request")
}

async fn offline_activations_count_against_the_same_limit_as_online_ones<B: Backend>(
    t: Fixture<B>,
) {
    let l = t
        .license(NewLicense {
            overrides: Overrides {
                max_machines: Some(Some(2)),
                ..Overrides::default()
            },
            ..Default::default()
        })
        .await;
    t.activate(&l, 1, T0).await.expect("one machine online");
    let r = offline_request(&l, 2);
    let g = client::activate_offline(&t.store, &t.signer, &r.to_json(), T0)
        .await
        .expect("a second machine offline");
    assert_eq!((g.created, g.remaining), (true, Some(0)));
    // The request's nonce names the machine, and the token.
    assert_eq!(g.machine.id, r.nonce);
    // A replay of the same request gets the same machine, using no activation.
    let again = client::activate_offline(&t.store, &t.signer, &r.to_json(), T0 + 9)
        .await
        .expect("the same request again");
    assert_eq!(
        (again.created, again.machine.id),
        (false, g.machine.id.clone())
    );
    // The limit is the one online activation applies: a third machine, offline or online,
    // is refused.
    let third = offline_request(&l, 3);
    assert_eq!(
        client::activate_offline(&t.store, &t.signer, &third.to_json(), T0)
            .await
            .map(|g| g.machine.id)
            .map_err(code),
        Err(CoreError::ActivationLimitReached { max: 2 })
    );
    assert_eq!(
        t.activate(&l, 4, T0).await.map(|g| g.machine.id),
        Err(CoreError::ActivationLimitReached { max: 2 })
    );
}

async fn edited_and_reused_offline_requests_are_refused_and_change_nothing<B: Backend>(
    t: Fixture<B>,
) {
    let l = t
        .license(NewLicense {
            overrides: Overrides {
                max_machines: Some(Some(5)),
                ..Overrides::default()
            },
            ..Default::default()
        })
        .await;
    let r = offline_request(&l, 1);
    client::activate_offline(&t.store, &t.signer, &r.to_json(), T0)
        .await
        .expect("activate");
    // Another fingerprint under the same digest: edited.
    let mut edited = r.clone();
    edited.fingerprint = licet_verifier::hex(&[2; 32]);
    let t = &t;
    let refused = |text: String| async move {
        client::activate_offline(&t.store, &t.signer, &text, T0)
            .await
            .map(|g| g.machine.id)
            .map_err(code)
    };
    assert_eq!(
        refused(edited.to_json()).await,
        Err(CoreError::RequestTampered)
    );
    // The same, with the digest made again: the nonce already names another machine.
    edited.digest = edited.digest_of();
    assert_eq!(refused(edited.to_json()).await, Err(CoreError::NonceReused));
    assert!(matches!(
        refused("{\"licet_request\": 1}".into()).await,
        Err(CoreError::RequestInvalid(_))
    ));
    let machines = t
        .store
        .read({
            let id = crate::core::id_bytes(&l.id).expect("id");
            move |tx| tx.machines(&id)
        })
        .await
        .expect("machines");
    assert_eq!(machines.len(), 1, "a refused request stored nothing");
}

async fn the_revocation_list_names_revoked_licenses_and_its_sequence_only_grows<B: Backend>(
    t: Fixture<B>,
) {
    use crate::core::revocations;
    let a = t.license(NewLicense::default()).await;
    let b = t.license(NewLicense::default()).await;
    let (empty, first) = revocations::current(&t.store, &t.signer, T0)
        .await
        .expect("list");
    let list = licet_verifier::RevocationList::verify_pem(&t.signer.keys().keyring, &empty, None)
        .expect("a list the server's own keys verify");
    assert!(list.licenses.is_empty());
    // Unchanged: the same signed list, the same sequence.
    let (same, again) = revocations::current(&t.store, &t.signer, T0 + 10)
        .await
        .expect("list");
    assert_eq!((&same, again), (&empty, first));

    admin::revoke(&t.store, &a.id, T0 + 20)
        .await
        .expect("revoke");
    let (pem, second) = revocations::current(&t.store, &t.signer, T0 + 30)
        .await
        .expect("list");
    assert!(second > first, "a new list gets a higher sequence");
    let list =
        licet_verifier::RevocationList::verify_pem(&t.signer.keys().keyring, &pem, Some(first))
            .expect("newer than the last one seen");
    let revoked = |l: &License| {
        let claims = t
            .signer
            .keys()
            .keyring
            .verify(
                &l.key,
                &licet_verifier::Expectations::new(licet_verifier::Kind::License, "p", T0 + 30),
            )
            .expect("license key")
            .claims;
        list.check(&claims).map_err(|e| e.code())
    };
    assert_eq!(revoked(&a), Err("LICENSE_REVOKED"));
    assert_eq!(revoked(&b), Ok(()));
    // The older list is refused by an application that saw the newer one.
    assert_eq!(
        licet_verifier::RevocationList::verify_pem(&t.signer.keys().keyring, &empty, Some(second))
            .map(|l| l.sequence)
            .map_err(|e| e.code()),
        Err("REVOCATIONS_STALE")
    );
    // Near its next update the list is signed again, with the next sequence.
    let (_, renewed) =
        revocations::current(&t.store, &t.signer, T0 + 30 + revocations::NEXT_UPDATE)
            .await
            .expect("list");
    assert!(renewed > second);
}

/// A deactivation request for the machine `g` activated on `l`.
fn deactivation(l: &License, g: &client::MachineGrant, at: u64) -> String {
    licet::offline::Deactivation::new(&l.key, &g.token, at)
        .expect("request")
        .to_json()
}

async fn an_offline_deactivation_frees_the_activation_once_with_a_receipt<B: Backend>(
    t: Fixture<B>,
) {
    let l = t
        .license(NewLicense {
            overrides: Overrides {
                max_machines: Some(Some(1)),
                ..Overrides::default()
            },
            ..Default::default()
        })
        .await;
    let g = t.activate(&l, 1, T0).await.expect("activate");
    let req = deactivation(&l, &g, T0 + 5);
    // Long after the machine token expired: it is handed in, not used.
    let late = T0 + 400 * 86_400;
    let r = client::deactivate_offline(&t.store, &t.signer, &req, late)
        .await
        .expect("released");
    assert_eq!(r.machine.id, g.machine.id);
    let receipt = licet_verifier::Receipt::verify_pem(&t.signer.keys().keyring, &r.receipt)
        .expect("a receipt the vendor's keyring verifies");
    let parsed = licet::offline::Deactivation::parse(&req).expect("parse");
    assert_eq!(
        receipt.request_digest,
        parsed.digest_bytes().expect("digest")
    );
    assert_eq!(licet_verifier::hex(&receipt.machine_id), g.machine.id);
    assert_eq!(receipt.fingerprint, [1; 32]);
    assert_eq!(receipt.issued_at, late);
    // The activation is free: another machine takes it.
    t.activate(&l, 2, late).await.expect("the freed activation");
    // The same request again changes nothing.
    assert_eq!(
        client::deactivate_offline(&t.store, &t.signer, &req, late + 1)
            .await
            .map(|r| r.machine.id)
            .map_err(code),
        Err(CoreError::RequestReplayed { at: late })
    );
    let machines = t
        .store
        .read(move |tx| tx.machines(&crate::core::id_bytes(&l.id).expect("id")))
        .await
        .expect("machines");
    assert_eq!(machines.len(), 1);
    // A damaged record of answered requests is an error, not an empty record that would
    // answer every earlier request again.
    t.store
        .write(|tx| tx.put_meta(client::OFFLINE_DEACTIVATIONS, b"{damaged"))
        .await
        .expect("damage");
    assert_eq!(
        client::deactivate_offline(&t.store, &t.signer, &req, late + 2)
            .await
            .map(|r| r.machine.id)
            .map_err(code),
        Err(CoreError::Internal)
    );
}

async fn bad_offline_deactivations_are_refused_and_change_nothing<B: Backend>(t: Fixture<B>) {
    let a = t.license(NewLicense::default()).await;
    let b = t.license(NewLicense::default()).await;
    let ga = t.activate(&a, 1, T0).await.expect("activate");
    let gb = t.activate(&b, 2, T0).await.expect("activate");
    let t = &t;
    let refused = |text: String| async move {
        client::deactivate_offline(&t.store, &t.signer, &text, T0 + 10)
            .await
            .map(|r| r.machine.id)
            .map_err(code)
    };
    // The machine of license b, presented under license a's key.
    let mixed = licet::offline::Deactivation::new(&a.key, &gb.token, T0).expect("request");
    assert_eq!(
        refused(mixed.to_json()).await,
        Err(CoreError::MachineLicenseMismatch)
    );
    // Edited after it was made.
    let mut edited = licet::offline::Deactivation::new(&a.key, &ga.token, T0).expect("request");
    edited.created_at += 1;
    assert_eq!(
        refused(edited.to_json()).await,
        Err(CoreError::RequestTampered)
    );
    // A token this server did not sign.
    let stranger = SigningKey::generate_ed25519().expect("key");
    let claims = licet_verifier::decode_unverified(&ga.token)
        .expect("token")
        .claims;
    let forged = licet::issue(claims, &stranger).expect("sign").text();
    let forged = licet::offline::Deactivation::new(&a.key, &forged, T0).expect("request");
    assert!(matches!(
        refused(forged.to_json()).await,
        Err(CoreError::RequestInvalid(m)) if m.contains("KEY_UNKNOWN")
    ));
    // A token of an earlier activation of the same machine (deactivated and activated
    // again since): it cannot free the new activation.
    client::deactivate(
        &t.store,
        &t.signer,
        MachineRef::Token {
            token: ga.token.clone(),
            fingerprint: None,
        },
        T0 + 1,
    )
    .await
    .expect("online deactivation");
    let again = t.activate(&a, 1, T0 + 2).await.expect("activate again");
    assert_ne!(again.machine.id, ga.machine.id);
    let stale = licet::offline::Deactivation::new(&a.key, &ga.token, T0 + 3).expect("request");
    assert_eq!(
        refused(stale.to_json()).await,
        Err(CoreError::MachineNotFound)
    );
    // Nothing changed: both licenses keep their machine, and no request was recorded.
    for (l, id) in [(&a, &again.machine.id), (&b, &gb.machine.id)] {
        let lid = crate::core::id_bytes(&l.id).expect("id");
        let m = t
            .store
            .read(move |tx| tx.machines(&lid))
            .await
            .expect("machines");
        assert_eq!(m.iter().map(|m| &m.id).collect::<Vec<_>>(), vec![id]);
    }
    let seen = t
        .store
        .read(|tx| tx.meta(client::OFFLINE_DEACTIVATIONS))
        .await
        .expect("meta");
    assert_eq!(seen, None);
}

impl<B: Backend> Fixture<B> {
    async fn deactivate(&self, l: &License, fp: u8, now: u64) -> Result<(), CoreError> {
        client::deactivate(
            &self.store,
            &self.signer,
            MachineRef::Key {
                license_key: l.key.clone(),
                fingerprint: [fp; 32],
            },
            now,
        )
        .await
        .map(|_| ())
        .map_err(code)
    }

    async fn machine_ids(&self, l: &License) -> Vec<String> {
        let id = crate::core::id_bytes(&l.id).expect("id");
        let ms = self
            .store
            .read(move |tx| tx.machines(&id))
            .await
            .expect("machines");
        ms.into_iter().map(|m| m.id).collect()
    }
}

/// A license of one machine with these deactivation terms.
fn cycling(limit: Option<u64>, period: u64, cooldown: u64) -> NewLicense {
    NewLicense {
        overrides: Overrides {
            max_machines: Some(Some(1)),
            deactivation_limit: Some(limit),
            deactivation_period: Some(period),
            activation_cooldown: Some(cooldown),
            ..Overrides::default()
        },
        ..Default::default()
    }
}

async fn deactivations_stop_at_the_limit_within_a_rolling_period<B: Backend>(t: Fixture<B>) {
    let l = t.license(cycling(Some(2), 1000, 0)).await;
    // Two deactivations, one online and one offline: both count.
    t.activate(&l, 1, T0).await.expect("activate");
    t.deactivate(&l, 1, T0).await.expect("first");
    let g = t.activate(&l, 2, T0 + 10).await.expect("activate");
    client::deactivate_offline(&t.store, &t.signer, &deactivation(&l, &g, T0 + 10), T0 + 10)
        .await
        .expect("second, offline");
    let third = t.activate(&l, 3, T0 + 20).await.expect("activate");
    let refused = Err(CoreError::DeactivationLimitReached {
        limit: 2,
        period: 1000,
        retry_at: Some(T0 + 1000),
    });
    assert_eq!(t.deactivate(&l, 3, T0 + 20).await, refused);
    // Offline too, and the request is not spent: it is answered once it is possible.
    let req = deactivation(&l, &third, T0 + 20);
    assert_eq!(
        client::deactivate_offline(&t.store, &t.signer, &req, T0 + 999)
            .await
            .map(|_| ())
            .map_err(code),
        refused
    );
    // Nothing changed.
    assert_eq!(t.machine_ids(&l).await, vec![third.machine.id.clone()]);
    // The vendor's admin is not limited, and its deactivations do not count.
    admin::deactivate_machine(&t.store, &l.id, &third.machine.id, T0 + 30)
        .await
        .expect("admin");
    t.activate(&l, 3, T0 + 40).await.expect("activate");
    assert_eq!(t.deactivate(&l, 3, T0 + 999).await, refused);
    // The window rolls: at exactly the first one's time + period, one more is possible.
    t.deactivate(&l, 3, T0 + 1000)
        .await
        .expect("the window rolled");
    assert!(t.machine_ids(&l).await.is_empty());
    // Limit 0: the customer may never deactivate.
    let none = t.license(cycling(Some(0), 1000, 0)).await;
    t.activate(&none, 1, T0).await.expect("activate");
    assert_eq!(
        t.deactivate(&none, 1, T0).await,
        Err(CoreError::DeactivationLimitReached {
            limit: 0,
            period: 1000,
            retry_at: None
        })
    );
}

async fn a_freed_activation_waits_out_the_cooldown<B: Backend>(t: Fixture<B>) {
    let l = t.license(cycling(None, 1000, 100)).await;
    t.activate(&l, 1, T0).await.expect("activate");
    t.deactivate(&l, 1, T0 + 5).await.expect("deactivate");
    let refused = Err(CoreError::ActivationCooldown { retry_at: T0 + 105 });
    assert_eq!(t.activate(&l, 2, T0 + 6).await.map(|_| ()), refused);
    // The same machine too: the activation is what cools down, not the fingerprint.
    assert_eq!(t.activate(&l, 1, T0 + 104).await.map(|_| ()), refused);
    assert!(t.machine_ids(&l).await.is_empty(), "nothing changed");
    t.activate(&l, 2, T0 + 105).await.expect("cooled down");
    // An activation never used is free at once; only the freed one waits.
    let two = t
        .license(NewLicense {
            overrides: Overrides {
                max_machines: Some(Some(2)),
                activation_cooldown: Some(100),
                ..Overrides::default()
            },
            ..Default::default()
        })
        .await;
    t.activate(&two, 1, T0).await.expect("activate");
    t.deactivate(&two, 1, T0).await.expect("deactivate");
    t.activate(&two, 2, T0 + 1)
        .await
        .expect("the activation never used");
    assert_eq!(
        t.activate(&two, 3, T0 + 2).await.map(|_| ()),
        Err(CoreError::ActivationCooldown { retry_at: T0 + 100 })
    );
    // The vendor's admin frees one without a cooldown.
    let m = t.machine_ids(&two).await;
    admin::deactivate_machine(&t.store, &two.id, &m[0], T0 + 3)
        .await
        .expect("admin");
    t.activate(&two, 3, T0 + 4)
        .await
        .expect("freed by the vendor");
}

async fn a_deactivated_machine_is_revoked_until_its_last_token_expires<B: Backend>(t: Fixture<B>) {
    use crate::core::revocations;
    let l = t
        .license(NewLicense {
            overrides: Overrides {
                check_in_interval: Some(500),
                ..Overrides::default()
            },
            ..Default::default()
        })
        .await;
    let (_, first) = revocations::current(&t.store, &t.signer, T0)
        .await
        .expect("list");
    let kept = t.activate(&l, 1, T0).await.expect("activate");
    let gone = t.activate(&l, 2, T0).await.expect("activate");
    // Checked in later: its last token lasts until T0 + 100 + 500.
    client::check_in(
        &t.store,
        &t.signer,
        MachineRef::Key {
            license_key: l.key.clone(),
            fingerprint: [2; 32],
        },
        T0 + 100,
    )
    .await
    .expect("check in");
    t.deactivate(&l, 2, T0 + 100).await.expect("deactivate");
    let keyring = &t.signer.keys().keyring;
    let check = |pem: &str, g: &client::MachineGrant, at: u64| {
        let list = licet_verifier::RevocationList::verify_pem(keyring, pem, None).expect("list");
        let claims = keyring
            .verify(
                &g.token,
                &licet_verifier::Expectations::new(licet_verifier::Kind::Machine, "p", at),
            )
            .expect("machine token")
            .claims;
        list.check(&claims).map_err(|e| e.code())
    };
    let (pem, second) = revocations::current(&t.store, &t.signer, T0 + 101)
        .await
        .expect("list");
    assert!(
        second > first,
        "a changed list is signed with a higher sequence"
    );
    assert_eq!(check(&pem, &gone, T0 + 101), Err("MACHINE_REVOKED"));
    assert_eq!(check(&pem, &kept, T0 + 101), Ok(()));
    // Online, the machine is gone.
    let v = client::validate(&t.store, &l.key, Some([2; 32]), T0 + 101)
        .await
        .expect("validate");
    assert_eq!(v.refusal, Some("MACHINE_NOT_FOUND"));
    // Listed until the last token it could hold has expired, then no longer.
    let (pem, same) = revocations::current(&t.store, &t.signer, T0 + 599)
        .await
        .expect("list");
    assert_eq!(same, second);
    assert_eq!(check(&pem, &gone, T0 + 101), Err("MACHINE_REVOKED"));
    let (pem, third) = revocations::current(&t.store, &t.signer, T0 + 600)
        .await
        .expect("list");
    assert!(third > second);
    let list =
        licet_verifier::RevocationList::verify_pem(keyring, &pem, Some(second)).expect("newer");
    assert!(list.machines.is_empty());
    // An offline activation request whose machine was deactivated cannot make it again
    // (its id was revoked).
    let req = offline_request(&l, 3);
    let made = client::activate_offline(&t.store, &t.signer, &req.to_json(), T0 + 700)
        .await
        .expect("offline activation");
    client::deactivate_offline(
        &t.store,
        &t.signer,
        &deactivation(&l, &made, T0 + 701),
        T0 + 701,
    )
    .await
    .expect("offline deactivation");
    assert_eq!(
        client::activate_offline(&t.store, &t.signer, &req.to_json(), T0 + 702)
            .await
            .map(|_| ())
            .map_err(code),
        Err(CoreError::NonceReused)
    );
}

/// Product `name` offering 30-day trials (its `trial-30` policy), or none when `offer` is
/// false (the policy is there, the product names none).
async fn trial_product<B: Backend>(t: &Fixture<B>, name: &str, offer: bool) {
    admin::create_product(&t.store, name.into(), None, T0)
        .await
        .expect("product");
    crate::core::policies::create_policy(
        &t.store,
        name.into(),
        "trial-30".into(),
        crate::model::Terms {
            license_type: Some("trial".into()),
            duration: Some(30 * 86_400),
            features: vec!["pro".into()],
            ..crate::model::Terms::default()
        },
        T0,
    )
    .await
    .expect("policy");
    if offer {
        admin::update_product(
            &t.store,
            name.into(),
            None,
            T0,
            Some(Some("trial-30".into())),
        )
        .await
        .expect("trial policy");
    }
}

async fn trial<B: Backend>(
    t: &Fixture<B>,
    product: &str,
    fp: u8,
    now: u64,
) -> Result<crate::core::trials::TrialGrant, CoreError> {
    crate::core::trials::start_trial(&t.store, &t.signer, product.into(), [fp; 32], now)
        .await
        .map_err(code)
}

/// The trial rule: one trial license per (fingerprint, product), for ever. A second request
/// answers the same license (a fresh token), also when 16 ask at once; another fingerprint
/// or product has a trial of its own; a product naming no trial policy gives none.
async fn a_trial_is_given_once_per_fingerprint_and_product<B: Backend>(t: Fixture<B>) {
    trial_product(&t, "p", true).await;
    trial_product(&t, "q", true).await;
    trial_product(&t, "closed", false).await;
    let e = trial(&t, "closed", 1, T0).await.expect_err("no trials");
    assert!(
        matches!(&e, CoreError::TrialsNotOffered { product } if product == "closed"),
        "{e:?}"
    );
    assert_eq!(e.code(), "TRIALS_NOT_OFFERED");

    let first = trial(&t, "p", 1, T0).await.expect("the trial");
    assert!(first.new);
    let l = &first.grant.license;
    assert_eq!(
        (l.license_type.as_deref(), l.policy.as_deref()),
        (Some("trial"), Some("trial-30"))
    );
    assert_eq!(l.expires_at, Some(T0 + 30 * 86_400));
    assert_eq!(l.max_machines, Some(1), "bound to the one machine");
    assert_eq!(first.grant.machine.fingerprint, "01".repeat(32));

    let second = trial(&t, "p", 1, T0 + 86_400).await.expect("again");
    assert!(!second.new, "the same trial, not a fresh one");
    assert_eq!(second.grant.license.id, l.id);
    assert_eq!(second.grant.license.key, l.key);
    assert_eq!(
        second.grant.license.expires_at, l.expires_at,
        "not extended"
    );
    assert_ne!(second.grant.token, first.grant.token, "a fresh token");

    // Asked at once, by 16 requests of a new fingerprint: one trial, made once.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (store, signer) = (t.store.clone(), Arc::clone(&t.signer));
        set.spawn(async move {
            crate::core::trials::start_trial(&store, &signer, "p".into(), [2; 32], T0)
                .await
                .map_err(code)
        });
    }
    let mut answers = Vec::new();
    while let Some(a) = set.join_next().await {
        answers.push(a.expect("task").expect("a trial"));
    }
    assert_eq!(answers.iter().filter(|a| a.new).count(), 1, "made once");
    let ids: std::collections::BTreeSet<&str> = answers
        .iter()
        .map(|a| a.grant.license.id.as_str())
        .collect();
    assert_eq!(ids.len(), 1, "one license for all 16: {ids:?}");
    assert!(!ids.contains(l.id.as_str()), "not fingerprint 1's");

    // The same fingerprint on another product: that product's own trial.
    let elsewhere = trial(&t, "q", 1, T0).await.expect("q's trial");
    assert!(elsewhere.new);
    assert_ne!(elsewhere.grant.license.id, l.id);

    // Licenses made: one per (fingerprint, product), nothing for the repeats.
    let count = |product: &str| {
        let f = admin::LicenseFilter {
            product: Some(product.into()),
            ..admin::LicenseFilter::default()
        };
        let store = t.store.clone();
        async move {
            admin::list_licenses(&store, f)
                .await
                .expect("list")
                .items
                .len()
        }
    };
    assert_eq!(
        (count("p").await, count("q").await, count("closed").await),
        (2, 1, 0)
    );
}

/// A PostgreSQL backend of one connection, whose one batch runner is held by a first write
/// until `go` is sent: the writes queued meanwhile then share one batch.
async fn held_postgres_batch() -> (
    crate::storage::postgres::Pg,
    std::sync::mpsc::Sender<()>,
    tokio::task::JoinHandle<Result<(), CoreError>>,
) {
    use std::time::Duration;
    let url = pg_cluster::database();
    let pg = std::thread::spawn(move || {
        crate::storage::postgres::Pg::connect(
            &url,
            crate::storage::postgres::PoolConfig {
                max_connections: 1,
                ..Default::default()
            },
        )
    })
    .join()
    .expect("connect thread")
    .expect("connect");
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let wait = std::sync::Mutex::new(wait);
    let first = tokio::spawn({
        let pg = pg.clone();
        async move {
            pg.write(move |tx| {
                // Held until the others are queued (or 30 s, if the test fails first).
                let _ = wait
                    .lock()
                    .expect("lock")
                    .recv_timeout(Duration::from_secs(30));
                tx.put_meta("first", b"1")
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    (pg, go, first)
}

/// Which of `keys` are stored as meta settings.
async fn stored_meta(
    pg: &crate::storage::postgres::Pg,
    keys: &'static [&'static str],
) -> Vec<bool> {
    pg.read(|tx| {
        keys.iter()
            .map(|k| tx.meta(k).map(|v| v.is_some()))
            .collect::<Result<Vec<bool>, CoreError>>()
    })
    .await
    .expect("read")
}

/// PostgreSQL's group commit: a job whose statement fails aborts the batch's transaction,
/// so every job of the batch runs again alone. The others are committed (one that failed
/// only inside the batch too) and nothing of the failing one is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_in_a_postgres_batch_leaves_the_others_committed() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    let (pg, go, first) = held_postgres_batch().await;
    let put = |key: &'static str| {
        let pg = pg.clone();
        tokio::spawn(async move { pg.write(move |tx| tx.put_meta(key, b"1")).await })
    };
    // The jobs are queued in this order (a pause between spawns: spawned tasks start in
    // any order), so that the batch reaches the flaky job before the failing one aborts
    // it: run in the batch, then alone, whatever the machine's load.
    let queued = || tokio::time::sleep(Duration::from_millis(50));
    let before = put("before");
    queued().await;
    // Fails inside the batch once (a NUL cannot be stored in a text column), then not.
    let runs = Arc::new(AtomicU32::new(0));
    let flaky = tokio::spawn({
        let (pg, runs) = (pg.clone(), Arc::clone(&runs));
        async move {
            pg.write(move |tx| {
                tx.put_meta("flaky", b"1")?;
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    tx.put_meta("bad\0key", b"1")?;
                }
                Ok(())
            })
            .await
        }
    });
    queued().await;
    // Fails every time: nothing of it may be stored.
    let failing = tokio::spawn({
        let pg = pg.clone();
        async move {
            pg.write(move |tx| {
                tx.put_meta("failing", b"1")?;
                tx.put_meta("bad\0key", b"1")
            })
            .await
        }
    });
    queued().await;
    let after = put("after");
    tokio::time::sleep(Duration::from_millis(300)).await;
    go.send(()).expect("go");
    for (name, job) in [
        ("first", first),
        ("before", before),
        ("flaky", flaky),
        ("after", after),
    ] {
        assert_eq!(job.await.expect("join"), Ok(()), "{name}");
    }
    assert_eq!(failing.await.expect("join"), Err(CoreError::Internal));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the flaky job ran in the batch, then alone"
    );
    let stored = stored_meta(&pg, &["first", "before", "flaky", "after", "failing"]).await;
    assert_eq!(stored, [true, true, true, true, false]);
}

/// A job that panics in a PostgreSQL batch: the others of the batch are run again alone
/// and committed; the panicking one is answered `INTERNAL` and leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_in_a_postgres_batch_leaves_the_others_committed() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    let (pg, go, first) = held_postgres_batch().await;
    let put = |key: &'static str| {
        let pg = pg.clone();
        tokio::spawn(async move { pg.write(move |tx| tx.put_meta(key, b"1")).await })
    };
    let before = put("before");
    // Counted: the panicking job runs in the batch, which its panic aborts, then alone:
    // twice, in whatever order the jobs were queued. (Once: no batch was ever made, and
    // the test would prove nothing.)
    let runs = Arc::new(AtomicU32::new(0));
    let panics = tokio::spawn({
        let (pg, runs) = (pg.clone(), Arc::clone(&runs));
        async move {
            pg.write(move |tx| -> Result<(), CoreError> {
                runs.fetch_add(1, Ordering::SeqCst);
                tx.put_meta("panics", b"1")?;
                panic!("a write job panicked on purpose (test)")
            })
            .await
        }
    });
    let after = put("after");
    tokio::time::sleep(Duration::from_millis(300)).await;
    go.send(()).expect("go");
    for (name, job) in [("first", first), ("before", before), ("after", after)] {
        assert_eq!(job.await.expect("join"), Ok(()), "{name}");
    }
    assert_eq!(panics.await.expect("join"), Err(CoreError::Internal));
    let stored = stored_meta(&pg, &["first", "before", "after", "panics"]).await;
    assert_eq!(stored, [true, true, true, false]);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the panicking job ran in the batch it aborted, then alone"
    );
}
