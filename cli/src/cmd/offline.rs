//! `licet offline`: request, respond, import; deactivate, release, receipt.

use std::path::{Path, PathBuf};

use licet::offline::{self, Request};
use licet_verifier::{Keyring, hex};
use serde_json::json;

use crate::args::OfflineCommand;
use crate::failure::Failure;
use crate::output::say;
use crate::{input, output};

pub fn run(cmd: OfflineCommand) -> Result<(), Failure> {
    match cmd {
        OfflineCommand::Request {
            license,
            name,
            out,
            force,
            json,
        } => {
            let text = input::token(&license).map_err(|f| f.json(json))?;
            let claims = licet_verifier::decode_unverified(&text)
                .map_err(|e| {
                    Failure::invalid(e.code(), format!("the license cannot be read: {e}"))
                        .json(json)
                })?
                .claims;
            let fingerprint = licet_app::fingerprint(&claims.product)
                .map_err(|e| Failure::error("FINGERPRINT_UNAVAILABLE", e.to_string()).json(json))?;
            let name = match name {
                Some(n) => n,
                None => hostname::get()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| "unnamed".into()),
            };
            let request = Request::new(&text, &fingerprint, &name, input::now())
                .map_err(|e| Failure::from(e).json(json))?;
            if let Some(path) = &out {
                input::write_out(path, request.to_json().as_bytes(), force)
                    .map_err(|f| f.json(json))?;
            }
            match (json, &out) {
                (true, _) => say!("{:#}", json!({"ok": true, "file": out, "request": request})),
                (false, Some(path)) => say!(
                    "Wrote {}: send it to your vendor, then run `licet offline import` on the file they send back",
                    path.display()
                ),
                (false, None) => output::print(&request.to_json()),
            }
        }
        OfflineCommand::Respond {
            server: Some(server),
            request,
            out,
            force,
            json,
            ..
        } => respond_by_server(&server, &request, &out, force).map_err(|f| f.json(json))
            .and_then(|answer| {
                if json {
                    say!("{:#}", json!({"ok": true, "file": out, "server": answer}))
                } else {
                    say!(
                        "Wrote {}: machine token of machine {} from {server} ({}), check in before {}",
                        out.display(),
                        answer["machine_id"].as_str().unwrap_or("?"),
                        if answer["created"].as_bool() == Some(true) {
                            "newly activated"
                        } else {
                            "already activated: no further activation used"
                        },
                        answer["check_in_before"].as_str().unwrap_or("?"),
                    )
                }
            }),
        OfflineCommand::Respond {
            key,
            passphrase,
            request,
            pubkey,
            days,
            out,
            force,
            json,
            ..
        } => {
            // clap requires --key without --server.
            let key = key.unwrap_or_default();
            let signing = input::signing_key(&key, &passphrase).map_err(|f| f.json(json))?;
            let keyring = vendor_keyring(pubkey, &key, &signing).map_err(|f| f.json(json))?;
            let req = Request::parse(&input::read_file(&request).map_err(|f| f.json(json))?)
                .map_err(|e| Failure::from(e).json(json))?;
            let token =
                offline::respond(&req, &signing, &keyring, days, input::now()).map_err(|e| {
                    match e {
                        // The request is whole; the license in it is what this vendor's
                        // keys refuse (another vendor's, expired, ...): say so.
                        licet::Error::License(v) => Failure::invalid(
                            v.code(),
                            format!(
                                "the license in the request is not valid: {}",
                                output::verify_error(&v)
                            ),
                        ),
                        other => Failure::from(other),
                    }
                    .json(json)
                })?;
            input::write_out(&out, token.file().as_bytes(), force).map_err(|f| f.json(json))?;
            let claims = licet_verifier::decode_unverified(&token.text())
                .map_err(|e| Failure::error(e.code(), e.to_string()).json(json))?
                .claims;
            if json {
                say!(
                    "{:#}",
                    json!({"ok": true, "file": out, "machine": req.name, "claims": output::claims_json(&claims)})
                )?;
            } else {
                say!(
                    "Wrote {}: machine token for '{}' ({}), valid until {}",
                    out.display(),
                    req.name,
                    hex(&claims.id),
                    claims.expires_at.map_or("-".into(), output::time)
                )?;
            }
            Ok(())
        }
        OfflineCommand::Deactivate {
            license,
            out,
            force,
            json,
        } => deactivate(&license, &out, force).map_err(|f| f.json(json)).and_then(
            |(d, removed)| {
                if json {
                    say!(
                        "{:#}",
                        json!({"ok": true, "file": out, "removed": removed, "request": d})
                    )
                } else {
                    say!(
                        "Removed {}; wrote {}: send it to your vendor, or run `licet offline release --server URL --request {}` where the server can be reached",
                        removed.display(),
                        out.display(),
                        out.display()
                    )
                }
            },
        ),
        OfflineCommand::Release {
            server,
            request,
            pubkey,
            out,
            force,
            json,
        } => release(&server, &request, pubkey.as_deref(), &out, force)
            .map_err(|f| f.json(json))
            .and_then(|(r, answer)| {
                if json {
                    say!(
                        "{:#}",
                        json!({"ok": true, "file": out, "receipt": receipt_json(&r), "server": answer})
                    )
                } else {
                    say!(
                        "Wrote {}: {server} freed activation {} of license {} at {}; keep the receipt as proof",
                        out.display(),
                        hex(&r.machine_id),
                        hex(&r.license_id),
                        output::time(r.issued_at)
                    )
                }
            }),
        OfflineCommand::Receipt {
            file,
            pubkey,
            request,
            json,
        } => check_receipt(&file, &pubkey, request.as_deref())
            .map_err(|f| f.json(json))
            .and_then(|r| {
                if json {
                    say!("{:#}", json!({"ok": true, "receipt": receipt_json(&r)}))
                } else {
                    say!(
                        "VALID receipt, signed by key {}: activation {} of license {} freed at {} (machine {})",
                        hex(&r.kid),
                        hex(&r.machine_id),
                        hex(&r.license_id),
                        output::time(r.issued_at),
                        hex(&r.fingerprint)
                    )
                }
            }),
        OfflineCommand::Import { file, pubkey, json } => {
            let keyring = input::keyring(&pubkey).map_err(|f| f.json(json))?;
            let text = input::token_file(&file).map_err(|f| f.json(json))?;
            let machine_id = licet_app::machine_id()
                .map_err(|e| Failure::error("FINGERPRINT_UNAVAILABLE", e.to_string()).json(json))?;
            let verified = offline::check_response(&text, &keyring, &machine_id, input::now())
                .map_err(|e| Failure::from(e).json(json))?;
            let token_file = licet_verifier::text::encode_file(
                verified.claims.kind(),
                &licet_verifier::decode_unverified(&text)
                    .map_err(|e| Failure::error(e.code(), e.to_string()).json(json))?
                    .bytes,
            );
            let stored = offline::store_machine_token(&verified, &token_file)
                .map_err(|e| Failure::from(e).json(json))?;
            if json {
                say!(
                    "{:#}",
                    json!({"ok": true, "stored": stored, "claims": output::claims_json(&verified.claims)})
                )?;
            } else {
                say!(
                    "Activated: {} stored in {}",
                    verified.claims.product,
                    stored.display()
                )?;
                say!("{}", output::claims_text(&verified.claims))?;
            }
            Ok(())
        }
    }
}

