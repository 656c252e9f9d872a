//! `licet mint`: license, machine, lease.

use licet::{Builder, LicenseType, Token};
use licet_verifier::{Keyring, hex};
use serde_json::json;

use crate::args::{LicenseTypeArg, MintCommand, MintCommon};
use crate::failure::Failure;
use crate::output::say;
use crate::{input, output};

pub fn run(cmd: MintCommand) -> Result<(), Failure> {
    match cmd {
        MintCommand::License(a) => {
            let json = a.common.json;
            let now = input::now();
            let policy = a
                .policy
                .as_deref()
                .map(input::policy)
                .transpose()
                .map_err(|f| f.json(json))?
                .unwrap_or_default();
            let expires = match (&a.expires, a.days) {
                (Some(d), _) => Some(input::expiry(d).map_err(|f| f.json(json))?),
                (None, Some(days)) => Some(now.saturating_add(days.saturating_mul(86_400))),
                (None, None) => policy.duration.map(|d| now.saturating_add(d)),
            };
            if let Some(t) = expires {
                let asked = match (&a.expires, a.days) {
                    (Some(d), _) => format!("--expires {d}"),
                    (None, days) => format!("--days {}", days.unwrap_or_default()),
                };
                not_expired(
                    t,
                    now,
                    &asked,
                    "give a later --expires or --days 1 or more",
                    &a.common,
                )?;
            }
            let key = input::signing_key(&a.common.key, &a.common.passphrase)
                .map_err(|f| f.json(json))?;
            let mut b = Builder::license(&a.product)
                .map_err(|e| Failure::from(e).json(json))?
                .issued_at(now)
                .expiry(expires)
                .features(policy.features.iter().chain(&a.features).cloned());
            if let Some(t) = &a.not_before {
                b = b.not_before(input::time(t).map_err(|f| f.json(json))?);
            }
            if let Some(n) = a.max_machines.or(policy.max_machines) {
                b = b.max_machines(n);
            }
            if let Some(n) = a.max_leases.or(policy.max_leases) {
                b = b.max_leases(n);
            }
            let license_type = match a.license_type {
                Some(LicenseTypeArg::Trial) => Some(LicenseType::Trial),
                Some(LicenseTypeArg::Subscription) => Some(LicenseType::Subscription),
                Some(LicenseTypeArg::Perpetual) => Some(LicenseType::Perpetual),
                // Checked by `input::policy`: a name the format knows.
                None => policy
                    .license_type
                    .as_deref()
                    .and_then(LicenseType::from_name),
            };
            if let Some(t) = license_type {
                b = b.license_type(t);
            }
            if let Some(c) = &a.customer {
                b = b.customer(c.clone());
            }
            if let Some(i) = &a.issuer {
                b = b.issuer(i.clone());
            }
            for kv in &a.meta {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    Failure::error("BAD_REQUEST", format!("--meta '{kv}' is not KEY=VALUE"))
                        .json(json)
                })?;
                b = b.meta(k, v);
            }
            let token = b.sign(&key).map_err(|e| Failure::from(e).json(json))?;
            emit(&token, &a.common)
        }
        MintCommand::Machine(a) => {
            let json = a.common.json;
            let key = input::signing_key(&a.common.key, &a.common.passphrase)
                .map_err(|f| f.json(json))?;
            let license =
                checked_license(&a.license, a.pubkey.as_deref(), &key).map_err(|f| f.json(json))?;
            let fingerprint = input::fingerprint(&a.fingerprint).map_err(|f| f.json(json))?;
            let now = input::now();
            let deadline = cap(
                now.saturating_add(a.days.saturating_mul(86_400)),
                license.expires_at,
            );
            not_expired(
                deadline,
                now,
                &format!("--days {}", a.days),
                "give --days 1 or more (the license's own expiry still caps it)",
                &a.common,
            )?;
            let id = licet::new_id().map_err(|e| Failure::from(e).json(json))?;
            let token = Builder::machine(&license, id, fingerprint, deadline)
                .issued_at(now)
                .sign(&key)
                .map_err(|e| Failure::from(e).json(json))?;
            emit(&token, &a.common)
        }
        MintCommand::Lease(a) => {
            let json = a.common.json;
            let key = input::signing_key(&a.common.key, &a.common.passphrase)
                .map_err(|f| f.json(json))?;
            let license =
                checked_license(&a.license, a.pubkey.as_deref(), &key).map_err(|f| f.json(json))?;
            let now = input::now();
            let expires = cap(
                now.saturating_add(a.minutes.saturating_mul(60)),
                license.expires_at,
            );
            not_expired(
                expires,
                now,
                &format!("--minutes {}", a.minutes),
                "give --minutes 1 or more (the license's own expiry still caps it)",
                &a.common,
            )?;
            let mut b = Builder::lease(&license, expires)
                .map_err(|e| Failure::from(e).json(json))?
                .issued_at(now);
            if let Some(c) = &a.client_id {
                b = b.client_id(c.clone());
            }
            let token = b.sign(&key).map_err(|e| Failure::from(e).json(json))?;
            emit(&token, &a.common)
        }
    }
}

