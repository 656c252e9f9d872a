//! Scoped admin tokens over real HTTP, on both backends: every admin route allowed with
//! its scope (and `admin`) and refused with every other; a web shop's token that creates
//! licenses and nothing else; the secret shown once and stored hashed; revocation without
//! a restart; the last use recorded; `Bearer` in any case.

mod common;

use common::{ADMIN, Db, TestServer};
use licet_server::storage::Backend;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const SCOPES: [&str; 8] = [
    "licenses:read",
    "licenses:write",
    "products:write",
    "machines:write",
    "audit:read",
    "deny:read",
    "deny:write",
    "admin",
];

/// Every admin route, with a path whose ids exist nowhere (so that an allowed request
/// changes nothing: 404 or 400), and the one scope that covers it.
fn routes() -> Vec<(Method, String, &'static str)> {
    let id = "0".repeat(32);
    let m = "0".repeat(64);
    let p = |s: &str| s.replace("{id}", &id).replace("{m}", &m);
    [
        (Method::GET, "/products", "licenses:read"),
        (Method::GET, "/products/none", "licenses:read"),
        (Method::POST, "/products", "products:write"),
        (Method::PATCH, "/products/none", "products:write"),
        (Method::DELETE, "/products/none", "products:write"),
        (Method::GET, "/licenses", "licenses:read"),
        (Method::GET, "/licenses/{id}", "licenses:read"),
        (Method::GET, "/licenses/{id}/machines", "licenses:read"),
        (Method::GET, "/licenses/{id}/leases", "licenses:read"),
        (Method::POST, "/licenses", "licenses:write"),
        (Method::POST, "/licenses/bulk", "licenses:write"),
        (Method::PATCH, "/licenses/{id}", "licenses:write"),
        (Method::DELETE, "/licenses/{id}", "licenses:write"),
        (Method::POST, "/licenses/{id}/suspend", "licenses:write"),
        (Method::POST, "/licenses/{id}/reinstate", "licenses:write"),
        (Method::POST, "/licenses/{id}/revoke", "licenses:write"),
        (Method::DELETE, "/licenses/{id}/machines", "machines:write"),
        (
            Method::DELETE,
            "/licenses/{id}/machines/{m}",
            "machines:write",
        ),
        (
            Method::POST,
            "/licenses/{id}/leases/{id}/release",
            "machines:write",
        ),
        (Method::GET, "/audit", "audit:read"),
        (Method::GET, "/deny", "deny:read"),
        (Method::POST, "/deny", "deny:write"),
        (Method::DELETE, "/deny/{id}", "deny:write"),
        (Method::GET, "/tokens", "admin"),
        (Method::POST, "/tokens", "admin"),
        (Method::DELETE, "/tokens/{id}", "admin"),
        (Method::GET, "/backup", "admin"),
    ]
    .into_iter()
    .map(|(method, path, scope)| (method, p(path), scope))
    .collect()
}

