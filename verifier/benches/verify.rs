//! How long one verify takes, and how big the token is, for licet and its neighbours.
//!
//! `cargo bench -p licet-verifier` runs it; `docs/benchmarks.md` has the numbers and the
//! machine. Every token carries the claims of `licet_test_vectors::full_license()` (the
//! spec's compactness example), signed with the committed Ed25519 and RSA-2048 test keys
//! (the JWT and the PASETO with the same Ed25519 key). The bare signature checks run over
//! exactly the bytes and signature inside the licet tokens: their time is the floor that
//! the format's own work (base32, CBOR, claim checks) is measured against.
//!
//! The sizes are printed to stderr before the timings.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use licet_keys::SigningKey;
use licet_test_vectors::{NOW, full_license};
use licet_verifier::claims::Claims;
use licet_verifier::envelope::{self, Algorithm};
use licet_verifier::{Expectations, Keyring, Kind, KindClaims};
use serde::{Deserialize, Serialize};

const ED25519_PEM: &str = include_str!("../../test-vectors/keys/ed25519.pem");
const RSA_PEM: &str = include_str!("../../test-vectors/keys/rsa-2048.pem");

/// The same claims as JSON, for the JWT and the PASETO: the registered claim names
/// where one exists, short plain names for the rest. Times are numbers in the JWT and
/// RFC 3339 text in the PASETO, as each format requires.
#[derive(Debug, Serialize, Deserialize)]
struct JsonClaims<T> {
    sub: String,
    aud: String,
    exp: T,
    iat: T,
    /// The 16-byte license id, base64url without padding.
    jti: String,
    v: u64,
    kind: String,
    features: Vec<String>,
    license_type: String,
}

