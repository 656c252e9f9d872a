//! `licet verify`: the verifier's full check, with its error codes.

use licet_verifier::{Expectations, Kind, hex};
use serde_json::json;

use crate::args::{KindArg, VerifyArgs};
use crate::failure::Failure;
use crate::output::say;
use crate::{input, output};

pub fn run(a: &VerifyArgs) -> Result<(), Failure> {
    let j = a.json;
    let now = match &a.at {
        Some(t) => input::time(t).map_err(|f| f.json(j))?,
        None => input::now(),
    };
    let keyring =
        input::keyring_with_root(&a.pubkey, a.root.as_deref(), now).map_err(|f| f.json(j))?;
    let text = input::token(&a.token).map_err(|f| f.json(j))?;
    let fingerprint = a
        .fingerprint
        .as_deref()
        .map(input::fingerprint)
        .transpose()
        .map_err(|f| f.json(j))?;
    // Without --kind or --product, the token's own (unsigned, announced) values are the
    // expectation; the signed claims are then compared with them like any other.
    let announced = licet_verifier::decode_unverified(&text).ok();
    let kind = match a.kind {
        Some(KindArg::License) => Kind::License,
        Some(KindArg::Machine) => Kind::Machine,
        Some(KindArg::Lease) => Kind::Lease,
        // A fingerprint only binds machine tokens: asking for one means a machine token
        // is expected, so a license cannot pass a fingerprint check by not having one.
        None if fingerprint.is_some() => Kind::Machine,
        // The kind the prefix or armor names, read even when the rest cannot be decoded,
        // so that no message speaks of a license when the token says it is not one. A
        // text that does not decode at all fails before the kind is compared.
        None => licet_verifier::text::decode(&text).map_or(Kind::License, |(kind, _)| kind),
    };
    let product = match &a.product {
        Some(p) => p.clone(),
        None => announced
            .as_ref()
            .map(|t| t.claims.product.clone())
            .unwrap_or_default(),
    };
    let mut expect = Expectations::new(kind, &product, now).leeway(a.leeway);
    if let Some(f) = fingerprint {
        expect = expect.fingerprint(f);
    }
    match keyring.verify(&text, &expect) {
        Ok(v) => {
            if j {
                say!(
                    "{:#}",
                    json!({
                        "ok": true,
                        "valid": true,
                        "alg": v.alg.name(),
                        "kid": hex(&v.kid),
                        "checked_at": now,
                        "claims": output::claims_json(&v.claims),
                    })
                )?;
            } else {
                say!(
                    "VALID {} token, signed by {} key {}",
                    v.claims.kind().name(),
                    v.alg.name(),
                    hex(&v.kid)
                )?;
                say!("{}", output::claims_text(&v.claims))?;
            }
            Ok(())
        }
        Err(e) => {
            if j {
                // A closed pipe must not turn "invalid" into exit 0: only other write
                // errors replace the verdict.
                let printed = say!(
                    "{:#}",
                    json!({
                        "ok": false,
                        "valid": false,
                        "checked_at": now,
                        "error": {"code": e.code(), "message": output::verify_error(&e)},
                    })
                );
                if let Err(f) = printed
                    && !f.is_closed_pipe()
                {
                    return Err(f);
                }
                Err(Failure::invalid(e.code(), "").json(false).silent())
            } else {
                Err(Failure::invalid(
                    e.code(),
                    format!("INVALID: {}", output::verify_error(&e)),
                ))
            }
        }
    }
}
