//! Property tests of the verifier on hostile input (STYLE.md §5: "property tests or fuzz
//! targets for every decoder").
//!
//! - Every decoder (`envelope::open`, `Claims::from_payload`, `text::decode`,
//!   `Keyring::from_pem`, `PublicKey::from_spki_der`, `Keyring::verify`,
//!   `decode_unverified`) returns, never panics, on arbitrary and on almost-valid input.
//! - Any claims within `claims::limits` round-trip through the payload and through
//!   issue → verify unchanged.
//! - Changing a valid token's binary form never yields a token that verifies, unless the
//!   bytes came back to the original (one token, one encoding: no malleability).
//! - The text form tolerates exactly what `docs/token-format.md` §6.2 allows: lower case,
//!   ASCII white space and `-` in the base32; any other inserted character is refused.
//!
//! Case counts keep this file to about ten seconds in a debug build; `PROPTEST_CASES=N`
//! runs every property N times instead, for a longer hunt.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ciborium::value::{Integer, Value};
use licet_keys::SigningKey;
use licet_verifier::claims::{FINGERPRINT_LEN, ID_LEN, LICET_CLAIM, limits};
use licet_verifier::{
    Claims, Expectations, Keyring, Kind, KindClaims, LicenseType, PublicKey, Verified,
    decode_unverified, envelope, text,
};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::string::string_regex;

// ---------------------------------------------------------------------------------------
// Fixture: keys and a PS256 token from the committed test vectors, one Ed25519 key of our
// own for minting tokens.

struct Fixture {
    /// Signs the Ed25519 tokens the properties mint.
    key: SigningKey,
    /// `test-vectors/keys/signature.pem` (Ed25519 + RSA-2048) plus `key`.
    keyring: Keyring,
    /// The `license-ps256` vector: binary token and its claims.
    ps256: (Vec<u8>, Claims),
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors");
        let key = SigningKey::ed25519_from_seed(&[0x5a; 32]).expect("key");
        let pem = std::fs::read_to_string(dir.join("keys/signature.pem")).expect("signature.pem");
        let keyring = Keyring::from_pem(&format!("{pem}{}", key.public_pem())).expect("keyring");
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("vectors.json")).expect("vectors.json"),
        )
        .expect("JSON");
        let token = manifest["vectors"]
            .as_array()
            .expect("vectors")
            .iter()
            .find(|v| v["name"] == "license-ps256")
            .and_then(|v| v["token"].as_str())
            .expect("license-ps256");
        let (_, bytes) = text::decode(token).expect("text form");
        let claims = keyring
            .verify_bytes(&bytes, &lenient(Kind::License, "acme-studio-pro", None))
            .expect("the PS256 vector verifies")
            .claims;
        Fixture {
            key,
            keyring,
            ps256: (bytes, claims),
        }
    })
}

/// Expectations that every time passes: these properties are about bytes and claims; the
/// time checks have their own vectors (`test-vectors/vectors.json`). A leeway of
/// `u64::MAX` saturates every comparison in the verifier's favour.
fn lenient(kind: Kind, product: &str, fingerprint: Option<[u8; 32]>) -> Expectations<'_> {
    let e = Expectations::new(kind, product, 0).leeway(u64::MAX);
    match fingerprint {
        Some(f) => e.fingerprint(f),
        None => e,
    }
}

fn expect_for(claims: &Claims) -> Expectations<'_> {
    let fingerprint = match &claims.kind {
        KindClaims::Machine { fingerprint, .. } => Some(*fingerprint),
        _ => None,
    };
    lenient(claims.kind(), &claims.product, fingerprint)
}

fn issue(claims: &Claims) -> Vec<u8> {
    licet::issue(claims.clone(), &fixture().key)
        .expect("claims within the limits issue")
        .bytes()
        .to_vec()
}

/// `cases` cases, unless `PROPTEST_CASES` asks for another number. A failure is saved in
/// `properties.proptest-regressions` next to this file and replayed first on later runs.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Strategies.

