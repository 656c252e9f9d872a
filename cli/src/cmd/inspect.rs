//! `licet inspect`: what a token says, without checking it.

use licet_verifier::hex;
use serde_json::json;

use crate::args::InspectArgs;
use crate::failure::Failure;
use crate::{input, output};

pub fn run(a: &InspectArgs) -> Result<(), Failure> {
    let text = input::token(&a.token).map_err(|f| f.json(a.json))?;
    let t = licet_verifier::decode_unverified(&text)
        .map_err(|e| Failure::invalid(e.code(), e.to_string()).json(a.json))?;
    if a.json {
        println!(
            "{:#}",
            json!({
                "verified": false,
                "alg": t.alg.name(),
                "kid": hex(&t.kid),
                "bytes": t.bytes.len(),
                "claims": output::claims_json(&t.claims),
            })
        );
    } else {
        println!("UNVERIFIED: the signature and times were NOT checked (use `licet verify`).");
        println!("alg:           {}", t.alg.name());
        println!("kid:           {}", hex(&t.kid));
        println!("size:          {} bytes", t.bytes.len());
        println!("{}", output::claims_text(&t.claims));
    }
    Ok(())
}