/// Refuses a token that would be expired the moment it is signed: a slip (`--days 0`, a
/// date in the past) would otherwise reach a customer as a key that never worked.
/// `--allow-expired` lets tests make one on purpose.
fn not_expired(
    expires: u64,
    now: u64,
    asked: &str,
    fix: &str,
    common: &MintCommon,
) -> Result<(), Failure> {
    if expires > now || common.allow_expired {
        return Ok(());
    }
    Err(Failure::error(
        "ALREADY_EXPIRED",
        format!(
            "{asked} makes a token that expires at {}, not after now ({}); {fix}, or add --allow-expired to sign it anyway",
            output::time(expires),
            output::time(now)
        ),
    )
    .json(common.json))
}

fn cap(t: u64, license_expiry: Option<u64>) -> u64 {
    license_expiry.map_or(t, |e| t.min(e))
}

/// Reads and verifies the license a machine or lease token is minted under.
fn checked_license(
    arg: &str,
    pubkey: Option<&std::path::Path>,
    key: &licet::SigningKey,
) -> Result<licet::Claims, Failure> {
    let text = input::token(arg)?;
    let keyring = match pubkey {
        Some(p) => input::keyring(p)?,
        None => Keyring::from_pem(&key.public_pem())
            .map_err(|e| Failure::error(e.code(), e.to_string()))?,
    };
    licet::offline::check_license(&text, &keyring, input::now()).map_err(|e| {
        let why = match &e {
            licet::Error::License(v) => output::verify_error(v),
            other => other.to_string(),
        };
        Failure::invalid(e.code(), format!("the license cannot be used: {why}"))
    })
}

/// Prints the text form, or writes the file form, of a new token.
fn emit(token: &Token, common: &MintCommon) -> Result<(), Failure> {
    let claims = licet_verifier::decode_unverified(&token.text())
        .map_err(|e| Failure::error(e.code(), e.to_string()).json(common.json))?
        .claims;
    if let Some(out) = &common.out {
        input::write_out(out, token.file().as_bytes(), common.force)
            .map_err(|f| f.json(common.json))?;
    }
    if common.json {
        say!(
            "{:#}",
            json!({
                "ok": true,
                "token": token.text(),
                "file": common.out,
                "bytes": token.bytes().len(),
                "claims": output::claims_json(&claims),
            })
        )?;
    } else if let Some(out) = &common.out {
        say!(
            "Wrote {} ({} {}, {} bytes)",
            out.display(),
            claims.kind().name(),
            hex(&claims.id),
            token.bytes().len()
        )?;
    } else {
        say!("{}", token.text())?;
    }
    Ok(())
}