/// Text of 1 (or `min`) to `max` bytes: ASCII up to the byte limit, or any printable
/// Unicode (up to 4 bytes a character) kept within it.
fn bounded_text(min: usize, max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        string_regex(&format!("[ -~]{{{min},{max}}}")).expect("regex"),
        string_regex(&format!("\\PC{{{min},{}}}", max / 4)).expect("regex"),
    ]
    .prop_filter("within the byte limit", move |s| {
        (min..=max).contains(&s.len())
    })
}

fn time() -> impl Strategy<Value = u64> {
    let max = i64::MAX.unsigned_abs();
    prop_oneof![1_600_000_000u64..2_200_000_000, 0..=max, Just(0), Just(max),]
}

fn kind_claims() -> impl Strategy<Value = KindClaims> {
    prop_oneof![
        (
            option::of(select(LicenseType::ALL.to_vec())),
            option::of(any::<u64>()),
            option::of(any::<u64>()),
        )
            .prop_map(|(license_type, max_machines, max_leases)| {
                KindClaims::License {
                    license_type,
                    max_machines,
                    max_leases,
                }
            }),
        (
            any::<[u8; ID_LEN]>(),
            any::<[u8; FINGERPRINT_LEN]>(),
            option::of(time())
        )
            .prop_map(|(license_id, fingerprint, grace_ends_at)| {
                KindClaims::Machine {
                    license_id,
                    fingerprint,
                    grace_ends_at,
                }
            }),
        (
            any::<[u8; ID_LEN]>(),
            option::of(bounded_text(1, limits::NAME))
        )
            .prop_map(|(license_id, client_id)| KindClaims::Lease {
                license_id,
                client_id,
            }),
    ]
}

/// Any claims within `claims::limits`, features sorted and unique (as `issue` leaves them).
fn claims() -> impl Strategy<Value = Claims> {
    (
        option::of(bounded_text(1, limits::NAME)),
        option::of(bounded_text(1, limits::NAME)),
        bounded_text(1, limits::PRODUCT),
        option::of(time()),
        option::of(time()),
        time(),
        any::<[u8; ID_LEN]>(),
        btree_set(bounded_text(1, limits::FEATURE), 0..=limits::FEATURES),
        btree_map(
            bounded_text(1, limits::METADATA_KEY),
            bounded_text(0, limits::METADATA_VALUE),
            0..=limits::METADATA_ENTRIES,
        ),
        kind_claims(),
    )
        .prop_map(
            |(issuer, customer, product, exp, nbf, iat, id, features, metadata, kind)| {
                // Machine and lease tokens always expire (`Claims::check`).
                // A grace end is never before the expiry (`Claims::check`).
                let expires_at = match kind {
                    KindClaims::License { .. } => exp,
                    KindClaims::Machine {
                        grace_ends_at: Some(g),
                        ..
                    } => Some(exp.unwrap_or(iat).min(g)),
                    _ => Some(exp.unwrap_or(iat)),
                };
                Claims {
                    issuer,
                    customer,
                    product,
                    expires_at,
                    not_before: nbf,
                    issued_at: iat,
                    id,
                    features: features.into_iter().collect(),
                    metadata,
                    kind,
                }
            },
        )
}

/// Arbitrary CBOR data items, nested a few levels.
fn cbor() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        any::<u64>().prop_map(|i| Value::Integer(i.into())),
        (0u64..12).prop_map(|i| Value::Integer(i.into())),
        Just(Value::Integer(LICET_CLAIM.into())),
        vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        "\\PC{0,12}".prop_map(Value::Text),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(Value::Float),
        Just(Value::Null),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((inner.clone(), inner.clone()), 0..6).prop_map(Value::Map),
            (0u64..40, inner).prop_map(|(t, v)| Value::Tag(t, Box::new(v))),
        ]
    })
}

fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).expect("CBOR encodes into a Vec");
    out
}

fn int(i: i64) -> Value {
    Value::Integer(Integer::from(i))
}

