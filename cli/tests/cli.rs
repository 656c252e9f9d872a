//! The real `licet` binary, run through every command and through bad input.
//!
//! Each test works in its own [`Sandbox`]: a temporary working directory with its own
//! `LICET_HOME` and machine id. Command lines are written as in a shell and split by
//! [`common::words`]. Failures are checked by exit code (0 ok, 1 checked and not valid,
//! 2 usage, input or I/O error) and by their stable error code, both on stderr
//! (`error[CODE]: …`) and in `--json` output.

mod common;

use common::{PRODUCT, Sandbox, json, now, stderr, stdout};
use serde_json::{Value, json};

const OK: i32 = 0;
const INVALID: i32 = 1;
const ERROR: i32 = 2;

const KEY: &str = "--key keys/signing-key.pem";
const PUB: &str = "--pubkey keys/signature.pem";

// ---------------------------------------------------------------------------------------
// keys generate / public

#[test]
fn keys_generate_makes_an_ed25519_key_by_default() {
    let s = Sandbox::new();
    let out = s.ok("keys generate");
    assert!(
        out.contains("Wrote keys/signing-key.pem (EdDSA, kid "),
        "{out}"
    );
    assert!(out.contains("Wrote keys/signature.pem (public"), "{out}");
    let private = s.read("keys/signing-key.pem");
    assert!(
        private.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "{private}"
    );
    let public = s.read("keys/signature.pem");
    assert!(
        public.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{public}"
    );
    #[cfg(unix)]
    {
        assert_eq!(common::mode(&s.path("keys/signing-key.pem")), 0o600);
        assert_eq!(common::mode(&s.path("keys/signature.pem")), 0o644);
    }
    // `keys public` prints exactly what signature.pem holds.
    assert_eq!(s.ok(&format!("keys public {KEY}")), public);
    let v = s.ok_json(&format!("keys public {KEY} --json"));
    assert_eq!(v["ok"], true);
    assert_eq!(v["alg"], "EdDSA");
    assert_eq!(v["public_pem"], public.as_str());
    let err = s.fails_json("keys public --key nowhere.pem", ERROR, "IO_ERROR");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nowhere.pem")),
        "{err}"
    );

    let v = s.ok_json("keys generate --dir other --json");
    assert_eq!(v["ok"], true);
    assert_eq!(v["alg"], "EdDSA");
    assert_eq!(v["encrypted"], false);
    assert_eq!(v["signing_key"], "other/signing-key.pem");
    assert_eq!(v["signature_pem"], "other/signature.pem");
    let kid = v["kid"].as_str().expect("kid");
    assert_eq!(kid.len(), 16, "{kid}");
    assert!(kid.bytes().all(|b| b.is_ascii_hexdigit()), "{kid}");
}

#[test]
fn keys_generate_refuses_to_overwrite_unless_forced() {
    let s = Sandbox::new();
    let kid = s.keys();
    let before = s.read("keys/signing-key.pem");
    let err = s.fails("keys generate", ERROR, "KEY_EXISTS");
    assert!(err.contains("keys/signing-key.pem exists already"), "{err}");
    assert!(err.contains("--force"), "says what to do: {err}");
    s.fails_json("keys generate", ERROR, "KEY_EXISTS");
    // Refused before any passphrase is asked for.
    s.fails("keys generate --encrypt", ERROR, "KEY_EXISTS");
    assert_eq!(s.read("keys/signing-key.pem"), before, "untouched");

    let v = s.ok_json("keys generate --force --json");
    assert_ne!(v["kid"], kid.as_str());
    assert_ne!(s.read("keys/signing-key.pem"), before, "replaced");
}

#[test]
fn keys_generate_rsa() {
    let s = Sandbox::new();
    let v = s.ok_json("keys generate --alg rsa --bits 2048 --json");
    assert_eq!(v["alg"], "PS256");
    #[cfg(unix)]
    assert_eq!(common::mode(&s.path("keys/signing-key.pem")), 0o600);
    let license = s.license("--days 30");
    let ok = s.ok_json(&format!("verify {PUB} {license} --json"));
    assert_eq!(ok["alg"], "PS256");
    assert_eq!(ok["kid"], v["kid"]);

    // Sizes outside 2048..=4096 are refused before anything is written.
    let err = s.fails(
        "keys generate --alg rsa --bits 1024 --dir small",
        ERROR,
        "KEY_SIZE_UNSUPPORTED",
    );
    assert!(err.contains("2048 to 4096"), "{err}");
    assert!(!s.path("small/signing-key.pem").exists());
}

#[test]
fn encrypted_key_with_the_passphrase_in_the_environment() {
    let s = Sandbox::new();
    let pass = [("LICET_KEY_PASSPHRASE", "correct horse battery")];
    let out = s.licet_env(&pass, "keys generate --encrypt").success();
    assert!(stdout(&out).contains("encrypted"), "{}", stdout(&out));
    let pem = s.read("keys/signing-key.pem");
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem}"
    );
    #[cfg(unix)]
    assert_eq!(common::mode(&s.path("keys/signing-key.pem")), 0o600);

    let mint = format!("mint license {KEY} --product {PRODUCT}");
    let license = stdout(&s.licet_env(&pass, &mint).success());
    assert!(license.starts_with("LIC-"), "{license}");
    let public = stdout(&s.licet_env(&pass, &format!("keys public {KEY}")).success());
    assert_eq!(public, s.read("keys/signature.pem"));

    // A wrong passphrase is an input error (2), whatever command reads the key.
    let wrong = [("LICET_KEY_PASSPHRASE", "incorrect horse")];
    let err = s.fails_env(&wrong, &mint, ERROR, "PASSPHRASE_WRONG");
    assert!(
        err.contains("keys/signing-key.pem"),
        "names the file: {err}"
    );
    assert!(err.contains("does not decrypt"), "{err}");
    s.fails_env(
        &wrong,
        &format!("keys public {KEY}"),
        ERROR,
        "PASSPHRASE_WRONG",
    );
    let out = s.licet_env(&wrong, &format!("{mint} --json"));
    common::expect_json_failure(out, ERROR, "PASSPHRASE_WRONG");

    // No passphrase, and standard input is not a terminal: no prompt, a clear error.
    let err = s.fails(&mint, ERROR, "PASSPHRASE_REQUIRED");
    assert!(err.contains("--passphrase-file"), "{err}");
    assert!(err.contains("LICET_KEY_PASSPHRASE"), "{err}");
    s.fails_json(&mint, ERROR, "PASSPHRASE_REQUIRED");
    // An empty variable counts as none.
    let empty = [("LICET_KEY_PASSPHRASE", "")];
    s.fails_env(&empty, &mint, ERROR, "PASSPHRASE_REQUIRED");
}

#[test]
fn encrypted_key_with_a_passphrase_file() {
    let s = Sandbox::new();
    s.write("pass.txt", "correct horse battery\n");
    s.ok("keys generate --encrypt --passphrase-file pass.txt");
    let pem = s.read("keys/signing-key.pem");
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let public = format!("keys public {KEY} --passphrase-file");
    assert_eq!(
        s.ok(&format!("{public} pass.txt")),
        s.read("keys/signature.pem")
    );
    // The file wins over the environment; only its first line counts (CRLF too).
    s.write("pass-crlf.txt", "correct horse battery\r\nsecond line\r\n");
    let wrong_env = [("LICET_KEY_PASSPHRASE", "incorrect")];
    s.licet_env(&wrong_env, &format!("{public} pass-crlf.txt"))
        .success();

    s.write("wrong.txt", "incorrect horse\n");
    s.fails(&format!("{public} wrong.txt"), ERROR, "PASSPHRASE_WRONG");
    s.write("empty.txt", "");
    let err = s.fails(&format!("{public} empty.txt"), ERROR, "PASSPHRASE_REQUIRED");
    assert!(
        err.contains("empty.txt: the passphrase file is empty"),
        "{err}"
    );
    let err = s.fails(&format!("{public} missing.txt"), ERROR, "IO_ERROR");
    assert!(err.contains("missing.txt"), "{err}");
}