/// Sends a request file to the server's `POST /v1/offline/activate` and writes the machine
/// token file it answers with; returns the server's answer, with `created`.
fn respond_by_server(
    server: &str,
    request: &Path,
    out: &Path,
    force: bool,
) -> Result<serde_json::Value, Failure> {
    input::refuse_existing(out, force)?;
    let text = input::read_file(request)?;
    let (status, mut answer) = crate::http::post(server, "/v1/offline/activate", text)?;
    let file = answer["machine_token_file"]
        .as_str()
        .ok_or_else(|| {
            Failure::error(
                "BAD_RESPONSE",
                format!("{server} answered without a machine token file; is it a licet-server?"),
            )
        })?
        .to_owned();
    input::write_out(out, file.as_bytes(), force)?;
    answer["created"] = serde_json::Value::Bool(status == 201);
    Ok(answer)
}

/// The keys a request's license is checked against: `--pubkey`, else `signature.pem`
/// beside the signing key, else the signing key's own public key.
fn vendor_keyring(
    pubkey: Option<PathBuf>,
    key_path: &Path,
    key: &licet::SigningKey,
) -> Result<Keyring, Failure> {
    if let Some(p) = pubkey {
        return input::keyring(&p);
    }
    let beside = key_path.with_file_name(licet_keys::dir::SIGNATURE_PEM);
    if beside.is_file() {
        return input::keyring(&beside);
    }
    Keyring::from_pem(&key.public_pem()).map_err(|e| Failure::error(e.code(), e.to_string()))
}