/// A claim of a CWT claims set, mostly of the type RFC 8392 gives it (so that the set
/// parses and decoding goes on), sometimes anything.
fn claim() -> impl Strategy<Value = (Value, Value)> {
    prop_oneof![
        3 => (1i64..=3, "\\PC{0,10}").prop_map(|(k, s)| (int(k), Value::Text(s))),
        3 => (
            4i64..=6,
            prop_oneof![any::<i64>().prop_map(int), any::<f64>().prop_map(Value::Float)]
        )
            .prop_map(|(k, v)| (int(k), v)),
        2 => vec(any::<u8>(), 0..20).prop_map(|b| (int(7), Value::Bytes(b))),
        1 => (cbor(), cbor()),
    ]
}

/// A value of a field of the licet claim: of one of the types the fields have, or anything.
fn licet_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..5).prop_map(int),
        prop_oneof![
            any::<u64>(),
            Just(u64::MAX),
            Just(i64::MAX.unsigned_abs() + 1)
        ]
        .prop_map(|i| Value::Integer(i.into())),
        any::<i64>().prop_map(int),
        vec(any::<u8>(), ID_LEN..=ID_LEN).prop_map(Value::Bytes),
        vec(any::<u8>(), FINGERPRINT_LEN..=FINGERPRINT_LEN).prop_map(Value::Bytes),
        "\\PC{0,10}".prop_map(Value::Text),
        vec("\\PC{0,6}".prop_map(Value::Text), 0..4).prop_map(Value::Array),
        vec(("\\PC{0,4}", "\\PC{0,4}"), 0..3).prop_map(|m| Value::Map(
            m.into_iter()
                .map(|(k, v)| (Value::Text(k), Value::Text(v)))
                .collect()
        )),
        cbor(),
    ]
}

/// Something shaped like a CWT claims set with a licet claim, its values arbitrary or
/// nearly right: gets past the first checks of `Claims::from_payload` into the typed ones.
fn claims_like() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![4 => (0i64..=10).prop_map(int), 1 => cbor()];
    let licet = (any::<bool>(), vec((field, licet_value()), 0..6)).prop_map(|(v, mut m)| {
        if v {
            m.insert(0, (int(0), int(1)));
        }
        Value::Map(m)
    });
    (vec(claim(), 0..6), licet).prop_map(|(mut set, licet)| {
        set.push((int(LICET_CLAIM), licet));
        encode(&Value::Map(set))
    })
}

/// One change to a CBOR claims set, at the level of its entries or of any data item.
#[derive(Debug, Clone)]
enum TreeEdit {
    /// Replace the value of an entry of the licet claim.
    LicetValue(Index, Value),
    /// Replace the value of a claim.
    ClaimValue(Index, Value),
    /// Remove an entry of the licet claim.
    LicetRemove(Index),
    /// Add an entry to the licet claim.
    LicetAdd(Value, Value),
    /// Replace any data item of the whole set.
    Anywhere(Index, Value),
}

fn tree_edit() -> impl Strategy<Value = TreeEdit> {
    prop_oneof![
        4 => (any::<Index>(), licet_value()).prop_map(|(i, v)| TreeEdit::LicetValue(i, v)),
        2 => (any::<Index>(), prop_oneof![licet_value(), claim().prop_map(|(_, v)| v)])
            .prop_map(|(i, v)| TreeEdit::ClaimValue(i, v)),
        1 => any::<Index>().prop_map(TreeEdit::LicetRemove),
        1 => (prop_oneof![(0i64..=10).prop_map(int), cbor()], licet_value())
            .prop_map(|(k, v)| TreeEdit::LicetAdd(k, v)),
        2 => (any::<Index>(), prop_oneof![licet_value(), cbor()])
            .prop_map(|(i, v)| TreeEdit::Anywhere(i, v)),
    ]
}