async fn create_token(s: &TestServer, name: &str, scopes: &[&str]) -> String {
    let (st, body) = s
        .admin(
            Method::POST,
            "/tokens",
            Some(json!({"name": name, "scopes": scopes})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    body["token"].as_str().expect("the secret").to_owned()
}

/// A request without a body: an allowed one fails later (400, 404), never at the scope.
async fn call(s: &TestServer, token: &str, method: &Method, path: &str) -> (u16, Value) {
    common::send(
        s.http
            .request(method.clone(), format!("{}/v1/admin{path}", s.base))
            .header("authorization", format!("Bearer {token}")),
    )
    .await
}

async fn each_scope_allows_its_routes_and_refuses_the_others(db: Db) {
    let s = TestServer::start_on(db).await;
    let mut tokens = Vec::new();
    for scope in SCOPES {
        tokens.push((scope, create_token(&s, scope, &[scope]).await));
    }
    let mut allowed = 0;
    let mut refused = 0;
    for (method, path, needed) in routes() {
        for (scope, token) in &tokens {
            let (st, body) = call(&s, token, &method, &path).await;
            let scope_refused = st == 403 && body["error"]["code"] == "SCOPE_MISSING";
            let should_allow = *scope == needed || *scope == "admin";
            assert_ne!(st, 401, "{method} {path} with {scope}: {body}");
            if should_allow {
                assert!(
                    !scope_refused && st != 500,
                    "{method} {path} should be allowed with {scope}: {st} {body}"
                );
                allowed += 1;
            } else {
                assert!(
                    scope_refused,
                    "{method} {path} should be refused with {scope}: {st} {body}"
                );
                common::assert_error(&(st, body), 403, "SCOPE_MISSING", &format!("'{needed}'"));
                refused += 1;
            }
        }
    }
    let n = routes().len();
    assert_eq!(
        allowed,
        2 * n - routes().iter().filter(|r| r.2 == "admin").count()
    );
    assert_eq!(allowed + refused, n * SCOPES.len());
    // No token, a wrong one, another scheme: 401.
    for auth in [None, Some("Bearer nope"), Some(&*format!("Basic {ADMIN}"))] {
        let mut r = s.http.get(format!("{}/v1/admin/licenses", s.base));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let (st, body) = common::send(r).await;
        assert_eq!(
            (st, body["error"]["code"].as_str()),
            (401, Some("UNAUTHORIZED"))
        );
    }
}

async fn a_web_shop_token_creates_licenses_and_nothing_else(db: Db) {
    let s = TestServer::start_on(db).await;
    s.license("cad", json!({})).await;
    let (st, created) = s
        .admin(
            Method::POST,
            "/tokens",
            Some(json!({"name": "webshop", "scopes": ["licenses:write"]})),
        )
        .await;
    assert_eq!(st, 201, "{created}");
    let secret = created["token"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("licet_tok_") && secret.len() == 10 + 64);
    let id = created["id"].as_str().expect("id").to_owned();

    // Stored hashed: the record holds the SHA-256, never the secret.
    let storage = s.storage();
    let stored = storage.read(|tx| tx.admin_tokens()).await.expect("tokens");
    drop(storage);
    assert_eq!(stored.len(), 1);
    let record = serde_json::to_string(&stored[0]).expect("json");
    assert!(!record.contains(&secret[10..]), "{record}");
    assert_eq!(
        stored[0].secret_sha256,
        licet_verifier::hex(&Sha256::digest(secret.as_bytes()))
    );

    // `Bearer` in any case.
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (st, l) = common::send(
            s.http
                .post(format!("{}/v1/admin/licenses", s.base))
                .header("authorization", format!("{scheme} {secret}"))
                .json(&json!({"product": "cad"})),
        )
        .await;
        assert_eq!(st, 201, "{scheme}: {l}");
    }
    let answer = s.admin_as(&secret, Method::GET, "/licenses", None).await;
    common::assert_error(&answer, 403, "SCOPE_MISSING", "'licenses:read'");
    let body = Some(json!({"name": "x"}));
    let answer = s.admin_as(&secret, Method::POST, "/products", body).await;
    common::assert_error(&answer, 403, "SCOPE_MISSING", "'products:write'");

    // Listed with its last use, never with its secret.
    s.advance(120);
    let new_license = || Some(json!({"product": "cad"}));
    let (st, _) = s
        .admin_as(&secret, Method::POST, "/licenses", new_license())
        .await;
    assert_eq!(st, 201);
    let (st, list) = s.admin(Method::GET, "/tokens", None).await;
    assert_eq!(st, 200);
    let tokens = list["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 1, "{list}");
    assert_eq!(tokens[0]["name"], "webshop");
    assert_eq!(tokens[0]["scopes"], json!(["licenses:write"]));
    assert_eq!(
        tokens[0]["last_used_at"],
        json!(licet_server::routes::rfc3339(s.now()))
    );
    assert!(tokens[0].get("token").is_none() && !list.to_string().contains(&secret[10..]));

    // The last use is written when the server stops, and read back after a restart.
    let used_at = s.now();
    let s = s.restart().await;
    let storage = s.storage();
    let stored = storage.read(|tx| tx.admin_tokens()).await.expect("tokens");
    drop(storage);
    assert_eq!(stored[0].last_used_at, Some(used_at));

    // Revoked without a restart: refused from the next request on.
    let (st, _) = s
        .admin(Method::DELETE, &format!("/tokens/{id}"), None)
        .await;
    assert_eq!(st, 204);
    let (st, body) = s
        .admin_as(&secret, Method::POST, "/licenses", new_license())
        .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );
    let (st, body) = s
        .admin(Method::DELETE, &format!("/tokens/{id}"), None)
        .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );

    // Created and revoked are audited, with the name and never the secret.
    let (_, audit) = s.admin(Method::GET, "/audit?limit=100", None).await;
    let text = audit.to_string();
    assert!(!text.contains(&secret[10..]));
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("token."))
        .collect();
    assert_eq!(actions, ["token.revoke", "token.create"]);
}

async fn bad_token_requests_are_refused_with_what_to_do(db: Db) {
    let s = TestServer::start_on(db).await;
    let cases = [
        (
            json!({"name": "x", "scopes": ["licenses:delete"]}),
            "unknown scope 'licenses:delete'",
        ),
        (json!({"name": "x", "scopes": []}), "at least one"),
        (json!({"name": "", "scopes": ["admin"]}), "name must be"),
        (json!({"name": "x"}), "scopes"),
    ];
    for (body, says) in cases {
        let answer = s.admin(Method::POST, "/tokens", Some(body)).await;
        common::assert_error(&answer, 400, "BAD_REQUEST", says);
    }
    create_token(&s, "ci", &["audit:read"]).await;
    let (st, answer) = s
        .admin(
            Method::POST,
            "/tokens",
            Some(json!({"name": "ci", "scopes": ["admin"]})),
        )
        .await;
    assert_eq!(
        (st, answer["error"]["code"].as_str()),
        (409, Some("CONFLICT"))
    );
}

/// The console signs in with the bootstrap token only (docs/operations.md §5): a named
/// token, even one with `admin`, is refused there and keeps working on the API.
async fn named_tokens_do_not_sign_in_to_the_console(db: Db) {
    let s = TestServer::start_on(db).await;
    let named = create_token(&s, "ops", &["admin"]).await;
    let mut c = common::ConsoleClient::new(&s.base);
    let p = c.sign_in(&named).await;
    assert_eq!(p.status, 401, "{}", p.body);
    assert!(!c.cookies.contains_key("licet_console"));
    assert_eq!(
        s.admin_as(&named, Method::GET, "/licenses", None).await.0,
        200
    );
    assert_eq!(c.sign_in(ADMIN).await.status, 303);
}

on_every_backend!(
    named_tokens_do_not_sign_in_to_the_console,
    each_scope_allows_its_routes_and_refuses_the_others,
    a_web_shop_token_creates_licenses_and_nothing_else,
    bad_token_requests_are_refused_with_what_to_do,
);
