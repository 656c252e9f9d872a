//! `docs/operations.md` against the server: every flag and `LICET_*` variable it names is
//! one `licet-server --help` lists (so a renamed flag cannot leave the page behind).

use std::collections::BTreeSet;

fn words(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices(prefix) {
        let rest = &text[i..];
        let end = rest
            .char_indices()
            .skip(prefix.len())
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            .map_or(rest.len(), |(j, _)| j);
        let word = rest[..end].trim_end_matches('-');
        if word.len() > prefix.len() {
            out.insert(word.to_owned());
        }
    }
    out
}

#[test]
fn every_flag_and_variable_of_operations_md_is_in_help() {
    use clap::CommandFactory;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md");
    let page = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let help = licet_server::Config::command()
        .render_long_help()
        .to_string();
    let flags = words(&page, "--");
    assert!(
        flags.contains("--tls-cert") && flags.contains("--cache-size"),
        "{flags:?}"
    );
    for flag in &flags {
        assert!(
            help.contains(flag.as_str()),
            "{flag} is in docs/operations.md but not in --help"
        );
    }
    let vars = words(&page, "LICET_");
    assert!(vars.len() >= 9, "{vars:?}");
    for var in &vars {
        assert!(
            help.contains(&format!("{var}=")),
            "{var} is in docs/operations.md but not in --help"
        );
    }
}