fn apply_tree_edit(tree: &mut Value, edit: &TreeEdit) {
    if let TreeEdit::Anywhere(i, v) = edit {
        let mut n = i.index(nodes(tree));
        replace_nth(tree, &mut n, v);
        return;
    }
    // Earlier edits may have left no map, or an empty one, to work on.
    let Value::Map(set) = tree else {
        return;
    };
    if set.is_empty() {
        return;
    }
    if let TreeEdit::ClaimValue(i, v) = edit {
        let i = i.index(set.len());
        set[i].1 = v.clone();
        return;
    }
    let Some(Value::Map(licet)) = set
        .iter_mut()
        .find(|(k, _)| *k == int(LICET_CLAIM))
        .map(|(_, v)| v)
    else {
        return;
    };
    match edit {
        TreeEdit::LicetValue(..) | TreeEdit::LicetRemove(..) if licet.is_empty() => {}
        TreeEdit::LicetValue(i, v) => {
            let i = i.index(licet.len());
            licet[i].1 = v.clone();
        }
        TreeEdit::LicetRemove(i) => {
            licet.remove(i.index(licet.len()));
        }
        TreeEdit::LicetAdd(k, v) => licet.push((k.clone(), v.clone())),
        TreeEdit::ClaimValue(..) | TreeEdit::Anywhere(..) => {}
    }
}

/// The payload of valid claims with one to three of its entries or data items changed:
/// reaches every typed check of `Claims::from_payload`, deep in the licet claim.
fn claims_mutated() -> impl Strategy<Value = Vec<u8>> {
    (claims(), vec(tree_edit(), 1..=3)).prop_map(|(c, edits)| {
        let payload = c.to_payload().expect("valid claims encode");
        let mut tree: Value = ciborium::from_reader(payload.as_slice()).expect("CBOR");
        for e in &edits {
            apply_tree_edit(&mut tree, e);
        }
        encode(&tree)
    })
}

fn nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(items) => items.iter().map(nodes).sum(),
        Value::Map(entries) => entries.iter().map(|(k, v)| nodes(k) + nodes(v)).sum(),
        Value::Tag(_, inner) => nodes(inner),
        _ => 0,
    }
}

/// Replaces the `n`th data item of `v` in pre-order; true once done.
fn replace_nth(v: &mut Value, n: &mut usize, with: &Value) -> bool {
    if *n == 0 {
        *v = with.clone();
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(items) => items.iter_mut().any(|it| replace_nth(it, n, with)),
        Value::Map(entries) => entries
            .iter_mut()
            .any(|(k, v)| replace_nth(k, n, with) || replace_nth(v, n, with)),
        Value::Tag(_, inner) => replace_nth(inner, n, with),
        _ => false,
    }
}

/// Something shaped like a tagged COSE_Sign1 whose parts are arbitrary or nearly licet's:
/// gets past the tag into the header, kid and canonical-form checks.
fn sign1_like() -> impl Strategy<Value = Vec<u8>> {
    let alg = prop_oneof![Just(int(-8)), Just(int(-37)), Just(int(-7)), cbor()];
    let kid = prop_oneof![vec(any::<u8>(), 8..=8), vec(any::<u8>(), 0..12)];
    let protected = prop_oneof![
        (alg, kid.clone())
            .prop_map(|(a, k)| encode(&Value::Map(vec![(int(1), a), (int(4), Value::Bytes(k))]))),
        cbor().prop_map(|v| encode(&v)),
        vec(any::<u8>(), 0..16),
    ];
    let unprotected = prop_oneof![Just(Value::Map(vec![])), cbor()];
    let payload = prop_oneof![claims_like(), vec(any::<u8>(), 0..64)];
    let signature = prop_oneof![vec(any::<u8>(), 64..=64), vec(any::<u8>(), 0..300)];
    (protected, unprotected, payload, signature).prop_map(|(p, u, pl, s)| {
        encode(&Value::Tag(
            18,
            Box::new(Value::Array(vec![
                Value::Bytes(p),
                u,
                Value::Bytes(pl),
                Value::Bytes(s),
            ])),
        ))
    })
}

fn kind() -> impl Strategy<Value = Kind> {
    select(Kind::ALL.to_vec())
}

