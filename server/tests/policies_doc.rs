//! `docs/policies.md` replayed: every request of its worked examples sent, in order, to a
//! real server on each backend, and every answer checked against the one the page shows
//! (the status, and each field shown; `…` matches any value).

mod common;

use common::{Db, TestServer};
use reqwest::Method;
use serde_json::Value;

fn page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/policies.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The page's ```http blocks, in order.
fn blocks(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in page.lines() {
        match (&mut current, line.trim()) {
            (None, "```http") => current = Some(String::new()),
            (Some(b), "```") => {
                out.push(b.trim().to_owned());
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
    let blocks = blocks(&page);
    assert!(
        blocks.len() >= 40,
        "the examples were found: {}",
        blocks.len()
    );
    let (mut id, mut key) = (String::new(), String::new());
    let mut pairs = 0;
    for pair in blocks.chunks(2) {
        let [request, answer] = pair else {
            panic!("a request without its answer: {pair:?}");
        };
        let (line, body) = request.split_once('\n').unwrap_or((request, ""));
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
        let (status, want) = answer.split_once('\n').unwrap_or((answer, "{}"));
        let status: u16 = status
            .strip_prefix("HTTP/1.1 ")
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{line}: the answer's status line: {status}"));
        let want: Value = serde_json::from_str(want)
            .unwrap_or_else(|e| panic!("{line}: the page's answer is not JSON: {e}"));
        assert_eq!(st, status, "{line}: {got}");
        if let Err(e) = matches(&want, &got, "") {
            panic!("{line}: {e}\nanswer: {got}");
        }
        if path == "/v1/admin/licenses" && st == 201 {
            id = got["id"].as_str().expect("id").to_owned();
            key = got["license_key"].as_str().expect("key").to_owned();
        }
        pairs += 1;
    }
    assert_eq!(pairs * 2, blocks.len());
}

on_every_backend!(every_example_of_the_policies_page_answers_as_shown);
