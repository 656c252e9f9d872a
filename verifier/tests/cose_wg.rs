//! The envelope against the COSE Working Group's examples (cose-wg/Examples, public
//! domain), read in place from `../shared/vectors/cose-wg-examples`.
//!
//! - `eddsa-examples/eddsa-sig-01.json`: the Sig_structure (RFC 9052 §4.4) and the Ed25519
//!   signature agree with ours, and `envelope::open` refuses the message because its
//!   headers are not licet's.
//! - `rsa-pss-examples/rsa-pss-01.json`: a PS256 signature made by another implementation
//!   verifies with our PS256 parameters (SHA-256, MGF1-SHA-256, salt 32).
//! - `sign1-tests/*`: every ES256 structure case is refused, with the exact error pinned.

mod common;

use std::path::{Path, PathBuf};

use coset::{CoseSign1, TaggedCborSerializable};
use licet_verifier::envelope::{self, MAX_TOKEN_BYTES};
use licet_verifier::{Algorithm, Error, Expectations, Keyring, Kind, PublicKey};

/// SubjectPublicKeyInfo DER of an Ed25519 key is this prefix followed by the 32 bytes of x
/// (RFC 8410 §4).
const ED25519_SPKI_PREFIX: &str = "302a300506032b6570032100";

fn examples(test: &str) -> Option<PathBuf> {
    common::shared_vectors(test).map(|d| d.join("cose-wg-examples"))
}

/// A CBOR head (RFC 8949 §3) in its shortest form.
fn head(major: u8, len: usize) -> Vec<u8> {
    let m = major << 5;
    let len = u64::try_from(len).expect("length");
    match len {
        0..=23 => vec![m | u8::try_from(len).expect("small")],
        24..=0xff => vec![m | 24, u8::try_from(len).expect("u8")],
        0x100..=0xffff => [
            &[m | 25][..],
            &u16::try_from(len).expect("u16").to_be_bytes(),
        ]
        .concat(),
        _ => [
            &[m | 26][..],
            &u32::try_from(len).expect("u32").to_be_bytes(),
        ]
        .concat(),
    }
}

fn bstr(bytes: &[u8]) -> Vec<u8> {
    [head(2, bytes.len()), bytes.to_vec()].concat()
}

/// The COSE_Sign1 Sig_structure built by hand from RFC 9052 §4.4, independently of
/// `coset` and of the envelope code:
/// `["Signature1", body_protected: bstr, external_aad: bstr, payload: bstr]`.
fn sig_structure(protected: &[u8], external_aad: &[u8], payload: &[u8]) -> Vec<u8> {
    let context = b"Signature1";
    [
        head(4, 4),
        head(3, context.len()),
        context.to_vec(),
        bstr(protected),
        bstr(external_aad),
        bstr(payload),
    ]
    .concat()
}

fn hex_field<'a>(v: &'a serde_json::Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string"))
}

#[test]
fn the_hand_built_sig_structure_is_the_rfc_one() {
    // Fixed point of the builder itself, so that a broken builder cannot agree with a
    // broken envelope: RFC 9052 §4.4 for protected {1: -8}, no AAD, payload "abc".
    assert_eq!(
        hex::encode(sig_structure(&[0xa1, 0x01, 0x27], b"", b"abc")),
        "846a5369676e617475726531" // array(4), "Signature1"
            .to_owned()
            + "43a10127" // bstr(3) {1: -8}
            + "40" // bstr(0)
            + "43616263" // bstr(3) "abc"
    );
}