/// A token text as a hostile user might paste it.
fn token_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(LIC|MCH|LSE|lic|Lic|X)-[0-9A-Za-z \\-\\n=]{0,200}",
        (kind(), vec(any::<u8>(), 0..300)).prop_map(|(k, b)| text::encode_text(k, &b)),
        (kind(), sign1_like()).prop_map(|(k, b)| text::encode_text(k, &b)),
        (kind(), sign1_like()).prop_map(|(k, b)| text::encode_file(k, &b)),
        (kind(), sign1_like(), "\\PC{0,8}", any::<Index>()).prop_map(|(k, b, junk, at)| {
            let mut s = text::encode_file(k, &b);
            let at = at.index(s.len() + 1);
            if s.is_char_boundary(at) {
                s.insert_str(at, &junk);
            }
            s
        }),
        "-----BEGIN LICET (LICENSE|MACHINE|LEASE|X)-----[\\PC\\n]{0,60}(-----END LICET (LICENSE|MACHINE|LEASE|X)-----)?",
    ]
}

/// A `signature.pem` as a hostile file might hold it.
fn pem_text() -> impl Strategy<Value = String> {
    let block = |der: Vec<u8>, label: &str| {
        pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, &der).expect("pem")
    };
    prop_oneof![
        any::<String>(),
        vec(any::<u8>(), 0..200).prop_map(move |d| block(d, "PUBLIC KEY")),
        spki_der().prop_map(move |d| block(d, "PUBLIC KEY")),
        (spki_der(), "\\PC{0,6}", any::<Index>()).prop_map(move |(d, junk, at)| {
            let mut s = block(d, "PUBLIC KEY");
            let at = at.index(s.len() + 1);
            if s.is_char_boundary(at) {
                s.insert_str(at, &junk);
            }
            s
        }),
        "(-----BEGIN [A-Z ]{0,12}-----\n[A-Za-z0-9+/=\n]{0,80}(-----END [A-Z ]{0,12}-----)?\n?){0,3}",
    ]
}

/// The RSA-2048 test key's SubjectPublicKeyInfo DER (the last block of `signature.pem`).
fn rsa_spki() -> Vec<u8> {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../test-vectors/keys/signature.pem"
    ))
    .expect("signature.pem");
    let last = pem.rfind("-----BEGIN PUBLIC KEY-----").expect("a block");
    let (_, der) = pem_rfc7468::decode_vec(pem[last..].trim().as_bytes()).expect("PEM");
    let key = PublicKey::from_spki_der(&der).expect("a key");
    assert_eq!(key.algorithm(), licet_verifier::Algorithm::Ps256);
    der
}

/// SubjectPublicKeyInfo DER, valid or nearly so.
fn spki_der() -> impl Strategy<Value = Vec<u8>> {
    let ed_prefix = hex::decode("302a300506032b6570032100").expect("hex");
    let rsa = rsa_spki();
    prop_oneof![
        any::<[u8; 32]>().prop_map(move |x| [ed_prefix.clone(), x.to_vec()].concat()),
        (any::<Index>(), any::<u8>()).prop_map(move |(at, b)| {
            let mut d = rsa.clone();
            let at = at.index(d.len());
            d[at] = b;
            d
        }),
        vec(any::<u8>(), 0..300),
    ]
}

/// One change to a byte string. Appending and truncating are drawn on their own: the end
/// of a token (trailing data, a cut signature) would otherwise be hit once in hundreds.
#[derive(Debug, Clone)]
enum Edit {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Append(u8),
    Truncate(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, bit)| Edit::Flip(i, bit)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<Index>().prop_map(Edit::Delete),
        any::<u8>().prop_map(Edit::Append),
        any::<Index>().prop_map(Edit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    match edit {
        Edit::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), *b),
        Edit::Append(b) => bytes.push(*b),
        Edit::Truncate(i) => bytes.truncate(i.index(bytes.len() + 1)),
        _ if bytes.is_empty() => {}
        Edit::Flip(i, bit) => {
            let i = i.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        Edit::Set(i, b) => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        Edit::Delete(i) => {
            bytes.remove(i.index(bytes.len()));
        }
    }
}

