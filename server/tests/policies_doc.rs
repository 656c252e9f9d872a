//! `docs/policies.md` replayed: every request of its worked examples sent, in order, to a
//! real server on each backend, and every answer checked against the one the page shows
//! (the status, and each field shown; `…` matches any value; `$ID` and `$KEY`, in a request
//! or an answer, are the last license made, by the admin API or as a keyless trial). A line
//! `<!-- clock +N -->` between them moves the server's clock N seconds on, where the page
//! says time passes.

mod common;

use common::{Db, TestServer};
use reqwest::Method;
use serde_json::Value;

fn page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/policies.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What the page holds, in order: its ```http blocks, and the clock's moves.
#[derive(Debug)]
enum Step {
    Block(String),
    Clock(u64),
}

/// The seconds of a `<!-- clock +N -->` line.
fn clock(line: &str) -> Option<u64> {
    line.strip_prefix("<!-- clock +")?
        .strip_suffix(" -->")?
        .parse()
        .ok()
}

/// The page's ```http blocks and clock moves, in order.
fn steps(page: &str) -> Vec<Step> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in page.lines() {
        match (&mut current, line.trim()) {
            (None, l) if clock(l).is_some() => out.extend(clock(l).map(Step::Clock)),
            (None, "```http") => current = Some(String::new()),
            (Some(b), "```") => {
                out.push(Step::Block(b.trim().to_owned()));
                current = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

/// Whether `got` has every field of `want` with the same value (`…` matches anything).
fn matches(want: &Value, got: &Value, at: &str) -> Result<(), String> {
    match (want, got) {
        (Value::String(w), _) if w == "…" => {
            if got.is_null() {
                Err(format!("{at}: a value expected, got null"))
            } else {
                Ok(())
            }
        }
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                let g = g.get(k).ok_or_else(|| format!("{at}.{k}: missing"))?;
                matches(v, g, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        _ if want == got => Ok(()),
        _ => Err(format!(
            "{at}: the page shows {want}, the server answered {got}"
        )),
    }
}

async fn every_example_of_the_policies_page_answers_as_shown(db: Db) {
    let s = TestServer::start_on(db).await;
    let page = page();
    let steps = steps(&page);
    let blocks = steps
        .iter()
        .filter(|st| matches!(st, Step::Block(_)))
        .count();
    assert!(blocks >= 40, "the examples were found: {blocks}");
    let (mut id, mut key) = (String::new(), String::new());
    let (mut pairs, mut moves, mut trials) = (0, 0, 0);
    let mut request: Option<String> = None;
    for step in steps {
        let answer = match (step, request.take()) {
            (Step::Clock(secs), None) => {
                s.advance(secs);
                moves += 1;
                continue;
            }
            (Step::Clock(_), Some(r)) => {
                panic!("a clock move between a request and its answer: {r}")
            }
            (Step::Block(b), None) => {
                request = Some(b);
                continue;
            }
            (Step::Block(answer), Some(r)) => (r, answer),
        };
        let (request, answer) = answer;
        let (line, body) = request.split_once('\n').unwrap_or((&request, ""));
        let (method, path) = line.split_once(' ').expect("METHOD PATH");
        let path = path.replace("$ID", &id);
        let body = body.replace("$KEY", &key);
        let method: Method = method.parse().expect("a method");
        let mut r = s
            .http
            .request(method, format!("{}{path}", s.base))
            .bearer_auth(common::ADMIN);
        if !body.trim().is_empty() {
            let json: Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{line}: the page's body is not JSON: {e}"));
            r = r.json(&json);
        }
        let (st, got) = common::send(r).await;
        let (status, want) = answer.split_once('\n').unwrap_or((&answer, "{}"));
        let status: u16 = status
            .strip_prefix("HTTP/1.1 ")
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{line}: the answer's status line: {status}"));
        let want = want.replace("$ID", &id).replace("$KEY", &key);
        let want: Value = serde_json::from_str(&want)
            .unwrap_or_else(|e| panic!("{line}: the page's answer is not JSON: {e}"));
        assert_eq!(st, status, "{line}: {got}");
        if let Err(e) = matches(&want, &got, "") {
            panic!("{line}: {e}\nanswer: {got}");
        }
        if path == "/v1/admin/licenses" && st == 201 {
            id = got["id"].as_str().expect("id").to_owned();
            key = got["license_key"].as_str().expect("key").to_owned();
        }
        // A keyless trial made: its license is the last license made.
        if path == "/v1/trials" && st == 201 {
            id = got["license_id"].as_str().expect("id").to_owned();
            key = got["license_key"].as_str().expect("key").to_owned();
            trials += 1;
        }
        pairs += 1;
    }
    assert!(
        request.is_none(),
        "a request without its answer: {request:?}"
    );
    assert_eq!(pairs * 2, blocks);
    assert!(moves > 0, "the page's clock moves were found");
    assert_eq!(trials, 1, "the keyless trial was made once");
}

on_every_backend!(every_example_of_the_policies_page_answers_as_shown);
