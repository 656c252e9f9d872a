//! Machine and lease tokens from the server carry the claims of their license that an
//! application reads (docs/api.md, docs/token-format.md §7.5), as `licet mint` makes them.

mod common;

use common::{TestServer, fp};
use reqwest::Method;
use serde_json::json;

use licet_verifier::{Claims, Expectations, Kind};

fn inherited(c: &Claims) -> impl PartialEq + std::fmt::Debug + '_ {
    (&c.product, &c.customer, &c.issuer, &c.features, &c.metadata)
}

#[tokio::test]
async fn machine_and_lease_tokens_carry_the_license_claims() {
    let s = TestServer::start().await;
    let expires = s.now() + 30 * 86_400;
    let l = s
        .license(
            "acme-studio-pro",
            json!({
                "type": "subscription",
                "features": ["export-pdf", "cloud-sync"],
                "customer": "Globex Corp",
                "metadata": {"order": "A-1042", "region": "eu"},
                "expires_at": licet::json::rfc3339(expires),
                "max_leases": 2,
            }),
        )
        .await;
    let key = l["license_key"].as_str().expect("key").to_owned();
    let ring = s.keyring().await;
    let expect = |kind| Expectations::new(kind, "acme-studio-pro", s.now());
    let license = ring
        .verify(&key, &expect(Kind::License))
        .expect("license")
        .claims;
    assert_eq!(
        license.metadata.len(),
        2,
        "the license key itself has the metadata"
    );

    let (st, a) = s
        .post(
            "/v1/activate",
            json!({"license_key": key, "fingerprint": fp(1)}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    let machine = ring
        .verify(
            a["machine_token"].as_str().expect("token"),
            &expect(Kind::Machine),
        )
        .expect("machine token")
        .claims;
    let (st, o) = s
        .post(
            "/v1/leases/obtain",
            json!({"license_key": key, "client_id": "ws-1"}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let lease = ring
        .verify(
            o["lease_token"].as_str().expect("token"),
            &expect(Kind::Lease),
        )
        .expect("lease token")
        .claims;
    for (kind, c) in [("machine", &machine), ("lease", &lease)] {
        assert_eq!(inherited(c), inherited(&license), "{kind} token");
        assert!(
            c.expires_at <= license.expires_at,
            "{kind} token outlives its license"
        );
    }

    // Tokens signed after a change carry the record's current claims.
    let id = l["id"].as_str().expect("id");
    let (st, p) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{id}"),
            Some(json!({"metadata": {"order": "A-2000"}})),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    let (st, o) = s
        .post("/v1/leases/obtain", json!({"license_key": key}))
        .await;
    assert_eq!(st, 201, "{o}");
    let lease = ring
        .verify(
            o["lease_token"].as_str().expect("token"),
            &expect(Kind::Lease),
        )
        .expect("lease token")
        .claims;
    assert_eq!(
        lease.metadata.get("order").map(String::as_str),
        Some("A-2000")
    );
    assert_eq!(lease.metadata.len(), 1);
}