/// Characters the text form ignores inside the base32 (`docs/token-format.md` §6.2).
const IGNORED: [char; 6] = [' ', '\t', '\n', '\r', '\x0c', '-'];

/// Every other character: all the rest of ASCII, and non-ASCII white space (which is not
/// ASCII white space).
fn refused_chars() -> Vec<char> {
    (0u8..=0x7f)
        .map(char::from)
        .filter(|c| !IGNORED.contains(c))
        .chain([
            '\u{a0}', '\u{85}', '\u{2003}', '\u{2028}', '\u{3000}', '\u{feff}',
        ])
        .collect()
}

/// A valid token, binary, with its claims: minted from arbitrary claims (EdDSA), or the
/// committed PS256 vector.
fn valid_token() -> impl Strategy<Value = (Vec<u8>, Claims)> {
    prop_oneof![
        4 => claims().prop_map(|c| (issue(&c), c)),
        1 => Just(()).prop_map(|()| fixture().ps256.clone()),
    ]
}

/// Where in the base32 part of `PREFIX-base32` to insert a character. Its two ends are
/// drawn more often than chance would: they are where trimming could hide a character.
#[derive(Debug, Clone)]
enum At {
    Start,
    End,
    Anywhere(Index),
}

fn at() -> impl Strategy<Value = At> {
    prop_oneof![
        1 => Just(At::Start),
        1 => Just(At::End),
        4 => any::<Index>().prop_map(At::Anywhere),
    ]
}

fn insert_in_body(text: &mut String, at: &At, c: char) {
    let body_start = text.find('-').expect("prefix") + 1;
    let body_len = text.len() - body_start;
    let offset = match at {
        At::Start => 0,
        At::End => body_len,
        At::Anywhere(i) => i.index(body_len + 1),
    };
    text.insert(body_start + offset, c);
}

fn same_token(got: &Verified, claims: &Claims) {
    assert_eq!(&got.claims, claims);
}

// ---------------------------------------------------------------------------------------
// (a) Nothing panics on hostile input.

proptest! {
    // Cheap cases (no signing): more of them.
    #![proptest_config(config(1024))]

    #[test]
    fn binary_decoders_never_panic(
        bytes in prop_oneof![
            vec(any::<u8>(), 0..600),
            sign1_like(),
            claims_like(),
        ],
        cut in any::<Index>(),
    ) {
        let f = fixture();
        for input in [&bytes[..], &bytes[..cut.index(bytes.len() + 1)]] {
            let _ = envelope::open(input);
            let _ = Claims::from_payload(input);
            let _ = PublicKey::from_spki_der(input);
            let _ = f.keyring.verify_bytes(input, &lenient(Kind::License, "p", None));
            if let Ok(env) = envelope::open(input) {
                // A structurally valid envelope: its payload goes to the claims decoder
                // too, as `decode_unverified` would send it.
                let _ = Claims::from_payload(&env.payload);
            }
        }
    }

}