#[test]
fn a_new_passphrase_must_be_given_and_long_enough() {
    let s = Sandbox::new();
    let err = s.fails("keys generate --encrypt", ERROR, "PASSPHRASE_REQUIRED");
    assert!(err.contains("--passphrase-file"), "{err}");
    s.fails_json("keys generate --encrypt", ERROR, "PASSPHRASE_REQUIRED");
    s.write("short.txt", "short\n");
    let line = "keys generate --encrypt --passphrase-file short.txt";
    let err = s.fails(line, ERROR, "PASSPHRASE_TOO_SHORT");
    assert!(err.contains("at least 8 characters"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    s.fails_json(line, ERROR, "PASSPHRASE_TOO_SHORT");
    assert!(!s.path("keys").exists(), "nothing written");
}

#[test]
fn bad_key_files_are_refused_with_what_to_do() {
    let s = Sandbox::new();
    s.keys();
    let good = s.read("keys/signing-key.pem");
    let check = |name: &str, contents: &str, code: &str, says: &str| {
        s.write(name, contents);
        let line = format!("mint license --key {name} --product {PRODUCT}");
        let err = s.fails(&line, ERROR, code);
        assert!(err.contains(name), "{name}: names the file: {err}");
        assert!(err.contains(says), "{name}: expected '{says}' in: {err}");
        s.fails_json(&line, ERROR, code);
    };
    // One character of the base64 changed: the DER inside no longer parses.
    let body = good.lines().nth(1).expect("a body line");
    let corrupt = good.replacen(body, &format!("A{}", &body[1..]), 1);
    check(
        "corrupt.pem",
        &corrupt,
        "KEY_INVALID",
        "signing key cannot be used",
    );
    let bad_char = good.replacen(body, &format!("{}*", &body[1..]), 1);
    check(
        "bad-char.pem",
        &bad_char,
        "KEY_INVALID",
        "damaged or truncated",
    );
    check(
        "truncated.pem",
        &good[..good.len() / 2],
        "KEY_INVALID",
        "damaged or truncated",
    );
    let no_end: String = good.lines().take(2).map(|l| format!("{l}\n")).collect();
    check("no-end.pem", &no_end, "KEY_INVALID", "truncated");
    check(
        "empty.pem",
        "",
        "KEY_INVALID",
        "'-----BEGIN PRIVATE KEY-----'",
    );
    check(
        "garbage.pem",
        "not a key\n",
        "KEY_INVALID",
        "not a complete PEM private key",
    );
    // The public key where the private one belongs, bare or with a comment line above.
    let public = s.read("keys/signature.pem");
    check(
        "public.pem",
        &public,
        "KEY_INVALID",
        "this is a public key (signature.pem)",
    );
    let commented = format!("# the vendor's keys\n{public}");
    check(
        "commented.pem",
        &commented,
        "KEY_INVALID",
        "signing needs the private key",
    );
    // A missing file.
    let err = s.fails(
        &format!("mint license --key nope.pem --product {PRODUCT}"),
        ERROR,
        "IO_ERROR",
    );
    assert!(err.contains("nope.pem"), "{err}");
    // A private key with a comment above it is fine (RFC 7468 allows text before a block).
    s.write("commented-key.pem", &format!("# the vendor key\n{good}"));
    s.ok("keys public --key commented-key.pem");
}

// ---------------------------------------------------------------------------------------
// keys rotate

#[test]
fn keys_rotate_keeps_old_tokens_valid_and_signs_with_the_new_key() {
    let s = Sandbox::new();
    let old_kid = s.keys();
    let old_license = s.license("--days 30");
    let old_ring = s.read("keys/signature.pem");
    let before = s.read("keys/signing-key.pem");

    let v = s.ok_json("keys rotate --json");
    assert_eq!(v["ok"], true);
    let new_kid = v["new_kid"].as_str().expect("new kid").to_owned();
    assert_eq!(v["retired_kid"], old_kid.as_str());
    assert_ne!(new_kid, old_kid);
    let retired = format!("keys/retired/{old_kid}.pem");
    assert_eq!(v["retired_key"], retired.as_str());
    assert_eq!(v["signature_pem"], "keys/signature.pem");
    // The retired key is the old key file, unchanged and still private.
    assert_eq!(s.read(&retired), before);
    #[cfg(unix)]
    {
        assert_eq!(common::mode(&s.path(&retired)), 0o600);
        assert_eq!(common::mode(&s.path("keys/signing-key.pem")), 0o600);
    }
    let ring = s.read("keys/signature.pem");
    assert_eq!(
        ring.matches("-----BEGIN PUBLIC KEY-----").count(),
        2,
        "{ring}"
    );
    assert!(
        ring.ends_with(&old_ring),
        "the old key stays, the new one comes first"
    );

    // Tokens of the old key still verify against the new signature.pem...
    let ok = s.ok_json(&format!("verify {PUB} {old_license} --json"));
    assert_eq!(ok["kid"], old_kid.as_str());
    // ...and new tokens carry the new kid.
    let new_license = s.license("");
    let seen = s.ok_json(&format!("inspect {new_license} --json"));
    assert_eq!(seen["kid"], new_kid.as_str());
    let ok = s.ok_json(&format!("verify {PUB} {new_license} --json"));
    assert_eq!(ok["kid"], new_kid.as_str());
    // An application still holding only the old signature.pem cannot check new tokens:
    // publish the new one before minting with the new key.
    s.write("old-signature.pem", &old_ring);
    let line = format!("verify --pubkey old-signature.pem {new_license}");
    s.fails(&line, INVALID, "KEY_UNKNOWN");

    // The text report says where everything went.
    let out = s.ok("keys rotate");
    let moved = format!("Old key {new_kid} moved to keys/retired/{new_kid}.pem");
    assert!(out.contains(&moved), "{out}");
    let ring = s.read("keys/signature.pem");
    assert_eq!(ring.matches("BEGIN PUBLIC KEY").count(), 3);
}

#[test]
fn keys_rotate_an_encrypted_key() {
    let s = Sandbox::new();
    let pass = [("LICET_KEY_PASSPHRASE", "correct horse battery")];
    s.licet_env(&pass, "keys generate --encrypt").success();
    let ring = s.read("keys/signature.pem");

    // A wrong or missing passphrase changes nothing.
    let wrong = [("LICET_KEY_PASSPHRASE", "incorrect horse")];
    s.fails_env(&wrong, "keys rotate", ERROR, "PASSPHRASE_WRONG");
    s.fails("keys rotate", ERROR, "PASSPHRASE_REQUIRED");
    s.fails_json("keys rotate", ERROR, "PASSPHRASE_REQUIRED");
    assert_eq!(s.read("keys/signature.pem"), ring);
    assert!(!s.path("keys/retired").exists());

    // The right one: the new key is encrypted with it too.
    s.licet_env(&pass, "keys rotate").success();
    let pem = s.read("keys/signing-key.pem");
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let mint = format!("mint license {KEY} --product {PRODUCT}");
    s.licet_env(&pass, &mint).success();
    s.fails(&mint, ERROR, "PASSPHRASE_REQUIRED");
}

#[test]
fn keys_rotate_can_start_encrypting() {
    let s = Sandbox::new();
    s.keys();
    s.write("pass.txt", "correct horse battery\n");
    s.fails("keys rotate --encrypt", ERROR, "PASSPHRASE_REQUIRED");
    assert!(!s.path("keys/retired").exists(), "nothing changed");
    s.ok("keys rotate --encrypt --passphrase-file pass.txt");
    let pem = s.read("keys/signing-key.pem");
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    s.ok(&format!("keys public {KEY} --passphrase-file pass.txt"));
}

#[test]
fn keys_rotate_without_keys() {
    let s = Sandbox::new();
    let err = s.fails("keys rotate", ERROR, "IO_ERROR");
    assert!(err.contains("keys/signing-key.pem"), "{err}");
    s.fails_json("keys rotate --dir elsewhere", ERROR, "IO_ERROR");
}

// ---------------------------------------------------------------------------------------
// mint

#[test]
fn mint_license_with_every_option() {
    let s = Sandbox::new();
    let kid = s.keys();
    let v = s.ok_json(&format!(
        "mint license {KEY} --product {PRODUCT} \
         --feature export-pdf --feature cloud-sync --feature export-pdf \
         --expires 2099-12-31 --not-before 2000-01-01 --max-machines 3 --max-leases 5 \
         --type subscription --customer cus_8842 --issuer 'Acme Corp' \
         --meta seat=studio --meta order=A-17=b --json"
    ));
    assert_eq!(v["ok"], true);
    assert_eq!(v["file"], Value::Null);
    let token = v["token"].as_str().expect("token");
    assert!(token.starts_with("LIC-"), "{token}");
    assert_eq!(
        v["bytes"],
        s.ok_json(&format!("inspect {token} --json"))["bytes"]
    );
    let c = &v["claims"];
    assert_eq!(c["kind"], "license");
    assert_eq!(c["product"], PRODUCT);
    assert_eq!(
        c["features"],
        json!(["cloud-sync", "export-pdf"]),
        "sorted, unique"
    );
    // A date is valid through its whole day (UTC): the expiry is the next midnight.
    assert_eq!(c["expires_at"], 4_102_444_800_u64, "2100-01-01T00:00:00Z");
    assert_eq!(c["not_before"], 946_684_800_u64, "2000-01-01T00:00:00Z");
    assert_eq!(c["max_machines"], 3);
    assert_eq!(c["max_leases"], 5);
    assert_eq!(c["license_type"], "subscription");
    assert_eq!(c["customer"], "cus_8842");
    assert_eq!(c["issuer"], "Acme Corp");
    assert_eq!(c["metadata"], json!({"order": "A-17=b", "seat": "studio"}));
    let iat = c["issued_at"].as_u64().expect("iat");
    assert!(iat.abs_diff(now()) < 300, "issued now: {iat}");
    assert_eq!(c["id"].as_str().map(str::len), Some(32));

    // What mint says is what verify finds.
    let ok = s.ok_json(&format!("verify {PUB} {token} --json"));
    assert_eq!(ok["valid"], true);
    assert_eq!(ok["kid"], kid.as_str());
    assert_eq!(ok["claims"], *c);

    // The text view shows every claim.
    let out = s.ok(&format!("verify {PUB} {token}"));
    for line in [
        "VALID license token, signed by EdDSA key",
        "issuer:        Acme Corp",
        "customer:      cus_8842",
        "not before:    2000-01-01T00:00:00Z",
        "expires at:    2100-01-01T00:00:00Z",
        "features:      cloud-sync, export-pdf",
        "type:          subscription",
        "max machines:  3",
        "max leases:    5",
        "meta order: A-17=b",
        "meta seat: studio",
    ] {
        assert!(out.contains(line), "missing '{line}' in:\n{out}");
    }
}

#[test]
fn mint_license_to_a_file() {
    let s = Sandbox::new();
    s.keys();
    let out = s.ok(&format!(
        "mint license {KEY} --product {PRODUCT} --days 30 --out license.lic"
    ));
    assert!(out.starts_with("Wrote license.lic (license "), "{out}");
    let file = s.read("license.lic");
    assert!(
        file.starts_with("-----BEGIN LICET LICENSE-----\nLIC-"),
        "{file}"
    );
    assert!(file.ends_with("-----END LICET LICENSE-----\n"), "{file}");
    assert!(file.lines().all(|l| l.len() <= 64), "wrapped at 64: {file}");
    #[cfg(unix)]
    assert_eq!(common::mode(&s.path("license.lic")), 0o644);
    let v = s.ok_json(&format!("verify {PUB} license.lic --json"));
    let exp = v["claims"]["expires_at"].as_u64().expect("exp");
    assert!(exp.abs_diff(now() + 30 * 86_400) < 300, "{exp}");

    // --json with --out names the file; no --days nor --expires makes a perpetual license.
    let v = s.ok_json(&format!(
        "mint license {KEY} --product {PRODUCT} --out perpetual.lic --json"
    ));
    assert_eq!(v["file"], "perpetual.lic");
    assert_eq!(v["claims"]["expires_at"], Value::Null);
    let out = s.ok("inspect perpetual.lic");
    assert!(out.contains("expires at:    never (perpetual)"), "{out}");
}

#[test]
fn mint_license_bad_options() {
    let s = Sandbox::new();
    s.keys();
    let fails = |options: &str, code: &str| {
        let line = format!("mint license {KEY} {options}");
        s.fails_json(&line, ERROR, code);
        s.fails(&line, ERROR, code)
    };
    let err = fails(
        &format!("--product {PRODUCT} --expires 'next year'"),
        "BAD_TIME",
    );
    assert!(err.contains("'next year' is not a time"), "{err}");
    assert!(
        err.contains("2027-01-15"),
        "shows the forms it takes: {err}"
    );
    fails(
        &format!("--product {PRODUCT} --not-before soon"),
        "BAD_TIME",
    );
    let err = fails(
        &format!("--product {PRODUCT} --meta novalue"),
        "BAD_REQUEST",
    );
    assert!(err.contains("KEY=VALUE"), "{err}");
    let err = fails("--product ''", "TOKEN_MALFORMED");
    assert!(err.contains("cannot issue this token: product"), "{err}");
    assert!(
        !err.contains("copy the whole token"),
        "advice for issuing, not reading: {err}"
    );
    fails(&format!("--product {}", "p".repeat(65)), "TOKEN_MALFORMED");
    let metas: String = (0..17).map(|i| format!(" --meta k{i}=v")).collect();
    let err = fails(&format!("--product {PRODUCT}{metas}"), "TOKEN_MALFORMED");
    assert!(err.contains("metadata"), "{err}");
    // Every claim within its limit, yet a token over the 8192-byte binary cap: not issued
    // (token-format.md §6.4), and nothing is written.
    let features: String = (0..64)
        .map(|i| format!(" --feature f{i:02}{}", "x".repeat(61)))
        .collect();
    let metas: String = (0..16)
        .map(|i| format!(" --meta m{i:02}{}={}", "k".repeat(29), "v".repeat(256)))
        .collect();
    let big = format!("--product {PRODUCT}{features}{metas} --out big.lic");
    let err = fails(&big, "TOKEN_TOO_LARGE");
    assert!(
        err.contains("over the format's cap of 8192") && err.contains("use fewer or shorter"),
        "{err}"
    );
    assert!(!s.path("big.lic").exists(), "nothing written");

    // Usage errors are clap's: exit 2, saying what is wrong.
    let line = format!("mint license {KEY} --product {PRODUCT} --days 3 --expires 2099-01-01");
    let out = s.licet(&line).code(ERROR);
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    s.licet(&format!("mint license {KEY}")).code(ERROR);
    s.licet(&format!("mint license {KEY} --product p --type forever"))
        .code(ERROR);
    s.licet(&format!("mint license {KEY} --product p --days -1"))
        .code(ERROR);
}

/// A token expired the moment it is signed is a slip (`--days 0`, a date in the past),
/// refused with what to do; `--allow-expired` makes one on purpose, for tests.
#[test]
fn mint_refuses_a_token_that_is_expired_when_signed() {
    let s = Sandbox::new();
    s.keys();
    let license = format!("mint license {KEY} --product {PRODUCT}");
    for (options, asked) in [
        ("--days 0", "--days 0"),
        ("--expires 2020-01-01", "--expires 2020-01-01"),
        ("--expires @1000", "--expires @1000"),
    ] {
        let line = format!("{license} {options}");
        s.fails_json(&line, ERROR, "ALREADY_EXPIRED");
        let err = s.fails(&line, ERROR, "ALREADY_EXPIRED");
        assert!(err.contains(asked), "names the option: {err}");
        assert!(err.contains("--allow-expired"), "says what to do: {err}");
    }
    let err = s.fails(
        &format!("{license} --expires 2020-01-01"),
        ERROR,
        "ALREADY_EXPIRED",
    );
    assert!(
        err.contains("2020-01-02T00:00:00Z"),
        "a readable time: {err}"
    );
    // A date is valid through that day: today's date is not expired.
    let today = &licet::json::rfc3339(now())[..10];
    s.ok(&format!("{license} --expires {today}"));

    // On purpose: signed, and verify says it has expired.
    let v = s.ok_json(&format!("{license} --days 0 --allow-expired --json"));
    let token = v["token"].as_str().expect("token").to_owned();
    s.fails(
        &format!("verify {PUB} {token} --leeway 0"),
        INVALID,
        "TOKEN_EXPIRED",
    );

    // Machine and lease tokens of a valid license: the same rule.
    s.ok(&format!("{license} --days 30 --out license.lic"));
    let fp = "ab".repeat(32);
    let machine = format!("mint machine {KEY} --license license.lic --fingerprint {fp}");
    let err = s.fails(&format!("{machine} --days 0"), ERROR, "ALREADY_EXPIRED");
    assert!(err.contains("--days 0"), "{err}");
    s.ok(&format!("{machine} --days 0 --allow-expired"));
    let lease = format!("mint lease {KEY} --license license.lic");
    s.fails_json(&format!("{lease} --minutes 0"), ERROR, "ALREADY_EXPIRED");
    s.ok(&format!("{lease} --minutes 0 --allow-expired"));
}

/// `mint machine` is for machines activated offline, like `offline respond`: the same
/// default lifetime ([`licet::offline::DEFAULT_DAYS`], 365 days), since such a machine
/// cannot check in to renew its token.
#[test]
fn mint_machine_lasts_as_long_as_an_offline_activation_by_default() {
    let s = Sandbox::new();
    s.keys();
    s.ok(&format!(
        "mint license {KEY} --product {PRODUCT} --out license.lic"
    ));
    let fp = "ab".repeat(32);
    let v = s.ok_json(&format!(
        "mint machine {KEY} --license license.lic --fingerprint {fp} --json"
    ));
    let exp = v["claims"]["expires_at"].as_u64().expect("exp");
    assert!(exp.abs_diff(now() + 365 * 86_400) < 300, "{exp}");
}

#[test]
fn mint_machine_for_a_fingerprint() {
    let s = Sandbox::new();
    s.keys();
    s.ok(&format!(
        "mint license {KEY} --product {PRODUCT} --days 100 --feature export-pdf \
         --customer cus_1 --out license.lic"
    ));
    let license = s.ok_json("inspect license.lic --json");
    let fp = s.fingerprint(PRODUCT);
    let machine = format!("mint machine {KEY} --license license.lic --fingerprint");

    let v = s.ok_json(&format!("{machine} {fp} --days 7 --json"));
    let token = v["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("MCH-"), "{token}");
    let c = &v["claims"];
    assert_eq!(c["kind"], "machine");
    assert_eq!(c["fingerprint"], fp.as_str());
    assert_eq!(c["license_id"], license["claims"]["id"]);
    assert_eq!(
        c["features"], license["claims"]["features"],
        "copied from the license"
    );
    assert_eq!(c["customer"], "cus_1");
    let exp = c["expires_at"].as_u64().expect("exp");
    assert!(exp.abs_diff(now() + 7 * 86_400) < 300, "{exp}");

    s.ok(&format!("verify {PUB} {token} --fingerprint {fp}"));
    // This machine's fingerprint for another product is, to the token, another machine.
    let other = s.fingerprint("another-product");
    let line = format!("verify {PUB} {token} --fingerprint {other}");
    let err = s.fails(&line, INVALID, "FINGERPRINT_MISMATCH");
    assert!(err.contains("another machine"), "{err}");
    s.fails_json(&line, INVALID, "FINGERPRINT_MISMATCH");

    // The check-in deadline never passes the license's expiry.
    let v = s.ok_json(&format!("{machine} {fp} --days 1000 --json"));
    assert_eq!(v["claims"]["expires_at"], license["claims"]["expires_at"]);

    // Written to a file.
    let out = s.ok(&format!("{machine} {fp} --out machine.lic"));
    assert!(out.starts_with("Wrote machine.lic (machine "), "{out}");
    assert!(
        s.read("machine.lic")
            .starts_with("-----BEGIN LICET MACHINE-----")
    );

    // Bad fingerprints.
    let err = s.fails(&format!("{machine} abc"), ERROR, "BAD_FINGERPRINT");
    assert!(err.contains("expected 64 hex digits"), "{err}");
    s.fails(
        &format!("{machine} {}", "zz".repeat(32)),
        ERROR,
        "BAD_FINGERPRINT",
    );
    s.fails_json(&format!("{machine} abc"), ERROR, "BAD_FINGERPRINT");
    // Bad licenses.
    let with = |license: &str| format!("mint machine {KEY} --license {license} --fingerprint {fp}");
    s.fails(&with("no-such.lic"), ERROR, "IO_ERROR");
    // Another vendor's license is refused: checked against our own keys...
    let other_vendor = s.test_key("other-vendor.pem");
    s.ok(&format!(
        "mint license --key {other_vendor} --product {PRODUCT} --out foreign.lic"
    ));
    let err = s.fails(&with("foreign.lic"), INVALID, "KEY_UNKNOWN");
    assert!(err.contains("the license cannot be used"), "{err}");
    s.fails_json(&with("foreign.lic"), INVALID, "KEY_UNKNOWN");
    // ...or against the signature.pem --pubkey names.
    s.fails(
        &format!("{} {PUB}", with("foreign.lic")),
        INVALID,
        "KEY_UNKNOWN",
    );
    // An expired license gets no new machines.
    s.ok(&format!(
        "mint license {KEY} --product {PRODUCT} --expires 2020-01-01 --allow-expired --out expired.lic"
    ));
    let err = s.fails(&with("expired.lic"), INVALID, "TOKEN_EXPIRED");
    assert!(
        err.contains("expired at 2020-01-02T00:00:00Z"),
        "a readable time: {err}"
    );
    // A machine token is not a license.
    s.fails(&with("machine.lic"), INVALID, "WRONG_KIND");
}

#[test]
fn mint_lease_for_a_license() {
    let s = Sandbox::new();
    s.keys();
    let license = s.license("--days 30 --max-leases 5");
    // The license may come on standard input.
    let line = format!("mint lease {KEY} --license - --minutes 15 --client-id ws-17 --json");
    let v = json(&stdout(&s.licet_stdin(&license, &line).success()));
    let c = &v["claims"];
    assert_eq!(c["kind"], "lease");
    assert_eq!(c["client_id"], "ws-17");
    let lic = s.ok_json(&format!("inspect {license} --json"));
    assert_eq!(c["license_id"], lic["claims"]["id"]);
    let exp = c["expires_at"].as_u64().expect("exp");
    assert!(exp.abs_diff(now() + 15 * 60) < 300, "{exp}");
    let token = v["token"].as_str().expect("token");
    assert!(token.starts_with("LSE-"), "{token}");
    s.ok(&format!("verify {PUB} --kind lease {token}"));
    // Past its end (and the leeway) the lease has expired.
    let later = now() + 16 * 60 + 120;
    let line = format!("verify {PUB} {token} --at @{later}");
    s.fails(&line, INVALID, "TOKEN_EXPIRED");

    let out = s.ok(&format!(
        "mint lease {KEY} --license {license} --out lease.lic"
    ));
    assert!(out.starts_with("Wrote lease.lic (lease "), "{out}");
    assert!(
        s.read("lease.lic")
            .starts_with("-----BEGIN LICET LEASE-----")
    );
    // Not for another vendor's license, nor for a lease.
    let other_vendor = s.test_key("other-vendor.pem");
    s.ok(&format!(
        "mint license --key {other_vendor} --product {PRODUCT} --out foreign.lic"
    ));
    let lease = format!("mint lease {KEY} --license");
    s.fails(&format!("{lease} foreign.lic"), INVALID, "KEY_UNKNOWN");
    s.fails(&format!("{lease} lease.lic"), INVALID, "WRONG_KIND");
}

// ---------------------------------------------------------------------------------------
// inspect

#[test]
fn inspect_shows_claims_without_checking() {
    let s = Sandbox::new();
    let kid = s.keys();
    let license = s.license("--customer cus_8842 --feature export-pdf");
    s.write("license.txt", &format!("{license}\n"));

    let text = s.ok(&format!("inspect {license}"));
    let warning = "UNVERIFIED: the signature and times were NOT checked (use `licet verify`).";
    assert!(text.starts_with(warning), "{text}");
    for line in [
        "alg:           EdDSA".to_owned(),
        format!("kid:           {kid}"),
        format!("product:       {PRODUCT}"),
        "customer:      cus_8842".to_owned(),
        "features:      export-pdf".to_owned(),
    ] {
        assert!(text.contains(&line), "missing '{line}' in:\n{text}");
    }
    // The same from a file and from standard input.
    assert_eq!(s.ok("inspect license.txt"), text);
    assert_eq!(
        stdout(&s.licet_stdin(&license, "inspect -").success()),
        text
    );

    let v = s.ok_json(&format!("inspect {license} --json"));
    assert_eq!(v["verified"], false, "says it did not verify");
    assert_eq!(v["alg"], "EdDSA");
    assert_eq!(v["kid"], kid.as_str());
    assert_eq!(v["claims"]["product"], PRODUCT);
    assert!(v["bytes"].as_u64().is_some_and(|n| n > 100), "{v}");

    // Another vendor's token inspects fine: inspect checks nothing.
    let other_vendor = s.test_key("other-vendor.pem");
    let foreign = s.ok(&format!("mint license --key {other_vendor} --product x"));
    s.ok(&format!("inspect {}", foreign.trim()));

    // Not a token.
    s.fails("inspect LIC-!!!", INVALID, "TOKEN_MALFORMED");
    s.fails_json("inspect LIC-!!!", INVALID, "TOKEN_MALFORMED");
    let truncated = &license[..license.len() / 2];
    s.fails(&format!("inspect {truncated}"), INVALID, "TOKEN_MALFORMED");
    let err = s.fails("inspect no-such-file.lic", ERROR, "IO_ERROR");
    assert!(err.contains("no such file, and not a token"), "{err}");
    s.fails_json("inspect no-such-file.lic", ERROR, "IO_ERROR");
    s.licet("inspect").code(ERROR);
}

// ---------------------------------------------------------------------------------------
// verify

#[test]
fn verify_accepts_every_form() {
    let s = Sandbox::new();
    s.keys();
    let license = s.license("--days 30");
    s.write("license.txt", &license);
    s.ok(&format!(
        "mint license {KEY} --product {PRODUCT} --out license.lic"
    ));

    let out = s.ok(&format!("verify {PUB} {license}"));
    assert!(
        out.starts_with("VALID license token, signed by EdDSA key "),
        "{out}"
    );
    s.ok(&format!("verify {PUB} license.lic"));
    s.ok(&format!("verify {PUB} license.txt"));
    s.ok(&format!("verify {PUB} {}", license.to_lowercase()));
    let out = s.licet_stdin(&s.read("license.lic"), &format!("verify {PUB} -"));
    assert!(stdout(&out.success()).starts_with("VALID"));
    s.ok(&format!(
        "verify {PUB} --kind license --product {PRODUCT} {license}"
    ));

    let v = s.ok_json(&format!("verify {PUB} {license} --json"));
    assert_eq!(v["ok"], true);
    assert_eq!(v["valid"], true);
    assert_eq!(v["alg"], "EdDSA");
    assert!(
        v["checked_at"]
            .as_u64()
            .is_some_and(|t| t.abs_diff(now()) < 300)
    );
    // --at moves the clock.
    let tomorrow = now() + 86_400;
    let v = s.ok_json(&format!("verify {PUB} {license} --json --at @{tomorrow}"));
    assert_eq!(v["checked_at"].as_u64(), Some(tomorrow));

    // A fixed test vector, checked at its own time, with each form of --at.
    let ring = s.test_key("signature.pem");
    let example = std::fs::read_to_string(common::vectors_dir().join("example-license.txt"))
        .expect("example-license.txt");
    s.write("example.txt", &example);
    let v = s.ok_json(&format!(
        "verify --pubkey {ring} example.txt --at @1800000000 --json"
    ));
    assert_eq!(v["claims"]["customer"], "cus_8842");
    assert_eq!(v["kid"], "a49580964b11e515");
    for at in [
        "2027-01-15",
        "2027-01-15T08:00:00Z",
        "2027-01-15T09:00:00+01:00",
    ] {
        s.ok(&format!("verify --pubkey {ring} example.txt --at {at}"));
    }
}

/// Every kind of bad token and bad input, with the exit code and the error code that
/// `verify` gives, on stderr and in `--json`.
#[test]
fn verify_refuses_bad_input_with_the_exact_code() {
    let s = Sandbox::new();
    s.keys();
    let license = s.license("--days 30");
    let fp = s.fingerprint(PRODUCT);
    let machine = s.ok(&format!(
        "mint machine {KEY} --license {license} --fingerprint {fp}"
    ));
    let machine = machine.trim();
    let other_vendor = s.test_key("other-vendor.pem");
    let foreign = s.ok(&format!(
        "mint license --key {other_vendor} --product {PRODUCT}"
    ));
    let foreign = foreign.trim();
    let expired = s.license("--expires 2020-01-01 --allow-expired");
    let future = s.license("--not-before 2090-01-01 --expires 2091-01-01");
    let tampered = change_char(&license, license.len() - 20); // inside the signature
    let truncated = &license[..license.len() - 30];
    s.write("license.lic", &license);
    s.write("private-as-token.pem", &s.read("keys/signing-key.pem"));
    let zeros = "00".repeat(32);
    let in_60_days = now() + 60 * 86_400;
    let yesterday = now() - 86_400;

    // (what, arguments after `verify --pubkey keys/signature.pem`, exit, code, message part)
    let cases: Vec<(&str, String, i32, &str, &str)> = vec![
        (
            "another vendor's key",
            foreign.to_owned(),
            INVALID,
            "KEY_UNKNOWN",
            "not in signature.pem",
        ),
        (
            "expired",
            expired.clone(),
            INVALID,
            "TOKEN_EXPIRED",
            "expired at 2020-01-02T00:00:00Z",
        ),
        (
            "expired by --at",
            format!("{license} --at @{in_60_days}"),
            INVALID,
            "TOKEN_EXPIRED",
            "renew",
        ),
        (
            "not yet valid",
            future.clone(),
            INVALID,
            "TOKEN_NOT_YET_VALID",
            "valid only from 2090-01-01T00:00:00Z",
        ),
        (
            "clock set back",
            format!("{license} --at @{yesterday}"),
            INVALID,
            "CLOCK_ROLLBACK",
            "set the clock",
        ),
        (
            "wrong product",
            format!("{license} --product acme-studio-lite"),
            INVALID,
            "WRONG_PRODUCT",
            "not 'acme-studio-lite'",
        ),
        (
            "wrong kind",
            format!("{license} --kind machine"),
            INVALID,
            "WRONG_KIND",
            "expected a machine token",
        ),
        (
            "wrong fingerprint",
            format!("{machine} --fingerprint {zeros}"),
            INVALID,
            "FINGERPRINT_MISMATCH",
            "another machine",
        ),
        (
            "a license where --fingerprint wants a machine",
            format!("{license} --fingerprint {fp}"),
            INVALID,
            "WRONG_KIND",
            "expected a machine token",
        ),
        (
            "a tampered character",
            tampered.clone(),
            INVALID,
            "SIGNATURE_INVALID",
            "signature is invalid",
        ),
        (
            "truncated",
            truncated.to_owned(),
            INVALID,
            "TOKEN_MALFORMED",
            "copy the whole token",
        ),
        (
            "a private key as the token",
            "private-as-token.pem".into(),
            INVALID,
            "TOKEN_MALFORMED",
            "LIC-",
        ),
        (
            "a missing token file",
            "missing.lic".into(),
            ERROR,
            "IO_ERROR",
            "missing.lic",
        ),
        (
            "a bad --at",
            format!("{license} --at yesterday"),
            ERROR,
            "BAD_TIME",
            "@1800000000",
        ),
        (
            "a bad --fingerprint",
            format!("{machine} --fingerprint 12ab"),
            ERROR,
            "BAD_FINGERPRINT",
            "64 hex digits",
        ),
    ];
    for (what, args, exit, code, says) in &cases {
        let line = format!("verify {PUB} {args}");
        let err = s.fails(&line, *exit, code);
        assert!(err.contains(says), "{what}: expected '{says}' in: {err}");
        let v = s.fails_json(&line, *exit, code);
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{what}: {message}");
        if *exit == INVALID {
            assert_eq!(v["valid"], false, "{what}: {v}");
        }
    }

    // The public keys themselves.
    s.write("empty.pem", "");
    s.write("cut.pem", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n");
    for (file, code, says) in [
        ("missing.pem", "IO_ERROR", "give the vendor's public keys"),
        (
            "keys/signing-key.pem",
            "KEYRING_INVALID",
            "never ship a private key",
        ),
        (
            "empty.pem",
            "KEYRING_INVALID",
            "signature.pem cannot be used",
        ),
        ("cut.pem", "KEYRING_INVALID", "signature.pem cannot be used"),
    ] {
        let line = format!("verify --pubkey {file} license.lic");
        let err = s.fails(&line, ERROR, code);
        assert!(err.contains(file) && err.contains(says), "{file}: {err}");
        s.fails_json(&line, ERROR, code);
    }
    // Empty and oversized standard input.
    let out = s.licet_stdin("", &format!("verify {PUB} - --json"));
    common::expect_json_failure(out, INVALID, "TOKEN_MALFORMED");
    let huge = format!("LIC-{}", "A".repeat(20_000));
    let out = s.licet_stdin(&huge, &format!("verify {PUB} - --json"));
    common::expect_json_failure(out, INVALID, "TOKEN_TOO_LARGE");
}

/// A token too large to be one is a token error, exit 1, however it is given
/// (docs/cli.md: token errors exit 1); it used to be exit 2 from a file.
#[test]
fn an_oversized_token_exits_1_in_every_form() {
    let s = Sandbox::new();
    s.keys();
    let huge = format!("LIC-{}", "A".repeat(20_000));
    s.write("huge.lic", &huge);
    let line = format!("verify {PUB}");
    for (form, err) in [
        (
            "a file",
            s.fails(&format!("{line} huge.lic"), INVALID, "TOKEN_TOO_LARGE"),
        ),
        (
            "an argument",
            s.fails(&format!("{line} {huge}"), INVALID, "TOKEN_TOO_LARGE"),
        ),
        (
            "standard input",
            common::expect_failure(
                s.licet_stdin(&huge, &format!("{line} -")),
                INVALID,
                "TOKEN_TOO_LARGE",
            ),
        ),
    ] {
        assert!(err.contains("larger than any licet token"), "{form}: {err}");
    }
    let err = s.fails(&format!("{line} huge.lic"), INVALID, "TOKEN_TOO_LARGE");
    assert!(
        err.contains("input of 20004 bytes"),
        "the file's own size: {err}"
    );
    s.fails_json(&format!("{line} huge.lic"), INVALID, "TOKEN_TOO_LARGE");
    // So is a file given to `offline import`.
    s.fails(
        &format!("offline import huge.lic {PUB}"),
        INVALID,
        "TOKEN_TOO_LARGE",
    );
    // A license given to `mint` as a file is a token too.
    s.fails(
        &format!(
            "mint machine {KEY} --license huge.lic --fingerprint {}",
            "00".repeat(32)
        ),
        INVALID,
        "TOKEN_TOO_LARGE",
    );
}

/// A prefix or armor naming another kind than the signed one is TOKEN_MALFORMED (§9 check
/// 10, before kind, product and times), with or without `--kind`; without `--kind` the
/// kind expected is the one the prefix names, never "a license" by default.
#[test]
fn a_prefix_naming_another_kind_is_malformed() {
    let s = Sandbox::new();
    s.keys();
    let license = s.license("--days 30");
    let fp = s.fingerprint(PRODUCT);
    let machine = s.ok(&format!(
        "mint machine {KEY} --license {license} --fingerprint {fp}"
    ));
    let machine = machine.trim();
    let as_machine = license.replacen("LIC-", "MCH-", 1);
    let as_license = machine.replacen("MCH-", "LIC-", 1);
    s.ok(&format!(
        "mint license {KEY} --product {PRODUCT} --days 30 --out l.lic"
    ));
    let armored = s
        .read("l.lic")
        .replace("LICET LICENSE", "LICET MACHINE")
        .replacen("LIC-", "MCH-", 1);
    s.write("relabelled.lic", &armored);
    let in_60_days = now() + 60 * 86_400;
    for args in [
        as_machine.clone(),
        format!("{as_machine} --kind machine"),
        format!("{as_machine} --kind machine --product other"),
        format!("{as_machine} --kind machine --at @{in_60_days}"),
        as_license.clone(),
        format!("{as_license} --kind license"),
        "relabelled.lic".to_owned(),
        "relabelled.lic --kind machine".to_owned(),
    ] {
        let line = format!("verify {PUB} {args}");
        let err = s.fails(&line, INVALID, "TOKEN_MALFORMED");
        assert!(err.contains("prefix names another kind"), "{args}: {err}");
        assert!(!err.contains("expected a"), "{args}: {err}");
        s.fails_json(&line, INVALID, "TOKEN_MALFORMED");
    }
}

/// Machine and lease tokens carry what an application reads from its license: features,
/// customer, issuer and metadata, and an expiry never past the license's.
#[test]
fn machine_and_lease_tokens_carry_the_license_claims() {
    let s = Sandbox::new();
    s.keys();
    s.ok(&format!(
        "mint license {KEY} --product {PRODUCT} --days 100 --feature export-pdf          --feature cloud-sync --customer cus_1 --issuer Acme --meta order=A-1042          --meta region=eu --type subscription --out license.lic"
    ));
    let license = s.ok_json("inspect license.lic --json")["claims"].clone();
    let fp = s.fingerprint(PRODUCT);
    let machine = s.ok_json(&format!(
        "mint machine {KEY} --license license.lic --fingerprint {fp} --days 1000 --json"
    ))["claims"]
        .clone();
    let lease = s.ok_json(&format!(
        "mint lease {KEY} --license license.lic --minutes 1000000 --json"
    ))["claims"]
        .clone();
    for (kind, c) in [("machine", &machine), ("lease", &lease)] {
        for claim in [
            "features",
            "customer",
            "issuer",
            "metadata",
            "expires_at",
            "product",
        ] {
            assert_eq!(c[claim], license[claim], "{kind} token: {claim}");
        }
        assert_eq!(
            c["metadata"],
            json!({"order": "A-1042", "region": "eu"}),
            "{kind}"
        );
        assert_eq!(c["license_id"], license["id"], "{kind}");
    }
}

#[test]
fn no_changed_character_passes() {
    let s = Sandbox::new();
    s.keys();
    let license = s.license("--days 30 --customer cus_8842");
    // Every third position of the base32 (all of them would only take longer): each
    // change is refused, none accepted.
    let refused = [
        "SIGNATURE_INVALID",
        "TOKEN_MALFORMED",
        "KEY_UNKNOWN",
        "ALG_UNSUPPORTED",
    ];
    for at in ("LIC-".len()..license.len()).step_by(3) {
        let bad = change_char(&license, at);
        let out = s.licet(&format!("verify {PUB} {bad} --json")).code(INVALID);
        let v = json(&stdout(&out));
        let code = v["error"]["code"].as_str().unwrap_or_default();
        assert!(refused.contains(&code), "position {at}: {v}");
    }
    // The same in the file form.
    s.ok(&format!(
        "mint license {KEY} --product {PRODUCT} --out license.lic"
    ));
    let file = s.read("license.lic");
    let in_second_line = file.find('\n').expect("newline") + 10;
    s.write("tampered.lic", &change_char(&file, in_second_line));
    s.licet(&format!("verify {PUB} tampered.lic")).code(INVALID);
}

/// The fixed-time vectors of `test-vectors/vectors.json`, through the CLI.
#[test]
fn verify_agrees_with_the_test_vectors() {
    let s = Sandbox::new();
    let ring = s.test_key("signature.pem");
    let path = common::vectors_dir().join("vectors.json");
    let doc = json(&std::fs::read_to_string(path).expect("vectors.json"));
    let mut checked = 0;
    for v in doc["vectors"].as_array().expect("vectors") {
        let name = v["name"].as_str().unwrap_or("?");
        let e = &v["expect"];
        if !e["last_seen"].is_null() {
            continue; // the CLI keeps no last-seen time
        }
        // A vector may name its own keyring: the files it lists, concatenated.
        let ring = match v["keyring"].as_array() {
            None => ring.clone(),
            Some(files) => {
                let text: String = files
                    .iter()
                    .map(|f| {
                        let f = f.as_str().expect("path");
                        std::fs::read_to_string(common::vectors_dir().join(f)).expect(f)
                    })
                    .collect();
                s.write(&format!("keyrings/{name}.pem"), &text);
                format!("keyrings/{name}.pem")
            }
        };
        let mut line = format!(
            "verify --pubkey {ring} --kind {} --product {} --at @{} --leeway {} --json",
            e["kind"].as_str().expect("kind"),
            e["product"].as_str().expect("product"),
            e["now"],
            e["leeway"],
        );
        if let Some(fp) = e["fingerprint"].as_str() {
            line.push_str(&format!(" --fingerprint {fp}"));
        }
        line.push_str(" -");
        let out = s.licet_stdin(v["token"].as_str().expect("token"), &line);
        let got = json(&stdout(&out));
        if v["result"]["valid"] == true {
            out.code(OK);
            assert_eq!(got["claims"], v["result"]["claims"], "{name}");
        } else {
            // A keyring the CLI cannot use is an input error (exit 2), not a token's fault.
            let exit = if v["result"]["error"] == "KEYRING_INVALID" {
                ERROR
            } else {
                INVALID
            };
            out.code(exit);
            assert_eq!(got["error"]["code"], v["result"]["error"], "{name}: {got}");
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} vectors checked");
}

// ---------------------------------------------------------------------------------------
// fingerprint

#[test]
fn fingerprint_is_stable_and_salted_per_product_and_machine() {
    let mut s = Sandbox::new();
    let a = s.fingerprint(PRODUCT);
    assert_eq!(a.len(), 64);
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    assert!(a.bytes().all(lower_hex), "{a}");
    assert_eq!(s.fingerprint(PRODUCT), a, "stable");
    assert_ne!(s.fingerprint("acme-studio-lite"), a, "salted per product");
    let v = s.ok_json(&format!("fingerprint --product {PRODUCT} --json"));
    assert_eq!(v["ok"], true);
    assert_eq!(v["product"], PRODUCT);
    assert_eq!(v["fingerprint"], a.as_str());
    s.set_machine_id("machine-b-77d1a0");
    assert_ne!(s.fingerprint(PRODUCT), a, "differs per machine");
}

// ---------------------------------------------------------------------------------------
// offline

/// The vendor's side: keys, and a license in license.lic. Returns the license's id.
fn vendor_with_license(s: &Sandbox) -> String {
    s.keys();
    s.ok(&format!(
        "mint license {KEY} --product {PRODUCT} --days 365 --max-machines 3 \
         --customer cus_8842 --out license.lic"
    ));
    let v = s.ok_json("inspect license.lic --json");
    v["claims"]["id"].as_str().expect("id").to_owned()
}

/// The customer's side: a request for license.lic, written to `out`.
fn request(s: &Sandbox, out: &str) {
    let said = s.ok(&format!(
        "offline request --license license.lic --name build-box-7 --out {out}"
    ));
    assert!(
        said.contains(&format!("Wrote {out}: send it to your vendor")),
        "{said}"
    );
}

const RESPOND: &str = "offline respond --key keys/signing-key.pem";

#[test]
fn offline_activation_end_to_end() {
    let s = Sandbox::new();
    let license_id = vendor_with_license(&s);
    let fp = s.fingerprint(PRODUCT);

    // Customer: the request is readable JSON with the machine's salted fingerprint.
    request(&s, "request.json");
    let text = s.read("request.json");
    let req = json(&text);
    assert_eq!(req["licet_request"], 1);
    assert_eq!(req["fingerprint"], fp.as_str());
    assert_eq!(req["name"], "build-box-7");
    assert!(
        req["license"]
            .as_str()
            .is_some_and(|l| l.starts_with("LIC-"))
    );
    assert_eq!(req["nonce"].as_str().map(str::len), Some(32));
    assert_eq!(req["digest"].as_str().map(str::len), Some(64));
    assert!(
        !text.contains(common::MACHINE_A),
        "the raw machine id stays home"
    );
    // Without --out the request goes to standard output.
    let printed = s.ok_json("offline request --license license.lic --name x");
    assert_eq!(printed["fingerprint"], fp.as_str());
    // With --json, the result is wrapped like every command's: the request under "request",
    // the file (if any) under "file"; errors are JSON too.
    let v = s.ok_json("offline request --license license.lic --name x --json");
    assert_eq!(v["ok"], true);
    assert_eq!(v["file"], Value::Null);
    assert_eq!(v["request"]["fingerprint"], fp.as_str());
    let v = s.ok_json("offline request --license license.lic --name x --out r2.json --json");
    assert_eq!(v["file"], "r2.json");
    assert_eq!(json(&s.read("r2.json")), v["request"]);
    s.fails_json("offline request --license nowhere.lic", ERROR, "IO_ERROR");
    s.fails_json(
        "offline request --license LIC-0000",
        INVALID,
        "TOKEN_MALFORMED",
    );

    // Vendor: respond.
    let v = s.ok_json(&format!(
        "{RESPOND} --request request.json --days 90 --out machine.lic --json"
    ));
    assert_eq!(v["ok"], true);
    assert_eq!(v["file"], "machine.lic");
    assert_eq!(v["machine"], "build-box-7");
    let c = &v["claims"];
    assert_eq!(c["kind"], "machine");
    assert_eq!(
        c["id"], req["nonce"],
        "the activation id is the request's nonce"
    );
    assert_eq!(c["license_id"], license_id.as_str());
    assert_eq!(c["fingerprint"], fp.as_str());
    let exp = c["expires_at"].as_u64().expect("exp");
    assert!(exp.abs_diff(now() + 90 * 86_400) < 300, "{exp}");
    assert!(
        s.read("machine.lic")
            .starts_with("-----BEGIN LICET MACHINE-----")
    );
    let out = s.ok(&format!(
        "{RESPOND} --request request.json --out machine2.lic"
    ));
    let said = "Wrote machine2.lic: machine token for 'build-box-7'";
    assert!(out.starts_with(said), "{out}");

    // Customer: import checks it and stores it where the application looks.
    let out = s.ok(&format!("offline import machine.lic {PUB}"));
    let stored = s.licet_home().join(PRODUCT).join("machine.lic");
    let said = format!("Activated: {PRODUCT} stored in {}", stored.display());
    assert!(out.starts_with(&said), "{out}");
    assert_eq!(
        std::fs::read_to_string(&stored).expect("stored"),
        s.read("machine.lic")
    );
    #[cfg(unix)]
    assert_eq!(common::mode(&stored), 0o600);
    // The stored token verifies for this machine.
    s.write(
        "stored.lic",
        &std::fs::read_to_string(&stored).expect("stored"),
    );
    s.ok(&format!("verify {PUB} stored.lic --fingerprint {fp}"));
    // Importing again replaces it; --json says where.
    let v = s.ok_json(&format!("offline import machine2.lic {PUB} --json"));
    assert_eq!(v["ok"], true);
    assert_eq!(v["stored"], stored.to_string_lossy().as_ref());
    assert_eq!(v["claims"]["kind"], "machine");
    assert_eq!(
        std::fs::read_to_string(&stored).expect("stored"),
        s.read("machine2.lic")
    );
}

#[test]
fn offline_import_on_another_machine_is_refused() {
    let mut s = Sandbox::new();
    vendor_with_license(&s);
    request(&s, "request.json");
    s.ok(&format!(
        "{RESPOND} --request request.json --out machine.lic"
    ));
    s.set_machine_id("machine-b-77d1a0");
    let line = format!("offline import machine.lic {PUB}");
    let err = s.fails(&line, INVALID, "FINGERPRINT_MISMATCH");
    assert!(err.contains("activate this machine"), "{err}");
    s.fails_json(&line, INVALID, "FINGERPRINT_MISMATCH");
    assert!(!s.licet_home().exists(), "nothing stored");

    // Nor is a token checked against another vendor's keys, nor a license.
    s.set_machine_id(common::MACHINE_A);
    let ring = s.test_key("signature.pem");
    let line = format!("offline import machine.lic --pubkey {ring}");
    s.fails(&line, INVALID, "KEY_UNKNOWN");
    s.fails(
        &format!("offline import license.lic {PUB}"),
        INVALID,
        "WRONG_KIND",
    );
    assert!(!s.licet_home().exists(), "nothing stored");
}

#[test]
fn offline_edited_request_is_refused() {
    let s = Sandbox::new();
    vendor_with_license(&s);
    request(&s, "request.json");
    let original = s.read("request.json");
    let req = json(&original);
    let respond = |file: &str| format!("{RESPOND} --request {file} --out machine.lic");

    // Any field changed: the digest no longer matches.
    let fp = req["fingerprint"].as_str().expect("fp");
    let other_fp = format!(
        "{}{}",
        if fp.starts_with('0') { "1" } else { "0" },
        &fp[1..]
    );
    let t = req["created_at"].as_u64().expect("t");
    for (what, edited) in [
        ("name", original.replace("build-box-7", "build-box-8")),
        ("fingerprint", original.replace(fp, &other_fp)),
        (
            "created_at",
            original.replace(&t.to_string(), &(t + 1).to_string()),
        ),
    ] {
        assert_ne!(edited, original, "{what}");
        s.write("edited.json", &edited);
        let err = s.fails(&respond("edited.json"), INVALID, "REQUEST_TAMPERED");
        assert!(err.contains("make a new request"), "{what}: {err}");
        s.fails_json(&respond("edited.json"), INVALID, "REQUEST_TAMPERED");
    }
    // Not a request at all, or not a whole one.
    for (name, text) in [
        ("garbage.json", "hello".to_owned()),
        ("cut.json", original[..original.len() / 2].to_owned()),
        ("extra.json", original.replacen('{', "{\"extra\": 1,", 1)),
        (
            "v2.json",
            original.replace("\"licet_request\": 1", "\"licet_request\": 2"),
        ),
    ] {
        s.write(name, &text);
        let err = s.fails(&respond(name), INVALID, "REQUEST_INVALID");
        assert!(
            err.contains("activation request cannot be used"),
            "{name}: {err}"
        );
    }
    assert!(!s.path("machine.lic").exists(), "nothing written");
    // Reformatted but unchanged is fine: the digest covers the fields, not the bytes.
    s.write("compact.json", &req.to_string());
    s.ok(&respond("compact.json"));
}

#[test]
fn offline_respond_refuses_a_license_it_did_not_issue() {
    let s = Sandbox::new();
    s.keys();
    // The customer holds another vendor's license (or a forged one).
    let other_vendor = s.test_key("other-vendor.pem");
    s.ok(&format!(
        "mint license --key {other_vendor} --product {PRODUCT} --out license.lic"
    ));
    request(&s, "request.json");
    let line = format!("{RESPOND} --request request.json --out machine.lic");
    let err = s.fails(&line, INVALID, "KEY_UNKNOWN");
    assert!(
        err.contains("the license in the request is not valid"),
        "{err}"
    );
    s.fails_json(&line, INVALID, "KEY_UNKNOWN");
    assert!(!s.path("machine.lic").exists());
    // --pubkey names the keys to check it against explicitly.
    let ring = s.test_key("signature.pem");
    s.fails(&format!("{line} --pubkey {ring}"), INVALID, "KEY_UNKNOWN");

    // An expired license of our own is refused too.
    s.ok(&format!(
        "mint license {KEY} --product {PRODUCT} --expires 2020-06-30 --allow-expired --out license.lic --force"
    ));
    std::fs::remove_file(s.path("request.json")).expect("remove the old request");
    request(&s, "request.json");
    let err = s.fails(&line, INVALID, "TOKEN_EXPIRED");
    assert!(err.contains("expired at 2020-07-01T00:00:00Z"), "{err}");
}

#[test]
fn offline_missing_files() {
    let s = Sandbox::new();
    vendor_with_license(&s);
    let err = s.fails("offline request --license nope.lic", ERROR, "IO_ERROR");
    assert!(err.contains("nope.lic"), "{err}");
    let line = format!("{RESPOND} --request nope.json --out m.lic");
    let err = s.fails(&line, ERROR, "IO_ERROR");
    assert!(err.contains("nope.json"), "{err}");
    s.fails_json(&line, ERROR, "IO_ERROR");
    let err = s.fails(&format!("offline import nope.lic {PUB}"), ERROR, "IO_ERROR");
    assert!(err.contains("nope.lic"), "{err}");
    let line = "offline import license.lic --pubkey nope.pem";
    let err = s.fails(line, ERROR, "IO_ERROR");
    assert!(err.contains("nope.pem"), "{err}");
    s.fails_json(line, ERROR, "IO_ERROR");
    // A request for something that is not a license.
    s.fails(
        "offline request --license LIC-0000",
        INVALID,
        "TOKEN_MALFORMED",
    );
    // Writing where there is no directory.
    request(&s, "request.json");
    let line = format!("{RESPOND} --request request.json --out no/such/dir/m.lic");
    let err = s.fails(&line, ERROR, "IO_ERROR");
    assert!(err.contains("no/such/dir/m.lic"), "{err}");
    s.fails_json(&line, ERROR, "IO_ERROR");
}

// ---------------------------------------------------------------------------------------
// completions, help, usage

#[test]
fn completions_help_and_usage() {
    let s = Sandbox::new();
    let bash = s.ok("completions bash");
    assert!(
        bash.contains("_licet()") && bash.contains("complete "),
        "a bash script"
    );
    assert!(
        bash.contains("offline") && bash.contains("fingerprint"),
        "knows the commands"
    );
    assert!(s.ok("completions zsh").contains("#compdef licet"));
    s.licet("completions tcsh").code(ERROR);

    let help = s.ok("--help");
    let codes = "Exit codes: 0 success, 1 the token or request is not valid, 2 usage or I/O error";
    assert!(help.contains(codes), "{help}");
    assert!(s.ok("--version").starts_with("licet "));
    for sub in [
        "keys generate",
        "keys public",
        "keys rotate",
        "mint license",
        "mint machine",
        "mint lease",
        "inspect",
        "verify",
        "fingerprint",
        "offline request",
        "offline respond",
        "offline import",
        "completions",
    ] {
        assert!(
            s.ok(&format!("{sub} --help")).contains("Usage: licet"),
            "{sub}"
        );
    }
    // Usage errors exit 2.
    s.licet("").code(ERROR);
    s.licet("frobnicate").code(ERROR);
    s.licet("verify LIC-0").code(ERROR); // no --pubkey
}

// ---------------------------------------------------------------------------------------
// secrets

/// The signing key and its passphrase never appear in anything the CLI prints, whatever
/// the command and however it fails. (The CLI writes no log: stdout and stderr are all it
/// says.)
#[test]
fn no_secret_in_any_output() {
    let s = Sandbox::new();
    let passphrase = "correct-horse-battery-staple-4417";
    let wrong = "wrong-horse-battery-staple-0923";
    s.keys();
    s.write("pass.txt", &format!("{passphrase}\n"));
    s.write("wrong.txt", &format!("{wrong}\n"));
    s.ok("keys generate --dir vault --encrypt --passphrase-file pass.txt");
    let plain_pem = s.read("keys/signing-key.pem");
    let vault_pem = s.read("vault/signing-key.pem");
    let public_bodies = [
        common::pem_body(&s.read("keys/signature.pem")),
        common::pem_body(&s.read("vault/signature.pem")),
    ];

    // What must never be printed: the PEM bodies and any 20 characters of them (apart
    // from the stretch that is the public key, which is public), the raw Ed25519 seed in
    // hex, and the passphrases.
    let mut secrets: Vec<String> = Vec::new();
    for pem in [&plain_pem, &vault_pem] {
        let body = common::pem_body(pem);
        let windows: Vec<String> = (0..=body.len() - 20)
            .map(|i| body[i..i + 20].to_owned())
            .filter(|w| !public_bodies.iter().any(|p| p.contains(w.as_str())))
            .collect();
        assert!(windows.len() > 40, "enough of the body is secret to test");
        secrets.extend(windows);
        secrets.push(body);
    }
    let der = common::base64_decode(&common::pem_body(&plain_pem));
    // PKCS#8 for Ed25519: OCTET STRING (0x04 0x22) holding OCTET STRING (0x04 0x20) seed.
    let at = der
        .windows(4)
        .position(|w| w == [4, 0x22, 4, 0x20])
        .expect("seed")
        + 4;
    let seed = common::hex(&der[at..at + 32]);
    secrets.push(seed.to_uppercase());
    secrets.push(seed);
    secrets.push(passphrase.into());
    secrets.push(wrong.into());

    // Material for the commands.
    let license = s.license("--days 30");
    s.write("license.lic", &license);
    let fp = s.fingerprint(PRODUCT);
    request(&s, "request.json");
    s.write(
        "tampered.json",
        &s.read("request.json").replace("build-box-7", "other"),
    );
    let other_vendor = s.test_key("other-vendor.pem");
    s.ok(&format!(
        "mint license --key {other_vendor} --product {PRODUCT} --out foreign.lic"
    ));

    let mut runs: Vec<(String, assert_cmd::assert::Assert)> = Vec::new();
    let mut run = |env: &[(&str, &str)], line: &str| {
        runs.push((format!("{env:?} licet {line}"), s.licet_env(env, line)));
    };
    let pass_env = [("LICET_KEY_PASSPHRASE", passphrase)];
    let wrong_env = [("LICET_KEY_PASSPHRASE", wrong)];
    // Every command that reads a signing key, succeeding and failing each way it can.
    let commands = [
        "keys public".to_owned(),
        format!("mint license --product {PRODUCT}"),
        "mint license --product ''".to_owned(),
        format!("mint license --product {PRODUCT} --meta bad"),
        format!("mint license --product {PRODUCT} --expires never"),
        format!("mint machine --license license.lic --fingerprint {fp}"),
        "mint machine --license license.lic --fingerprint 00".to_owned(),
        "mint lease --license license.lic".to_owned(),
        "mint lease --license foreign.lic".to_owned(),
        "offline respond --request request.json --out m.lic".to_owned(),
        "offline respond --request tampered.json --out m.lic".to_owned(),
        "offline respond --request keys/signing-key.pem --out m.lic".to_owned(),
    ];
    for (i, cmd) in commands.iter().enumerate() {
        let json = " --json";
        let plain = format!("{cmd} --key keys/signing-key.pem");
        run(&[], &plain);
        run(&[], &format!("{plain}{json}"));
        let vault = format!("{cmd} --key vault/signing-key.pem");
        run(&pass_env, &vault);
        run(&wrong_env, &vault);
        run(&[], &vault);
        run(&[], &format!("{vault}{json}"));
        // Decrypting takes a moment (scrypt): the remaining ways, for a few commands.
        if i < 4 {
            run(&pass_env, &format!("{vault}{json}"));
            run(&wrong_env, &format!("{vault}{json}"));
            run(&[], &format!("{vault} --passphrase-file wrong.txt"));
            // The key file itself given as the passphrase file.
            run(
                &[],
                &format!("{vault} --passphrase-file vault/signing-key.pem"),
            );
        }
    }
    // The key files where something else belongs.
    for key in ["keys/signing-key.pem", "vault/signing-key.pem"] {
        for json in ["", " --json"] {
            run(&[], &format!("verify --pubkey {key} license.lic{json}"));
            run(&[], &format!("verify {PUB} {key}{json}"));
            run(&[], &format!("inspect {key}{json}"));
            run(&[], &format!("offline import {key} {PUB}{json}"));
            run(
                &[],
                &format!("offline import license.lic --pubkey {key}{json}"),
            );
        }
        run(&[], &format!("offline request --license {key}"));
        run(
            &[],
            &format!("keys public --key keys/signature.pem --passphrase-file {key}"),
        );
    }
    // Generating over the keys, and rotating them (right and wrong passphrase).
    run(&pass_env, "keys generate --dir vault --encrypt");
    run(&[], "keys generate");
    run(&wrong_env, "keys rotate --dir vault");
    run(&wrong_env, "keys rotate --dir vault --json");
    run(&pass_env, "keys rotate --dir vault --json");
    run(&[], "keys rotate");
    run(&[], "keys rotate --json");

    // How many runs ended each way: success, invalid and error paths are all covered.
    let mut by_exit = std::collections::BTreeMap::new();
    for (what, out) in &runs {
        let text = format!("{}{}", stdout(out), stderr(out));
        *by_exit.entry(out.get_output().status.code()).or_insert(0) += 1;
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{what} printed a secret ({secret}):\n{text}"
            );
        }
    }
    let count = |exit: i32| by_exit.get(&Some(exit)).copied().unwrap_or(0);
    assert!(runs.len() >= 100, "{} runs", runs.len());
    assert!(count(OK) >= 15, "successes: {by_exit:?}");
    assert!(
        count(INVALID) >= 20,
        "invalid tokens and requests: {by_exit:?}"
    );
    assert!(count(ERROR) >= 60, "input errors: {by_exit:?}");
}

/// `text` with the character at `at` replaced by another valid Crockford base32 digit.
fn change_char(text: &str, at: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).expect("ASCII")
}

#[test]
fn out_never_overwrites_an_existing_file_without_force() {
    let s = Sandbox::new();
    s.keys();
    let before = std::fs::read_to_string(s.path("keys/signing-key.pem")).expect("key");
    let err = s.fails(
        &format!("mint license {KEY} --product {PRODUCT} --out keys/signing-key.pem"),
        2,
        "FILE_EXISTS",
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(s.path("keys/signing-key.pem")).expect("key"),
        before,
        "the signing key survived"
    );
    s.ok(&format!(
        "mint license {KEY} --product {PRODUCT} --out lic.lic"
    ));
    s.fails(
        &format!("mint license {KEY} --product {PRODUCT} --out lic.lic"),
        2,
        "FILE_EXISTS",
    );
    s.ok(&format!(
        "mint license {KEY} --product {PRODUCT} --out lic.lic --force"
    ));
}

/// The TOML policy of `docs/policies.md`, read from the page itself.
fn doc_policy() -> String {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/policies.md"))
        .expect("docs/policies.md");
    let start = page.find("```toml\n").expect("the page's policy") + "```toml\n".len();
    let len = page[start..].find("```").expect("its end");
    page[start..start + len].to_owned()
}

#[test]
fn mint_license_from_a_policy_file() {
    let s = Sandbox::new();
    s.keys();
    s.write("pro-yearly.toml", &doc_policy());
    let before = now();
    let key = s.license("--policy pro-yearly.toml --customer Globex");
    let c = &s.ok_json(&format!("inspect {key} --json"))["claims"];
    assert_eq!(c["license_type"], "subscription", "{c}");
    assert_eq!(c["features"], json!(["cloud-sync", "export-pdf"]));
    assert_eq!(c["max_machines"], 3);
    assert_eq!(c["max_leases"], Value::Null);
    let exp = c["expires_at"]
        .as_u64()
        .expect("an expiry from the duration");
    assert!(
        (before + 31_536_000..=now() + 31_536_000).contains(&exp),
        "{c}"
    );

    // A flag wins; --feature adds; the same policy as JSON.
    s.write(
        "p.json",
        r#"{"type": "trial", "features": ["a"], "max_machines": 1}"#,
    );
    let key = s.license("--policy p.json --max-machines 2 --feature b --days 3");
    let c = &s.ok_json(&format!("inspect {key} --json"))["claims"];
    assert_eq!(
        (&c["license_type"], &c["features"], &c["max_machines"]),
        (&json!("trial"), &json!(["a", "b"]), &json!(2))
    );

    // Refused, naming the field.
    for (file, text, field) in [
        (
            "bad1.toml",
            "lease_ttl = 7200\nlease_ttl_max = 3600\n",
            "lease_ttl",
        ),
        ("bad2.toml", "seats = 3\n", "seats"),
        ("bad3.toml", "duration = 0\n", "duration"),
        ("bad4.json", r#"{"max_machines": -1}"#, "bad4.json"),
    ] {
        s.write(file, text);
        let err = s.fails(
            &format!("mint license {KEY} --product {PRODUCT} --policy {file}"),
            ERROR,
            "POLICY_INVALID",
        );
        assert!(err.contains(field), "{file}: {err}");
    }
}