#[test]
#[ignore = "reads the public vectors in ../shared/vectors: run with -- --include-ignored"]
fn eddsa_sig_01_sig_structure_and_signature_agree_and_open_refuses_it() {
    let Some(dir) = examples("eddsa_sig_01") else {
        return;
    };
    let ex = common::read_json(&dir.join("eddsa-examples/eddsa-sig-01.json"));
    let message = common::unhex(hex_field(&ex["output"]["cbor"], "output.cbor"));
    let to_be_signed = common::unhex(hex_field(
        &ex["intermediates"]["ToBeSign_hex"],
        "ToBeSign_hex",
    ));
    let x = hex_field(&ex["input"]["sign0"]["key"]["x_hex"], "x_hex");

    // The parts as they are on the wire: protected header `{1: -8, 3: 0}` (EdDSA and a
    // content type), kid "11" in the *unprotected* header.
    let sign1 = CoseSign1::from_tagged_slice(&message).expect("the example is a COSE_Sign1");
    let protected = sign1
        .protected
        .original_data
        .clone()
        .expect("protected bytes as received");
    assert_eq!(hex::encode(&protected), "a201270300");
    let payload = sign1.payload.clone().expect("attached payload");

    // Our RFC 9052 §4.4 construction gives the example's ToBeSign byte for byte, and so
    // does `coset::CoseSign1::tbs_data`, which `envelope::signing_input` matches.
    assert_eq!(sig_structure(&protected, b"", &payload), to_be_signed);
    assert_eq!(sign1.tbs_data(b""), to_be_signed);

    // The signature verifies with our Ed25519 path (strict verification) over it.
    let key = PublicKey::from_spki_der(&common::unhex(&format!("{ED25519_SPKI_PREFIX}{x}")))
        .expect("the example's key is a valid Ed25519 key");
    key.verify(Algorithm::EdDsa, &to_be_signed, &sign1.signature)
        .expect("the example's signature verifies");
    // ... and only over those bytes.
    let mut other = to_be_signed.clone();
    *other.last_mut().expect("non-empty") ^= 1;
    assert_eq!(
        key.verify(Algorithm::EdDsa, &other, &sign1.signature),
        Err(Error::SignatureInvalid)
    );

    // `envelope::open` refuses it: tag, structure and alg (EdDSA) are fine, but the
    // protected header carries no key id (the example's kid "11" is unprotected, and is
    // 2 bytes, not licet's 8). The check for the kid comes before the one that would
    // also refuse the content type in the protected header.
    assert_eq!(
        envelope::open(&message).map(|_| ()),
        Err(Error::Malformed {
            reason: "protected header has no 8-byte key id"
        })
    );
    // Through the whole pipeline too, even with the example's key in the keyring.
    let keyring = Keyring::from_pem(&pem(&common::unhex(&format!("{ED25519_SPKI_PREFIX}{x}"))))
        .expect("keyring");
    let text = licet_verifier::text::encode_text(Kind::License, &message);
    let err = keyring
        .verify(&text, &Expectations::new(Kind::License, "p", 0))
        .expect_err("not a licet token");
    assert_eq!(err.code(), "TOKEN_MALFORMED");
    assert_eq!(
        licet_verifier::decode_unverified(&text).map(|_| ()),
        Err(Error::Malformed {
            reason: "protected header has no 8-byte key id"
        })
    );
}

#[test]
#[ignore = "reads the public vectors in ../shared/vectors: run with -- --include-ignored"]
fn eddsa_sig_02_ed448_is_refused() {
    let Some(dir) = examples("eddsa_sig_02") else {
        return;
    };
    let ex = common::read_json(&dir.join("eddsa-examples/eddsa-sig-02.json"));
    let message = common::unhex(hex_field(&ex["output"]["cbor"], "output.cbor"));
    // alg EdDSA (-8) names Ed448 here; licet's EdDSA is Ed25519 only. The message itself
    // fails first on its header: its kid "ed448" is unprotected.
    assert_eq!(
        envelope::open(&message).map(|_| ()),
        Err(Error::Malformed {
            reason: "protected header has no 8-byte key id"
        })
    );
    // And an Ed448 key (OID 1.3.101.113, RFC 8410) is not accepted into a keyring.
    let x = hex_field(&ex["input"]["sign0"]["key"]["x_hex"], "x_hex");
    let spki = common::unhex(&format!("3043300506032b6571033a00{x}"));
    let err = PublicKey::from_spki_der(&spki).expect_err("Ed448");
    assert_eq!(err.code(), "KEYRING_INVALID");
}