proptest! {
    #![proptest_config(config(512))]

    // One set of claims, one encoding: whatever decodes is exactly what encoding the
    // result gives back, so no second byte string carries the same claims.
    #[test]
    fn claims_decoder_never_panics_and_accepts_only_canonical(
        payload in prop_oneof![claims_mutated(), claims_like()],
    ) {
        if let Ok(c) = Claims::from_payload(&payload) {
            prop_assert_eq!(c.to_payload().expect("decoded claims encode"), payload);
        }
    }

    #[test]
    fn envelope_accepts_only_canonical(
        bytes in prop_oneof![sign1_like(), valid_token().prop_map(|(b, _)| b)],
        edits in vec(edit(), 0..=2),
    ) {
        let mut bytes = bytes;
        for e in &edits {
            apply(&mut bytes, e);
        }
        if let Ok(env) = envelope::open(&bytes) {
            let again = envelope::assemble(env.alg, &env.kid, &env.payload, env.signature.clone())
                .expect("assembles");
            prop_assert_eq!(&again, &bytes);
            prop_assert_eq!(
                env.signed_data,
                envelope::signing_input(env.alg, &env.kid, &env.payload)
            );
        }
    }

    #[test]
    fn text_decoders_never_panic(s in token_text()) {
        let f = fixture();
        let _ = text::decode(&s);
        let _ = decode_unverified(&s);
        for kind in Kind::ALL {
            let _ = f.keyring.verify(&s, &lenient(kind, "acme-studio-pro", None));
        }
    }

    #[test]
    fn keyring_reader_never_panics(pem in pem_text(), der in spki_der()) {
        if let Ok(keyring) = Keyring::from_pem(&pem) {
            prop_assert!(!keyring.is_empty());
        }
        let _ = PublicKey::from_spki_der(&der);
    }
}

// ---------------------------------------------------------------------------------------
// (b) Claims round-trip.

proptest! {
    #![proptest_config(config(384))]

    #[test]
    fn claims_round_trip_through_the_payload(c in claims()) {
        let payload = c.to_payload().expect("claims within the limits encode");
        prop_assert_eq!(Claims::from_payload(&payload).expect("decodes"), c);
    }

    #[test]
    fn claims_round_trip_through_issue_and_verify(c in claims()) {
        let f = fixture();
        let token = licet::issue(c.clone(), &f.key).expect("issues");
        let text = token.text();
        let file = token.file();
        let expect = expect_for(&c);
        let by_text = f.keyring.verify(&text, &expect).expect("text form verifies");
        same_token(&by_text, &c);
        prop_assert_eq!(by_text.kid, *f.key.kid());
        same_token(&f.keyring.verify(&file, &expect).expect("file form verifies"), &c);
        same_token(&f.keyring.verify_bytes(token.bytes(), &expect).expect("binary"), &c);
        prop_assert_eq!(decode_unverified(&text).expect("decodes").claims, c);
    }
}

// ---------------------------------------------------------------------------------------
// (c) A changed token never verifies.

proptest! {
    #![proptest_config(config(384))]

    #[test]
    fn a_changed_token_never_verifies(
        (original, c) in valid_token(),
        edits in vec(edit(), 1..=3),
    ) {
        let f = fixture();
        let mut bytes = original.clone();
        for e in &edits {
            apply(&mut bytes, e);
        }
        let expect = expect_for(&c);
        match f.keyring.verify_bytes(&bytes, &expect) {
            Ok(got) => {
                prop_assert!(bytes == original, "a changed token verified: {edits:?}");
                same_token(&got, &c);
            }
            Err(_) => prop_assert!(bytes != original, "the original token failed"),
        }
        // The same through the text form, which adds nothing that could make it pass.
        let text = text::encode_text(c.kind(), &bytes);
        let via_text = f.keyring.verify(&text, &expect);
        prop_assert_eq!(via_text.is_ok(), bytes == original);
        let _ = decode_unverified(&text);
    }
}

// ---------------------------------------------------------------------------------------
// (d) What the text form tolerates, and nothing more.

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn case_white_space_and_separators_are_ignored(
        (original, c) in valid_token(),
        lower_prefix in any::<bool>(),
        lower in vec(any::<bool>(), 1..64),
        inserts in vec((at(), select(IGNORED.to_vec())), 0..12),
    ) {
        let f = fixture();
        let canonical = text::encode_text(c.kind(), &original);
        let (prefix, body) = canonical.split_once('-').expect("prefix");
        let body: String = body
            .chars()
            .enumerate()
            .map(|(i, ch)| if lower[i % lower.len()] { ch.to_ascii_lowercase() } else { ch })
            .collect();
        let prefix = if lower_prefix { prefix.to_ascii_lowercase() } else { prefix.to_owned() };
        let mut s = format!("{prefix}-{body}");
        for (at, ch) in &inserts {
            insert_in_body(&mut s, at, *ch);
        }
        let got = f.keyring.verify(&s, &expect_for(&c));
        prop_assert!(got.is_ok(), "{s:?}: {got:?}");
        same_token(&got.expect("verified"), &c);
    }

}