fn json_claims<T>(c: &Claims, time: impl Fn(u64) -> T) -> JsonClaims<T> {
    let KindClaims::License {
        license_type: Some(license_type),
        ..
    } = &c.kind
    else {
        panic!("full_license() is a license with a license type");
    };
    JsonClaims {
        sub: c.customer.clone().expect("full_license() has a customer"),
        aud: c.product.clone(),
        // jsonwebtoken and pasetors check `exp` against the system clock, not a given time:
        // at least a year ahead, so that the bench still runs after 2030. Same length.
        exp: time(
            c.expires_at
                .expect("full_license() expires")
                .max(Expectations::now_from_system_clock() + 365 * 86_400),
        ),
        iat: time(c.issued_at),
        jti: base64url(&c.id),
        v: 1,
        kind: c.kind().name().into(),
        features: c.features.clone(),
        license_type: license_type.name().into(),
    }
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// How many bytes unpadded base64url text of this length carries.
fn base64url_len(text: &str) -> usize {
    text.len() * 3 / 4
}

fn rfc3339(t: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t as i64)
        .expect("time in range")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// Reads the PASETO claims back into the typed struct, as an application would.
fn paseto_claims(c: &pasetors::claims::Claims) -> Option<JsonClaims<String>> {
    let text = |k: &str| c.get_claim(k)?.as_str().map(String::from);
    Some(JsonClaims {
        sub: text("sub")?,
        aud: text("aud")?,
        exp: text("exp")?,
        iat: text("iat")?,
        jti: text("jti")?,
        v: c.get_claim("v")?.as_u64()?,
        kind: text("kind")?,
        features: c
            .get_claim("features")?
            .as_array()?
            .iter()
            .map(|f| f.as_str().map(String::from))
            .collect::<Option<_>>()?,
        license_type: text("license_type")?,
    })
}

fn ed25519_dalek_key() -> ed25519_dalek::SigningKey {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let (_, der) = pem_rfc7468::decode_vec(ED25519_PEM.as_bytes()).expect("PEM");
    ed25519_dalek::SigningKey::from_pkcs8_der(&der).expect("Ed25519 PKCS#8")
}

fn verify(c: &mut Criterion) {
    let claims = full_license();
    let expect = Expectations::new(Kind::License, "acme-studio-pro", NOW);
    let ed_key = SigningKey::from_pkcs8_pem(ED25519_PEM).expect("Ed25519 test key");
    let rsa_key = SigningKey::from_pkcs8_pem(RSA_PEM).expect("RSA test key");
    let keyring =
        Keyring::from_pem(&(ed_key.public_pem() + &rsa_key.public_pem())).expect("keyring");

    // licet, both algorithms.
    let ed_token = licet::issue(claims.clone(), &ed_key).expect("issue Ed25519");
    let rsa_token = licet::issue(claims.clone(), &rsa_key).expect("issue PS256");
    let ed_text = ed_token.text();
    let rsa_text = rsa_token.text();
    for text in [&ed_text, &rsa_text] {
        let ok = keyring.verify(text, &expect).expect("licet token verifies");
        assert_eq!(ok.claims, claims);
    }

    // The bare checks, over the Sig_structure and signature inside those very tokens.
    let ed_env = envelope::open(ed_token.bytes()).expect("open");
    let rsa_env = envelope::open(rsa_token.bytes()).expect("open");
    assert_eq!(
        ed_env.signed_data,
        envelope::signing_input(Algorithm::EdDsa, ed_key.kid(), &ed_env.payload)
    );
    assert_eq!(
        rsa_env.signed_data,
        envelope::signing_input(Algorithm::Ps256, rsa_key.kid(), &rsa_env.payload)
    );
    let dalek = ed25519_dalek_key();
    let ed_vk = dalek.verifying_key();
    let ed_sig = ed25519_dalek::Signature::from_slice(&ed_env.signature).expect("signature");
    ed_vk
        .verify_strict(&ed_env.signed_data, &ed_sig)
        .expect("bare Ed25519 verifies");
    let rsa_vk = {
        use rsa::pkcs8::DecodePublicKey;
        let public =
            rsa::PublicKey::from_public_key_der(rsa_key.public_spki_der()).expect("RSA public key");
        rsa::pss::VerifyingKey::<sha2::Sha256>::new(public)
    };
    let rsa_sig = rsa::pss::Signature::try_from(rsa_env.signature.as_slice()).expect("sig");
    {
        use rsa::signature::Verifier;
        rsa_vk
            .verify(&rsa_env.signed_data, &rsa_sig)
            .expect("bare RSA-PSS verifies");
    }

    // JWT, EdDSA, same key.
    let jwt_claims = json_claims(&claims, |t| t);
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &jwt_claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(ED25519_PEM.as_bytes()).expect("JWT key"),
    )
    .expect("JWT");
    let jwt_key = jsonwebtoken::DecodingKey::from_ed_pem(ed_key.public_pem().as_bytes())
        .expect("JWT public key");
    let mut jwt_rules = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    jwt_rules.set_audience(&["acme-studio-pro"]);
    jwt_rules.leeway = 60;
    let jwt_verify = || {
        jsonwebtoken::decode::<JsonClaims<u64>>(black_box(&jwt), &jwt_key, &jwt_rules)
            .expect("JWT verifies")
            .claims
    };
    assert_eq!(jwt_verify().features, claims.features);

    // PASETO v4.public, same key. No `nbf` (licet's token has none), so the `iat`/`nbf`
    // check is off; `exp` and `aud` are still checked.
    let paseto_sk = pasetors::keys::AsymmetricSecretKey::<pasetors::version4::V4>::from(
        &dalek.to_keypair_bytes(),
    )
    .expect("PASETO secret key");
    let paseto_pk =
        pasetors::keys::AsymmetricPublicKey::<pasetors::version4::V4>::from(ed_vk.as_bytes())
            .expect("PASETO public key");
    let paseto = {
        let json = serde_json::to_string(&json_claims(&claims, rfc3339)).expect("JSON");
        let pc = pasetors::claims::Claims::from_string(&json).expect("PASETO claims");
        pasetors::public::sign(&paseto_sk, &pc, None, None).expect("PASETO")
    };
    let mut paseto_rules = pasetors::claims::ClaimsValidationRules::new();
    paseto_rules.disable_valid_at();
    paseto_rules.validate_audience_with("acme-studio-pro");
    let paseto_verify = || {
        let untrusted =
            pasetors::token::UntrustedToken::<pasetors::Public, pasetors::version4::V4>::try_from(
                black_box(paseto.as_str()),
            )
            .expect("PASETO parses");
        let trusted = pasetors::public::verify(&paseto_pk, &untrusted, &paseto_rules, None, None)
            .expect("PASETO verifies");
        paseto_claims(trusted.payload_claims().expect("claims")).expect("typed claims")
    };
    assert_eq!(paseto_verify().features, claims.features);

    // JWT and PASETO exist only as text; their "bytes" are what the base64url in them
    // carries (JSON header and claims, signature), for comparison with licet's binary form.
    let jwt_bytes: usize = jwt.split('.').map(base64url_len).sum();
    let paseto_bytes = base64url_len(paseto.trim_start_matches("v4.public."));
    eprintln!("token sizes, full_license() claims (bytes carried / text characters):");
    for (name, bytes, text) in [
        ("licet Ed25519", ed_token.bytes().len(), ed_text.len()),
        ("licet PS256", rsa_token.bytes().len(), rsa_text.len()),
        ("JWT EdDSA", jwt_bytes, jwt.len()),
        ("PASETO v4.public", paseto_bytes, paseto.len()),
    ] {
        eprintln!("  {name:<17} {bytes:4} B  {text:4} chars");
    }

    let mut g = c.benchmark_group("verify");
    g.bench_function("licet_ed25519", |b| {
        b.iter(|| {
            keyring
                .verify(black_box(&ed_text), &expect)
                .expect("verifies")
        })
    });
    g.bench_function("bare_ed25519_verify_strict", |b| {
        b.iter(|| ed_vk.verify_strict(black_box(&ed_env.signed_data), black_box(&ed_sig)))
    });
    g.bench_function("licet_ps256", |b| {
        b.iter(|| {
            keyring
                .verify(black_box(&rsa_text), &expect)
                .expect("verifies")
        })
    });
    g.bench_function("bare_rsa_pss_verify", |b| {
        use rsa::signature::Verifier;
        b.iter(|| rsa_vk.verify(black_box(&rsa_env.signed_data), black_box(&rsa_sig)))
    });
    g.bench_function("jwt_eddsa", |b| b.iter(jwt_verify));
    g.bench_function("paseto_v4_public", |b| b.iter(paseto_verify));
    g.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