/// DER of a definite length (X.690 §8.1.3).
fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![u8::try_from(len).expect("short")];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    [vec![0x80 | u8::try_from(bytes.len()).expect("len")], bytes].concat()
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    [vec![tag], der_len(content.len()), content.to_vec()].concat()
}

/// An RSA SubjectPublicKeyInfo (RFC 8017 A.1.1, rsaEncryption) from the modulus and
/// exponent as unsigned big-endian bytes.
fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
        let v = if v.first().is_some_and(|b| b & 0x80 != 0) {
            [vec![0], v].concat()
        } else {
            v
        };
        der(0x02, &v)
    };
    let rsa_public_key = der(0x30, &[int(n), int(e)].concat());
    let algorithm = common::unhex("300d06092a864886f70d0101010500");
    let bit_string = der(0x03, &[vec![0], rsa_public_key].concat());
    der(0x30, &[algorithm, bit_string].concat())
}

#[test]
#[ignore = "reads the public vectors in ../shared/vectors: run with -- --include-ignored"]
fn rsa_pss_01_ps256_signature_verifies_with_our_parameters() {
    let Some(dir) = examples("rsa_pss_01") else {
        return;
    };
    let ex = common::read_json(&dir.join("rsa-pss-examples/rsa-pss-01.json"));
    let signer = &ex["input"]["sign"]["signers"][0];
    let key = &signer["key"];
    let spki = rsa_spki(
        &common::unhex(hex_field(&key["n_hex"], "n_hex")),
        &common::unhex(hex_field(&key["e_hex"], "e_hex")),
    );
    let key = PublicKey::from_spki_der(&spki).expect("a 2048-bit RSA key");
    assert_eq!(key.algorithm(), Algorithm::Ps256);
    let to_be_signed = common::unhex(hex_field(
        &ex["intermediates"]["signers"][0]["ToBeSign_hex"],
        "ToBeSign_hex",
    ));

    // A multi-signer COSE_Sign (tag 98): its one signature is the 4th element of the
    // signer array `[protected, unprotected, signature]`.
    let message = common::unhex(hex_field(&ex["output"]["cbor"], "output.cbor"));
    let sign = coset::CoseSign::from_tagged_slice(&message).expect("a COSE_Sign");
    let signature = &sign.signatures.first().expect("one signer").signature;
    key.verify(Algorithm::Ps256, &to_be_signed, signature)
        .expect("the example's PS256 signature verifies");

    // licet tokens are COSE_Sign1 only: tag 98 is refused before anything is decoded.
    assert_eq!(
        envelope::open(&message).map(|_| ()),
        Err(Error::Malformed {
            reason: "not a tagged COSE_Sign1 (tag 18)"
        })
    );
}

/// What `envelope::open` must return for each `sign1-tests` case.
fn expected_sign1_error(file: &str) -> Error {
    let not_sign1 = Error::Malformed {
        reason: "not a tagged COSE_Sign1 (tag 18)",
    };
    match file {
        // Tag 998 instead of 18.
        "sign-fail-01.json" => not_sign1,
        // Changed signature / added or removed protected attribute: ES256 all the same,
        // and the algorithm is checked before anything else in the header.
        "sign-fail-02.json" | "sign-fail-06.json" | "sign-fail-07.json" => Error::AlgUnsupported,
        // alg -999: neither an assigned value nor private use (below -65536). The
        // envelope reads any integer label (it no longer parses headers with `coset`,
        // which refused this one as TOKEN_MALFORMED), so it is step 4's own code;
        // docs/token-format.md §9 allows either for a value no registry assigns.
        // alg "unknown": a text label, refused as an algorithm too.
        "sign-fail-03.json" | "sign-fail-04.json" => Error::AlgUnsupported,
        // Valid COSE, but not licet: alg only in the unprotected header ...
        "sign-pass-01.json" => Error::Malformed {
            reason: "protected header has no algorithm",
        },
        // ... ES256 with external AAD ...
        "sign-pass-02.json" => Error::AlgUnsupported,
        // ... and an untagged COSE_Sign1.
        "sign-pass-03.json" => not_sign1,
        other => panic!("sign1-tests/{other} is new: add its expected error here"),
    }
}

