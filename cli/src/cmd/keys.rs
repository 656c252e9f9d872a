//! `licet keys`: generate, public, rotate.

use licet::SigningKey;
use licet_keys::dir::KeyDir;
use licet_verifier::hex;
use serde_json::json;

use crate::args::{Alg, KeysCommand};
use crate::failure::Failure;
use crate::input;
use crate::output::say;

fn new_key(alg: Alg, bits: usize) -> Result<SigningKey, Failure> {
    Ok(match alg {
        Alg::Ed25519 => SigningKey::generate_ed25519()?,
        Alg::Rsa => SigningKey::generate_rsa(bits)?,
    })
}

fn describe(key: &SigningKey) -> String {
    format!("{}, kid {}", key.algorithm().name(), hex(key.kid()))
}

pub fn run(cmd: KeysCommand) -> Result<(), Failure> {
    match cmd {
        KeysCommand::Generate {
            root,
            alg,
            bits,
            dir,
            encrypt,
            force,
            passphrase,
            json,
        } => {
            let keys = KeyDir::new(&dir);
            // A root key and a signing key differ only in their file names and in what
            // the user is told to do with them.
            let (private, public) = if root {
                (keys.root_key_path(), keys.root_pem_path())
            } else {
                (keys.signing_key_path(), keys.signature_pem_path())
            };
            if !force && private.exists() {
                return Err(
                    Failure::from(licet_keys::Error::Exists { path: private }).json(json)
                );
            }
            let pass = if encrypt {
                Some(input::new_passphrase(&passphrase).map_err(|f| f.json(json))?)
            } else {
                None
            };
            let key = new_key(alg, bits).map_err(|f| f.json(json))?;
            let pass = pass.as_ref().map(|p| p.as_bytes());
            if root {
                keys.create_root(&key, pass, force)
            } else {
                keys.create(&key, pass, force)
            }
            .map_err(|e| Failure::from(e).json(json))?;
            if json {
                let (private_name, public_name) = if root {
                    ("root_key", "root_pem")
                } else {
                    ("signing_key", "signature_pem")
                };
                say!(
                    "{:#}",
                    json!({
                        "ok": true,
                        "alg": key.algorithm().name(),
                        "kid": hex(key.kid()),
                        private_name: private,
                        public_name: public,
                        "encrypted": encrypt,
                    })
                )?;
            } else {
                let (role, advice_private, advice_public) = if root {
                    (
                        "root, ",
                        ": keep it OFFLINE; it only endorses signing keys",
                        "public: pin it in your application; endorse signing keys with `licet keys endorse`",
                    )
                } else {
                    (
                        "",
                        "",
                        "public: ship it with your application; keep signing-key.pem secret",
                    )
                };
                say!(
                    "Wrote {} ({role}{}, private, mode 0600{}){advice_private}",
                    private.display(),
                    describe(&key),
                    if encrypt { ", encrypted" } else { "" }
                )?;
                say!("Wrote {} ({advice_public})", public.display())?;
            }
            Ok(())
        }
        KeysCommand::Public {
            key,
            passphrase,
            json,
        } => {
            let key = input::signing_key(&key, &passphrase).map_err(|f| f.json(json))?;
            if json {
                say!(
                    "{:#}",
                    json!({
                        "ok": true,
                        "alg": key.algorithm().name(),
                        "kid": hex(key.kid()),
                        "public_pem": key.public_pem(),
                    })
                )
            } else {
                crate::output::print(&key.public_pem())
            }
        }
        KeysCommand::Endorse {
            root,
            key,
            until,
            out,
            force,
            passphrase,
            json,
        } => endorse(&root, &key, &until, out.as_deref(), force, &passphrase)
            .map_err(|f| f.json(json))
            .and_then(|(e, bytes)| {
                let pem = licet_verifier::endorsement::to_pem(&bytes);
                if let Some(out) = &out {
                    input::write_out(out, pem.as_bytes(), force).map_err(|f| f.json(json))?;
                }
                if json {
                    say!(
                        "{:#}",
                        json!({
                            "ok": true,
                            "kid": hex(e.key.kid()),
                            "alg": e.key.algorithm().name(),
                            "root_kid": hex(&e.root_kid),
                            "issued_at": e.issued_at,
                            "expires_at": e.expires_at,
                            "out": out,
                            "endorsement": pem,
                        })
                    )
                } else if let Some(out) = &out {
                    say!(
                        "Wrote {} (endorses kid {} until {} by root {}): add it to the signature.pem you publish",
                        out.display(),
                        hex(e.key.kid()),
                        e.expires_at,
                        hex(&e.root_kid)
                    )
                } else {
                    crate::output::print(&pem)
                }
            }),
        KeysCommand::Rotate {
            dir,
            alg,
            bits,
            encrypt,
            passphrase,
            json,
        } => {
            let keys = KeyDir::new(&dir);
            let current = keys.signing_key_path();
            // Read (and so check) the current key before replacing it. Its passphrase, asked
            // for once, also encrypts the new key; a key that was not encrypted gets a new
            // passphrase only when --encrypt asks for one.
            let (old, old_pass) = input::signing_key_and_passphrase(&current, &passphrase)
                .map_err(|f| f.json(json))?;
            let pass = match old_pass {
                Some(p) => Some(p),
                None if encrypt => {
                    Some(input::new_passphrase(&passphrase).map_err(|f| f.json(json))?)
                }
                None => None,
            };
            let new = new_key(alg, bits).map_err(|f| f.json(json))?;
            let retired = keys
                .rotate(&new, pass.as_ref().map(|p| p.as_bytes()))
                .map_err(|e| Failure::from(e).json(json))?;
            if json {
                say!(
                    "{:#}",
                    json!({
                        "ok": true,
                        "new_kid": hex(new.kid()),
                        "retired_kid": hex(old.kid()),
                        "retired_key": retired,
                        "signature_pem": keys.signature_pem_path(),
                    })
                )?;
            } else {
                say!("New signing key {} ({})", current.display(), describe(&new))?;
                say!("Old key {} moved to {}", hex(old.kid()), retired.display())?;
                say!(
                    "{} now holds both public keys: publish it so applications accept tokens from either",
                    keys.signature_pem_path().display()
                )?;
            }
            Ok(())
        }
    }
}

