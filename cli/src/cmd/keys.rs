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
            alg,
            bits,
            dir,
            encrypt,
            force,
            passphrase,
            json,
        } => {
            let keys = KeyDir::new(&dir);
            if !force && keys.signing_key_path().exists() {
                return Err(Failure::from(licet_keys::Error::Exists {
                    path: keys.signing_key_path(),
                })
                .json(json));
            }
            let pass = if encrypt {
                Some(input::new_passphrase(&passphrase).map_err(|f| f.json(json))?)
            } else {
                None
            };
            let key = new_key(alg, bits).map_err(|f| f.json(json))?;
            keys.create(&key, pass.as_ref().map(|p| p.as_bytes()), force)
                .map_err(|e| Failure::from(e).json(json))?;
            if json {
                say!(
                    "{:#}",
                    json!({
                        "ok": true,
                        "alg": key.algorithm().name(),
                        "kid": hex(key.kid()),
                        "signing_key": keys.signing_key_path(),
                        "signature_pem": keys.signature_pem_path(),
                        "encrypted": encrypt,
                    })
                )?;
            } else {
                say!(
                    "Wrote {} ({}, private, mode 0600{})",
                    keys.signing_key_path().display(),
                    describe(&key),
                    if encrypt { ", encrypted" } else { "" }
                )?;
                say!(
                    "Wrote {} (public: ship it with your application; keep signing-key.pem secret)",
                    keys.signature_pem_path().display()
                )?;
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
