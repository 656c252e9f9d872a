//! `licet fingerprint`: this machine's fingerprint hash.

use licet_verifier::hex;
use serde_json::json;

use crate::args::FingerprintArgs;
use crate::failure::Failure;
use crate::output::say;

pub fn run(a: &FingerprintArgs) -> Result<(), Failure> {
    let fp = licet_app::fingerprint(&a.product)
        .map_err(|e| Failure::error("FINGERPRINT_UNAVAILABLE", e.to_string()).json(a.json))?;
    if a.json {
        say!(
            "{:#}",
            json!({"ok": true, "product": a.product, "fingerprint": hex(&fp)})
        )?;
    } else {
        say!("{}", hex(&fp))?;
    }
    Ok(())
}