/// Signs the endorsement of `--key` by `--root` until `--until`, and checks it as an
/// application would before handing it out.
fn endorse(
    root: &std::path::Path,
    key: &std::path::Path,
    until: &str,
    out: Option<&std::path::Path>,
    force: bool,
    passphrase: &crate::args::PassphraseArgs,
) -> Result<(licet_verifier::Endorsement, Vec<u8>), Failure> {
    if let Some(out) = out {
        // Checked before the root's passphrase is asked for.
        input::refuse_existing(out, force)?;
    }
    let until_text = until;
    let until = input::expiry(until)?;
    if until <= input::now() {
        return Err(Failure::error(
            "BAD_TIME",
            format!(
                "--until {until_text} is not in the future; an endorsement must end after today"
            ),
        ));
    }
    let text = input::read_file(key)?;
    let spki = if text.contains("-----BEGIN PUBLIC KEY-----") {
        licet_keys::public_spki_from_pem(&text)
            .map_err(|e| Failure::error(e.code(), format!("{}: {e}", key.display())))?
    } else if SigningKey::pem_is_encrypted(&text) {
        return Err(Failure::error(
            "PASSPHRASE_REQUIRED",
            format!(
                "{} is encrypted; give its public key instead: `licet keys public --key {} > signing.pub.pem`",
                key.display(),
                key.display()
            ),
        ));
    } else {
        SigningKey::from_pem(&text, None)
            .map_err(|e| Failure::error(e.code(), format!("{}: {e}", key.display())))?
            .public_spki_der()
            .to_vec()
    };
    let root_key = input::signing_key(root, passphrase)?;
    let now = input::now();
    let bytes = licet::endorse(&root_key, &spki, now, until)?;
    let root_public = licet_verifier::PublicKey::from_spki_der(root_key.public_spki_der())
        .map_err(|e| Failure::error(e.code(), e.to_string()))?;
    let e = licet_verifier::Endorsement::verify(&bytes, &root_public, now)
        .map_err(|e| Failure::invalid(e.code(), e.to_string()))?;
    Ok((e, bytes))
}
