//! `docs/operations.md` against the server: every flag and `LICET_*` variable it names is
//! one `licet-server --help` lists (so a renamed flag cannot leave the page behind).

mod common;

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
    // The server's flags, and those of `check-config` (§8).
    let check_config = common::run_to_exit(&["check-config".as_ref(), "--help".as_ref()]);
    assert_eq!(check_config.code, Some(0), "{}", check_config.stderr);
    let help = licet_server::Config::command()
        .render_long_help()
        .to_string()
        + &check_config.stdout;
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

/// `(path, body)` of every `curl … -X POST http://127.0.0.1:5480PATH … -d 'BODY'` command
/// of the page (a command spans lines joined by a trailing backslash).
fn posts(page: &str) -> Vec<(String, serde_json::Value)> {
    let joined = page.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined
        .lines()
        .filter(|l| l.starts_with("curl ") && l.contains("-X POST"))
    {
        let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
            continue;
        };
        let path = url.trim_start_matches("http://127.0.0.1:5480").to_owned();
        let body = line
            .split_once("-d '")
            .and_then(|(_, rest)| rest.split_once('\''))
            .map(|(b, _)| b)
            .unwrap_or_else(|| panic!("a POST without a body: {line}"));
        let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{body}: {e}"));
        out.push((path, body));
    }
    out
}

/// The page's admin-API commands, replayed against a real server: each is answered 201.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_commands_of_operations_md_work() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md");
    let page = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let commands = posts(&page);
    let paths: Vec<&str> = commands.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/v1/admin/tokens", "/v1/admin/deny"]);
    let s = common::TestServer::start().await;
    for (path, body) in commands {
        let (st, answer) = common::send(
            s.http
                .post(format!("{}{path}", s.base))
                .bearer_auth(common::ADMIN)
                .json(&body),
        )
        .await;
        assert_eq!(st, 201, "{path} {body}: {answer}");
    }
}

/// The page's `licet-server …` command lines parse as the binary parses them.
#[test]
fn the_server_command_lines_of_operations_md_parse() {
    use clap::Parser;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md");
    let page = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let joined = page.replace("\\\n", " ");
    let lines: Vec<&str> = joined
        .lines()
        .filter(|l| l.starts_with("licet-server "))
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("--audit-retention")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.contains("--config")), "{lines:?}");
    // `licet-server SUBCOMMAND …` lines are replayed by the tests of their subcommand.
    let lines = lines.into_iter().filter(|l| {
        l.split_whitespace()
            .nth(1)
            .is_some_and(|w| w.starts_with('-'))
    });
    for line in lines {
        let args = line.split_whitespace().filter(|w| !w.starts_with('$'));
        if let Err(e) = licet_server::Config::try_parse_from(args) {
            panic!("{line}: {e}");
        }
    }
}

/// The page's fenced blocks, in order: `(language, content)`.
fn blocks(page: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in page.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(lang)) => open = Some((lang.to_owned(), String::new())),
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some((_, text)), None) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// Every `licet-server check-config FILE` of the page, run on the file the page means (the
/// example `docs/licet-server.toml` for `/etc/licet/licet-server.toml`, else the page's
/// ```toml block headed `# FILE`); where the command is a block of its own followed by a
/// ```text block, that is what it must print, and its exit code is 0 for "fine", else 1.
#[test]
fn the_check_config_commands_of_operations_md_print_what_it_shows() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md");
    let page = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/licet-server.toml");
    let example = std::fs::read_to_string(example).expect("docs/licet-server.toml");
    let blocks = blocks(&page);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut compared = 0;
    let mut run = 0;
    for (i, (lang, text)) in blocks.iter().enumerate() {
        if lang != "sh" {
            continue;
        }
        for line in text
            .lines()
            .filter(|l| l.starts_with("licet-server check-config "))
        {
            let named = line.split_whitespace().last().expect("a file");
            let content = if named == "/etc/licet/licet-server.toml" {
                example.clone()
            } else {
                let head = format!("# {named}\n");
                blocks
                    .iter()
                    .find(|(l, t)| l == "toml" && t.starts_with(&head))
                    .unwrap_or_else(|| panic!("no ```toml block headed {head:?}"))
                    .1
                    .clone()
            };
            let file = dir.path().join(format!("{run}.toml"));
            run += 1;
            std::fs::write(&file, content).expect("write");
            let exit = common::run_to_exit(&["check-config".as_ref(), file.as_os_str()]);
            let shown = match blocks.get(i + 1) {
                Some((l, shown)) if l == "text" && text.lines().count() == 1 => shown,
                _ => {
                    assert_eq!(exit.code, Some(0), "{line}: {}", exit.stderr);
                    continue;
                }
            };
            let fine = shown.contains(": fine,");
            let printed = if fine { &exit.stdout } else { &exit.stderr };
            let printed = printed.replace(file.to_str().expect("a UTF-8 path"), named);
            assert_eq!(&printed, shown, "{line}");
            assert_eq!(exit.code, Some(if fine { 0 } else { 1 }), "{line}");
            compared += 1;
        }
    }
    assert_eq!((compared, run), (2, 3), "the commands of §8 and §9");
}
