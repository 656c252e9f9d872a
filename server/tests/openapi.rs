//! The API contract: `GET /openapi.json` serves the committed `docs/openapi.json`, and
//! every operation it lists is a route of the server. (`.ci/schemathesis` checks the
//! answers against it.)

mod common;

use common::TestServer;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

#[tokio::test]
async fn the_served_document_is_the_committed_one() {
    let s = TestServer::start().await;
    let r = s
        .http
        .get(format!("{}/openapi.json", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let served = r.text().await.expect("text");
    if std::env::var_os("LICET_UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &served).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    if served != committed {
        panic!(
            "docs/openapi.json is not what the server serves:\n{}\nIf the change is meant, regenerate it:\n  LICET_UPDATE_OPENAPI=1 cargo test -p licet-server --test openapi\nand commit it.",
            first_difference(&committed, &served)
        );
    }
}

/// The first lines that differ, with a little context, as a diff would show them.
fn first_difference(old: &str, new: &str) -> String {
    let (old, new): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let at = old
        .iter()
        .zip(&new)
        .position(|(a, b)| a != b)
        .unwrap_or(old.len().min(new.len()));
    let from = at.saturating_sub(3);
    let mut out = format!("@@ line {} @@\n", at + 1);
    for l in old.iter().take(at).skip(from) {
        out.push_str(&format!("  {l}\n"));
    }
    for l in old.iter().skip(at).take(5) {
        out.push_str(&format!("- {l}\n"));
    }
    for l in new.iter().skip(at).take(5) {
        out.push_str(&format!("+ {l}\n"));
    }
    out
}

/// A route in the document that the router does not have would answer the fallback's
/// 404; so would a method it does not take.
#[tokio::test]
async fn every_operation_in_the_document_is_routed() {
    let s = TestServer::start().await;
    let doc = licet_server::openapi::document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            let concrete: String = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "00" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let method =
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let (status, body) = common::send(
                s.http
                    .request(method.clone(), format!("{}{concrete}", s.base))
                    .bearer_auth(common::ADMIN)
                    .header("content-type", "application/json")
                    .body("{}"),
            )
            .await;
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !(status == 404
                    && (message.starts_with("no such route")
                        || message.starts_with("this route does not take that method"))),
                "{method} {path} is in the document but not routed: {body}"
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} operations");
}

/// The 429 the rate limits answer, which `.ci/schemathesis` does not see (it runs with the
/// limits off, so that it tests more than refusals): every header the document requires of
/// it, and a body of the error schema's shape with a code it lists.
#[tokio::test]
async fn a_rate_limited_answer_is_as_the_document_says() {
    let s = TestServer::start_with(|c| {
        c.ip_rate = 1;
        c.ip_burst = 1;
    })
    .await;
    let doc = licet_server::openapi::document();
    let op = &doc["paths"]["/v1/validate"]["post"];
    let send = || {
        s.http
            .post(format!("{}/v1/validate", s.base))
            .json(&serde_json::json!({"license_key": "LIC-nothing"}))
            .send()
    };
    let first = send().await.expect("send");
    assert_eq!(first.status(), 404);
    let refused = send().await.expect("send");
    assert_eq!(refused.status(), 429);
    let documented = op["responses"]["429"]["headers"]
        .as_object()
        .expect("the 429 lists headers");
    for (name, header) in documented {
        assert_eq!(header["required"], true, "{name}");
        let value = refused
            .headers()
            .get(name.as_str())
            .unwrap_or_else(|| panic!("the 429 lacks {name}"));
        let value = value.to_str().expect("ASCII");
        assert!(value.parse::<u64>().is_ok(), "{name}: {value}");
    }
    assert_eq!(documented.len(), 4, "{documented:?}");
    let body: serde_json::Value = refused.json().await.expect("JSON");
    let codes =
        &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"];
    assert!(
        codes
            .as_array()
            .expect("an enum")
            .contains(&body["error"]["code"]),
        "{body}"
    );
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    let error = body["error"].as_object().expect("an object");
    assert!(
        error
            .keys()
            .all(|k| ["code", "message", "support_message", "retry_at"].contains(&k.as_str())),
        "{body}"
    );
}

/// The other direction: every route the server's code declares (`.route("PATH", …)` in
/// `server/src/lib.rs` and `server/src/routes/`, the API without the console's HTML pages)
/// is in the document with each of its methods. The routes are read from the source
/// because a router cannot list its routes; a path is matched by its end, since the
/// prefix under which it is nested (`/v1`, `/v1/admin`) is written elsewhere.
#[test]
fn every_route_in_the_code_is_in_the_document() {
    let doc = licet_server::openapi::document();
    let paths = doc["paths"].as_object().expect("paths");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut files = vec![std::path::PathBuf::from(format!("{src}/lib.rs"))];
    for e in std::fs::read_dir(format!("{src}/routes")).expect("routes") {
        files.push(e.expect("entry").path());
    }
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for (path, methods) in routes_declared(&text) {
            let documented: Vec<&String> = paths
                .iter()
                .filter(|(p, _)| p.ends_with(&path))
                .flat_map(|(_, item)| item.as_object().expect("path item").keys())
                .collect();
            for m in &methods {
                assert!(
                    documented.iter().any(|d| d.as_str() == m),
                    "{} routes {} {path}, which docs/openapi.json does not list: add it to the table in server/src/openapi.rs",
                    file.display(),
                    m.to_uppercase()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "only {checked} routes found in the source");
}

/// The `(path, methods)` of each `.route("PATH", METHOD(handler)…)` in a source text.
fn routes_declared(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices(".route(") {
        // rustfmt puts a long call's arguments on lines of their own.
        let Some(rest) = text[at + ".route(".len()..].trim_start().strip_prefix('"') else {
            continue;
        };
        let Some(end) = rest.find('"') else { continue };
        let path = rest[..end].to_owned();
        // The method router: up to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let mut close = rest.len();
        for (i, c) in rest.char_indices().skip(end) {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let router = &rest[end..close];
        let methods: Vec<String> = ["get", "post", "patch", "put", "delete"]
            .iter()
            .filter(|m| {
                router
                    .match_indices(&format!("{m}("))
                    .any(|(i, _)| !router[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
            })
            .map(|m| (*m).to_owned())
            .collect();
        out.push((path, methods));
    }
    out
}
