//! `licet revocations`: show and check the vendor's signed revocation lists.

use licet_verifier::{RevocationList, hex};
use serde_json::json;

use crate::args::RevocationsCommand;
use crate::failure::Failure;
use crate::input;
use crate::output::say;

pub fn run(cmd: RevocationsCommand) -> Result<(), Failure> {
    match cmd {
        RevocationsCommand::Fetch {
            server,
            pubkey,
            root,
            last_sequence,
            out,
            force,
            json,
        } => {
            input::refuse_existing(&out, force).map_err(|f| f.json(json))?;
            let keyring = input::keyring_with_root(&pubkey, root.as_deref(), input::now())
                .map_err(|f| f.json(json))?;
            let text =
                crate::http::get_text(&server, "/v1/revocations").map_err(|f| f.json(json))?;
            // Checked before it is written: a list this application would refuse is not
            // handed on to an air-gapped site.
            let list = RevocationList::verify_pem(&keyring, &text, last_sequence).map_err(|e| {
                Failure::invalid(e.code(), format!("the list {server} served: {e}")).json(json)
            })?;
            input::write_out(&out, text.as_bytes(), force).map_err(|f| f.json(json))?;
            if !json {
                say!("Wrote {} (checked):", out.display())?;
            }
            show(&list, true, json)
        }
        RevocationsCommand::Inspect {
            file,
            pubkey,
            root,
            last_sequence,
            json,
        } => {
            let text = input::read_file(&file).map_err(|f| f.json(json))?;
            let checked = pubkey.is_some();
            let list = match &pubkey {
                Some(pubkey) => {
                    let keyring = input::keyring_with_root(pubkey, root.as_deref(), input::now())
                        .map_err(|f| f.json(json))?;
                    RevocationList::verify_pem(&keyring, &text, last_sequence)
                }
                None => RevocationList::decode_unverified_pem(&text),
            }
            .map_err(|e| {
                Failure::invalid(e.code(), format!("{}: {e}", file.display())).json(json)
            })?;
            show(&list, checked, json)
        }
    }
}

fn show(list: &RevocationList, checked: bool, json: bool) -> Result<(), Failure> {
    let ids = |ids: &[licet_verifier::Id]| ids.iter().map(|i| hex(i)).collect::<Vec<_>>();
    if json {
        return say!(
            "{:#}",
            json!({
                "ok": true,
                "checked": checked,
                "kid": hex(&list.kid),
                "issuer": list.issuer,
                "issued_at": list.issued_at,
                "sequence": list.sequence,
                "next_update": list.next_update,
                "licenses": ids(&list.licenses),
                "machines": ids(&list.machines),
            })
        );
    }
    if !checked {
        say!("NOT CHECKED (give --pubkey signature.pem to check the signature)")?;
    }
    say!("issuer       {}", list.issuer)?;
    say!("signed by    kid {}", hex(&list.kid))?;
    say!("sequence     {}", list.sequence)?;
    say!("issued at    {}", list.issued_at)?;
    say!("next update  {}", list.next_update)?;
    say!("licenses     {} revoked", list.licenses.len())?;
    for id in &list.licenses {
        say!("  {}", hex(id))?;
    }
    say!("machines     {} revoked", list.machines.len())?;
    for id in &list.machines {
        say!("  {}", hex(id))?;
    }
    Ok(())
}