/// Writes the deactivation request of this machine's stored machine token for the
/// license's product to `out`, then removes the token (in that order: a request that
/// cannot be written leaves the machine as it was). Returns the request and the removed
/// token's path.
fn deactivate(
    license: &str,
    out: &Path,
    force: bool,
) -> Result<(offline::Deactivation, PathBuf), Failure> {
    input::refuse_existing(out, force)?;
    let text = input::token(license)?;
    let product = licet_verifier::decode_unverified(&text)
        .map_err(|e| Failure::invalid(e.code(), format!("the license cannot be read: {e}")))?
        .claims
        .product;
    let token = offline::stored_machine_token(&product)?.ok_or_else(|| {
        Failure::invalid(
            "NOT_ACTIVATED",
            format!(
                "this machine holds no machine token for {product}: it is not activated (or was deactivated already); nothing to release"
            ),
        )
    })?;
    let d = offline::Deactivation::new(&text, &token, input::now())?;
    input::write_out(out, d.to_json().as_bytes(), force)?;
    let removed = offline::remove_machine_token(&product)?.ok_or_else(|| {
        Failure::error(
            "IO_ERROR",
            "the machine token vanished while it was being removed",
        )
    })?;
    Ok((d, removed))
}

/// Sends a deactivation request to the server and writes the receipt, once checked.
fn release(
    server: &str,
    request: &Path,
    pubkey: Option<&Path>,
    out: &Path,
    force: bool,
) -> Result<(licet_verifier::Receipt, serde_json::Value), Failure> {
    input::refuse_existing(out, force)?;
    let text = input::read_file(request)?;
    let d = offline::Deactivation::parse(&text)?;
    let (_, answer) = crate::http::post(server, "/v1/offline/deactivate", text)?;
    let pem = answer["receipt"].as_str().ok_or_else(|| {
        Failure::error(
            "BAD_RESPONSE",
            format!("{server} answered without a receipt; is it a licet-server?"),
        )
    })?;
    let keyring = match pubkey {
        Some(p) => input::keyring(p)?,
        None => Keyring::from_pem(&crate::http::get_text(server, "/signature.pem")?)
            .map_err(|e| Failure::error(e.code(), format!("{server}/signature.pem: {e}")))?,
    };
    let r = receipt_for(&keyring, pem, &d)?;
    input::write_out(out, pem.as_bytes(), force)?;
    Ok((r, answer))
}

/// Verifies a receipt and that it answers `d`.
fn receipt_for(
    keyring: &Keyring,
    pem: &str,
    d: &offline::Deactivation,
) -> Result<licet_verifier::Receipt, Failure> {
    let r = licet_verifier::Receipt::verify_pem(keyring, pem)
        .map_err(|e| Failure::invalid(e.code(), format!("INVALID receipt: {e}")))?;
    if r.request_digest != d.digest_bytes()? {
        return Err(Failure::invalid(
            "RECEIPT_MISMATCH",
            "the receipt answers another deactivation request than this one (its request digest differs)",
        ));
    }
    Ok(r)
}

fn check_receipt(
    file: &Path,
    pubkey: &Path,
    request: Option<&Path>,
) -> Result<licet_verifier::Receipt, Failure> {
    let keyring = input::keyring(pubkey)?;
    let pem = input::read_file(file)?;
    match request {
        Some(req) => {
            let d = offline::Deactivation::parse(&input::read_file(req)?)?;
            receipt_for(&keyring, &pem, &d)
        }
        None => licet_verifier::Receipt::verify_pem(&keyring, &pem)
            .map_err(|e| Failure::invalid(e.code(), format!("INVALID receipt: {e}"))),
    }
}

fn receipt_json(r: &licet_verifier::Receipt) -> serde_json::Value {
    json!({
        "kid": hex(&r.kid),
        "issuer": r.issuer,
        "released_at": r.issued_at,
        "license_id": hex(&r.license_id),
        "machine_id": hex(&r.machine_id),
        "fingerprint": hex(&r.fingerprint),
        "request_digest": hex(&r.request_digest),
    })
}
