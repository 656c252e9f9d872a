//! `licet inspect`: what a token says, without checking it.

use licet_verifier::hex;
use serde_json::json;

use crate::args::InspectArgs;
use crate::failure::Failure;
use crate::output::say;
use crate::{input, output};

pub fn run(a: &InspectArgs) -> Result<(), Failure> {
    let text = input::token(&a.token).map_err(|f| f.json(a.json))?;
    let t = licet_verifier::decode_unverified(&text)
        .map_err(|e| Failure::invalid(e.code(), e.to_string()).json(a.json))?;
    if a.json {
        say!(
            "{:#}",
            json!({
                "verified": false,
                "alg": t.alg.name(),
                "kid": hex(&t.kid),
                "bytes": t.bytes.len(),
                "claims": output::claims_json(&t.claims),
            })
        )?;
    } else {
        say!("UNVERIFIED: the signature and times were NOT checked (use `licet verify`).")?;
        say!("alg:           {}", t.alg.name())?;
        say!("kid:           {}", hex(&t.kid))?;
        say!("size:          {} bytes", t.bytes.len())?;
        say!("{}", output::claims_text(&t.claims))?;
    }
    Ok(())
}
