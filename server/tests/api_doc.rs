//! `docs/api.md` as a newcomer reads it: every shell variable its examples use is set
//! somewhere on the page, and what it shows of file permissions agrees with the server.
//!
//! The page's examples are a recorded session, not replayed here (they need curl, jq and
//! timing); this checks the parts a reader must be able to repeat.

mod common;

use std::collections::BTreeSet;

fn page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The lines of the page's ```console and ```sh blocks.
fn code_lines(page: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in page.lines() {
        let fence = line.trim_start();
        if let Some(lang) = fence.strip_prefix("```") {
            inside = !inside && (lang == "console" || lang == "sh");
            continue;
        }
        if inside {
            out.push(line);
        }
    }
    out
}

/// `NAME` of every `$NAME` or `${NAME}` (upper case, a shell variable of the session).
fn uses(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('$') {
        let rest = &text[i + 1..];
        let rest = rest.strip_prefix('{').unwrap_or(rest);
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        // `\$` is a literal dollar inside a JSON body, not a variable.
        if !name.is_empty() && (i == 0 || bytes[i - 1] != b'\\') {
            out.insert(name);
        }
    }
    out
}

#[test]
fn every_shell_variable_of_the_examples_is_set_on_the_page() {
    let page = page();
    let mut used = BTreeSet::new();
    for line in code_lines(&page) {
        // Commands only: `$ …` in a console block, every line of an sh block.
        let command = line.strip_prefix("$ ").unwrap_or(line);
        if line.starts_with("$ ") || !line.starts_with(['{', ' ', '"', '}', '-', '<']) {
            used.extend(uses(command));
        }
    }
    assert!(used.contains("KEY") && used.contains("MTOKENS"), "{used:?}");
    let unset: Vec<&String> = used
        .iter()
        .filter(|name| {
            let set = format!("{name}=");
            // Set where a word starts: `KEY=…`, `export KEY=…`, `… & PID=$!`.
            !page.match_indices(&set).any(|(i, _)| {
                i == 0
                    || !page.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && page.as_bytes()[i - 1] != b'_'
                        && page.as_bytes()[i - 1] != b'$'
            })
        })
        .collect();
    assert!(
        unset.is_empty(),
        "docs/api.md uses these shell variables but never shows how they are set: {unset:?}"
    );
}

#[test]
fn the_permissions_the_page_shows_are_the_servers() {
    let page = page();
    // The server makes the database 0600 (server/tests/api.rs checks the real file); a
    // listing on the page must not show it readable by others.
    let listed: Vec<&str> = page
        .lines()
        .filter(|l| l.ends_with(" licet.redb") && l.starts_with('-'))
        .collect();
    assert!(!listed.is_empty(), "the page lists the data directory");
    for line in listed {
        assert!(line.starts_with("-rw------- "), "{line}");
    }
    // A downloaded backup holds every key: the page shows how to keep it private.
    assert!(page.contains("umask 077"), "backup without umask 077");
    assert!(
        page.contains("brings back the admin token"),
        "the restore of the admin token's hash is not said"
    );
}