proptest! {
    // Every refused character (129) is tried in each case, so that none is left to
    // chance: 128 cases are some 16 000 insertions.
    #![proptest_config(config(128))]

    #[test]
    fn any_other_inserted_character_is_refused(
        (original, c) in valid_token(),
        at in at(),
        other in any::<char>().prop_filter("not ASCII", |c| !c.is_ascii()),
    ) {
        let f = fixture();
        let canonical = text::encode_text(c.kind(), &original);
        for ch in refused_chars().into_iter().chain([other]) {
            let mut s = canonical.clone();
            insert_in_body(&mut s, &at, ch);
            let got = f.keyring.verify(&s, &expect_for(&c));
            prop_assert!(got.is_err(), "{s:?} with {ch:?} inserted verified");
            prop_assert!(decode_unverified(&s).map(|u| u.bytes != original).unwrap_or(true));
        }
    }
}

/// The claim limits the strategies stay within are the format's: one past any of them is
/// refused by the encoder (so the strategies are not narrower than they look).
#[test]
fn one_past_a_limit_is_refused() {
    let base = Claims {
        issuer: None,
        customer: None,
        product: "p".repeat(limits::PRODUCT),
        expires_at: None,
        not_before: None,
        issued_at: i64::MAX.unsigned_abs(),
        id: [0; ID_LEN],
        features: (0..limits::FEATURES).map(|i| format!("{i:03}")).collect(),
        metadata: (0..limits::METADATA_ENTRIES)
            .map(|i| {
                (
                    format!("{i:0w$}", w = limits::METADATA_KEY),
                    "v".repeat(limits::METADATA_VALUE),
                )
            })
            .collect::<BTreeMap<_, _>>(),
        kind: KindClaims::License {
            license_type: None,
            max_machines: None,
            max_leases: None,
        },
    };
    let payload = base.to_payload().expect("every field at its limit encodes");
    assert_eq!(Claims::from_payload(&payload).expect("and decodes"), base);
    let past: [fn(&mut Claims); 6] = [
        |c| c.product.push('p'),
        |c| c.issued_at += 1,
        |c| c.features.push("zzz".into()),
        |c| {
            c.metadata.insert("k".into(), "v".into());
        },
        |c| {
            c.metadata
                .insert("k".repeat(limits::METADATA_KEY + 1), String::new());
        },
        |c| c.customer = Some("c".repeat(limits::NAME + 1)),
    ];
    for (i, change) in past.iter().enumerate() {
        let mut c = base.clone();
        change(&mut c);
        assert_eq!(
            c.to_payload().map(|_| ()).map_err(|e| e.code()),
            Err("TOKEN_MALFORMED"),
            "change {i}"
        );
    }
}

/// Found by `any_other_inserted_character_is_refused`: the text decoder trimmed the input
/// with `str::trim`, so non-ASCII white space (and VT) passed at the two ends of a token
/// while §6.2 of the format allows ASCII white space only and refuses it everywhere else.
#[test]
fn only_ascii_white_space_is_trimmed() {
    let token = include_str!("../../test-vectors/example-license.txt").trim_ascii();
    for bad in ['\u{a0}', '\u{3000}', '\u{2028}', '\u{85}', '\x0b'] {
        for s in [format!("{token}{bad}"), format!("{bad}{token}")] {
            assert_eq!(
                text::decode(&s).map(|_| ()).map_err(|e| e.code()),
                Err("TOKEN_MALFORMED"),
                "{bad:?}"
            );
        }
    }
    let padded = format!(" \t\r\n\x0c{token} \t\r\n\x0c");
    assert_eq!(text::decode(&padded), text::decode(token));
    assert!(text::decode(token).is_ok());
}