#[test]
#[ignore = "reads the public vectors in ../shared/vectors: run with -- --include-ignored"]
fn sign1_tests_are_all_refused() {
    let Some(dir) = examples("sign1_tests") else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("sign1-tests"))
        .expect("sign1-tests")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut ran = 0;
    for path in &files {
        let name = file_name(path);
        let case = common::read_json(path);
        let message = common::unhex(hex_field(&case["output"]["cbor"], "output.cbor"));
        assert!(message.len() <= MAX_TOKEN_BYTES);
        let want = expected_sign1_error(&name);
        assert_eq!(
            envelope::open(&message).map(|_| ()),
            Err(want.clone()),
            "{name}: {}",
            case["title"]
        );
        // The text form reaches the same refusal through the public entry points.
        let text = licet_verifier::text::encode_text(Kind::License, &message);
        assert_eq!(
            licet_verifier::decode_unverified(&text).map(|_| ()),
            Err(want.clone()),
            "{name}"
        );
        let keyring = Keyring::from_pem(&pem(&common::unhex(&format!(
            "{ED25519_SPKI_PREFIX}{}",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        ))))
        .expect("keyring");
        assert_eq!(
            keyring
                .verify(&text, &Expectations::new(Kind::License, "p", 0))
                .map(|_| ()),
            Err(want),
            "{name}"
        );
        ran += 1;
    }
    // 9 files today (6 fail, 3 pass cases); a missing folder must not pass as "all refused".
    assert!(ran >= 9, "only {ran} sign1-tests cases ran");
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .expect("file name")
        .to_owned()
}

/// A `PUBLIC KEY` PEM block for SPKI DER, the form a vendor's `signature.pem` holds.
fn pem(spki: &[u8]) -> String {
    pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, spki).expect("pem")
}

/// The envelope's `signed_data` for real licet tokens is the same RFC 9052 §4.4
/// construction that reproduces the COSE WG's ToBeSign above, over the canonical protected
/// header `{1: alg, 4: kid}`: so the Sig_structure our envelope computes is the standard
/// one, not merely one our own issuer agrees with. Uses the committed test vectors, so it
/// runs without the shared folder.
#[test]
fn licet_envelope_signs_the_rfc_sig_structure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors");
    let keyring = Keyring::from_pem(
        &std::fs::read_to_string(root.join("keys/signature.pem")).expect("signature.pem"),
    )
    .expect("keyring");
    let manifest = common::read_json(&root.join("vectors.json"));
    let vectors = manifest["vectors"].as_array().expect("vectors");
    let mut seen = Vec::new();
    for name in [
        "license-ed25519",
        "license-ps256",
        "machine-ps256",
        "lease-ed25519",
    ] {
        let v = vectors
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("vector {name}"));
        let (_, bytes) =
            licet_verifier::text::decode(hex_field(&v["token"], "token")).expect("text form");
        let env = envelope::open(&bytes).expect("a valid token opens");
        // alg as a one-byte negative integer: EdDSA -8 is 0x27, PS256 -37 is 0x38 0x24.
        let alg: &[u8] = match env.alg {
            Algorithm::EdDsa => &[0x27],
            Algorithm::Ps256 => &[0x38, 0x24],
        };
        let protected = [&[0xa2, 0x01][..], alg, &[0x04, 0x48], &env.kid[..]].concat();
        let want = sig_structure(&protected, b"", &env.payload);
        assert_eq!(
            hex::encode(&env.signed_data),
            hex::encode(&want),
            "{name}: open"
        );
        assert_eq!(
            hex::encode(envelope::signing_input(env.alg, &env.kid, &env.payload)),
            hex::encode(&want),
            "{name}: signing_input"
        );
        let key = keyring.get(&env.kid).expect("key in signature.pem");
        key.verify(env.alg, &want, &env.signature)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        seen.push(env.alg);
    }
    assert!(seen.contains(&Algorithm::EdDsa) && seen.contains(&Algorithm::Ps256));
}
